"""Evaluation: streamflow metrics (:mod:`dhbv.evaluation.metrics`) and gauge scoring.

:func:`score` compares a simulation file with observations over a period and writes a
per-gauge CSV (NSE, KGE and its components).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.evaluation.metrics import kge, kge_components, nse, score_table

__all__ = ["nse", "kge", "kge_components", "score_table", "score", "summarize"]


def _obs_mm(path) -> xr.DataArray:
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    if "streamflow" in ds and "observed" not in ds:
        from dhbv.io.standard import observations_mm_per_day, validate_gauge_observations

        return observations_mm_per_day(validate_gauge_observations(ds, f"observations {path}"))
    if "observed" in ds:
        return ds["observed"].astype(np.float64)
    raise DhbvInputError(f"{path}: neither 'streamflow' (standard gauge observations) nor "
                         "'observed' (simulation output) found")


def score(sim_path, obs_path, out_csv, period=None, *, min_days: int = 365,
          max_missing_fraction: float | None = None) -> pd.DataFrame:
    """Per-gauge NSE/KGE of a simulation file against observations; writes ``out_csv``.

    ``sim_path``: NetCDF with ``streamflow`` (time, gauge) in mm d-1 (``dhbv simulate``
    output). ``obs_path``: standard gauge observations (mm d-1 or m3 s-1, converted) or a
    simulation file holding ``observed``. ``period``: [start, end] (default: the simulation's
    span). Gauges with fewer than ``min_days`` valid days (or more than
    ``max_missing_fraction`` missing) get NaN metrics and ``excluded = True``.
    Returns the table; the CSV is written atomically.
    """
    from dhbv.io.standard import write_text_atomic

    with xr.open_dataset(sim_path) as ds:
        sim = ds["streamflow"].load().astype(np.float64)
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
    if max_missing_fraction is not None:
        frac = 1 - np.isfinite(o_arr).mean(axis=1)
        o_arr = np.where((frac > max_missing_fraction)[:, None], np.nan, o_arr)
    table = score_table(s_arr, o_arr, list(sim["gauge"].values), min_days=min_days)
    table.insert(1, "period_start", str(t[0].date()))
    table.insert(2, "period_end", str(t[-1].date()))
    write_text_atomic(table.to_csv(index=False), out_csv)
    return table


def summarize(table: pd.DataFrame) -> dict:
    """Median NSE/KGE over gauges (NaN ignored) and the number of gauges used."""
    ok = table[~table["excluded"]]
    return {"n_gauges": int(ok["nse"].notna().sum()),
            "median_nse": float(np.nanmedian(ok["nse"])) if len(ok) else float("nan"),
            "median_kge": float(np.nanmedian(ok["kge"])) if len(ok) else float("nan"),
            "mean_nse": float(np.nanmean(ok["nse"])) if len(ok) else float("nan")}
