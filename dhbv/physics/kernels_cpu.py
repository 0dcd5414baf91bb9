"""Fused numba kernels for the HBV 2.0 time loop on CPU: forward and hand-derived adjoint.

The step equations are those of ``reference.hbv_step`` (model_spec §2.5). The forward kernel
runs the whole time loop for a block of basins (days outer, basins and components inner), writes
nmul-mean outputs and stores the five states at the start of every day. The backward kernel
sweeps time in reverse, recomputes each day from the stored start-of-day states (and the two
stored powers) and applies the adjoint of every operation.

Non-smooth points follow torch autograd's conventions so that gradients equal those of the
plain-torch reference: ``clamp(x, min=c)`` passes the gradient where x >= c (and
``clamp(x, max=c)`` where x <= c); binary ``minimum``/``maximum`` split it equally on ties;
the rain/snow indicator has no gradient; d(x^β)/dβ is 0 at x = 0.

Arithmetic stays in the dtype of the arrays (float32 or float64): every constant enters
through the ``cst`` array so that numba never promotes float32 expressions to float64.
Array layouts are the callers' time-major ones, read in place (any strides), so that every day
touches one contiguous slice per array: forcing [T, B]; dyn [T, B, nmul, 3];
sta [B, nmul, 12] (``reference.CORE_STATIC``); states [5, B, nmul];
store [T, B, nmul, N_STORE] (or [..., 5]; any memory order);
outputs [n_out, T, B] (nmul means).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# cst layout: near-zero floor, 0, 1, 0.5, 1/nmul, then the affine map of the dynamic
# parameters (value = dyn * scale + lo, per BETA, K0, BETAET): lo0..lo2, scale0..scale2
(CST_NZ, CST_ZERO, CST_ONE, CST_HALF, CST_INV_NMUL, CST_LO0, CST_LO1, CST_LO2, CST_SC0, CST_SC1,
 CST_SC2) = range(11)

# store slots per day and component: the five start-of-day states, then x**beta and
# y**betaet (so that the reverse sweep needs no powers). A store with only the five states is
# accepted as well: the reverse sweep then recomputes the two powers.
N_STORE = 7


def make_constants(nz: float, nmul: int, dtype, dyn_lo=(0.0, 0.0, 0.0),
                   dyn_scale=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Typed constants array for the kernels.

    ``dyn_lo``/``dyn_scale`` let the kernels read normalised dynamic parameters σ and use
    σ·scale + lo (the same two float roundings as ``hbv2.descale``); the gradients they write
    are then with respect to σ. The defaults (0, 1) mean ``dyn`` already holds physical values.
    """
    return np.array([nz, 0.0, 1.0, 0.5, 1.0 / nmul, *dyn_lo, *dyn_scale], dtype=dtype)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _constants(cst):
    """The scalars of the ``cst`` array (see ``make_constants``), in the arrays' dtype."""
    return (cst[CST_NZ], cst[CST_ZERO], cst[CST_ONE], cst[CST_HALF], cst[CST_INV_NMUL],
            cst[CST_LO0], cst[CST_LO1], cst[CST_LO2], cst[CST_SC0], cst[CST_SC1], cst[CST_SC2])


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _snow(sp, mw, p, tc, tt, cfmax, cfr, cwh, zero):
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
def _recharge(sm, fc, rain, tosoil, pw, zero, one):
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
def _after_et_power(sm2, suz, slz, pet, pe, rech, excess, k0, fc, k1, k2, percmax, uzl, c,
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
def _step(sp, mw, sm, suz, slz, p, tc, pet, beta, k0, betaet,
          fc, k1, k2, lp, percmax, uzl, tt, cfmax, cfr, cwh, c, lf, bounded, nz, zero, one,
          have_pw, pw_in, pe_in):
    """One day for one component; returns every intermediate the adjoint needs.

    With ``have_pw`` the two powers x**beta and y**betaet are taken from ``pw_in``/``pe_in``
    (stored by the forward sweep) instead of being recomputed.
    """
    (rain, sp1, m0, m1, melt, mw1, r0, r1, refr, sp3, mw2, ts0, tosoil,
     mw3) = _snow(sp, mw, p, tc, tt, cfmax, cfr, cwh, zero)
    x = sm / fc
    if have_pw:
        pw = pw_in
    else:
        pw = x ** beta
    sw, inflow, rech, sm1, e0, excess, sm2 = _recharge(sm, fc, rain, tosoil, pw, zero, one)
    y = sm2 / (lp * fc)
    if have_pw:
        pe = pe_in
    else:
        pe = y ** betaet
    (ef, etp, et, sm3u, sm3, z, zc, cp0, cap, smc, slzc, sm4, slz1, clamp_w, suz1, perc, suz2,
     h0, h, q0, suz3, q1, suz4, slz2, lfs, lfr, slz3, q2, slz4) = _after_et_power(
        sm2, suz, slz, pet, pe, rech, excess, k0, fc, k1, k2, percmax, uzl, c, lf, bounded, nz,
        zero, one)
    return (sp3, mw3, sm4, suz4, slz4,
            rain, sp1, m0, m1, melt, mw1, r0, r1, refr, sp3, mw2, ts0, tosoil,
            x, pw, sw, inflow, rech, sm1, e0, excess, sm2, y, pe, ef, etp, et, sm3u, sm3,
            z, zc, cp0, cap, smc, slzc, clamp_w, suz1, perc, suz2, h0, h, q0, suz3, q1,
            slz2, lfs, lfr, slz3, q2)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _add_full_outputs(out, t, b, rech, excess, tosoil, perc, cap, ef, lfr, clamp_w, sp, mw, sm,
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
def _start_day(out, t, b, zero):
    """Clear the full outputs 5.. of day t of basin b; return the five zero sums (Q, Q0, Q1, Q2,
    ET) for the compact outputs."""
    for k in range(5, out.shape[0]):
        out[k, t, b] = zero
    return zero, zero, zero, zero, zero


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _finish_day(out, t, b, inv_n, acc_q, acc_q0, acc_q1, acc_q2, acc_et):
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
def _forward_block(b0, b1, P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final):
    """Time loop of basins b0..b1-1, all components, one day at a time (the CUDA kernel runs
    it with one basin per thread; the CPU kernel runs ``_forward_block_phased``, the same
    arithmetic in phases). The nmul sums keep the order m = 0, 1, ... .
    """
    n_t, n_basin, n_mul, _ = dyn.shape
    n_out = out.shape[0]
    nz, zero, one, half, inv_n, lo0, lo1, lo2, sc0, sc1, sc2 = _constants(cst)
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
            acc_q, acc_q0, acc_q1, acc_q2, acc_et = _start_day(out, t, b, zero)
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
                r = _step(sp, mw, sm, suz, slz, p, tc, pet,
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
                    _add_full_outputs(out, t, b, r[22], r[25], r[17], r[42], r[37], r[29],
                                      r[51], r[40], r[0], r[1], r[2], r[3], r[4])
            _finish_day(out, t, b, inv_n, acc_q, acc_q0, acc_q1, acc_q2, acc_et)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _powers(base, expo):
    """expo[i] = base[i] ** expo[i], in place: a loop of nothing but power calls."""
    for i in range(base.shape[0]):
        expo[i] = base[i] ** expo[i]


@njit(cache=True, fastmath=False, error_model="numpy")
def _forward_block_phased(b0, b1, P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final):
    """CPU variant of :func:`_forward_block` (same arithmetic, bit-identical results).

    Each day runs in phases over all cells of the block: snow and x = SM/FC; the powers
    x**BETA; recharge and y = SM/(LP·FC); the powers y**BETAET; the rest. The power loops then
    hold nothing but ``powf`` calls, so no day's state has to be spilled around them, and the
    arithmetic phases are free of calls.
    """
    n_t, n_basin, n_mul, _ = dyn.shape
    n_out = out.shape[0]
    nz, zero, one, half, inv_n, lo0, lo1, lo2, sc0, sc1, sc2 = _constants(cst)
    keep_pw = store.shape[3] > 5
    n_cell = (b1 - b0) * n_mul
    # per-cell scratch of one day: base, exponent / power, rain, tosoil, rech, excess, sm2
    xs = np.empty(n_cell, dtype=P.dtype)
    es = np.empty(n_cell, dtype=P.dtype)
    rain_s = np.empty(n_cell, dtype=P.dtype)
    ts_s = np.empty(n_cell, dtype=P.dtype)
    rech_s = np.empty(n_cell, dtype=P.dtype)
    exc_s = np.empty(n_cell, dtype=P.dtype)
    sm2_s = np.empty(n_cell, dtype=P.dtype)
    for b in range(b0, b1):
        for m in range(n_mul):
            for k in range(5):
                final[k, b, m] = s0[k, b, m]
    for t in range(n_t):
        # phase 1: snow; x = SM/FC
        i = 0
        for b in range(b0, b1):
            p = P[t, b]
            tc = TC[t, b]
            for m in range(n_mul):
                sp = final[0, b, m]
                mw = final[1, b, m]
                sm = final[2, b, m]
                store[t, b, m, 0] = sp
                store[t, b, m, 1] = mw
                store[t, b, m, 2] = sm
                store[t, b, m, 3] = final[3, b, m]
                store[t, b, m, 4] = final[4, b, m]
                (rain, _sp1, _m0, _m1, _melt, _mw1, _r0, _r1, _refr, sp3, _mw2, _ts0, tosoil,
                 mw3) = _snow(sp, mw, p, tc, sta[b, m, 6], sta[b, m, 7], sta[b, m, 8],
                              sta[b, m, 9], zero)
                final[0, b, m] = sp3
                final[1, b, m] = mw3
                rain_s[i] = rain
                ts_s[i] = tosoil
                xs[i] = sm / sta[b, m, 0]
                es[i] = dyn[t, b, m, 0] * sc0 + lo0
                i += 1
        _powers(xs, es)  # phase 2: x**BETA
        # phase 3: recharge, excess; y = SM/(LP·FC); the exponent BETAET
        i = 0
        for b in range(b0, b1):
            for m in range(n_mul):
                fc = sta[b, m, 0]
                pw = es[i]
                if keep_pw:
                    store[t, b, m, 5] = pw
                (_sw, _inflow, rech, _sm1, _e0, excess, sm2) = _recharge(
                    final[2, b, m], fc, rain_s[i], ts_s[i], pw, zero, one)
                rech_s[i] = rech
                exc_s[i] = excess
                sm2_s[i] = sm2
                xs[i] = sm2 / (sta[b, m, 3] * fc)
                es[i] = dyn[t, b, m, 2] * sc2 + lo2
                i += 1
        _powers(xs, es)  # phase 4: y**BETAET
        # phase 5: ET, capillary rise, percolation, outflows, exchange; nmul means
        i = 0
        for b in range(b0, b1):
            pet = PET[t, b]
            acc_q, acc_q0, acc_q1, acc_q2, acc_et = _start_day(out, t, b, zero)
            for m in range(n_mul):
                pe = es[i]
                if keep_pw:
                    store[t, b, m, 6] = pe
                (ef, _etp, et, _sm3u, _sm3, _z, _zc, _cp0, cap, _smc, _slzc, sm4, _slz1,
                 clamp_w, _suz1, perc, _suz2, _h0, _h, q0, _suz3, q1, suz4, _slz2, _lfs, lfr,
                 _slz3, q2, slz4) = _after_et_power(
                    sm2_s[i], final[3, b, m], final[4, b, m], pet, pe, rech_s[i], exc_s[i],
                    dyn[t, b, m, 1] * sc1 + lo1, sta[b, m, 0], sta[b, m, 1], sta[b, m, 2],
                    sta[b, m, 4], sta[b, m, 5], sta[b, m, 10], sta[b, m, 11], bounded, nz,
                    zero, one)
                final[2, b, m] = sm4
                final[3, b, m] = suz4
                final[4, b, m] = slz4
                acc_q += q0 + q1 + q2
                acc_q0 += q0
                acc_q1 += q1
                acc_q2 += q2
                acc_et += et
                if n_out > 5:
                    _add_full_outputs(out, t, b, rech_s[i], exc_s[i], ts_s[i], perc, cap, ef,
                                      lfr, clamp_w, final[0, b, m], final[1, b, m], sm4, suz4,
                                      slz4)
                i += 1
            _finish_day(out, t, b, inv_n, acc_q, acc_q0, acc_q1, acc_q2, acc_et)


def block_size(n_basin: int, n_mul: int, n_threads: int) -> int:
    """Basins per parallel block: about 64 cells per block, and >= 8 blocks per thread when
    there are enough basins (load balance)."""
    per_cells = max(1, 64 // max(1, n_mul))
    per_balance = max(1, -(-n_basin // (8 * max(1, n_threads))))
    return max(1, min(per_cells, per_balance))


@njit(cache=True, parallel=True, fastmath=False, error_model="numpy")
def forward_kernel(P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final, block):
    """Run the time loop; fills ``out`` (nmul means), ``store`` and ``final`` in place."""
    n_basin = dyn.shape[1]
    n_block = (n_basin + block - 1) // block
    for i in prange(n_block):
        b0 = i * block
        _forward_block_phased(b0, min(b0 + block, n_basin), P, TC, PET, dyn, sta, s0, bounded,
                              cst, out, store, final)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _split_min(a, b, g, zero, half):
    """Gradient of min(a, b) w.r.t. (a, b), torch convention (equal split on ties)."""
    if a < b:
        return g, zero
    elif a > b:
        return zero, g
    return g * half, g * half


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _pow_grads(x, e, pw, g, zero, one):
    """(d/dx, d/de) of x**e times g, torch convention (d/de = 0 at x = 0).

    x**(e-1) is taken as pw/x for x != 0 (pw = x**e from the forward recomputation), which
    saves a power per call; at x = 0 the power itself keeps torch's 0/inf conventions.
    """
    if x == zero:
        gx = g * e * x ** (e - one)
        ge = zero
    else:
        gx = g * e * (pw / x)
        ge = g * pw * math.log(x)
    return gx, ge


@njit(cache=True, fastmath=False, error_model="numpy")
def _backward_cell(b, m, P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn, gsta,
                   gs0):
    """Reverse sweep of component ``m`` of basin ``b`` (shared by the CPU and CUDA kernels).

    Cell-outer, time-inner: the running adjoints and the static-parameter gradients stay in
    registers.
    """
    n_t = dyn.shape[0]
    n_out = gout.shape[0]
    nz, zero, one, half, inv_n, lo0, lo1, lo2, sc0, sc1, sc2 = _constants(cst)
    have_pw = store.shape[3] > 5
    fc = sta[b, m, 0]
    k1 = sta[b, m, 1]
    k2 = sta[b, m, 2]
    lp = sta[b, m, 3]
    percmax = sta[b, m, 4]
    uzl = sta[b, m, 5]
    tt = sta[b, m, 6]
    cfmax = sta[b, m, 7]
    cfr = sta[b, m, 8]
    cwh = sta[b, m, 9]
    c = sta[b, m, 10]
    lf = sta[b, m, 11]
    g_fc = zero
    g_k1 = zero
    g_k2 = zero
    g_lp = zero
    g_percmax = zero
    g_uzl = zero
    g_tt = zero
    g_cfmax = zero
    g_cfr = zero
    g_cwh = zero
    g_c = zero
    g_lf = zero
    a_sp = gfinal[0, b, m]
    a_mw = gfinal[1, b, m]
    a_sm = gfinal[2, b, m]
    a_suz = gfinal[3, b, m]
    a_slz = gfinal[4, b, m]
    # reciprocals once per component: multiplications keep divisions off the adjoint chain
    inv_fc = one / fc
    inv_fc2 = inv_fc * inv_fc
    inv_den = one / (lp * fc)
    inv_den2 = inv_den * inv_den
    for t in range(n_t - 1, -1, -1):
        sp = store[t, b, m, 0]
        mw = store[t, b, m, 1]
        sm = store[t, b, m, 2]
        suz = store[t, b, m, 3]
        slz = store[t, b, m, 4]
        beta = dyn[t, b, m, 0] * sc0 + lo0
        k0 = dyn[t, b, m, 1] * sc1 + lo1
        betaet = dyn[t, b, m, 2] * sc2 + lo2
        pet = PET[t, b]
        tc = TC[t, b]
        if have_pw:
            pw_in = store[t, b, m, 5]
            pe_in = store[t, b, m, 6]
        else:
            pw_in = zero
            pe_in = zero
        (_sp4, _mw3, _sm4, _suz4, _slz4,
         rain, sp1, m0, m1, melt, mw1, r0, r1, refr, sp3, mw2, ts0, tosoil,
         x, pw, sw, inflow, rech, sm1, e0, excess, sm2, y, pe, ef, etp, et, sm3u, sm3,
         z, zc, cp0, cap, smc, slzc, clamp_w, suz1, perc, suz2, h0, h, q0, suz3, q1,
         slz2, lfs, lfr, slz3, q2) = _step(
            sp, mw, sm, suz, slz, P[t, b], tc, pet, beta, k0, betaet,
            fc, k1, k2, lp, percmax, uzl, tt, cfmax, cfr, cwh, c, lf,
            bounded, nz, zero, one, have_pw, pw_in, pe_in)

        # seeds from the outputs of day t (nmul mean -> 1/nmul per component)
        g_q = gout[0, t, b] * inv_n
        a_q0 = g_q + gout[1, t, b] * inv_n
        a_q1 = g_q + gout[2, t, b] * inv_n
        a_q2 = g_q + gout[3, t, b] * inv_n
        a_et = gout[4, t, b] * inv_n
        a_rech = zero
        a_exc = zero
        a_ts = zero
        a_perc = zero
        a_cap = zero
        a_ef = zero
        a_lfr = zero
        a_cl = zero
        if n_out > 5:
            a_rech = gout[5, t, b] * inv_n
            a_exc = gout[6, t, b] * inv_n
            a_ts = gout[7, t, b] * inv_n
            a_perc = gout[8, t, b] * inv_n
            a_cap = gout[9, t, b] * inv_n
            a_ef = gout[10, t, b] * inv_n
            a_lfr = gout[11, t, b] * inv_n
            a_cl = gout[12, t, b] * inv_n
            a_sp = a_sp + gout[13, t, b] * inv_n
            a_mw = a_mw + gout[14, t, b] * inv_n
            a_sm = a_sm + gout[15, t, b] * inv_n
            a_suz = a_suz + gout[16, t, b] * inv_n
            a_slz = a_slz + gout[17, t, b] * inv_n
        a_sp3 = a_sp
        a_mw3 = a_mw
        a_sm4 = a_sm
        a_suz4 = a_suz
        a_slz4 = a_slz

        # baseflow: q2 = k2*slz3, slz4 = slz3 - q2
        a_q2 = a_q2 - a_slz4
        a_slz3 = a_slz4 + a_q2 * k2
        g_k2 += a_q2 * slz3

        # regional exchange
        if bounded:
            a_lfr = a_lfr + a_slz3
            a_slz2 = a_slz3
            g_a, g_lo = _split_min(-lf, -lfs, a_lfr, zero, half)  # max(lf, lo)
            g_lf += g_a
            a_slz2 = a_slz2 - g_lo
        else:
            a_slz3 = a_slz3 + a_lfr
            a_slz2 = -a_lfr
            if lfs >= nz:
                a_slz2 = a_slz2 + a_slz3
                g_lf += a_slz3

        # slz2 = slz1 + perc
        a_slz1 = a_slz2
        a_perc = a_perc + a_slz2
        # q1 = k1*suz3; suz4 = suz3 - q1
        a_q1 = a_q1 - a_suz4
        a_suz3 = a_suz4 + a_q1 * k1
        g_k1 += a_q1 * suz3
        # q0 = k0*max(suz2 - uzl, 0); suz3 = suz2 - q0
        a_q0 = a_q0 - a_suz3
        a_suz2 = a_suz3
        a_k0 = a_q0 * h
        if h0 >= zero:
            a_h = a_q0 * k0
            a_suz2 = a_suz2 + a_h
            g_uzl -= a_h
        # perc = min(suz1, percmax); suz2 = suz1 - perc
        a_perc = a_perc - a_suz2
        a_suz1 = a_suz2
        g_a, g_b = _split_min(suz1, percmax, a_perc, zero, half)
        a_suz1 = a_suz1 + g_a
        g_percmax += g_b
        # suz1 = suz + rech + excess
        a_suz_prev = a_suz1
        a_rech = a_rech + a_suz1
        a_exc = a_exc + a_suz1

        # clamp-created water = sm4 + slz1 - sm3u - slz
        a_sm4 = a_sm4 + a_cl
        a_slz1 = a_slz1 + a_cl
        # sm4 = max(smc, nz); slz1 = max(slzc, nz); smc = sm3 + cap; slzc = slz - cap
        a_smc = a_sm4 if smc >= nz else zero
        a_slzc = a_slz1 if slzc >= nz else zero
        a_sm3 = a_smc
        a_cap = a_cap + a_smc - a_slzc
        a_slz_prev = a_slzc - a_cl
        # cap = min(slz, cp0); cp0 = c*slz*(1 - zc)
        g_a, a_cp0 = _split_min(slz, cp0, a_cap, zero, half)
        a_slz_prev = a_slz_prev + g_a
        om = one - zc
        g_c += a_cp0 * slz * om
        a_slz_prev = a_slz_prev + a_cp0 * c * om
        if z <= one:
            a_z = -(a_cp0 * (c * slz))
            a_sm3 = a_sm3 + a_z * inv_fc
            g_fc -= a_z * sm3 * inv_fc2
        # sm3 = max(sm3u, nz); sm3u = sm2 - et
        a_sm3u = (a_sm3 if sm3u >= nz else zero) - a_cl
        a_sm2 = a_sm3u
        a_et = a_et - a_sm3u
        # et = min(sm2, etp); etp = pet*ef
        g_a, a_etp = _split_min(sm2, etp, a_et, zero, half)
        a_sm2 = a_sm2 + g_a
        a_ef = a_ef + a_etp * pet
        if pe >= zero and pe <= one:
            a_pe = a_ef
        else:
            a_pe = zero
        a_y, a_betaet = _pow_grads(y, betaet, pe, a_pe, zero, one)
        a_sm2 = a_sm2 + a_y * inv_den
        a_den = -(a_y * sm2 * inv_den2)
        g_lp += a_den * fc
        g_fc += a_den * lp
        # sm2 = sm1 - excess; excess = max(sm1 - fc, 0)
        a_sm1 = a_sm2
        a_exc = a_exc - a_sm2
        if e0 >= zero:
            a_sm1 = a_sm1 + a_exc
            g_fc -= a_exc
        # sm1 = sm + rain + tosoil - rech; rech = inflow*sw
        a_sm_prev = a_sm1
        a_ts = a_ts + a_sm1
        a_rech = a_rech - a_sm1
        a_ts = a_ts + a_rech * sw
        a_sw = a_rech * inflow
        if pw >= zero and pw <= one:
            a_pw = a_sw
        else:
            a_pw = zero
        a_x, a_beta = _pow_grads(x, beta, pw, a_pw, zero, one)
        a_sm_prev = a_sm_prev + a_x * inv_fc
        g_fc -= a_x * sm * inv_fc2

        # snow: tosoil = max(mw2 - cwh*sp3, 0); mw3 = mw2 - tosoil
        a_mw2 = a_mw3
        a_ts = a_ts - a_mw3
        if ts0 >= zero:
            a_mw2 = a_mw2 + a_ts
            a_sp3 = a_sp3 - a_ts * cwh
            g_cwh -= a_ts * sp3
        # sp3 = sp2 + refr; mw2 = mw1 - refr; refr = min(max(r0, 0), mw1)
        a_sp2 = a_sp3
        a_mw1 = a_mw2
        a_refr = a_sp3 - a_mw2
        a_r1, g_b = _split_min(r1, mw1, a_refr, zero, half)
        a_mw1 = a_mw1 + g_b
        if r0 >= zero:
            dtt = tt - tc
            g_cfr += a_r1 * cfmax * dtt
            g_cfmax += a_r1 * cfr * dtt
            g_tt += a_r1 * (cfr * cfmax)
        # mw1 = mw + melt; sp2 = sp1 - melt; melt = min(max(m0, 0), sp1)
        a_mw_prev = a_mw1
        a_melt = a_mw1 - a_sp2
        a_sp1 = a_sp2
        a_m1, g_b = _split_min(m1, sp1, a_melt, zero, half)
        a_sp1 = a_sp1 + g_b
        if m0 >= zero:
            g_cfmax += a_m1 * (tc - tt)
            g_tt -= a_m1 * cfmax

        gdyn[t, b, m, 0] = a_beta * sc0
        gdyn[t, b, m, 1] = a_k0 * sc1
        gdyn[t, b, m, 2] = a_betaet * sc2
        a_sp = a_sp1
        a_mw = a_mw_prev
        a_sm = a_sm_prev
        a_suz = a_suz_prev
        a_slz = a_slz_prev

    gsta[b, m, 0] = g_fc
    gsta[b, m, 1] = g_k1
    gsta[b, m, 2] = g_k2
    gsta[b, m, 3] = g_lp
    gsta[b, m, 4] = g_percmax
    gsta[b, m, 5] = g_uzl
    gsta[b, m, 6] = g_tt
    gsta[b, m, 7] = g_cfmax
    gsta[b, m, 8] = g_cfr
    gsta[b, m, 9] = g_cwh
    gsta[b, m, 10] = g_c
    gsta[b, m, 11] = g_lf
    gs0[0, b, m] = a_sp
    gs0[1, b, m] = a_mw
    gs0[2, b, m] = a_sm
    gs0[3, b, m] = a_suz
    gs0[4, b, m] = a_slz


@njit(cache=True, parallel=True, fastmath=False, error_model="numpy")
def backward_kernel(P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn, gsta, gs0):
    """Reverse sweep: fills gdyn [T,B,nmul,3], gsta [B,nmul,12], gs0 [5,B,nmul] in place."""
    n_basin, n_mul = dyn.shape[1], dyn.shape[2]
    for b in prange(n_basin):
        for m in range(n_mul):
            _backward_cell(b, m, P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn,
                           gsta, gs0)


@njit(cache=True, parallel=True, fastmath=False, error_model="numpy")
def uh_forward_kernel(q, w, y):
    """Causal UH convolution y[b, t] = Σ_k w[b, k]·q[b, t − k] (zero history); q, y [B, T]."""
    n_b, n_t = q.shape
    n_l = w.shape[1]
    for b in prange(n_b):
        for t in range(n_t):
            acc = w[b, 0] * q[b, t]
            for k in range(1, min(n_l, t + 1)):
                acc += w[b, k] * q[b, t - k]
            y[b, t] = acc


@njit(cache=True, parallel=True, fastmath=False, error_model="numpy")
def uh_backward_kernel(q, w, gy, gq, gw):
    """Adjoint of ``uh_forward_kernel``: fills gq [B, T] and gw [B, L] in place."""
    n_b, n_t = q.shape
    n_l = w.shape[1]
    for b in prange(n_b):
        for s in range(n_t):
            acc = w[b, 0] * gy[b, s]
            for k in range(1, min(n_l, n_t - s)):
                acc += w[b, k] * gy[b, s + k]
            gq[b, s] = acc
        for k in range(n_l):
            if k >= n_t:
                gw[b, k] = 0.0
                continue
            acc = gy[b, k] * q[b, 0]
            for t in range(k + 1, n_t):
                acc += gy[b, t] * q[b, t - k]
            gw[b, k] = acc


@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def column_stats(x, mins, maxs, sums):
    """Per-column min, max and float64 sum of x [N, C] (in place), in parallel row chunks.

    The loop is branch-free so that it vectorises: NaN is skipped by the min/max selects but
    poisons the sum, and so does inf; a non-finite sum therefore flags NaN/inf in the column
    (float32 data cannot overflow a float64 sum).
    """
    n, n_c = x.shape
    n_chunk = 64
    step = (n + n_chunk - 1) // n_chunk
    pmin = np.empty((n_chunk, n_c))
    pmax = np.empty((n_chunk, n_c))
    psum = np.empty((n_chunk, n_c))
    for j in prange(n_chunk):
        i0 = j * step
        i1 = min(n, i0 + step)
        for c in range(n_c):
            mn = np.inf
            mx = -np.inf
            acc = 0.0
            for i in range(i0, i1):
                v = x[i, c]
                acc += v
                mn = v if v < mn else mn
                mx = v if v > mx else mx
            pmin[j, c] = mn
            pmax[j, c] = mx
            psum[j, c] = acc
    for c in range(n_c):
        mins[c] = pmin[:, c].min()
        maxs[c] = pmax[:, c].max()
        sums[c] = psum[:, c].sum()
