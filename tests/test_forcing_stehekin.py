"""Real demo: Maurer et al. (2002) 1/8° grid onto the Stehekin basin (USGS 12451000) and its sub-units."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import xarray as xr
from shapely.geometry import box

from dhbv.forcing import aggregate_forcing, build_coverage_weights

DEMO = Path(__file__).resolve().parents[1] / "resources/demo/stehekin_12451000"
GRID = DEMO / "gridded_maurer2002/stehekin_maurer2002_daily_1949-2005.nc"
BASIN = DEMO / "basin_12451000_hysets_epsg4326.geojson"
SUBUNITS = DEMO / "stehekin_subunits.geojson"
VARS = {"P": "prcp", "Tmax": "tmax", "Tmin": "tmin"}

pytestmark = pytest.mark.skipif(not GRID.exists(), reason="Stehekin demo data missing")


def wgs84_zone(lat):
    """Area from the equator to ``lat`` per radian of longitude on WGS84 (authalic formula)."""
    a, f = 6378137.0, 1 / 298.257223563
    e = np.sqrt(f * (2 - f))
    s = np.sin(np.radians(lat))
    return a * a * (1 - e * e) / 2 * (s / (1 - e * e * s * s) + np.log((1 + e * s) / (1 - e * s)) / (2 * e))


def independent_weights(poly, lon, lat, d=0.125):
    """Shapely intersection areas in lon/lat scaled by the WGS84 cell area."""
    w = np.zeros((lat.size, lon.size))
    for i, la in enumerate(lat):
        band = wgs84_zone(la + d / 2) - wgs84_zone(la - d / 2)
        for j, lo in enumerate(lon):
            cell = box(lo - d / 2, la - d / 2, lo + d / 2, la + d / 2)
            w[i, j] = shapely.intersection(poly, cell).area / (d * d) * band
    return w / w.sum()


@pytest.fixture(scope="module")
def stehekin(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stehekin")
    out = {}
    for name, layer, key in (("basin", BASIN, "OfficialID"), ("sub", SUBUNITS, "subunit_id")):
        build_coverage_weights(GRID, layer, key, tmp / f"{name}.npz")
        aggregate_forcing(GRID, tmp / f"{name}.npz", layer, tmp / f"{name}.nc", variables=VARS,
                          pet_method="hargreaves", chunk_days=2000, min_coverage=0.5, start="1980-01-01", end="2005-12-31")
        out[name] = xr.load_dataset(tmp / f"{name}.nc")
    return out


def test_basin_mean_matches_independent_intersection(stehekin):
    basin = stehekin["basin"]
    grid = xr.open_dataset(GRID).sel(time=slice("1980", "2005"))
    poly = gpd.read_file(BASIN).geometry.iloc[0]
    w = independent_weights(poly, grid.lon.values, grid.lat.values)
    assert np.all(w[np.isnan(grid.prcp.values[0])] == 0)  # basin avoids the 4 NaN corner cells
    p_ref = np.einsum("tij,ij->t", np.nan_to_num(grid.prcp.values.astype(float)), w)
    np.testing.assert_allclose(basin.P.values[:, 0], p_ref, rtol=2e-5, atol=1e-5)
    assert basin.sizes["time"] == 9497 and str(basin.unit.values[0]) == "12451000"
    # 1980-2005 basin mean: 5.09 mm/d (Maurer) vs CAMELS p_mean 4.48 (Daymet), domain mean 4.91
    assert float(basin.P.mean()) == pytest.approx(5.087, abs=2e-3)
    assert float(basin.area[0]) == pytest.approx(829.31, abs=0.05)
    assert float(basin.covered_fraction[0]) == pytest.approx(1.0)
    assert float(basin.valid_fraction_min[0]) == pytest.approx(1.0)
    assert 0.5 < float(basin.PET.mean()) < 4.0 and float((basin.Tmax - basin.Tmin).min()) >= 0


def test_subunits_tile_the_basin(stehekin):
    basin, sub = stehekin["basin"], stehekin["sub"]
    assert sub.sizes["unit"] == 19
    np.testing.assert_allclose(float(sub.area.sum()), float(basin.area[0]), rtol=1e-6)
    # volume: area-weighted sub-unit P equals basin P every day. Tolerance: partial-cell
    # coverage is measured in the lon/lat plane (cos-lat varies by ~1e-3 across a 1/8° cell),
    # while sub-unit areas are geodesic -> relative differences of a few 1e-5
    vol = (sub.P * sub.area).sum("unit") / sub.area.sum()
    np.testing.assert_allclose(vol.values, basin.P.values[:, 0], rtol=2e-4, atol=1e-4)
    # T is linear -> also conserved; west (wet, Cascade crest) sub-units get more P than east ones
    tvol = (sub["T"] * sub.area).sum("unit") / sub.area.sum()
    np.testing.assert_allclose(tvol.values, basin["T"].values[:, 0], atol=1e-3)
    pm = sub.P.mean("time")
    west = pm.where(sub.lon < -121.0, drop=True).mean()
    east = pm.where(sub.lon > -120.75, drop=True).mean()
    assert float(west) > float(east) + 1.5
