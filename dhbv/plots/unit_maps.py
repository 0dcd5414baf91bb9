"""Maps over unit polygons: long-term means of a domain simulation (evapotranspiration, snow
water equivalent, soil moisture, baseflow, runoff) and the HBV 2.0 parameters a run learned
for every unit (docs/evaluation.md §6)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.plots.canvas import new_figure, panel_grid, save_png

__all__ = ["MAP_VARIABLES", "PARAMETER_UNITS", "unit_means", "unit_parameter_means",
           "unit_polygon_maps"]

#: Unit outputs mapped when the simulation wrote them, in this order.
MAP_VARIABLES = ("aet", "swe", "soil_moisture", "baseflow", "runoff")

#: Units of the HBV 2.0 parameters (docs/model.md#parameter-ranges), in map order: static
#: parameters, the time means of the dynamic ones, the unit-hydrograph ones.
PARAMETER_UNITS = {"FC": "mm", "K1": "d-1", "K2": "d-1", "LP": "-", "PERC": "mm d-1",
                   "UZL": "mm", "TT": "degC", "CFMAX": "mm degC-1 d-1", "CFR": "-", "CWH": "-",
                   "C": "d-1", "RT": "mm d-1", "AC": "km2", "BETA": "-", "K0": "d-1",
                   "BETAET": "-", "route_a": "-", "route_b": "d"}


def unit_means(stores, variables) -> tuple[pd.DataFrame, dict]:
    """Mean over every day of the chunk ``stores`` (zarr, dims unit and time, in any order)
    of each variable, per unit: (DataFrame indexed by unit id, {variable: units attribute}).
    Each day weighs the same, whichever chunk it is in."""
    import xarray as xr

    sums, days, units, unit_of = None, 0, None, {}
    for path in stores:
        with xr.open_zarr(path, consolidated=False, chunks=None) as ds:
            missing = [v for v in variables if v not in ds]
            if missing:
                raise DhbvInputError(f"{path}: no {missing} among the unit outputs")
            part = {v: ds[v].transpose("unit", "time").values.astype(np.float64).sum(axis=1)
                    for v in variables}
            unit_of = {v: ds[v].attrs.get("units", "") for v in variables}
            ids = [str(u) for u in ds["unit"].values]
            if units is not None and ids != units:
                raise DhbvInputError(f"{path}: other units than the first chunk's")
            units, days = ids, days + ds.sizes["time"]
        sums = part if sums is None else {v: sums[v] + part[v] for v in variables}
    if sums is None:
        raise DhbvInputError("no chunk stores to map; simulate the domain first")
    return pd.DataFrame({v: sums[v] / days for v in variables},
                        index=pd.Index(units, name="unit")), unit_of


def unit_parameter_means(run_dir, forcing_path, attributes_path, period, *, spinup_days=None,
                         batch_units: int = 4096) -> tuple[pd.DataFrame, dict]:
    """The learned HBV 2.0 parameters of every unit in physical units: (DataFrame indexed by
    unit id with one column per parameter in :data:`PARAMETER_UNITS` order, {name: unit}).

    Static and unit-hydrograph parameters depend on the attributes only; the dynamic ones
    (BETA, K0, BETAET) are averaged over the days of ``period`` ([start, end]), after an LSTM
    spin-up of ``spinup_days`` (None: ``model.warmup``; "full": from the first forcing day;
    shortened to the forcing start).
    Each value is the mean over the ``nmul`` parallel components and the ensemble members of
    θ = lo + σ·(hi − lo) (``PARAMETER_RANGES``). Units run in batches of ``batch_units``.
    """
    import torch
    import xarray as xr

    from dhbv.physics.hbv2 import (DYNAMIC_PARAMETERS, PARAMETER_RANGES, STATIC_PARAMETERS,
                                   UH_PARAMETERS)
    from dhbv.runner import load_run, prepare
    from dhbv.simulation.inputs import load_window

    models, cfg, stats = load_run(run_dir)
    mc = cfg["model"]
    start, end = pd.Timestamp(period[0]), pd.Timestamp(period[1])
    with xr.open_dataset(forcing_path) as f:
        first = pd.Timestamp(f["time"].values[0]).normalize()
    avail = max(0, (start - first).days)
    warm = avail if spinup_days == "full" else \
        min(int(mc["warmup"] if spinup_days is None else spinup_days), avail)
    inputs = load_window(forcing_path, attributes_path, mc["attributes"], mc["dynamic_inputs"],
                         start - pd.Timedelta(days=warm), end)
    prep = prepare(inputs, stats, mc["dynamic_inputs"])
    n_u = len(inputs.unit_ids)
    sums = {n: np.zeros(n_u) for n in STATIC_PARAMETERS + DYNAMIC_PARAMETERS + UH_PARAMETERS}

    def phys(name, v):
        lo, hi = PARAMETER_RANGES[name]
        return lo + v.double().numpy() * (hi - lo)

    with torch.no_grad():
        for model in models:
            model.eval()
            for u0 in range(0, n_u, int(batch_units)):
                u1 = min(n_u, u0 + int(batch_units))
                dyn, sta, uh, _ = model.hbv_parameters(
                    torch.from_numpy(prep.dyn_norm[:, u0:u1]),
                    torch.from_numpy(prep.static_norm[u0:u1]))
                for k, name in enumerate(STATIC_PARAMETERS):        # [B, nmul]
                    sums[name][u0:u1] += phys(name, sta[:, k, :]).mean(axis=1)
                for k, name in enumerate(DYNAMIC_PARAMETERS):       # [T, B, nmul]
                    sums[name][u0:u1] += phys(name, dyn[warm:, :, k, :]).mean(axis=(0, 2))
                for k, name in enumerate(UH_PARAMETERS):            # [B]
                    sums[name][u0:u1] += phys(name, uh[:, k])
    order = [n for n in PARAMETER_UNITS if n in sums]
    table = pd.DataFrame({n: sums[n] / len(models) for n in order},
                         index=pd.Index(inputs.unit_ids, name="unit"))
    return table, {n: PARAMETER_UNITS[n] for n in order}


def unit_polygon_maps(polygons, means: pd.DataFrame, out, units: dict | None = None,
                      ncols: int = 3) -> dict:
    """One panel per column of ``means`` (indexed by unit id): the unit polygons coloured by
    its value. ``polygons``: GeoDataFrame with a ``unit`` column of ids. Units without a
    polygon or a value are left out; ``ncols`` panels per row. Returns {variable: {"min", "mean", "max", "units"}} over
    the drawn units (the mean is area-unweighted)."""
    shapes = polygons.assign(unit=polygons["unit"].astype(str)).merge(
        means, left_on="unit", right_index=True, how="inner")
    if shapes.empty:
        raise DhbvInputError("no unit of the simulation has a polygon; check the id field")
    cols = list(means.columns)
    fig = new_figure(4.2 * min(len(cols), ncols), 3.8 * -(-len(cols) // ncols))
    numbers = {}
    for ax, var in zip(panel_grid(fig, len(cols), ncols=ncols), cols):
        v = shapes[var].to_numpy(np.float64)
        unit = (units or {}).get(var, "")
        shapes.plot(column=var, ax=ax, cmap="viridis", edgecolor="k", linewidth=0.3,
                    legend=True, legend_kwds={"label": f"{var} ({unit})" if unit else var,
                                              "shrink": 0.7})
        ax.set_title(f"{var}: mean {np.nanmean(v):.3g} {unit}".strip(), fontsize=9)
        ax.set_axis_off()
        numbers[var] = {"min": float(np.nanmin(v)), "mean": float(np.nanmean(v)),
                        "max": float(np.nanmax(v)), "units": unit}
    save_png(fig, out)
    return numbers
