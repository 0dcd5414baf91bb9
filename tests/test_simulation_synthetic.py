"""The synthetic MERIT-like domain with its river network (dhbv.simulation.synthetic), as the
domain-simulation speed benchmark routes it."""
import numpy as np
import pandas as pd
import pytest
import torch

from dhbv.routing import ChannelParameters, RoutingGraph, route
from dhbv.simulation.synthetic import FIRST_ID, SyntheticDomain, accumulate, unit_network


def test_accumulate_hand_tree():
    # 0 → 2, 1 → 2, 2 → 4, 3 → 4, 4 outlet; 5 a separate outlet
    g = RoutingGraph(np.array([2, 2, 4, 4, -1, -1]), np.ones(6), np.ones(6))
    np.testing.assert_array_equal(accumulate(g, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]),
                                  [1.0, 2.0, 7.0, 8.0, 31.0, 32.0])


@pytest.mark.parametrize("n", [1, 2, 3, 300, 301])
def test_unit_network_one_reach_per_unit(n):
    g = unit_network(n, seed=4)
    assert g.n == n
    np.testing.assert_array_equal(g.ids, FIRST_ID + np.arange(n))
    down = g.downstream
    assert ((down == -1) | (down > np.arange(n))).all()
    if n >= 3:  # a tree with binary confluences (+ one coastal outlet when n is even)
        assert (down == -1).sum() == 1 + (n % 2 == 0)
        assert set(np.bincount(down[down >= 0], minlength=n)) <= {0, 1, 2}


def test_upstream_area_is_the_area_drained():
    d = SyntheticDomain(301, ["uparea", "aridity"], seed=2, network=True)
    area = d.area()
    # independent: walk from every unit down to its outlet, adding its area on the way
    up = np.zeros(d.n_units)
    for i in range(d.n_units):
        j = i
        while j >= 0:
            up[j] += area[i]
            j = int(d.graph.downstream[j])
    w = d.window(0, 301, "2001-01-01", 3)
    np.testing.assert_allclose(w.uparea, up, rtol=1e-12)
    np.testing.assert_allclose(w.attributes[:, 0], up, rtol=1e-12)
    outlet = d.graph.downstream == -1
    assert w.uparea[outlet].sum() == pytest.approx(area.sum(), rel=1e-12)


def test_static_values_do_not_depend_on_the_batches():
    d = SyntheticDomain(3000, ["aridity", "uparea", "meanP"], seed=1)
    a = d.window(0, 3000, "2001-01-01", 2)
    b = d.window(1000, 2100, "2001-01-01", 2)      # crosses a block boundary (1024, 2048)
    np.testing.assert_array_equal(a.attributes[1000:2100], b.attributes)
    np.testing.assert_array_equal(a.area[1000:2100], b.area)
    # a name has the same values whichever attribute list asks for it
    np.testing.assert_array_equal(d.attributes(["meanP", "aridity"])[:, 1], a.attributes[:, 0])
    assert a.unit_ids[1023:1025] == ["u0001023", "u0001024"]


def test_unit_runoff_routes_to_the_drained_area(tmp_path):
    """Constant unit runoff r [mm/d] read back from a chunk store as lateral inflow
    (mm d-1 × km² / 86.4 → m³/s) and routed from the hot start stays at the steady state:
    every reach carries r × its upstream area / 86.4 m³/s (1 mm/d on 1 km² = 10³ m³ per
    86 400 s)."""
    from dhbv.routing.chunks import UnitRunoffLateral
    from dhbv.simulation.store import ChunkStore

    d = SyntheticDomain(63, [], seed=5, network=True)
    days = pd.date_range("2001-01-01", periods=4, freq="D")
    store = ChunkStore(tmp_path / "c.zarr", d.unit_ids(), days, ["runoff"], area=d.area())
    store.write(0, 63, {"runoff": np.full((63, 4), 2.5, np.float32)})
    lat = UnitRunoffLateral([store.commit()]).read(d.graph, days[0], days[-1])
    np.testing.assert_allclose(lat.values, np.broadcast_to(2.5 * d.area() / 86.4, (4, 63)),
                               rtol=1e-7)
    n = d.n_units
    r = route(d.graph, torch.as_tensor(lat.values),
              ChannelParameters(n=torch.full((n,), 0.05, dtype=torch.float64),
                                q=torch.full((n,), 0.5, dtype=torch.float64)))
    up = accumulate(d.graph, d.area())
    assert r.mean.shape == (3, n)
    np.testing.assert_allclose(r.mean.numpy(), np.broadcast_to(2.5 * up / 86.4, (3, n)),
                               rtol=1e-6)
