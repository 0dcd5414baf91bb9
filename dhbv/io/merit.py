"""Readers for MERIT-Basins flowlines, unit catchments and MERIT-style reach tables.

MERIT-Basins (Lin et al. 2019) ships one flowline file ``riv_pfaf_<XX>_*.shp`` and one
unit-catchment file ``cat_pfaf_<XX>_*.shp`` per Pfafstetter level-2 basin (docs/network.md#merit-basins-inputs).
The readers here return plain :class:`pandas.DataFrame` objects with *canonical* columns and
units, whatever the source schema:

reach table (:func:`read_reach_table`)
    ``COMID`` (int64), ``NextDownID`` (int64, 0 = no downstream reach), optionally ``up1`` …
    ``up4`` (int64, 0 = none), ``length_m`` (m), ``slope`` (m/m, raw), optionally ``uparea``
    (km², drainage area at the reach outlet), ``unitarea`` (km², own unit catchment) and
    ``strahler`` (MERIT field ``order``).

catchments (:func:`read_catchments`)
    ``COMID`` (int64) and ``unitarea`` (km²).

Field names are matched case-insensitively against the MERIT names and a few aliases; a
``field_map`` overrides the detection. It may be written either way round,
``{canonical name: file column}`` or ``{file column: canonical name}`` (e.g. the workflow
config's ``{length: length_m}`` says the file's ``length`` field is in metres). Canonical names
accepted in ``field_map``: ``COMID``, ``NextDownID``, ``up1``..``up4``, ``lengthkm`` (km),
``length_m`` (m), ``length`` (m), ``slope``, ``uparea`` (km²), ``unitarea`` (km²), ``order`` (Strahler) for
flowlines; ``COMID``, ``unitarea`` (km²), ``area_m2`` (m²) for catchments.

Reduced schemas (e.g. the Bow-at-Banff sample: ``COMID``, ``NextDownID``, ``slope``, ``length``
in metres; catchments with ``area`` in m²) are accepted: the missing quantities are derived by
:mod:`dhbv.network` (upstream lists from NextDownID, unit area from the polygons in an
equal-area projection, uparea by accumulation, Strahler order from the tree).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError

log = logging.getLogger(__name__)

#: Equal-area CRS used to measure unit-catchment polygons (WGS 84 / NSIDC EASE-Grid 2.0 Global,
#: cylindrical equal-area; valid between ±86° latitude).
EQUAL_AREA_CRS = "EPSG:6933"

UP_FIELDS = ("up1", "up2", "up3", "up4")

# canonical name -> accepted source names (matched case-insensitively, first hit wins)
_FLOWLINE_ALIASES: dict[str, tuple[str, ...]] = {
    "COMID": ("COMID",),
    "NextDownID": ("NextDownID", "NextDown", "next_down_id"),
    "up1": ("up1",),
    "up2": ("up2",),
    "up3": ("up3",),
    "up4": ("up4",),
    "lengthkm": ("lengthkm",),
    "length_m": ("length_m",),
    # reduced MERIT schemas (Bow sample) carry ``length`` in metres
    "length": ("length",),
    "slope": ("slope",),
    "uparea": ("uparea",),
    "unitarea": ("unitarea",),
    "order": ("order", "strahler"),
}
_CATCHMENT_ALIASES: dict[str, tuple[str, ...]] = {
    "COMID": ("COMID",),
    "unitarea": ("unitarea",),
    "area_m2": ("area_m2", "area"),
}

_VECTOR_SUFFIXES = {".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gml", ".zip"}
_TABLE_SUFFIXES = {".csv", ".txt", ".tsv"}

#: Shortest plausible MERIT reach (m). MERIT-Basins reaches are traced on a 3-arcsec (~90 m)
#: grid; a median reach length below this means the length field is in km, not m.
_MIN_PLAUSIBLE_MEDIAN_LENGTH_M = 30.0


def _describe(source: Any) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "attrs", {}).get("source", "<in-memory table>")


def _read_any(source: Any, *, layer: str | None, geometry: bool) -> tuple[pd.DataFrame, str]:
    """Read ``source`` (path or DataFrame) into a DataFrame; wrap every read failure."""
    if isinstance(source, pd.DataFrame):
        return source, _describe(source)
    path = Path(source)
    name = str(path)
    if not path.exists():
        raise DhbvInputError(f"{name}: file not found; check the path in the configuration")
    suffix = path.suffix.lower()
    try:
        if suffix in _TABLE_SUFFIXES:
            sep = "\t" if suffix == ".tsv" else ","
            df = pd.read_csv(path, sep=sep)
        elif suffix in _VECTOR_SUFFIXES or path.is_dir():
            import pyogrio

            if geometry:
                import geopandas as gpd

                df = gpd.read_file(path, layer=layer, engine="pyogrio")
            else:
                df = pyogrio.read_dataframe(path, layer=layer, read_geometry=False)
        else:
            raise DhbvInputError(
                f"{name}: unsupported file type {suffix!r}; give a shapefile, GeoPackage or CSV"
            )
    except DhbvInputError:
        raise
    except Exception as exc:  # pyogrio/pandas raise many types; report them on one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DhbvInputError(
            f"{name}: cannot read file ({type(exc).__name__}: {msg}); check that it is a valid "
            "shapefile/GeoPackage/CSV and not truncated"
        ) from exc
    return df, name


def _resolve(
    df: pd.DataFrame,
    aliases: Mapping[str, tuple[str, ...]],
    field_map: Mapping[str, str] | None,
    name: str,
) -> dict[str, str]:
    """Map canonical names to existing source columns (explicit ``field_map`` first)."""
    lower = {str(c).lower(): c for c in df.columns}
    out: dict[str, str] = {}
    field_map = dict(field_map or {})
    for a, b in field_map.items():
        # both directions are accepted: {canonical: column} or {column: canonical}
        if a in aliases and b in df.columns:
            key, col = a, b
        elif b in aliases and a in df.columns:
            key, col = b, a
        elif a not in aliases and b not in aliases:
            raise DhbvInputError(
                f"{name}: field_map entry {a!r}: {b!r} names no known field; map a file column "
                f"to one of {sorted(aliases)}"
            )
        else:
            raise DhbvInputError(
                f"{name}: field_map entry {a!r}: {b!r} names a column that is not in the file "
                f"(columns: {list(map(str, df.columns))})"
            )
        out[key] = col
    for key, names in aliases.items():
        if key in out:
            continue
        for cand in names:
            if cand.lower() in lower:
                out[key] = lower[cand.lower()]
                break
    return out


def _as_int64(values: Any, field: str, name: str, *, fill_missing: int | None = None) -> np.ndarray:
    """Convert an id column (int, float or numeric strings) to int64; reject fractional ids."""
    s = pd.Series(values)
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        s = pd.to_numeric(s.astype("string").str.strip(), errors="coerce")
    arr = s.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(arr)
    if bad.any():
        if fill_missing is None:
            raise DhbvInputError(
                f"{name}: field {field!r} has {int(bad.sum())} missing/non-numeric values "
                f"(rows {np.flatnonzero(bad)[:5].tolist()}); every reach needs an integer id"
            )
        arr = np.where(bad, float(fill_missing), arr)
    if np.any(arr != np.round(arr)):
        rows = np.flatnonzero(arr != np.round(arr))[:5].tolist()
        raise DhbvInputError(f"{name}: field {field!r} has non-integer ids at rows {rows}")
    return arr.astype(np.int64)


def _as_float(values: Any, field: str, name: str) -> np.ndarray:
    """A numeric column as float64; empty cells are NaN, text that is not a number an error."""
    s = pd.Series(values)
    num = pd.to_numeric(s, errors="coerce")
    text = s.notna() & num.isna()
    if text.any() and not pd.api.types.is_float_dtype(s.dtype):
        text &= s.astype("string").str.strip().fillna("").str.len() > 0
        text &= ~s.astype("string").str.strip().str.lower().isin(["nan", "na", "none", "null"])
        if text.any():
            k = int(np.flatnonzero(text.to_numpy())[0])
            raise DhbvInputError(f"{name}: field {field!r} row {k + 1}: {s.iloc[k]!r} is not a "
                                 f"number ({int(text.sum())} such cells); write plain numbers "
                                 "(decimal point, no units) or leave the cell empty")
    return num.to_numpy(dtype="float64", na_value=np.nan)


def read_reach_table(
    source: str | Path | pd.DataFrame,
    *,
    field_map: Mapping[str, str] | None = None,
    layer: str | None = None,
) -> pd.DataFrame:
    """Read MERIT flowlines (shapefile/GeoPackage), a MERIT-style CSV table or a DataFrame.

    Parameters
    ----------
    source
        ``riv_pfaf_*`` flowline file, reduced flowline file, CSV reach table or DataFrame.
    field_map
        ``{canonical name: source column}`` overrides (see module docstring).
    layer
        Layer name for multi-layer GeoPackages.

    Returns
    -------
    DataFrame with canonical columns ``COMID``, ``NextDownID``, ``length_m`` [m], ``slope``
    [m/m, raw] and, where the source has them, ``up1``..``up4``, ``uparea`` [km²],
    ``unitarea`` [km²], ``strahler``. ``attrs["source"]`` names the source.

    Raises
    ------
    DhbvInputError
        Unreadable file, missing required field (``COMID``, ``NextDownID``, a length field,
        ``slope``), non-integer ids, implausible length units.
    """
    df, name = _read_any(source, layer=layer, geometry=False)
    cols = _resolve(df, _FLOWLINE_ALIASES, field_map, name)
    for req in ("COMID", "NextDownID", "slope"):
        if req not in cols:
            raise DhbvInputError(
                f"{name}: required field {req!r} not found (columns: {list(map(str, df.columns))}); "
                f"rename it or pass field_map={{'{req}': '<column>'}}"
            )
    out = pd.DataFrame({"COMID": _as_int64(df[cols["COMID"]], cols["COMID"], name)})
    out["NextDownID"] = _as_int64(df[cols["NextDownID"]], cols["NextDownID"], name, fill_missing=0)
    ups = [k for k in UP_FIELDS if k in cols]
    if ups:
        if len(ups) != 4:
            log.info("%s: only %s of up1..up4 present; missing ones treated as 0", name, ups)
        for k in UP_FIELDS:
            out[k] = _as_int64(df[cols[k]], cols[k], name, fill_missing=0) if k in cols else 0

    # length: explicit km field > explicit m field > reduced-schema 'length' (m)
    if "lengthkm" in cols:
        out["length_m"] = _as_float(df[cols["lengthkm"]], cols["lengthkm"], name) * 1000.0
        length_col = cols["lengthkm"]
    elif "length_m" in cols:
        out["length_m"] = _as_float(df[cols["length_m"]], cols["length_m"], name)
        length_col = cols["length_m"]
    elif "length" in cols:
        out["length_m"] = _as_float(df[cols["length"]], cols["length"], name)
        length_col = cols["length"]
    else:
        raise DhbvInputError(
            f"{name}: required length field not found (looked for 'lengthkm' [km], 'length_m' or "
            f"'length' [m]; columns: {list(map(str, df.columns))}); pass "
            "field_map={'lengthkm': '<column>'} or {'length_m': '<column>'}"
        )
    med = np.nanmedian(out["length_m"].to_numpy()) if len(out) else np.nan
    if np.isfinite(med) and med < _MIN_PLAUSIBLE_MEDIAN_LENGTH_M and len(out) >= 5:
        raise DhbvInputError(
            f"{name}: field {length_col!r} read as metres has median {med:.3g} m, implausible for "
            f"MERIT reaches; if it is in km pass field_map={{'lengthkm': '{length_col}'}}"
        )
    out["slope"] = _as_float(df[cols["slope"]], cols["slope"], name)
    for key, canon in (("uparea", "uparea"), ("unitarea", "unitarea"), ("order", "strahler")):
        if key in cols:
            out[canon] = _as_float(df[cols[key]], cols[key], name)
    out.attrs["source"] = name
    return out


def read_catchments(
    source: str | Path | pd.DataFrame,
    *,
    field_map: Mapping[str, str] | None = None,
    area_source: str = "auto",
    layer: str | None = None,
    area_check_rtol: float = 0.05,
) -> pd.DataFrame:
    """Read unit-catchment polygons (``cat_pfaf_*`` or reduced) and return unit areas.

    Parameters
    ----------
    source
        Polygon file (shapefile/GeoPackage), CSV with ``COMID`` + area, or (Geo)DataFrame.
    field_map
        Overrides: ``COMID``, ``unitarea`` (km²) or ``area_m2`` (m²).
    area_source
        ``"auto"`` (``unitarea`` km² field, else an ``area``/``area_m2`` field in m², else the
        polygons), ``"field"`` (require a field) or ``"geometry"`` (always measure polygons in
        :data:`EQUAL_AREA_CRS`).
    area_check_rtol
        When an m² area field is used and polygons are present, the field total must agree with
        the polygon total within this relative tolerance (guards against km²/m² mix-ups).

    Returns
    -------
    DataFrame with ``COMID`` (int64) and ``unitarea`` [km²]; ``attrs["source"]``,
    ``attrs["area_source"]`` (``"field:<name> [km2]"``, ``"field:<name> [m2]"`` or
    ``"geometry:EPSG:6933"``).
    """
    if area_source not in ("auto", "field", "geometry"):
        raise DhbvInputError(f"area_source={area_source!r}; use 'auto', 'field' or 'geometry'")
    # attributes first; polygons are read only when they are needed (a full cat_pfaf zone has
    # ~10^5 polygons and reading them dominates time and memory)
    df, name = _read_any(source, layer=layer, geometry=False)
    cols = _resolve(df, _CATCHMENT_ALIASES, field_map, name)
    need_geom = area_source == "geometry" or "unitarea" not in cols
    if need_geom and not isinstance(source, pd.DataFrame) and Path(source).suffix.lower() in _VECTOR_SUFFIXES:
        df, name = _read_any(source, layer=layer, geometry=True)
    if "COMID" not in cols:
        raise DhbvInputError(
            f"{name}: required field 'COMID' not found (columns: {list(map(str, df.columns))}); "
            "pass catchment_field_map={'COMID': '<column>'}"
        )
    out = pd.DataFrame({"COMID": _as_int64(df[cols["COMID"]], cols["COMID"], name)})
    has_geom = hasattr(df, "geometry") and getattr(df, "_geometry_column_name", None) in df.columns

    def geom_area_km2() -> np.ndarray:
        if df.crs is None:
            raise DhbvInputError(
                f"{name}: polygons have no CRS; add a .prj (MERIT-Basins is EPSG:4326)"
            )
        return df.geometry.to_crs(EQUAL_AREA_CRS).area.to_numpy() / 1e6

    if area_source == "geometry":
        if not has_geom:
            raise DhbvInputError(f"{name}: area_source='geometry' but the file has no polygons")
        out["unitarea"] = geom_area_km2()
        out.attrs["area_source"] = f"geometry:{EQUAL_AREA_CRS}"
    elif "unitarea" in cols:
        out["unitarea"] = _as_float(df[cols["unitarea"]], cols["unitarea"], name)
        out.attrs["area_source"] = f"field:{cols['unitarea']} [km2]"
    elif "area_m2" in cols:
        out["unitarea"] = _as_float(df[cols["area_m2"]], cols["area_m2"], name) / 1e6
        out.attrs["area_source"] = f"field:{cols['area_m2']} [m2]"
        if has_geom and len(out):
            g = geom_area_km2().sum()
            f = float(np.nansum(out["unitarea"]))
            if g > 0 and abs(f - g) > area_check_rtol * g:
                raise DhbvInputError(
                    f"{name}: area field {cols['area_m2']!r} read as m² totals {f:.6g} km² but the "
                    f"polygons measure {g:.6g} km² in {EQUAL_AREA_CRS}; fix the unit via "
                    "catchment_field_map={'unitarea': ...} (km²) or use area_source='geometry'"
                )
    elif area_source == "field":
        raise DhbvInputError(
            f"{name}: no area field ('unitarea' km² or 'area'/'area_m2' m²) found; pass "
            "catchment_field_map or area_source='geometry'"
        )
    elif has_geom:
        out["unitarea"] = geom_area_km2()
        out.attrs["area_source"] = f"geometry:{EQUAL_AREA_CRS}"
    else:
        raise DhbvInputError(
            f"{name}: neither an area field nor polygons found; cannot derive unit areas"
        )
    bad = ~np.isfinite(out["unitarea"].to_numpy()) | (out["unitarea"].to_numpy() <= 0)
    if bad.any():
        ids = out["COMID"].to_numpy()[bad][:5].tolist()
        raise DhbvInputError(
            f"{name}: {int(bad.sum())} catchments have missing or non-positive area "
            f"(COMIDs {ids}); fix the polygons or the area field"
        )
    out.attrs["source"] = name
    return out
