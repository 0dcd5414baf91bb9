"""Travel time K(Q) of the three channel geometries against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from dhbv.routing import ChannelParameters, RoutingGraph, RoutingOptions, kernel_parameters
from dhbv.routing import celerity

# one reach: Q = 10 m3/s, n = 0.05, q = 0.5, p = 21, S = 0.001, L = 5 km
Q, N, QEXP, P, S, L = 10.0, 0.05, 0.5, 21.0, 0.001, 5000.0


def _k(geometry, q, n=N, qexp=QEXP, p=P, slope=S, length=L, grad=False, **opt):
    graph = RoutingGraph(np.array([-1]), [length], [slope])
    opts = RoutingOptions(geometry=geometry, **opt)
    theta, aux = kernel_parameters(graph, ChannelParameters(n=n, q=qexp, p=p, k=1000.0), opts,
                                   torch.float64)
    cst = celerity.make_constants(opts, np.float64)
    th, ax = theta.numpy(), aux.numpy()
    if grad:
        return celerity.travel_time_grad.py_func(opts.mode, q, th, ax, 0, cst), th, ax, cst
    return celerity.travel_times(opts.mode, np.array([q], float), th, ax, cst)[0]


def test_wide_channel_hand_values():
    # d = (10·0.05·1.5/(21·√0.001))^(3/6.5) = 1.129383^0.461538 = 1.0577636 m
    # v = (1/0.05)·1.0577636^(2/3)·√0.001 = 0.6565821 m/s; c = 5/3·v; K = 5000/c = 4569.116 s
    assert _k("wide", Q) == pytest.approx(4569.116082, rel=1e-9)


def test_wide_channel_velocity_floor():
    # at 1e-4 m3/s the Manning velocity is below 0.3 m/s: K = L/(5/3·0.3) = 10000 s
    assert _k("wide", 1e-4) == pytest.approx(10000.0, rel=1e-12)
    # and the 15 m/s cap: K = 5000/(5/3·15) = 200 s
    assert _k("wide", 1e7, slope=0.3) == pytest.approx(200.0, rel=1e-12)


def test_trapezoid_hand_values():
    # d = 1.0577638 m, T = 21·d^0.500001 = 21.598007 m, z = T·q/(2d) = 5.104648,
    # b = T − 2zd = 10.798982 m, A = (T+b)d/2 = 17.134182 m², P = b + 2d√(1+z²) = 21.803272 m,
    # R = 0.7858537 m, v = R^(2/3)·√S/n = 0.5385894 m/s, K = L/(5/3·v) = 5570.106 s
    assert _k("trapezoid", Q) == pytest.approx(5570.105996, rel=1e-8)
    # exact celerity: β = 5/3 − (4/3)·A·√(1+z²)/(T·P) = 1.4143127, K = L/(β·v) = 6563.973 s
    assert _k("trapezoid_exact", Q) == pytest.approx(6563.972560, rel=1e-8)


def test_trapezoid_floors():
    # small flow: depth floored at 0.01 m; q = 0 → z = 0 → floored at 0.5;
    # T = 21·0.01^1e-6, b = T − 2·0.5·0.01, A, P, R by hand, v floored at 0.01 m/s
    d, z = 0.01, 0.5
    t = 21.0 * d ** 1e-6
    b = t - 2 * z * d
    area = (t + b) * d / 2
    per = b + 2 * d * math.sqrt(1 + z * z)
    v = max((area / per) ** (2 / 3) * math.sqrt(S) / N, 0.01)
    assert _k("trapezoid", 1e-6, qexp=0.0) == pytest.approx(L / (5 / 3 * v), rel=1e-9)


def test_exact_celerity_is_dq_da():
    """β·v equals dQ/dA of Manning's equation on the trapezoid (b, z fixed), by differences."""
    d, qexp = 1.3, 0.4
    t = P * d ** qexp
    z = t * qexp / (2 * d)
    b = t - 2 * z * d

    def flow(depth):
        area = (b + z * depth) * depth
        per = b + 2 * depth * math.sqrt(1 + z * z)
        return area, area * (area / per) ** (2 / 3) * math.sqrt(S) / N

    h = 1e-6
    (a1, q1), (a2, q2) = flow(d - h), flow(d + h)
    area, q = flow(d)
    per = b + 2 * d * math.sqrt(1 + z * z)
    beta = 5 / 3 - 4 / 3 * area * math.sqrt(1 + z * z) / (t * per)
    assert (q2 - q1) / (a2 - a1) == pytest.approx(beta * q / area, rel=1e-8)


@pytest.mark.parametrize("geometry", ["wide", "trapezoid", "trapezoid_exact"])
@pytest.mark.parametrize("q", [1e-4, 0.03, 0.5, 10.0, 800.0])
@pytest.mark.parametrize("qexp", [0.0, 0.5, 1.0])
def test_travel_time_derivatives(geometry, q, qexp):
    """dK/dQ and dK/dθ of the kernels' scalar adjoint against central differences."""
    (k, dq, *dth), th, ax, cst = _k(geometry, q, qexp=qexp, grad=True)
    mode = RoutingOptions(geometry=geometry).mode
    f = celerity.travel_time.py_func
    h = 1e-6 * q
    assert dq == pytest.approx((f(mode, q + h, th, ax, 0, cst) - f(mode, q - h, th, ax, 0, cst))
                               / (2 * h), rel=1e-5, abs=1e-9 * k / q)
    for j in range(th.shape[0]):
        hp, hm = th.copy(), th.copy()
        eps = 1e-7 * max(abs(th[j, 0]), 1.0)
        hp[j, 0] += eps
        hm[j, 0] -= eps
        fd = (f(mode, q, hp, ax, 0, cst) - f(mode, q, hm, ax, 0, cst)) / (2 * eps)
        assert dth[j] == pytest.approx(fd, rel=1e-5, abs=1e-8 * k)


def test_network_constants_cache_follows_replaced_arrays():
    """The per-graph constants (√S, logs of L, K bounds) are cached; replacing length_m gives
    the new travel time (K ∝ L for the wide channel), and options with another slope floor
    get their own entry."""
    graph = RoutingGraph(np.array([-1]), [L], [S])
    opts = RoutingOptions(geometry="wide")
    pars = ChannelParameters(n=N, q=QEXP, p=P)
    cst = celerity.make_constants(opts, np.float64)

    def k_of(o=opts):
        theta, aux = kernel_parameters(graph, pars, o, torch.float64)
        return celerity.travel_times(o.mode, np.array([Q]), theta.numpy(), aux.numpy(), cst)[0]

    assert k_of() == pytest.approx(4569.116082, rel=1e-9)
    assert k_of() == pytest.approx(4569.116082, rel=1e-9)  # from the cache
    graph.length_m = np.array([2 * L])
    assert k_of() == pytest.approx(2 * 4569.116082, rel=1e-9)
    # slope floored at 0.004 > S: hand formula of the wide channel (d, v, K = L/(5/3·v))
    o2 = RoutingOptions(geometry="wide", slope_min=0.004)
    d = (Q * N * 1.5 / (P * math.sqrt(0.004))) ** (3 / 6.5)
    v = d ** (2 / 3) * math.sqrt(0.004) / N
    assert k_of(o2) == pytest.approx(2 * L / (5 / 3 * v), rel=1e-9)
