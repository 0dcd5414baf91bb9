"""Split the Stehekin basin (USGS 12451000) into sub-units for the forcing-aggregation demo.

Input : resources/demo/stehekin_12451000/basin_12451000_hysets_epsg4326.geojson (HYSETS/USGS
        boundary, EPSG:4326, 829.3 km² geodesic).
Output: resources/demo/stehekin_12451000/stehekin_subunits.geojson (EPSG:4326), one feature per
        piece of the basin inside a cell of a 0.1° × 0.1° graticule aligned to whole tenths of a
        degree. The graticule is deliberately offset from the 1/8° Maurer forcing grid, so every
        sub-unit overlaps several forcing cells partially (the case exact coverage weights exist
        for). Pieces are kept whole (no slivers removed), so the sub-units tile the basin exactly.
        Properties: ``subunit_id`` ("SU" + 2 digits, west→east then north→south), ``basin_id``
        ("12451000"), ``lon0``/``lat0`` (south-west corner of the graticule cell, degrees) and
        ``area_km2`` (geodesic, WGS84).

Run from the repository root:  python resources/scripts/make_stehekin_subunits.py
The script is deterministic (same input → byte-identical output).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import geopandas as gpd
import pyproj
import shapely
from shapely.geometry import box, mapping

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "resources/demo/stehekin_12451000/basin_12451000_hysets_epsg4326.geojson"
DST = ROOT / "resources/demo/stehekin_12451000/stehekin_subunits.geojson"
STEP = 0.1  # graticule spacing, degrees


def make_subunits(src: Path = SRC, step: float = STEP) -> gpd.GeoDataFrame:
    """Basin ∩ graticule cells, ordered west→east, north→south."""
    basin = gpd.read_file(src).to_crs(4326)
    geom = shapely.union_all(basin.geometry.values)
    xmin, ymin, xmax, ymax = geom.bounds
    geod = pyproj.Geod(ellps="WGS84")
    rows = []
    for i in range(math.floor(xmin / step), math.ceil(xmax / step)):
        for j in range(math.ceil(ymax / step) - 1, math.floor(ymin / step) - 1, -1):
            lon0, lat0 = round(i * step, 6), round(j * step, 6)
            piece = shapely.intersection(geom, box(lon0, lat0, lon0 + step, lat0 + step))
            piece = shapely.union_all([g for g in getattr(piece, "geoms", [piece]) if g.geom_type in ("Polygon", "MultiPolygon")])
            if piece.is_empty or piece.area == 0:
                continue
            rows.append((lon0, lat0, shapely.set_precision(piece, 1e-9)))
    recs = []
    for k, (lon0, lat0, g) in enumerate(rows, start=1):
        recs.append({
            "subunit_id": f"SU{k:02d}", "basin_id": "12451000", "lon0": lon0, "lat0": lat0,
            "area_km2": round(abs(geod.geometry_area_perimeter(g)[0]) / 1e6, 4), "geometry": g,
        })
    return gpd.GeoDataFrame(recs, geometry="geometry", crs=4326)


def write_geojson(gdf: gpd.GeoDataFrame, dst: Path) -> None:
    """Write a compact, deterministic GeoJSON (coordinates rounded to 1e-6°), atomically."""
    feats = []
    for rec in gdf.to_dict("records"):
        geom = mapping(shapely.set_precision(rec.pop("geometry"), 1e-6))
        feats.append({"type": "Feature", "properties": rec, "geometry": geom})
    doc = {"type": "FeatureCollection", "name": "stehekin_subunits",
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, "features": feats}
    tmp = dst.with_suffix(".geojson.tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    os.replace(tmp, dst)


def main(argv: list[str] | None = None) -> int:
    gdf = make_subunits()
    write_geojson(gdf, DST)
    total = gdf.area_km2.sum()
    print(f"wrote {DST.relative_to(ROOT)}: {len(gdf)} sub-units, {total:.2f} km2 "
          f"(min {gdf.area_km2.min():.2f}, max {gdf.area_km2.max():.2f} km2)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
