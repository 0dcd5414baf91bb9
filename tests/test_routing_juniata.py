"""The 213-reach MERIT Juniata network (USGS 01567000) with the published δHBV2.0 unit runoff:
hot start, water balance over five years and the gauge readout."""

import numpy as np
import pytest
import torch

from dhbv.network import accumulate_upstream, read_network
from dhbv.routing import ChannelParameters, RoutingGraph, RoutingOptions, route
from dhbv.routing.reference import reference_travel_time

F64 = torch.float64


@pytest.fixture(scope="module")
def juniata(demo):
    import xarray as xr

    net = read_network(demo / "juniata_merit" / "juniata_conus_adjacency.zarr")
    with xr.open_dataset(demo / "juniata_merit" / "juniata_qprime.nc") as ds:
        assert (ds["divide_id"].values == net.comid).all()
        qprime = ds["Qr"].values.T.astype(np.float64)  # [time, reach], m3/s
    return net, RoutingGraph.from_network(net), qprime


def test_hot_start_is_upstream_accumulation(juniata):
    net, graph, qprime = juniata
    res = route(graph, torch.as_tensor(qprime[:1]), ChannelParameters(n=0.1, q=0.5),
                average_seconds=3600.0, day_offset_hours=0)
    steady = accumulate_upstream(net, np.maximum(qprime[0], 1e-4))
    # first hourly mean is Q(1); one step from the hot start with constant inflow stays there
    np.testing.assert_allclose(res.mean[0], steady, rtol=1e-12)


@pytest.mark.parametrize("geometry", ["wide", "trapezoid_exact"])
def test_five_year_water_balance(juniata, geometry):
    """Inflow, outlet outflow and storage of the diagnostics equal independent sums, and the
    balance closes to < 1 % over five years (the rest: clamps and nonlinear storage)."""
    net, graph, qprime = juniata
    lat = torch.as_tensor(qprime[: 5 * 365])
    opts = RoutingOptions(geometry=geometry)
    pars = ChannelParameters(n=torch.full((graph.n,), 0.1, dtype=F64), q=0.5)
    outlet = int(graph.outlets[0])
    res = route(graph, lat, pars, options=opts, average_seconds=3600.0, day_offset_hours=0,
                readout=[outlet])
    d = res.diagnostics
    assert d.inflow_volume_m3 == pytest.approx(np.maximum(qprime[:1825], 1e-4).sum() * 86400,
                                               rel=1e-12)
    hourly = np.r_[np.maximum(qprime[0], 1e-4).sum(), res.mean[:, 0].numpy()]
    assert d.outflow_volume_m3 == pytest.approx(1800.0 * (hourly[:-1] + hourly[1:]).sum(),
                                                rel=1e-12)
    q = res.state.discharge
    inflow = torch.zeros_like(q)
    for i, k in enumerate(graph.downstream):
        if k >= 0:
            inflow[k] += q[i]
    k = reference_travel_time(q, graph, pars, opts)
    assert d.storage_end_m3 == pytest.approx(float((k * (0.3 * inflow + 0.7 * q)).sum()),
                                             rel=1e-10)
    assert abs(d.residual_m3) < 1e-2 * d.inflow_volume_m3
    assert d.n_steps == 1825 * 24 and d.n_negative >= 0


def test_gauge_readout_is_the_gauge_reach(juniata):
    """Daily means at the gauge reach equal the same column of the all-reach readout."""
    _, graph, qprime = juniata
    lat = torch.as_tensor(qprime[:30])
    pars = ChannelParameters(n=0.1, q=0.5)
    all_reaches = route(graph, lat, pars).mean
    gauge = route(graph, lat, pars, readout=[212]).mean
    assert all_reaches.shape == (29, 213)
    np.testing.assert_array_equal(gauge[:, 0], all_reaches[:, 212])
