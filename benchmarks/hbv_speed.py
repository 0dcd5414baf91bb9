"""Speed and memory of the HBV 2.0 core: dhbv fused kernels vs the published reference.

Runs (a) 1000 basins × 365 days × nmul 4 and (b) 100 × 730 × 16, forward only and
forward + backward, for dhbv (fused numba kernels) and for hydrodl2 1.4.0 ``Hbv_2`` when it is
importable (PSU non-commercial licence, optional; run with stdin redirected, e.g.
``python benchmarks/hbv_speed.py < /dev/null``, so it does not prompt). Without hydrodl2 the
baseline is dhbv's own plain-torch reference loop, and the output says so.

Each measurement runs in a fresh subprocess: a tiny call loads the compiled kernels, a first
full-size call gives the memory (peak RSS of the process minus its RSS just before that call,
MiB) and pays the one-time costs a training loop pays once (thread pools, allocator growth);
time = best of the ``--repeats`` calls that follow. Both implementations are treated alike.

Usage: python benchmarks/hbv_speed.py [--repeats 5] [--cases a,b]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CASES = {"a": (1000, 365, 4), "b": (100, 730, 16)}


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker(impl: str, case: str, backward: bool, repeats: int) -> dict:
    import torch

    from dhbv.physics import HbvOptions, run_hbv2
    from dhbv.physics.synthetic import synthetic_case

    n_b, n_t, nmul = CASES[case]
    inputs = synthetic_case(n_t, n_b, nmul, seed=0)

    if impl == "hydrodl2":
        from hydrodl2.models.hbv.hbv_2 import Hbv_2

        model = Hbv_2(config={"dynamic_params": {"Hbv_2": ["parBETA", "parK0", "parBETAET"]},
                              "nmul": nmul, "routing": True, "warmup": 0,
                              "full_output": False}, device=torch.device("cpu"))

        def call(f, d, s, r, u, e):
            t_len, b_len = f.shape[:2]
            params = (d.reshape(t_len, b_len, 3 * nmul),
                      torch.cat([s.reshape(b_len, 13 * nmul), r], 1))
            out = model({"x_phy": f, "ac_all": u, "elev_all": e}, params)
            return out["streamflow"][..., 0], out["AET_hydro"][..., 0]
    else:
        opts = HbvOptions(backend="fused" if impl == "dhbv" else "reference")

        def call(f, d, s, r, u, e):
            out = run_hbv2(f, d, s, r, u, e, options=opts)
            return out["streamflow"], out["AET"]

    def once(case_inputs):
        f, d, s, r, u, e = case_inputs
        if backward:
            d, s, r = (x.clone().requires_grad_(True) for x in (d, s, r))
            q, aet = call(f, d, s, r, u, e)
            (((q - 1.0) ** 2).mean() + aet.mean()).backward()
        else:
            with torch.no_grad():
                call(f, d, s, r, u, e)

    once(synthetic_case(20, 4, nmul, seed=1))  # JIT/cache load outside the measurement
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    once(inputs)  # first full-size call: memory peak (and one-time costs), not timed
    first = time.perf_counter() - t0
    peak = max(_peak_mib() - rss0, 0.0)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once(inputs)
        times.append(time.perf_counter() - t0)
    return {"time_s": min(times), "first_s": first, "peak_mib": peak,
            "threads": torch.get_num_threads()}


def _measure(impl, case, backward, repeats, settle_s=3.0):
    time.sleep(settle_s)  # let the machine settle after the previous subprocess freed its memory
    cmd = [sys.executable, __file__, "--worker", impl, case, str(int(backward)), str(repeats)]
    res = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise RuntimeError(f"{impl} {case} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", default="a,b")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, case, bwd, rep = args.worker
        print(json.dumps(_worker(impl, case, bool(int(bwd)), int(rep))))
        return
    try:
        import importlib.util

        have_oracle = importlib.util.find_spec("hydrodl2") is not None
    except ValueError:
        have_oracle = False
    baseline = "hydrodl2" if have_oracle else "reference"
    if have_oracle:
        print("baseline: hydrodl2 1.4.0 Hbv_2")
    else:
        print("baseline: dhbv plain-torch reference (hydrodl2 not installed)")
    print(f"cpus: {os.cpu_count()}; times = best of {args.repeats} (baseline: best of "
          f"{max(1, args.repeats - 1)}) after one untimed full-size call; memory = peak RSS "
          "increase during that call")
    header = (f"{'case':34s} {'mode':8s} {'dhbv s':>8s} {'base s':>8s} {'speedup':>8s} "
              f"{'dhbv MiB':>9s} {'base MiB':>9s}")
    print(header, flush=True)
    for case in args.cases.split(","):
        n_b, n_t, nmul = CASES[case]
        for backward in (False, True):
            ours = _measure("dhbv", case, backward, args.repeats)
            base = _measure(baseline, case, backward, max(1, args.repeats - 1))
            label = f"({case}) {n_b} basins x {n_t} d x nmul {nmul}"
            mode = "fwd+bwd" if backward else "fwd"
            print(f"{label:34s} {mode:8s} {ours['time_s']:8.3f} {base['time_s']:8.3f} "
                  f"{base['time_s'] / ours['time_s']:7.1f}x {ours['peak_mib']:9.1f} "
                  f"{base['peak_mib']:9.1f}", flush=True)


if __name__ == "__main__":
    main()
