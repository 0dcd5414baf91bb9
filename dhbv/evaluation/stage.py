"""The evaluation stage of a workflow run: every model of ``evaluation.models`` scored on every
simulated dataset into one tidy table and a summary of medians (docs/evaluation.md §5)."""
from __future__ import annotations

import logging

import pandas as pd
import xarray as xr

from dhbv.errors import DhbvInputError

log = logging.getLogger(__name__)

__all__ = ["evaluate_models", "TABLE_COLUMNS_FIRST", "reported_configuration",
           "write_run_configuration"]

#: Identification columns of the tidy table, before n_days, missing_fraction and the metrics.
TABLE_COLUMNS_FIRST = ["gauge", "dataset", "model", "area", "lat", "lon", "period_start",
                       "period_end"]


def evaluate_models(references: dict, locations: dict, simulations: dict, out_csv, out_summary,
                    *, models: dict, period, min_days: int, max_missing_fraction,
                    out_parquet=None) -> pd.DataFrame:
    """Rule ``evaluate_models``: one row per (dataset, gauge, model) with every metric.

    ``references``: {dataset: the run's simulation NetCDF, whose ``observed`` [mm d-1] are
    the observations}; ``locations``: {dataset: {"forcing": unit forcing, "membership": gauge
    membership}} giving each gauge's area [km2] and lat/lon [degrees]
    (:func:`dhbv.evaluation.locations.gauge_locations`); ``simulations``: {model: {dataset:
    simulation NetCDF}} (a model is scored on the datasets it lists); ``models``: the
    ``evaluation.models`` entries (allow_nan_sim, clip_negative_sim). Within a dataset all
    models are scored on the same gauges and days (:func:`compare_models`).

    Writes ``out_csv`` (and ``out_parquet`` when given) and ``out_summary``
    (:func:`model_summary`); nothing is written when any input fails.
    """
    from dhbv.evaluation.comparison import (compare_models, model_summary, read_simulation,
                                            write_tables)
    from dhbv.evaluation.locations import gauge_locations

    parts = []
    for dataset, ref in references.items():
        with xr.open_dataset(ref) as ds:
            if "observed" not in ds:
                raise DhbvInputError(f"{ref}: no 'observed' streamflow to score against")
            observed = ds["observed"].load().astype("float64")
        observed = observed.assign_coords(gauge=[str(g) for g in observed["gauge"].values])
        gauges = list(observed["gauge"].values)
        loc = gauge_locations(locations[dataset]["forcing"], locations[dataset]["membership"])
        sims = [(name, read_simulation(files[dataset], name, gauges, loc["area"]))
                for name, files in simulations.items() if dataset in files]
        table = compare_models(observed, sims, period=period, min_days=min_days,
                               max_missing_fraction=max_missing_fraction, options=models)
        table.insert(1, "dataset", dataset)
        table = table.join(loc.reindex(gauges), on="gauge")
        parts.append(table)
        log.info("%s: %d gauges × %d models scored", dataset, len(gauges), len(sims))
    if not parts:
        raise DhbvInputError("no simulated dataset to evaluate: set simulate.datasets")
    table = pd.concat(parts, ignore_index=True)
    rest = [c for c in table.columns if c not in TABLE_COLUMNS_FIRST]
    table = table[TABLE_COLUMNS_FIRST + rest]
    write_tables(table, model_summary(table), out_csv, out_summary, out_parquet)
    return table


def reported_configuration(config: dict) -> dict:
    """The configuration without its knobs (settings of speed and memory use, not results)."""
    from dhbv.config import knob_keys

    knobs = knob_keys()
    return {s: {k: v for k, v in c.items() if k not in knobs.get(s, {})}
            if isinstance(c, dict) else c for s, c in config.items()}


def write_run_configuration(config: dict, out) -> None:
    """Rule ``write_run_configuration``: the run's validated configuration (YAML) for the
    report; ``config`` holds every section without its knobs."""
    from dhbv.config import write_resolved_config

    write_resolved_config(config, out)
