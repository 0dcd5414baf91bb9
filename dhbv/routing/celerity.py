"""Scalar travel time K(Q) of one reach and its derivatives (numba; docs/routing.md §2).

Shared by the CPU kernels (``kernels_cpu``) and, recompiled as device functions, by the CUDA
kernels (``kernels_cuda``). Every constant enters through the typed ``cst`` array (layout
below) so float32 runs stay in float32.

Per-reach parameters ``theta[:, i]`` are prepared in torch by ``geometry.kernel_parameters``:

* power law (mode 0; "wide" and "linear"): K = exp(θ0 − θ1·ln Q), clamped to
  [aux[0, i], aux[1, i]] (the velocity bounds mapped to travel times);
* trapezoid (modes 1, 2): θ = (a, e, p, q, s) with ln d = e·(ln Q + a), T = p·d^q, Manning
  velocity v = s·R^(2/3) (s = √S/n), K = aux[0, i]/v (aux[0] = 3L/5) for mode 1 and
  K = aux[0, i]/(β·v) (aux[0] = L) with the exact kinematic factor β for mode 2.

ln and exp are ``fastmath.flog``/``fexp`` (vectorisable polynomials in float32, libm in
float64). Clamps follow torch's convention: ``clamp(x, lo, hi)`` passes the gradient where
lo <= x <= hi and blocks it elsewhere.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .fastmath import fexp, flog

# cst layout
(C_ZERO, C_ONE, C_HALF, C_TWO, C_DT, C_QMIN, C_VMIN, C_VMAX, C_DMIN, C_LOGDMIN, C_BMIN, C_ZMIN,
 C_ZMAX, C_TWO3, C_FIVE3, C_FOUR3, C_HALF_DT, C_INV2DT) = range(18)
N_CST = 18
#: number of per-reach parameter rows of each geometry code
N_THETA = {0: 2, 1: 5, 2: 5}

_jit = njit(cache=True, fastmath=False, error_model="numpy", inline="always")


def make_constants(options, dtype) -> np.ndarray:
    """Typed constants array for the kernels from a :class:`RoutingOptions`."""
    vmin, vmax = options.v_bounds
    zmin, zmax = options.side_slope_bounds
    dmin = options.depth_min
    return np.array([0.0, 1.0, 0.5, 2.0, options.dt, options.q_min, vmin, vmax, dmin,
                     math.log(dmin), options.bottom_min, zmin, zmax, 2.0 / 3.0, 5.0 / 3.0,
                     4.0 / 3.0, 0.5 * options.dt, 0.5 / options.dt], dtype=dtype)


@_jit
def _clip(x, lo, hi):
    """(clamped value, 1 if the gradient passes else 0) as in torch.clamp."""
    if x < lo:
        return lo, False
    if x > hi:
        return hi, False
    return x, True


@_jit
def _power_k(q, th0, th1, kmin, kmax):
    lq = flog(q) if th1 != 0 else th1 * th0  # linear K: ln Q unused (Q may be 0)
    k0 = fexp(th0 - th1 * lq)
    k, ok = _clip(k0, kmin, kmax)
    return k, k0, lq, ok


@_jit
def _trap_forward(q, a, e, p, qe, s, cst):
    """Forward trapezoid geometry: the intermediates the adjoint needs (see module doc)."""
    one, half, two = cst[C_ONE], cst[C_HALF], cst[C_TWO]
    ly = flog(q) + a
    ld = e * ly
    d = fexp(ld)
    dfree = d >= cst[C_DMIN]
    if not dfree:
        d = cst[C_DMIN]
        ld = cst[C_LOGDMIN]
    dq = fexp(qe * ld)
    tw = p * dq
    z0 = tw * qe / (two * d)
    z, zfree = _clip(z0, cst[C_ZMIN], cst[C_ZMAX])
    b0 = tw - two * z * d
    bfree = b0 >= cst[C_BMIN]
    bw = b0 if bfree else cst[C_BMIN]
    area = half * (tw + bw) * d
    sq = math.sqrt(one + z * z)
    per = bw + two * d * sq
    rh = area / per
    r23 = fexp(cst[C_TWO3] * flog(rh))
    v0 = s * r23
    v, vfree = _clip(v0, cst[C_VMIN], cst[C_VMAX])
    return (ly, ld, d, dfree, dq, tw, z0, z, zfree, bw, bfree, area, sq, per, rh, r23, v, vfree)


@_jit
def _beta(area, sq, tw, per, cst):
    """Exact kinematic celerity factor of the trapezoid: β = 5/3 − (4/3)·A·√(1+z²)/(T·P)."""
    return cst[C_FIVE3] - cst[C_FOUR3] * area * sq / (tw * per)


@_jit
def travel_time(mode, q, theta, aux, i, cst):
    """Muskingum travel time K [s] of reach i at discharge q [m³/s]."""
    if mode == 0:
        return _power_k(q, theta[0, i], theta[1, i], aux[0, i], aux[1, i])[0]
    f = _trap_forward(q, theta[0, i], theta[1, i], theta[2, i], theta[3, i], theta[4, i], cst)
    v = f[16]
    if mode == 2:
        return aux[0, i] / (_beta(f[11], f[12], f[5], f[13], cst) * v)
    return aux[0, i] / v


@_jit
def _trap_adjoint(q, a, e, p, qe, s, lfac, exact, cst):
    """K and dK/d(q, a, e, p, qe, s) of the trapezoid (reverse mode by hand, K̄ = 1)."""
    zero, half, two = cst[C_ZERO], cst[C_HALF], cst[C_TWO]
    (ly, ld, d, dfree, dq, tw, z0, z, zfree, bw, bfree, area, sq, per, rh, r23, v,
     vfree) = _trap_forward(q, a, e, p, qe, s, cst)
    ab = zero
    sb = zero
    tb = zero
    pb = zero
    if exact:
        w = area * sq / (tw * per)
        beta = cst[C_FIVE3] - cst[C_FOUR3] * w
        c = beta * v
        k = lfac / c
        cb = -k / c
        wb = -cst[C_FOUR3] * (cb * v)
        vb = cb * beta
        ab = wb * sq / (tw * per)
        sb = wb * area / (tw * per)
        tb = -wb * w / tw
        pb = -wb * w / per
    else:
        k = lfac / v
        vb = -k / v
    v0b = vb if vfree else zero
    s_b = v0b * r23
    rb = v0b * s * cst[C_TWO3] * r23 / rh
    ab += rb / per
    pb += -rb * rh / per
    bb = pb
    db = two * sq * pb
    sb += two * d * pb
    zb = sb * z / sq
    tb += half * d * ab
    bb += half * d * ab
    db += half * (tw + bw) * ab
    b0b = bb if bfree else zero
    tb += b0b
    zb += -two * d * b0b
    db += -two * z * b0b
    z0b = zb if zfree else zero
    tb += z0b * qe / (two * d)
    qeb = z0b * tw / (two * d)
    db += -z0b * z0 / d
    p_b = tb * dq
    dqb = tb * p
    qeb += dqb * dq * ld
    ldb = dqb * dq * qe + db * d if dfree else zero
    e_b = ldb * ly
    lyb = ldb * e
    return k, lyb / q, lyb, e_b, p_b, qeb, s_b


@_jit
def travel_time_grad(mode, q, theta, aux, i, cst):
    """(K, dK/dq, dK/dθ0 … dK/dθ4) of reach i; unused θ rows get 0."""
    zero = cst[C_ZERO]
    if mode == 0:
        th1 = theta[1, i]
        k, k0, lq, ok = _power_k(q, theta[0, i], th1, aux[0, i], aux[1, i])
        if not ok:
            return k, zero, zero, zero, zero, zero, zero
        return k, -th1 * k0 / q, k0, -k0 * lq, zero, zero, zero
    return _trap_adjoint(q, theta[0, i], theta[1, i], theta[2, i], theta[3, i], theta[4, i],
                         aux[0, i], mode == 2, cst)


@_jit
def coefficients(k, x, cst):
    """Muskingum coefficients (C1, C2, C3, C4) for travel time k [s] and weighting x.

    D = 2K(1−X) + Δt; C1 = (Δt − 2KX)/D, C2 = (Δt + 2KX)/D, C3 = (2K(1−X) − Δt)/D,
    C4 = 2Δt/D (= C1 + C2: lateral inflow enters at the upstream end).
    """
    one, two, dt = cst[C_ONE], cst[C_TWO], cst[C_DT]
    kx = two * k * x
    ky = two * k * (one - x)
    inv = one / (ky + dt)
    return (dt - kx) * inv, (dt + kx) * inv, (ky - dt) * inv, (two * dt) * inv


@_jit
def travel_time_adjoint(cb1, cb2, cb3, cb4, c4, x, cst):
    """K̄ from the adjoints of C1…C4 (dC1/dK = −2Δt/D², dC2/dK = 2Δt(2X−1)/D²,
    dC3/dK = −dC4/dK = 4Δt(1−X)/D²; 2Δt/D² = C4²/(2Δt))."""
    one, two = cst[C_ONE], cst[C_TWO]
    f = c4 * c4 * cst[C_INV2DT]
    return f * (-cb1 + (two * x - one) * cb2 + two * (one - x) * (cb3 - cb4))


@njit(cache=True, error_model="numpy")
def travel_times(mode, q, theta, aux, cst):
    """K [s] of every reach at discharges q (n,)."""
    out = np.empty_like(q)
    for i in range(q.size):
        out[i] = travel_time(mode, q[i], theta, aux, i, cst)
    return out
