"""Evaluation of a user's own files: observations and one or more simulations (``dhbv
evaluate``; docs/evaluation.md §5).

Observations: standard gauge observations (``streamflow`` [time, gauge] with ``units`` "mm d-1"
or "m3 s-1" and coord ``area`` [km2]; optional coords ``lat``/``lon`` [degrees]) or a dhbv
simulation file holding ``observed`` [mm d-1]. Simulations: the format of
:mod:`dhbv.evaluation.comparison`. Every input is checked before anything is written.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.errors import DhbvInputError

__all__ = ["MAX_MEAN_RUNOFF", "model_files", "read_observations", "evaluate_files"]

#: Largest plausible long-term mean streamflow of a gauge [mm d-1] (about 18 m of runoff a
#: year; the wettest basins on Earth stay well below). A higher mean means the values are not
#: in the declared unit (typically m3 s-1 declared as mm d-1).
MAX_MEAN_RUNOFF = 50.0


def model_files(specs) -> list[tuple[str, str]]:
    """(name, path) pairs from "NAME=PATH" or "PATH" (name = the file's stem); a one-line
    error when a model name is given twice."""
    from dhbv.evaluation.comparison import check_model_names

    pairs = []
    for spec in specs:
        name, sep, path = str(spec).partition("=")
        if not sep:
            name, path = Path(spec).stem, str(spec)
        if not name or not path:
            raise DhbvInputError(f"--sim {spec!r}: use NAME=FILE.nc or FILE.nc")
        pairs.append((name, path))
    check_model_names([n for n, _ in pairs])
    return pairs


def read_observations(path, units: str | None = None) -> tuple[xr.DataArray, pd.DataFrame]:
    """Observations [time, gauge] in mm d-1 and per-gauge ``area``, ``lat``, ``lon``.

    ``units``: the unit the user declares ("mm d-1" or "m3 s-1"); it must agree with the
    file's ``units`` attribute and stands in for it when the file has none. Raises a one-line
    :class:`DhbvInputError` when the units disagree or are unknown, or when a gauge's mean
    flow exceeds :data:`MAX_MEAN_RUNOFF` mm d-1 after conversion (values in another unit
    than declared).
    """
    from dhbv.evaluation.comparison import SIM_UNITS, gauge_series, to_mm_per_day
    from dhbv.io.standard import open_netcdf

    what = f"observations {path}"
    if units is not None and units not in SIM_UNITS:
        raise DhbvInputError(f"{what}: declared units {units!r}; use 'mm d-1' or 'm3 s-1'")
    ds = open_netcdf(path, "observations", ("time", "gauge"))
    var = "observed" if "observed" in ds and "streamflow" in ds else "streamflow"
    ids, q = gauge_series(ds, var, what)
    stated = ds[var].attrs.get("units")
    if stated is not None and units is not None and stated != units:
        raise DhbvInputError(f"{what}: streamflow is in {stated!r} by its units attribute "
                             f"but {units!r} was declared; fix the attribute or the "
                             "declaration")
    unit = stated or units
    if unit not in SIM_UNITS:
        raise DhbvInputError(f"{what}: streamflow units {unit!r}; declare 'mm d-1' or "
                             "'m3 s-1' (--obs-units or the units attribute)")
    meta = pd.DataFrame(index=pd.Index(ids, name="gauge"))
    for c in ("area", "lat", "lon"):
        meta[c] = ds[c].values.astype(np.float64) if c in ds.variables else np.nan
    q = to_mm_per_day(q, unit, meta["area"], what)
    v = np.where(np.isfinite(q.values), q.values, 0.0)
    n = np.isfinite(q.values).sum(axis=0)
    mean = np.divide(v.sum(axis=0), n, out=np.full(n.shape, np.nan), where=n > 0)
    high = np.isfinite(mean) & (mean > MAX_MEAN_RUNOFF)
    if high.any():
        g = int(np.argmax(high))
        raise DhbvInputError(f"{what}: gauge {ids[g]} has a mean flow of {mean[g]:.3g} mm d-1 "
                             f"(> {MAX_MEAN_RUNOFF:g}); the values are not in the declared "
                             f"units {unit!r}")
    return q, meta


def evaluate_files(obs_path, sims, out_csv, *, obs_units=None, gauges=None, period=None,
                   min_days: int = 365, max_missing_fraction: float | None = 0.3,
                   allow_nan=(), clip_negative=(), out_summary=None) -> pd.DataFrame:
    """Score the simulations ``sims`` ([(name, path)], see :func:`model_files`) against the
    observations in ``obs_path`` on the same gauges and days; write the tidy table to
    ``out_csv`` (and medians per model to ``out_summary``). Nothing is written on an error.

    ``gauges``: the gauges to score (default: every observed gauge); each simulation must
    hold all of them. ``allow_nan`` / ``clip_negative``: model names whose NaN days are left
    out (for every model) / whose negative flows are set to 0. Columns: gauge, model, area,
    lat, lon, period_start, period_end, then those of :func:`dhbv.evaluation.metrics_table`.
    """
    from dhbv.evaluation.comparison import (check_model_names, compare_models, model_summary,
                                            read_simulation)
    from dhbv.io.atomic import atomic_outputs

    sims = list(sims)
    check_model_names([n for n, _ in sims])
    names = {n for n, _ in sims}
    for flag, listed in (("--allow-nan-sim", allow_nan), ("--clip-negative-sim", clip_negative)):
        unknown = [n for n in listed if n not in names]
        if unknown:
            raise DhbvInputError(f"{flag} names {unknown[0]!r}, which is not a model "
                                 f"({sorted(names)})")
    obs, meta = read_observations(obs_path, obs_units)
    if gauges:
        missing = [g for g in gauges if str(g) not in set(meta.index)]
        if missing:
            raise DhbvInputError(f"gauge {missing[0]} is not in the observations {obs_path}")
        obs = obs.sel(gauge=[str(g) for g in gauges])
    want = [str(g) for g in obs["gauge"].values]
    series = [(n, read_simulation(p, n, want, meta["area"])) for n, p in sims]
    options = {n: {"allow_nan_sim": n in allow_nan, "clip_negative_sim": n in clip_negative}
               for n in names}
    table = compare_models(obs, series, period=period, min_days=min_days,
                           max_missing_fraction=max_missing_fraction, options=options)
    table = table.join(meta, on="gauge")
    first = ["gauge", "model", "area", "lat", "lon", "period_start", "period_end"]
    table = table[first + [c for c in table.columns if c not in first]]
    with atomic_outputs(out_csv, out_summary) as (t_csv, t_summary):
        table.to_csv(t_csv, index=False)
        if out_summary:
            model_summary(table).to_csv(t_summary, index=False)
    return table
