"""USGS daily streamflow (NWIS daily values, parameter 00060 discharge, statistic mean).

Values are converted from ft³ s-1 to m³ s-1 (× 0.0283168). NWIS qualification codes are kept
as a per-day flag variable:

    0 approved (A), 1 provisional (P), 2 estimated (e, alone or with A/P),
    3 ice-affected / no value (Ice, with a missing value), 4 other missing (Eqp, Dis, Ssn, Bkw,
    Mnt, Rat, ... or a value of -999999), 5 not reported (date absent from the service answer)

Missing values are NaN. Output: the docs/datasets.md#gauge-observations form (dims time, gauge;
``streamflow`` [m3 s-1], ``streamflow_flag``; coord ``gauge`` str site numbers, ``area`` km²
when given), written atomically.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.io.atomic import atomic_path

CFS_TO_CMS = 0.0283168
FLAG_MEANINGS = ("approved", "provisional", "estimated", "ice_affected_missing", "missing_other", "not_reported")
NWIS_MISSING = -999999.0


def _flag_of(code, value) -> int:
    c = "" if code is None or (isinstance(code, float) and np.isnan(code)) else str(code)
    parts = set(c.replace(",", " ").split())
    if not np.isfinite(value) or value == NWIS_MISSING:
        return 3 if "Ice" in parts else 4
    if "e" in parts:
        return 2
    if "P" in parts:
        return 1
    return 0


def nwis_to_dataset(df: pd.DataFrame, sites: Sequence[str], start: str, end: str, *, area_km2: dict | None = None,
                    drop_provisional: bool = False) -> xr.Dataset:
    """Convert a ``dataretrieval.nwis.get_dv`` frame (single- or multi-index) to the gauge form."""
    sites = [str(s) for s in sites]
    time = pd.date_range(start, end, freq="D")
    q = np.full((time.size, len(sites)), np.nan)
    flag = np.full((time.size, len(sites)), 5, dtype=np.int8)
    if df is not None and len(df):
        d = df.reset_index()
        if "site_no" not in d.columns:
            if len(sites) != 1:
                raise DhbvInputError("NWIS answer lacks site_no for a multi-site request; update dataretrieval")
            d["site_no"] = sites[0]
        tcol = "datetime" if "datetime" in d.columns else d.columns[0]
        vcol = next((c for c in d.columns if str(c).startswith("00060") and str(c).endswith("Mean")), None)
        if vcol is None:
            raise DhbvInputError(f"NWIS answer has no 00060 mean discharge column; columns: {list(d.columns)}")
        ccol = f"{vcol}_cd" if f"{vcol}_cd" in d.columns else None
        dates = pd.to_datetime(d[tcol], utc=True).dt.tz_localize(None).dt.normalize()
        tpos = time.get_indexer(dates)
        spos = pd.Index(sites).get_indexer(d["site_no"].astype(str))
        vals = pd.to_numeric(d[vcol], errors="coerce").to_numpy(dtype=float)
        codes = d[ccol].to_numpy() if ccol else np.full(len(d), None)
        for ti, si, v, c in zip(tpos, spos, vals, codes):
            if ti < 0 or si < 0:
                continue
            f = _flag_of(c, v)
            flag[ti, si] = f
            q[ti, si] = v * CFS_TO_CMS if f <= 2 and not (drop_provisional and f == 1) else np.nan
    ds = xr.Dataset(
        {
            "streamflow": (("time", "gauge"), q.astype(np.float32), {
                "units": "m3 s-1", "long_name": "daily mean discharge (USGS NWIS 00060, converted from ft3 s-1)",
                "ancillary_variables": "streamflow_flag"}),
            "streamflow_flag": (("time", "gauge"), flag, {
                "long_name": "NWIS qualification of the daily value", "flag_values": np.arange(6, dtype=np.int8),
                "flag_meanings": " ".join(FLAG_MEANINGS)}),
        },
        coords={"time": time, "gauge": np.asarray(sites, dtype=object)},
    )
    if area_km2:
        ds = ds.assign_coords(area=("gauge", np.array([float(area_km2.get(s, np.nan)) for s in sites])))
        ds["area"].attrs["units"] = "km2"
    ds.attrs.update({
        "source": "USGS NWIS daily values (waterservices), parameterCd 00060, statCd 00003, via dataretrieval",
        "conversion": f"m3 s-1 = ft3 s-1 x {CFS_TO_CMS}",
        "provisional_values": "removed" if drop_provisional else "kept (flag 1)",
        "history": f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} dhbv.retrieval.retrieve_usgs_streamflow",
    })
    return ds


def retrieve_usgs_streamflow(sites: Sequence[str], start: str, end: str, out_path, *, area_km2: dict | None = None,
                             drop_provisional: bool = False, get_dv: Callable | None = None) -> Path:
    """Download daily discharge for ``sites`` (8–15 digit site numbers, text) and write NetCDF.

    ``get_dv`` defaults to :func:`dataretrieval.nwis.get_dv` (called once per site with
    ``parameterCd="00060"``); injectable for offline use.
    """
    if get_dv is None:
        from dataretrieval import nwis

        get_dv = nwis.get_dv
    sites = [str(s).strip() for s in sites]
    bad = [s for s in sites if not (s.isdigit() and 8 <= len(s) <= 15)]
    if bad:
        raise DhbvInputError(f"USGS site numbers must be 8-15 digits (keep leading zeros): {bad[:5]}")
    frames = []
    for s in sites:
        try:
            df, _meta = get_dv(sites=s, start=start, end=end, parameterCd="00060")
        except Exception as exc:  # noqa: BLE001 - the service's error, with the site named
            raise DhbvInputError(f"USGS NWIS request for site {s} ({start}..{end}) failed: {str(exc).splitlines()[0]}") from exc
        if df is not None and len(df):
            d = df.reset_index()
            if "site_no" not in d.columns:
                d["site_no"] = s
            frames.append(d)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    ds = nwis_to_dataset(df, sites, start, end, area_km2=area_km2, drop_provisional=drop_provisional)
    out = Path(out_path)
    with atomic_path(out) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4",
                     encoding={"gauge": {"dtype": str}, "streamflow": {"_FillValue": np.float32(np.nan)}})
    return out
