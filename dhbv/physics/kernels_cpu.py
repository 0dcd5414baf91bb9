"""Fused numba kernels for the HBV 2.0 time loop on CPU: forward and reverse sweep.

The forward kernel runs the whole time loop for ranges of basins in parallel (days outer,
chunks of 64 cells inner, each day's step vectorised across a chunk's cells), writes nmul-mean
outputs and, when gradients are needed, stores the five states (and the two powers) at the
start of every day; the backward kernel runs ``adjoint.backward_cell`` for every component.
The step equations, the constants array and the array layouts are those of ``equations``; the
powers are ``fastpow.fpow``. Also here: the UH convolution kernels and the column statistics
of the input checks.

Numba keys its on-disk cache of these kernels on this file only; ``dhbv.numba_cache`` (run
when ``dhbv.physics`` is imported) drops the cache when any source of the package changed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .adjoint import backward_cell
from .equations import (
    add_full_outputs,
    after_et_power,
    finish_day,
    recharge_part,
    snow_part,
    start_day,
    unpack_constants,
)
from .fastpow import fpow
from .prefetch import prefetch_read, prefetch_write
from .vector_width import prefer_vector_width
from .reference import N_COMPACT
from .kernels_unit import (
    final_history_range,
    transposed_weights,
    static_core_range,
    uh_midpoint_weights_range,
    uh_route_range,
)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _powers(base, expo):
    """expo[i] = base[i] ** expo[i] (``fastpow.fpow``), in place."""
    for i in range(base.shape[0]):
        expo[i] = fpow(base[i], expo[i])


#: cells (basin × component) per chunk of the vectorised forward kernel: a compile-time
#: constant, so that the compiler sees that the rows of the chunk's scratch never overlap
CH = 64
# rows of the chunk scratch S[row * CH + cell]: day inputs (forcing, normalised dynamic
# parameters), static parameters, states, outputs, extra outputs, input-check accumulators.
# Cell i = j·nmul + m holds component m of the chunk's basin j (CH // nmul basins).
(R_P, R_TC, R_PET, R_D0, R_D1, R_D2, R_FC, R_K1, R_K2, R_LP, R_PERC, R_UZL, R_TT,
 R_CFMAX, R_CFR, R_CWH, R_C, R_LF, R_SP, R_MW, R_SM, R_SUZ, R_SLZ, R_Q0, R_Q1, R_Q2, R_ET,
 R_PW, R_PE, R_RECH, R_EXC, R_TOSOIL, R_PERCO, R_CAP, R_EF, R_LFR, R_CLAMP, R_MIN,
 R_TSUM) = range(39)
N_ROW = 39
#: slots of the per-block input summary ``chk`` of ``forward_kernel``
(CHK_MIN, CHK_BAD, CHK_TSUM, CHK_N) = range(4)
N_CHK = 4


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _ix(o, row, i):
    """Index of cell i of scratch row ``row`` of the chunk at offset o, unsigned (indexing
    with it skips the negative-index wraparound, a third of the cost of the scalar loops)."""
    return np.uint64(o + row * CH + i)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _lo(a, b):
    """The smaller of a and b (a select, so that it vectorises; NaN in a gives b)."""
    return a if a < b else b


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _chunk_day(S, o, bounded, nz, zero, one, lo0, lo1, lo2, sc0, sc1, sc2, extra):
    """One day of the CH cells of the chunk at S[o:o + N_ROW·CH] (states updated in place).

    Straight-line, call-free code over the rows of one array: the compiler vectorises it
    across cells. Three loops (snow, x**BETA and recharge; y**BETAET; the rest), with the
    intermediates in scratch rows: fewer live vectors per loop, no spills (about 25 %
    faster than one loop). Same arithmetic as ``equations.step`` with the powers by ``fpow`` and the
    dynamic parameters descaled here (σ·scale + lo). Also accumulates, per cell, the input
    summary: the minimum of P, PET, σ and 1 − σ (negative for invalid inputs; NaN once any
    input is NaN or inf, through 0·(sum of the day's inputs)) and the sum of T. ``extra`` (a constant
    at each call site) stores the rows the full outputs and the gradient store need.
    """
    for i in range(CH):
        p = S[o + R_P * CH + i]
        tc = S[o + R_TC * CH + i]
        pet = S[o + R_PET * CH + i]
        d0 = S[o + R_D0 * CH + i]
        d1 = S[o + R_D1 * CH + i]
        d2 = S[o + R_D2 * CH + i]
        mn = _lo(_lo(_lo(p, pet), _lo(d0, d1)), _lo(_lo(d2, one - d0), _lo(one - d1, one - d2)))
        # NaN sticks: _lo(mn, NaN) is NaN, and so is the running minimum once any input is
        S[o + R_MIN * CH + i] = _lo(mn, S[o + R_MIN * CH + i]
                                    + (((p + tc) + (pet + d0)) + (d1 + d2)) * zero)
        S[o + R_TSUM * CH + i] += tc
        fc = S[o + R_FC * CH + i]
        sm = S[o + R_SM * CH + i]
        (rain, _sp1, _m0, _m1, _melt, _mw1, _r0, _r1, _refr, sp3, _mw2, _ts0, tosoil,
         mw3) = snow_part(S[o + R_SP * CH + i], S[o + R_MW * CH + i], p, tc,
                          S[o + R_TT * CH + i], S[o + R_CFMAX * CH + i],
                          S[o + R_CFR * CH + i], S[o + R_CWH * CH + i], zero)
        pw = fpow(sm / fc, d0 * sc0 + lo0)
        (_sw, _inflow, rech, _sm1, _e0, excess, sm2) = recharge_part(
            sm, fc, rain, tosoil, pw, zero, one)
        S[o + R_SP * CH + i] = sp3
        S[o + R_MW * CH + i] = mw3
        S[o + R_SM * CH + i] = sm2
        S[o + R_RECH * CH + i] = rech
        S[o + R_EXC * CH + i] = excess
        S[o + R_TOSOIL * CH + i] = tosoil
        if extra:
            S[o + R_PW * CH + i] = pw
    for i in range(CH):
        fc = S[o + R_FC * CH + i]
        sm2 = S[o + R_SM * CH + i]
        rech = S[o + R_RECH * CH + i]
        excess = S[o + R_EXC * CH + i]
        pet = S[o + R_PET * CH + i]
        d1 = S[o + R_D1 * CH + i]
        d2 = S[o + R_D2 * CH + i]
        S[o + R_PE * CH + i] = fpow(sm2 / (S[o + R_LP * CH + i] * fc), d2 * sc2 + lo2)
    for i in range(CH):
        fc = S[o + R_FC * CH + i]
        sm2 = S[o + R_SM * CH + i]
        rech = S[o + R_RECH * CH + i]
        excess = S[o + R_EXC * CH + i]
        pet = S[o + R_PET * CH + i]
        d1 = S[o + R_D1 * CH + i]
        pe = S[o + R_PE * CH + i]
        (ef, _etp, et, _sm3u, _sm3, _z, _zc, _cp0, cap, _smc, _slzc, sm4, _slz1, clamp_w, _suz1,
         perc, _suz2, _h0, _h, q0, _suz3, q1, suz4, _slz2, _lfs, lfr, _slz3, q2,
         slz4) = after_et_power(
            sm2, S[o + R_SUZ * CH + i], S[o + R_SLZ * CH + i], pet, pe, rech,
            excess, d1 * sc1 + lo1, fc, S[o + R_K1 * CH + i], S[o + R_K2 * CH + i],
            S[o + R_PERC * CH + i], S[o + R_UZL * CH + i], S[o + R_C * CH + i],
            S[o + R_LF * CH + i], bounded, nz, zero, one)
        S[o + R_SM * CH + i] = sm4
        S[o + R_SUZ * CH + i] = suz4
        S[o + R_SLZ * CH + i] = slz4
        S[o + R_Q0 * CH + i] = q0
        S[o + R_Q1 * CH + i] = q1
        S[o + R_Q2 * CH + i] = q2
        S[o + R_ET * CH + i] = et
        if extra:
            S[o + R_PERCO * CH + i] = perc
            S[o + R_CAP * CH + i] = cap
            S[o + R_EF * CH + i] = ef
            S[o + R_LFR * CH + i] = lfr
            S[o + R_CLAMP * CH + i] = clamp_w


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _gather_day(S, o, P, TC, PET, dyn_t, t, c0, nb, nm):
    """Copy day t's forcing (to every component) and normalised dynamic parameters of the
    chunk's nb basins from c0 on into the chunk's scratch; dyn_t is [T, B, 3, nmul] (contiguous
    over components in the usual layout). Inlined with a constant nm at the common nmul, so
    that the component loops unroll."""
    for j in range(nb):
        b = c0 + j
        p = P[t, b]
        tc = TC[t, b]
        pet = PET[t, b]
        for m in range(nm):
            i = j * nm + m
            S[_ix(o, R_P, i)] = p
            S[_ix(o, R_TC, i)] = tc
            S[_ix(o, R_PET, i)] = pet
        for k in range(3):
            for m in range(nm):
                S[_ix(o, R_D0 + k, j * nm + m)] = dyn_t[t, b, k, m]


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _prefetch_day(P, TC, PET, dyn_t, out, t, c0, nb):
    """Prefetch day t's forcing and dynamic parameters of the chunk's nb basins from c0 on,
    and the lines of its Q and ET outputs (rows 0 and 4 of out), one line (64 B) at a time."""
    for off in range(0, nb * dyn_t.strides[1], 64):
        prefetch_read(dyn_t, (t, c0, 0, 0), off)
    for off in range(0, nb * P.strides[1], 64):
        prefetch_read(P, (t, c0), off)
        prefetch_read(TC, (t, c0), off)
        prefetch_read(PET, (t, c0), off)
    for off in range(0, nb * out.strides[2], 64):
        prefetch_write(out, (0, t, c0), off)
        prefetch_write(out, (4, t, c0), off)


@njit(cache=True, fastmath=False, error_model="numpy", inline="always")
def _compact_means(S, o, out, t, c0, nb, nm, zero, inv_n, components):
    """Write the five compact outputs (Q, Q0, Q1, Q2, ET) of day t of the chunk's nb basins:
    nmul means summed in the order m = 0, 1, … (as ``start_day``/``finish_day``). Without
    ``components`` only Q and ET are written (Q0, Q1, Q2 rows untouched)."""
    for j in range(nb):
        acc_q = zero
        acc_q0 = zero
        acc_q1 = zero
        acc_q2 = zero
        acc_et = zero
        for m in range(nm):
            i = j * nm + m
            q0 = S[_ix(o, R_Q0, i)]
            q1 = S[_ix(o, R_Q1, i)]
            q2 = S[_ix(o, R_Q2, i)]
            acc_q += q0 + q1 + q2
            acc_q0 += q0
            acc_q1 += q1
            acc_q2 += q2
            acc_et += S[_ix(o, R_ET, i)]
        out[0, t, c0 + j] = acc_q * inv_n
        if components:
            out[1, t, c0 + j] = acc_q0 * inv_n
            out[2, t, c0 + j] = acc_q1 * inv_n
            out[3, t, c0 + j] = acc_q2 * inv_n
        out[4, t, c0 + j] = acc_et * inv_n


@njit(cache=True, fastmath=False, error_model="numpy")
def _forward_block_vec(b0, b1, P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final,
                       keep, chk, dyn_t, q_from):
    """CPU variant of :func:`equations.forward_block` for basins b0..b1-1 (nmul <= CH), the
    day's arithmetic vectorised across the cells of chunks of cb = CH // nmul basins.

    Days outer, chunks inner, so every day reads and writes one contiguous stretch of each
    time-major array. Per day and chunk: copy the day's forcing and normalised dynamic
    parameters into the chunk's scratch (and, with ``keep``, the start-of-day states into
    ``store``), run the day for all its cells (``_chunk_day``), then write the nmul means
    (summed in the order m = 0, 1, …, vectorised over the chunk's basins) and, with a 7-slot
    store, the two powers. Without ``keep`` the store is not touched (forward without
    gradients). Writes the block's input summary to ``chk`` (slots ``CHK_*``). With the five
    compact outputs only, the rows Q0, Q1, Q2 are written from day ``q_from`` on (0: all days).
    """
    prefer_vector_width()
    n_t, n_basin, n_mul, _ = dyn.shape
    n_out = out.shape[0]
    nz, zero, one, half, inv_n, lo0, lo1, lo2, sc0, sc1, sc2 = unpack_constants(cst)
    keep_pw = keep and store.shape[3] > 5
    extra = keep_pw or n_out > 5
    cb = CH // n_mul  # basins per chunk
    n_chunk = (b1 - b0 + cb - 1) // cb
    # nmul for the specialised copies of the gather and the means (unrolled component loops)
    nmul_c = n_mul if n_out == 5 and not keep_pw else 0
    S = np.empty(n_chunk * N_ROW * CH, dtype=P.dtype)  # chunk c at S[c·N_ROW·CH:]
    S[:] = one  # cells past a chunk's end compute harmless values that nobody reads
    for c in range(n_chunk):
        o = c * (N_ROW * CH)
        c0 = b0 + c * cb
        for j in range(min(cb, b1 - c0)):
            for m in range(n_mul):
                i = j * n_mul + m
                for k in range(12):
                    S[_ix(o, (R_FC + k), i)] = sta[c0 + j, m, k]
                for k in range(5):
                    S[_ix(o, (R_SP + k), i)] = s0[k, c0 + j, m]
                S[_ix(o, R_TSUM, i)] = zero
    for t in range(n_t):
        for c in range(n_chunk):
            o = c * (N_ROW * CH)
            c0 = b0 + c * cb
            nb = min(cb, b1 - c0)
            if t + 1 < n_t:  # next day's inputs, while this day computes
                _prefetch_day(P, TC, PET, dyn_t, out, t + 1, c0, nb)
            if nmul_c == 4:
                _gather_day(S, o, P, TC, PET, dyn_t, t, c0, nb, 4)
            elif nmul_c == 16:
                _gather_day(S, o, P, TC, PET, dyn_t, t, c0, nb, 16)
            elif nmul_c == 8:
                _gather_day(S, o, P, TC, PET, dyn_t, t, c0, nb, 8)
            else:
                _gather_day(S, o, P, TC, PET, dyn_t, t, c0, nb, n_mul)
            if keep:
                for j in range(nb):
                    for m in range(n_mul):
                        for k in range(5):
                            store[t, c0 + j, m, k] = S[_ix(o, (R_SP + k), j * n_mul + m)]
            if extra:
                _chunk_day(S, o, bounded, nz, zero, one, lo0, lo1, lo2, sc0, sc1, sc2, True)
            else:
                _chunk_day(S, o, bounded, nz, zero, one, lo0, lo1, lo2, sc0, sc1, sc2, False)
            if not extra:
                if nmul_c == 4:
                    _compact_means(S, o, out, t, c0, nb, 4, zero, inv_n, t >= q_from)
                elif nmul_c == 16:
                    _compact_means(S, o, out, t, c0, nb, 16, zero, inv_n, t >= q_from)
                elif nmul_c == 8:
                    _compact_means(S, o, out, t, c0, nb, 8, zero, inv_n, t >= q_from)
                else:
                    _compact_means(S, o, out, t, c0, nb, n_mul, zero, inv_n, t >= q_from)
                continue
            for j in range(nb):
                b = c0 + j
                acc_q, acc_q0, acc_q1, acc_q2, acc_et = start_day(out, t, b, zero)
                for m in range(n_mul):
                    i = j * n_mul + m
                    q0 = S[_ix(o, R_Q0, i)]
                    q1 = S[_ix(o, R_Q1, i)]
                    q2 = S[_ix(o, R_Q2, i)]
                    acc_q += q0 + q1 + q2
                    acc_q0 += q0
                    acc_q1 += q1
                    acc_q2 += q2
                    acc_et += S[_ix(o, R_ET, i)]
                    if keep_pw:
                        store[t, b, m, 5] = S[_ix(o, R_PW, i)]
                        store[t, b, m, 6] = S[_ix(o, R_PE, i)]
                    if n_out > 5:
                        add_full_outputs(out, t, b, S[_ix(o, R_RECH, i)], S[_ix(o, R_EXC, i)],
                                         S[_ix(o, R_TOSOIL, i)], S[_ix(o, R_PERCO, i)],
                                         S[_ix(o, R_CAP, i)], S[_ix(o, R_EF, i)],
                                         S[_ix(o, R_LFR, i)], S[_ix(o, R_CLAMP, i)],
                                         S[_ix(o, R_SP, i)], S[_ix(o, R_MW, i)], S[_ix(o, R_SM, i)],
                                         S[_ix(o, R_SUZ, i)], S[_ix(o, R_SLZ, i)])
                finish_day(out, t, b, inv_n, acc_q, acc_q0, acc_q1, acc_q2, acc_et)
    vmin = np.inf
    bad = 0.0
    tsum = 0.0
    for c in range(n_chunk):
        o = c * (N_ROW * CH)
        c0 = b0 + c * cb
        for j in range(min(cb, b1 - c0)):
            for m in range(n_mul):
                i = j * n_mul + m
                for k in range(5):
                    final[k, c0 + j, m] = S[_ix(o, (R_SP + k), i)]
                v = S[_ix(o, R_MIN, i)]
                vmin = v if v < vmin else vmin
                if v != v:
                    bad = np.nan
                tsum += S[_ix(o, R_TSUM, i)]
    chk[CHK_MIN] = vmin
    chk[CHK_BAD] = bad
    chk[CHK_TSUM] = tsum
    chk[CHK_N] = n_t * (b1 - b0) * n_mul


@njit(cache=True, fastmath=False, error_model="numpy")
def _forward_block_phased(b0, b1, P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final):
    """CPU variant of :func:`equations.forward_block` for blocks of more than CH cells (nmul >
    CH): the same arithmetic, with the powers by ``fpow``, bit-identical to ``_forward_block_vec``.

    Each day runs in phases over all cells of the block: snow and x = SM/FC; the powers
    x**BETA; recharge and y = SM/(LP·FC); the powers y**BETAET; the rest. The power loops then
    hold nothing but powers (``fpow``), so no day's state has to be spilled around them, and the
    arithmetic phases are free of calls.
    """
    n_t, n_basin, n_mul, _ = dyn.shape
    n_out = out.shape[0]
    nz, zero, one, half, inv_n, lo0, lo1, lo2, sc0, sc1, sc2 = unpack_constants(cst)
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
                 mw3) = snow_part(sp, mw, p, tc, sta[b, m, 6], sta[b, m, 7], sta[b, m, 8],
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
                (_sw, _inflow, rech, _sm1, _e0, excess, sm2) = recharge_part(
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
            acc_q, acc_q0, acc_q1, acc_q2, acc_et = start_day(out, t, b, zero)
            for m in range(n_mul):
                pe = es[i]
                if keep_pw:
                    store[t, b, m, 6] = pe
                (ef, _etp, et, _sm3u, _sm3, _z, _zc, _cp0, cap, _smc, _slzc, sm4, _slz1,
                 clamp_w, _suz1, perc, _suz2, _h0, _h, q0, _suz3, q1, suz4, _slz2, _lfs, lfr,
                 _slz3, q2, slz4) = after_et_power(
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
                    add_full_outputs(out, t, b, rech_s[i], exc_s[i], ts_s[i], perc, cap, ef,
                                      lfr, clamp_w, final[0, b, m], final[1, b, m], sm4, suz4,
                                      slz4)
                i += 1
            finish_day(out, t, b, inv_n, acc_q, acc_q0, acc_q1, acc_q2, acc_et)


def block_size(n_basin: int, n_mul: int, n_threads: int) -> int:
    """Basins per parallel block of ``forward_kernel``.

    nmul <= CH: one contiguous range of basins per thread (the vectorised kernel streams
    through each day's stretch of the time-major arrays); otherwise about 64 cells per block
    and >= 8 blocks per thread when there are enough basins (load balance).
    """
    if n_mul <= CH:
        return max(1, -(-n_basin // max(1, n_threads)))
    per_cells = max(1, CH // max(1, n_mul))
    per_balance = max(1, -(-n_basin // (8 * max(1, n_threads))))
    return max(1, min(per_cells, per_balance))


@njit(cache=True, parallel=True, fastmath=False, error_model="numpy")
def forward_kernel(P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final, block, keep,
                   chk, dyn_t):
    """Run the time loop; fills ``out`` (nmul means), ``final`` and, with ``keep``, ``store``
    in place (without ``keep`` the store is not written: forward without gradients).

    Blocks of ``block`` basins run in parallel: ``_forward_block_vec`` when nmul <= CH,
    ``_forward_block_phased`` otherwise (which always writes the store). ``chk``
    [n_block, N_CHK] (float64) receives each block's input summary (``CHK_*``: minimum of P,
    PET, σ and 1 − σ; NaN when an input is NaN or inf, else 0; the sum of T over cells;
    the number of cell-days); NaN rows for blocks of the phased kernel, which does not
    summarise its inputs. See :func:`input_summary`.
    """
    n_basin, n_mul = dyn.shape[1], dyn.shape[2]
    n_block = (n_basin + block - 1) // block
    for i in prange(n_block):
        prefer_vector_width()
        b0 = i * block
        b1 = min(b0 + block, n_basin)
        if n_mul <= CH:
            _forward_block_vec(b0, b1, P, TC, PET, dyn, sta, s0, bounded, cst, out, store,
                               final, keep, chk[i], dyn_t, 0)
        else:
            _forward_block_phased(b0, b1, P, TC, PET, dyn, sta, s0, bounded, cst, out, store,
                                  final)
            chk[i, :] = np.nan


@njit(cache=True, parallel=True, fastmath=False, error_model="numpy")
def forward_route_kernel(P, TC, PET, dyn, static, elev, uparea, lo, scale, k, tt_mode, lf_mode,
                         sig, u, make_w, s0, bounded, cst, core, out, store, final, block, chk,
                         dyn_t, w, hist, y, hist_out):
    """The whole forward of ``run_hbv2`` without gradients, in one parallel call.

    Each thread, for its blocks of basins (as :func:`forward_kernel`): maps the static
    parameters into ``core`` [B, nmul, 12] (``kernels_unit.static_core``), computes the
    midpoint UH weights w [B, L] from σ ``sig`` [B, 2] (``kernels_unit.uh_midpoint_weights``;
    with ``make_w`` False, w is an input),
    runs the time loop (``out``, ``final``, ``chk`` as :func:`forward_kernel` without
    ``keep``), routes the total runoff out[0] through the UH with the history ``hist``
    [H, B, 3] into y [T, B] (``kernels_unit.uh_route``) and writes the last L − 1 days of
    Q0, Q1, Q2 into hist_out [L − 1, B, 3]. The values equal those of the separate kernels.
    With the five compact outputs, the rows Q0, Q1, Q2 of ``out`` hold only those last L − 1
    days (their other days are not written: nothing downstream reads them).
    """
    n_t, n_basin, n_mul = dyn.shape[0], dyn.shape[1], dyn.shape[2]
    n_block = (n_basin + block - 1) // block
    q_from = n_t - hist_out.shape[0] if out.shape[0] == N_COMPACT else 0
    for i in prange(n_block):
        prefer_vector_width()
        b0 = i * block
        b1 = min(b0 + block, n_basin)
        static_core_range(b0, b1, static, elev, uparea, lo, scale, k, tt_mode, lf_mode, core)
        if make_w:
            uh_midpoint_weights_range(b0, b1, sig, u, w)
        if n_mul <= CH:
            _forward_block_vec(b0, b1, P, TC, PET, dyn, core, s0, bounded, cst, out, store,
                               final, False, chk[i], dyn_t, q_from)
        else:
            _forward_block_phased(b0, b1, P, TC, PET, dyn, core, s0, bounded, cst, out, store,
                                  final)
            chk[i, :] = np.nan
        uh_route_range(b0, b1, out[0], hist, -1, w, y)
        final_history_range(b0, b1, out, hist, hist_out)


@njit(cache=True, fastmath=False, error_model="numpy")
def _summarise(chk):
    """(summarised, ok, t_mean) of ``chk`` (see :func:`input_summary`), one compiled call."""
    ok = True
    tsum = 0.0
    n = 0.0
    for i in range(chk.shape[0]):
        if chk[i, CHK_N] != chk[i, CHK_N]:
            return False, False, np.nan
        bad = chk[i, CHK_BAD]
        ok = ok and bad == 0.0 and chk[i, CHK_MIN] >= 0.0  # NaN fails both tests
        tsum += chk[i, CHK_TSUM]
        n += chk[i, CHK_N]
    return True, ok, tsum / n if n > 0 else 0.0


def input_summary(chk: np.ndarray):
    """(ok, t_mean) from ``forward_kernel``'s per-block ``chk``: ok is True when every block
    was summarised and no input is NaN or inf, P and PET are >= 0 and σ is in [0, 1];
    t_mean is the mean temperature over all cell-days (°C; NaN when not summarised)."""
    summarised, ok, t_mean = _summarise(chk)
    if not summarised:
        return False, float("nan")
    return bool(ok), float(t_mean)


@njit(cache=True, parallel=True, fastmath=False, error_model="numpy")
def backward_kernel(P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn, gsta, gs0):
    """Reverse sweep: fills gdyn [T,B,nmul,3], gsta [B,nmul,12], gs0 [5,B,nmul] in place."""
    n_basin, n_mul = dyn.shape[1], dyn.shape[2]
    for b in prange(n_basin):
        for m in range(n_mul):
            backward_cell(b, m, P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn,
                           gsta, gs0)


@njit(cache=True, parallel=True, fastmath=False, error_model="numpy")
def uh_forward_kernel(q, w, y):
    """Causal UH convolution y[b, t] = Σ_k w[b, k]·q[b, t − k] (zero history); q, y [B, T].

    Days in parallel, basins innermost (contiguous in the callers' time-major memory, so the
    loop vectorises); each y[b, t] is summed in the order k = 0, 1, … as a running sum.
    """
    n_b, n_t = q.shape
    n_l = w.shape[1]
    wt = transposed_weights(w, 0, n_b)
    for t in prange(n_t):
        for b in range(n_b):
            y[b, t] = wt[0, b] * q[b, t]
        for k in range(1, min(n_l, t + 1)):
            for b in range(n_b):
                y[b, t] += wt[k, b] * q[b, t - k]


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
