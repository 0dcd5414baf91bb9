"""The ``plot_*`` rules of the evaluation stage: the tidy metrics table (CSV) in, one PNG and
the numbers printed on it (JSON) out (docs/evaluation.md §6)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError

__all__ = ["plot_nse_cdf", "plot_nse_maps", "plot_dnse_map", "plot_nse_by_area",
           "plot_spearman_bias", "plot_nnse_hist", "plot_hydrographs", "plot_unit_maps",
           "plot_parameter_maps",
           "hydrograph_gauges",
           "compared_models"]


def _table(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"gauge": str, "dataset": str, "model": str})


def _numbers(numbers: dict, out) -> dict:
    from dhbv.io.standard import write_text_atomic

    write_text_atomic(json.dumps(numbers, indent=1, default=float), out)
    return numbers


def plot_nse_cdf(table_csv, png, numbers_json) -> dict:
    """Rule ``plot_nse_cdf``: CDFs of NSE and KGE over gauges, one line per model."""
    from dhbv.plots.distributions import metric_cdf

    return _numbers(metric_cdf(_table(table_csv), png), numbers_json)


def plot_nse_maps(table_csv, png, numbers_json) -> dict:
    """Rule ``plot_nse_maps``: gauges coloured by NSE, one panel per model."""
    from dhbv.plots.maps import metric_map

    return _numbers(metric_map(_table(table_csv), png), numbers_json)


def compared_models(models, compare=None) -> tuple[str, str]:
    """(reference, candidate) of the ΔNSE map: ``compare`` when given, else the last and the
    first of ``models`` (at least two)."""
    models = list(models)
    if compare:
        return str(compare[0]), str(compare[1])
    if len(models) < 2:
        raise DhbvInputError(f"the ΔNSE map needs two models; evaluation.models has {models}")
    return models[-1], models[0]


def plot_dnse_map(table_csv, png, numbers_json, *, reference: str, candidate: str) -> dict:
    """Rule ``plot_dnse_map``: ΔNSE = NSE(candidate) − NSE(reference) per gauge."""
    from dhbv.plots.maps import delta_nse_map

    numbers = delta_nse_map(_table(table_csv), png, reference=reference, candidate=candidate)
    return _numbers({"reference": reference, "candidate": candidate, **numbers}, numbers_json)


def plot_nse_by_area(table_csv, png, numbers_json) -> dict:
    """Rule ``plot_nse_by_area``: NSE box plots by drainage-area bin."""
    from dhbv.plots.distributions import nse_by_area

    return _numbers(nse_by_area(_table(table_csv), png), numbers_json)


def plot_spearman_bias(table_csv, png, numbers_json) -> dict:
    """Rule ``plot_spearman_bias``: Spearman ρ vs |relative bias| with quadrant shares."""
    from dhbv.plots.distributions import spearman_bias_quadrants

    return _numbers(spearman_bias_quadrants(_table(table_csv), png), numbers_json)


def plot_nnse_hist(table_csv, png, numbers_json) -> dict:
    """Rule ``plot_nnse_hist``: NNSE histogram with the share of gauges ≥ 0.6."""
    from dhbv.plots.distributions import nnse_histogram

    return _numbers(nnse_histogram(_table(table_csv), png), numbers_json)


def hydrograph_gauges(table: pd.DataFrame, gauges=None) -> list[str]:
    """Gauges of the hydrograph figure: ``gauges`` (checked against the table), else those
    with the highest, the median and the lowest NSE of the table's first model."""
    known = set(table["gauge"])
    if gauges:
        missing = [g for g in gauges if str(g) not in known]
        if missing:
            raise DhbvInputError(f"evaluation.hydrograph_gauges: gauge {missing[0]} is not in "
                                 "the evaluation table")
        return [str(g) for g in gauges]
    first = table[table["model"] == table["model"].iloc[0]]
    scored = first[np.isfinite(first["nse"].to_numpy(np.float64))].sort_values("nse")
    if scored.empty:
        raise DhbvInputError("no gauge with a finite NSE to draw a hydrograph for")
    picks = [scored.iloc[-1], scored.iloc[(len(scored) - 1) // 2], scored.iloc[0]]
    return list(dict.fromkeys(str(p["gauge"]) for p in picks))


def plot_hydrographs(table_csv, references: dict, simulations: dict, png, numbers_json, *,
                     gauges=None) -> dict:
    """Rule ``plot_hydrographs``: observed vs every model for the selected gauges
    (:func:`hydrograph_gauges`) over the evaluation period, with a zoom on the largest event.

    ``references``: {dataset: the run's simulation NetCDF holding ``observed``};
    ``simulations``: {model: {dataset: simulation NetCDF}} as in
    :func:`dhbv.evaluation.stage.evaluate_models`.
    """
    import xarray as xr

    from dhbv.evaluation.comparison import read_simulation
    from dhbv.plots.hydrographs import hydrograph_panels

    table = _table(table_csv)
    chosen = hydrograph_gauges(table, gauges)
    first = table.drop_duplicates("gauge").set_index("gauge")
    start, end = str(first["period_start"].iloc[0]), str(first["period_end"].iloc[0])
    time = pd.date_range(start, end, freq="D")
    observed, sims, titles = {}, {m: {} for m in simulations}, {}
    for g in chosen:
        row = first.loc[g]
        dataset = row["dataset"]
        with xr.open_dataset(references[dataset]) as ds:
            obs = ds["observed"].assign_coords(gauge=[str(x) for x in ds["gauge"].values])
            observed[g] = obs.sel(gauge=g).reindex(time=time).values.astype(np.float64)
        area = pd.Series({g: row["area"]})
        for model, files in simulations.items():
            if dataset in files:
                q = read_simulation(files[dataset], model, [g], area)
                sims[model][g] = q.sel(gauge=g).reindex(time=time).values
            else:
                sims[model][g] = np.full(time.size, np.nan)
        nse = table[(table["gauge"] == g)].set_index("model")["nse"]
        titles[g] = f"gauge {g} ({dataset}, {row['area']:.0f} km²): " + ", ".join(
            f"NSE {m} {v:.2f}" for m, v in nse.items())
    info = hydrograph_panels(time, observed, sims, png, titles=titles)
    return _numbers({"gauges": chosen, "events": info}, numbers_json)


def plot_unit_maps(stores, polygons_path, id_field: str, png, numbers_json, *,
                   variables) -> dict:
    """Rule ``plot_unit_maps``: long-term means of a domain simulation's unit outputs
    (``variables`` among :data:`dhbv.plots.unit_maps.MAP_VARIABLES`) over the unit polygons
    (``polygons_path``, ids in ``id_field``)."""
    import geopandas as gpd

    from dhbv.plots.unit_maps import unit_means, unit_polygon_maps

    shapes = gpd.read_file(polygons_path)
    if id_field not in shapes.columns:
        raise DhbvInputError(f"{polygons_path}: no id field {id_field!r}")
    means, units = unit_means(stores, list(variables))
    shapes = shapes.rename(columns={id_field: "unit"})[["unit", "geometry"]]
    return _numbers(unit_polygon_maps(shapes, means, png, units), numbers_json)


def _unit_shapes(polygons_path, id_field: str):
    import geopandas as gpd

    shapes = gpd.read_file(polygons_path)
    if id_field not in shapes.columns:
        raise DhbvInputError(f"{polygons_path}: no id field {id_field!r}")
    return shapes.rename(columns={id_field: "unit"})[["unit", "geometry"]]


def plot_parameter_maps(run_dir, forcing, attributes, polygons_path, id_field: str, png,
                        numbers_json, *, period, spinup_days=None) -> dict:
    """Rule ``plot_parameter_maps``: the HBV 2.0 parameters the run learned for every unit of
    a forcing set (``forcing``/``attributes``: its unit forms) over its polygons
    (``polygons_path``, ids in ``id_field``): static and unit-hydrograph parameters, and the
    dynamic ones averaged over ``period`` (:func:`dhbv.plots.unit_maps.unit_parameter_means`)."""
    from dhbv.plots.unit_maps import unit_parameter_means, unit_polygon_maps

    shapes = _unit_shapes(polygons_path, id_field)
    means, units = unit_parameter_means(run_dir, forcing, attributes, period,
                                        spinup_days=spinup_days)
    numbers = unit_polygon_maps(shapes, means, png, units, ncols=6)
    return _numbers({"period": [str(p) for p in period], "parameters": numbers}, numbers_json)
