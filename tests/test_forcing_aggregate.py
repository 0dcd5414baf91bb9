"""Coverage weights and chunked aggregation on small synthetic CF grids (tmp_path NetCDF)."""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
import xarray as xr
from shapely.geometry import Polygon, box

from dhbv.errors import DhbvInputError
from dhbv.forcing import aggregate_forcing, build_coverage_weights, load_coverage_weights
from dhbv.forcing.pet import hargreaves


def write_grid(path, x, y, fields, *, crs="EPSG:4326", units=None, ndays=None, start="2000-01-01", with_crs=True):
    """Write a CF NetCDF grid. ``fields``: name -> array (t, ny, nx) or scalar (broadcast)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    units = units or {}
    crs_obj = pyproj.CRS.from_user_input(crs)
    if ndays is None:
        ndays = next(np.shape(v)[0] for v in fields.values() if np.ndim(v) == 3)
    time = pd.date_range(start, periods=ndays, freq="D")
    geo = crs_obj.is_geographic
    xn, yn = ("lon", "lat") if geo else ("x", "y")
    ds = xr.Dataset(coords={"time": time, yn: y, xn: x})
    ds[xn].attrs = {"standard_name": "longitude" if geo else "projection_x_coordinate", "units": "degrees_east" if geo else "m", "axis": "X"}
    ds[yn].attrs = {"standard_name": "latitude" if geo else "projection_y_coordinate", "units": "degrees_north" if geo else "m", "axis": "Y"}
    for name, val in fields.items():
        arr = np.broadcast_to(np.asarray(val, dtype=np.float32), (ndays, y.size, x.size)).copy()
        ds[name] = (("time", yn, xn), arr)
        ds[name].attrs["units"] = units.get(name, {"prcp": "mm/day", "tmax": "degC", "tmin": "degC"}.get(name, "mm/day"))
        if with_crs:
            ds[name].attrs["grid_mapping"] = "crs"
    if with_crs:
        ds["crs"] = ((), np.int32(0), {**crs_obj.to_cf(), "crs_wkt": crs_obj.to_wkt()})
    ds.to_netcdf(path)
    return path


def write_polys(path, geoms, ids, crs="EPSG:4326", key="COMID"):
    gpd.GeoDataFrame({key: ids}, geometry=list(geoms), crs=crs).to_file(path, driver="GPKG")
    return path


def run(tmp_path, grid, polys, variables=None, key="COMID", name="out", **kw):
    wpath = tmp_path / f"{name}_w.npz"
    crs = kw.pop("crs", None)
    build_coverage_weights(grid, polys, key, wpath, crs=crs)
    out = tmp_path / f"{name}.nc"
    aggregate_forcing(grid, wpath, polys, out, variables=variables or {"P": "prcp", "Tmax": "tmax", "Tmin": "tmin"},
                      pet_method=kw.pop("pet_method", "hargreaves"), chunk_days=kw.pop("chunk_days", 4),
                      min_coverage=kw.pop("min_coverage", 0.5), crs=crs, **kw)
    return xr.load_dataset(out), load_coverage_weights(wpath)


def centres(lo, step, n):
    return lo + step * (np.arange(n) + 0.5)


def sphere_band(lat_s, lat_n):
    return np.sin(np.radians(lat_n)) - np.sin(np.radians(lat_s))


# --------------------------------------------------------------------------- analytic fields


def test_constant_field_gives_constant_and_hargreaves_pet(tmp_path):
    x, y = centres(-121.0, 0.125, 6), centres(48.0, 0.125, 5)[::-1]  # north-up lat
    grid = write_grid(tmp_path / "g.nc", x, y, {"prcp": 3.25, "tmax": 12.0, "tmin": 2.0}, ndays=10, start="2001-03-01")
    polys = write_polys(tmp_path / "p.gpkg",
                        [box(-120.93, 48.07, -120.51, 48.55), Polygon([(-120.9, 48.1), (-120.4, 48.2), (-120.7, 48.6)])],
                        ["a", "b"])
    out, w = run(tmp_path, grid, polys)
    np.testing.assert_allclose(out.P.values, 3.25, rtol=1e-6)
    np.testing.assert_allclose(out["T"].values, 7.0, rtol=1e-6)
    doy = pd.DatetimeIndex(out.time.values).day_of_year.to_numpy()
    expect = hargreaves(2.0, 12.0, out.lat.values[None, :], doy[:, None])
    np.testing.assert_allclose(out.PET.values, expect, rtol=1e-5)
    assert out.PET.attrs["units"] == "mm d-1" and out["T"].attrs["units"] == "degC"
    assert out.attrs["pet_method"] == "hargreaves" and out.attrs["weights_fingerprint"] == w.fingerprint
    # rows sum to 1 for polygons inside the grid; centroid latitude of the box
    np.testing.assert_allclose(np.asarray(w.matrix.sum(axis=1)).ravel(), 1.0, atol=1e-9)
    assert list(out.unit.values) == ["a", "b"]
    assert abs(out.lat.values[0] - 48.31) < 1e-3


def test_linear_field_gives_rectangle_centre_value(tmp_path):
    # projected grid (EPSG:5070, 1 km cells); P = 2 + 0.001 * x[m] varies only in x
    x, y = centres(0.0, 1000.0, 8), centres(0.0, 1000.0, 6)
    P = np.broadcast_to(2.0 + 0.001 * x[None, None, :], (3, 6, 8))
    grid = write_grid(tmp_path / "g.nc", x, y, {"prcp": P, "tmax": 5.0, "tmin": 1.0}, crs="EPSG:5070")
    # rectangles with equal partial coverage at both x ends, arbitrary in y, plus one cell-aligned
    rects = [box(1250.0, 300.0, 4750.0, 5100.0), box(2000.0, 1000.0, 6000.0, 3000.0), box(600.0, 10.0, 7400.0, 5990.0)]
    polys = write_polys(tmp_path / "p.gpkg", rects, [1, 2, 3], crs="EPSG:5070")
    out, _ = run(tmp_path, grid, polys, pet_method="oudin")
    expect = [2.0 + 0.001 * (r.bounds[0] + r.bounds[2]) / 2 for r in rects]
    np.testing.assert_allclose(out.P.values, np.broadcast_to(expect, (3, 3)), rtol=1e-7)
    assert list(out.unit.values) == ["1", "2", "3"]


def test_tiling_polygons_conserve_volume(tmp_path):
    rng = np.random.default_rng(0)
    x, y = centres(1000.0, 1000.0, 9), centres(2000.0, 1000.0, 7)[::-1]
    P = rng.gamma(2.0, 3.0, size=(5, 7, 9))
    grid = write_grid(tmp_path / "g.nc", x, y, {"prcp": P, "tmax": 8.0, "tmin": 0.0}, crs="EPSG:5070")
    extent = box(1000.0, 2000.0, 10000.0, 9000.0)
    pts = shapely.MultiPoint(rng.uniform([1000, 2000], [10000, 9000], size=(12, 2)))
    cells = [shapely.intersection(c, extent) for c in shapely.voronoi_polygons(pts, extend_to=extent).geoms]
    polys = write_polys(tmp_path / "p.gpkg", cells, np.arange(100, 112), crs="EPSG:5070")
    out, w = run(tmp_path, grid, polys)
    planar = np.array([c.area for c in cells]) / 1e6
    # EPSG:5070 is equal-area; geodesic vs projected-straight edges differ by < 5e-5
    np.testing.assert_allclose(out.area.values, planar, rtol=5e-5)
    unit_volume = (out.P.values * planar[None, :]).sum(axis=1)
    grid_volume = P.reshape(5, -1).sum(axis=1) * 1.0  # km2 per cell = 1
    np.testing.assert_allclose(unit_volume, grid_volume, rtol=1e-7)
    # each cell's area is fully distributed: sum_c A_c w_cg = A_g
    np.testing.assert_allclose(planar @ w.matrix.toarray(), 1.0, rtol=1e-7)


def test_geographic_cell_area_weighting_high_latitude(tmp_path):
    # two 5-degree rows: 60-65 N (value 0) and 65-70 N (value 1); polygon = the west column
    y = np.array([62.5, 67.5])
    P = np.broadcast_to(np.array([0.0, 1.0])[None, :, None], (2, 2, 1))
    grid = write_grid(tmp_path / "g.nc", np.array([12.5, 17.5]), y,
                      {"prcp": np.concatenate([P, P], axis=2), "tmax": 1.0, "tmin": -1.0})
    polys = write_polys(tmp_path / "p.gpkg", [box(10.0, 60.0, 15.0, 70.0)], ["hl"])
    out, _ = run(tmp_path, grid, polys)
    sphere = sphere_band(65, 70) / sphere_band(60, 70)  # cos-lat areas: 0.4531, not the naive 0.5
    assert abs(sphere - 0.5) > 0.04
    np.testing.assert_allclose(out.P.values, sphere, rtol=3e-3)
    # exact WGS84 zone areas (authalic formula), which the grid uses for EPSG:4326
    a, f = 6378137.0, 1 / 298.257223563
    e = np.sqrt(f * (2 - f))

    def zone(lat):
        s = np.sin(np.radians(lat))
        return a * a * (1 - e * e) / 2 * (s / (1 - e * e * s * s) + np.log((1 + e * s) / (1 - e * s)) / (2 * e))

    np.testing.assert_allclose(out.P.values, (zone(70) - zone(65)) / (zone(70) - zone(60)), rtol=1e-6)


def test_crs_mismatch_is_reprojected(tmp_path):
    x, y = centres(-100.0, 0.25, 8), centres(40.0, 0.25, 6)
    rng = np.random.default_rng(1)
    P = rng.uniform(0, 10, size=(3, 6, 8))
    grid = write_grid(tmp_path / "g.nc", x, y, {"prcp": P, "tmax": 3.0, "tmin": -3.0})
    geoms = [box(-99.8, 40.3, -98.6, 41.2), box(-98.9, 40.05, -98.1, 41.4)]
    p4326 = write_polys(tmp_path / "p4326.gpkg", geoms, ["u1", "u2"])
    g3857 = gpd.GeoSeries(geoms, crs=4326).to_crs(3857)
    p3857 = write_polys(tmp_path / "p3857.gpkg", g3857.values, ["u1", "u2"], crs="EPSG:3857")
    a, _ = run(tmp_path, grid, p4326, name="a")
    b, _ = run(tmp_path, grid, p3857, name="b")
    np.testing.assert_allclose(b.P.values, a.P.values, rtol=1e-6)
    np.testing.assert_allclose(b.area.values, a.area.values, rtol=1e-6)


def test_longitudes_0_360_grid(tmp_path):
    x, y = centres(-100.0, 0.5, 6), centres(30.0, 0.5, 4)
    P = np.random.default_rng(2).uniform(0, 5, size=(2, 4, 6))
    g1 = write_grid(tmp_path / "g1.nc", x, y, {"prcp": P, "tmax": 1.0, "tmin": 0.0})
    g2 = write_grid(tmp_path / "g2.nc", x + 360.0, y, {"prcp": P, "tmax": 1.0, "tmin": 0.0})
    polys = write_polys(tmp_path / "p.gpkg", [box(-99.7, 30.2, -98.1, 31.6)], ["w"])
    a, _ = run(tmp_path, g1, polys, name="a")
    b, _ = run(tmp_path, g2, polys, name="b")
    np.testing.assert_allclose(b.P.values, a.P.values, rtol=1e-12)
    assert float(b.covered_fraction[0]) == pytest.approx(1.0)


def test_polygon_partly_outside_grid(tmp_path):
    x, y = centres(0.0, 1000.0, 4), centres(0.0, 1000.0, 4)
    P = np.broadcast_to(np.arange(4.0)[None, None, :], (2, 4, 4))  # value = column index
    grid = write_grid(tmp_path / "g.nc", x, y, {"prcp": P, "tmax": 1.0, "tmin": 0.0}, crs="EPSG:5070")
    # 3000..5000 in x: half outside; inside part lies in column 3 only
    polys = write_polys(tmp_path / "p.gpkg", [box(3000.0, 1000.0, 5000.0, 3000.0)], ["edge"], crs="EPSG:5070")
    out, w = run(tmp_path, grid, polys)
    assert float(out.covered_fraction[0]) == pytest.approx(0.5, abs=1e-12)
    np.testing.assert_allclose(out.P.values, 3.0)  # renormalised over the covered part
    np.testing.assert_allclose(w.matrix.sum(), 0.5)
    with pytest.raises(DhbvInputError, match=r"edge \(0\.50\).*min_coverage"):
        run(tmp_path, grid, polys, name="strict", min_coverage=0.6)


def test_nan_cells_renormalised_and_low_coverage_error(tmp_path):
    x, y = centres(0.0, 1000.0, 2), centres(0.0, 1000.0, 2)
    P = np.array([[[1.0, 5.0]] * 2, [[np.nan, 5.0]] * 2, [[2.0, 6.0]] * 2])
    grid = write_grid(tmp_path / "g.nc", x, y, {"prcp": P, "tmax": 1.0, "tmin": 0.0}, crs="EPSG:5070")
    # covers 3/4 of cell 0 and 1/4 of cell 1 -> weights 0.75, 0.25
    polys = write_polys(tmp_path / "p.gpkg", [box(250.0, 0.0, 1250.0, 2000.0)], ["n1"], crs="EPSG:5070")
    out, _ = run(tmp_path, grid, polys, min_coverage=0.2)
    np.testing.assert_allclose(out.P.values[:, 0], [0.75 * 1 + 0.25 * 5, 5.0, 0.75 * 2 + 0.25 * 6])
    assert float(out.valid_fraction_min[0]) == pytest.approx(0.25)
    with pytest.raises(DhbvInputError, match=r"unit n1: only 0\.25 .*2000-01-02"):
        run(tmp_path, grid, polys, name="strict", min_coverage=0.5)


def test_units_conversion_and_clear_errors(tmp_path):
    x, y = centres(0.0, 1000.0, 3), centres(0.0, 1000.0, 3)
    grid = write_grid(tmp_path / "g.nc", x, y, {"pr": 2.0 / 86400.0, "tasmax": 283.15, "tasmin": 273.15}, ndays=3,
                      units={"pr": "kg m-2 s-1", "tasmax": "K", "tasmin": "K"}, crs="EPSG:5070")
    polys = write_polys(tmp_path / "p.gpkg", [box(100.0, 100.0, 2900.0, 2900.0)], ["k"], crs="EPSG:5070")
    out, _ = run(tmp_path, grid, polys, variables={"P": "pr", "Tmax": "tasmax", "Tmin": "tasmin"})
    np.testing.assert_allclose(out.P.values, 2.0, rtol=1e-6)
    np.testing.assert_allclose(out.Tmax.values, 10.0, atol=1e-4)
    np.testing.assert_allclose(out["T"].values, 5.0, atol=1e-4)
    with pytest.raises(DhbvInputError, match=r"no variable 'prcp'.*available: \['pr'"):
        run(tmp_path, grid, polys, name="e1", variables={"P": "prcp", "Tmax": "tasmax", "Tmin": "tasmin"})
    with pytest.raises(DhbvInputError, match=r"units 'K' but the config says 'degC'"):
        run(tmp_path, grid, polys, name="e2",
            variables={"P": "pr", "Tmax": {"name": "tasmax", "units": "degC"}, "Tmin": "tasmin"})
    with pytest.raises(DhbvInputError, match=r"'furlongs' cannot be converted to mm d-1"):
        run(tmp_path, grid, polys, name="e3", variables={"P": {"name": "pr", "units": "furlongs"}, "Tmax": "tasmax", "Tmin": "tasmin"})
    with pytest.raises(DhbvInputError, match=r"hargreaves' needs Tmax and Tmin"):
        run(tmp_path, grid, polys, name="e4", variables={"P": "pr", "T": "tasmax"})
    assert not list(tmp_path.glob("e*.nc")) and not list(tmp_path.glob(".e*"))  # no partial output


def test_crs_missing_needs_explicit_crs(tmp_path):
    x, y = centres(0.0, 1000.0, 3), centres(0.0, 1000.0, 3)
    grid = write_grid(tmp_path / "g.nc", x, y, {"prcp": 1.0, "tmax": 1.0, "tmin": 0.0}, ndays=2, crs="EPSG:5070", with_crs=False)
    polys = write_polys(tmp_path / "p.gpkg", [box(100.0, 100.0, 2900.0, 2900.0)], ["k"], crs="EPSG:5070")
    with pytest.raises(DhbvInputError, match="has no CRS.*pass crs="):
        build_coverage_weights(grid, polys, "COMID", tmp_path / "w.npz")
    out, _ = run(tmp_path, grid, polys, crs="EPSG:5070")
    np.testing.assert_allclose(out.P.values, 1.0)


def test_weights_reused_and_stale_weights_rejected(tmp_path):
    x, y = centres(0.0, 1000.0, 4), centres(0.0, 1000.0, 4)
    P = np.random.default_rng(3).uniform(0, 9, size=(11, 4, 4))
    grid = write_grid(tmp_path / "g.nc", x, y, {"prcp": P, "tmax": 4.0, "tmin": 0.0}, crs="EPSG:5070")
    polys = write_polys(tmp_path / "p.gpkg", [box(100.0, 100.0, 2900.0, 3700.0), box(2900.0, 0.0, 4000.0, 4000.0)],
                        ["a", "b"], crs="EPSG:5070")
    wpath = tmp_path / "w.npz"
    w1 = build_coverage_weights(grid, polys, "COMID", wpath)
    m1 = os.stat(wpath).st_mtime_ns
    w2 = build_coverage_weights(grid, polys, "COMID", wpath)
    assert os.stat(wpath).st_mtime_ns == m1 and w2.fingerprint == w1.fingerprint
    # chunking does not change results
    kw = dict(variables={"P": "prcp", "Tmax": "tmax", "Tmin": "tmin"}, pet_method="hargreaves", min_coverage=0.5)
    aggregate_forcing(grid, wpath, polys, tmp_path / "c1.nc", chunk_days=1, **kw)
    aggregate_forcing(grid, wpath, polys, tmp_path / "c2.nc", chunk_days=365, **kw)
    a, b = xr.load_dataset(tmp_path / "c1.nc"), xr.load_dataset(tmp_path / "c2.nc")
    np.testing.assert_array_equal(a.P.values, b.P.values)
    # changed polygons -> new fingerprint; old weights rejected
    polys2 = write_polys(tmp_path / "p2.gpkg", [box(100.0, 100.0, 2900.0, 3600.0), box(2900.0, 0.0, 4000.0, 4000.0)],
                         ["a", "b"], crs="EPSG:5070")
    with pytest.raises(DhbvInputError, match="do not match polygons"):
        aggregate_forcing(grid, wpath, polys2, tmp_path / "c3.nc", chunk_days=5, **kw)
    w3 = build_coverage_weights(grid, polys2, "COMID", wpath)
    assert w3.fingerprint != w1.fingerprint
    with pytest.raises(DhbvInputError, match="no id column 'HRU'"):
        build_coverage_weights(grid, polys, "HRU", tmp_path / "w2.npz")
