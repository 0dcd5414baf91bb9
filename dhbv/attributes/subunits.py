"""Attributes and gauge membership for sub-units of one gauged basin.

A basin split into sub-units without a river network (for example the Stehekin basin cut into
19 pieces for forcing aggregation) has per-unit forcing but only basin-level attribute tables.
Each sub-unit inherits the gauge's CAMELS attributes, except the climate attributes that the
unit's own forcing defines (mean P, mean PET, aridity, mean T), and all units drain to the gauge
with weight 1. The drainage area seen by the HBV exchange term (``uparea``) stays the gauge's,
since without a network every sub-unit drains to the same outlet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dhbv.errors import DhbvInputError
from dhbv.io import standard as std
from dhbv.io.camels import read_attribute_tables, resolve_attribute

# Attributes recomputed from each sub-unit's forcing: name -> (function of means, unit).
_FROM_FORCING = {
    "p_mean": (lambda m: m["P"], "mm d-1"),
    "meanP": (lambda m: m["P"] * 365.25, "mm yr-1"),
    "pet_mean": (lambda m: m["PET"], "mm d-1"),
    "ETPOT_Hargr": (lambda m: m["PET"] * 365.25, "mm yr-1"),
    "aridity": (lambda m: m["PET"] / m["P"], "1"),
    "meanTa": (lambda m: m["T"], "degC"),
}
HBV_NAMES = ("uparea", "meanelevation")


def build_subunit_attributes(forcing_path, camels_dir, gauge: str, attributes, out_attributes,
                         out_membership) -> tuple[Path, Path]:
    """Write the unit-attributes and gauge-membership NetCDF of a gauge's sub-units.

    ``forcing_path``: unit forcing (standard form) of the sub-units; ``camels_dir``: folder with
    the CAMELS attribute tables; ``gauge``: the gauge id (8 digits) the units drain to;
    ``attributes``: the model's attribute names (δHBV2.0 or CAMELS names).
    """
    forcing = std.read_unit_forcing(forcing_path)
    units = [str(u) for u in forcing["unit"].values]
    table = read_attribute_tables(camels_dir)
    gauge = str(gauge)
    if gauge not in table.index:
        raise DhbvInputError(f"gauge {gauge} is not in the CAMELS attribute tables in {camels_dir}; "
                             "give a CAMELS gauge id")
    means = {v: forcing[v].mean("time", skipna=True).values.astype(np.float64)
             for v in ("P", "PET", "T") if v in forcing}
    if not all(np.isfinite(m).all() for m in means.values()):
        raise DhbvInputError(f"{forcing_path}: a sub-unit has no valid forcing; check the grid coverage")
    values, units_of = {}, {}
    for name in dict.fromkeys(list(attributes) + list(HBV_NAMES)):
        if name in _FROM_FORCING:
            fn, unit = _FROM_FORCING[name]
            values[name], units_of[name] = fn(means), unit
        else:
            parent, unit = resolve_attribute(name, table, [gauge], means and {
                k: np.array([np.average(v, weights=forcing["area"].values)]) for k, v in means.items()})
            values[name], units_of[name] = np.repeat(parent, len(units)), unit
    attrs = std.make_unit_attributes(units, values, units_of,
                                     source=f"CAMELS-US attributes of gauge {gauge} inherited by its "
                                            f"sub-units; climate from {Path(forcing_path).name}")
    membership = std.make_membership([gauge] * len(units), units)
    return (std.write_netcdf(attrs, out_attributes), std.write_netcdf(membership, out_membership))
