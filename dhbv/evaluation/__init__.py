"""Evaluation: streamflow metrics (:mod:`dhbv.evaluation.metrics`) and gauge scoring.

:func:`score` compares a simulation file with observations over a period and writes a
per-gauge CSV with the full metric set (:data:`dhbv.evaluation.table.METRICS`);
:func:`summarize` gives medians over gauges. Definitions and protocol: docs/evaluation.md.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.evaluation.metrics import (METRICS, PAPER_METRICS, kge, kge_components,
                                     metrics_table, nse, score_table)

__all__ = ["nse", "kge", "kge_components", "metrics_table", "METRICS", "PAPER_METRICS",
           "score_table", "score", "summarize"]


#: Variable of a simulation file flagging (1) the gauge days whose forcing had gaps filled by
#: interpolation (``data.forcing_gaps: interpolate``); :func:`score` leaves those days out.
GAP_FLAG = "forcing_gap_filled"


def _obs_mm(path) -> xr.DataArray:
    from dhbv.io.standard import check_time_axis, open_netcdf

    ds = open_netcdf(path, "observations", ("time", "gauge"))
    check_time_axis(ds, f"observations {path}")
    if "streamflow" in ds and "observed" not in ds:
        from dhbv.io.standard import observations_mm_per_day, validate_gauge_observations

        return observations_mm_per_day(validate_gauge_observations(ds, f"observations {path}"))
    if "observed" in ds:
        return ds["observed"].astype(np.float64)
    raise DhbvInputError(f"{path}: neither 'streamflow' (standard gauge observations) nor "
                         "'observed' (simulation output) found")


def score(sim_path, obs_path, out_csv, period=None, *, min_days: int = 365,
          max_missing_fraction: float | None = None) -> pd.DataFrame:
    """Per-gauge metrics of a simulation file against observations; writes ``out_csv``.

    ``sim_path``: NetCDF with ``streamflow`` (time, gauge) in mm d-1 (``dhbv simulate``
    output). ``obs_path``: standard gauge observations (mm d-1 or m3 s-1, converted) or a
    simulation file holding ``observed``. ``period``: [start, end] (default: the simulation's
    span). Gauges with fewer than ``min_days`` valid days (or more than
    ``max_missing_fraction`` of the period's days missing; the paper uses 0.3) get NaN
    metrics and ``excluded = True``. Columns: see :func:`dhbv.evaluation.metrics_table`, plus
    period_start and period_end. Returns the table; the CSV is written atomically.
    """
    from dhbv.config import parse_period
    from dhbv.io.atomic import check_output_path
    from dhbv.io.standard import check_time_axis, open_netcdf, write_text_atomic

    check_output_path(out_csv, "scores output")
    period = parse_period(period, "evaluation period")
    ds = open_netcdf(sim_path, "simulation", ("time", "gauge", "streamflow"))
    check_time_axis(ds, f"simulation {sim_path}")
    sim = ds["streamflow"].astype(np.float64)
    gap = ds[GAP_FLAG].astype(bool) if GAP_FLAG in ds else None
    obs = _obs_mm(obs_path)
    sim = sim.assign_coords(gauge=[str(g) for g in sim["gauge"].values])
    obs = obs.assign_coords(gauge=[str(g) for g in obs["gauge"].values])
    missing = [g for g in sim["gauge"].values if g not in set(obs["gauge"].values)]
    if missing:
        raise DhbvInputError(f"gauge {missing[0]} has a simulation but no observations in "
                             f"{obs_path}; score only gauges with observations")
    if period is not None:
        sim = sim.sel(time=slice(str(period[0]), str(period[1])))
    t = pd.DatetimeIndex(sim["time"].values)
    if len(t) == 0:
        raise DhbvInputError(f"simulation {sim_path} has no days in period {period}")
    o = obs.sel(gauge=list(sim["gauge"].values)).reindex(time=t)
    s_arr = sim.transpose("gauge", "time").values
    o_arr = o.transpose("gauge", "time").values
    mask = None
    if gap is not None:
        mask = ~gap.sel(time=t).transpose("gauge", "time").values
    table = score_table(s_arr, o_arr, list(sim["gauge"].values), min_days=min_days,
                        max_missing_fraction=max_missing_fraction, mask=mask)
    table.insert(1, "period_start", str(t[0].date()))
    table.insert(2, "period_end", str(t[-1].date()))
    write_text_atomic(table.to_csv(index=False), out_csv)
    return table


def _median(values) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def summarize(table: pd.DataFrame) -> dict:
    """Medians over the gauges that were not excluded (NaN metrics ignored).

    Keys: ``n_gauges`` (gauges with a finite NSE), ``median_nse``, ``median_kge``,
    ``mean_nse`` and ``median_<key>`` for every other metric column of
    :data:`dhbv.evaluation.table.METRICS` present in ``table`` (older tables hold only
    NSE/KGE).
    """
    ok = table[~table["excluded"].astype(bool)]
    nse_ok = ok["nse"].to_numpy(dtype=np.float64)
    out = {"n_gauges": int(np.isfinite(nse_ok).sum()), "median_nse": _median(nse_ok),
           "median_kge": _median(ok["kge"]),
           "mean_nse": float(np.nanmean(nse_ok)) if np.isfinite(nse_ok).any() else float("nan")}
    for key in METRICS:
        if key in ok.columns and f"median_{key}" not in out:
            out[f"median_{key}"] = _median(ok[key])
    return out
