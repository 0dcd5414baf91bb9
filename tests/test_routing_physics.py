"""Muskingum–Cunge physics: analytic responses, the exact sweep, steady state, split runs,
clamp semantics and the water balance."""

import logging

import numpy as np
import pytest
import torch

from dhbv.routing import ChannelParameters, RoutingGraph, RoutingOptions, RoutingState, route
from dhbv.routing.reference import reference_route

from test_routing_cases import DOWN7, lateral, tree7

F64 = torch.float64


def _state(q0, r=None):
    q0 = torch.as_tensor(q0, dtype=F64)
    return RoutingState(q0, torch.zeros(q0.numel() if r is None else r, dtype=F64))


def test_single_linear_reach_analytic():
    """One reach, constant K and lateral inflow q: Q(t) = q + (Q0 − q)·C3^t exactly, with
    C3 = (2K(1−X) − Δt)/(2K(1−X) + Δt)."""
    k, x, dt, q, q0 = 7200.0, 0.2, 3600.0, 5.0, 1.0
    graph = RoutingGraph(np.array([-1]), [1000.0], [0.01])
    res = route(graph, torch.full((2, 1), q, dtype=F64), ChannelParameters(k=k),
                options=RoutingOptions(geometry="linear", x=x, dt=dt), average_seconds=dt,
                state=_state([q0]))
    c3 = (2 * k * (1 - x) - dt) / (2 * k * (1 - x) + dt)
    t = np.arange(1, 49)
    np.testing.assert_allclose(res.mean[:, 0], q + (q0 - q) * c3 ** t, rtol=1e-13)


def test_linear_reservoir_limit():
    """X = 0 and Δt ≪ K: the scheme approaches the linear reservoir Q = q + (Q0−q)·e^(−t/K)."""
    k, dt, q = 7200.0, 60.0, 5.0
    graph = RoutingGraph(np.array([-1]), [1000.0], [0.01])
    res = route(graph, torch.full((1, 1), q, dtype=F64), ChannelParameters(k=k),
                options=RoutingOptions(geometry="linear", x=0.0, dt=dt, q_min=0.0),
                record_seconds=86400,
                average_seconds=dt, state=_state([0.0]))
    t = np.arange(1, 1441) * dt
    np.testing.assert_allclose(res.mean[:, 0], q * (1 - np.exp(-t / k)), rtol=2e-5)


def test_sweep_equals_dense_solve():
    """Each step equals numpy.linalg.solve of (I − diag(C1)N)·Q(t+1) = C2·N·Q + C3·Q + C4·q'."""
    graph = tree7()
    k = np.array([3000.0, 5000, 2500, 8000, 4000, 9000, 6000])
    x, dt = 0.25, 3600.0
    lat = lateral(3, 7, seed=9)
    q0 = np.linspace(2, 9, 7)
    res = route(graph, lat, ChannelParameters(k=torch.as_tensor(k)),
                options=RoutingOptions(geometry="linear", x=x, dt=dt), record_seconds=3 * dt,
                average_seconds=dt, state=_state(q0))
    net = np.zeros((7, 7))
    net[DOWN7[:-1], np.arange(6)] = 1
    den = 2 * k * (1 - x) + dt
    c1, c2, c3, c4 = (dt - 2 * k * x) / den, (dt + 2 * k * x) / den, (2 * k * (1 - x) - dt) / den, \
        2 * dt / den
    q = q0
    for t in range(9):
        q = np.linalg.solve(np.eye(7) - c1[:, None] * net,
                            c2 * (net @ q) + c3 * q + c4 * lat[t // 3].numpy())
        np.testing.assert_allclose(res.mean[t], q, rtol=1e-13)


@pytest.mark.parametrize("geometry", ["wide", "trapezoid_exact"])
def test_steady_state_equals_hot_start(geometry):
    """Constant lateral inflow: the hot start (upstream accumulation) is a fixed point."""
    graph = tree7()
    lat = lateral(1, 7, seed=2).repeat(5, 1)
    res = route(graph, lat, ChannelParameters(n=0.08, q=0.4),
                options=RoutingOptions(geometry=geometry))
    acc = lat[0].clone()
    for i in range(7):
        if DOWN7[i] >= 0:
            acc[DOWN7[i]] += acc[i]
    np.testing.assert_allclose(res.mean, acc.expand(4, 7), rtol=1e-12)
    np.testing.assert_allclose(res.state.discharge, acc, rtol=1e-12)


@pytest.mark.parametrize("convention,clamp", [("end", "after"), ("start", "sweep")])
def test_split_run_equals_unsplit(convention, clamp):
    """Routing 10 days at once equals 4 days then 6 days from the returned state (values and
    gradients), with the day offset and an unfinished daily block carried over the split."""
    graph = tree7()
    lat = lateral(10, 7, seed=4, lo=0.0, hi=5.0).requires_grad_(True)
    n = torch.full((7,), 0.06, dtype=F64, requires_grad=True)
    opts = RoutingOptions(geometry="trapezoid", clamp=clamp)
    kw = dict(options=opts, convention=convention, readout=[2, 6])
    whole = route(graph, lat, ChannelParameters(n=n, q=0.3), **kw)
    first = route(graph, lat[:4], ChannelParameters(n=n, q=0.3), **kw)
    assert first.state.pending_count == (4 * 24 - 9) % 24
    second = route(graph, lat[4:], ChannelParameters(n=n, q=0.3), state=first.state, **kw)
    split = torch.cat([first.mean, second.mean])
    assert split.shape == whole.mean.shape == (9, 2)
    np.testing.assert_allclose(split.detach(), whole.mean.detach(), rtol=1e-13)
    np.testing.assert_allclose(second.state.discharge.detach(), whole.state.discharge.detach(),
                               rtol=1e-13)
    w = torch.rand(9, 2, dtype=F64)
    g_whole = torch.autograd.grad((whole.mean * w).sum(), [lat, n])
    g_split = torch.autograd.grad((split * w).sum(), [lat, n])
    for a, b in zip(g_whole, g_split):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)
    total = first.diagnostics + second.diagnostics
    assert total.residual_m3 == pytest.approx(whole.diagnostics.residual_m3, rel=1e-9, abs=1e-6)


def _flashy(records=6):
    lat = lateral(records, 7, lo=0.0, hi=3.0)
    lat[3, [0, 1, 3]] = 40.0
    return lat


def test_clamp_modes_differ_and_match_reference():
    """A flood arriving on low flow with C1 < 0 drives solves negative: both clamp semantics
    keep Q >= q_min, count the negative solves and equal the plain-torch solve."""
    graph = tree7()
    lat = _flashy()
    pars = ChannelParameters(k=torch.tensor([9000.0, 9000, 20000, 9000, 30000, 25000, 20000],
                                            dtype=F64))
    out = {}
    for clamp in ("after", "sweep"):
        opts = RoutingOptions(geometry="linear", clamp=clamp, dt=1800.0, q_min=0.05, x=0.45)
        res = route(graph, lat, pars, options=opts, record_seconds=4 * 3600, average_seconds=1800,
                    day_offset_hours=0)
        ref = reference_route(graph, lat, pars, opts, hold=8)
        np.testing.assert_allclose(res.mean, ref[1:], rtol=1e-12)
        assert float(res.mean.min()) >= 0.05
        assert res.diagnostics.n_negative > 0
        out[clamp] = res.mean
    assert not torch.allclose(out["after"], out["sweep"])


def test_per_solve_diagnostics_log_at_debug_only(caplog):
    """A solve with negative solves logs its diagnostics at DEBUG, never at INFO (training
    calls route thousands of times); the counts stay in the returned diagnostics."""
    graph = tree7()
    pars = ChannelParameters(k=torch.tensor([9000.0, 9000, 20000, 9000, 30000, 25000, 20000],
                                            dtype=F64))
    opts = RoutingOptions(geometry="linear", dt=1800.0, q_min=0.05, x=0.45)
    with caplog.at_level(logging.INFO, "dhbv.routing.solver"):
        res = route(graph, _flashy(), pars, options=opts, record_seconds=4 * 3600,
                    day_offset_hours=0)
    assert res.diagnostics.n_negative > 0 and not caplog.records
    with caplog.at_level(logging.DEBUG, "dhbv.routing.solver"):
        route(graph, _flashy(), pars, options=opts, record_seconds=4 * 3600,
              day_offset_hours=0)
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert f"{res.diagnostics.n_negative} negative solves" in caplog.text


@pytest.mark.parametrize("clamp", ["after", "sweep"])
def test_water_balance_linear(clamp):
    """Constant K: inflow − outflow − Δstorage equals minus the water the clamps created."""
    graph = tree7()
    pars = ChannelParameters(k=torch.tensor([9000.0, 9000, 20000, 9000, 30000, 25000, 20000],
                                            dtype=F64))
    opts = RoutingOptions(geometry="linear", clamp=clamp, dt=1800.0, q_min=0.05, x=0.45)
    d = route(graph, _flashy(), pars, options=opts, record_seconds=4 * 3600).diagnostics
    assert d.clamp_volume_m3 > 0
    assert d.residual_m3 == pytest.approx(-d.clamp_volume_m3, abs=1e-9 * d.inflow_volume_m3)
    d = route(graph, lateral(6, 7), pars, options=opts, record_seconds=4 * 3600).diagnostics
    assert d.n_clamped == 0
    assert abs(d.residual_m3) < 1e-12 * d.inflow_volume_m3
