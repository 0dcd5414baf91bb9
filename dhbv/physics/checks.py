"""Input checks for ``run_hbv2``; each failure is one line naming the field and the fix."""

from __future__ import annotations

import math

import numpy as np
import torch

from dhbv.errors import DhbvInputError

KELVIN_MEAN_LIMIT = 200.0  # °C; a mean temperature above this is almost surely in kelvin


def _shape(x) -> str:
    return "x".join(str(s) for s in x.shape)


def _require_tensor(name: str, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise DhbvInputError(f"{name}: expected a torch.Tensor, got {type(x).__name__}; "
                             "convert with torch.as_tensor")


def _column_stats(x: torch.Tensor):
    """(min, max, sum) per column of x [N, C] as Python floats; NaN anywhere in a column makes
    its min and max NaN (the checks then report it). One parallel pass over the data."""
    if (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and x.numel() > 0):
        from .kernels_cpu import column_stats

        n_c = x.shape[1]
        mins = np.empty(n_c, dtype=np.float64)
        maxs = np.empty(n_c, dtype=np.float64)
        sums = np.empty(n_c, dtype=np.float64)
        column_stats(x.numpy(), mins, maxs, sums)
        bad = ~np.isfinite(sums)  # NaN or inf somewhere in the column
        mins[bad] = np.nan
        maxs[bad] = np.nan
        return [float(v) for v in mins], [float(v) for v in maxs], [float(v) for v in sums]
    f_min, f_max = torch.aminmax(x, dim=0)
    f_sum = x.sum(dim=0)
    return ([float(v) for v in f_min], [float(v) for v in f_max], [float(v) for v in f_sum])


#: arrays smaller than this are reduced in the calling thread (no parallel launch)
SMALL_ARRAY = 2**20


def _min_max(x: torch.Tensor):
    """(min, max) of all elements as Python floats (NaN propagates)."""
    if x.device.type == "cpu" and 0 < x.numel() < SMALL_ARRAY:
        a = x.numpy() if x.dtype in (torch.float32, torch.float64) else x.double().numpy()
        return float(a.min()), float(a.max())
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and x.numel() > 0:
        lo, hi, _ = _column_stats(x.reshape(-1, 1))
        return lo[0], hi[0]
    lo, hi = torch.aminmax(x)
    return float(lo), float(hi)


def _all_finite(x: torch.Tensor) -> bool:
    """True when no element of x is NaN or inf (numpy for small CPU float arrays: no torch
    dispatch, no parallel launch)."""
    if (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and x.numel() < SMALL_ARRAY):
        return bool(np.isfinite(x.detach().numpy()).all())
    return bool(torch.isfinite(x).all())


def check_inputs(forcing, dyn, static, uh_params, uparea, elev, warmup: int, n_static: int,
                 n_dynamic: int, initial_states=None, initial_uh_history=None,
                 uh_length: int = 1, values: bool = True) -> None:
    """Validate shapes, finiteness, units and parameter ranges of ``run_hbv2`` inputs.

    Raises :class:`dhbv.errors.DhbvInputError` with a one-line message. ``values=False``
    skips the two passes over the large arrays, the values of the forcing and of ``dyn``
    (``run_hbv2`` then checks them with the summary the CPU kernel computes as it reads
    them, see :func:`check_summary`).
    """
    for name, x in (("forcing", forcing), ("dyn", dyn), ("static", static),
                    ("uh_params", uh_params), ("uparea", uparea), ("elev", elev)):
        _require_tensor(name, x)
    if forcing.dim() != 3 or forcing.shape[2] != 3:
        raise DhbvInputError(f"forcing: shape {_shape(forcing)} is not [T, B, 3] "
                             "(P mm/d, T °C, PET mm/d); reorder or stack the variables")
    n_t, n_b = forcing.shape[:2]
    if dyn.dim() != 4 or dyn.shape[0] != n_t or dyn.shape[1] != n_b or dyn.shape[2] != n_dynamic:
        raise DhbvInputError(f"dyn: shape {_shape(dyn)} does not match [T={n_t}, B={n_b}, "
                             f"{n_dynamic}, nmul] of forcing; check the LSTM output reshape")
    n_mul = dyn.shape[3]
    if static.dim() != 3 or static.shape != (n_b, n_static, n_mul):
        raise DhbvInputError(f"static: shape {_shape(static)} is not [B={n_b}, {n_static}, "
                             f"nmul={n_mul}]; check the MLP output reshape")
    if uh_params.dim() != 2 or uh_params.shape != (n_b, 2):
        raise DhbvInputError(f"uh_params: shape {_shape(uh_params)} is not [B={n_b}, 2] "
                             "(UH parameters route_a, route_b)")
    for name, x in (("uparea", uparea), ("elev", elev)):
        if x.dim() != 1 or x.shape[0] != n_b:
            raise DhbvInputError(f"{name}: shape {_shape(x)} is not [B={n_b}]; pass one value "
                                 "per unit basin")
        if not _all_finite(x):
            raise DhbvInputError(f"{name}: contains NaN or inf; fill missing unit attributes "
                                 "before running the model")
    if not 0 <= int(warmup) < n_t:
        raise DhbvInputError(f"warmup: {warmup} must be in [0, T={n_t}); shorten the warm-up "
                             "or lengthen the forcing window")
    if values:
        f_min, f_max, f_sum = _column_stats(forcing.detach().reshape(-1, 3))
        names = ("P", "T", "PET")
        for i in range(3):
            lo, hi = f_min[i], f_max[i]
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise DhbvInputError(f"forcing[{names[i]}]: contains NaN or inf; interpolate gaps "
                                     "in time and set remaining NaN to 0 before the physics")
        if f_min[0] < 0:
            raise DhbvInputError("forcing[P]: negative precipitation found; precipitation must be "
                                 ">= 0 mm/d (clip or fix the source data)")
        if f_min[2] < 0:
            raise DhbvInputError("forcing[PET]: negative PET found; PET must be >= 0 mm/d")
        t_mean = f_sum[1] / max(n_t * n_b, 1)
        if t_mean > KELVIN_MEAN_LIMIT:
            raise DhbvInputError(f"forcing[T]: mean temperature {t_mean:.1f} looks like kelvin; "
                                 "convert to °C (subtract 273.15)")
    for name, x in ((("dyn", dyn),) if values else ()) + (("static", static),
                                                           ("uh_params", uh_params)):
        lo, hi = _min_max(x.detach())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise DhbvInputError(f"{name}: parameters contain NaN or inf; check the network "
                                 "outputs")
        if lo < 0 or hi > 1:
            raise DhbvInputError(f"{name}: normalised parameters outside [0, 1] (min {lo:.3g}, "
                                 f"max {hi:.3g}); pass sigmoid outputs, not physical values")
    if initial_states is not None:
        _require_tensor("initial_states", initial_states)
        if initial_states.shape != (5, n_b, n_mul):
            raise DhbvInputError(f"initial_states: shape {_shape(initial_states)} is not "
                                 f"[5, B={n_b}, nmul={n_mul}]; pass a previous final_states")
        s = initial_states.detach()
        if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
            raise DhbvInputError("initial_states: must be finite and >= 0 mm")
    if initial_uh_history is not None:
        _require_tensor("initial_uh_history", initial_uh_history)
        if initial_uh_history.shape != (uh_length - 1, n_b, 3):
            raise DhbvInputError(f"initial_uh_history: shape {_shape(initial_uh_history)} is not "
                                 f"[uh_length - 1 = {uh_length - 1}, B={n_b}, 3]; pass a "
                                 "previous final_uh_history")
        h = initial_uh_history.detach()
        if not bool(torch.isfinite(h).all()) or bool((h < 0).any()):
            raise DhbvInputError("initial_uh_history: must be finite and >= 0 mm/d")


def check_summary(ok: bool, t_mean: float) -> bool:
    """True when the CPU kernel's input summary (``kernels_cpu.input_summary``: no NaN or inf,
    P and PET >= 0, σ in [0, 1]; mean temperature in °C) passes the value checks of
    :func:`check_inputs`. The temperature test keeps a 1 °C margin below the kelvin limit,
    so that a summary that fails is always re-checked exactly by ``check_inputs``."""
    return bool(ok) and t_mean <= KELVIN_MEAN_LIMIT - 1.0
