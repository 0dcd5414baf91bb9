"""CUDA kernels for the fused HBV 2.0 time loop (numba.cuda; optional).

The kernels are compiled from the very same Python source as the CPU kernels
(``equations.forward_block`` / ``adjoint.backward_cell`` and their helpers): the functions are
re-created with a globals table in which the helpers are CUDA device functions, so CPU and GPU
share one set of equations and one adjoint. In the forward one CUDA thread runs one basin
(all its nmul components, in order), which keeps the nmul-mean outputs free of atomics and
bit-compatible with the CPU kernels' summation order; the reverse sweep runs one thread per
component. With the time-major layouts neighbouring threads read neighbouring addresses every
day (coalesced).

On machines without a CUDA driver, numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) runs the
same kernels on numpy arrays; the test suite uses it on a tiny case. Torch tensors are passed
zero-copy through ``__cuda_array_interface__`` on the current torch stream.
"""

from __future__ import annotations

import types

import numpy as np

from . import adjoint, equations
from .equations import N_STORE, make_constants
from .reference import N_COMPACT, OUTPUT_NAMES

try:  # module-level name: the CUDA simulator swaps ``cuda`` in the kernels' globals
    from numba import cuda
except ImportError:  # pragma: no cover - numba without CUDA support
    cuda = None

THREADS_PER_BLOCK = 128
_KERNELS = None


def available() -> bool:
    """True when numba can launch kernels on a CUDA device (or the simulator is on)."""
    try:
        return cuda is not None and bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - any import/driver failure means "not available"
        return False


def _rebind(py_func, globs):
    return types.FunctionType(py_func.__code__, globs, py_func.__name__, py_func.__defaults__,
                              py_func.__closure__)


def _kernels():
    """Build (once) the CUDA forward and backward kernels from the shared equations' source.

    Every numba function of ``equations`` and ``adjoint`` becomes a device function, re-created
    over one globals table so that their calls resolve to the device versions.
    """
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    globs = {**vars(equations), **vars(adjoint)}
    for name, func in list(globs.items()):
        if hasattr(func, "py_func"):
            globs[name] = cuda.jit(device=True)(_rebind(func.py_func, globs))
    forward_block = globs["forward_block"]
    backward_cell = globs["backward_cell"]

    @cuda.jit
    def forward_kernel(P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final):
        b = cuda.grid(1)
        if b < dyn.shape[1]:
            forward_block(b, b + 1, P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final)

    @cuda.jit
    def backward_kernel(P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn, gsta,
                        gs0):
        i = cuda.grid(1)
        n_mul = dyn.shape[2]
        if i < dyn.shape[1] * n_mul:
            backward_cell(i // n_mul, i % n_mul, P, TC, PET, dyn, sta, store, bounded, cst,
                          gout, gfinal, gdyn, gsta, gs0)

    _KERNELS = (forward_kernel, backward_kernel)
    return _KERNELS


def _grid(n_threads):
    return ((n_threads + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK, THREADS_PER_BLOCK)


def forward_arrays(P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final, stream=0):
    """Launch the forward kernel on device (or simulator) arrays; same layouts as the CPU."""
    kernel = _kernels()[0]
    blocks, threads = _grid(dyn.shape[1])
    kernel[blocks, threads, stream](P, TC, PET, dyn, sta, s0, bool(bounded), cst, out, store,
                                    final)


def backward_arrays(P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn, gsta, gs0,
                    stream=0):
    """Launch the reverse-sweep kernel; same layouts as the CPU ``backward_kernel``."""
    kernel = _kernels()[1]
    blocks, threads = _grid(dyn.shape[1] * dyn.shape[2])
    kernel[blocks, threads, stream](P, TC, PET, dyn, sta, store, bool(bounded), cst, gout,
                                    gfinal, gdyn, gsta, gs0)


def _dev(tensor):
    return cuda.as_cuda_array(tensor.detach().contiguous())


def _stream():
    import torch

    return cuda.external_stream(torch.cuda.current_stream().cuda_stream)


def forward(ctx, p, tc, pet, dyn, sta, states0, bounded, nz, full, dyn_affine=None):
    """Body of ``FusedHbv.forward`` for CUDA tensors (see ``autograd.FusedHbv``)."""
    import torch

    n_t, n_b = p.shape
    n_mul = dyn.shape[2]
    n_out = len(OUTPUT_NAMES) if full else N_COMPACT
    dtype, device = p.dtype, p.device
    P = p.contiguous()
    TC = tc.contiguous()
    PET = pet.contiguous()
    dyn_k = dyn.contiguous()
    sta_k = sta.contiguous()
    s0_k = states0.contiguous()
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    cst = torch.from_numpy(make_constants(nz, n_mul, np_dtype, dyn_affine)).to(device)
    out = torch.empty((n_out, n_t, n_b), dtype=dtype, device=device)
    store = torch.empty((n_t, n_b, n_mul, N_STORE), dtype=dtype, device=device)
    final = torch.empty((5, n_b, n_mul), dtype=dtype, device=device)
    forward_arrays(_dev(P), _dev(TC), _dev(PET), _dev(dyn_k), _dev(sta_k), _dev(s0_k), bounded,
                   _dev(cst), _dev(out), _dev(store), _dev(final), stream=_stream())
    ctx.on_cuda = True
    ctx.cuda_inputs = (P, TC, PET, dyn_k, sta_k, store, cst)
    ctx.bounded = bool(bounded)
    ctx.n_out = n_out
    return out, final


def backward(ctx, g_out, g_final):
    """Body of ``FusedHbv.backward`` for CUDA tensors; returns (g_dyn, g_sta, g_states0)."""
    import torch

    P, TC, PET, dyn_k, sta_k, store, cst = ctx.cuda_inputs
    n_t, n_b, n_mul, _ = dyn_k.shape
    if g_out is None:
        gout = torch.zeros((ctx.n_out, n_t, n_b), dtype=dyn_k.dtype, device=dyn_k.device)
    else:
        gout = g_out.contiguous()
    if g_final is None:
        gfinal = torch.zeros((5, n_b, n_mul), dtype=dyn_k.dtype, device=dyn_k.device)
    else:
        gfinal = g_final.to(dyn_k.dtype).contiguous()
    gdyn = torch.empty_like(dyn_k)
    gsta = torch.empty_like(sta_k)
    gs0 = torch.empty((5, n_b, n_mul), dtype=dyn_k.dtype, device=dyn_k.device)
    backward_arrays(_dev(P), _dev(TC), _dev(PET), _dev(dyn_k), _dev(sta_k), _dev(store),
                    ctx.bounded, _dev(cst), _dev(gout), _dev(gfinal), _dev(gdyn), _dev(gsta),
                    _dev(gs0), stream=_stream())
    return gdyn, gsta, gs0
