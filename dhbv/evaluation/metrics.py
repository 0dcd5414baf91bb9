"""Streamflow skill metrics of the δHBV2.0 evaluation (docs/evaluation.md).

One import point for every metric; the definitions live in

* :mod:`dhbv.evaluation.moments`: NSE, NNSE, KGE (Gupta 2009) and its components, KGE
  (Kling 2012), Pearson r, Spearman ρ, relative and absolute volume bias;
* :mod:`dhbv.evaluation.fdc`: flow-duration-curve metrics, MHPI family (low/high-flow RMSE,
  ``flv_mhpi``, ``fhv_mhpi``, ``abs_flv``, ``abs_fhv``) and Yilmaz et al. (2008) family
  (``fhv_yilmaz``, ``flv_yilmaz``, ``fms_yilmaz``);
* :mod:`dhbv.evaluation.peaks`: peak magnitude (``rd_max``) and ``peak_timing``;
* :mod:`dhbv.evaluation.table`: :func:`metrics_table`, the per-gauge table.

Conventions (:mod:`dhbv.evaluation.series`): paired daily series ``sim``, ``obs`` in mm d-1;
days with a missing observation are dropped; a NaN or negative simulation is an error
(:class:`dhbv.errors.DhbvInputError`) unless ``allow_nan_sim`` / ``clip_negative_sim``;
standard deviations use ddof = 0. Every metric accepts one series (returns a float) or a
[gauge, time] array (``axis=0`` for [time, gauge]; returns one value per gauge, identical
to scoring each series alone) and returns NaN where it is undefined.
"""
from __future__ import annotations

import numpy as np

from dhbv.evaluation.fdc import (abs_fhv, abs_flv, fhv_mhpi, fhv_yilmaz, flv_mhpi, flv_yilmaz,
                                 fms_yilmaz, rmse_high, rmse_low)
from dhbv.evaluation.moments import (bias_rel, kge, kge_12, kge_components, nnse, nse,
                                     pbias_abs, pearson_r, spearman_rho)
from dhbv.evaluation.peaks import peak_timing, rd_max
from dhbv.evaluation.series import Paired
from dhbv.evaluation.table import METRICS, PAPER_METRICS, metrics_table

__all__ = ["nse", "nnse", "kge", "kge_components", "kge_12", "pearson_r", "spearman_rho",
           "bias_rel", "pbias_abs", "rmse_low", "rmse_high", "flv_mhpi", "fhv_mhpi", "abs_flv",
           "abs_fhv", "fhv_yilmaz", "flv_yilmaz", "fms_yilmaz", "rd_max", "peak_timing",
           "METRICS", "PAPER_METRICS", "metrics_table", "nse_matrix", "kge_matrix",
           "score_table"]


def nse_matrix(sim, obs, names=None, allow_nan_sim=False) -> np.ndarray:
    """NSE per row of [gauge, time] arrays (dimensionless); always returns an array [G]."""
    return np.atleast_1d(nse(np.atleast_2d(sim), np.atleast_2d(obs), name=names,
                             allow_nan_sim=allow_nan_sim))


def kge_matrix(sim, obs, names=None, allow_nan_sim=False) -> np.ndarray:
    """KGE and its components per row of [gauge, time] arrays: [G, 4] = (kge, r, α, β)."""
    p = Paired(np.atleast_2d(sim), np.atleast_2d(obs), names=names, allow_nan_sim=allow_nan_sim)
    return np.stack([kge.core(p), *kge_components.core(p)], axis=1)


def score_table(sim, obs, gauges, *, min_days: int = 365, allow_nan_sim: bool = False,
                max_missing_fraction: float | None = None, mask=None):
    """:func:`metrics_table` for [gauge, time] arrays (mm d-1) without the missing-data filter
    by default (the behaviour of :func:`dhbv.evaluation.score`); ``mask``: days to score."""
    return metrics_table(sim, obs, gauges, min_days=min_days, allow_nan_sim=allow_nan_sim,
                         max_missing_fraction=max_missing_fraction, mask=mask)
