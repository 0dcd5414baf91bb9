"""torch.autograd.Function around the fused HBV 2.0 kernels (forward + reverse sweep).

The function takes the core inputs in the layouts of ``reference.run_reference`` and returns
the same values; kernels run on basin-major copies (see ``kernels_cpu``). Gradients are
returned for the dynamic parameters, the static core inputs (which include TT_eff and the
nominal exchange LF) and the initial states; the forcing is not differentiated.
"""

from __future__ import annotations

import numpy as np
import torch

from . import kernels_cpu
from .reference import N_COMPACT, NEAR_ZERO, OUTPUT_NAMES


def _np(x: torch.Tensor) -> np.ndarray:
    """Zero-copy numpy view (any strides; the numba kernels index strided arrays directly)."""
    return x.detach().numpy()


def _affine(dyn_affine):
    if dyn_affine is None:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    lo, scale = dyn_affine
    return tuple(float(v) for v in lo), tuple(float(v) for v in scale)


def _stack_grads(g_outs, like):
    """[n_out, T, B] gradient from per-output gradients (None = zero)."""
    n_t, n_b = like.shape[1], like.shape[0]
    g = torch.zeros((len(g_outs), n_t, n_b), dtype=like.dtype, device=like.device)
    for k, gk in enumerate(g_outs):
        if gk is not None:
            g[k] = gk
    return g


class FusedHbv(torch.autograd.Function):
    """Fused HBV 2.0 time loop; see :func:`run_fused` for the argument layouts."""

    @staticmethod
    def forward(ctx, p, tc, pet, dyn, sta, states0, bounded, nz, full, dyn_affine=None):
        if p.is_cuda:
            from . import kernels_cuda

            out, final = kernels_cuda.forward(ctx, p, tc, pet, dyn, sta, states0, bounded, nz,
                                              full, dyn_affine)
            ctx.set_materialize_grads(False)
            return (*out.unbind(0), final)
        dtype = p.dtype
        n_t, n_b = p.shape
        n_mul = dyn.shape[2]
        n_out = len(OUTPUT_NAMES) if full else N_COMPACT
        # strided views, no copies: forcing [B, T], dyn [B, nmul, T, 3], states [B, nmul, 5]
        P = _np(p.t())
        TC = _np(tc.t())
        PET = _np(pet.t())
        dyn_k = _np(dyn.permute(1, 2, 0, 3))
        sta_k = _np(sta)
        s0_k = _np(states0.permute(1, 2, 0))
        lo, scale = _affine(dyn_affine)
        cst = kernels_cpu.make_constants(nz, n_mul, P.dtype, lo, scale)
        # outputs are time-major [n_out, T, B] (contiguous [T, B] series for the caller's UH and
        # loss); the kernel writes them through a [n_out, B, T] strided view
        out_tb = np.empty((n_out, n_t, n_b), dtype=P.dtype)
        out = out_tb.transpose(0, 2, 1)
        if any(ctx.needs_input_grad[3:6]):
            store = np.empty((n_b, n_mul, n_t, kernels_cpu.N_STORE), dtype=P.dtype)
        else:  # no backward: one slot per component, rewritten every day (time stride 0)
            slot = np.empty((n_b, n_mul, 1, 5), dtype=P.dtype)
            store = np.lib.stride_tricks.as_strided(
                slot, shape=(n_b, n_mul, n_t, 5),
                strides=(slot.strides[0], slot.strides[1], 0, slot.strides[3]))
        final = np.empty((n_b, n_mul, 5), dtype=P.dtype)
        kernels_cpu.forward_kernel(P, TC, PET, dyn_k, sta_k, s0_k, bool(bounded), cst, out,
                                   store, final)
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
        final_t = torch.from_numpy(final).permute(2, 0, 1)
        return (*torch.from_numpy(out_tb).unbind(0), final_t)

    @staticmethod
    def backward(ctx, *grads):
        g_outs, g_final = grads[:-1], grads[-1]
        if getattr(ctx, "on_cuda", False):
            from . import kernels_cuda

            g_out = _stack_grads(g_outs, ctx.cuda_inputs[0])  # P is [B, T]
            g_dyn, g_sta, g_s0 = kernels_cuda.backward(ctx, g_out, g_final)
            return None, None, None, g_dyn, g_sta, g_s0, None, None, None, None
        p, tc, pet, dyn, sta = ctx.saved_tensors
        store, cst = ctx.store, ctx.cst
        n_b, n_mul, n_t, _ = store.shape
        dtype = store.dtype
        gout_tb = np.zeros((ctx.n_out, n_t, n_b), dtype=dtype)
        for k, g in enumerate(g_outs):
            if g is not None:
                gout_tb[k] = _np(g.to(ctx.dtype))
        gout = gout_tb.transpose(0, 2, 1)
        if g_final is None:
            gfinal = np.zeros((n_b, n_mul, 5), dtype=dtype)
        else:
            gfinal = _np(g_final.to(ctx.dtype).permute(1, 2, 0))
        g_dyn = torch.empty_like(dyn, memory_format=torch.preserve_format)
        g_sta = torch.empty_like(sta, memory_format=torch.preserve_format)
        gs0 = np.empty((n_b, n_mul, 5), dtype=dtype)
        kernels_cpu.backward_kernel(_np(p.t()), _np(tc.t()), _np(pet.t()),
                                    _np(dyn.permute(1, 2, 0, 3)), _np(sta), store, ctx.bounded,
                                    cst, gout, gfinal, _np(g_dyn.permute(1, 2, 0, 3)),
                                    _np(g_sta), gs0)
        g_s0 = torch.from_numpy(gs0).permute(2, 0, 1)
        return None, None, None, g_dyn, g_sta, g_s0, None, None, None, None


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
                     full: bool = True, dyn_affine=None):
    """As :func:`run_fused`, but returns the n_out output series as separate [T, B] tensors
    followed by the final states (no stacking copy; unused series cost no backward work)."""
    return FusedHbv.apply(p, tc, pet, dyn, sta, states0, bounded, nz, full, dyn_affine)
