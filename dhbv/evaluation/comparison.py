"""Model comparison: several simulations of the same gauges scored on the same days into one
tidy table (docs/evaluation.md §5).

Simulation files (the run's own outputs and external series such as a National Water Model
retrospective extract) share one format: a NetCDF with dims ``time`` (daily) and ``gauge``
(ids as text) and a variable ``streamflow`` whose ``units`` attribute is ``mm d-1`` or
``m3 s-1`` (converted with the gauge area [km2]: the file's ``area`` coordinate, else the
observations'). Every model is scored on the same gauges and the same days: where a model may
have gaps (``allow_nan_sim``), its NaN days are left out for every model.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.errors import DhbvInputError

__all__ = ["SIM_UNITS", "to_mm_per_day", "gauge_series", "read_simulation", "check_model_names",
           "compare_models", "model_summary", "write_tables", "parquet_available"]

SIM_UNITS = ("mm d-1", "m3 s-1")


def to_mm_per_day(q: xr.DataArray, units: str, area: pd.Series, what: str) -> xr.DataArray:
    """Flows ``q`` [time, gauge] in ``units`` → mm d-1; m3 s-1 × 86.4 / area [km2], ``area``
    indexed by gauge id; ``what`` names the source in errors."""
    if units == "mm d-1":
        return q
    a = area.reindex([str(g) for g in q["gauge"].values]).to_numpy(np.float64)
    bad = ~np.isfinite(a) | (a <= 0)
    if bad.any():
        raise DhbvInputError(f"{what}: gauge {q['gauge'].values[np.argmax(bad)]} has no positive "
                             "area [km2]; needed to convert m3 s-1 to mm d-1")
    return q * 86.4 / xr.DataArray(a, dims="gauge", coords={"gauge": q["gauge"]})


def gauge_series(ds: xr.Dataset, var: str, what: str) -> tuple[list[str], xr.DataArray]:
    """(gauge ids as text, ``ds[var]`` as float64 [time, gauge] on whole days); one-line
    errors when ``var`` lacks the time or gauge dimension or a gauge id appears twice."""
    if var not in ds or not {"time", "gauge"} <= set(ds[var].dims):
        raise DhbvInputError(f"{what}: no '{var}' (time, gauge) variable")
    ids = [str(g) for g in ds["gauge"].values]
    dup = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(dup):
        raise DhbvInputError(f"{what}: gauge {dup[0]} appears twice")
    q = ds[var].assign_coords(gauge=ids).transpose("time", "gauge").astype(np.float64)
    return ids, q.assign_coords(time=pd.DatetimeIndex(q["time"].values).normalize())


def read_simulation(path, name: str, gauges, area: pd.Series | None = None) -> xr.DataArray:
    """Model ``name``'s simulated streamflow [time, gauge] in mm d-1 for ``gauges`` (in order).

    ``path``: a simulation NetCDF (module docstring). ``area``: gauge areas [km2] indexed by
    gauge id, used for m3 s-1 when the file has no ``area`` coordinate. One-line errors for an
    unreadable file, a wrong layout, missing or undeclared units, and gauges the file lacks.
    """
    from dhbv.io.standard import open_netcdf

    what = f"model {name}: {path}"
    ds = open_netcdf(path, f"model {name} simulation", ("time", "gauge", "streamflow"))
    units = ds["streamflow"].attrs.get("units")
    if units not in SIM_UNITS:
        raise DhbvInputError(f"{what}: streamflow units {units!r}; declare 'mm d-1' or "
                             "'m3 s-1' in its units attribute")
    ids, q = gauge_series(ds, "streamflow", what)
    want = [str(g) for g in gauges]
    missing = [g for g in want if g not in set(ids)]
    if missing:
        raise DhbvInputError(f"{what}: {len(missing)} of {len(want)} gauges missing from the "
                             f"simulation (first {missing[0]}); simulate them or leave them "
                             "out of the observations")
    if "area" in ds.variables:
        area = pd.Series(ds["area"].values.astype(np.float64), index=ids)
    return to_mm_per_day(q.sel(gauge=want), units,
                         area if area is not None else pd.Series(dtype=float), what)


def check_model_names(names) -> None:
    """A one-line error when a model name appears twice."""
    seen = set()
    for n in names:
        if n in seen:
            raise DhbvInputError(f"model name {n!r} given twice; give every model its own name")
        seen.add(n)


def compare_models(observed: xr.DataArray, simulations, *, period=None, min_days: int = 365,
                   max_missing_fraction: float | None = 0.3, options: dict | None = None,
                   mask=None) -> pd.DataFrame:
    """Score every model on the same gauges and days; one row per (model, gauge).

    ``observed``: [time, gauge] mm d-1. ``simulations``: sequence of (name, [time, gauge]
    mm d-1 DataArray holding at least the observed gauges). ``period``: [start, end] (default:
    the observations' span). ``options``: {name: {"allow_nan_sim": bool,
    "clip_negative_sim": bool}}. ``mask``: optional bool [gauge, time] of the period's days
    to score (e.g. :func:`dhbv.evaluation.protocol.outside_window`).

    Columns: gauge, model, period_start, period_end, then those of
    :func:`dhbv.evaluation.metrics_table`. Raises :class:`DhbvInputError` for a model name
    given twice, a period without observations, or gauges a simulation lacks.
    """
    from dhbv.evaluation.table import metrics_table

    sims = list(simulations)
    check_model_names([n for n, _ in sims])
    if not sims:
        raise DhbvInputError("no model to evaluate: give at least one simulation")
    options = options or {}
    obs = observed.transpose("time", "gauge")
    if period is not None:
        obs = obs.sel(time=slice(str(period[0]), str(period[1])))
    span = f"{period[0]} – {period[1]}" if period is not None else "the observation period"
    gauges = [str(g) for g in obs["gauge"].values]
    if obs.sizes["time"] == 0 or not np.isfinite(obs.values).any():
        raise DhbvInputError(f"no observations in {span} for any of the {len(gauges)} gauges; "
                             "choose a period the observations cover")
    t = pd.DatetimeIndex(obs["time"].values)
    arrays = {}
    for name, sim in sims:
        have = set(str(g) for g in sim["gauge"].values)
        missing = [g for g in gauges if g not in have]
        if missing:
            raise DhbvInputError(f"model {name}: {len(missing)} of {len(gauges)} gauges missing "
                                 f"from the simulation (first {missing[0]})")
        s = sim.assign_coords(gauge=[str(g) for g in sim["gauge"].values]).sel(gauge=gauges)
        arrays[name] = s.transpose("time", "gauge").reindex(time=t).values.T
    o = obs.values.T
    common = np.ones(o.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    for name, s in arrays.items():
        if options.get(name, {}).get("allow_nan_sim"):
            common = common & np.isfinite(s)
    parts = []
    for name, s in arrays.items():
        opt = options.get(name, {})
        table = metrics_table(s, o, gauges, min_days=min_days, mask=common,
                              max_missing_fraction=max_missing_fraction,
                              allow_nan_sim=bool(opt.get("allow_nan_sim")),
                              clip_negative_sim=bool(opt.get("clip_negative_sim")))
        table.insert(1, "model", name)
        table.insert(2, "period_start", str(t[0].date()))
        table.insert(3, "period_end", str(t[-1].date()))
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def model_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Medians over the scored gauges per model (and per dataset when the table has a
    ``dataset`` column, plus dataset "all"): columns dataset, model, n_gauges, median_nse,
    median_kge, mean_nse and median_<metric> for every other metric column."""
    from dhbv.evaluation import summarize

    rows = []
    groups = [("all", table)]
    if "dataset" in table.columns and table["dataset"].nunique() > 1:
        groups += list(table.groupby("dataset", sort=False))
    for dataset, part in groups:
        for model, rows_m in part.groupby("model", sort=False):
            rows.append({"dataset": dataset, "model": model, **summarize(rows_m)})
    return pd.DataFrame(rows)


def parquet_available() -> bool:
    """True when pandas can write Parquet (pyarrow installed)."""
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def write_tables(table: pd.DataFrame, summary: pd.DataFrame, table_csv, summary_csv,
                 table_parquet=None) -> None:
    """Write the tidy table (CSV, and Parquet to ``table_parquet`` when given) and the summary;
    the files appear together or not at all."""
    from dhbv.io.atomic import atomic_outputs

    if table_parquet is not None and not parquet_available():
        raise DhbvInputError("Parquet output needs pyarrow; install it or write CSV only")
    with atomic_outputs(table_csv, summary_csv, table_parquet) as (t_csv, t_summary, t_pq):
        table.to_csv(t_csv, index=False)
        summary.to_csv(t_summary, index=False)
        if t_pq is not None:
            table.to_parquet(t_pq, index=False)
