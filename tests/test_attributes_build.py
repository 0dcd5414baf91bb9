"""Static attribute tables: CAMELS (leading zeros), MERIT NetCDF, Caravan CSV, zonal rasters."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin
from shapely.geometry import box

from dhbv.attributes import build_attributes, read_camels_attributes, select_training_units
from dhbv.errors import DhbvInputError

DEMO = Path(__file__).resolve().parents[1] / "resources/demo"
CAMELS = DEMO / "camels_us/attributes"
JUNIATA = DEMO / "juniata_merit/juniata_attributes.nc"


def test_camels_tables_keep_leading_zeros_and_values():
    df = read_camels_attributes(CAMELS)
    assert len(df) == 671 and "01013500" in df.index and "12451000" in df.index
    # values straight from the ';'-separated text
    assert df.loc["12451000", "p_mean"] == pytest.approx(4.47540177960301)
    assert df.loc["01013500", "elev_mean"] == pytest.approx(250.31)
    assert df.loc["01013500", "high_prec_timing"] == "son"


def test_build_from_camels_with_rename_and_units(tmp_path):
    out = tmp_path / "attrs.nc"
    df = build_attributes(out, units=["12451000", "01013500"], source=CAMELS, kind="camels",
                          attributes=["p_mean", "elev_mean", "frac_snow"], rename={"p_mean": "meanP_mmd"},
                          attribute_units={"meanP_mmd": "mm d-1"})
    ds = xr.load_dataset(out)
    assert list(ds.unit.values) == ["12451000", "01013500"]
    assert set(ds.data_vars) == {"meanP_mmd", "elev_mean", "frac_snow"}
    assert ds.meanP_mmd.attrs["units"] == "mm d-1" and ds.elev_mean.attrs["units"] == "m"
    assert float(ds.elev_mean.sel(unit="12451000")) == pytest.approx(1509.63)
    assert ds.meanP_mmd.dtype == np.float64 and df.shape == (2, 3)


def test_missing_attributes_and_units_reported_by_name(tmp_path):
    with pytest.raises(DhbvInputError, match=r"lacks attributes: pmean, elevation;"):
        build_attributes(tmp_path / "a.nc", units=["12451000"], source=CAMELS, kind="camels",
                         attributes=["p_mean", "pmean", "elevation"])
    with pytest.raises(DhbvInputError, match=r"no row for 1 units: 1013500"):
        build_attributes(tmp_path / "a.nc", units=["1013500"], source=CAMELS, kind="camels", attributes=["p_mean"])
    with pytest.raises(DhbvInputError, match=r"non-numeric attributes high_prec_timing"):
        build_attributes(tmp_path / "a.nc", units=["12451000"], source=CAMELS, kind="camels",
                         attributes=["p_mean", "high_prec_timing"])
    assert not (tmp_path / "a.nc").exists() and not list(tmp_path.iterdir())


def test_merit_netcdf_by_comid(tmp_path):
    ref = xr.load_dataset(JUNIATA)
    comids = [str(c) for c in ref.COMID.values[[5, 0, 17]]]
    build_attributes(tmp_path / "m.nc", units=comids, source=JUNIATA, kind="merit",
                     attributes=["aridity", "meanP", "ETPOT_Hargr"])
    ds = xr.load_dataset(tmp_path / "m.nc")
    assert list(ds.unit.values) == comids
    np.testing.assert_allclose(ds.meanP.values, ref.meanP.values[[5, 0, 17]])
    assert ds.meanP.attrs["units"] == "mm yr-1"


def test_caravan_csv_prefix_and_selection(tmp_path):
    csv = tmp_path / "attributes_caravan_camels.csv"
    csv.write_text("gauge_id,p_mean,aridity,area\ncamels_01022500,3.61,0.59,573.6\ncamels_12451000,4.48,0.48,\n"
                   "camels_01013500,3.13,0.63,2252.7\n")
    build_attributes(tmp_path / "c.nc", source=csv, kind="csv", strip_prefix="camels_")
    ds = xr.load_dataset(tmp_path / "c.nc")
    assert list(ds.unit.values) == ["01022500", "12451000", "01013500"]
    assert np.isnan(float(ds.area.sel(unit="12451000")))
    lst = tmp_path / "train.txt"
    lst.write_text("01022500\n12451000\n")
    assert select_training_units(tmp_path / "c.nc", include=lst) == ["01022500"]  # NaN area dropped
    assert select_training_units(ds, include=lst, attributes=["p_mean"]) == ["01022500", "12451000"]
    assert select_training_units(ds, exclude=["01022500"], require_finite=False) == ["12451000", "01013500"]


def test_zonal_mean_and_categorical_fractions(tmp_path):
    # 4 x 4 raster of 1-km cells (EPSG:5070): elevation = 100 * column; land cover 1 (west), 2 (east)
    elev = np.tile(np.arange(4.0) * 100.0, (4, 1)).astype("float32")
    lc = np.where(np.arange(4)[None, :] < 2, 1, 2).repeat(4, axis=0).astype("int16")
    tr = from_origin(0.0, 4000.0, 1000.0, 1000.0)
    for name, arr in (("elev.tif", elev), ("lc.tif", lc)):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", height=4, width=4, count=1, dtype=arr.dtype,
                           crs="EPSG:5070", transform=tr, nodata=None) as dst:
            dst.write(arr, 1)
    # unit A covers columns 0.5..2.5 (symmetric -> mean elevation of x=1.5 km centre = 100 m... see below)
    polys = gpd.GeoDataFrame({"COMID": [11, 12]}, geometry=[box(500, 0, 2500, 4000), box(2000, 1000, 4000, 3000)], crs=5070)
    polys.to_crs(4326).to_file(tmp_path / "u.gpkg", driver="GPKG")
    df = build_attributes(tmp_path / "z.nc", polygons_path=tmp_path / "u.gpkg", id_field="COMID",
                          zonal={"elev_mean": tmp_path / "elev.tif",
                                 "lc": {"path": tmp_path / "lc.tif", "stat": "frac", "classes": [1, 2]}},
                          attribute_units={"elev_mean": "m"})
    # A: cells col0 (0.5 cov, 0 m), col1 (1, 100 m), col2 (0.5, 200 m) -> 100 m; B: cols 2, 3 -> 250 m
    np.testing.assert_allclose(df["elev_mean"].to_numpy(), [100.0, 250.0], rtol=1e-4)
    # land cover: A has 1.5 cells of class 1, 0.5 of class 2 per row -> 0.75 / 0.25; B all class 2
    np.testing.assert_allclose(df["lc_frac_1"].to_numpy(), [0.75, 0.0], atol=1e-4)
    np.testing.assert_allclose(df["lc_frac_2"].to_numpy(), [0.25, 1.0], atol=1e-4)
    ds = xr.load_dataset(tmp_path / "z.nc")
    assert list(ds.unit.values) == ["11", "12"] and ds.elev_mean.attrs["units"] == "m"
