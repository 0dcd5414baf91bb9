"""Numba CPU kernels of the Muskingum–Cunge network solve: forward and adjoint sweeps.

Forward, one routing step t → t+1 (docs/routing.md §1):

1. coefficients, parallel over reaches: K_i from Q_i(t) (``celerity.travel_time``), C1…C4, and
   the known part b_i = C2·I_i(t) + C3·Q_i(t) + C4·q'_i;
2. one sequential pass in topological order solves (I − diag(C1)·N)·x = b exactly:
   x_i = b_i + C1_i·Σ_{j∈up(i)} v_j, Q_i(t+1) = max(x_i, q_min); v_j = Q_j(t+1) when clamping
   as the sweep goes ("sweep") and v_j = x_j when clamping after the solve ("after").
   Upstream sums are built by pushing each result to its downstream reach, in increasing
   index order (the same order as a CSR sum over the sorted upstream list).

The block means of the routed discharge (daily values) are accumulated inside the time loop
(``blk[u]`` = output row of accumulated state u, −1 = not accumulated), so hourly discharge is
never kept unless gradients are needed: then ``store[t]`` holds x(t) (store[0] = initial
state as given), from which the adjoint recomputes everything else.

Adjoint, reverse in time; per step: coefficients and dK/dθ from Q(t) (parallel), then the
transposed triangular system by one sequential pass in reverse topological order
(x̄_i = gate·(Q̄_i(t+1) + C1_k·x̄_k), k = downstream of i; it also pushes Σ_up Q_j(t)), then the
parameter, lateral-inflow and Q(t) adjoints (parallel, branch-free so that it vectorises).

Numba keys its on-disk cache of these kernels on this file only; ``dhbv.numba_cache`` (run
when ``dhbv.routing`` is imported) drops the cache when any source of the package changed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .celerity import (C_DT, C_HALF_DT, C_QMIN, C_ZERO, coefficients, travel_time,
                       travel_time_adjoint, travel_time_grad)

_opts = dict(cache=True, fastmath=False, error_model="numpy")


@njit(inline="always", **_opts)
def _floor(v, lo):
    return v if v >= lo else lo


@njit(inline="always", **_opts)
def accumulate(q, ro_idx, sums, row):
    """sums[row, r] += q[ro_idx[r]] for every readout r (nothing when row < 0)."""
    if row >= 0:
        for r in range(ro_idx.size):
            sums[row, r] += q[ro_idx[r]]


@njit(inline="always", **_opts)
def readout_adjoint(g, ro_idx, gsums, row):
    """g[ro_idx[r]] += gsums[row, r] (adjoint of ``accumulate``)."""
    if row >= 0:
        for r in range(ro_idx.size):
            g[ro_idx[r]] += gsums[row, r]


@njit(**_opts)
def clamp_volume_k(after, i, k, delta, ki, kk, xw, cst):
    """Water created [m³] by lifting x_i to Q_i = x_i + delta (docs/routing.md §6), from the
    travel times ki, kk [s] of reach i and of its downstream reach k at the start of the step.

    "sweep": δ·(K_i(1−X_i) + Δt/2); "after" with a downstream reach k: δ·(K_i(1−X_i) + K_kX_k)
    (the downstream reach saw x_i, not Q_i, as inflow at the end of the step).
    """
    own = float(ki) * (1.0 - float(xw[i]))
    if after and k >= 0:
        return float(delta) * (own + float(kk) * float(xw[k]))
    return float(delta) * (own + float(cst[C_HALF_DT]))


@njit(inline="always", **_opts)
def travel_time_of_c1(c1, x, cst):
    """K [s] from the Muskingum coefficient C1 = (Δt − 2KX)/(2K(1−X) + Δt) (inverse of
    ``coefficients``): K = Δt(1 − C1)/(2(C1(1 − X) + X))."""
    dt = float(cst[C_DT])
    c, xx = float(c1), float(x)
    return dt * (1.0 - c) / (2.0 * (c * (1.0 - xx) + xx))


@njit(**_opts)
def clamp_volume(mode, after, i, k, delta, qi, qk, theta, aux, xw, cst):
    """:func:`clamp_volume_k` with the travel times evaluated at qi, qk [m³/s], the discharge
    of reach i and of its downstream reach k at the start of the step."""
    ki = travel_time(mode, qi, theta, aux, i, cst)
    kk = travel_time(mode, qk, theta, aux, k, cst) if after and k >= 0 else ki
    return clamp_volume_k(after, i, k, delta, ki, kk, xw, cst)


@njit(inline="always", **_opts)
def step_derivatives(mode, q, theta, aux, xw, i, cst, cc, kth):
    """Reach i at discharge q [m³/s]: C1…C4 and dK/dQ into cc[0:5, i], dK/dθ into kth[0:5, i]."""
    k, dq, d0, d1, d2, d3, d4 = travel_time_grad(mode, q, theta, aux, i, cst)
    cc[0, i], cc[1, i], cc[2, i], cc[3, i] = coefficients(k, xw[i], cst)
    cc[4, i] = dq
    kth[0, i] = d0
    kth[1, i] = d1
    kth[2, i] = d2
    kth[3, i] = d3
    kth[4, i] = d4


@njit(parallel=True, **_opts)
def forward_kernel(mode, after, qlat, hold, theta, aux, xw, down, q0, cst, ro_idx, ro_all, blk,
                   start_conv, sums, store, qfinal, diag):
    """Route ``blk.size`` steps.

    mode : geometry code; after : clamp after the solve (else during the sweep)
    qlat [R, n] lateral inflow [m³/s], record r held for ``hold`` steps (step t uses r = t//hold)
    theta [m, n], aux [2, n] : per-reach geometry parameters (``geometry.kernel_parameters``)
    xw [n] : Muskingum X; down [n] : downstream index (−1 outlet); q0 [n] : initial Q [m³/s]
    ro_idx [r] : reaches read out (ro_all: all reaches, ro_idx = 0…n−1, accumulated by a
    parallel pass); blk [n_steps] : output row of accumulated state u (state
    u = Q(u) when ``start_conv`` else Q(u+1)); sums [rows, r] accumulated (+=) sums
    store [n_steps+1, n] : x(t) for the adjoint (time stride 0 when not needed)
    qfinal [n] : Q(n_steps); diag [4] : += (negative solves, clamped solves, clamp volume
    [m³], outlet outflow volume [m³] by the trapezoid rule, Muskingum storage at the start
    and at the end [m³])
    """
    n = q0.size
    n_steps = blk.size
    qmin, zero, half_dt = cst[C_QMIN], cst[C_ZERO], cst[C_HALF_DT]
    keep = store.strides[0] != 0  # time stride 0: no adjoint reads the store, skip writing it
    q = np.empty_like(q0)
    b = np.empty_like(q0)
    c1 = np.empty_like(q0)
    # upstream sums, one array: the sweep pushes the values the solve uses (Q_j(t+1) when
    # clamping in the sweep, x_j when clamping after it) and leaves them; the clamp loop then
    # lifts the "after" sums to Σ_up Q_j(t+1), the next step's I(t), which the coefficient
    # pass reads and resets (one array read and written by the sweep instead of two)
    inf = np.zeros_like(q0)
    clamp_at = np.empty(n, dtype=np.int32)        # reaches clamped in the current step
    clamp_x = np.empty(n, dtype=q0.dtype)         # and their x
    for i in range(n):
        store[0, i] = q0[i]
        q[i] = _floor(q0[i], qmin)
    for i in range(n):
        if down[i] >= 0:
            inf[down[i]] += q[i]
    diag[4] += prism_storage(mode, q, inf, theta, aux, xw, cst)
    n_neg = 0
    n_clamp = 0
    vol_clamp = 0.0
    vol_out = 0.0
    for t in range(n_steps):
        r = t // hold
        # the state q = Q(t) is accumulated state u = t ("start") or u = t − 1 ("end")
        row = blk[t] if start_conv else (blk[t - 1] if t >= 1 else -1)
        if not ro_all:
            accumulate(q, ro_idx, sums, row)
        if ro_all and row >= 0:  # the block sums of every reach, in the coefficient pass
            for i in prange(n):
                sums[row, i] += q[i]
                k = travel_time(mode, q[i], theta, aux, i, cst)
                cc1, cc2, cc3, cc4 = coefficients(k, xw[i], cst)
                b[i] = cc2 * inf[i] + cc3 * q[i] + cc4 * _floor(qlat[r, i], qmin)
                c1[i] = cc1
                inf[i] = zero
        else:
            for i in prange(n):
                k = travel_time(mode, q[i], theta, aux, i, cst)
                cc1, cc2, cc3, cc4 = coefficients(k, xw[i], cst)
                b[i] = cc2 * inf[i] + cc3 * q[i] + cc4 * _floor(qlat[r, i], qmin)
                c1[i] = cc1
                inf[i] = zero
        n_step_clamp = 0
        for i in range(n):
            x = b[i] + c1[i] * inf[i]
            if keep:
                store[t + 1, i] = x
            qn = x
            kd = down[i]
            if x < qmin:  # rare: only note it here (a cold branch slows the whole sweep)
                qn = qmin
                clamp_at[n_step_clamp] = i
                clamp_x[n_step_clamp] = x
                n_step_clamp += 1
            if kd >= 0:
                inf[kd] += x if after else qn
            else:
                vol_out += float(half_dt) * (float(q[i]) + float(qn))
            q[i] = qn
        for c in range(n_step_clamp):
            i = clamp_at[c]
            x = clamp_x[c]
            kd = down[i]
            if after and kd >= 0:  # the downstream sum held x_i: make it Σ_up Q_j(t+1)
                inf[kd] += qmin - x
            n_neg += x < zero
            # K_i(Q_i(t)) back from this step's C1 (dry networks clamp many reaches, and
            # evaluating K again cost 4-6 times the step; the volume is a diagnostic)
            ki = travel_time_of_c1(c1[i], xw[i], cst)
            kk = travel_time_of_c1(c1[kd], xw[kd], cst) if kd >= 0 else ki
            vol_clamp += clamp_volume_k(after, i, kd, qmin - x, ki, kk, xw, cst)
        n_clamp += n_step_clamp
    if not start_conv and n_steps:
        accumulate(q, ro_idx, sums, blk[n_steps - 1])
    for i in range(n):
        qfinal[i] = q[i]
    diag[0] += n_neg
    diag[1] += n_clamp
    diag[2] += vol_clamp
    diag[3] += vol_out
    diag[5] += prism_storage(mode, q, inf, theta, aux, xw, cst)


@njit(parallel=True, **_opts)
def prism_storage(mode, q, inflow, theta, aux, xw, cst):
    """Muskingum storage Σ_i K_i(Q_i)·(X_i·I_i + (1 − X_i)·Q_i) [m³] (I = upstream inflow)."""
    total = 0.0
    for i in prange(q.size):
        k = float(travel_time(mode, q[i], theta, aux, i, cst))
        x = float(xw[i])
        total += k * (x * float(inflow[i]) + (1.0 - x) * float(q[i]))
    return total


@njit(**_opts)
def lateral_stats(qlat, qmin):
    """(non-finite count, negative count, Σ max(q', qmin), Σ (max(q', qmin) − q')) of qlat."""
    bad = 0
    neg = 0
    total = 0.0
    added = 0.0
    for r in range(qlat.shape[0]):
        for i in range(qlat.shape[1]):
            v = float(qlat[r, i])
            if not math.isfinite(v):
                bad += 1
            elif v < 0.0:
                neg += 1
            elif v < qmin:
                total += qmin
                added += qmin - v
            else:
                total += v
    return bad, neg, total, added


@njit(parallel=True, **_opts)
def backward_kernel(mode, after, qlat, hold, theta, aux, xw, down, store, cst, ro_idx, blk,
                    start_conv, gsums, gqfinal, gtheta, gqlat, gq0):
    """Adjoint of ``forward_kernel`` (same arguments; ``store`` as the forward wrote it).

    gsums [rows, r], gqfinal [n] : adjoints of the outputs; writes gtheta [m, n] (dL/dθ),
    gqlat [R, n] (dL/dq', zero where q' was floored) and gq0 [n] (dL/dq0).
    """
    n = store.shape[1]
    n_steps = blk.size
    m = theta.shape[0]
    qmin, zero = cst[C_QMIN], cst[C_ZERO]
    # per step: g = dL/dQ (of t+1, then of t), xb = dL/dx, cc = C1…C4 and dK/dQ, kth = dK/dθ;
    # inq = Σ_up Q_j(t+1) carried from the step after, corr = Σ_up (Q_j − x_j)(t+1) ("after")
    g, xb, inq, corr = np.empty(n, store.dtype), np.empty(n, store.dtype), \
        np.zeros(n, store.dtype), np.zeros(n, store.dtype)
    cc = np.empty((5, n), dtype=store.dtype)
    kth = np.empty((5, n), dtype=store.dtype)
    gth = np.zeros((5, n), dtype=store.dtype)  # dL/dθ, all five rows (copied to gtheta)
    inq_t = np.zeros(n, store.dtype)           # Σ_up Q_j(t)
    for i in range(n):
        g[i] = gqfinal[i]
        if down[i] >= 0:
            inq[down[i]] += _floor(store[n_steps, i], qmin)
    for r in range(qlat.shape[0]):
        for i in range(n):
            gqlat[r, i] = zero
    if not start_conv:
        readout_adjoint(g, ro_idx, gsums, blk[n_steps - 1])
    for t in range(n_steps - 1, -1, -1):
        r = t // hold
        for i in prange(n):
            step_derivatives(mode, _floor(store[t, i], qmin), theta, aux, xw, i, cst, cc, kth)
        for i in range(n - 1, -1, -1):  # transposed system, downstream first
            kd = down[i]
            up = cc[0, kd] * xb[kd] if kd >= 0 else zero
            x1 = store[t + 1, i]
            free = x1 >= qmin
            if after:
                xb[i] = (g[i] if free else zero) + up
                if not free and kd >= 0:
                    corr[kd] += qmin - x1
            else:
                xb[i] = g[i] + up if free else zero
            if kd >= 0:  # Σ_up Q_j(t) by pushing (a gather over the upstream list is slower)
                inq_t[kd] += _floor(store[t, i], qmin)
        for i in prange(n):  # branch-free, so that it vectorises
            xbi = xb[i]
            i1 = inq[i] - corr[i] if after else inq[i]
            corr[i] = zero
            i0 = inq_t[i]
            inq_t[i] = zero
            inq[i] = i0
            qi = _floor(store[t, i], qmin)
            ql = qlat[r, i]
            kb = travel_time_adjoint(xbi * i1, xbi * i0, xbi * qi, xbi * _floor(ql, qmin),
                                     cc[3, i], xw[i], cst)
            gth[0, i] += kb * kth[0, i]
            gth[1, i] += kb * kth[1, i]
            gth[2, i] += kb * kth[2, i]
            gth[3, i] += kb * kth[3, i]
            gth[4, i] += kb * kth[4, i]
            gqlat[r, i] += xbi * cc[3, i] if ql >= qmin else zero
            kd = down[i]
            kc = kd if kd >= 0 else 0
            g[i] = xbi * cc[2, i] + kb * cc[4, i] + (cc[1, kc] * xb[kc] if kd >= 0 else zero)
        if start_conv:
            readout_adjoint(g, ro_idx, gsums, blk[t])
        elif t >= 1:
            readout_adjoint(g, ro_idx, gsums, blk[t - 1])
    for i in range(n):
        gq0[i] = g[i] if store[0, i] >= qmin else zero
        for j in range(m):
            gtheta[j, i] = gth[j, i]


@njit(**_opts)
def hot_start_forward(q, down, qmin, total):
    """total_i = floor(q_i) + Σ_{j∈up(i)} total_j (steady state of the network)."""
    for i in range(q.size):
        total[i] = _floor(q[i], qmin)
    for i in range(q.size):
        if down[i] >= 0:
            total[down[i]] += total[i]


@njit(**_opts)
def hot_start_backward(q, down, qmin, g, gq):
    """Adjoint of ``hot_start_forward``: λ_i = g_i + λ_down(i); gq_i = λ_i where q_i >= qmin."""
    lam = g.copy()
    for i in range(q.size - 1, -1, -1):
        if down[i] >= 0:
            lam[i] += lam[down[i]]
    for i in range(q.size):
        gq[i] = lam[i] if q[i] >= qmin else 0.0
