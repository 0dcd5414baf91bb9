"""Gauge subnetworks (docs/network.md#gauge-subnetworks, docs/network.md#gauge-mapping) on the Juniata and Bow networks."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from dhbv.errors import DhbvInputError
from dhbv.network import (
    build_topology,
    build_gauge_subnetworks,
    build_network,
    compute_gauge_subnetworks,
    export_ddr_gauge_zarr,
    gauge_membership_dataset,
    gauge_unit_weights,
    read_gauge_subnetworks,
    read_gauge_table,
    read_network,
)

ROOT = Path(__file__).resolve().parents[1]
BOW = ROOT / "resources" / "demo" / "merit_bow_at_banff"
BOW_RIV = BOW / "river_network" / "bow_river_network_from_merit_hydro.shp"
BOW_CAT = BOW / "river_basins" / "bow_distributed.shp"
JUN = ROOT / "resources" / "demo" / "juniata_merit"
GAUGES = ROOT / "resources" / "demo" / "gauges"


@pytest.fixture(scope="module")
def juniata_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("jun")
    build_topology(JUN / "juniata_reaches.csv", out_path=d / "net.nc")
    sub = build_gauge_subnetworks(d / "net.nc", JUN / "juniata_gage.csv", ["01567000"], d / "gauges.nc")
    return d, sub


def _bow_table():
    # hypothetical gauges on Bow reaches (not real USGS stations): the outlet, a reach with four
    # ancestors (71030100 <- 71030302 <- {71030784, 71030838}; 71030896) and a headwater.
    return pd.DataFrame({
        "STAID": ["05BB001", "05BB002", "05BB003"],
        "COMID": [71028585, 71030100, 71030784],
        "DRAIN_SQKM": [2210.0, 200.0, 10.0],
        "COMID_DRAIN_SQKM": [2216.04, 210.0, 12.0],
        "COMID_UNITAREA_SQKM": [40.0, 20.0, 12.0],
    })


def test_juniata_gauge_subnetwork(juniata_files):
    d, sub = juniata_files
    net = read_network(d / "net.nc")
    back = read_gauge_subnetworks(d / "gauges.nc", network_comid=net.comid)
    assert back.staid.tolist() == ["01567000"]
    assert back.gage_catchment.tolist() == [73005278]
    assert back.gage_idx.tolist() == [212]  # the outlet is last in topological order
    assert back.n_members.tolist() == [213]
    assert np.array_equal(back.members("01567000"), np.arange(213))
    assert back.flow_scale.tolist() == [1.0] and back.da_valid.tolist() == [True]
    assert back.drain_sqkm[0] == pytest.approx(8657.286)
    idx, w = gauge_unit_weights(d / "gauges.nc")["01567000"]
    assert idx.size == 213 and np.all(w == 1.0)


def test_juniata_gauge_store_matches_shipped(juniata_files, tmp_path):
    d, sub = juniata_files
    net = read_network(d / "net.nc")
    path = export_ddr_gauge_zarr(net, sub, tmp_path / "gages.zarr")
    ours = zarr.open_group(str(path), mode="r")["01567000"]
    ship = zarr.open_group(str(JUN / "juniata_gages_adjacency.zarr"), mode="r")["01567000"]
    assert ours.attrs["gage_catchment"] == ship.attrs["gage_catchment"] == 73005278
    assert ours.attrs["gage_idx"] == 212 == ship.attrs["gage_idx"]
    so = ship["order"][:].astype(np.int64)
    oo = ours["order"][:].astype(np.int64)

    def pairs(o, g):
        return set(zip(o[g["indices_1"][:]].tolist(), o[g["indices_0"][:]].tolist()))

    assert pairs(oo, ours) == pairs(so, ship) and len(pairs(so, ship)) == 212


def test_bow_gauges_weights_and_headwater(tmp_path):
    net = build_network(BOW_RIV, BOW_CAT)
    sub = compute_gauge_subnetworks(net, _bow_table())
    assert sub.n_members.tolist() == [51, 5, 1]
    m = sub.members("05BB002")
    assert sorted(net.comid[m].tolist()) == [71030100, 71030302, 71030784, 71030838, 71030896]
    assert np.all(np.diff(m) > 0) and m[-1] == sub.gage_idx[1]  # topological: gauge last
    # FLOW_SCALE computed (no column), Δ = DRAIN_SQKM − uparea < 0 and |Δ| < unitarea:
    # (40 − 6.04)/40 = 0.849, (20 − 10)/20 = 0.5, (12 − 2)/12
    assert sub.flow_scale.tolist() == pytest.approx([0.849, 0.5, 10.0 / 12.0])
    assert sub.da_valid.tolist() == [True, True, True]
    idx, w = sub.unit_weights(["05BB002"])["05BB002"]
    assert w[idx == sub.gage_idx[1]].tolist() == [0.5] and np.sum(w == 1.0) == 4
    # contract form: one (gauge, unit, weight) row per member
    ds = gauge_membership_dataset(sub, net)
    assert ds.sizes["pair"] == 57
    sel = ds.where(ds.gauge == "05BB002", drop=True)
    assert float(sel.weight.sum()) == pytest.approx(4.5)
    assert set(sel.unit.values.tolist()) == {"71030100", "71030302", "71030784", "71030838", "71030896"}


def test_gauge_comid_not_in_network_names_staid_and_comid(tmp_path):
    net = build_network(BOW_RIV, BOW_CAT)
    with pytest.raises(DhbvInputError, match=r"STAID 01567000 \(COMID 73005278\)"):
        compute_gauge_subnetworks(net, JUN / "juniata_gage.csv")
    with pytest.raises(DhbvInputError, match=r"STAIDs \['99999999'\] not in the gauge table"):
        compute_gauge_subnetworks(net, _bow_table(), ["99999999"])


def test_require_da_valid_filters(tmp_path):
    net = build_network(BOW_RIV, BOW_CAT)
    t = _bow_table()
    t["DA_VALID"] = [True, False, True]
    sub = compute_gauge_subnetworks(net, t, require_da_valid=True)
    assert sub.staid.tolist() == ["05BB001", "05BB003"] and list(sub.excluded) == ["05BB002"]
    assert compute_gauge_subnetworks(net, t).n_gauges == 3


def test_gauge_table_reading_keeps_leading_zeros_and_flow_scale_formula():
    t = read_gauge_table(GAUGES / "camels_670.csv")
    assert t["STAID"].str.len().min() == 8 and "01013500" in set(t["STAID"])
    # the docs/network.md#gauge-mapping FLOW_SCALE formula reproduces the published column exactly
    raw = pd.read_csv(GAUGES / "camels_670.csv", dtype={"STAID": str})
    recomputed = read_gauge_table(raw.drop(columns=["FLOW_SCALE", "DA_VALID"]))
    np.testing.assert_allclose(recomputed["FLOW_SCALE"], raw["FLOW_SCALE"], rtol=0, atol=1e-12)
    assert int(t["DA_VALID"].sum()) == 628
    assert int(read_gauge_table(GAUGES / "dhbv2_gages.csv")["DA_VALID"].sum()) == 2614


def test_subnetworks_of_another_network_are_rejected(juniata_files, tmp_path):
    d, _ = juniata_files
    bow = build_network(BOW_RIV, BOW_CAT)
    with pytest.raises(DhbvInputError, match="built for a different network order"):
        read_gauge_subnetworks(d / "gauges.nc", network_comid=bow.comid)
