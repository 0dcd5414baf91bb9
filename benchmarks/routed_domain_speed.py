"""Speed and memory of the routing stage of a routed (δHBV2.0MC) domain-simulation chunk.

:class:`dhbv.simulation.routed.DomainRouter` routes one chunk of unit runoff through a
synthetic dendritic MERIT-like network (:func:`dhbv.routing.synthetic.synthetic_network`, one
reach per unit, written as a topology-stage ``network.nc`` and read back as a chunk job does)
with a muskingum_cunge model of the configuration's default routing options (random weights:
n, q from its ``RoutingParameterNetwork``), float32 as in training: the first chunk of a year
with the 5 spin-up days, hot start, daily means with the 9 h day offset, one member. The runoff
is gamma-distributed (mean 1 mm/d, wet every day). Each network size is timed ``--repeats``
times, sizes interleaved; printed: wall and process CPU time per chunk and per reach-step, and
the peak resident memory of the process (the largest network dominates).

Usage: python benchmarks/routed_domain_speed.py [--reaches 10001 180001] [--days 365]
       [--repeats 3]
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch


def _network(n: int, path: Path):
    """A synthetic network of ``n`` reaches (odd) as a topology-stage file; its reach ids."""
    from dhbv.network import build_network
    from dhbv.network.store import write_network
    from dhbv.routing.synthetic import synthetic_network

    tree, _ = synthetic_network(n, n_stem=max(2, round(3000 * (n / 180_000) ** 0.5)), seed=0)
    ids = 71_000_001 + np.arange(n)
    down = np.asarray(tree.downstream, np.int64)
    up = np.ones(n)
    for i in range(n):                       # upstream areas (reaches in topological order)
        if down[i] >= 0:
            up[down[i]] += up[i]
    table = pd.DataFrame({"COMID": ids,
                          "NextDownID": np.where(down >= 0, ids[np.maximum(down, 0)], 0),
                          "lengthkm": tree.length_m / 1000.0, "slope": tree.slope,
                          "uparea": up, "unitarea": np.ones(n)})
    write_network(build_network(table), path)
    return ids


def main(argv=None):
    from dhbv.config import defaults
    from dhbv.runner import build_model
    from dhbv.simulation.routed import DomainRouter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reaches", type=int, nargs="+", default=[10_001, 180_001])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    names = [f"a{i}" for i in range(10)]
    mc = dict(defaults()["model"], attributes=names, readout="muskingum_cunge",
              dynamic_inputs=["P", "T", "PET"])
    torch.manual_seed(0)
    model = build_model(mc, len(names)).eval()
    stats = {a: [-1.28, 1.28, 0.0, 1.0] for a in names}
    rng = np.random.default_rng(0)
    lead = int(model.readout.lead_days)
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.reaches:
            n += 1 - n % 2                   # the binary trees have an odd number of reaches
            ids = _network(n, Path(tmp) / f"net{n}.nc")
            inp = SimpleNamespace(unit_ids=[str(i) for i in ids],
                                  area=np.exp(rng.normal(np.log(40.0), 0.95, n)),
                                  attributes=rng.normal(0.0, 1.0, (n, len(names))),
                                  attribute_names=names)
            router = DomainRouter([model], inp, stats, Path(tmp) / f"net{n}.nc")
            runoff = rng.gamma(0.5, 2.0, (1, lead + args.days, n)).astype(np.float32)
            cases[n] = (router, runoff, [])
            print(f"{n} reaches, {int(router.graph.level.max()) + 1} levels")
        end = pd.Timestamp("2000-01-01") + pd.Timedelta(days=args.days - 1)
        for _ in range(args.repeats):
            for n, (router, runoff, times) in cases.items():
                t0, c0 = time.perf_counter(), time.process_time()
                router.route(runoff, start="2000-01-01", end=end, lead=lead, previous=None)
                times.append((time.perf_counter() - t0, time.process_time() - c0))
    for n, (router, runoff, times) in cases.items():
        steps = runoff.shape[1] * router.day_steps * n
        w, c = np.median(np.array(times), axis=0)
        print(f"{n:>7} reaches x {runoff.shape[1]} records: median wall {w:.2f} s, CPU {c:.2f} s "
              f"per member-chunk = {1e9 * w / steps:.1f} ns wall, {1e9 * c / steps:.1f} ns CPU "
              f"per reach-step (all: {', '.join(f'{a:.2f}/{b:.2f}' for a, b in times)} s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
