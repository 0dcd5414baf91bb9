"""Maps over unit polygons of long-term means of a domain simulation: evapotranspiration,
snow water equivalent, soil moisture, baseflow and runoff (docs/evaluation.md §6)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.plots.canvas import new_figure, panel_grid, save_png

__all__ = ["MAP_VARIABLES", "unit_means", "unit_polygon_maps"]

#: Unit outputs mapped when the simulation wrote them, in this order.
MAP_VARIABLES = ("aet", "swe", "soil_moisture", "baseflow", "runoff")


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


def unit_polygon_maps(polygons, means: pd.DataFrame, out, units: dict | None = None) -> dict:
    """One panel per column of ``means`` (indexed by unit id): the unit polygons coloured by
    its value. ``polygons``: GeoDataFrame with a ``unit`` column of ids. Units without a
    polygon or a value are left out. Returns {variable: {"min", "mean", "max", "units"}} over
    the drawn units (the mean is area-unweighted)."""
    shapes = polygons.assign(unit=polygons["unit"].astype(str)).merge(
        means, left_on="unit", right_index=True, how="inner")
    if shapes.empty:
        raise DhbvInputError("no unit of the simulation has a polygon; check the id field")
    cols = list(means.columns)
    fig = new_figure(4.2 * min(len(cols), 3), 3.8 * -(-len(cols) // 3))
    numbers = {}
    for ax, var in zip(panel_grid(fig, len(cols)), cols):
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
