"""Scalar HBV 2.0 step equations shared by the CPU and CUDA kernels (forward sweep).

The step equations are those of ``reference.hbv_step`` (docs/model.md#daily-step), written for one day
of one component with scalar arguments, so that numba compiles them into both the CPU kernels
(``kernels_cpu``) and, rebound as device functions, the CUDA kernels (``kernels_cuda``). Their
adjoint is in ``adjoint``. :func:`forward_block` is the time loop of a range of basins, one day
at a time, that the CUDA forward kernel runs with one basin per thread.

Arithmetic stays in the dtype of the arrays (float32 or float64): every constant enters
through the ``cst`` array (:func:`make_constants`) so that numba never promotes float32
expressions to float64. Array layouts are the callers' time-major ones, read in place (any
strides), so that every day touches one contiguous slice per array: forcing [T, B] (P and PET
in mm/d, temperature in °C); dyn [T, B, nmul, 3] (BETA –, K0 1/d, BETAET –);
sta [B, nmul, 12] (``reference.CORE_STATIC``); states [5, B, nmul] (mm);
store [T, B, nmul, N_STORE] (or [..., 5]; any memory order); outputs [n_out, T, B]
(nmul means).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# cst layout: near-zero floor, 0, 1, 0.5, 1/nmul, then the affine map of the dynamic
# parameters (value = dyn * scale + lo, per BETA, K0, BETAET): lo0..lo2, scale0..scale2
(CST_NZ, CST_ZERO, CST_ONE, CST_HALF, CST_INV_NMUL, CST_LO0, CST_LO1, CST_LO2, CST_SC0, CST_SC1,
 CST_SC2) = range(11)

# store slots per day and component: the five start-of-day states, then x**beta and
# y**betaet (so that the reverse sweep needs no powers). A store with only the five states is
# accepted as well: the reverse sweep then recomputes the two powers.
N_STORE = 7


def make_constants(nz: float, nmul: int, dtype, dyn_affine=None) -> np.ndarray:
    """Typed constants array for the kernels (layout: the ``CST_*`` indices).

    nz is the near-zero floor (mm). ``dyn_affine`` = ((lo0, lo1, lo2), (scale0, scale1,
    scale2)) lets the kernels read normalised dynamic parameters σ and use σ·scale + lo (the
    same two float roundings as ``hbv2.descale``); the gradients they write are then with
    respect to σ. None means ``dyn`` already holds physical values (lo 0, scale 1).
    """
    lo, scale = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)) if dyn_affine is None else dyn_affine
    return np.array([nz, 0.0, 1.0, 0.5, 1.0 / nmul, *map(float, lo), *map(float, scale)],
                    dtype=dtype)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def unpack_constants(cst):
    """The scalars of the ``cst`` array (see ``make_constants``), in the arrays' dtype."""
    return (cst[CST_NZ], cst[CST_ZERO], cst[CST_ONE], cst[CST_HALF], cst[CST_INV_NMUL],
            cst[CST_LO0], cst[CST_LO1], cst[CST_LO2], cst[CST_SC0], cst[CST_SC1], cst[CST_SC2])


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def snow_part(sp, mw, p, tc, tt, cfmax, cfr, cwh, zero):
    """Snow part of the day: rain/snow split, melt, refreezing, liquid water to the soil."""
    if tc >= tt:
        rain = p
        snow = zero
    else:
        rain = zero
        snow = p
    sp1 = sp + snow
    m0 = cfmax * (tc - tt)
    m1 = m0 if m0 >= zero else zero
    melt = m1 if m1 <= sp1 else sp1
    mw1 = mw + melt
    sp2 = sp1 - melt
    r0 = (cfr * cfmax) * (tt - tc)
    r1 = r0 if r0 >= zero else zero
    refr = r1 if r1 <= mw1 else mw1
    sp3 = sp2 + refr
    mw2 = mw1 - refr
    ts0 = mw2 - cwh * sp3
    tosoil = ts0 if ts0 >= zero else zero
    mw3 = mw2 - tosoil
    return rain, sp1, m0, m1, melt, mw1, r0, r1, refr, sp3, mw2, ts0, tosoil, mw3


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def recharge_part(sm, fc, rain, tosoil, pw, zero, one):
    """Recharge with the power pw = (sm/fc)**BETA, then the excess over FC."""
    sw = pw
    if sw < zero:
        sw = zero
    elif sw > one:
        sw = one
    inflow = rain + tosoil
    rech = inflow * sw
    sm1 = sm + rain + tosoil - rech
    e0 = sm1 - fc
    excess = e0 if e0 >= zero else zero
    sm2 = sm1 - excess
    return sw, inflow, rech, sm1, e0, excess, sm2


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def after_et_power(sm2, suz, slz, pet, pe, rech, excess, k0, fc, k1, k2, percmax, uzl, c,
                    lf, bounded, nz, zero, one):
    """ET with the power pe = (sm2/(LP·FC))**BETAET, capillary rise, percolation, the three
    outflows and the regional exchange."""
    ef = pe
    if ef < zero:
        ef = zero
    elif ef > one:
        ef = one
    etp = pet * ef
    et = sm2 if sm2 <= etp else etp
    sm3u = sm2 - et
    sm3 = sm3u if sm3u >= nz else nz

    z = sm3 / fc
    zc = z if z <= one else one
    cp0 = c * slz * (one - zc)
    cap = slz if slz <= cp0 else cp0
    smc = sm3 + cap
    slzc = slz - cap
    sm4 = smc if smc >= nz else nz
    slz1 = slzc if slzc >= nz else nz
    clamp_w = (sm3 - sm3u) + (sm4 - smc) + (slz1 - slzc)

    suz1 = suz + rech + excess
    perc = suz1 if suz1 <= percmax else percmax
    suz2 = suz1 - perc
    h0 = suz2 - uzl
    h = h0 if h0 >= zero else zero
    q0 = k0 * h
    suz3 = suz2 - q0
    q1 = k1 * suz3
    suz4 = suz3 - q1
    slz2 = slz1 + perc

    if bounded:
        lo = nz - slz2
        lfr = lf if lf >= lo else lo
        slz3 = slz2 + lfr
        lfs = lo  # kept for the tie test in the adjoint
    else:
        lfs = slz2 + lf
        slz3 = lfs if lfs >= nz else nz
        lfr = slz3 - slz2
    q2 = k2 * slz3
    slz4 = slz3 - q2
    return (ef, etp, et, sm3u, sm3, z, zc, cp0, cap, smc, slzc, sm4, slz1, clamp_w, suz1, perc,
            suz2, h0, h, q0, suz3, q1, suz4, slz2, lfs, lfr, slz3, q2, slz4)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def step(sp, mw, sm, suz, slz, p, tc, pet, beta, k0, betaet,
          fc, k1, k2, lp, percmax, uzl, tt, cfmax, cfr, cwh, c, lf, bounded, nz, zero, one,
          have_pw, pw_in, pe_in):
    """One day for one component; returns every intermediate the adjoint needs.

    With ``have_pw`` the two powers x**beta and y**betaet are taken from ``pw_in``/``pe_in``
    (stored by the forward sweep) instead of being recomputed.
    """
    (rain, sp1, m0, m1, melt, mw1, r0, r1, refr, sp3, mw2, ts0, tosoil,
     mw3) = snow_part(sp, mw, p, tc, tt, cfmax, cfr, cwh, zero)
    x = sm / fc
    if have_pw:
        pw = pw_in
    else:
        pw = x ** beta
    sw, inflow, rech, sm1, e0, excess, sm2 = recharge_part(sm, fc, rain, tosoil, pw, zero, one)
    y = sm2 / (lp * fc)
    if have_pw:
        pe = pe_in
    else:
        pe = y ** betaet
    (ef, etp, et, sm3u, sm3, z, zc, cp0, cap, smc, slzc, sm4, slz1, clamp_w, suz1, perc, suz2,
     h0, h, q0, suz3, q1, suz4, slz2, lfs, lfr, slz3, q2, slz4) = after_et_power(
        sm2, suz, slz, pet, pe, rech, excess, k0, fc, k1, k2, percmax, uzl, c, lf, bounded, nz,
        zero, one)
    return (sp3, mw3, sm4, suz4, slz4,
            rain, sp1, m0, m1, melt, mw1, r0, r1, refr, sp3, mw2, ts0, tosoil,
            x, pw, sw, inflow, rech, sm1, e0, excess, sm2, y, pe, ef, etp, et, sm3u, sm3,
            z, zc, cp0, cap, smc, slzc, clamp_w, suz1, perc, suz2, h0, h, q0, suz3, q1,
            slz2, lfs, lfr, slz3, q2)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def add_full_outputs(out, t, b, rech, excess, tosoil, perc, cap, ef, lfr, clamp_w, sp, mw, sm,
                      suz, slz):
    """Add one component's fluxes and end-of-day states to the full outputs 5..17."""
    out[5, t, b] += rech
    out[6, t, b] += excess
    out[7, t, b] += tosoil
    out[8, t, b] += perc
    out[9, t, b] += cap
    out[10, t, b] += ef
    out[11, t, b] += lfr
    out[12, t, b] += clamp_w
    out[13, t, b] += sp
    out[14, t, b] += mw
    out[15, t, b] += sm
    out[16, t, b] += suz
    out[17, t, b] += slz


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def start_day(out, t, b, zero):
    """Clear the full outputs 5.. of day t of basin b; return the five zero sums (Q, Q0, Q1, Q2,
    ET) for the compact outputs."""
    for k in range(5, out.shape[0]):
        out[k, t, b] = zero
    return zero, zero, zero, zero, zero


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def finish_day(out, t, b, inv_n, acc_q, acc_q0, acc_q1, acc_q2, acc_et):
    """Write the nmul means of day t of basin b (compact outputs from the sums, full outputs
    scaled in place)."""
    out[0, t, b] = acc_q * inv_n
    out[1, t, b] = acc_q0 * inv_n
    out[2, t, b] = acc_q1 * inv_n
    out[3, t, b] = acc_q2 * inv_n
    out[4, t, b] = acc_et * inv_n
    for k in range(5, out.shape[0]):
        out[k, t, b] = out[k, t, b] * inv_n


@njit(cache=True, fastmath=False, error_model="numpy")
def forward_block(b0, b1, P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final):
    """Time loop of basins b0..b1-1, all components, one day at a time (the CUDA kernel runs
    it with one basin per thread; the CPU kernel runs ``kernels_cpu._forward_block_vec``,
    the same arithmetic vectorised across cells, with the powers by ``fastpow.fpow``). The
    nmul sums keep the order m = 0, 1, ... .
    """
    n_t, n_basin, n_mul, _ = dyn.shape
    n_out = out.shape[0]
    nz, zero, one, half, inv_n, lo0, lo1, lo2, sc0, sc1, sc2 = unpack_constants(cst)
    keep_pw = store.shape[3] > 5
    for b in range(b0, b1):
        for m in range(n_mul):
            for k in range(5):
                final[k, b, m] = s0[k, b, m]
    for t in range(n_t):
        for b in range(b0, b1):
            p = P[t, b]
            tc = TC[t, b]
            pet = PET[t, b]
            acc_q, acc_q0, acc_q1, acc_q2, acc_et = start_day(out, t, b, zero)
            for m in range(n_mul):
                sp = final[0, b, m]
                mw = final[1, b, m]
                sm = final[2, b, m]
                suz = final[3, b, m]
                slz = final[4, b, m]
                store[t, b, m, 0] = sp
                store[t, b, m, 1] = mw
                store[t, b, m, 2] = sm
                store[t, b, m, 3] = suz
                store[t, b, m, 4] = slz
                r = step(sp, mw, sm, suz, slz, p, tc, pet,
                          dyn[t, b, m, 0] * sc0 + lo0, dyn[t, b, m, 1] * sc1 + lo1,
                          dyn[t, b, m, 2] * sc2 + lo2,
                          sta[b, m, 0], sta[b, m, 1], sta[b, m, 2], sta[b, m, 3], sta[b, m, 4],
                          sta[b, m, 5], sta[b, m, 6], sta[b, m, 7], sta[b, m, 8], sta[b, m, 9],
                          sta[b, m, 10], sta[b, m, 11],
                          bounded, nz, zero, one, False, zero, zero)
                if keep_pw:
                    store[t, b, m, 5] = r[19]
                    store[t, b, m, 6] = r[28]
                final[0, b, m] = r[0]
                final[1, b, m] = r[1]
                final[2, b, m] = r[2]
                final[3, b, m] = r[3]
                final[4, b, m] = r[4]
                q0 = r[46]
                q1 = r[48]
                q2 = r[53]
                acc_q += q0 + q1 + q2
                acc_q0 += q0
                acc_q1 += q1
                acc_q2 += q2
                acc_et += r[31]
                if n_out > 5:
                    add_full_outputs(out, t, b, r[22], r[25], r[17], r[42], r[37], r[29],
                                      r[51], r[40], r[0], r[1], r[2], r[3], r[4])
            finish_day(out, t, b, inv_n, acc_q, acc_q0, acc_q1, acc_q2, acc_et)

