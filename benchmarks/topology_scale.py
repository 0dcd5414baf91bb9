#!/usr/bin/env python
"""Scale benchmark of the MERIT network stage on a synthetic 350,000-reach zone.

MERIT-Basins region 7 has 346,321 reaches (docs/network.md#merit-basins-inputs). The synthetic table imitates a
zone: ``--outlets`` independent basins; reach i (in generation order) drains to a random earlier
reach within a window of ``--window`` reaches whose in-degree is below 4 (MERIT up1..up4), which
gives long main stems (thousands of topological levels) and mostly 0–2 upstream reaches. COMIDs
are random unique zone-71-style ids and the rows are shuffled, so nothing is pre-sorted. The
table has the MERIT columns COMID, NextDownID, up1..up4, lengthkm, slope (with zeros), unitarea;
uparea and Strahler order are derived by the stage.

Prints wall time of each step and the peak resident memory of the process.

Usage:  python benchmarks/topology_scale.py [--n 350000] [--outlets 400] [--window 120]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dhbv.network import (  # noqa: E402
    build_network,
    topology_from_table,
    compute_gauge_subnetworks,
    export_ddr_zarr,
    write_network,
)


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MiB; ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_merit_table(n: int, n_outlets: int, window: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parent = np.full(n, -1, np.int64)
    indeg = np.zeros(n, np.int64)
    draws = rng.integers(0, 1 << 30, size=4 * n)
    k = 0
    for i in range(n_outlets, n):
        lo = max(0, i - window)
        while True:
            j = lo + int(draws[k % draws.size]) % (i - lo)
            k += 1
            if indeg[j] < 4:
                break
        parent[i] = j
        indeg[j] += 1
    comid = 71_000_000 + rng.choice(900_000, size=n, replace=False).astype(np.int64)
    next_down = np.where(parent >= 0, comid[np.maximum(parent, 0)], 0)
    # up1..up4 from the parent array (ascending COMIDs)
    child = np.flatnonzero(parent >= 0)
    o = np.lexsort((comid[child], parent[child]))
    child = child[o]
    par = parent[child]
    first = np.r_[0, np.flatnonzero(np.diff(par)) + 1]
    rank = np.arange(child.size) - np.repeat(first, np.diff(np.r_[first, child.size]))
    up = np.zeros((n, 4), np.int64)
    up[par, rank] = comid[child]
    slope = rng.lognormal(np.log(3e-3), 1.2, n)
    slope[rng.random(n) < 0.05] = 0.0  # MERIT slopes contain zeros
    df = pd.DataFrame({
        "COMID": comid, "NextDownID": next_down,
        "up1": up[:, 0], "up2": up[:, 1], "up3": up[:, 2], "up4": up[:, 3],
        "lengthkm": rng.lognormal(np.log(5.0), 0.8, n),
        "slope": slope,
        "unitarea": rng.lognormal(np.log(30.0), 0.7, n),
    })
    return df.iloc[rng.permutation(n)].reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description="MERIT topology scale benchmark")
    ap.add_argument("--n", type=int, default=350_000)
    ap.add_argument("--outlets", type=int, default=400)
    ap.add_argument("--window", type=int, default=120)
    ap.add_argument("--gauges", type=int, default=200)
    a = ap.parse_args()

    base = peak_rss_mb()
    t0 = time.perf_counter()
    df = synthetic_merit_table(a.n, a.outlets, a.window)
    t_gen = time.perf_counter() - t0
    rss_gen = peak_rss_mb()
    print(f"generated {a.n:,} reaches in {t_gen:.1f} s (peak RSS {rss_gen:.0f} MiB, "
          f"{base:.0f} MiB after imports)")

    t0 = time.perf_counter()
    topo = topology_from_table(df["COMID"].to_numpy(), df["NextDownID"].to_numpy(),
                          df[["up1", "up2", "up3", "up4"]].to_numpy())
    t_topo = time.perf_counter() - t0
    print(f"topology_from_table: {t_topo:.2f} s; {topo.n:,} reaches, {topo.n_edges:,} edges, "
          f"{int(topo.is_outlet.sum())} outlets, {topo.n_levels:,} levels, "
          f"max {int(np.diff(topo.indptr).max())} upstream")

    t0 = time.perf_counter()
    net = build_network(df)
    t_net = time.perf_counter() - t0
    print(f"build_network (topology + areas + uparea + Strahler + checks): {t_net:.2f} s; "
          f"largest uparea {net.uparea.max():,.0f} km2, max Strahler {net.strahler.max()}")

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        write_network(net, Path(d) / "net.nc")
        t_nc = time.perf_counter() - t0
        t0 = time.perf_counter()
        export_ddr_zarr(net, Path(d) / "net.zarr")
        t_zarr = time.perf_counter() - t0
    print(f"write NetCDF {t_nc:.2f} s, DDR zarr {t_zarr:.2f} s")

    rng = np.random.default_rng(1)
    g = rng.choice(net.n, size=a.gauges, replace=False)
    table = pd.DataFrame({"STAID": [f"{10_000_000 + i}" for i in range(a.gauges)],
                          "COMID": net.comid[g], "FLOW_SCALE": 1.0, "DA_VALID": True})
    t0 = time.perf_counter()
    sub = compute_gauge_subnetworks(net, table)
    t_g = time.perf_counter() - t0
    print(f"gauge subnetworks for {a.gauges} random gauges: {t_g:.2f} s, "
          f"{sub.member_idx.size:,} member entries")
    total = t_topo + t_net + t_nc + t_zarr
    print(f"TOTAL stage time (excluding generation and gauges): {total:.1f} s; "
          f"peak RSS {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
