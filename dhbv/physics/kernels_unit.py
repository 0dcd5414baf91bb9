"""Per-unit CPU kernels of ``run_hbv2``: static parameter maps, gamma UH weights, UH routing.

Small numba kernels for the work around the fused time loop (``kernels_cpu``) on CPU, each one
compiled call instead of a chain of small torch operations:

* :func:`static_core` maps the normalised static parameters [B, 13, nmul] to the kernels'
  core static array [B, nmul, 12] (descaling, TT_eff, nominal exchange LF), with the same
  float operations as ``hbv2.descale``, ``hbv2.effective_tt`` and ``hbv2.nominal_exchange``;
  :func:`static_core_grad` is its adjoint.
* :func:`uh_midpoint_weights` computes the ``midpoint`` gamma UH weights from the normalised UH
  parameters (float64 inside, log-space, renormalised); :func:`uh_midpoint_weights_grad` is
  its adjoint.
* :func:`uh_route` is the causal UH convolution of a time-major series with an optional
  history of the days before the first day, summed in the order of ``kernels_cpu.uh_forward_kernel``
  (bit-identical to it on the history-extended series).

Arithmetic stays in the arrays' dtype (float32 or float64) where the torch code it replaces did
so: every constant enters through a typed array (``map_constants``), so numba never promotes
float32 expressions to float64.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

#: ``elev_threshold`` modes of :func:`static_core` (``hbv2.effective_tt``)
TT_PAPER, TT_NONE, TT_SMOOTH = 0, 1, 2
#: nominal exchange modes of :func:`static_core` (``hbv2.nominal_exchange``)
LF_OFF, LF_PAPER, LF_SMOOTH = 0, 1, 2
# slots of the constants array of the static maps (``map_constants``)
(K_ZERO, K_ONE, K_TWO, K_THREE, K_ELEV, K_ELEV_TT, K_BAND_LO, K_BAND, K_LF_SCALE,
 K_AREA_SWITCH, K_AREA_DECAY, K_EXP_FLOOR) = range(12)
N_K = 12
# static parameter rows (``hbv2.STATIC_PARAMETERS``) and core columns (``reference.CORE_STATIC``)
S_TT, S_RT, S_AC = 6, 11, 12
C_TT, C_LF = 6, 11
N_STATIC, N_CORE = 13, 12


def map_constants(dtype, elev_switch: float, elev_tt: float, band: float, lf_scale: float,
                  area_switch: float, area_decay: float, exp_floor: float) -> np.ndarray:
    """Typed constants array of :func:`static_core` (slots ``K_*``).

    elev_switch (m) and elev_tt (°C): the TT_eff switch; band (m): width of the smooth blend
    centred on the switch; lf_scale (km²): area scale of the exchange branches; area_switch
    (km²) and area_decay (km²): switch and decay of the large-area branch; exp_floor (–): the
    lower clamp of its exponent.
    """
    return np.array([0.0, 1.0, 2.0, 3.0, elev_switch, elev_tt, elev_switch - band / 2, band,
                     lf_scale, area_switch, area_decay, exp_floor], dtype=dtype)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _smooth_weight(e, k):
    """Smoothstep weight w in [0, 1] of the TT_eff blend at elevation e (m)."""
    s = (e - k[K_BAND_LO]) / k[K_BAND]
    s = k[K_ZERO] if s < k[K_ZERO] else s
    s = k[K_ONE] if s > k[K_ONE] else s
    return s * s * (k[K_THREE] - k[K_TWO] * s)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _basin_factors(e, a, k, tt_mode):
    """Per-basin factors of the static maps at elevation e (m) and upstream area a (km²): the
    TT_eff blend weight w, whether e is at or above the elevation switch, and the large-area
    decay factor of the paper's exchange."""
    w = _smooth_weight(e, k) if tt_mode == TT_SMOOTH else k[K_ZERO]
    high = e >= k[K_ELEV]
    y = -(a - k[K_AREA_SWITCH]) / k[K_AREA_DECAY]
    y = k[K_EXP_FLOOR] if y < k[K_EXP_FLOOR] else y
    y = k[K_ZERO] if y > k[K_ZERO] else y
    return w, high, math.exp(y)


@njit(cache=True, fastmath=False, error_model="numpy")
def static_core(static, elev, uparea, lo, scale, k, tt_mode, lf_mode, core):
    """Core static array core [B, nmul, 12] from static [B, 13, nmul] in [0, 1] (in place).

    Each parameter is σ·scale + lo (lo, scale [13], the ``hbv2.descale`` map); column 6 is
    TT_eff (°C) from TT and elev [B] (m) by ``tt_mode``; column 11 is the nominal exchange LF
    (mm/d) from RT (mm/d), AC (km²) and uparea [B] (km²) by ``lf_mode``; k: ``map_constants``.
    """
    static_core_range(0, static.shape[0], static, elev, uparea, lo, scale, k, tt_mode, lf_mode,
                      core)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def static_core_range(b0, b1, static, elev, uparea, lo, scale, k, tt_mode, lf_mode, core):
    """:func:`static_core` for the basins b0..b1 − 1 only."""
    n_m = static.shape[2]
    zero = k[K_ZERO]
    one = k[K_ONE]
    for b in range(b0, b1):
        a = uparea[b]
        w, high, decay = _basin_factors(elev[b], a, k, tt_mode)
        for m in range(n_m):
            for j in range(N_CORE - 1):
                core[b, m, j] = static[b, j, m] * scale[j] + lo[j]
            tt = core[b, m, C_TT]
            if tt_mode == TT_PAPER:
                core[b, m, C_TT] = k[K_ELEV_TT] if high else tt
            elif tt_mode == TT_SMOOTH:
                core[b, m, C_TT] = tt + w * (k[K_ELEV_TT] - tt)
            rt = static[b, S_RT, m] * scale[S_RT] + lo[S_RT]
            ac = static[b, S_AC, m] * scale[S_AC] + lo[S_AC]
            if lf_mode == LF_OFF:
                lf = zero
            elif lf_mode == LF_SMOOTH:
                lf = rt * math.tanh((a - ac) / k[K_LF_SCALE])
            elif a < k[K_AREA_SWITCH]:
                z = (a - ac) / k[K_LF_SCALE]
                z = -one if z < -one else z
                z = one if z > one else z
                lf = z * rt
            else:
                lf = decay * rt
            core[b, m, C_LF] = lf


@njit(cache=True, fastmath=False, error_model="numpy")
def static_core_grad(static, elev, uparea, lo, scale, k, tt_mode, lf_mode, g_core, g_static):
    """Adjoint of :func:`static_core`: g_static [B, 13, nmul] from g_core [B, nmul, 12].

    Piecewise derivatives as torch's autograd takes them: a clamp passes the gradient on its
    closed interval, the elevation switch passes it below 2000 m only.
    """
    n_b, _, n_m = static.shape
    zero = k[K_ZERO]
    one = k[K_ONE]
    for b in range(n_b):
        a = uparea[b]
        w, high, decay = _basin_factors(elev[b], a, k, tt_mode)
        for m in range(n_m):
            for j in range(N_CORE - 1):
                g_static[b, j, m] = g_core[b, m, j] * scale[j]
            g = g_core[b, m, C_TT]
            if tt_mode == TT_PAPER:
                g = zero if high else g
            elif tt_mode == TT_SMOOTH:
                g = g - g * w
            g_static[b, S_TT, m] = g * scale[S_TT]
            g = g_core[b, m, C_LF]
            rt = static[b, S_RT, m] * scale[S_RT] + lo[S_RT]
            ac = static[b, S_AC, m] * scale[S_AC] + lo[S_AC]
            if lf_mode == LF_OFF:
                d_rt = zero
                d_ac = zero
            elif lf_mode == LF_SMOOTH:
                th = math.tanh((a - ac) / k[K_LF_SCALE])
                d_rt = th
                d_ac = -(rt * (one - th * th)) / k[K_LF_SCALE]
            elif a < k[K_AREA_SWITCH]:
                z = (a - ac) / k[K_LF_SCALE]
                inside = z >= -one and z <= one
                d_rt = (one if z > one else (-one if z < -one else z))
                d_ac = -rt / k[K_LF_SCALE] if inside else zero
            else:
                d_rt = decay
                d_ac = zero
            g_static[b, S_RT, m] = (g * d_rt) * scale[S_RT]
            g_static[b, S_AC, m] = (g * d_ac) * scale[S_AC]


# slots of the parameter array of the UH weights: the descaling (lo, scale) of route_a and
# route_b, then the offsets of the gamma shape (–) and scale (d)
(U_LO_A, U_SC_A, U_LO_B, U_SC_B, U_A0, U_THETA0, U_ZERO) = range(7)


def uh_constants(dtype, lo_a: float, scale_a: float, lo_b: float, scale_b: float,
                 shape_offset: float, scale_offset: float) -> np.ndarray:
    """Typed parameter array of :func:`uh_midpoint_weights` (slots ``U_*``): route = σ·scale
    + lo, shape a = max(route_a, 0) + shape_offset (–), scale θ = max(route_b, 0) +
    scale_offset (d)."""
    return np.array([lo_a, scale_a, lo_b, scale_b, shape_offset, scale_offset, 0.0],
                    dtype=dtype)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _shape_scale(sig, b, u):
    """(route_a, route_b, a, θ) of unit b in the dtype of sig [B, 2] (as ``uh.gamma_shape_scale``
    after ``hbv2.descale``)."""
    ra = sig[b, 0] * u[U_SC_A] + u[U_LO_A]
    rb = sig[b, 1] * u[U_SC_B] + u[U_LO_B]
    a = (ra if ra > u[U_ZERO] else u[U_ZERO]) + u[U_A0]
    theta = (rb if rb > u[U_ZERO] else u[U_ZERO]) + u[U_THETA0]
    return ra, rb, a, theta


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _log_density(a, theta, k, ln_t):
    """log of the unnormalised gamma density t^(a−1)·exp(−t/θ) at t = k + 0.5 (float64);
    ln_t = ln(t)."""
    t = k + 0.5
    return (a - 1.0) * ln_t - t / theta


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _log_days(n_l):
    """ln(k + 0.5) for k = 0..n_l − 1 (float64)."""
    ln_t = np.empty(n_l)
    for k in range(n_l):
        ln_t[k] = math.log(k + 0.5)
    return ln_t


@njit(cache=True, fastmath=False, error_model="numpy")
def uh_midpoint_weights(sig, u, w):
    """Midpoint gamma UH weights w [B, L] (sum 1 per unit) from σ [B, 2] in [0, 1] (in place).

    w_k ∝ t_k^(a−1)·exp(−t_k/θ) at t_k = k + 0.5 d (the density's constant Γ(a)θ^a cancels in
    the renormalisation), evaluated in float64 in log space (no underflow of long kernels) and
    rounded once to the dtype of w. a and θ as in :func:`_shape_scale`.
    """
    uh_midpoint_weights_range(0, w.shape[0], sig, u, w)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _unnormalised_weights(a64, th64, ln_t, lw):
    """exp(ln density − its maximum) of the L midpoint days into lw (float64, in place);
    returns their sum."""
    n_l = lw.shape[0]
    top = -np.inf
    for k in range(n_l):
        lw[k] = _log_density(a64, th64, k, ln_t[k])
        top = lw[k] if lw[k] > top else top
    total = 0.0
    for k in range(n_l):
        lw[k] = math.exp(lw[k] - top)
        total += lw[k]
    return total


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def uh_midpoint_weights_range(b0, b1, sig, u, w):
    """:func:`uh_midpoint_weights` for the units b0..b1 − 1 only."""
    n_l = w.shape[1]
    lw = np.empty(n_l)
    ln_t = _log_days(n_l)
    for b in range(b0, b1):
        _ra, _rb, a, theta = _shape_scale(sig, b, u)
        total = _unnormalised_weights(np.float64(a), np.float64(theta), ln_t, lw)
        for k in range(n_l):
            w[b, k] = lw[k] / total


@njit(cache=True, fastmath=False, error_model="numpy")
def uh_midpoint_weights_grad(sig, u, g_w, g_sig):
    """Adjoint of :func:`uh_midpoint_weights`: g_sig [B, 2] from g_w [B, L] (float64 inside).

    With w_k the normalised weights, ∂w_k/∂a = w_k·(ln t_k − Σ_j w_j ln t_j) and
    ∂w_k/∂θ = w_k·(t_k − Σ_j w_j t_j)/θ²; the max(route, 0) passes the gradient for route > 0.
    """
    n_b, n_l = g_w.shape
    lw = np.empty(n_l)
    ln_t = _log_days(n_l)
    for b in range(n_b):
        ra, rb, a, theta = _shape_scale(sig, b, u)
        th64 = np.float64(theta)
        total = _unnormalised_weights(np.float64(a), th64, ln_t, lw)
        s_gw = 0.0  # Σ g_k w_k
        s_gw_ln = 0.0  # Σ g_k w_k ln t_k
        s_gw_t = 0.0  # Σ g_k w_k t_k
        s_ln = 0.0  # Σ w_k ln t_k
        s_t = 0.0  # Σ w_k t_k
        for k in range(n_l):
            wk = lw[k] / total
            t = k + 0.5
            gk = np.float64(g_w[b, k]) * wk
            s_gw += gk
            s_gw_ln += gk * ln_t[k]
            s_gw_t += gk * t
            s_ln += wk * ln_t[k]
            s_t += wk * t
        g_a = s_gw_ln - s_gw * s_ln
        g_theta = (s_gw_t - s_gw * s_t) / (th64 * th64)
        g_sig[b, 0] = g_a * u[U_SC_A] if ra > u[U_ZERO] else u[U_ZERO]
        g_sig[b, 1] = g_theta * u[U_SC_B] if rb > u[U_ZERO] else u[U_ZERO]


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def transposed_weights(w, b0, b1):
    """UH weights w [B, L] of the basins b0..b1 − 1 as [L, b1 − b0] (contiguous over basins,
    so that the convolution's basin loops vectorise)."""
    n_l = w.shape[1]
    wt = np.empty((n_l, b1 - b0), dtype=w.dtype)
    for j in range(b1 - b0):
        for k in range(n_l):
            wt[k, j] = w[b0 + j, k]
    return wt


@njit(cache=True, parallel=True, fastmath=False, error_model="numpy")
def uh_route(q, hist, comp, w, y):
    """Causal UH convolution of a time-major series with a history (in place).

    q, y [T, B] (mm/d); w [B, L]; hist [H, B, 3] unrouted Q0, Q1, Q2 (mm/d) of the H days
    before day 0, oldest first (H = 0: zero history; else H = L − 1). The history series is
    component ``comp`` of hist, or for comp < 0 the sum (Q0 + Q1) + Q2. y[t, b] = Σ_k w[b, k]·
    x(t − k), x the history-extended series, summed as a running sum in the order k = 0, 1, …;
    without a history the terms before day 0 are skipped (as ``kernels_cpu.uh_forward_kernel``).
    Days in parallel, basins innermost (contiguous: vectorised).
    """
    n_t, n_b = q.shape
    n_l = w.shape[1]
    n_h = hist.shape[0]
    wt = transposed_weights(w, 0, n_b)
    for t in prange(n_t):
        for b in range(n_b):
            y[t, b] = wt[0, b] * q[t, b]
        for k in range(1, n_l):
            s = t - k
            if s >= 0:
                for b in range(n_b):
                    y[t, b] += wt[k, b] * q[s, b]
            elif s >= -n_h:
                i = n_h + s
                if comp < 0:
                    for b in range(n_b):
                        y[t, b] += wt[k, b] * ((hist[i, b, 0] + hist[i, b, 1]) + hist[i, b, 2])
                else:
                    for b in range(n_b):
                        y[t, b] += wt[k, b] * hist[i, b, comp]
            else:
                break


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def uh_route_range(b0, b1, q, hist, comp, w, y):
    """:func:`uh_route` for the basins b0..b1 − 1 only, days in sequence (the same sums, so
    the same values); for a thread that owns a range of basins. The day rows are sliced to
    the range first (1-D views: the basin loops vectorise)."""
    n_t = q.shape[0]
    n_l = w.shape[1]
    n_h = hist.shape[0]
    nb = b1 - b0
    wt = transposed_weights(w, b0, b1)
    for t in range(n_t):
        yt = y[t, b0:b1]
        qt = q[t, b0:b1]
        w0 = wt[0]
        for j in range(nb):
            yt[j] = w0[j] * qt[j]
        for k in range(1, n_l):
            s = t - k
            wk = wt[k]
            if s >= 0:
                qs = q[s, b0:b1]
                for j in range(nb):
                    yt[j] += wk[j] * qs[j]
            elif s >= -n_h:
                hs = hist[n_h + s, b0:b1]
                if comp < 0:
                    for j in range(nb):
                        yt[j] += wk[j] * ((hs[j, 0] + hs[j, 1]) + hs[j, 2])
                else:
                    for j in range(nb):
                        yt[j] += wk[j] * hs[j, comp]
            else:
                break


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def final_history_range(b0, b1, out, hist, hist_out):
    """Unrouted Q0, Q1, Q2 (mm/d; rows 1–3 of out [n_out, T, B]) of the last L − 1 days of
    the basins b0..b1 − 1 into hist_out [L − 1, B, 3], oldest first; days before the run
    from hist [H, B, 3] (H = 0: zero)."""
    n_t = out.shape[1]
    n_hist = hist_out.shape[0]
    n_h = hist.shape[0]
    for i in range(n_hist):
        s = n_t - n_hist + i
        for b in range(b0, b1):
            for c in range(3):
                if s >= 0:
                    hist_out[i, b, c] = out[1 + c, s, b]
                elif n_h > 0:
                    hist_out[i, b, c] = hist[n_h + s, b, c]
                else:
                    hist_out[i, b, c] = 0.0
