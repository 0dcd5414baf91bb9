"""Datasets: the reader registry, extra daily inputs, and the network seam (membership from the
topology stage, the CSR subnetwork a batch carries)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dhbv.datasets import (READERS, gauge_batch, load_dataset, register_reader,
                           build_membership)
from dhbv.datasets.readers import SourceForms
from dhbv.errors import DhbvInputError
from dhbv.io import standard as std
from dhbv.network import build_topology, build_gauge_subnetworks, read_network

ROOT = Path(__file__).resolve().parents[1]
JUN = ROOT / "resources" / "demo" / "juniata_merit"
CARAVAN = {"type": "caravan", "basins": ["01022500", "01057000"],
           "timeseries_dir": str(ROOT / "resources/demo/caravan_camels_us/timeseries"),
           "attributes_dir": str(ROOT / "resources/demo/camels_us/attributes")}


def test_reader_registry_dispatches_by_type():
    assert {"caravan", "camels", "standard"} <= set(READERS)
    with pytest.raises(DhbvInputError, match="data source type 'grib' unknown"):
        load_dataset({"sources": [{"type": "grib"}]}, [])
    calls = []

    @register_reader("one_unit_test")
    def read_one(src, names, path):
        calls.append(path("x"))
        t = pd.date_range("2000-01-01", periods=10)
        ones = np.ones((10, 1))
        f = std.make_unit_forcing(t, ["u"], ones, ones, ones, area=[2.0], lat=[40.0], lon=[0.0])
        a = std.make_unit_attributes(["u"], {"uparea": [2.0], "meanelevation": [10.0]})
        o = std.make_gauge_observations(t, ["u"], ones * 3, units="mm d-1", area=[2.0])
        return SourceForms(f, a, o, std.lumped_membership(["u"]))

    try:
        d = load_dataset({"sources": [{"type": "one_unit_test"}]}, [], base_dir="/base")
    finally:
        READERS.pop("one_unit_test")
    assert calls == [Path("/base/x")]
    assert d.unit_ids == ["u"] and float(d.obs[0, 0]) == 3.0 and d.network is None


def test_extra_daily_input_reaches_the_networks_unchanged():
    """model.dynamic_inputs beyond P, T, PET: the Caravan PET column is kept as PET_source,
    normalised with its own statistics, while the physics keeps the recomputed PET."""
    from dhbv.io.caravan import read_caravan_csv
    from dhbv.runner import input_statistics, prepare

    names = ["P", "T", "PET", "PET_source"]
    d = load_dataset({"sources": [CARAVAN]}, ["aridity"], dynamic_inputs=names)
    assert d.forcing_names == ("P", "T", "PET", "PET_source") and d.forcing.shape[-1] == 4
    raw = read_caravan_csv(Path(CARAVAN["timeseries_dir"]) / "01057000.csv")["PET_source"]
    np.testing.assert_array_equal(d.forcing[:, 1, 3], raw.to_numpy().astype(np.float32))
    stats = input_statistics(d, [0, 1], 0, 3000, names)
    prep = prepare(d, stats, names)
    mean, std_ = stats["PET_source"][2], stats["PET_source"][3]
    np.testing.assert_allclose(prep.dyn_norm[100, 1, 3], (raw.iloc[100] - mean) / std_, atol=1e-6)
    assert prep.forcing.shape[-1] == 3                     # the physics reads P, T, PET only
    assert not np.allclose(prep.forcing[:, :, 2], d.forcing[:, :, 3])
    with pytest.raises(DhbvInputError, match="'SRAD' named in model.dynamic_inputs"):
        load_dataset({"sources": [CARAVAN]}, ["aridity"], dynamic_inputs=["P", "T", "SRAD"])


@pytest.fixture(scope="module")
def juniata_dataset(tmp_path_factory):
    """The 213 Juniata reaches as units of one gauge: network and membership from the topology
    stage (build_membership), synthetic forcing and observations."""
    d = tmp_path_factory.mktemp("jun")
    build_topology(JUN / "juniata_reaches.csv", out_path=d / "net.nc")
    build_gauge_subnetworks(d / "net.nc", JUN / "juniata_gage.csv", ["01567000"], d / "sub.nc")
    build_membership(d / "net.nc", d / "sub.nc", d / "membership.nc")
    net = read_network(d / "net.nc")
    ids = [str(c) for c in net.comid]
    t = pd.date_range("1990-01-01", periods=30)
    rng = np.random.default_rng(0)
    p = rng.gamma(0.5, 4.0, (30, net.n))
    paths = {
        "forcing": std.make_unit_forcing(t, ids, p, p * 0 + 10, p * 0 + 2, area=net.unitarea,
                                         lat=np.full(net.n, 40.5), lon=np.full(net.n, -77.5)),
        "attributes": std.make_unit_attributes(ids, {"uparea": net.uparea,
                                                     "meanelevation": np.full(net.n, 300.0)}),
        "observations": std.make_gauge_observations(t, ["01567000"], np.ones((30, 1)),
                                                    units="mm d-1", area=[8657.3]),
    }
    src = {k: str(std.write_netcdf(ds, d / f"{k}.nc")) for k, ds in paths.items()}
    src.update(type="standard", membership=str(d / "membership.nc"), network=str(d / "net.nc"))
    return load_dataset({"sources": [src]}, []), net, d


def test_membership_from_the_topology_stage(juniata_dataset):
    data, net, d = juniata_dataset
    m = xr.load_dataset(d / "membership.nc")
    assert set(m["gauge"].values) == {"01567000"} and m.sizes["pair"] == 213
    # FLOW_SCALE of the gauge's own unit is 1.0 in the gauge table; all other units weigh 1
    np.testing.assert_array_equal(m["weight"].values, np.ones(213))
    idx, w = data.membership.pairs[0]
    assert len(idx) == 213
    # the gauge's area is the sum of the 213 unit areas (its MERIT upstream area, km²)
    area = data.membership.unit_area[idx].sum()
    np.testing.assert_allclose(area, net.uparea[net.index_of([73005278])[0]], rtol=1e-6)


def test_batch_carries_the_csr_subnetwork_in_topological_order(juniata_dataset):
    data, net, _ = juniata_dataset
    batch = gauge_batch(data, [0])
    bn = batch.network
    assert bn is not None and len(bn.order) == 213
    rank = np.empty(213, int)
    rank[bn.order] = np.arange(213)
    down = bn.downstream
    assert (rank[down >= 0] < rank[down[down >= 0]]).all()     # upstream before downstream
    assert bn.indptr[-1] == 212 and len(bn.indices) == 212      # a tree: 213 nodes, 212 links
    for k, u in enumerate(bn.order):                            # CSR rows = upstream lists
        ups = bn.indices[bn.indptr[k]:bn.indptr[k + 1]]
        assert set(ups) == set(np.flatnonzero(down == u))
    outlet = bn.outlet_of(np.arange(213))
    assert data.unit_ids[batch.units[outlet]] == "73005278"
    # the same links as the topology stage: each unit's downstream COMID
    comid = np.array([int(data.unit_ids[u]) for u in batch.units])
    nd = net.downstream[net.index_of(comid)]
    expect = np.where(nd >= 0, net.comid[np.maximum(nd, 0)], -1)
    got = np.where(down >= 0, comid[np.maximum(down, 0)], -1)
    np.testing.assert_array_equal(got, expect)


def test_lumped_batches_carry_no_network():
    d = load_dataset({"sources": [CARAVAN]}, [])
    assert d.network is None and gauge_batch(d, [0, 1]).network is None
