"""Speed and memory of the forward-only domain simulation (δHBV2.0, UH only) on this machine.

A synthetic MERIT-like domain (:mod:`dhbv.simulation.synthetic`) feeds the domain-simulation
engine exactly as a chunk job does: units in memory-sized batches, yearly chunks with the
model state carried from chunk to chunk (through a state file), outputs written to CF zarr
stores by a writer thread. The model has the configuration's default architecture
(``dhbv.config.defaults()["model"]``) with random weights (the speed does not depend on them).

Printed: unit-days per second; the split of the time between LSTM, MLP, HBV (fused kernels,
incl. parameter descaling), UH (weights and convolutions), inputs (generation and
normalisation) and I/O (zarr writes in the writer thread, state files); the projected time of
180,000 units × 40 years; peak memory (fresh processes) for 1 vs 40 years and N vs 10·N units.

Usage: python benchmarks/simulate_speed.py [--units 10000] [--years 5] [--memory-mb 2000]
       [--mem-units 400] [--skip-memory] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CONUS_UNITS, CONUS_YEARS = 180_000, 40


class Split:
    """Wall-clock seconds per model part, from hooks around the parts' calls."""

    def __init__(self):
        self.s = {"LSTM": 0.0, "MLP": 0.0, "HBV+UH": 0.0, "UH": 0.0}

    def install(self, model):
        import dhbv.model as dm
        import dhbv.physics.uh as uh

        for name, mod in (("LSTM", model.networks.lstm), ("MLP", model.networks.mlp)):
            mod.register_forward_pre_hook(lambda m, a, n=name: self._start(n))
            mod.register_forward_hook(lambda m, a, o, n=name: self._stop(n))
        dm.run_hbv2 = self._wrap("HBV+UH", dm.run_hbv2)
        for f in ("uh_convolve", "gamma_uh_weights", "uh_pending", "uh_in_transit"):
            setattr(uh, f, self._wrap("UH", getattr(uh, f)))

    def _start(self, n):
        self.__dict__["t_" + n] = time.perf_counter()

    def _stop(self, n):
        self.s[n] += time.perf_counter() - self.__dict__["t_" + n]

    def _wrap(self, n, fn):
        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.s[n] += time.perf_counter() - t0
        return timed


def build(n_units: int, seed: int = 0):
    """(model in eval mode, synthetic domain, normalisation statistics, model config)."""
    import torch

    from dhbv.config import defaults
    from dhbv.runner import build_model
    from dhbv.simulation.synthetic import SyntheticDomain

    torch.manual_seed(seed)
    mc = defaults()["model"]
    model = build_model(mc, len(mc["attributes"])).eval()
    dom = SyntheticDomain(n_units, mc["attributes"], seed)
    return model, dom, dom.statistics(), mc


def simulate(n_units: int, years: int, memory_mb: float, batch_cap=None, split=None,
             out_dir=None, built=None) -> dict:
    """Yearly chunks of ``n_units`` synthetic units (``built``: the result of :func:`build`);
    returns timings and the unit-days."""
    import pandas as pd

    from dhbv.simulation.engine import Timing, batch_units, simulate_window
    from dhbv.simulation.state import load_state, save_state
    from dhbv.simulation.store import UNIT_CHUNK, ChunkStore
    from dhbv.simulation.variables import DEFAULT_VARIABLES

    model, dom, stats, mc = built or build(n_units)
    if split is not None:
        split.install(model)
    variables = list(DEFAULT_VARIABLES)
    out = Path(out_dir or tempfile.mkdtemp(prefix="dhbv_simspeed_"))
    timing, state_s, states, wall0 = Timing(), 0.0, None, time.perf_counter()
    cpu0 = time.process_time()
    for y in range(years):
        start = pd.Timestamp(f"{1981 + y}-01-01")
        n_days = (pd.Timestamp(f"{1982 + y}-01-01") - start).days
        n_batch = batch_units(model, n_days, len(variables), len(mc["dynamic_inputs"]),
                              memory_mb, batch_cap, align=UNIT_CHUNK)
        time_axis = pd.date_range(start, periods=n_days, freq="D")
        store = ChunkStore(out / f"{y}.zarr", [f"u{i:07d}" for i in range(n_units)], time_axis,
                           variables)
        states, _, timing = simulate_window(
            [model], n_units, lambda u0, u1, s=start, n=n_days: dom.window(u0, u1, s, n), stats,
            mc["dynamic_inputs"], 0, states, variables, store, n_batch, "cpu", timing=timing)
        t0 = time.perf_counter()
        store.commit()
        save_state(out / f"{y}.pt", states, run="synthetic", valid_at=time_axis[-1] + pd.Timedelta(days=1),
                   unit_ids=[f"u{i:07d}" for i in range(n_units)])
        states = load_state(out / f"{y}.pt", run="synthetic",
                            valid_at=time_axis[-1] + pd.Timedelta(days=1),
                            unit_ids=[f"u{i:07d}" for i in range(n_units)], members=1)
        state_s += time.perf_counter() - t0
    return {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
            "compute_s": timing.compute_s,
            "write_s": timing.write_s, "inputs_s": timing.extra["inputs_s"], "state_s": state_s,
            "unit_days": timing.unit_days, "batch": n_batch,
            "store_mb": sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20}


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _memory_case(units: int, years: int, cap: int) -> dict:
    """Resident memory of a simulation: after building the model, and its peak during the run
    (sampled every 5 ms), in MiB."""
    import threading

    built = build(units)
    base, peak, done = _rss_mib(), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(0.005)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    simulate(units, years, 1e9, batch_cap=cap, built=built)
    done.set()
    th.join()
    return {"base_mib": base, "peak_mib": max(peak[0], _rss_mib()),
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _peak_child(args: list) -> dict:
    """:func:`_memory_case` in a fresh process."""
    cmd = [sys.executable, __file__, "--memory-case", json.dumps(args)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=10_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--memory-mb", type=float, default=2000)
    ap.add_argument("--mem-units", type=int, default=400,
                    help="units of the memory runs (in 4 batches; 10x the units for the units test)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--memory-case", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    if a.memory_case:
        print(json.dumps(_memory_case(*json.loads(a.memory_case))))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    split = Split()
    r = simulate(a.units, a.years, a.memory_mb, split=split)
    rate = r["unit_days"] / r["wall_s"]
    print(f"\n{a.units} units x {a.years} years ({r['unit_days']:.3g} unit-days, batches of "
          f"{r['batch']}): {r['wall_s']:.1f} s wall, {rate:,.0f} unit-days/s")
    hbv = split.s["HBV+UH"] - split.s["UH"]
    io = r["write_s"] + r["state_s"]
    parts = {"LSTM": split.s["LSTM"], "MLP": split.s["MLP"], "HBV": hbv, "UH": split.s["UH"],
             "inputs": r["inputs_s"],
             "other (balance, copies)": r["compute_s"] - split.s["LSTM"] - split.s["MLP"]
             - split.s["HBV+UH"],
             "I/O (zarr writes, overlapped)": r["write_s"], "I/O (state files)": r["state_s"]}
    for k, v in parts.items():
        print(f"  {k:32s} {v:8.1f} s  {100 * v / r['wall_s']:5.1f} %")
    print(f"  zarr output: {r['store_mb']:.0f} MiB ({8 * r['store_mb'] * 2**20 / r['unit_days']:.1f}"
          f" bits per unit-day for 9 variables); I/O total {io:.1f} s")
    # the MLP runs once per unit (first chunk), everything else once per unit-day
    conus = CONUS_UNITS * CONUS_YEARS * 365.25
    per_day = (r["wall_s"] - split.s["MLP"]) / r["unit_days"]
    per_unit = split.s["MLP"] / a.units
    hours = (conus * per_day + CONUS_UNITS * per_unit) / 3600
    busy = r["cpu_s"] / r["wall_s"]
    print(f"  process CPU time {r['cpu_s']:.1f} s = {busy:.2f} of {os.cpu_count()} cores "
          f"(the rest went to other processes)")
    print(f"\nprojection, {CONUS_UNITS:,} units x {CONUS_YEARS} years ({conus:.3g} unit-days), "
          f"UH only, MLP once per unit: {hours:.1f} h at this wall-clock rate; "
          f"{hours * busy / os.cpu_count():.1f} h if all {os.cpu_count()} cores were this run's "
          f"(CPU time / cores)")
    if a.skip_memory:
        return
    n = a.mem_units
    print(f"\npeak resident memory during the simulation (fresh processes, batches of {n // 4} "
          "units; the model itself is resident before it starts):")
    ref = None
    for units, years in ((n, 1), (n, 40), (10 * n, 1)):
        m = _peak_child([units, years, n // 4])
        work = m["peak_mib"] - m["base_mib"]
        ref = ref or m
        print(f"  {units:6d} units x {years:2d} years: peak {m['peak_mib']:6.0f} MiB "
              f"({100 * (m['peak_mib'] / ref['peak_mib'] - 1):+5.1f} %), of which the model "
              f"{m['base_mib']:.0f} MiB and the simulation {work:.0f} MiB; lifetime maximum "
              f"{m['maxrss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
