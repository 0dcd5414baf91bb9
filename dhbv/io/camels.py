"""CAMELS-US readers (Newman et al. 2015; Addor et al. 2017) and the attribute mapping.

Files:
* lumped forcing ``<id>_lump_<product>_forcing_leap.txt``: 3 header lines (latitude [deg],
  elevation [m], area [m2 — known to be unreliable, not used]), a column header line
  ``Year Mnth Day Hr dayl(s) prcp(mm/day) srad(W/m2) swe(mm) tmax(C) tmin(C) vp(Pa)``, then
  whitespace-separated daily rows.
* streamflow ``<id>_streamflow_qc.txt``: ``gauge year month day Q[ft3 s-1] flag`` with flags
  A (approved), A:e (approved, estimated), M (missing); −999 = missing.
* attribute tables ``camels_{topo,clim,soil,geol,vege,hydro,name}.txt``: ``;``-separated,
  ``gauge_id`` with leading zeros.

Unit conversion of streamflow: mm d-1 = Q[ft3 s-1]·0.0283168·86.4 / A[km2].
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.io.text import dates_of, numeric_frame

CFS_TO_MM_PER_DAY_KM2 = 0.0283168 * 86.4   # × Q[ft3/s] / A[km2] → mm/d

ATTRIBUTE_TABLES = ("topo", "clim", "soil", "geol", "vege", "name")
# camels_hydro holds streamflow signatures (q_mean, runoff_ratio, ...): computed from the
# observations themselves, so never used as model inputs (leaks the target).
FORBIDDEN_TABLES = ("hydro",)

# δHBV2.0 attribute name → (CAMELS column, multiplier, unit of the result, note)
CAMELS_ATTRIBUTE_MAP: dict[str, tuple[str, float, str, str]] = {
    "aridity": ("aridity", 1.0, "1", "PET/P (CAMELS: Priestley-Taylor PET / Daymet P)"),
    "meanP": ("p_mean", 365.25, "mm yr-1", "mean daily P (mm d-1) ×365.25"),
    "meanslope": ("slope_mean", 1.0, "m km-1", "CAMELS slope in m/km (MERIT: degrees)"),
    "SoilGrids1km_sand": ("sand_frac", 1.0, "%", "STATSGO sand fraction"),
    "SoilGrids1km_clay": ("clay_frac", 1.0, "%", "STATSGO clay fraction"),
    "SoilGrids1km_silt": ("silt_frac", 1.0, "%", "STATSGO silt fraction"),
    "meanelevation": ("elev_mean", 1.0, "m", "mean elevation"),
    "permeability": ("geol_permeability", 1.0, "log10(m2)", "GLHYMPS permeability"),
    "seasonality_P": ("p_seasonality", 1.0, "1", "P seasonality index (signed in CAMELS)"),
    "snow_fraction": ("frac_snow", 1.0, "1", "fraction of P falling as snow"),
    "snowfall_fraction": ("frac_snow", 1.0, "1", "same CAMELS column as snow_fraction"),
    "Porosity": ("geol_porostiy", 1.0, "1", "GLHYMPS porosity (CAMELS column name typo)"),
    "uparea": ("area_gages2", 1.0, "km2", "GAGES-II drainage area"),
    "NDVI": ("gvf_max", 1.0, "1", "substitute: max green vegetation fraction"),
}
# Attributes derived from the unit forcing itself (over the whole forcing record).
FORCING_DERIVED = {
    "meanTa": ("T", 1.0, "degC", "mean of daily T"),
    "ETPOT_Hargr": ("PET", 365.25, "mm yr-1", "mean annual PET of the forcing (method in attrs)"),
}
# The 28 δHBV2.0 names without a CAMELS-US equivalent (remove them from the attribute list):
NO_CAMELS_EQUIVALENT = ("FW", "glaciers", "HWSD_clay", "HWSD_gravel", "HWSD_sand", "HWSD_silt",
                        "permafrost", "seasonality_PET", "T_clay", "T_gravel", "T_sand", "T_silt")

PAPER_ATTRIBUTES = (
    "aridity", "meanP", "ETPOT_Hargr", "NDVI", "FW", "meanslope", "SoilGrids1km_sand",
    "SoilGrids1km_clay", "SoilGrids1km_silt", "glaciers", "HWSD_clay", "HWSD_gravel",
    "HWSD_sand", "HWSD_silt", "meanelevation", "meanTa", "permafrost", "permeability",
    "seasonality_P", "seasonality_PET", "snow_fraction", "snowfall_fraction", "T_clay",
    "T_gravel", "T_sand", "T_silt", "Porosity", "uparea")


def _gauge_id(x) -> str:
    s = str(x).strip()
    return s.zfill(8) if s.isdigit() and len(s) < 8 else s


def read_attribute_tables(attributes_dir) -> pd.DataFrame:
    """All numeric CAMELS attribute columns, indexed by 8-digit gauge id (str).

    Reads camels_{topo,clim,soil,geol,vege,name}.txt; camels_hydro (streamflow signatures) is
    deliberately excluded.
    """
    d = Path(attributes_dir)
    frames = []
    for t in ATTRIBUTE_TABLES:
        f = d / f"camels_{t}.txt"
        if not f.exists():
            if t == "name":
                continue
            raise DhbvInputError(f"CAMELS attribute table {f} not found; point attributes_dir at "
                                 "the folder holding camels_*.txt")
        df = pd.read_csv(f, sep=";", dtype={"gauge_id": str})
        df["gauge_id"] = df["gauge_id"].map(_gauge_id)
        frames.append(df.set_index("gauge_id"))
    out = pd.concat(frames, axis=1)
    return out.loc[:, ~out.columns.duplicated()]


def basin_location(table: pd.DataFrame, gauge_id: str) -> tuple[float, float]:
    """(lat, lon) of a gauge from the topo table."""
    if gauge_id not in table.index:
        raise DhbvInputError(f"basin {gauge_id} is not in the CAMELS attribute tables; supply its "
                             "attributes another way or remove it from the basin list")
    return float(table.at[gauge_id, "gauge_lat"]), float(table.at[gauge_id, "gauge_lon"])


def resolve_attribute(name: str, table: pd.DataFrame, ids, forcing_means=None):
    """Values [len(ids)] and unit of one model attribute for the given CAMELS ids.

    ``name`` may be a δHBV2.0 name (mapped via CAMELS_ATTRIBUTE_MAP), a raw CAMELS column, or a
    forcing-derived name (FORCING_DERIVED, needs ``forcing_means`` = {"T": [U], "PET": [U]}).
    """
    ids = [str(i) for i in ids]
    missing = [i for i in ids if i not in table.index]
    if missing:
        raise DhbvInputError(f"basin {missing[0]} is not in the CAMELS attribute tables "
                             f"({len(missing)} missing); add its attributes or drop the basin")
    if name in FORCING_DERIVED:
        var, mult, unit, _ = FORCING_DERIVED[name]
        if forcing_means is None or var not in forcing_means:
            raise DhbvInputError(f"attribute {name} is derived from forcing {var}, which is "
                                 "not available")
        return np.asarray(forcing_means[var], dtype=np.float64) * mult, unit
    if name in CAMELS_ATTRIBUTE_MAP:
        col, mult, unit, _ = CAMELS_ATTRIBUTE_MAP[name]
    elif name in table.columns:
        col, mult, unit = name, 1.0, "1"
    elif name in NO_CAMELS_EQUIVALENT:
        raise DhbvInputError(f"attribute {name} has no CAMELS-US equivalent; remove it from "
                             "model.attributes (see dhbv.io.camels.NO_CAMELS_EQUIVALENT)")
    else:
        raise DhbvInputError(f"attribute {name} is neither a δHBV2.0 name nor a CAMELS column; "
                             "fix model.attributes")
    vals = pd.to_numeric(table.loc[ids, col], errors="coerce").to_numpy(dtype=np.float64) * mult
    return vals, unit


def read_camels_forcing(path) -> tuple[pd.DataFrame, dict]:
    """Read a CAMELS lumped forcing file.

    Returns (DataFrame indexed by date with columns P [mm d-1], Tmax, Tmin, T [degC],
    srad [W m-2], vp [Pa], dayl [s]; header dict with lat [deg], elev [m]). T = (Tmax + Tmin)/2.
    """
    path = Path(path)
    if not path.exists():
        raise DhbvInputError(f"CAMELS forcing file {path} not found")
    with open(path) as fh:
        head = [fh.readline() for _ in range(4)]
    try:
        lat, elev = float(head[0]), float(head[1])
    except ValueError:
        raise DhbvInputError(f"{path}: first two lines must be latitude and elevation; not a "
                             "CAMELS *_forcing_leap.txt file") from None
    cols = head[3].split()
    if cols[:4] != ["Year", "Mnth", "Day", "Hr"]:
        raise DhbvInputError(f"{path}: expected columns 'Year Mnth Day Hr ...', got {cols[:4]}")
    df = pd.read_csv(path, sep=r"\s+", skiprows=4, header=None, names=cols)
    values = numeric_frame(path, df, 5)
    time = dates_of(path, df["Year"], df["Mnth"], df["Day"], 5)

    def col(prefix):
        m = [c for c in cols if c.lower().startswith(prefix)]
        if not m:
            raise DhbvInputError(f"{path}: column {prefix}(...) missing")
        return values[m[0]].to_numpy(dtype=np.float64)

    out = pd.DataFrame({"P": col("prcp"), "Tmax": col("tmax"), "Tmin": col("tmin"),
                        "srad": col("srad"), "vp": col("vp"), "dayl": col("dayl")},
                       index=pd.DatetimeIndex(time, name="time"))
    out["T"] = 0.5 * (out["Tmax"] + out["Tmin"])
    return out, {"lat": lat, "elev": elev}


def read_camels_streamflow(path, area_km2: float | None = None) -> pd.Series:
    """Read ``*_streamflow_qc.txt``; −999 / flag M → NaN.

    Returns ft3 s-1 if ``area_km2`` is None, else mm d-1 (Q·0.0283168·86.4/A). Flags A and A:e
    are both kept.
    """
    path = Path(path)
    if not path.exists():
        raise DhbvInputError(f"CAMELS streamflow file {path} not found")
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["gauge", "y", "m", "d", "q", "flag"],
                     dtype={"gauge": str, "flag": str})
    q = numeric_frame(path, df[["y", "m", "d", "q"]], 1)["q"].to_numpy(dtype=np.float64, copy=True)
    q[(q <= -999 + 1e-9) | (df["flag"].astype(str).str.startswith("M").to_numpy())] = np.nan
    if np.nanmin(q, initial=0.0) < 0:
        raise DhbvInputError(f"{path}: negative streamflow values other than -999")
    time = dates_of(path, df["y"], df["m"], df["d"], 1)
    s = pd.Series(q, index=pd.DatetimeIndex(time, name="time"), name="streamflow")
    if area_km2 is None:
        s.attrs["units"] = "ft3 s-1"
        return s
    if not np.isfinite(area_km2) or area_km2 <= 0:
        raise DhbvInputError(f"{path}: drainage area {area_km2} km2 is not positive; needed for "
                             "cfs → mm/d conversion")
    s = s * CFS_TO_MM_PER_DAY_KM2 / float(area_km2)
    s.attrs["units"] = "mm d-1"
    return s


def find_camels_file(root, gauge_id: str, pattern: str) -> Path:
    """Find ``<gauge_id><pattern>`` anywhere below ``root`` (CAMELS uses HUC-02 sub-folders)."""
    hits = sorted(Path(root).rglob(f"{gauge_id}{pattern}"))
    if not hits:
        raise DhbvInputError(f"no file {gauge_id}{pattern} under {root}; check the CAMELS folder "
                             "or remove the basin from the list")
    return hits[0]
