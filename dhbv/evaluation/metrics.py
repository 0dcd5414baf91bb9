"""Streamflow skill metrics (evaluation_spec.md §1–3).

Conventions: paired daily series ``sim`` and ``obs`` (mm d-1); pairs with NaN observation are
dropped; a NaN simulation is an error (:class:`dhbv.errors.DhbvInputError`) unless
``allow_nan_sim=True`` (then those pairs are dropped too); standard deviations use ddof = 0.
Each scalar function returns a float, NaN when undefined (fewer than 2 valid pairs, zero
observed variance, zero observed mean for KGE β). ``*_matrix`` variants work on [gauge, time]
arrays and give identical values per row.
"""
from __future__ import annotations

import numpy as np

from dhbv.errors import DhbvInputError


def _pairs(sim, obs, name="series", allow_nan_sim=False):
    s = np.asarray(sim, dtype=np.float64).ravel()
    o = np.asarray(obs, dtype=np.float64).ravel()
    if s.shape != o.shape:
        raise DhbvInputError(f"{name}: simulation length {s.size} != observation length {o.size}; "
                             "align both series on the same dates first")
    valid = np.isfinite(o)
    if not allow_nan_sim and np.isnan(s[valid]).any():
        raise DhbvInputError(f"{name}: simulation contains NaN on observed days; the model or its "
                             "inputs are broken (check forcing gaps)")
    valid &= np.isfinite(s)
    return s[valid], o[valid]


def nse(sim, obs, *, name="series", allow_nan_sim=False) -> float:
    """Nash–Sutcliffe efficiency NSE = 1 − Σ(s−o)² / Σ(o−μ_o)² (dimensionless)."""
    s, o = _pairs(sim, obs, name, allow_nan_sim)
    if s.size < 2:
        return float("nan")
    den = np.sum((o - o.mean()) ** 2)
    if den == 0:
        return float("nan")
    return float(1.0 - np.sum((s - o) ** 2) / den)


def kge_components(sim, obs, *, name="series", allow_nan_sim=False) -> tuple[float, float, float]:
    """KGE components (r, α = σ_s/σ_o, β = μ_s/μ_o) after Gupta et al. (2009); ddof = 0."""
    s, o = _pairs(sim, obs, name, allow_nan_sim)
    nan = float("nan")
    if s.size < 2:
        return nan, nan, nan
    so, ss = o.std(), s.std()
    r = float(np.mean((s - s.mean()) * (o - o.mean())) / (ss * so)) if ss > 0 and so > 0 else nan
    alpha = float(ss / so) if so > 0 else nan
    beta = float(s.mean() / o.mean()) if o.mean() != 0 else nan
    return r, alpha, beta


def kge(sim, obs, *, name="series", allow_nan_sim=False) -> float:
    """Kling–Gupta efficiency KGE = 1 − √[(r−1)² + (α−1)² + (β−1)²] (Gupta et al. 2009)."""
    r, a, b = kge_components(sim, obs, name=name, allow_nan_sim=allow_nan_sim)
    return float(1.0 - np.sqrt((r - 1.0) ** 2 + (a - 1.0) ** 2 + (b - 1.0) ** 2))


def _rows(sim, obs):
    s = np.atleast_2d(np.asarray(sim, dtype=np.float64))
    o = np.atleast_2d(np.asarray(obs, dtype=np.float64))
    if s.shape != o.shape:
        raise DhbvInputError(f"simulation shape {s.shape} != observation shape {o.shape}")
    return s, o


def nse_matrix(sim, obs, names=None, allow_nan_sim=False) -> np.ndarray:
    """Row-wise :func:`nse` over [gauge, time] arrays."""
    s, o = _rows(sim, obs)
    names = names if names is not None else [f"row {i}" for i in range(s.shape[0])]
    return np.array([nse(s[i], o[i], name=str(names[i]), allow_nan_sim=allow_nan_sim)
                     for i in range(s.shape[0])])


def kge_matrix(sim, obs, names=None, allow_nan_sim=False) -> np.ndarray:
    """Row-wise KGE and components over [gauge, time]; returns [gauge, 4] = (kge, r, α, β)."""
    s, o = _rows(sim, obs)
    names = names if names is not None else [f"row {i}" for i in range(s.shape[0])]
    out = np.empty((s.shape[0], 4))
    for i in range(s.shape[0]):
        r, a, b = kge_components(s[i], o[i], name=str(names[i]), allow_nan_sim=allow_nan_sim)
        out[i] = (1.0 - np.sqrt((r - 1) ** 2 + (a - 1) ** 2 + (b - 1) ** 2), r, a, b)
    return out


def score_table(sim, obs, gauges, *, min_days: int = 365, allow_nan_sim: bool = False):
    """Per-gauge NSE/KGE table (pandas DataFrame) for [gauge, time] arrays in mm d-1.

    Gauges with fewer than ``min_days`` valid pairs get NaN metrics and ``excluded=True``.
    """
    import pandas as pd

    s, o = _rows(sim, obs)
    rows = []
    for i, g in enumerate(gauges):
        n = int(np.sum(np.isfinite(o[i]) & (np.isfinite(s[i]) if allow_nan_sim else True)))
        if n < min_days:
            rows.append(dict(gauge=str(g), n_days=n, nse=np.nan, kge=np.nan, kge_r=np.nan,
                             kge_alpha=np.nan, kge_beta=np.nan, excluded=True))
            continue
        r, a, b = kge_components(s[i], o[i], name=str(g), allow_nan_sim=allow_nan_sim)
        rows.append(dict(gauge=str(g), n_days=n, nse=nse(s[i], o[i], name=str(g),
                                                         allow_nan_sim=allow_nan_sim),
                         kge=1.0 - np.sqrt((r - 1) ** 2 + (a - 1) ** 2 + (b - 1) ** 2),
                         kge_r=r, kge_alpha=a, kge_beta=b, excluded=False))
    return pd.DataFrame(rows)
