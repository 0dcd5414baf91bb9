"""torch.autograd.Function around the fused HBV 2.0 kernels (forward + reverse sweep).

The function takes the core inputs in the layouts of ``reference.run_reference`` and returns
the same values; the kernels read the time-major inputs in place (layouts in ``equations``).
Gradients are returned for the dynamic parameters, the static core inputs (which include TT_eff
and the nominal exchange LF) and the initial states; the forcing is not differentiated.
"""

from __future__ import annotations

import sys

import numba
import numpy as np
import torch

from . import kernels_cpu
from .equations import N_STORE, make_constants
from .reference import N_COMPACT, NEAR_ZERO, OUTPUT_NAMES


# Reverse-sweep state stores of at least this size are carved from recycled slabs: a store of a
# training batch is tens to thousands of MiB, and a fresh one costs page faults and zeroing on
# every step. A slab is reused only when no array view of it is alive any more, i.e. once the
# autograd graph that held the previous store has been freed; nothing else changes.
STORE_POOL_MIN_BYTES = 8 * 2**20
STORE_POOL_SLABS = 2
_store_pool: list[np.ndarray] = []


def _slab_is_free(i: int) -> bool:
    """True when pool slab i has no view alive (references: the pool and the call argument)."""
    return sys.getrefcount(_store_pool[i]) == 2


def _store_buffer(shape, dtype) -> np.ndarray:
    """Uninitialised array for the reverse-sweep state store (recycled when large)."""
    n = int(np.prod(shape))
    dtype = np.dtype(dtype)
    if n * dtype.itemsize < STORE_POOL_MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    for i in range(len(_store_pool)):
        if (_store_pool[i].size == n and _store_pool[i].dtype == dtype and _slab_is_free(i)):
            return _store_pool[i].reshape(shape)
    while len(_store_pool) >= STORE_POOL_SLABS:  # make room: drop the oldest free slab
        free = [i for i in range(len(_store_pool)) if _slab_is_free(i)]
        if not free:
            break
        del _store_pool[free[0]]
    slab = np.empty(n, dtype=dtype)
    if len(_store_pool) < STORE_POOL_SLABS:
        _store_pool.append(slab)
    return slab.reshape(shape)


def release_store_buffers() -> None:
    """Drop the recycled state-store slabs that no graph uses (frees their memory)."""
    for i in reversed(range(len(_store_pool))):
        if _slab_is_free(i):
            del _store_pool[i]


def _np(x: torch.Tensor) -> np.ndarray:
    """Zero-copy numpy view (any strides; the numba kernels index strided arrays directly)."""
    return x.detach().numpy()


def _stack_grads(g_outs, like):
    """[n_out, T, B] gradient from per-output gradients (None = zero); ``like`` is [T, B]."""
    n_t, n_b = like.shape
    g = torch.zeros((len(g_outs), n_t, n_b), dtype=like.dtype, device=like.device)
    for k, gk in enumerate(g_outs):
        if gk is not None:
            g[k] = gk
    return g


def _forward_cpu(p, tc, pet, dyn, sta, states0, bounded, nz, full, dyn_affine, keep, summary):
    """Run ``kernels_cpu.forward_kernel``; returns (out [n_out, T, B], store, final [5, B,
    nmul], cst) as numpy arrays. ``keep``: write the reverse sweep's state store (else a
    dummy that the kernel does not touch). ``summary``: None or a list to which the kernel's
    input summary (ok, mean temperature) is appended."""
    n_t, n_b = p.shape
    n_mul = dyn.shape[2]
    n_out = len(OUTPUT_NAMES) if full else N_COMPACT
    # the kernels read the caller's time-major layouts in place (strided views, no copies):
    # forcing [T, B], dyn [T, B, nmul, 3], sta [B, nmul, 12], states [5, B, nmul]
    P = _np(p)
    cst = make_constants(nz, n_mul, P.dtype, dyn_affine)
    out_tb = np.empty((n_out, n_t, n_b), dtype=P.dtype)
    if keep:
        # indexed [T, B, nmul, k] but cell-major in memory: the reverse sweep runs one
        # component at a time and then streams through contiguous memory
        store = _store_buffer((n_t, n_b, n_mul, N_STORE), P.dtype)
    else:  # no backward: one slot per component (time stride 0), written only for nmul > 64
        slot = np.empty((1, n_b, n_mul, 5), dtype=P.dtype)
        store = np.lib.stride_tricks.as_strided(
            slot, shape=(n_t, n_b, n_mul, 5), strides=(0, *slot.strides[1:]))
    final = np.empty((5, n_b, n_mul), dtype=P.dtype)
    block = kernels_cpu.block_size(n_b, n_mul, numba.get_num_threads())
    chk = np.empty(((n_b + block - 1) // block, kernels_cpu.N_CHK))
    dyn_np = _np(dyn)
    # dyn as [T, B, 3, nmul] too: contiguous (typed so) when the caller's dyn is
    # [T, B, 3, nmul] in memory, as ``run_hbv2``'s is
    kernels_cpu.forward_kernel(P, _np(tc), _np(pet), dyn_np, _np(sta), _np(states0),
                               bool(bounded), cst, out_tb, store, final, block, keep, chk,
                               dyn_np.transpose(0, 1, 3, 2))
    if summary is not None:
        summary.append(kernels_cpu.input_summary(chk))
    return out_tb, store, final, cst


class FusedHbv(torch.autograd.Function):
    """Fused HBV 2.0 time loop; see :func:`run_fused` for the argument layouts."""

    @staticmethod
    def forward(ctx, p, tc, pet, dyn, sta, states0, bounded, nz, full, dyn_affine=None,
                summary=None):
        if p.is_cuda:
            from . import kernels_cuda

            out, final = kernels_cuda.forward(ctx, p, tc, pet, dyn, sta, states0, bounded, nz,
                                              full, dyn_affine)
            ctx.set_materialize_grads(False)
            return (*out.unbind(0), final)
        keep = any(ctx.needs_input_grad[3:6])
        out_tb, store, final, cst = _forward_cpu(p, tc, pet, dyn, sta, states0, bounded, nz, full,
                                                 dyn_affine, keep, summary)
        dtype = p.dtype
        n_out = out_tb.shape[0]
        # inputs are saved as tensors (version-checked by autograd), the stored states as numpy
        ctx.save_for_backward(p, tc, pet, dyn, sta)
        ctx.store = store
        ctx.cst = cst
        ctx.bounded = bool(bounded)
        ctx.n_out = n_out
        ctx.dtype = dtype
        # one output per series ([T, B] slices of the time-major buffer): unused outputs get no
        # gradient at all, instead of a zero-filled [n_out, T, B] select_backward each
        ctx.set_materialize_grads(False)
        return (*torch.from_numpy(out_tb).unbind(0), torch.from_numpy(final))

    @staticmethod
    def backward(ctx, *grads):
        g_outs, g_final = grads[:-1], grads[-1]
        if getattr(ctx, "on_cuda", False):
            from . import kernels_cuda

            g_out = _stack_grads(g_outs, ctx.cuda_inputs[0])  # P is [T, B]
            g_dyn, g_sta, g_s0 = kernels_cuda.backward(ctx, g_out, g_final)
            return None, None, None, g_dyn, g_sta, g_s0, None, None, None, None, None
        p, tc, pet, dyn, sta = ctx.saved_tensors
        store, cst = ctx.store, ctx.cst
        n_t, n_b, n_mul, _ = store.shape
        dtype = store.dtype
        gout = np.zeros((ctx.n_out, n_t, n_b), dtype=dtype)
        for k, g in enumerate(g_outs):
            if g is not None:
                gout[k] = _np(g.to(ctx.dtype))
        if g_final is None:
            gfinal = np.zeros((5, n_b, n_mul), dtype=dtype)
        else:
            gfinal = _np(g_final.to(ctx.dtype))
        g_dyn = torch.empty_like(dyn, memory_format=torch.preserve_format)
        g_sta = torch.empty_like(sta, memory_format=torch.preserve_format)
        gs0 = np.empty((5, n_b, n_mul), dtype=dtype)
        kernels_cpu.backward_kernel(_np(p), _np(tc), _np(pet), _np(dyn), _np(sta), store,
                                    ctx.bounded, cst, gout, gfinal, _np(g_dyn), _np(g_sta), gs0)
        g_s0 = torch.from_numpy(gs0)
        return None, None, None, g_dyn, g_sta, g_s0, None, None, None, None, None


def run_fused(p, tc, pet, dyn, sta, states0, bounded: bool, nz: float = NEAR_ZERO,
              full: bool = True, dyn_affine=None):
    """Fused equivalent of :func:`reference.run_reference` (same arguments and returns).

    p, tc, pet [T, B]; dyn [T, B, nmul, 3]; sta [B, nmul, 12]; states0 [5, B, nmul].
    Returns out [n_out, T, B] (nmul means) and final states [5, B, nmul].

    Inputs may be strided views (e.g. ``forcing[..., 0]`` or a permuted parameter tensor): the
    kernels read them in place. ``dyn_affine`` = ((lo0, lo1, lo2), (scale0, scale1, scale2))
    makes the kernels use dyn·scale + lo as the dynamic parameters (descaling fused into the
    time loop; gradients are then with respect to the normalised dyn).
    """
    *outs, final = run_fused_series(p, tc, pet, dyn, sta, states0, bounded, nz, full,
                                    dyn_affine)
    return torch.stack(outs), final


def run_fused_series(p, tc, pet, dyn, sta, states0, bounded: bool, nz: float = NEAR_ZERO,
                     full: bool = True, dyn_affine=None, summary=None):
    """As :func:`run_fused`, but returns the n_out output series as separate [T, B] tensors
    followed by the final states (no stacking copy; unused series cost no backward work).

    ``summary``: an optional list; on CPU the kernel's input summary (ok, mean temperature)
    of ``kernels_cpu.input_summary`` is appended to it (``run_hbv2`` validates the forcing
    and dynamic parameters with it instead of a separate pass over them).
    """
    if not p.is_cuda and not needs_grad(dyn, sta, states0):
        out, final = forward_no_grad(p, tc, pet, dyn, sta, states0, bounded, nz, full,
                                     dyn_affine, summary)
        return (*out.unbind(0), final)
    return FusedHbv.apply(p, tc, pet, dyn, sta, states0, bounded, nz, full, dyn_affine,
                          summary)


def needs_grad(*tensors) -> bool:
    """True when autograd would record an operation on any of ``tensors`` (None allowed)."""
    return torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors)


def forward_no_grad(p, tc, pet, dyn, sta, states0, bounded: bool, nz: float = NEAR_ZERO,
                    full: bool = True, dyn_affine=None, summary=None):
    """CPU forward of :func:`run_fused` without autograd bookkeeping (no state store, no
    saved inputs): returns out [n_out, T, B] (one tensor, the series its rows) and the final
    states [5, B, nmul]; the values equal those of the autograd path exactly."""
    out_tb, _store, final, _cst = _forward_cpu(p, tc, pet, dyn, sta, states0, bounded, nz,
                                               full, dyn_affine, False, summary)
    return torch.from_numpy(out_tb), torch.from_numpy(final)
