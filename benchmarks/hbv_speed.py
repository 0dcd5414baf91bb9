"""Speed and memory of the HBV 2.0 core: dhbv fused kernels vs the published reference.

Runs (a) 1000 basins × 365 days × nmul 4 and (b) 100 × 730 × 16, forward only and
forward + backward, for dhbv (fused numba kernels) and for hydrodl2 1.4.0 ``Hbv_2`` when it is
importable (PSU non-commercial licence, optional; run with stdin redirected, e.g.
``python benchmarks/hbv_speed.py < /dev/null``, so it does not prompt). Without hydrodl2 the
baseline is dhbv's own plain-torch reference loop, and the output says so.

Times: for each case and mode one fresh subprocess runs both implementations, interleaved
(ours, baseline, ours, ...) after one untimed full-size call each (one-time costs that a
training loop pays once), and reports the median (and the best) of ``--repeats`` for each, so
both see the same machine state; ``paired`` is the median of the ratios of the interleaved
pairs (baseline call / the dhbv call just before it), which follows the machine's slow and
fast phases on a shared VM within a run. Both use ``--threads`` threads (torch's pool and
numba's) and the same dtype (float32) and work (forward: HBV 2.0 time loop, parameter scaling
and the gamma UH; dhbv also validates its inputs). ``--clock cpu`` measures process CPU time
instead of wall time (robust to other jobs on a shared machine; use it with ``--threads 1``).
Memory: peak RSS increase of one full-size call (MiB), each implementation in a process of its
own.

Usage: python benchmarks/hbv_speed.py [--repeats 5] [--cases a,b] [--modes fwd,both]
       [--threads N] [--clock wall|cpu] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CASES = {"a": (1000, 365, 4), "b": (100, 730, 16)}


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _runner(impl: str, case: str, backward: bool):
    """(once, inputs): one forward (+ backward) call of ``impl`` on case inputs."""
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

    def leaves(case_inputs):
        """Parameters as leaf tensors made once, as in a training loop (grads reset per call)."""
        f, d, s, r, u, e = case_inputs
        if backward:
            d, s, r = (x.clone().requires_grad_(True) for x in (d, s, r))
        return f, d, s, r, u, e

    def once(case_inputs):
        f, d, s, r, u, e = case_inputs
        if backward:
            for x in (d, s, r):
                x.grad = None
            q, aet = call(f, d, s, r, u, e)
            (((q - 1.0) ** 2).mean() + aet.mean()).backward()
        else:
            with torch.no_grad():
                call(f, d, s, r, u, e)

    once(leaves(synthetic_case(20, 4, nmul, seed=1)))  # JIT/cache load outside the measurement
    return once, leaves(inputs)


def _memory_worker(impl: str, case: str, backward: bool) -> dict:
    """Peak RSS increase (MiB) of one full-size call, in a process of its own."""
    once, inputs = _runner(impl, case, backward)
    rss0 = _rss_mib()
    once(inputs)
    return {"peak_mib": max(_peak_mib() - rss0, 0.0)}


def _time_worker(impls, case: str, backward: bool, repeats: int, threads: int,
                 clock: str) -> dict:
    """Median and best of ``repeats`` seconds of each implementation, measured in this one
    process and interleaved (ours, baseline, ours, ...), so that both see the same machine
    state; each first gets one untimed full-size call (one-time costs a training loop pays
    once). Both run with ``threads`` threads (0: the libraries' defaults)."""
    import numba
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
        numba.set_num_threads(threads)
    tick = time.process_time if clock == "cpu" else time.perf_counter
    runners = {impl: _runner(impl, case, backward) for impl in impls}
    for once, inputs in runners.values():
        once(inputs)
    times = {impl: [] for impl in impls}
    for _ in range(repeats):
        for impl, (once, inputs) in runners.items():
            t0 = tick()
            once(inputs)
            times[impl].append(tick() - t0)
    out = {impl: statistics.median(v) for impl, v in times.items()}
    out.update({f"{impl}_best": min(v) for impl, v in times.items()})
    if len(impls) == 2:  # the ratio of each interleaved pair (same machine state), median
        a, b = impls
        out["paired"] = statistics.median(tb / ta for ta, tb in zip(times[a], times[b]))
    out["threads"] = [torch.get_num_threads(), numba.get_num_threads()]
    return out


def _subprocess(args) -> dict:
    time.sleep(2.0)  # let the machine settle after the previous subprocess freed its memory
    cmd = [sys.executable, __file__, "--worker", *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", default="a,b")
    parser.add_argument("--modes", default="fwd,both", help="fwd (forward only), both "
                        "(forward + backward)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch and numba threads for both (0: the libraries' defaults)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, case, bwd, *rest = args.worker
        if kind == "memory":
            print(json.dumps(_memory_worker(rest[0], case, bool(int(bwd)))))
        else:
            print(json.dumps(_time_worker(rest[3:], case, bool(int(bwd)), int(rest[0]),
                                          int(rest[1]), rest[2])))
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
    print(f"cpus: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; times ({args.clock} "
          f"clock): both in one process, interleaved, median (best) of {args.repeats} after one "
          "untimed full-size call each; memory: peak RSS increase of one full-size call, each "
          "in a process of its own")
    header = (f"{'case':34s} {'mode':8s} {'thr':>5s} {'dhbv s':>8s} {'base s':>8s} "
              f"{'speedup':>8s} {'(best)':>7s} {'paired':>7s} {'dhbv MiB':>9s} {'base MiB':>9s}")
    print(header, flush=True)
    for case in args.cases.split(","):
        n_b, n_t, nmul = CASES[case]
        for backward in [m == "both" for m in args.modes.split(",")]:
            bwd = int(backward)
            t = _subprocess(["time", case, bwd, args.repeats, args.threads, args.clock, "dhbv",
                             baseline])
            if args.no_memory:
                mem = {"dhbv": float("nan"), baseline: float("nan")}
            else:
                mem = {impl: _subprocess(["memory", case, bwd, impl])["peak_mib"]
                       for impl in ("dhbv", baseline)}
            label = f"({case}) {n_b} basins x {n_t} d x nmul {nmul}"
            mode = "fwd+bwd" if backward else "fwd"
            thr = "/".join(map(str, t["threads"]))
            print(f"{label:34s} {mode:8s} {thr:>5s} {t['dhbv']:8.4f} {t[baseline]:8.4f} "
                  f"{t[baseline] / t['dhbv']:7.1f}x "
                  f"{t[baseline + '_best'] / t['dhbv_best']:6.1f}x "
                  f"{t['paired']:6.1f}x "
                  f"{mem['dhbv']:9.1f} {mem[baseline]:9.1f}", flush=True)


if __name__ == "__main__":
    main()
