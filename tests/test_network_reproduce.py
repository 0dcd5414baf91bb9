"""Real MERIT networks: Bow River at Banff (shapefiles) and the Juniata (shipped DDR COO)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from dhbv.network import build_network, read_network
from dhbv.network.topology import upstream_sum

ROOT = Path(__file__).resolve().parents[1]
BOW = ROOT / "resources" / "demo" / "merit_bow_at_banff"
BOW_RIV = BOW / "river_network" / "bow_river_network_from_merit_hydro.shp"
BOW_CAT = BOW / "river_basins" / "bow_distributed.shp"
JUN = ROOT / "resources" / "demo" / "juniata_merit"


@pytest.fixture(scope="module")
def bow():
    return build_network(BOW_RIV, BOW_CAT)


@pytest.fixture(scope="module")
def juniata():
    return build_network(JUN / "juniata_reaches.csv")


@pytest.fixture(scope="module")
def shipped():
    g = zarr.open_group(str(JUN / "juniata_conus_adjacency.zarr"), mode="r")
    return {k: g[k][...] for k in ("order", "indices_0", "indices_1", "length_m", "slope")}


def _invariants(net, max_up=4):
    assert net.n_edges == net.n - int(net.is_outlet.sum())
    assert np.all(net.indices_0 > net.indices_1)
    assert np.diff(net.indptr).max() <= max_up
    assert np.all(net.uparea >= upstream_sum(net, net.uparea) * (1 - 1e-9))
    assert np.all(net.level[net.indices_0] >= net.level[net.indices_1] + 1)


def test_bow_at_banff(bow):
    assert bow.n == 51
    assert bow.outlets.tolist() == [71028585]
    assert bow.next_down[bow.is_outlet].tolist() == [71028189]  # drains out of the sample
    assert int(bow.is_headwater.sum()) == 26
    assert bow.dropped_cycles == []
    # outlet drainage area = all 51 polygons (area field, m²) = 2,216.04 km²
    assert bow.uparea[bow.is_outlet][0] == pytest.approx(2216.04, abs=0.01)
    assert bow.uparea.max() == bow.uparea[bow.is_outlet][0]
    _invariants(bow, max_up=2)
    # raw slopes of the sample are all > 0; one is below the 1e-3 floor
    assert bow.slope_raw.min() > 0 and int((bow.slope_raw < 1e-3).sum()) == 1
    assert np.all(bow.slope >= 1e-3)


def test_bow_areas_from_polygon_geometry():
    net = build_network(BOW_RIV, BOW_CAT, area_source="geometry")
    assert net.uparea[net.is_outlet][0] == pytest.approx(2216.04, rel=1e-4)
    assert net.area_source.endswith("(geometry:EPSG:6933)")


def test_juniata_counts(juniata):
    assert juniata.n == 213
    assert juniata.n_edges == 212
    assert juniata.n_levels == 39
    assert int(juniata.is_headwater.sum()) == 107
    assert juniata.outlets.tolist() == [73005278]
    assert juniata.max_upstream == 2  # binary confluences only
    _invariants(juniata, max_up=2)
    # outlet uparea = COMID_DRAIN_SQKM of the gauge row (8,683.35 km²)
    gage = pd.read_csv(JUN / "juniata_gage.csv", dtype={"STAID": str})
    assert juniata.uparea[-1] == pytest.approx(gage["COMID_DRAIN_SQKM"][0], rel=1e-12)
    assert juniata.unitarea.sum() == pytest.approx(8683.35, abs=0.01)
    assert int((juniata.slope_raw < 1e-3).sum()) == 42 and juniata.slope_raw.min() == 0.0


def test_juniata_equals_shipped_coo_up_to_a_permutation(juniata, shipped):
    order = shipped["order"].astype(np.int64)
    # same reaches, and the same edges as (upstream COMID, downstream COMID) pairs
    assert np.array_equal(np.sort(order), np.sort(juniata.comid))
    ours = set(zip(juniata.comid[juniata.indices_1].tolist(), juniata.comid[juniata.indices_0].tolist()))
    theirs = set(zip(order[shipped["indices_1"]].tolist(), order[shipped["indices_0"]].tolist()))
    assert len(ours) == 212 and ours == theirs
    # permuting the shipped matrix with P (shipped index -> our index) gives ours exactly
    p = juniata.index_of(order)
    r, c = p[shipped["indices_0"]], p[shipped["indices_1"]]
    e = np.lexsort((c, r))
    assert np.array_equal(r[e], juniata.indices_0) and np.array_equal(c[e], juniata.indices_1)
    # per-reach data carried through the CSV exactly (float32 values)
    assert np.array_equal(juniata.length_m.astype(np.float32)[p], shipped["length_m"])
    assert np.array_equal(juniata.slope_raw.astype(np.float32)[p], shipped["slope"])


def test_juniata_order_differs_from_shipped_only_within_levels(juniata, shipped):
    """The shipped order (rustworkx topological sort in DDR) is a valid topological order but
    not level-major; ours is level-major with COMID tie-breaks. Both assign every reach the same
    level, so they are equal up to a permutation of reaches that share a level ("ties")."""
    shipped_net = read_network(JUN / "juniata_conus_adjacency.zarr")
    assert not shipped_net.is_level_sorted
    p = juniata.index_of(shipped_net.comid)
    assert np.array_equal(juniata.level[p], shipped_net.level)
    # sorting the shipped order level-major with COMID ties reproduces ours exactly
    resorted = shipped_net.comid[np.lexsort((shipped_net.comid, shipped_net.level))]
    assert np.array_equal(resorted, juniata.comid)
    assert np.array_equal(juniata.strahler[p], shipped_net.strahler)


def test_juniata_strahler_matches_the_reach_table(juniata):
    table = pd.read_csv(JUN / "juniata_reaches.csv").set_index("COMID")
    assert np.array_equal(table.loc[juniata.comid, "order"].to_numpy(), juniata.strahler)
    assert juniata.strahler[-1] == 4


def test_juniata_reach_table_is_reproducible():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "derive_juniata", ROOT / "resources" / "scripts" / "derive_juniata_reach_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    derived = mod.derive(JUN)
    shipped_csv = pd.read_csv(JUN / "juniata_reaches.csv")
    pd.testing.assert_frame_equal(derived, shipped_csv, check_exact=False, rtol=1e-15)
    assert mod.pixel_area_km2() == pytest.approx(0.00653, abs=1e-5)
