"""Hand-derived adjoint of the HBV 2.0 step, shared by the CPU and CUDA kernels.

:func:`backward_cell` sweeps time in reverse for one component of one basin: it recomputes
each day from the stored start-of-day states (and the two stored powers) with
``equations.step`` and applies the adjoint of every operation. The CPU kernel runs it over
all cells in parallel, the CUDA kernel with one cell per thread.

Non-smooth points follow torch autograd's conventions so that gradients equal those of the
plain-torch reference: ``clamp(x, min=c)`` passes the gradient where x >= c (and
``clamp(x, max=c)`` where x <= c); binary ``minimum``/``maximum`` split it equally on ties;
the rain/snow indicator has no gradient; d(x^β)/dβ is 0 at x = 0. Arithmetic and layouts are
those of ``equations``.
"""

from __future__ import annotations

import math

from numba import njit

from .equations import step, unpack_constants

@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def split_min(a, b, g, zero, half):
    """Gradient of min(a, b) w.r.t. (a, b), torch convention (equal split on ties)."""
    if a < b:
        return g, zero
    elif a > b:
        return zero, g
    return g * half, g * half


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def pow_grads(x, e, pw, g, zero, one):
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
def backward_cell(b, m, P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn, gsta,
                   gs0):
    """Reverse sweep of component ``m`` of basin ``b`` (shared by the CPU and CUDA kernels).

    Cell-outer, time-inner: the running adjoints and the static-parameter gradients stay in
    registers.
    """
    n_t = dyn.shape[0]
    n_out = gout.shape[0]
    nz, zero, one, half, inv_n, lo0, lo1, lo2, sc0, sc1, sc2 = unpack_constants(cst)
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
         slz2, lfs, lfr, slz3, q2) = step(
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
            g_a, g_lo = split_min(-lf, -lfs, a_lfr, zero, half)  # max(lf, lo)
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
        g_a, g_b = split_min(suz1, percmax, a_perc, zero, half)
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
        g_a, a_cp0 = split_min(slz, cp0, a_cap, zero, half)
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
        g_a, a_etp = split_min(sm2, etp, a_et, zero, half)
        a_sm2 = a_sm2 + g_a
        a_ef = a_ef + a_etp * pet
        if pe >= zero and pe <= one:
            a_pe = a_ef
        else:
            a_pe = zero
        a_y, a_betaet = pow_grads(y, betaet, pe, a_pe, zero, one)
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
        a_x, a_beta = pow_grads(x, beta, pw, a_pw, zero, one)
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
        a_r1, g_b = split_min(r1, mw1, a_refr, zero, half)
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
        a_m1, g_b = split_min(m1, sp1, a_melt, zero, half)
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

