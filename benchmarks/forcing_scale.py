"""Scale benchmark of the forcing aggregation (coverage weights + chunked application).

Synthetic case: a 1,000 × 1,000 grid of 1-km cells (EPSG:5070, equal-area), 1,000 irregular
unit polygons (Voronoi cells of random points clipped to the grid, ~1,000 km² each) and a daily
P/T field stored as a Zarr store (blosc-lz4) of ``--days-long`` days. Reports

* weight-building time (exactextract) and the number of non-zeros of the sparse matrix;
* apply time and peak resident memory (each run in a fresh subprocess, ``ru_maxrss``) for
  365, 1,095 and ``--days-long`` (default 3,650) days, written as a NetCDF stream;
* linearity (time per day, 365 vs 1,095 days) and memory growth (3,650 vs 365 days, target
  within 10 %). Child processes run with ``MALLOC_ARENA_MAX=2`` (override by setting it):
  without it glibc's per-thread arenas of zarr's decompression threads add a slowly growing
  ~+25 % to the peak RSS that has nothing to do with the aggregation.

Usage: ``python benchmarks/forcing_scale.py [--workdir DIR] [--nx 1000] [--npoly 1000]
[--days-long 3650] [--chunk-days 30] [--keep]``. Runs in a few minutes on 2 cores; needs about
``2 × nx² × days × 4 B / 8`` of disk for the compressed input (≈ 3-4 GB for the defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def make_inputs(work: Path, nx: int, npoly: int, ndays: int, seed: int = 0) -> tuple[Path, Path]:
    import geopandas as gpd
    import pyproj
    import shapely
    import zarr
    from shapely.geometry import box
    from zarr.codecs import BloscCodec

    rng = np.random.default_rng(seed)
    cell = 1000.0
    x0, y0 = -1_000_000.0, 1_000_000.0
    extent = box(x0, y0, x0 + nx * cell, y0 + nx * cell)
    pts = shapely.MultiPoint(rng.uniform([x0, y0], [x0 + nx * cell, y0 + nx * cell], size=(npoly, 2)))
    polys = [shapely.intersection(p, extent) for p in shapely.voronoi_polygons(pts, extend_to=extent).geoms]
    gpath = work / "units.gpkg"
    gpd.GeoDataFrame({"COMID": np.arange(1, len(polys) + 1)}, geometry=polys, crs=5070).to_file(gpath, driver="GPKG")

    zpath = work / "grid.zarr"
    if zpath.exists():
        shutil.rmtree(zpath)
    root = zarr.open_group(zpath, mode="w", zarr_format=3)
    crs = pyproj.CRS.from_epsg(5070)
    xs = x0 + cell * (np.arange(nx) + 0.5)
    ys = (y0 + cell * (np.arange(nx) + 0.5))[::-1]
    for name, vals, attrs in (
        ("x", xs, {"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"}),
        ("y", ys, {"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"}),
        ("time", np.arange(ndays, dtype="i4"), {"units": "days since 2000-01-01", "calendar": "standard"}),
    ):
        a = root.create_array(name, shape=vals.shape, dtype=vals.dtype, dimension_names=[name])
        a[:] = vals
        a.attrs.update(attrs)
    c = root.create_array("crs", shape=(), dtype="i4", dimension_names=[])
    c.attrs.update({**crs.to_cf(), "crs_wkt": crs.to_wkt()})
    tchunk = 10
    comp = BloscCodec(cname="lz4", clevel=1, shuffle="shuffle")
    arrays = {}
    for name, units in (("pr", "mm/day"), ("tas", "degC")):
        a = root.create_array(name, shape=(ndays, nx, nx), chunks=(tchunk, nx, nx), dtype="f4",
                              dimension_names=["time", "y", "x"], compressors=[comp], fill_value=np.nan)
        a.attrs.update({"units": units, "grid_mapping": "crs"})
        arrays[name] = a
    # smooth synthetic fields: P = 3 + 2 sin(x) cos(y) + seasonal term, T = 10 - y-gradient + seasonal
    xx = np.linspace(0, 6 * np.pi, nx, dtype=np.float32)
    base_p = (3.0 + 2.0 * np.sin(xx)[None, :] * np.cos(xx)[:, None]).astype(np.float32)
    base_t = (10.0 - np.linspace(0, 20, nx, dtype=np.float32)[:, None] + 0 * xx[None, :]).astype(np.float32)
    for t0 in range(0, ndays, tchunk):
        n = min(tchunk, ndays - t0)
        s = np.sin(2 * np.pi * (t0 + np.arange(n)) / 365.25).astype(np.float32)[:, None, None]
        arrays["pr"][t0:t0 + n] = base_p[None] * (1.0 + 0.5 * s)
        arrays["tas"][t0:t0 + n] = base_t[None] + 10.0 * s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(zpath)
    return zpath, gpath


def child_apply(args) -> None:
    from dhbv.forcing import aggregate_forcing

    t = time.perf_counter()
    end = (np.datetime64("2000-01-01") + np.timedelta64(args.days - 1, "D")).astype(str)
    aggregate_forcing(args.grid, args.weights, None, args.out, variables={"P": "pr", "T": "tas"},
                      pet_method="oudin", chunk_days=args.chunk_days, min_coverage=0.5,
                      start="2000-01-01", end=end)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"days": args.days, "apply_s": dt, "peak_rss_mb": rss}))


def child_weights(args) -> None:
    from dhbv.forcing import build_coverage_weights

    t = time.perf_counter()
    w = build_coverage_weights(args.grid, args.polys, "COMID", args.weights, reuse=False)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"weights_s": dt, "nnz": int(w.matrix.nnz), "units": int(w.matrix.shape[0]),
                      "cells": int(w.matrix.shape[1]), "peak_rss_mb": rss}))


def run_child(*argv) -> dict:
    # glibc gives every reader thread of zarr's codec pipeline its own malloc arena, whose freed
    # memory is not returned; capping the arenas keeps the peak RSS a property of dhbv's chunking
    env = {**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
    out = subprocess.run([sys.executable, __file__, *map(str, argv)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"benchmark step {argv[1]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--nx", type=int, default=1000)
    ap.add_argument("--npoly", type=int, default=1000)
    ap.add_argument("--days-long", type=int, default=3650)
    ap.add_argument("--chunk-days", type=int, default=30)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--_child", choices=["apply", "weights"])
    ap.add_argument("--grid"), ap.add_argument("--polys"), ap.add_argument("--weights"), ap.add_argument("--out")
    ap.add_argument("--days", type=int)
    args = ap.parse_args()
    if args._child == "apply":
        child_apply(args)
        return 0
    if args._child == "weights":
        child_weights(args)
        return 0

    work = args.workdir or Path(tempfile.mkdtemp(prefix="dhbv_forcing_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        grid, polys = make_inputs(work, args.nx, args.npoly, args.days_long)
        print(f"inputs: {args.nx}x{args.nx} grid, {args.npoly} polygons, {args.days_long} days "
              f"(P, T) -> {grid.name} in {time.perf_counter() - t:.1f} s")
        wpath = work / "weights.npz"
        w = run_child("--_child", "weights", "--grid", grid, "--polys", polys, "--weights", wpath)
        print(f"weights: {w['units']} units x {w['cells']} cells, nnz {w['nnz']}, build {w['weights_s']:.1f} s, "
              f"peak RSS {w['peak_rss_mb']:.0f} MB")
        # warm-up (page cache of the input store), not reported
        run_child("--_child", "apply", "--grid", grid, "--weights", wpath, "--out", work / "warmup.nc",
                  "--days", min(args.days_long, 2 * args.chunk_days), "--chunk-days", args.chunk_days)
        res = {}
        for days in sorted(d for d in {365, 1095, args.days_long} if d <= args.days_long):
            r = run_child("--_child", "apply", "--grid", grid, "--weights", wpath, "--out", work / f"units_{days}.nc",
                          "--days", days, "--chunk-days", args.chunk_days)
            res[days] = r
            print(f"apply {days:5d} days (chunk {args.chunk_days} d): {r['apply_s']:7.1f} s "
                  f"({1000 * r['apply_s'] / days:6.1f} ms/day), peak RSS {r['peak_rss_mb']:6.0f} MB")
        if 365 in res and 1095 in res:  # linearity needs both lengths (--days-long >= 1095)
            a, b = res[365], res[1095]
            ratio = b["apply_s"] / a["apply_s"]
            marginal = (b["apply_s"] - a["apply_s"]) / (1095 - 365)
            print(f"time ratio 1095/365 days: {ratio:.2f} (linear = 3.00); marginal {1000 * marginal:.1f} ms/day, "
                  f"fixed part {a['apply_s'] - 365 * marginal:.1f} s")
            if args.days_long > 1095:
                pred = a["apply_s"] + (args.days_long - 365) * marginal
                print(f"{args.days_long} days: {res[args.days_long]['apply_s']:.1f} s vs {pred:.1f} s extrapolated linearly from 365/1095")
        shortest = min(res)
        if args.days_long > shortest:
            m = res[args.days_long]["peak_rss_mb"] / res[shortest]["peak_rss_mb"] - 1.0
            print(f"peak memory {args.days_long} vs {shortest} days: {100 * m:+.1f} % (target within 10 %)")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
