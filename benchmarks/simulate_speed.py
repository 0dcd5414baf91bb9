"""Speed and memory of the forward-only domain simulation (δHBV2.0: NNs + HBV + UH, then
Muskingum–Cunge routing of every reach) on this machine.

A synthetic MERIT-like domain (:mod:`dhbv.simulation.synthetic`, with its dendritic river
network: one reach per unit catchment) feeds the domain-simulation engine exactly as a chunk
job does: units in memory-sized batches, yearly chunks with the model state carried from chunk
to chunk (through a state file), outputs written to CF zarr stores by a writer thread. The
model has the configuration's default architecture (``dhbv.config.defaults()["model"]``) with
random weights (the speed does not depend on them).

Routing (unless ``--no-routing``), after each yearly chunk, as the chunked routing rule does
it (``dhbv.routing.chunks``): the chunk's unit runoff is read back from its store and turned
into lateral inflow (``UnitRunoffLateral``: mm d-1 × km² / 86.4 → m³ s-1, unit → reach of the
same id), routed hourly over the whole network (the configuration's ``routing`` defaults: wide
channel, Δt 3600 s, X 0.3, clamp after; daily means aligned with ``day_offset_hours`` 9) from
the previous chunk's routing state (a state file; hot start in the first chunk), forward only,
in float64 like ``route_domain_chunk`` (``--routing-dtype``), with n, q per reach from a
``RoutingParameterNetwork`` (the configuration's 32 × 2 hidden units, random weights) on the
ten routing attributes of the synthetic units, z-scored over the domain. The daily streamflow
of every reach is written to a second CF zarr store per chunk (``chunks._write_store``) by a
writer thread, overlapping the next chunk's compute. Routing costs per reach and hourly step,
so a short run on a 180,000-reach network (routed interleaved with the same days on this run's
network) checks that the per-reach-step cost holds at that size; the projection uses it.

Printed: unit-days per second; the split of the time between LSTM, MLP, HBV (fused kernels,
incl. parameter descaling), UH (weights and convolutions), routing, inputs (generation and
normalisation) and I/O (zarr writes in the writer threads, state files, the runoff read back
for routing); the projected time of 180,000 units × 40 years; peak memory (fresh processes)
for 1 vs 40 years and N vs 10·N units.

Usage: python benchmarks/simulate_speed.py [--units 10000] [--years 5] [--memory-mb 2000]
       [--mem-units 400] [--skip-memory] [--threads N] [--no-routing]
       [--routing-dtype float64|float32] [--check-days 30] [--check-reaches 180000]
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

import numpy as np

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


def build(n_units: int, seed: int = 0, routing: bool = True, routing_dtype: str = "float64"):
    """(model in eval mode, synthetic domain, normalisation statistics, model config, routing
    setup or None); the domain has a river network when ``routing``."""
    import torch

    from dhbv.config import defaults
    from dhbv.runner import build_model
    from dhbv.simulation.synthetic import SyntheticDomain

    torch.manual_seed(seed)
    mc = defaults()["model"]
    model = build_model(mc, len(mc["attributes"])).eval()
    dom = SyntheticDomain(n_units, mc["attributes"], seed, network=routing)
    rt = routing_setup(dom, seed, routing_dtype) if routing else None
    return model, dom, dom.statistics(), mc, rt


def routing_setup(dom, seed: int = 0, dtype: str = "float64") -> dict:
    """Routing of the domain's network: options from the configuration's ``routing`` defaults,
    channel parameters n, q [reaches] from a RoutingParameterNetwork with random weights (seeded)
    on the ten routing attributes of the units, z-scored over the domain (no gradient)."""
    import torch

    from dhbv.config import defaults
    from dhbv.routing import RoutingOptions
    from dhbv.routing.attributes import ROUTING_ATTRIBUTES, fit_statistics, normalise
    from dhbv.routing.chunks import network_id
    from dhbv.routing.learned import RoutingParameterNetwork

    t0 = time.perf_counter()
    rc = defaults()["routing"]
    opts = RoutingOptions(geometry=rc["geometry"], dt=float(rc["dt"]), x=float(rc["x"]),
                          clamp=rc["clamp"])
    raw = dom.attributes(ROUTING_ATTRIBUTES)
    x, _ = normalise(raw, fit_statistics(raw))
    torch.manual_seed(seed + 1)
    net = RoutingParameterNetwork(len(ROUTING_ATTRIBUTES), hidden=rc["hidden"],
                                  layers=rc["layers"], learn_p=rc["learn_p"]).eval()
    tdt = getattr(torch, dtype)
    with torch.no_grad():
        params = net.to(tdt)(torch.as_tensor(x, dtype=tdt))
    return {"graph": dom.graph, "options": opts, "params": params, "dtype": tdt,
            "network_id": network_id(dom.graph), "setup_s": time.perf_counter() - t0,
            "n": params.n.numpy(), "q": params.q.numpy()}


class Router:
    """Routing of a run's yearly chunks (see the module docstring): ``chunk`` after each
    committed simulation store; the routed stores are written by a writer thread."""

    MODEL = "synthetic-random-weights"

    def __init__(self, rt: dict, out: Path, pool):
        self.rt, self.out, self.pool = rt, out, pool
        self.pending, self.state_path, self.next_day = None, None, None
        self.read_s = self.route_s = self.write_s = self.state_s = self.route_cpu_s = 0.0
        self.reach_steps, self.reach_days, self.diag = 0, 0, None
        self.last_lateral = None      # the last chunk's lateral inflow [days, reaches] m³ s-1

    def _write(self, path, days, q, attrs):
        from dhbv.routing.chunks import _commit, _write_store

        t0 = time.perf_counter()
        _commit(_write_store(path, days, q, self.rt["graph"].ids, None, None, attrs), path)
        self.write_s += time.perf_counter() - t0

    def chunk(self, y: int, store_path: Path, time_axis) -> None:
        import pandas as pd
        import torch

        from dhbv.routing import route
        from dhbv.routing.chunks import DAY_OFFSET_HOURS, DIAGNOSTICS, ChunkState, UnitRunoffLateral
        from dhbv.routing.chunks import load_state as load_routing_state
        from dhbv.routing.chunks import save_state as save_routing_state

        g, opts = self.rt["graph"], self.rt["options"]
        ids = dict(network=self.rt["network_id"], model=self.MODEL, dt=opts.dt,
                   day_offset_hours=DAY_OFFSET_HOURS, gauges=[])
        t0 = time.perf_counter()
        lat = UnitRunoffLateral([store_path]).read(g, time_axis[0], time_axis[-1])
        t1 = time.perf_counter()
        prev = None
        if self.state_path is not None:
            prev = load_routing_state(self.state_path, valid_at=time_axis[0], **ids)
        else:
            self.next_day = time_axis[0]
        t2, c2 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            r = route(g, torch.as_tensor(lat.values, dtype=self.rt["dtype"]), self.rt["params"],
                      options=opts, day_offset_hours=DAY_OFFSET_HOURS,
                      state=None if prev is None else prev.state)
        q = r.mean.numpy().T                                # [reaches, days] m³ s-1
        t3 = time.perf_counter()
        self.route_cpu_s += time.process_time() - c2
        days = pd.date_range(self.next_day, periods=q.shape[1], freq="D")
        self.next_day = days[-1] + pd.Timedelta(days=1)
        self.state_path = self.out / f"routing_{y}.pt"
        save_routing_state(self.state_path, ChunkState(r.state, None, time_axis[-1] +
                                                       pd.Timedelta(days=1), self.next_day),
                           chunk=str(y), **ids)
        t4 = time.perf_counter()
        d = r.diagnostics
        self.diag = d if self.diag is None else self.diag + d
        attrs = {"source": f"unit runoff {store_path.name} (synthetic domain)",
                 "routing_model": self.MODEL, "network_id": self.rt["network_id"],
                 "geometry": opts.geometry, "routing_dt_s": float(opts.dt),
                 "day_offset_hours": DAY_OFFSET_HOURS, "chunk": str(y),
                 **{k: (int(getattr(d, k)) if k.startswith("n_") else float(getattr(d, k)))
                    for k in DIAGNOSTICS}}
        if self.pending is not None:
            self.pending.result()                           # one routed store waits at most
        self.pending = self.pool.submit(self._write, self.out / f"routed_{y}.zarr", days, q,
                                        attrs)
        self.read_s += t1 - t0
        self.route_s += t3 - t2
        self.state_s += (t2 - t1) + (t4 - t3)
        self.reach_steps += d.n_steps * g.n
        self.reach_days += q.size
        self.last_lateral = lat.values

    def finish(self) -> None:
        if self.pending is not None:
            self.pending.result()


def simulate(n_units: int, years: int, memory_mb: float, batch_cap=None, split=None,
             out_dir=None, built=None, routing: bool = True) -> dict:
    """Yearly chunks of ``n_units`` synthetic units (``built``: the result of :func:`build`),
    each routed after it (``routing``); returns timings and the unit-days. The stores go to
    ``out_dir`` (default: a temporary directory, removed afterwards)."""
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="dhbv_simspeed_") as tmp:
            return simulate(n_units, years, memory_mb, batch_cap, split, tmp, built, routing)
    from concurrent.futures import ThreadPoolExecutor

    import pandas as pd

    from dhbv.simulation.engine import Timing, batch_units, simulate_window
    from dhbv.simulation.state import load_state, save_state
    from dhbv.simulation.store import UNIT_CHUNK, ChunkStore
    from dhbv.simulation.variables import DEFAULT_VARIABLES

    model, dom, stats, mc, rt = built or build(n_units, routing=routing)
    if split is not None:
        split.install(model)
    variables = list(DEFAULT_VARIABLES)
    out = Path(out_dir)
    unit_ids = dom.unit_ids()
    area = dom.area() if rt is not None else None
    timing, state_s, states, wall0 = Timing(), 0.0, None, time.perf_counter()
    cpu0 = time.process_time()
    with ThreadPoolExecutor(max_workers=1) as pool:
        router = Router(rt, out, pool) if rt is not None else None
        for y in range(years):
            start = pd.Timestamp(f"{1981 + y}-01-01")
            n_days = (pd.Timestamp(f"{1982 + y}-01-01") - start).days
            n_batch = batch_units(model, n_days, len(variables), len(mc["dynamic_inputs"]),
                                  memory_mb, batch_cap, align=UNIT_CHUNK)
            time_axis = pd.date_range(start, periods=n_days, freq="D")
            store = ChunkStore(out / f"{y}.zarr", unit_ids, time_axis, variables, area=area)
            states, _, timing = simulate_window(
                [model], n_units, lambda u0, u1, s=start, n=n_days: dom.window(u0, u1, s, n),
                stats, mc["dynamic_inputs"], 0, states, variables, store, n_batch, "cpu",
                timing=timing)
            t0 = time.perf_counter()
            path = store.commit()
            valid_at = time_axis[-1] + pd.Timedelta(days=1)
            save_state(out / f"{y}.pt", states, run="synthetic", valid_at=valid_at,
                       unit_ids=unit_ids)
            states = load_state(out / f"{y}.pt", run="synthetic", valid_at=valid_at,
                                unit_ids=unit_ids, members=1)
            state_s += time.perf_counter() - t0
            if router is not None:
                router.chunk(y, path, time_axis)
        if router is not None:
            router.finish()
    wall = time.perf_counter() - wall0

    def mib(pattern):
        return sum(f.stat().st_size for d in out.glob(pattern) for f in d.rglob("*")
                   if f.is_file()) / 2**20

    r = {"wall_s": wall, "cpu_s": time.process_time() - cpu0,
         "compute_s": timing.compute_s, "write_s": timing.write_s,
         "inputs_s": timing.extra["inputs_s"], "state_s": state_s,
         "unit_days": timing.unit_days, "batch": n_batch,
         "store_mb": mib("[0-9]*.zarr"), "routed_mb": mib("routed_*.zarr")}
    if router is not None:
        r.update({"route_s": router.route_s, "route_cpu_s": router.route_cpu_s,
                  "route_read_s": router.read_s,
                  "route_write_s": router.write_s, "route_state_s": router.state_s,
                  "reach_steps": router.reach_steps, "reach_days": router.reach_days,
                  "route_setup_s": rt["setup_s"], "diagnostics": router.diag,
                  "last_lateral": router.last_lateral})
    return r


def per_reach_step(cases: dict, dtypes, repeats: int = 3) -> dict:
    """Seconds per reach and hourly step of forward routings from the hot start, interleaved,
    ``repeats`` times (after one warm-up round): ``cases`` {name: (graph, {dtype: channel
    parameters}, lateral inflow [days, reaches] m³ s-1)}; returns {(name, dtype): [(wall s,
    process CPU s)]} per reach-step."""
    import torch

    from dhbv.config import defaults
    from dhbv.routing import RoutingOptions, route

    rc = defaults()["routing"]
    opts = RoutingOptions(geometry=rc["geometry"], dt=float(rc["dt"]), x=float(rc["x"]),
                          clamp=rc["clamp"])
    res = {}
    with torch.no_grad():
        for rep in range(repeats + 1):
            for k, (g, params, lat) in cases.items():
                for dt in dtypes:
                    x = torch.as_tensor(lat, dtype=getattr(torch, dt))
                    t0, c0 = time.perf_counter(), time.process_time()
                    r = route(g, x, params[dt], options=opts)
                    s, c = time.perf_counter() - t0, time.process_time() - c0
                    if rep:
                        n = r.diagnostics.n_steps * g.n
                        res.setdefault((k, dt), []).append((s / n, c / n))
    return res


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _memory_case(units: int, years: int, cap: int, routing: bool = True) -> dict:
    """Resident memory of a simulation (and its routing): after building the model, and its
    peak during the run (sampled every 5 ms), in MiB."""
    import threading

    built = build(units, routing=routing)
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


def _check_network(a, built, run: dict) -> dict:
    """Per-reach-step cost of routing ``--check-days`` days, interleaved: on this run's network
    with the first days of its last chunk's lateral inflow (the model's runoff) and with
    synthetic lateral inflow (:func:`dhbv.routing.synthetic.synthetic_lateral`: log-normal,
    mean ≈ 0.6 m³/s per reach, rarely below q_min), and on a ``--check-reaches`` network
    with synthetic lateral inflow."""
    from dhbv.routing.synthetic import synthetic_lateral
    from dhbv.simulation.synthetic import SyntheticDomain

    dom = built[1]
    big = SyntheticDomain(a.check_reaches, [], seed=1, network=True)
    dtypes = (a.routing_dtype, "float32" if a.routing_dtype == "float64" else "float64")
    params = {id(d): {dt: routing_setup(d, 0, dt)["params"] for dt in dtypes}
              for d in (dom, big)}
    days = a.check_days
    cases = {"run, model runoff": (dom.graph, params[id(dom)], run["last_lateral"][:days]),
             "run, synthetic": (dom.graph, params[id(dom)],
                                synthetic_lateral(days, dom.graph.n, 1, np.float64)),
             "big, synthetic": (big.graph, params[id(big)],
                                synthetic_lateral(days, big.graph.n, 1, np.float64))}
    graphs = {k: c[0] for k, c in cases.items()}
    return {"res": per_reach_step(cases, dtypes), "dtypes": dtypes,
            "n": {k: g.n for k, g in graphs.items()},
            "levels": {k: int(g.level.max()) + 1 for k, g in graphs.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=10_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--memory-mb", type=float, default=2000)
    ap.add_argument("--mem-units", type=int, default=400,
                    help="units of the memory runs (in 4 batches; 10x the units for the units test)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-routing", action="store_true",
                    help="simulate only (NNs + HBV + UH), as before routing existed")
    ap.add_argument("--routing-dtype", choices=("float64", "float32"), default="float64",
                    help="precision of the routing (route_domain_chunk routes in float64)")
    ap.add_argument("--check-days", type=int, default=30,
                    help="days routed per call in the per-reach-step check")
    ap.add_argument("--check-reaches", type=int, default=CONUS_UNITS,
                    help="reaches of the network of the per-reach-step check")
    ap.add_argument("--memory-case", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    if a.memory_case:
        print(json.dumps(_memory_case(*json.loads(a.memory_case))))
        return
    speed(a)
    if not a.skip_memory:
        memory(a)


def speed(a) -> None:
    """The speed run, its split and the projection."""
    import torch

    routing = not a.no_routing
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    # compile (or load from the cache) the numba kernels outside the measurement: a one-time
    # cost per process, not per unit-day
    simulate(256, 1, a.memory_mb,
             built=build(256, routing=routing, routing_dtype=a.routing_dtype), routing=routing)
    split = Split()
    built = build(a.units, routing=routing, routing_dtype=a.routing_dtype)
    r = simulate(a.units, a.years, a.memory_mb, split=split, built=built, routing=routing)
    rate = r["unit_days"] / r["wall_s"]
    print(f"\n{a.units} units x {a.years} years ({r['unit_days']:.3g} unit-days, batches of "
          f"{r['batch']}){', routed' if routing else ', UH only'}: {r['wall_s']:.1f} s wall, "
          f"{rate:,.0f} unit-days/s (load average {os.getloadavg()[0]:.1f})")
    hbv = split.s["HBV+UH"] - split.s["UH"]
    route_s, read_s = r.get("route_s", 0.0), r.get("route_read_s", 0.0)
    rstate_s = r.get("route_state_s", 0.0)
    parts = {"LSTM": split.s["LSTM"], "MLP": split.s["MLP"], "HBV": hbv, "UH": split.s["UH"]}
    if routing:
        parts["routing (Muskingum-Cunge)"] = route_s
    parts.update({"inputs": r["inputs_s"],
                  "other (balance, copies)": r["compute_s"] - split.s["LSTM"] - split.s["MLP"]
                  - split.s["HBV+UH"],
                  "I/O (zarr writes, overlapped)": r["write_s"],
                  "I/O (state files)": r["state_s"]})
    if routing:
        parts.update({"I/O routing: runoff read back": read_s,
                      "I/O routing: zarr writes, overlapped": r["route_write_s"],
                      "I/O routing: state files": rstate_s})
    for k, v in parts.items():
        print(f"  {k:38s} {v:8.1f} s  {100 * v / r['wall_s']:5.1f} %")
    io = r["write_s"] + r["state_s"] + read_s + r.get("route_write_s", 0.0) + rstate_s
    print(f"  zarr output: {r['store_mb']:.0f} MiB ({8 * r['store_mb'] * 2**20 / r['unit_days']:.1f}"
          f" bits per unit-day for 9 variables); I/O total {io:.1f} s "
          f"(overlapped writes included)")
    busy = r["cpu_s"] / r["wall_s"]
    print(f"  process CPU time {r['cpu_s']:.1f} s = {busy:.2f} of {os.cpu_count()} cores "
          f"(the rest went to other processes)")
    if routing:
        g, d = built[4]["graph"], r["diagnostics"]
        ns_run = 1e9 * route_s / r["reach_steps"]
        balance = (d.outflow_volume_m3 + d.storage_end_m3 - d.storage_start_m3) \
            / d.inflow_volume_m3
        print(f"  routing: {g.n} reaches, {int(g.level.max()) + 1} levels, "
              f"{r['reach_steps']:.3g} reach-steps (hourly, {a.routing_dtype}): "
              f"{ns_run:.1f} ns per reach-step; n {np.median(built[4]['n']):.3f} "
              f"(5-95 % {np.percentile(built[4]['n'], 5):.3f}-"
              f"{np.percentile(built[4]['n'], 95):.3f}), q {np.median(built[4]['q']):.2f}; "
              f"{r['routed_mb']:.0f} MiB routed output "
              f"({8 * r['routed_mb'] * 2**20 / r['reach_days']:.1f} bits per reach-day); "
              f"{d.n_clamped / r['reach_steps']:.1%} of the solves clamped at q_min "
              f"({d.n_negative} negative); outflow + storage change = {balance:.4f} of the "
              "inflow")
    # the MLP runs once per unit (first chunk), everything else once per unit-day; routing
    # once per reach and hourly step, its I/O once per reach-day
    conus = CONUS_UNITS * CONUS_YEARS * 365.25
    per_day = (r["wall_s"] - split.s["MLP"] - route_s - read_s - rstate_s) / r["unit_days"]
    per_unit = split.s["MLP"] / a.units
    sim_h = (conus * per_day + CONUS_UNITS * per_unit) / 3600
    cores = os.cpu_count()

    def line(what, hours, cpu_hours=None, how=None):
        quiet = hours * busy / cores if cpu_hours is None else cpu_hours
        how = how or ("(CPU time / cores)" if cpu_hours is None else "(its CPU time: one core)")
        print(f"  {what}: {hours:.2f} h at this wall-clock rate; {quiet:.2f} h on an idle "
              f"machine {how}")
        return quiet

    print(f"\nprojection, {CONUS_UNITS:,} units x {CONUS_YEARS} years ({conus:.3g} unit-days), "
          f"MLP once per unit; 'idle machine' = this run's CPU time spread over all {cores} "
          "cores (the routing's sweep is sequential: its CPU time on one core):")
    sim_q = line("simulation (NNs + HBV + UH, its I/O)", sim_h)
    if not routing:
        return
    chk = _check_network(a, built, r)
    steps = conus * 86400 / built[4]["options"].dt               # reach-steps, one reach per unit
    io_h = conus * (read_s + rstate_s) / r["reach_days"] / 3600
    print(f"\nper reach-step cost of the routing ({a.check_days} days hourly per call from the "
          f"hot start, median of 3 calls, interleaved; wall / process CPU time; load average "
          f"{os.getloadavg()[0]:.1f}):")
    med = {}
    for (k, dt), v in chk["res"].items():
        med[(k, dt)] = tuple(float(np.median([x[i] for x in v])) for i in (0, 1))
        print(f"  {chk['n'][k]:7d} reaches ({chk['levels'][k]:4d} levels), "
              f"{k.split(', ')[1] + ' inflow,':15s} {dt}: {1e9 * med[(k, dt)][0]:5.1f} / "
              f"{1e9 * med[(k, dt)][1]:5.1f} ns (calls "
              f"{', '.join(f'{1e9 * x[0]:.1f}' for x in v)})")
    for dt in chk["dtypes"]:
        print(f"  {dt}: {chk['n']['big, synthetic']} vs {chk['n']['run, synthetic']} reaches "
              f"{med[('big, synthetic', dt)][0] / med[('run, synthetic', dt)][0]:.2f}x the wall "
              f"time per reach-step; this run's runoff vs synthetic inflow "
              f"{med[('run, model runoff', dt)][0] / med[('run, synthetic', dt)][0]:.2f}x")
    big = med[("big, synthetic", a.routing_dtype)]
    dry = med[("run, model runoff", a.routing_dtype)][0] / \
        med[("run, synthetic", a.routing_dtype)][0]
    rt_q = line(f"routing ({a.routing_dtype}, {chk['n']['big, synthetic']:,}-reach cost "
                f"{1e9 * big[0]:.1f} ns, synthetic inflow)", steps * big[0] / 3600,
                steps * big[1] / 3600)
    line(f"routing ({a.routing_dtype}, that x {dry:.2f} for this run's runoff)",
         steps * big[0] * dry / 3600, steps * big[1] * dry / 3600)
    cpu_run = 1e9 * r["route_cpu_s"] / r["reach_steps"]
    run_q = line(f"routing ({a.routing_dtype}, at this run's in-chunk {ns_run:.1f} ns)",
                 steps * ns_run * 1e-9 / 3600, steps * cpu_run * 1e-9 / 3600)
    other = med[("big, synthetic", chk["dtypes"][1])]
    line(f"routing if in {chk['dtypes'][1]} ({1e9 * other[0]:.1f} ns, synthetic inflow)",
         steps * other[0] / 3600, steps * other[1] / 3600)
    io_q = line("routing I/O not overlapped (runoff read back, state files)", io_h)
    line(f"total with routing ({a.routing_dtype}, {chk['n']['big, synthetic']:,}-reach cost, "
         "synthetic inflow)",
         sim_h + steps * big[0] / 3600 + io_h, sim_q + rt_q + io_q, "(sum of the above)")
    line(f"total with routing ({a.routing_dtype}, at this run's in-chunk cost)",
         sim_h + steps * ns_run * 1e-9 / 3600 + io_h, sim_q + run_q + io_q,
         "(sum of the above)")


def memory(a) -> None:
    """Peak resident memory in fresh processes: 1 vs 40 years, N vs 10·N units."""
    n, routing = a.mem_units, not a.no_routing
    print(f"\npeak resident memory during the simulation{' and routing' if routing else ''} "
          f"(fresh processes, batches of {n // 4} units; the model itself is resident before "
          "it starts):")
    ref = None
    for units, years in ((n, 1), (n, 40), (10 * n, 1)):
        m = _peak_child([units, years, n // 4, routing])
        work = m["peak_mib"] - m["base_mib"]
        ref = ref or m
        print(f"  {units:6d} units x {years:2d} years: peak {m['peak_mib']:6.0f} MiB "
              f"({100 * (m['peak_mib'] / ref['peak_mib'] - 1):+5.1f} %), of which the model "
              f"{m['base_mib']:.0f} MiB and the simulation {work:.0f} MiB; lifetime maximum "
              f"{m['maxrss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
