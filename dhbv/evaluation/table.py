"""Per-gauge metric table: one row per gauge, one column per metric (docs/evaluation.md §3–4).

:data:`METRICS` lists every metric key with its unit and function; :data:`PAPER_METRICS` is
the set whose medians over gauges the δHBV2.0 paper prints.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.evaluation import fdc, moments, peaks
from dhbv.evaluation.protocol import PAPER_MAX_MISSING_FRACTION
from dhbv.evaluation.series import Paired, gauge_rows

__all__ = ["METRICS", "PAPER_METRICS", "MetricInfo", "metrics_table"]


class MetricInfo(NamedTuple):
    """A table column: ``compute(p: Paired) -> [G] array``, its unit and the ideal value."""

    compute: Callable[[Paired], np.ndarray]
    unit: str
    ideal: float


def _component(i: int):
    return lambda p: moments.kge_components.core(p)[i]


METRICS: dict[str, MetricInfo] = {
    "nse": MetricInfo(moments.nse.core, "-", 1.0),
    "kge": MetricInfo(moments.kge.core, "-", 1.0),
    "kge_r": MetricInfo(_component(0), "-", 1.0),
    "kge_alpha": MetricInfo(_component(1), "-", 1.0),
    "kge_beta": MetricInfo(_component(2), "-", 1.0),
    "kge_12": MetricInfo(moments.kge_12.core, "-", 1.0),
    "nnse": MetricInfo(moments.nnse.core, "-", 1.0),
    "pearson_r": MetricInfo(moments.pearson_r.core, "-", 1.0),
    "spearman_rho": MetricInfo(moments.spearman_rho.core, "-", 1.0),
    "bias_rel": MetricInfo(moments.bias_rel.core, "fraction", 0.0),
    "pbias_abs": MetricInfo(moments.pbias_abs.core, "%", 0.0),
    "rmse_low": MetricInfo(fdc.rmse_low.core, "mm d-1", 0.0),
    "rmse_high": MetricInfo(fdc.rmse_high.core, "mm d-1", 0.0),
    "rd_max": MetricInfo(peaks.rd_max.core, "fraction", 0.0),
    "flv_mhpi": MetricInfo(fdc.flv_mhpi.core, "%", 0.0),
    "fhv_mhpi": MetricInfo(fdc.fhv_mhpi.core, "%", 0.0),
    "abs_flv": MetricInfo(fdc.abs_flv.core, "%", 0.0),
    "abs_fhv": MetricInfo(fdc.abs_fhv.core, "%", 0.0),
    "fhv_yilmaz": MetricInfo(fdc.fhv_yilmaz.core, "%", 0.0),
    "flv_yilmaz": MetricInfo(fdc.flv_yilmaz.core, "%", 0.0),
    "fms_yilmaz": MetricInfo(fdc.fms_yilmaz.core, "%", 0.0),
    "peak_timing": MetricInfo(peaks.peak_timing.core, "d", 0.0),
}

PAPER_METRICS = ("nse", "kge", "spearman_rho", "bias_rel", "pearson_r", "nnse", "rmse_low",
                 "rmse_high", "rd_max", "abs_flv", "abs_fhv")


def _exclusion(n: int, missing: float, min_days: int, max_missing: float | None) -> str:
    if n < min_days:
        return f"{n} valid days < min_days {min_days}"
    if max_missing is not None and missing > max_missing:
        return f"{missing:.1%} of scored days missing > {max_missing:.0%}"
    return ""


def metrics_table(sim, obs, gauges=None, *, axis: int = -1, metrics=None, min_days: int = 365,
                  max_missing_fraction: float | None = PAPER_MAX_MISSING_FRACTION, mask=None,
                  allow_nan_sim: bool = False, clip_negative_sim: bool = False,
                  chunk: int = 256) -> pd.DataFrame:
    """Score every gauge: a DataFrame with one row per gauge and one column per metric.

    ``sim``, ``obs``: streamflow in mm d-1, one series [time] or [gauge, time] (``axis=0``
    for [time, gauge]). ``gauges``: one id per gauge (default "0", "1", ...). ``metrics``:
    keys of :data:`METRICS` (default all, in that order). ``mask``: days to score, e.g.
    :func:`dhbv.evaluation.protocol.outside_window` (same layout as ``sim``).

    A gauge is excluded (all metrics NaN, ``excluded`` True, the reason in ``exclusion``)
    when it has fewer than ``min_days`` valid pairs or more than ``max_missing_fraction`` of
    its scored days without an observation (None: no such filter). NaN/negative simulations
    raise :class:`dhbv.errors.DhbvInputError` naming the gauge unless ``allow_nan_sim`` /
    ``clip_negative_sim``. Gauges are processed ``chunk`` at a time to bound memory.

    Columns: gauge, n_days (valid pairs), missing_fraction, the metrics, excluded, exclusion.
    """
    keys = list(METRICS) if metrics is None else list(metrics)
    unknown = [k for k in keys if k not in METRICS]
    if unknown:
        raise DhbvInputError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    s, o, m, _ = gauge_rows(sim, obs, mask, axis)
    gauges = [str(i) for i in range(s.shape[0])] if gauges is None else [str(g) for g in gauges]
    if len(gauges) != s.shape[0]:
        raise DhbvInputError(f"{len(gauges)} gauge ids for {s.shape[0]} series")
    parts = []
    for a in range(0, s.shape[0], max(int(chunk), 1)):
        b = a + max(int(chunk), 1)
        p = Paired(s[a:b], o[a:b], names=gauges[a:b], mask=m[a:b], allow_nan_sim=allow_nan_sim,
                   clip_negative_sim=clip_negative_sim)
        why = [_exclusion(int(n), float(f), min_days, max_missing_fraction)
               for n, f in zip(p.n, p.missing_fraction)]
        keep = np.array([w == "" for w in why])
        cols = {"gauge": gauges[a:b], "n_days": p.n.astype(int),
                "missing_fraction": p.missing_fraction}
        with np.errstate(all="ignore"):
            for k in keys:
                cols[k] = np.where(keep, METRICS[k].compute(p), np.nan)
        cols.update(excluded=~keep, exclusion=why)
        parts.append(pd.DataFrame(cols))
    if not parts:
        return pd.DataFrame(columns=["gauge", "n_days", "missing_fraction", *keys, "excluded",
                                     "exclusion"])
    return pd.concat(parts, ignore_index=True)
