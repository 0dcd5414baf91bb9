"""Readers of per-unit attribute tables, all returning a DataFrame indexed by str unit id.

* MERIT attribute NetCDF keyed by COMID (e.g. ``juniata_attributes.nc``: dim ``COMID``, one
  variable per attribute);
* CAMELS-US ``camels_*.txt`` tables (``;``-separated, ``gauge_id`` kept as text so leading zeros
  survive: ``01013500``), merged over all files of a folder;
* Caravan-style CSV (``gauge_id`` such as ``camels_01022500``; an optional prefix is stripped)
  or any CSV/TSV with an id column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.errors import DhbvInputError

#: Units of attributes used by δHBV2.0 and CAMELS (others get "unknown" unless given).
KNOWN_UNITS = {
    # MERIT-based attributes of the paper (dHBV2.0 input list)
    "aridity": "1", "meanP": "mm yr-1", "ETPOT_Hargr": "mm yr-1", "NDVI": "1", "FW": "1",
    "meanslope": "m km-1", "SoilGrids1km_sand": "percent", "SoilGrids1km_clay": "percent",
    "SoilGrids1km_silt": "percent", "Porosity": "1", "glaciers": "1", "meanelevation": "m",
    "meanTa": "degC", "permafrost": "1", "permeability": "log10(m2)", "seasonality_P": "1",
    "seasonality_PET": "1", "snow_fraction": "1", "snowfall_fraction": "1", "uparea": "km2",
    "catchsize": "km2", "log10_uparea": "log10(km2)", "T_clay": "percent", "T_gravel": "percent",
    "T_sand": "percent", "T_silt": "percent", "Pop_density": "km-2",
    # CAMELS-US
    "p_mean": "mm d-1", "pet_mean": "mm d-1", "p_seasonality": "1", "frac_snow": "1",
    "high_prec_freq": "d yr-1", "high_prec_dur": "d", "low_prec_freq": "d yr-1", "low_prec_dur": "d",
    "gauge_lat": "degrees_north", "gauge_lon": "degrees_east", "elev_mean": "m", "slope_mean": "m km-1",
    "area_gages2": "km2", "area_geospa_fabric": "km2", "frac_forest": "1", "lai_max": "1", "lai_diff": "1",
    "gvf_max": "1", "gvf_diff": "1", "dom_land_cover_frac": "1", "root_depth_50": "m", "root_depth_99": "m",
    "soil_depth_pelletier": "m", "soil_depth_statsgo": "m", "soil_porosity": "1", "soil_conductivity": "cm h-1",
    "max_water_content": "m", "sand_frac": "percent", "silt_frac": "percent", "clay_frac": "percent",
    "water_frac": "percent", "organic_frac": "percent", "other_frac": "percent", "carbonate_rocks_frac": "1",
    "glim_1st_class_frac": "1", "glim_2nd_class_frac": "1", "geol_porostiy": "1", "geol_permeability": "log10(m2)",
    "q_mean": "mm d-1", "runoff_ratio": "1", "baseflow_index": "1",
}


def _id_str(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def read_merit_attributes(path, id_var: str = "COMID") -> pd.DataFrame:
    """One row per COMID, one column per 1-D variable along ``id_var`` (NetCDF/Zarr)."""
    p = Path(path)
    if not p.exists():
        raise DhbvInputError(f"attribute file {p} does not exist; check data paths in the config")
    try:
        ds = xr.open_zarr(p) if (p.is_dir() or p.suffix == ".zarr") else xr.open_dataset(p)
    except Exception as exc:  # noqa: BLE001
        raise DhbvInputError(f"cannot read attribute file {p}: {str(exc).splitlines()[0]}") from exc
    with ds:
        if id_var not in ds.variables:
            raise DhbvInputError(f"attribute file {p} has no id variable {id_var!r}; variables: {sorted(map(str, ds.variables))}")
        dim = ds[id_var].dims[0]
        cols = {str(k): np.asarray(v.values) for k, v in ds.data_vars.items() if v.dims == (dim,)}
        ids = [_id_str(v) for v in np.asarray(ds[id_var].values)]
        units = {str(k): v.attrs.get("units") for k, v in ds.data_vars.items() if v.dims == (dim,)}
    df = pd.DataFrame(cols, index=pd.Index(ids, name="unit"))
    df.attrs["units"] = {k: u for k, u in units.items() if u}
    df.attrs["source"] = str(p)
    return df


def read_camels_attributes(path) -> pd.DataFrame:
    """Merge CAMELS ``camels_*.txt`` tables (a folder, or one file) on ``gauge_id`` (text)."""
    p = Path(path)
    files = sorted(p.glob("camels_*.txt")) if p.is_dir() else [p]
    if not files or not all(f.exists() for f in files):
        raise DhbvInputError(f"no CAMELS attribute tables (camels_*.txt) at {p}; check data.camels_attributes")
    df = None
    for f in files:
        t = pd.read_csv(f, sep=";", dtype={"gauge_id": str})
        if "gauge_id" not in t.columns:
            raise DhbvInputError(f"CAMELS table {f} has no gauge_id column; is it a ';'-separated CAMELS attribute file?")
        t["gauge_id"] = t["gauge_id"].str.strip().str.zfill(8)
        t = t.set_index("gauge_id")
        if df is not None:
            t = t[[c for c in t.columns if c not in df.columns]]
        df = t if df is None else df.join(t, how="outer")
    df.index.name = "unit"
    df.attrs["source"] = str(p)
    return df


def read_csv_attributes(path, id_column: str = "gauge_id", *, strip_prefix: str | None = None,
                        sep: str | None = None, zfill: int | None = None) -> pd.DataFrame:
    """A CSV/TSV attribute table (Caravan style) keyed by ``id_column`` (read as text).

    ``strip_prefix`` removes e.g. ``"camels_"`` from Caravan ids; ``zfill`` pads numeric ids.
    """
    p = Path(path)
    if not p.exists():
        raise DhbvInputError(f"attribute table {p} does not exist; check data paths in the config")
    t = pd.read_csv(p, sep=sep if sep is not None else None, engine="python", dtype={id_column: str})
    if id_column not in t.columns:
        raise DhbvInputError(f"attribute table {p} has no id column {id_column!r}; columns: {list(t.columns)[:10]}")
    ids = t[id_column].astype(str).str.strip()
    if strip_prefix:
        ids = ids.str.removeprefix(strip_prefix)
    if zfill:
        ids = ids.str.zfill(zfill)
    t = t.drop(columns=[id_column]).set_index(pd.Index(ids, name="unit"))
    t.attrs["source"] = str(p)
    return t


def read_attribute_table(path, kind: str = "auto", *, id_column: str | None = None, strip_prefix: str | None = None) -> pd.DataFrame:
    """Dispatch on ``kind`` ("merit" | "camels" | "csv" | "auto": by file type/name)."""
    p = Path(path)
    if kind == "auto":
        if p.suffix in (".nc", ".nc4", ".zarr") or (p.is_dir() and p.suffix == ".zarr"):
            kind = "merit"
        elif p.is_dir() or p.name.startswith("camels_"):
            kind = "camels"
        else:
            kind = "csv"
    if kind == "merit":
        return read_merit_attributes(p, id_column or "COMID")
    if kind == "camels":
        return read_camels_attributes(p)
    if kind == "csv":
        return read_csv_attributes(p, id_column or "gauge_id", strip_prefix=strip_prefix)
    raise DhbvInputError(f"unknown attribute table kind {kind!r}; use merit, camels, csv or auto")
