"""build_unit_attributes on the demo's real MERIT unit attributes (Juniata, zone 73)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import xarray as xr
from shapely.geometry import box

from conftest import DEMO
from dhbv.attributes.units import build_unit_attributes
from dhbv.errors import DhbvInputError

TABLE = DEMO / "juniata_merit/juniata_attributes.nc"
NAMES = ["aridity", "meanP", "ETPOT_Hargr", "NDVI", "meanslope", "SoilGrids1km_sand",
         "SoilGrids1km_clay", "Porosity"]


def _polygons(tmp_path, comids):
    gdf = gpd.GeoDataFrame({"COMID": comids},
                           geometry=[box(-78 + 0.01 * i, 40, -77.99 + 0.01 * i, 40.01)
                                     for i in range(len(comids))], crs="EPSG:4326")
    path = tmp_path / "cat.geojson"
    gdf.to_file(path, driver="GeoJSON")
    return path


def test_unit_attributes_from_the_merit_table(tmp_path):
    with xr.open_dataset(TABLE) as t:
        ref = t.load()
    comids = [int(c) for c in ref["COMID"].values[[5, 0, 212]]]     # polygon order, not table's
    out = build_unit_attributes(_polygons(tmp_path, comids), "COMID", TABLE, NAMES,
                                tmp_path / "attrs.nc")
    with xr.open_dataset(out) as a:
        assert list(a["unit"].values) == [str(c) for c in comids]
        for n in NAMES + ["meanelevation"]:
            np.testing.assert_array_equal(a[n].values, ref[n].sel(COMID=comids).values)
        # uparea from the tabulated log10: the outlet reach drains the 8,657 km2 Juniata
        up = a["uparea"].values
        np.testing.assert_allclose(up, 10.0 ** ref["log10_uparea"].sel(COMID=comids).values)
        assert a["uparea"].attrs["units"] == "km2" and 7000 < up[2] < 10000


def test_units_without_attributes_stop_with_one_line(tmp_path):
    poly = _polygons(tmp_path, [73005278, 71000001])
    with pytest.raises(DhbvInputError, match=r"no row for 1 of the 2 units .*first: 71000001"
                       ) as err:
        build_unit_attributes(poly, "COMID", TABLE, NAMES, tmp_path / "a.nc")
    assert "\n" not in str(err.value) and not (tmp_path / "a.nc").exists()
    with pytest.raises(DhbvInputError, match="lacks snow_fraction"):
        build_unit_attributes(_polygons(tmp_path, [73005278]), "COMID", TABLE,
                              NAMES + ["snow_fraction"], tmp_path / "b.nc")
    assert not (tmp_path / "b.nc").exists()
