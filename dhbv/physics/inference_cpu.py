"""The forward of ``run_hbv2`` on CPU without gradients: one compiled parallel call.

Inference (simulation, a training run's spin-up without gradients) needs no autograd
bookkeeping: :func:`forward_no_grad_cpu` allocates the outputs once and runs
``kernels_cpu.forward_route_kernel``, which maps the static parameters, computes the UH
weights, runs the daily time loop, routes the runoff through the UH (with a carried history)
and collects the last days' runoff components for the next chunk, all per thread for its
range of basins. The values equal those of the autograd path exactly (same compiled
arithmetic, see ``tests/test_physics_unit_kernels.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
import torch

from . import kernels_cpu
from .equations import make_constants
from .reference import N_COMPACT, NEAR_ZERO, OUTPUT_NAMES


@dataclass
class NoGradForward:
    """Results of :func:`forward_no_grad_cpu` (tensors sharing the kernel's buffers).

    out [n_out, T, B]: nmul-mean outputs in ``reference.OUTPUT_NAMES`` order (without
    ``full`` the first five, of which Q0, Q1, Q2 hold only the last L − 1 days: the other
    days of these rows are not written); final_states [5, B, nmul] (mm); streamflow [T, B] (UH-routed total
    runoff, mm/d); uh_weights [B, L]; final_uh_history [L − 1, B, 3] (mm/d); core_static
    [B, nmul, 12] (``reference.CORE_STATIC``); summary: the kernel's input summary (ok,
    mean temperature °C) of ``kernels_cpu.input_summary``.
    """

    out: torch.Tensor
    final_states: torch.Tensor
    streamflow: torch.Tensor
    uh_weights: torch.Tensor
    final_uh_history: torch.Tensor
    core_static: torch.Tensor
    summary: tuple


@lru_cache(maxsize=64)
def _constants(nz: float, n_mul: int, np_dtype, dyn_affine) -> np.ndarray:
    """``equations.make_constants`` (read-only, cached: it is the same for every call)."""
    cst = make_constants(nz, n_mul, np_dtype, dyn_affine)
    cst.flags.writeable = False
    return cst


def _np(x: torch.Tensor) -> np.ndarray:
    """Zero-copy numpy view of a CPU tensor (any strides)."""
    return x.detach().numpy()


def _np_as(x: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """numpy array of x in ``dtype`` (a view when x already has it)."""
    return _np(x if x.dtype == dtype else x.to(dtype))


def forward_no_grad_cpu(forcing, dyn, static, uh_params, uparea, elev, states0, history,
                        bounded: bool, full: bool, uh_length: int, uh_weights, tt_mode: int,
                        lf_mode: int, static_maps, uh_map, dyn_affine) -> NoGradForward:
    """Forward of ``run_hbv2`` without gradients on CPU tensors of one float dtype.

    forcing [T, B, 3] (P mm/d, T °C, PET mm/d); dyn [T, B, 3, nmul] and static [B, 13, nmul]
    and uh_params [B, 2] in [0, 1]; uparea [B] (km²); elev [B] (m); states0 [5, B, nmul]
    (mm); history None or [L − 1, B, 3] (mm/d). ``uh_weights``: None (midpoint weights from
    uh_params, in the kernel) or given weights [B, L]. tt_mode, lf_mode, static_maps (lo,
    scale, constants), uh_map and dyn_affine: the option codes and typed constants of
    ``hbv2`` (``kernels_unit`` layouts).
    """
    n_t, n_b, _ = forcing.shape
    n_mul = dyn.shape[3]
    n_out = len(OUTPUT_NAMES) if full else N_COMPACT
    f = _np(forcing)
    dyn_np = _np(dyn)  # [T, B, 3, nmul]; the kernel reads it as [T, B, nmul, 3] as well
    np_dtype = f.dtype
    out = np.empty((n_out, n_t, n_b), dtype=np_dtype)
    # no state store: one slot per component, time stride 0 (written only for nmul > 64)
    slot = np.empty((1, n_b, n_mul, 5), dtype=np_dtype)
    store = np.ndarray((n_t, n_b, n_mul, 5), dtype=np_dtype, buffer=slot,
                       strides=(0, *slot.strides[1:]))
    final = np.empty((5, n_b, n_mul), dtype=np_dtype)
    core = np.empty((n_b, n_mul, 12), dtype=np_dtype)
    make_w = uh_weights is None
    w = np.empty((n_b, uh_length), dtype=np_dtype) if make_w else _np(uh_weights)
    y = np.empty((n_t, n_b), dtype=np_dtype)
    hist_out = np.empty((uh_length - 1, n_b, 3), dtype=np_dtype)
    hist = np.empty((0, n_b, 3), dtype=np_dtype) if history is None else _np(history)
    block = kernels_cpu.block_size(n_b, n_mul, numba.get_num_threads())
    chk = np.empty(((n_b + block - 1) // block, kernels_cpu.N_CHK))
    lo, scale, k = static_maps
    kernels_cpu.forward_route_kernel(
        f[..., 0], f[..., 1], f[..., 2], dyn_np.transpose(0, 1, 3, 2), _np(static),
        _np_as(elev, forcing.dtype), _np_as(uparea, forcing.dtype), lo, scale, k, tt_mode, lf_mode,
        _np(uh_params), uh_map, make_w, _np(states0), bool(bounded),
        _constants(NEAR_ZERO, n_mul, np_dtype, dyn_affine), core, out, store, final, block, chk,
        dyn_np, w, hist, y, hist_out)
    return NoGradForward(torch.from_numpy(out), torch.from_numpy(final), torch.from_numpy(y),
                         torch.from_numpy(w) if make_w else uh_weights,
                         torch.from_numpy(hist_out), torch.from_numpy(core),
                         kernels_cpu.input_summary(chk))
