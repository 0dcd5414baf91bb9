"""Bad routing input: one-line DhbvInputError naming the field."""

import numpy as np
import pytest
import torch

from dhbv.errors import DhbvInputError
from dhbv.routing import ChannelParameters, RoutingGraph, RoutingOptions, route

from test_routing_cases import DOWN7, lateral, tree7

IDS = np.arange(100, 107)


def _raises(field, fn, *args, **kw):
    with pytest.raises(DhbvInputError) as exc:
        fn(*args, **kw)
    msg = str(exc.value)
    assert field in msg and "\n" not in msg, msg


def test_cycle():
    down = DOWN7.copy()
    down[6] = 5  # 5 -> 6 -> 5
    _raises("cycle", RoutingGraph, down, np.ones(7), np.ones(7), ids=IDS)
    _raises("downstream", RoutingGraph, down, np.ones(7), np.ones(7), ids=IDS)
    _raises("cycle", RoutingGraph.from_coo, 2, [0, 1], [1, 0], np.ones(2), np.ones(2))


def test_not_topological():
    _raises("topological", RoutingGraph, np.array([-1, 0]), np.ones(2), np.ones(2))


def test_two_downstream_reaches():
    _raises("indices_1", RoutingGraph.from_coo, 3, [1, 2], [0, 0], np.ones(3), np.ones(3))


@pytest.mark.parametrize("field", ["length_m", "slope"])
@pytest.mark.parametrize("value", [0.0, -1.0, np.nan])
def test_zero_length_or_slope(field, value):
    arrays = {"length_m": np.full(7, 1000.0), "slope": np.full(7, 0.01)}
    arrays[field][3] = value
    _raises(field, RoutingGraph, DOWN7, ids=IDS, **arrays)


@pytest.mark.parametrize("value", [-0.5, np.nan, np.inf])
def test_negative_or_nan_inflow(value):
    lat = lateral(2, 7)
    lat[1, 4] = value
    _raises("lateral_inflow", route, tree7(), lat, ChannelParameters(n=0.05, q=0.5))


def test_lateral_ids_must_match_the_network():
    graph = RoutingGraph(DOWN7, np.full(7, 1000.0), np.full(7, 0.01), ids=IDS)
    pars = ChannelParameters(n=0.05, q=0.5)
    lat = lateral(2, 7)
    # a reach of the network without lateral inflow
    _raises("lateral_ids", route, graph, lat[:, :6], pars, lateral_ids=IDS[:6])
    # lateral inflow for a reach the network does not have
    _raises("lateral_ids", route, graph, lat, pars, lateral_ids=np.r_[IDS[:6], 999])
    # wrong width without ids
    _raises("lateral_inflow", route, graph, lat[:, :6], pars)
    # ids in another order are matched
    perm = np.random.default_rng(0).permutation(7)
    a = route(graph, lat, pars).mean
    b = route(graph, lat[:, perm], pars, lateral_ids=IDS[perm]).mean
    np.testing.assert_allclose(a, b, rtol=0)


def test_bad_parameters_and_options():
    _raises("n", route, tree7(), lateral(2, 7), ChannelParameters(n=torch.zeros(7), q=0.5))
    _raises("q", route, tree7(), lateral(2, 7), ChannelParameters(n=0.05, q=-1.0))
    _raises("routing.geometry", RoutingOptions, geometry="circle")
    _raises("record_seconds", route, tree7(), lateral(2, 7), ChannelParameters(n=0.05, q=0.5),
            record_seconds=5000.0)
