"""x**b that vectorises for float32 (numba): ``fpow(x, b)``.

Without Intel SVML, numba compiles ``x ** b`` to a scalar libm ``powf`` call, which keeps the
HBV day loop (two powers per component and day) from being vectorised. For float32 arguments
``fpow`` is therefore branch-free and call-free, computed in float64 as libm's ``powf`` does:

* ln x from the IEEE-754 bit pattern of x (as float64: exponent e, mantissa folded into
  [√½, √2)) and ln m = u + u²·Q(u), u = m − 1, Q of degree 10 (``_ln_mantissa``: a
  Chebyshev least-squares fit of (ln(1 + u) − u)/u² on [√½ − 1, √2 − 1]; ln m within
  2.6·10⁻¹⁰ absolute). Only multiply-adds: a division, as in the series of atanh
  ((m − 1)/(m + 1)), costs more than the ten of them on AVX-512 Intel CPUs;
* y = b·ln x, then eʸ = 2ⁿ·eʳ with n = round(y/ln 2), |r| ≤ ln2/2 and the Taylor polynomial of
  eʳ to r⁷ (truncation below 6·10⁻⁹ relative);
* one rounding to float32 at the end.

The float64 result is within about 10⁻⁸ relative of the exact power for b ≤ 6 and every
|y| < 104 (the float32 range), a tenth of a float32 ulp, so the float32 result is within one
ulp of the exact power and is the correctly rounded one for about 99 % of arguments (of two
million uniform x in [0, 1.5), b in [0.3, 6): 0.74 % differ from it, all within 0.59 ulp of
the exact power; libm's powf is within one ulp as well).
Special cases as powf for the arguments HBV meets (x ≥ 0, finite b): 0**b = 0 for b > 0,
x**0 = 1, +inf**b = inf for b > 0; NaN in x or b gives NaN; x < 0 gives NaN (powf would give a
real value for integer b). For float64 arguments, and when called from plain Python (CUDA
simulator), ``fpow`` is ``x ** b``.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

f64 = np.float64
i64 = np.int64

_LN2 = 0.6931471805599453
_INV_LN2 = 1.4426950408889634


def fpow(x, b):
    """x**b (float32: the vectorisable float64 evaluation above; otherwise ``x ** b``)."""
    return x ** b


@intrinsic
def _bits64(typingctx, x):
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits64(typingctx, b):
    if b != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(fastmath={"contract"}, error_model="numpy")
def _ln_mantissa(m):
    """ln m for m in [√½, √2) (float64), as u + u²·Q(u), u = m − 1 (see the module doc)."""
    u = m - 1.0
    q = (((((((((-0.060949796824784165 * u + 0.10548021938517385) * u
                - 0.10709341639542531) * u + 0.11038188479098433) * u
              - 0.12440627027284545) * u + 0.1428610622686664) * u
            - 0.1666860558813701) * u + 0.20000033537238468) * u
          - 0.24999978022769134) * u + 0.33333333020368017) * u - 0.5000000003981052
    return u + u * u * q


@njit(fastmath={"contract"}, error_model="numpy")
def _pow_f32(x, b):
    xd = f64(x)
    bits = _bits64(xd)
    e = (bits >> i64(52)) - i64(1023)
    m = _from_bits64((bits & i64(0xFFFFFFFFFFFFF)) | i64(0x3FF0000000000000))  # in [1, 2)
    big = m > 1.4142135623730951  # fold into [√½, √2)
    m = m * (1.0 - 0.5 * f64(big))
    e = e + i64(big)
    y = f64(b) * (f64(e) * _LN2 + _ln_mantissa(m))
    y = min(max(y, -110.0), 100.0)  # beyond: 0 or inf in float32; keeps 2**n a normal double
    n = np.floor(y * _INV_LN2 + 0.5)
    r = y - n * _LN2
    p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (
        1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))))
    v = p * _from_bits64((i64(n) + i64(1023)) << i64(52))
    v = v if xd >= 0.0 else np.nan  # negative x (and NaN x: the comparison is false)
    v = v if b == b else np.nan
    return np.float32(v)


@overload(fpow)
def _ov_fpow(x, b):
    if x == types.float32 and b == types.float32:
        return lambda x, b: _pow_f32(x, b)
    return lambda x, b: x ** b
