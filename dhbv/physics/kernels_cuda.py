"""CUDA kernels for the fused HBV 2.0 time loop (numba.cuda; optional).

The kernels are compiled from the very same Python source as the CPU kernels
(``kernels_cpu._forward_basin`` / ``_backward_basin`` and their helpers): the functions are
re-created with a globals table in which the helpers are CUDA device functions, so CPU and GPU
share one set of equations and one adjoint. One CUDA thread runs one basin (all its nmul
components, in order), which keeps the nmul-mean outputs free of atomics and bit-compatible
with the CPU kernels' summation order.

On machines without a CUDA driver, numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) runs the
same kernels on numpy arrays; the test suite uses it on a tiny case. Torch tensors are passed
zero-copy through ``__cuda_array_interface__`` on the current torch stream.
"""

from __future__ import annotations

import types

import numpy as np

from . import kernels_cpu
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
    """Build (once) the CUDA forward and backward kernels from the CPU kernels' source."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    globs = dict(vars(kernels_cpu))
    for name in ("_split_min", "_pow_grads", "_step", "_forward_basin", "_backward_basin"):
        globs[name] = cuda.jit(device=True)(_rebind(getattr(kernels_cpu, name).py_func, globs))
    forward_basin = globs["_forward_basin"]
    backward_basin = globs["_backward_basin"]

    @cuda.jit
    def forward_kernel(P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final):
        b = cuda.grid(1)
        if b < dyn.shape[0]:
            forward_basin(b, P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final)

    @cuda.jit
    def backward_kernel(P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn, gsta,
                        gs0):
        b = cuda.grid(1)
        if b < dyn.shape[0]:
            backward_basin(b, P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn,
                           gsta, gs0)

    _KERNELS = (forward_kernel, backward_kernel)
    return _KERNELS


def _grid(n_basin):
    return ((n_basin + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK, THREADS_PER_BLOCK)


def forward_arrays(P, TC, PET, dyn, sta, s0, bounded, cst, out, store, final, stream=0):
    """Launch the forward kernel on device (or simulator) arrays; same layouts as the CPU."""
    kernel = _kernels()[0]
    blocks, threads = _grid(dyn.shape[0])
    kernel[blocks, threads, stream](P, TC, PET, dyn, sta, s0, bool(bounded), cst, out, store,
                                    final)


def backward_arrays(P, TC, PET, dyn, sta, store, bounded, cst, gout, gfinal, gdyn, gsta, gs0,
                    stream=0):
    """Launch the reverse-sweep kernel; same layouts as ``kernels_cpu.backward_kernel``."""
    kernel = _kernels()[1]
    blocks, threads = _grid(dyn.shape[0])
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

    from .autograd import _affine

    n_t, n_b = p.shape
    n_mul = dyn.shape[2]
    n_out = len(OUTPUT_NAMES) if full else N_COMPACT
    dtype, device = p.dtype, p.device
    P = p.t().contiguous()
    TC = tc.t().contiguous()
    PET = pet.t().contiguous()
    dyn_k = dyn.permute(1, 2, 0, 3).contiguous()
    sta_k = sta.contiguous()
    s0_k = states0.permute(1, 2, 0).contiguous()
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    lo, scale = _affine(dyn_affine)
    cst = torch.from_numpy(kernels_cpu.make_constants(nz, n_mul, np_dtype, lo, scale)).to(device)
    out = torch.empty((n_out, n_b, n_t), dtype=dtype, device=device)
    store = torch.empty((n_b, n_mul, n_t, kernels_cpu.N_STORE), dtype=dtype,
                        device=device)
    final = torch.empty((n_b, n_mul, 5), dtype=dtype, device=device)
    forward_arrays(_dev(P), _dev(TC), _dev(PET), _dev(dyn_k), _dev(sta_k), _dev(s0_k), bounded,
                   _dev(cst), _dev(out), _dev(store), _dev(final), stream=_stream())
    ctx.on_cuda = True
    ctx.cuda_inputs = (P, TC, PET, dyn_k, sta_k, store, cst)
    ctx.bounded = bool(bounded)
    ctx.n_out = n_out
    return out.permute(0, 2, 1), final.permute(2, 0, 1)


def backward(ctx, g_out, g_final):
    """Body of ``FusedHbv.backward`` for CUDA tensors; returns (g_dyn, g_sta, g_states0)."""
    import torch

    P, TC, PET, dyn_k, sta_k, store, cst = ctx.cuda_inputs
    n_b, n_mul, n_t, _ = dyn_k.shape
    if g_out is None:
        gout = torch.zeros((ctx.n_out, n_b, n_t), dtype=dyn_k.dtype, device=dyn_k.device)
    else:
        gout = g_out.permute(0, 2, 1).contiguous()
    if g_final is None:
        gfinal = torch.zeros((n_b, n_mul, 5), dtype=dyn_k.dtype, device=dyn_k.device)
    else:
        gfinal = g_final.permute(1, 2, 0).contiguous()
    gdyn = torch.empty_like(dyn_k)
    gsta = torch.empty_like(sta_k)
    gs0 = torch.empty((n_b, n_mul, 5), dtype=dyn_k.dtype, device=dyn_k.device)
    backward_arrays(_dev(P), _dev(TC), _dev(PET), _dev(dyn_k), _dev(sta_k), _dev(store),
                    ctx.bounded, _dev(cst), _dev(gout), _dev(gfinal), _dev(gdyn), _dev(gsta),
                    _dev(gs0), stream=_stream())
    return gdyn.permute(2, 0, 1, 3), gsta, gs0.permute(2, 0, 1)
