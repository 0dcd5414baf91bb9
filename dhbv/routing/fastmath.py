"""ln and exp that vectorise in float32 (numba): ``flog(x)``, ``fexp(x)``.

Without Intel SVML, numba compiles math.log/math.exp to scalar libm calls, which keeps the
per-reach coefficient loop from being vectorised; in float32 that loop is most of a routing
step. For float32 arguments ``flog``/``fexp`` are therefore branch-free polynomial versions
(range reduction through the IEEE-754 bit pattern, Cephes minimax polynomials of
S. L. Moshier, "Methods and Programs for Mathematical Functions", 1989), accurate to about
1 ulp for the arguments the router uses (x > 0 normal; |x| < 87). For float64 arguments, and
when called from plain Python (e.g. numba's CUDA simulator), they are math.log/math.exp.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

f32 = np.float32
i32 = np.int32


def flog(x):
    """Natural logarithm (float32: polynomial; otherwise math.log)."""
    return math.log(x)


def fexp(x):
    """Exponential (float32: polynomial; otherwise math.exp)."""
    return math.exp(x)


@intrinsic
def _bits(typingctx, x):
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def _from_bits(typingctx, b):
    if b != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@njit(fastmath=False, error_model="numpy")
def _log_f32(x):
    b = _bits(x)
    e = i32((b >> i32(23)) - i32(127))
    m = _from_bits(i32((b & i32(0x7FFFFF)) | i32(0x3F800000)))  # mantissa in [1, 2)
    big = i32(m > f32(1.4142135))  # fold the mantissa into [√½, √2)
    m = m * (f32(1.0) - f32(0.5) * f32(big))
    e = i32(e + big)
    u = m - f32(1.0)
    z = u * u
    y = (((((((((f32(7.0376836292e-2) * u - f32(1.1514610310e-1)) * u
                + f32(1.1676998740e-1)) * u - f32(1.2420140846e-1)) * u
              + f32(1.4249322787e-1)) * u - f32(1.6668057665e-1)) * u
            + f32(2.0000714765e-1)) * u - f32(2.4999993993e-1)) * u
          + f32(3.3333331174e-1)) * u * z)
    fe = f32(e)
    y = y + f32(-2.12194440e-4) * fe - f32(0.5) * z
    return u + y + f32(0.693359375) * fe


@njit(fastmath=False, error_model="numpy")
def _exp_f32(x):
    x = min(max(x, f32(-87.0)), f32(88.0))
    fx = np.floor(x * f32(1.44269504088896341) + f32(0.5))
    r = x - fx * f32(0.693359375) - fx * f32(-2.12194440e-4)
    z = r * r
    y = (((((f32(1.9875691500e-4) * r + f32(1.3981999507e-3)) * r + f32(8.3334519073e-3)) * r
           + f32(4.1665795894e-2)) * r + f32(1.6666665459e-1)) * r + f32(5.0000001201e-1)) * z \
        + r + f32(1.0)
    return y * _from_bits(i32((i32(fx) + i32(127)) << i32(23)))


@overload(flog)
def _ov_flog(x):
    if x == types.float32:
        return lambda x: _log_f32(x)
    return lambda x: math.log(x)


@overload(fexp)
def _ov_fexp(x):
    if x == types.float32:
        return lambda x: _exp_f32(x)
    return lambda x: math.exp(x)
