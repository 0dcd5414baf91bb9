"""MERIT flowline/catchment readers: schemas, field mapping and the bad-input errors."""

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, box

from dhbv.errors import DhbvInputError, NetworkTopologyError
from dhbv.io.merit import read_catchments, read_reach_table
from dhbv.network import build_network

ROOT = Path(__file__).resolve().parents[1]
BOW = ROOT / "resources" / "demo" / "merit_bow_at_banff"
BOW_RIV = BOW / "river_network" / "bow_river_network_from_merit_hydro.shp"
BOW_CAT = BOW / "river_basins" / "bow_distributed.shp"


def _merit_like(tmp_path, suffix=".shp"):
    """A 4-reach riv_pfaf-style file (full MERIT schema) and its cat_pfaf-style polygons.

    101, 102 -> 103 -> 104 -> 0; unit catchments are 0.1° x 0.1° boxes at 45° N.
    """
    comid = [101, 102, 103, 104]
    riv = gpd.GeoDataFrame(
        {
            "COMID": comid,
            "lengthkm": [1.5, 2.0, 3.25, 0.5],
            "slope": [0.01, 0.0, 0.002, 0.0005],
            "uparea": [10.0, 12.0, 30.0, 31.0],
            "order": [1, 1, 2, 2],
            "NextDownID": [103, 103, 104, 0],
            "maxup": [0, 0, 2, 1],
            "up1": [0, 0, 101, 103],
            "up2": [0, 0, 102, 0],
            "up3": [0, 0, 0, 0],
            "up4": [0, 0, 0, 0],
        },
        geometry=[LineString([(i, 45), (i + 0.01, 45.01)]) for i in range(4)],
        crs="EPSG:4326",
    )
    cat = gpd.GeoDataFrame(
        {"COMID": comid, "unitarea": [10.0, 12.0, 8.0, 1.0]},
        geometry=[box(i * 0.1, 45, i * 0.1 + 0.1, 45.1) for i in range(4)],
        crs="EPSG:4326",
    )
    rp, cp = tmp_path / f"riv_pfaf_99{suffix}", tmp_path / f"cat_pfaf_99{suffix}"
    riv.to_file(rp)
    cat.to_file(cp)
    return rp, cp


def test_bow_reduced_schema_is_detected():
    t = read_reach_table(BOW_RIV)
    assert list(t.columns) == ["COMID", "NextDownID", "length_m", "slope"]
    assert len(t) == 51 and t["COMID"].dtype == np.int64
    # 'length' is in metres in the Bow sample: 311 m .. 23.1 km
    assert 311.0 < t["length_m"].min() < 312.0 and 23_135 < t["length_m"].max() < 23_136


def test_bow_catchment_area_field_agrees_with_equal_area_polygons():
    by_field = read_catchments(BOW_CAT)
    by_geom = read_catchments(BOW_CAT, area_source="geometry")
    assert by_field.attrs["area_source"] == "field:area [m2]"
    assert by_geom.attrs["area_source"] == "geometry:EPSG:6933"
    assert by_field["unitarea"].sum() == pytest.approx(2216.04, abs=0.01)
    np.testing.assert_allclose(by_geom["unitarea"], by_field["unitarea"], rtol=1e-4)


@pytest.mark.parametrize("suffix", [".shp", ".gpkg"])
def test_full_merit_schema(tmp_path, suffix):
    rp, cp = _merit_like(tmp_path, suffix)
    net = build_network(rp, cp)
    assert net.comid.tolist() == [101, 102, 103, 104]
    np.testing.assert_allclose(net.length_m, [1500, 2000, 3250, 500])
    np.testing.assert_allclose(net.slope_raw, [0.01, 0.0, 0.002, 0.0005])
    np.testing.assert_allclose(net.slope, [0.01, 1e-3, 0.002, 1e-3])
    np.testing.assert_allclose(net.unitarea, [10, 12, 8, 1])  # from the cat unitarea field
    np.testing.assert_allclose(net.uparea, [10, 12, 30, 31])  # the riv uparea field is kept
    assert net.strahler.tolist() == [1, 1, 2, 2]
    assert net.n_nextdown_only_edges == 0


def test_field_map_and_min_slope(tmp_path):
    df = pd.DataFrame({"id": [1, 2], "to": [2, 0], "len_km": [1.0, 2.0], "S": [0.0, 0.5],
                       "ua": [3.0, 4.0]})
    net = build_network(df, field_map={"COMID": "id", "NextDownID": "to", "lengthkm": "len_km",
                                       "slope": "S", "unitarea": "ua"}, min_slope=1e-4)
    np.testing.assert_allclose(net.length_m, [1000, 2000])
    np.testing.assert_allclose(net.slope, [1e-4, 0.5])
    np.testing.assert_allclose(net.uparea, [3.0, 7.0])
    # the workflow config writes {file column: canonical name}; both directions work
    rev = build_network(df, field_map={"id": "COMID", "to": "NextDownID", "len_km": "lengthkm",
                                       "S": "slope", "ua": "unitarea"}, min_slope=1e-4)
    np.testing.assert_allclose(rev.uparea, net.uparea)
    bow = read_reach_table(BOW_RIV, field_map={"length": "length_m"})
    assert bow["length_m"].max() == pytest.approx(23135.13, abs=0.01)
    with pytest.raises(DhbvInputError, match="field_map entry 'speed': 'S' names no known field"):
        read_reach_table(df, field_map={"speed": "S"})
    with pytest.raises(DhbvInputError, match="field_map entry 'slope': 'gradient' names a column that is not"):
        read_reach_table(df, field_map={"slope": "gradient"})


def test_missing_required_field_names_field_and_file(tmp_path):
    p = tmp_path / "reaches.csv"
    pd.DataFrame({"COMID": [1, 2], "NextDownID": [2, 0], "lengthkm": [1, 1]}).to_csv(p, index=False)
    with pytest.raises(DhbvInputError, match=r"reaches\.csv: required field 'slope' not found"):
        read_reach_table(p)
    pd.DataFrame({"COMID": [1, 2], "NextDownID": [2, 0], "slope": [1, 1]}).to_csv(p, index=False)
    with pytest.raises(DhbvInputError, match=r"reaches\.csv: required length field not found"):
        read_reach_table(p)


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "riv_pfaf_71.shp"
    bad.write_bytes(b"this is not a shapefile")
    with pytest.raises(DhbvInputError, match=r"riv_pfaf_71\.shp: cannot read file"):
        read_reach_table(bad)
    with pytest.raises(DhbvInputError, match=r"nothing\.gpkg: file not found"):
        read_reach_table(tmp_path / "nothing.gpkg")


def test_km_lengths_in_a_metre_field_are_rejected():
    df = pd.DataFrame({"COMID": range(1, 7), "NextDownID": [2, 3, 4, 5, 6, 0],
                       "length": [1.2, 3.4, 0.8, 5.0, 2.2, 4.1], "slope": [0.01] * 6})
    with pytest.raises(DhbvInputError, match=r"field 'length' read as metres .* field_map=\{'lengthkm': 'length'\}"):
        read_reach_table(df)


def test_polygons_without_flowlines_are_listed():
    cats = gpd.read_file(BOW_CAT)
    extra = cats.iloc[[0]].copy()
    extra["COMID"] = "71999999"
    with pytest.raises(DhbvInputError, match=r"1 catchment polygons have no matching flowline .*71999999"):
        build_network(BOW_RIV, pd.concat([cats, extra], ignore_index=True))
    with pytest.raises(DhbvInputError, match=r"2 flowlines .* have no catchment polygon"):
        build_network(BOW_RIV, cats.iloc[2:])


def test_area_unit_mixup_is_caught():
    cats = gpd.read_file(BOW_CAT)
    cats["area"] = cats["area"] / 1e6  # km² stored in the m² field
    with pytest.raises(DhbvInputError, match=r"read as m² totals .* polygons measure 2216"):
        read_catchments(cats)


def test_braided_flowline_file_raises(tmp_path):
    rp, _ = _merit_like(tmp_path)
    riv = gpd.read_file(rp)
    riv.loc[riv.COMID == 104, "up2"] = 101  # 101 drains to 103 but is also listed under 104
    with pytest.raises(NetworkTopologyError, match="reach COMID 101 is listed in up1..up4 of both"):
        build_network(riv)


def test_duplicate_and_cycle_in_files():
    riv = read_reach_table(BOW_RIV)
    with pytest.raises(NetworkTopologyError, match="duplicate COMIDs 71028597"):
        build_network(pd.concat([riv, riv.iloc[[0]]], ignore_index=True))
    cyc = riv.copy()
    cyc.loc[cyc.COMID == 71028585, "NextDownID"] = 71031296  # outlet drains to a headwater
    with pytest.raises(NetworkTopologyError, match=r"cycle.*71028585 -> 71031296"):
        build_network(cyc, BOW_CAT)
