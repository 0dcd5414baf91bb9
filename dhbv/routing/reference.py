"""Slow plain-torch Muskingum–Cunge router: the test oracle for the kernels.

It evaluates the equations of docs/routing.md directly (depth, velocity, celerity, K per
reach; a dense triangular solve per step, or a reach-by-reach loop when clamping during the
sweep) with ordinary torch operations, so torch autograd differentiates it. Meant for networks
of tens of reaches and a few hundred steps.
"""

from __future__ import annotations

import numpy as np
import torch

from .geometry import KINEMATIC_FACTOR, ChannelParameters


def reference_travel_time(q, graph, params: ChannelParameters, options) -> torch.Tensor:
    """K [s] of every reach at discharge q [n] (m³/s), straight from the geometry formulas."""
    dtype = q.dtype
    length = torch.as_tensor(graph.length_m, dtype=dtype)
    slope = torch.as_tensor(np.maximum(graph.slope, options.slope_min), dtype=dtype)
    if options.geometry == "linear":
        return torch.as_tensor(params.k, dtype=dtype).expand(q.shape)
    n = torch.as_tensor(params.n, dtype=dtype)
    p = torch.as_tensor(params.p, dtype=dtype)
    vmin, vmax = options.v_bounds
    if options.geometry == "wide":
        qq = torch.as_tensor(params.q, dtype=dtype)
        depth = (q * n * (qq + 1) / (p * slope.sqrt())) ** (3.0 / (5.0 + 3.0 * qq))
        v = (depth ** (2.0 / 3.0) * slope.sqrt() / n).clamp(vmin, vmax)
        return length / (KINEMATIC_FACTOR * v)
    qe = torch.as_tensor(params.q, dtype=dtype) + options.q_eps
    ratio = q * n * (qe + 1) / (p * slope.sqrt() + options.manning_eps)
    depth = ratio ** (3.0 / (5.0 + 3.0 * qe))
    depth = depth.clamp(min=options.depth_min)
    top = p * depth ** qe
    z = (top * qe / (2.0 * depth)).clamp(*options.side_slope_bounds)
    bottom = (top - 2.0 * z * depth).clamp(min=options.bottom_min)
    area = (top + bottom) * depth / 2.0
    wet = bottom + 2.0 * depth * torch.sqrt(1.0 + z * z)
    v = ((area / wet) ** (2.0 / 3.0) * slope.sqrt() / n).clamp(vmin, vmax)
    if options.geometry == "trapezoid":
        return length / (KINEMATIC_FACTOR * v)
    beta = 5.0 / 3.0 - (4.0 / 3.0) * area * torch.sqrt(1.0 + z * z) / (top * wet)
    return length / (beta * v)


def reference_route(graph, lateral, params, options, *, hold: int, q0=None, x=None):
    """All states Q(0…T) [T+1, n] of routing ``lateral`` [R, n] (record held ``hold`` steps).

    q0 None → steady state of the first record, Q0 = (I − N)⁻¹·max(q'(0), q_min).
    """
    n = graph.n
    dtype = lateral.dtype
    net = torch.zeros((n, n), dtype=dtype)
    has = graph.downstream >= 0
    net[torch.as_tensor(graph.downstream[has], dtype=torch.long),
        torch.as_tensor(np.flatnonzero(has))] = 1.0
    eye = torch.eye(n, dtype=dtype)
    lat = lateral.clamp(min=options.q_min)
    if q0 is None:
        q0 = torch.linalg.solve_triangular(eye - net, lat[0][:, None], upper=False)[:, 0]
    q = q0.clamp(min=options.q_min)
    xw = torch.as_tensor(np.full(n, options.x) if x is None else x, dtype=dtype)
    dt = options.dt
    states = [q]
    for t in range(hold * lateral.shape[0]):
        k = reference_travel_time(q, graph, params, options)
        den = 2.0 * k * (1.0 - xw) + dt
        c1 = (dt - 2.0 * k * xw) / den
        c2 = (dt + 2.0 * k * xw) / den
        c3 = (2.0 * k * (1.0 - xw) - dt) / den
        c4 = 2.0 * dt / den
        b = c2 * (net @ q) + c3 * q + c4 * lat[t // hold]
        if options.clamp == "after":
            a = eye - c1[:, None] * net
            xs = torch.linalg.solve_triangular(a, b[:, None], upper=False)[:, 0]
            q = xs.clamp(min=options.q_min)
        else:
            new = []
            for i in range(n):
                up = [new[j] for j in np.flatnonzero(graph.downstream == i)]
                inflow = torch.stack(up).sum() if up else torch.zeros((), dtype=dtype)
                new.append((b[i] + c1[i] * inflow).clamp(min=options.q_min))
            q = torch.stack(new)
        states.append(q)
    return torch.stack(states)


def reference_means(states, *, length: int, skip: int, convention: str = "end"):
    """Block means [B, n] of ``states`` (from :func:`reference_route`) for a fresh run."""
    series = states[1:] if convention == "end" else states[:-1]
    series = series[skip:]
    n_blocks = series.shape[0] // length
    return series[: n_blocks * length].reshape(n_blocks, length, -1).mean(1)
