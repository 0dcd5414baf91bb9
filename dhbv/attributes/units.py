"""Static attributes of every unit catchment of a polygon layer (a MERIT zone) from a unit
attribute table.

For a whole MERIT zone the δHBV2.0 attributes come per unit catchment from an attribute table
keyed by COMID (:func:`dhbv.attributes.tables.read_merit_attributes`; CSV tables with a unit
column also work). Every polygon of the layer must have a row with every attribute the model
reads, plus the two the HBV physics reads directly: ``uparea`` (km², drainage area of the
unit's outlet; taken as 10**log10_uparea when only the logarithm is tabulated) and
``meanelevation`` (m). Anything missing or not finite stops the build with one line naming the
table, the attribute and the first unit; nothing is written then.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dhbv.datasets.basin_data import HBV_ELEV, HBV_UPAREA
from dhbv.errors import DhbvInputError
from dhbv.io import standard as std

#: units of the attributes the HBV physics reads (the table's own units win when present)
_HBV_UNITS = {HBV_UPAREA: "km2", HBV_ELEV: "m"}


def build_unit_attributes(polygons, id_field: str, table, attributes, out_attributes) -> Path:
    """Write the unit-attributes NetCDF of every polygon of ``polygons`` (ids in ``id_field``).

    ``table``: attribute file (NetCDF keyed by COMID, or CSV); ``attributes``: the model's
    attribute names (``model.attributes``). Output: dimension ``unit`` in the polygon order,
    one float64 variable per attribute (+ ``uparea`` km², ``meanelevation`` m) with units.
    """
    from dhbv.attributes.tables import read_attribute_table
    from dhbv.forcing.weights import read_polygons

    units = read_polygons(polygons, id_field)[id_field].astype(str).tolist()
    tab = read_attribute_table(table)
    if HBV_UPAREA not in tab.columns and "log10_uparea" in tab.columns:
        tab[HBV_UPAREA] = 10.0 ** tab["log10_uparea"].astype(float)
        tab.attrs.setdefault("units", {})[HBV_UPAREA] = "km2"
    names = list(dict.fromkeys(list(attributes) + [HBV_UPAREA, HBV_ELEV]))
    lacking = [n for n in names if n not in tab.columns]
    if lacking:
        raise DhbvInputError(f"attribute table {table} lacks {', '.join(lacking)} (model.attributes "
                             f"and {HBV_UPAREA}/{HBV_ELEV}); use a table with these columns")
    have = set(map(str, tab.index))
    absent = [u for u in units if u not in have]
    if absent:
        raise DhbvInputError(f"attribute table {table} has no row for {len(absent)} of the "
                             f"{len(units)} units of {polygons} (first: {absent[0]}); units "
                             "without attributes cannot be simulated: complete the table")
    rows = tab.loc[units, names]
    values = rows.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DhbvInputError(f"attribute table {table}: {names[j]} of unit {units[i]} is not a "
                             f"number ({int(bad.any(axis=1).sum())} units affected); fill it")
    file_units = tab.attrs.get("units", {})
    unit_of = {n: file_units.get(n) or _HBV_UNITS.get(n, "1") for n in names}
    ds = std.make_unit_attributes(units, {n: values[:, j] for j, n in enumerate(names)}, unit_of,
                                  source=f"unit attributes from {Path(table).name} for the "
                                         f"polygons of {Path(polygons).name}")
    return std.write_netcdf(ds, out_attributes)
