"""The SIMD width LLVM's vectorisers aim for in a numba function: ``prefer_vector_width``.

LLVM's x86 tuning for Intel server CPUs with AVX-512 makes the loop vectoriser prefer 256-bit
vectors, and numba keeps that tuning. The HBV day loop widens float32 cells to float64 for the
powers; with the 256-bit preference it compiles to 8 float32 lanes whose float64 values fill
512-bit registers, which measured 1.3–1.4× slower on such a CPU (Emerald Rapids) than 16 lanes
throughout (docs/performance.md, "HBV forward on CPU"). The kernels of ``kernels_cpu``
therefore state 512 bits, the attribute clang sets for ``-mprefer-vector-width=512``. On CPUs
without AVX-512 the widest legal vector (256 bits) is used, as before.
"""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic

#: the preferred vector width (bits) of the functions that call ``prefer_vector_width``
WIDTH = 512


@intrinsic
def prefer_vector_width(typingctx):
    """Give the LLVM function being compiled (the njit function whose body holds the call,
    after numba's inlining; for a ``prange`` loop, the loop's body) the attribute
    ``"prefer-vector-width"="WIDTH"``. No code is emitted."""

    def codegen(context, builder, signature, args):
        # llvmlite's FunctionAttributes.add takes keyword attributes only; a key-value string
        # attribute is written verbatim into the function header, where LLVM IR accepts it
        set.add(builder.function.attributes, f'"prefer-vector-width"="{WIDTH}"')
        return context.get_dummy_value()

    return types.none(), codegen
