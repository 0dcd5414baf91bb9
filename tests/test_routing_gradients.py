"""Adjoint of the routing kernels: finite differences (gradcheck) and the plain-torch oracle."""

import numpy as np
import pytest
import torch

from dhbv.routing import ChannelParameters, RoutingOptions, route
from dhbv.routing.reference import reference_means, reference_route

from test_routing_cases import lateral, tree7

GEOMETRIES = ["wide", "trapezoid", "trapezoid_exact", "linear"]


def _params(geometry, n=7, seed=3):
    rng = np.random.default_rng(seed)
    if geometry == "linear":
        return {"k": torch.tensor(rng.uniform(1500, 9000, n), requires_grad=True)}
    return {"n": torch.tensor(rng.uniform(0.03, 0.2, n), requires_grad=True),
            "q": torch.tensor(rng.uniform(0.1, 0.9, n), requires_grad=True),
            "p": torch.tensor(rng.uniform(5, 40, n), requires_grad=True)}


@pytest.mark.parametrize("clamp", ["after", "sweep"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_gradients_equal_plain_torch(geometry, clamp):
    """route() gradients w.r.t. n, q, p (or k) and lateral inflow, through the hot start,
    equal torch autograd through the reference equations (float64)."""
    graph = tree7()
    # low flows and long reaches: some solves go negative and are clamped
    lat = lateral(6, 7, lo=0.0, hi=3.0)
    lat[3, [0, 1]] = 40.0
    lat.requires_grad_(True)
    opts = RoutingOptions(geometry=geometry, clamp=clamp, dt=1800.0, q_min=0.05)
    pars = _params(geometry)
    w = torch.linspace(-1, 2, 7, dtype=torch.float64)
    res = route(graph, lat, ChannelParameters(**pars), options=opts, record_seconds=4 * 3600,
                average_seconds=4 * 3600, day_offset_hours=1.0)
    loss = (res.mean * w).sum() + (res.state.discharge * w.flip(0)).sum()
    got = torch.autograd.grad(loss, [lat, *pars.values()])
    states = reference_route(graph, lat, ChannelParameters(**pars), opts, hold=8)
    ref_mean = reference_means(states, length=8, skip=2)
    np.testing.assert_allclose(res.mean.detach(), ref_mean.detach(), rtol=1e-11)
    ref_loss = (ref_mean * w).sum() + (states[-1] * w.flip(0)).sum()
    want = torch.autograd.grad(ref_loss, [lat, *pars.values()])
    for g, h in zip(got, want):
        np.testing.assert_allclose(g, h, rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("clamp", ["after", "sweep"])
@pytest.mark.parametrize("geometry", ["wide", "trapezoid_exact"])
def test_gradcheck_finite_differences(geometry, clamp):
    """torch.autograd.gradcheck (float64 central differences) of route() on the 7-reach tree,
    24 steps, with a split state carried in (pending block) so every input path is used."""
    graph = tree7()
    opts = RoutingOptions(geometry=geometry, clamp=clamp)
    lat0 = lateral(4, 7, seed=5)
    n0, q0 = _params(geometry)["n"].detach(), _params(geometry)["q"].detach()

    def fn(lat, n, q, discharge, pending):
        from dhbv.routing import RoutingState
        st = RoutingState(discharge, pending, pending_count=3, to_skip=0)
        res = route(graph, lat, ChannelParameters(n=n, q=q), options=opts,
                    record_seconds=6 * 3600, average_seconds=5 * 3600, state=st,
                    readout=[2, 5, 6])
        return res.mean, res.state.discharge, res.state.pending

    inputs = (lat0.requires_grad_(), n0.requires_grad_(), q0.requires_grad_(),
              torch.linspace(1, 6, 7, dtype=torch.float64).requires_grad_(),
              torch.tensor([3.0, 9.0, 12.0], dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-5, atol=1e-8, rtol=1e-6)
