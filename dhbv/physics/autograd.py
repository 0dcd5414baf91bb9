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
    return x.detach().contiguous().numpy()


class FusedHbv(torch.autograd.Function):
    """Fused HBV 2.0 time loop; see :func:`run_fused` for the argument layouts."""

    @staticmethod
    def forward(ctx, p, tc, pet, dyn, sta, states0, bounded, nz, full):
        if p.is_cuda:
            from . import kernels_cuda

            return kernels_cuda.forward(ctx, p, tc, pet, dyn, sta, states0, bounded, nz, full)
        dtype = p.dtype
        n_t, n_b = p.shape
        n_mul = dyn.shape[2]
        n_out = len(OUTPUT_NAMES) if full else N_COMPACT
        P = _np(p.t())
        TC = _np(tc.t())
        PET = _np(pet.t())
        dyn_k = _np(dyn.permute(1, 2, 0, 3))
        sta_k = _np(sta)
        s0_k = _np(states0.permute(1, 2, 0))
        cst = kernels_cpu.make_constants(nz, n_mul, P.dtype)
        out = np.empty((n_out, n_b, n_t), dtype=P.dtype)
        store = np.empty((n_b, n_mul, n_t, 5), dtype=P.dtype)
        final = np.empty((n_b, n_mul, 5), dtype=P.dtype)
        kernels_cpu.forward_kernel(P, TC, PET, dyn_k, sta_k, s0_k, bool(bounded), cst, out,
                                   store, final)
        ctx.kernel_inputs = (P, TC, PET, dyn_k, sta_k, store, cst)
        ctx.bounded = bool(bounded)
        ctx.n_out = n_out
        ctx.dtype = dtype
        out_t = torch.from_numpy(out).permute(0, 2, 1)
        final_t = torch.from_numpy(final).permute(2, 0, 1)
        return out_t.to(dtype), final_t.to(dtype)

    @staticmethod
    def backward(ctx, g_out, g_final):
        if getattr(ctx, "on_cuda", False):
            from . import kernels_cuda

            g_dyn, g_sta, g_s0 = kernels_cuda.backward(ctx, g_out, g_final)
            return None, None, None, g_dyn, g_sta, g_s0, None, None, None
        P, TC, PET, dyn_k, sta_k, store, cst = ctx.kernel_inputs
        n_b, n_mul, n_t, _ = dyn_k.shape
        dtype = dyn_k.dtype
        if g_out is None:
            gout = np.zeros((ctx.n_out, n_b, n_t), dtype=dtype)
        else:
            gout = _np(g_out.permute(0, 2, 1).to(ctx.dtype))
        if g_final is None:
            gfinal = np.zeros((n_b, n_mul, 5), dtype=dtype)
        else:
            gfinal = _np(g_final.permute(1, 2, 0).to(ctx.dtype))
        gdyn = np.empty_like(dyn_k)
        gsta = np.empty_like(sta_k)
        gs0 = np.empty((n_b, n_mul, 5), dtype=dtype)
        kernels_cpu.backward_kernel(P, TC, PET, dyn_k, sta_k, store, ctx.bounded, cst, gout,
                                    gfinal, gdyn, gsta, gs0)
        g_dyn = torch.from_numpy(gdyn).permute(2, 0, 1, 3)
        g_sta = torch.from_numpy(gsta)
        g_s0 = torch.from_numpy(gs0).permute(2, 0, 1)
        return None, None, None, g_dyn, g_sta, g_s0, None, None, None


def run_fused(p, tc, pet, dyn, sta, states0, bounded: bool, nz: float = NEAR_ZERO,
              full: bool = True):
    """Fused equivalent of :func:`reference.run_reference` (same arguments and returns).

    p, tc, pet [T, B]; dyn [T, B, nmul, 3]; sta [B, nmul, 12]; states0 [5, B, nmul].
    Returns out [n_out, T, B] (nmul means) and final states [5, B, nmul].
    """
    return FusedHbv.apply(p, tc, pet, dyn, sta, states0, bounded, nz, full)
