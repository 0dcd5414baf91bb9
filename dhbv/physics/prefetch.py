"""Software prefetch for the numba kernels: ``llvm.prefetch`` as a numba intrinsic.

The CPU time loop of ``kernels_cpu`` reads each day's forcing and dynamic parameters as short
stretches spread over large time-major arrays (tens of MB for a year of a thousand basins, out
of cache after any other large computation). Asking for the next day's stretch while the current
day is computed hides the memory latency that the hardware prefetchers leave.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _prefetch_codegen(write: int):
    def codegen(context, builder, signature, args):
        arr_t, idx_t, _ = signature.args
        ary = context.make_array(arr_t)(context, builder, args[0])
        idx = cgutils.unpack_tuple(builder, args[1], len(idx_t))
        ptr = cgutils.get_item_pointer(context, builder, arr_t, ary, idx, wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        byte = builder.gep(builder.bitcast(ptr, i8p), [args[2]])
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # (address, read 0 / write 1, locality 3 = keep in all levels, data cache)
        builder.call(fn, [byte, i32(write), i32(3), i32(1)])
        return context.get_dummy_value()
    return codegen


@intrinsic
def prefetch_read(typingctx, arr, idx, offset):
    """Prefetch, for reading, the cache line ``offset`` bytes after arr[idx] (idx: a tuple of
    one index per dimension, not bounds-checked: a prefetch of any address is harmless)."""
    return types.void(arr, idx, offset), _prefetch_codegen(0)


@intrinsic
def prefetch_write(typingctx, arr, idx, offset):
    """As :func:`prefetch_read`, for a line about to be written."""
    return types.void(arr, idx, offset), _prefetch_codegen(1)
