"""Caravan (Kratzert et al. 2023) CAMELS-US time series readers and standard-form builder.

Two layouts are accepted:
* headerless 4-column CSV (P [mm d-1, ERA5-Land], T mean [degC], PET [mm d-1, ERA5-Land],
  Q [mm d-1]); rows are consecutive days starting 1981-01-01 (``start``); "NA" = missing;
* the dated variant with a header (``date, streamflow_mm_per_day,
  total_precipitation_sum_mm, temperature_2m_mean_C, potential_evaporation_sum_mm``).

The Caravan PET column is unreliable (ERA5-Land potential evaporation) and is recomputed with
the configured method (Oudin from T mean by default; Hargreaves needs Tmax/Tmin, absent here).
"""
from __future__ import annotations

import csv
import gzip
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.forcing.pet import compute_pet
from dhbv.io.text import numeric_frame

CARAVAN_START = "1981-01-01"
_DATED_COLUMNS = {"streamflow_mm_per_day": "Q", "total_precipitation_sum_mm": "P",
                  "temperature_2m_mean_C": "T", "potential_evaporation_sum_mm": "PET_source",
                  "streamflow": "Q", "total_precipitation_sum": "P",
                  "temperature_2m_mean": "T", "potential_evaporation_sum": "PET_source"}


def _text_of(path: Path) -> str:
    """The text of a (gzip-compressed) CSV; one-line errors for unreadable files."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8-sig") as fh:
                return fh.read()
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DhbvInputError(f"{path}: not UTF-8 text (byte {err.start}); save the CSV as UTF-8 "
                             "or download it again") from None
    except (OSError, EOFError) as err:
        raise DhbvInputError(f"{path}: cannot be read ({err}); the file is truncated or not "
                             "gzip: download it again") from None


def _check_rows(path: Path, lines: list[str]) -> None:
    """Every row has the first row's number of fields (a partial download cuts the last)."""
    nf = lines[0].count(",")
    for k, ln in enumerate(lines):
        if ln.count(",") != nf:
            n = len(next(csv.reader([ln])))           # commas inside quotes are not separators
            if n != nf + 1:
                raise DhbvInputError(f"{path}: row {k + 1} has {n} fields, expected {nf + 1}; "
                                     "the file is truncated or malformed: download it again")


def _dates(path: Path, values) -> pd.DatetimeIndex:
    """The date column as a strictly increasing daily index (errors name the row)."""
    with warnings.catch_warnings():     # dates of another layout: reported below by row
        warnings.simplefilter("ignore", UserWarning)
        t = pd.to_datetime(pd.Series(values), errors="coerce")
    bad = t.isna().to_numpy()
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        what = "has no date" if pd.isna(values[k]) else f"date {values[k]!r} is not a date"
        raise DhbvInputError(f"{path}: row {k + 2} {what}; write dates as YYYY-MM-DD")
    t = pd.DatetimeIndex(t, name="time")
    step = np.diff(t.values)
    if (step <= np.timedelta64(0)).any():
        k = int(np.flatnonzero(step <= np.timedelta64(0))[0]) + 1
        raise DhbvInputError(f"{path}: row {k + 2} date {t[k].date()} does not follow "
                             f"{t[k - 1].date()}; sort the rows by date, keep one per day and write "
                             "dates as YYYY-MM-DD")
    return t


def read_caravan_csv(path, start: str = CARAVAN_START) -> pd.DataFrame:
    """Read one Caravan basin CSV → DataFrame indexed by date, columns P, T, PET_source, Q.

    Units: P, PET_source, Q mm d-1; T degC. Missing values (NA) are NaN. ``path`` may be
    gzip-compressed; ``<id>.csv`` falls back to ``<id>.csv.gz`` when only that exists. A file
    that is empty, truncated, not UTF-8, or holds a cell that is not a number or a date out of
    order is an error naming the file and the row.
    """
    path = Path(path)
    if not path.exists() and Path(f"{path}.gz").exists():
        path = Path(f"{path}.gz")
    if not path.exists():
        hint = ""
        if path.name.split(".")[0].isdigit():
            hint = (" (an id written without quotes in YAML loses its leading zeros or is read "
                    "as an octal number: quote ids such as '01022500')")
        raise DhbvInputError(f"Caravan time series {path} not found; check timeseries_dir and the "
                             f"basin list{hint}")
    text = _text_of(path)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DhbvInputError(f"{path}: the file is empty (a failed download?); download it again")
    first = lines[0]
    _check_rows(path, lines)
    if any(c.isalpha() and c not in "eEnNaA" for c in first) or first.lower().startswith("date"):
        df = pd.read_csv(io.StringIO(text), na_values=["NA", "NaN", ""])
        if "date" not in df.columns:
            raise DhbvInputError(f"{path}: header without a 'date' column; unsupported layout")
        df = df.rename(columns=_DATED_COLUMNS)
        need = [c for c in ("P", "T", "Q") if c not in df.columns]
        if need:
            raise DhbvInputError(f"{path}: missing column(s) {need}")
        df.index = _dates(path, df.pop("date").to_numpy())
        cols = [c for c in ("P", "T", "PET_source", "Q") if c in df.columns]
        return numeric_frame(path, df[cols], 2)
    df = pd.read_csv(io.StringIO(text), header=None, na_values=["NA", "NaN", ""])
    if df.shape[1] != 4:
        raise DhbvInputError(f"{path}: expected 4 columns (P, T, PET, Q), found {df.shape[1]}")
    df.columns = ["P", "T", "PET_source", "Q"]
    df.index = pd.date_range(start, periods=len(df), freq="D", name="time")
    return numeric_frame(path, df, 1)


def build_caravan_standard(timeseries_dir, basin_ids, attribute_table: pd.DataFrame, *,
                           pet_method: str = "oudin", start: str = CARAVAN_START):
    """Standard forms (unit forcing, gauge observations) for lumped Caravan basins.

    ``attribute_table``: CAMELS attributes (``dhbv.io.camels.read_attribute_tables``) giving
    gauge_lat/gauge_lon (for PET) and area_gages2 (km², unit and gauge area). Each basin is one
    unit with the gauge's id. ``pet_method``: "oudin" | "hamon" | "source" (keep Caravan PET).
    Returns (forcing Dataset, observations Dataset).
    """
    from dhbv.io.camels import basin_location
    from dhbv.io.standard import make_gauge_observations, make_unit_forcing

    ids = [str(b) for b in basin_ids]
    frames = [read_caravan_csv(Path(timeseries_dir) / f"{b}.csv", start) for b in ids]
    time = frames[0].index
    for b, f in zip(ids, frames):
        if not f.index.equals(time):
            raise DhbvInputError(f"Caravan basin {b}: dates {f.index[0].date()}..{f.index[-1].date()}"
                                 f" differ from {time[0].date()}..{time[-1].date()} of {ids[0]}; "
                                 "use basins with the same record or separate sources")
    lat = np.array([basin_location(attribute_table, b)[0] for b in ids])
    lon = np.array([basin_location(attribute_table, b)[1] for b in ids])
    area = pd.to_numeric(attribute_table.loc[ids, "area_gages2"]).to_numpy(dtype=np.float64)
    P = np.stack([f["P"].to_numpy() for f in frames], 1)
    T = np.stack([f["T"].to_numpy() for f in frames], 1)
    Q = np.stack([f["Q"].to_numpy() for f in frames], 1)
    if pet_method == "source":
        PET = np.stack([f["PET_source"].to_numpy() for f in frames], 1)
        note = "ERA5-Land potential_evaporation_sum (Caravan)"
    else:
        doy = time.day_of_year.to_numpy()[:, None]
        PET = compute_pet(pet_method, lat_deg=lat[None, :], day_of_year=doy, tmean_c=T)
        note = f"{pet_method} from T mean and latitude (dhbv.forcing.pet)"
    # the ERA5-Land PET column is kept as a daily variable the networks may read
    # (model.dynamic_inputs), whatever PET the physics uses
    extra = {}
    if all("PET_source" in f for f in frames):
        extra["PET_source"] = np.stack([f["PET_source"].to_numpy() for f in frames], 1)
    forcing = make_unit_forcing(
        time, ids, P, T, PET, area=area, lat=lat, lon=lon, pet_method=pet_method,
        source=f"Caravan CAMELS-US ({timeseries_dir}); P, T ERA5-Land", history=f"PET: {note}",
        extra=extra)
    obs = make_gauge_observations(time, ids, Q, units="mm d-1", area=area,
                                  source=f"Caravan CAMELS-US streamflow ({timeseries_dir})")
    return forcing, obs
