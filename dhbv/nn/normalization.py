"""Z-score normalisation of network inputs with stored statistics (docs/model.md#normalisation).

Statistics file format (compatible with MHPI's ``normalization_statistics.json``): a JSON object
with one key per variable, value ``[p10, p90, mean, std]`` in the variable's own units, computed
over all non-NaN values of the training units (and, for forcings, all days). No log or other
transform is applied to any variable. ``std`` is floored at 0.001 when computed.

Normalised value: ``x' = (x − mean) / std``, then NaN → 0. Forcing NaNs are first filled by
linear interpolation in time, per unit (:func:`interpolate_nan_time`). The physics always
receives the raw, un-normalised forcing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from dhbv.errors import DhbvInputError

__all__ = [
    "STD_FLOOR",
    "STATISTICS_FIELDS",
    "compute_statistics",
    "save_statistics",
    "load_statistics",
    "require_statistics",
    "interpolate_nan_time",
    "normalize",
    "normalize_forcing",
    "normalize_attributes",
]

STD_FLOOR = 1e-3
STATISTICS_FIELDS = ("p10", "p90", "mean", "std")

Statistics = dict[str, list[float]]


def _variables_of(data: Any) -> list[str]:
    if hasattr(data, "data_vars"):  # xarray.Dataset
        return [str(v) for v in data.data_vars]
    return [str(k) for k in data.keys()]


def compute_statistics(
    data: Mapping[str, Any],
    variables: Sequence[str] | None = None,
    *,
    std_floor: float = STD_FLOOR,
) -> Statistics:
    """Compute ``[p10, p90, mean, std]`` per variable over all non-NaN values.

    Parameters
    ----------
    data:
        Mapping name → array-like (numpy array, xarray DataArray, or an ``xarray.Dataset``),
        holding the training units only: forcings [time, unit], attributes [unit].
    variables:
        Names to compute (default: every variable in ``data``).
    std_floor:
        Lower bound applied to the standard deviation (population std, ddof = 0).

    Returns
    -------
    dict name → [p10, p90, mean, std] (python floats, JSON-serialisable).
    """
    names = list(variables) if variables is not None else _variables_of(data)
    missing = [n for n in names if n not in data]
    if missing:
        raise DhbvInputError(
            f"cannot compute normalisation statistics: variables {missing} not in the data"
        )
    stats: Statistics = {}
    for name in names:
        values = np.asarray(data[name], dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise DhbvInputError(
                f"cannot compute normalisation statistics for {name!r}: no finite values in the training units"
            )
        p10, p90 = np.percentile(values, [10.0, 90.0])
        mean = float(values.mean())
        std = max(float(values.std()), float(std_floor))
        stats[name] = [float(p10), float(p90), mean, std]
    return stats


def save_statistics(stats: Mapping[str, Sequence[float]], path: str | os.PathLike) -> None:
    """Write statistics as a JSON object name → [p10, p90, mean, std]."""
    from dhbv.io.atomic import atomic_path

    _validate(stats, str(path))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump({k: [float(v) for v in stats[k]] for k in stats}, f, indent=1)
        f.write("\n")


def load_statistics(path: str | os.PathLike) -> Statistics:
    """Read a statistics JSON file (MHPI-compatible) → dict name → [p10, p90, mean, std]."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise DhbvInputError(f"normalisation statistics file {path} does not exist") from None
    except json.JSONDecodeError as err:
        raise DhbvInputError(
            f"normalisation statistics file {path} is not valid JSON: {err}"
        ) from None
    if not isinstance(raw, dict):
        raise DhbvInputError(
            f"normalisation statistics file {path} must hold a JSON object name → [p10, p90, mean, std]"
        )
    _validate(raw, path)
    return {str(k): [float(x) for x in v] for k, v in raw.items()}


def _validate(stats: Mapping[str, Any], where: str) -> None:
    for name, value in stats.items():
        ok = isinstance(value, (list, tuple)) and len(value) == 4
        if ok:
            try:
                vals = [float(x) for x in value]
            except (TypeError, ValueError):
                ok = False
        if not ok or not all(math.isfinite(x) for x in vals):
            raise DhbvInputError(
                f"normalisation statistics {where}: entry {name!r} must be 4 finite numbers [p10, p90, mean, std]"
            )
        if vals[3] <= 0.0:
            raise DhbvInputError(
                f"normalisation statistics {where}: std of {name!r} is {vals[3]}, must be > 0"
            )


def require_statistics(stats: Mapping[str, Sequence[float]], names: Sequence[str]) -> None:
    """Raise :class:`DhbvInputError` naming every variable of ``names`` missing from ``stats``."""
    missing = [n for n in names if n not in stats]
    if missing:
        raise DhbvInputError(
            f"normalisation statistics lack {len(missing)} variable(s): {', '.join(missing)}"
        )


def interpolate_nan_time(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Fill NaNs by linear interpolation along the time ``axis``, separately for every series.

    Leading/trailing NaNs take the nearest valid value (constant extension); a series without any
    valid value stays NaN. Returns a new float array; ``x`` is unchanged.
    """
    arr = np.array(x, dtype=np.result_type(np.asarray(x).dtype, np.float32), copy=True)
    if arr.ndim == 0 or not np.isnan(arr).any():
        return arr
    moved = np.moveaxis(arr, axis, 0)
    nt = moved.shape[0]
    flat = moved.reshape(nt, -1)  # view when possible; written back below
    cols = np.flatnonzero(np.isnan(flat).any(axis=0))
    t = np.arange(nt, dtype=np.float64)
    for j in cols:
        col = flat[:, j]
        good = ~np.isnan(col)
        if good.any():
            flat[:, j] = np.interp(t, t[good], col[good].astype(np.float64))
    filled = flat.reshape(moved.shape)
    return np.ascontiguousarray(np.moveaxis(filled, 0, axis))


def _mean_std(
    stats: Mapping[str, Sequence[float]], names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    require_statistics(stats, names)
    mean = np.array([float(stats[n][2]) for n in names], dtype=np.float64)
    std = np.array([float(stats[n][3]) for n in names], dtype=np.float64)
    return mean, std


def normalize(
    x: Any, names: Sequence[str], stats: Mapping[str, Sequence[float]], *, axis: int = -1
):
    """z-score ``x`` whose ``axis`` runs over ``names``: (x − mean)/std, then NaN → 0.

    Accepts numpy arrays (returned as float32 unless float64 given) and torch tensors (returned on
    the same device and dtype). Missing statistics keys raise :class:`DhbvInputError`.
    """
    names = list(names)
    mean, std = _mean_std(stats, names)
    if x.shape[axis] != len(names):
        raise DhbvInputError(
            f"array to normalise has {x.shape[axis]} variables on axis {axis}, but {len(names)} names were given"
        )
    shape = [1] * x.ndim
    shape[axis] = len(names)
    if isinstance(x, torch.Tensor):
        dtype = x.dtype if x.is_floating_point() else torch.float32
        m = torch.as_tensor(mean, dtype=dtype, device=x.device).reshape(shape)
        s = torch.as_tensor(std, dtype=dtype, device=x.device).reshape(shape)
        return torch.nan_to_num((x.to(dtype) - m) / s, nan=0.0)
    arr = np.asarray(x)
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    out = (arr.astype(np.float64) - mean.reshape(shape)) / std.reshape(shape)
    out[np.isnan(out)] = 0.0
    return out.astype(dtype)


def normalize_forcing(
    x: np.ndarray, names: Sequence[str], stats: Mapping[str, Sequence[float]], *, time_axis: int = 0
) -> np.ndarray:
    """Forcing [T, B, n_var] (raw units) → interpolate NaNs in time per unit → z-score → NaN → 0."""
    arr = np.asarray(x)
    if arr.ndim != 3:
        raise DhbvInputError(
            f"forcing to normalise must be [T, B, n_var], got shape {list(arr.shape)}"
        )
    return normalize(interpolate_nan_time(arr, axis=time_axis), names, stats, axis=-1)


def normalize_attributes(
    a: np.ndarray, names: Sequence[str], stats: Mapping[str, Sequence[float]]
) -> np.ndarray:
    """Attributes [B, n_attr] (raw units) → z-score → NaN → 0."""
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise DhbvInputError(
            f"attributes to normalise must be [B, n_attr], got shape {list(arr.shape)}"
        )
    return normalize(arr, names, stats, axis=-1)
