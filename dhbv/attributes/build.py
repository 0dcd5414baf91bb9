"""Per-unit static attribute table in the standard form (docs/datasets.md#unit-attributes).

Output NetCDF: dimension ``unit`` (str ids), one float64 variable per attribute with attrs
``units``, ``long_name`` and ``source``; global attrs ``source`` and ``history``. Written
atomically. Normalisation statistics are computed elsewhere; :func:`select_training_units`
picks the units they should be computed on.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.attributes.tables import KNOWN_UNITS, read_attribute_table
from dhbv.errors import DhbvInputError
from dhbv.io.atomic import atomic_path


def _unit_ids_from(units, id_field: str | None) -> list[str]:
    if units is None:
        return []
    if isinstance(units, (str, Path)):
        p = Path(units)
        if p.suffix.lower() in (".txt", ".lst"):
            if not p.exists():
                raise DhbvInputError(f"unit list {p} does not exist; check the basin list path")
            return [ln.split()[0] for ln in p.read_text().splitlines() if ln.strip()]
        from dhbv.forcing.weights import read_polygons

        if id_field is None:
            raise DhbvInputError(f"give id_field for the unit polygons {p}")
        return read_polygons(p, id_field)[id_field].astype(str).tolist()
    return [str(u) for u in units]


def assemble_attributes(table: pd.DataFrame, unit_ids: Sequence[str], attributes: Sequence[str] | None = None,
                        rename: dict | None = None, *, source: str = "<table>") -> pd.DataFrame:
    """Select ``attributes`` (source names) for ``unit_ids`` and rename them.

    Raises one :class:`DhbvInputError` listing every missing attribute, or the units absent from
    the table, or non-numeric attributes.
    """
    rename = dict(rename or {})
    attributes = list(table.columns) if attributes is None else list(attributes)
    missing = [a for a in attributes if a not in table.columns]
    if missing:
        raise DhbvInputError(f"attribute table {source} lacks attributes: {', '.join(missing)}; fix attributes.names or the source")
    ids = [str(u) for u in unit_ids] if len(unit_ids) else list(map(str, table.index))
    absent = [u for u in ids if u not in table.index]
    if absent:
        raise DhbvInputError(
            f"attribute table {source} has no row for {len(absent)} units: {', '.join(absent[:10])}"
            f"{' ...' if len(absent) > 10 else ''}; check the id column/leading zeros"
        )
    if table.index.has_duplicates:
        dup = table.index[table.index.duplicated()].unique()[:5]
        raise DhbvInputError(f"attribute table {source} has duplicate ids: {list(dup)}")
    sub = table.loc[ids, attributes]
    bad = [a for a in attributes if not pd.api.types.is_numeric_dtype(sub[a])]
    if bad:
        raise DhbvInputError(f"attribute table {source}: non-numeric attributes {', '.join(bad)}; drop them or encode them as numbers")
    return sub.astype(float).rename(columns=rename)


def write_attributes(df: pd.DataFrame, out_path, *, units: dict | None = None, source: str = "",
                     long_names: dict | None = None) -> Path:
    """Write ``df`` (index unit ids, float columns) as the standard unit-attribute NetCDF."""
    out = Path(out_path)
    units = dict(units or {})
    ds = xr.Dataset(coords={"unit": np.asarray(df.index.astype(str), dtype=object)})
    ds["unit"].attrs["long_name"] = "unit catchment id"
    for col in df.columns:
        ds[str(col)] = ("unit", df[col].to_numpy(dtype=np.float64))
        ds[str(col)].attrs.update({"units": units.get(col) or KNOWN_UNITS.get(col, "unknown"),
                                   "long_name": (long_names or {}).get(col, str(col)), "source": source})
    ds.attrs.update({
        "title": "unit-catchment static attributes",
        "source": source,
        "history": f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} dhbv.attributes.build_attributes",
    })
    with atomic_path(out) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding={"unit": {"dtype": str}})
    return out


def build_attributes(out_path, *, units=None, source=None, kind: str = "auto", id_column: str | None = None,
                     strip_prefix: str | None = None, attributes: Sequence[str] | None = None,
                     rename: dict | None = None, attribute_units: dict | None = None,
                     zonal: dict | None = None, polygons_path=None, id_field: str | None = None) -> pd.DataFrame:
    """Build the per-unit attribute NetCDF ``out_path`` and return the table.

    Sources (either or both):
    * ``source``: attribute file — MERIT NetCDF keyed by COMID (``kind="merit"``), CAMELS folder
      or ``camels_*.txt`` (``"camels"``), Caravan/CSV table (``"csv"``, ``id_column``,
      ``strip_prefix``); ``attributes`` picks source columns (default: all numeric ones) and
      ``rename`` maps source → output names;
    * ``zonal``: {name: raster path or {path, stat: mean|frac, classes}} over ``polygons_path``
      (``id_field``), see :func:`dhbv.attributes.zonal.zonal_attributes`.

    ``units``: unit ids (list), a basin-list text file, or a polygon layer (with ``id_field``);
    default: the polygons of ``polygons_path``, else all rows of ``source``.
    ``attribute_units`` overrides the units attribute per output name.
    """
    if source is None and not zonal:
        raise DhbvInputError("build_attributes needs an attribute source file or zonal rasters; set attributes.source or attributes.zonal")
    ids = _unit_ids_from(units if units is not None else polygons_path, id_field)
    parts, sources = [], []
    if source is not None:
        table = read_attribute_table(source, kind, id_column=id_column, strip_prefix=strip_prefix)
        if attributes is None:
            attributes = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
        parts.append(assemble_attributes(table, ids, attributes, rename, source=str(source)))
        sources.append(str(source))
        file_units = {rename.get(k, k) if rename else k: v for k, v in table.attrs.get("units", {}).items()}
        attribute_units = {**file_units, **(attribute_units or {})}
    if zonal:
        from dhbv.attributes.zonal import zonal_attributes

        if polygons_path is None or id_field is None:
            raise DhbvInputError("zonal attributes need polygons_path and id_field")
        z = zonal_attributes(zonal, polygons_path, id_field)
        if ids:
            absent = [u for u in ids if u not in z.index]
            if absent:
                raise DhbvInputError(f"polygons {polygons_path} lack units {', '.join(absent[:10])}")
            z = z.loc[ids]
        parts.append(z)
        sources.append("zonal statistics of " + ", ".join(str(v if isinstance(v, (str, Path)) else v['path']) for v in zonal.values()))
    df = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
    if df.columns.has_duplicates:
        raise DhbvInputError(f"duplicate attribute names after renaming: {sorted(set(df.columns[df.columns.duplicated()]))}")
    write_attributes(df, out_path, units=attribute_units, source="; ".join(sources))
    return df


def select_training_units(attrs, *, include: Iterable[str] | str | Path | None = None,
                          exclude: Iterable[str] | str | Path | None = None, require_finite: bool = True,
                          attributes: Sequence[str] | None = None) -> list[str]:
    """Unit ids to compute normalisation statistics on (order of the attribute file).

    ``attrs``: unit-attribute NetCDF path or Dataset; ``include``/``exclude``: id lists or
    basin-list text files (first token per line, e.g. training gauges' units); with
    ``require_finite`` units with a NaN in any of ``attributes`` (default all) are dropped.
    """
    ds = xr.load_dataset(attrs) if isinstance(attrs, (str, Path)) else attrs
    ids = [str(u) for u in ds["unit"].values]

    def _load(v):
        if v is None:
            return None
        if isinstance(v, (str, Path)):
            p = Path(v)
            if not p.exists():
                raise DhbvInputError(f"unit list {p} does not exist")
            return {ln.split()[0] for ln in p.read_text().splitlines() if ln.strip()}
        return {str(u) for u in v}

    inc, exc = _load(include), _load(exclude)
    keep = np.ones(len(ids), dtype=bool)
    if inc is not None:
        keep &= np.array([u in inc for u in ids])
    if exc is not None:
        keep &= np.array([u not in exc for u in ids])
    if require_finite:
        names = list(attributes) if attributes is not None else [str(v) for v in ds.data_vars]
        missing = [n for n in names if n not in ds.data_vars]
        if missing:
            raise DhbvInputError(f"unit attributes lack {', '.join(missing)}")
        for n in names:
            keep &= np.isfinite(ds[n].values)
    sel = [u for u, k in zip(ids, keep) if k]
    if not sel:
        raise DhbvInputError("no training units left after include/exclude/finite filtering; check the unit lists")
    return sel
