#!/usr/bin/env python
"""Derive a MERIT-Basins-style reach table for the Juniata demo basin (run once; output shipped).

Input (resources/demo/juniata_merit/, see PROVENANCE.txt there; MERIT-derived data,
CC BY-NC-SA 4.0):
  juniata_conus_adjacency.zarr  DDR zarr v3 COO: order (213 COMIDs, topological order),
                                indices_0 (row = downstream index), indices_1 (col = upstream),
                                length_m (float32, m), slope (float32, m/m, raw, contains 0)
  juniata_attributes.nc         log10_uparea (log10 of km²) per COMID, same order

Output: resources/demo/juniata_merit/juniata_reaches.csv, one row per reach in the shipped
order, with the MERIT-Basins flowline column names (routing_spec §12.1):
  COMID       MERIT reach id
  NextDownID  COMID of the downstream reach from the COO (0 for the outlet 73005278)
  maxup       number of upstream reaches; up1..up4 their COMIDs ascending (0 = none)
  lengthkm    length_m / 1000 (km)
  slope       raw slope as stored (float32 value written exactly; zeros kept — the network
              stage floors it)
  uparea      10 ** log10_uparea (km²), drainage area at the reach outlet
  unitarea    uparea − Σ uparea of the direct upstream reaches (km²), floored at the area of
              one MERIT Hydro 3-arcsec pixel at the basin latitude (40.5° N: 92.6 m × 70.5 m =
              0.00653 km²) so that no unit catchment is empty or negative. In the shipped data
              the smallest difference is 0.0131 km², so the floor changes no value; it only
              guards against rounding of log10_uparea.
  order       Strahler order computed from the tree (headwaters 1)

The true MERIT unit-catchment areas are not in the shipped bundle; ``unitarea`` here is the
difference of drainage areas, which equals the unit-catchment area when uparea is exactly
additive (MERIT-Basins uparea comes from the 90 m flow-accumulation grid, so the two agree to
rounding). The outlet uparea 8,683.35 km² equals COMID_DRAIN_SQKM of juniata_gage.csv.

Usage:  python resources/scripts/derive_juniata_reach_table.py [--data DIR] [--out CSV]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import zarr

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "resources" / "demo" / "juniata_merit"

EARTH_RADIUS_M = 6_371_007.2  # authalic radius
PIXEL_DEG = 3.0 / 3600.0  # MERIT Hydro resolution
BASIN_LAT_DEG = 40.5


def pixel_area_km2(lat_deg: float = BASIN_LAT_DEG) -> float:
    """Area of one 3-arcsec pixel (km²) at latitude ``lat_deg``."""
    d = math.radians(PIXEL_DEG)
    return (EARTH_RADIUS_M * d) * (EARTH_RADIUS_M * d * math.cos(math.radians(lat_deg))) / 1e6


def derive(data: Path = DATA) -> pd.DataFrame:
    g = zarr.open_group(str(data / "juniata_conus_adjacency.zarr"), mode="r")
    order = g["order"][:].astype(np.int64)
    rows = g["indices_0"][:].astype(np.int64)
    cols = g["indices_1"][:].astype(np.int64)
    length_m = g["length_m"][:]
    slope = g["slope"][:]
    n = order.size
    assert np.all(rows > cols), "stored adjacency is not lower triangular"
    assert np.unique(cols).size == cols.size, "a reach has two downstream reaches"

    with xr.open_dataset(data / "juniata_attributes.nc", engine="netcdf4") as ds:
        att = ds["log10_uparea"].to_series()
    if not np.array_equal(att.index.to_numpy().astype(np.int64), order):
        att = att.reindex(order)
    uparea = 10.0 ** att.to_numpy(dtype=np.float64)

    next_down = np.zeros(n, np.int64)
    next_down[cols] = order[rows]
    ups: list[list[int]] = [[] for _ in range(n)]
    for r, c in zip(rows.tolist(), cols.tolist()):
        ups[r].append(c)
    if max(len(u) for u in ups) > 4:
        raise SystemExit("more than 4 upstream reaches: not representable as up1..up4")

    up_ids = np.zeros((n, 4), np.int64)
    unitarea = np.empty(n)
    strahler = np.ones(n, np.int64)
    floor = pixel_area_km2()
    for i in range(n):  # the stored order is topological: upstream reaches come first
        u = sorted(ups[i], key=lambda j: order[j])
        up_ids[i, : len(u)] = order[u]
        unitarea[i] = max(uparea[i] - uparea[u].sum(), floor)
        if u:
            so = [strahler[j] for j in u]
            m = max(so)
            strahler[i] = m + 1 if so.count(m) >= 2 else m

    df = pd.DataFrame({
        "COMID": order,
        "NextDownID": next_down,
        "maxup": [len(u) for u in ups],
        "up1": up_ids[:, 0], "up2": up_ids[:, 1], "up3": up_ids[:, 2], "up4": up_ids[:, 3],
        "lengthkm": length_m.astype(np.float64) / 1000.0,
        "slope": slope.astype(np.float64),
        "uparea": uparea,
        "unitarea": unitarea,
        "order": strahler,
    })
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=DATA / "juniata_reaches.csv")
    a = ap.parse_args()
    df = derive(a.data)
    # repr-precision floats so that float32 slope/length survive the round trip exactly
    df.to_csv(a.out, index=False, float_format="%.17g")
    print(f"wrote {a.out}: {len(df)} reaches, outlet {df.COMID[df.NextDownID == 0].tolist()}, "
          f"uparea max {df.uparea.max():.2f} km2, unitarea min {df.unitarea.min():.4f} km2, "
          f"sum {df.unitarea.sum():.2f} km2")


if __name__ == "__main__":
    main()
