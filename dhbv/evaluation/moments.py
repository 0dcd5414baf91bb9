"""Efficiency, correlation and volume metrics of paired streamflow series (docs/evaluation.md §3).

All use the valid pairs only (see :mod:`dhbv.evaluation.series`) and population standard
deviations (ddof = 0). Each needs at least 2 valid pairs except the volume biases (1).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from dhbv.evaluation.series import Paired, metric, ratio

__all__ = ["nse", "nnse", "kge", "kge_components", "kge_12", "pearson_r", "spearman_rho",
           "bias_rel", "pbias_abs"]


def _at_least(p: Paired, k: int, values) -> np.ndarray:
    return np.where(p.n >= k, values, np.nan)


@metric
def nse(p: Paired) -> np.ndarray:
    """Nash–Sutcliffe efficiency NSE = 1 − Σ(s−o)² / Σ(o−μ_o)² (dimensionless, ideal 1).

    NaN with fewer than 2 pairs or constant observations (Σ(o−μ_o)² = 0).
    """
    sse = p.masked_sum((p.s - p.o) ** 2)
    sst = (p.dev_o ** 2).sum(axis=1)
    return _at_least(p, 2, 1.0 - ratio(sse, sst))


@metric
def nnse(p: Paired) -> np.ndarray:
    """Normalised NSE = 1 / (2 − NSE) (dimensionless, in (0, 1], ideal 1; NSE = 0 ↔ 0.5)."""
    return 1.0 / (2.0 - nse.core(p))


def _kge_parts(p: Paired) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    alpha = _at_least(p, 2, ratio(p.std_s, p.std_o))
    beta = _at_least(p, 2, ratio(p.mean_s, p.mean_o))
    return p.r, alpha, beta


def _one_minus_distance(*components) -> np.ndarray:
    return 1.0 - np.sqrt(sum((c - 1.0) ** 2 for c in components))


@metric
def kge_components(p: Paired):
    """KGE components (r, α = σ_s/σ_o, β = μ_s/μ_o) of Gupta et al. (2009), dimensionless.

    r is NaN for a constant series, α for constant observations, β for zero mean observed
    flow; all three need at least 2 pairs.
    """
    return _kge_parts(p)


@metric
def kge(p: Paired) -> np.ndarray:
    """Kling–Gupta efficiency KGE = 1 − √[(r−1)² + (α−1)² + (β−1)²] (Gupta et al. 2009).

    Dimensionless, ideal 1; NaN when any component is undefined.
    """
    return _one_minus_distance(*_kge_parts(p))


@metric
def kge_12(p: Paired) -> np.ndarray:
    """Modified KGE of Kling et al. (2012): the variability term is γ = CV_s / CV_o.

    KGE' = 1 − √[(r−1)² + (γ−1)² + (β−1)²], CV = σ/μ (dimensionless, ideal 1); NaN when
    μ_s, μ_o or σ_o is 0.
    """
    r, _, beta = _kge_parts(p)
    gamma = ratio(ratio(p.std_s, p.mean_s), ratio(p.std_o, p.mean_o))
    return _one_minus_distance(r, gamma, beta)


@metric
def pearson_r(p: Paired) -> np.ndarray:
    """Pearson correlation coefficient of simulation and observation (dimensionless, [−1, 1])."""
    return p.r


@metric
def spearman_rho(p: Paired) -> np.ndarray:
    """Spearman rank correlation: Pearson r of the ranks, tied values get their mean rank.

    Dimensionless, [−1, 1]; NaN with fewer than 2 pairs or a constant series.
    """
    ranks = Paired(rankdata(p.s, axis=1, nan_policy="omit"),
                   rankdata(p.o, axis=1, nan_policy="omit"), names=p.names)
    return ranks.r


@metric
def bias_rel(p: Paired) -> np.ndarray:
    """Relative volume bias (Σs − Σo) / Σo over the valid pairs (fraction; ×100 for %).

    Ideal 0; NaN when Σo = 0.
    """
    return ratio(p.masked_sum(p.s) - p.masked_sum(p.o), p.masked_sum(p.o))


@metric
def pbias_abs(p: Paired) -> np.ndarray:
    """Absolute flow bias Σ|s − o| / Σo · 100 (%, ≥ 0, ideal 0; NaN when Σo = 0)."""
    return 100.0 * ratio(p.masked_sum(np.abs(p.s - p.o)), p.masked_sum(p.o))

