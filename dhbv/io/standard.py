"""Standard on-disk forms (docs/datasets.md#standard-forms): builders, validators, atomic readers/writers.

* Unit forcing: dims (time, unit); P [mm d-1], T [degC], PET [mm d-1], optional Tmax/Tmin
  [degC]; coords unit (str), area [km2], lat, lon [degrees]; attrs pet_method, source, history.
* Unit attributes: dim unit; one float variable per attribute (attr ``units``).
* Gauge observations: dims (time, gauge); var streamflow, units "mm d-1" or "m3 s-1";
  coords gauge (str), area [km2].
* Gauge membership: dim pair; vars gauge (str), unit (str), weight (FLOW_SCALE for the gauge's
  own unit, 1 otherwise).

Every validator raises :class:`dhbv.errors.DhbvInputError` with a one-line message naming the
file/item and what to do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.io.atomic import atomic_path

FORCING_UNITS = {"P": "mm d-1", "T": "degC", "PET": "mm d-1", "Tmax": "degC", "Tmin": "degC",
                 "PET_source": "mm d-1"}
CFS_TO_M3S = 0.0283168


# ----------------------------------------------------------------------------- writing
def write_netcdf(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp)
    return path


def write_text_atomic(text: str, path) -> Path:
    """Write a text file atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def open_netcdf(path, what, needs=()) -> xr.Dataset:
    """The loaded NetCDF ``path``; a one-line error naming it when it is missing, a folder,
    not a readable NetCDF (another format, a partial download), or lacks one of the variables
    or coordinates ``needs`` (a file of another kind); a ``time`` among them must hold dates."""
    path = Path(path)
    if not path.exists():
        raise DhbvInputError(f"{what} file {path} does not exist; build it first or fix the path")
    if path.is_dir():
        raise DhbvInputError(f"{what} file {path} is a folder; give the NetCDF file")
    try:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
        reason = (str(err).split(". ")[0].splitlines() or [type(err).__name__])[0][:100]
        raise DhbvInputError(f"{what} file {path} is not a readable NetCDF ({reason}); "
                             "re-create or re-download it") from None
    for name in needs:
        if name not in ds.variables:
            held = ", ".join(sorted(map(str, ds.variables))[:8]) or "nothing"
            raise DhbvInputError(f"{what} file {path} has no '{name}' (it holds {held}); is it "
                                 f"a {what} file? See docs/datasets.md#standard-forms")
    if "time" in needs and not np.issubdtype(ds["time"].dtype, np.datetime64):
        raise DhbvInputError(f"{what} file {path}: time is not a date axis (dtype "
                             f"{ds['time'].dtype}); give it CF units such as 'days since "
                             "1980-01-01'")
    return ds



def check_time_axis(ds: xr.Dataset, name: str) -> None:
    """A time axis without duplicates, in increasing order (one-line error naming the date)."""
    t = pd.DatetimeIndex(ds["time"].values)
    if t.hasnans:
        raise DhbvInputError(f"{name}: time axis holds missing dates (NaT); fix the time "
                             "coordinate")
    if t.has_duplicates:
        raise DhbvInputError(f"{name}: date {t[t.duplicated()][0].date()} appears twice on the "
                             "time axis; keep one value per day")
    if not t.is_monotonic_increasing:
        k = int(np.flatnonzero(np.diff(t.values) < np.timedelta64(0))[0]) + 1
        raise DhbvInputError(f"{name}: time axis is not increasing ({t[k].date()} follows "
                             f"{t[k - 1].date()}); sort it by date")


def _str_coord(values):
    return np.array([str(v) for v in np.asarray(values)], dtype=object)


# ----------------------------------------------------------------------------- unit forcing
def make_unit_forcing(time, unit_ids, P, T, PET, *, area, lat, lon, Tmax=None, Tmin=None,
                      pet_method: str = "given", source: str = "", history: str = "",
                      extra: dict | None = None) -> xr.Dataset:
    """Build a unit-forcing Dataset; arrays are [time, unit] in the units of FORCING_UNITS.

    ``extra``: further daily variables {name: [time, unit] array} for the networks (units from
    FORCING_UNITS when the name is listed there, else "1").
    """
    data = {"P": P, "T": T, "PET": PET, "Tmax": Tmax, "Tmin": Tmin, **(extra or {})}
    dv = {k: (("time", "unit"), np.asarray(v, dtype=np.float32),
              {"units": FORCING_UNITS.get(k, "1")})
          for k, v in data.items() if v is not None}
    ds = xr.Dataset(
        dv,
        coords={"time": pd.DatetimeIndex(time), "unit": _str_coord(unit_ids),
                "area": ("unit", np.asarray(area, dtype=np.float64), {"units": "km2"}),
                "lat": ("unit", np.asarray(lat, dtype=np.float64), {"units": "degrees_north"}),
                "lon": ("unit", np.asarray(lon, dtype=np.float64), {"units": "degrees_east"})},
        attrs={"pet_method": pet_method, "source": source, "history": history})
    return ds


def validate_unit_forcing(ds: xr.Dataset, name: str = "unit forcing") -> xr.Dataset:
    """Check dims, variables, units and coordinates of a unit-forcing Dataset."""
    for dim in ("time", "unit"):
        if dim not in ds.dims:
            raise DhbvInputError(f"{name}: missing dimension '{dim}'; expected dims (time, unit)")
    for var in ("P", "T", "PET"):
        if var not in ds:
            if var == "PET" and "Tmax" in ds and "Tmin" in ds:
                continue
            raise DhbvInputError(f"{name}: missing variable '{var}' "
                                 f"[{FORCING_UNITS[var]}]; add it or recompute PET")
    for var, unit in FORCING_UNITS.items():
        if var in ds and ds[var].attrs.get("units", unit) not in (unit, unit.replace(" ", "/"),
                                                                   "mm/day", "mm day-1", "C",
                                                                   "degree_Celsius", "celsius"):
            raise DhbvInputError(f"{name}: variable {var} has units "
                                 f"{ds[var].attrs.get('units')!r}, expected {unit!r}; convert it")
    for c in ("area", "lat", "lon"):
        if c not in ds.coords and c not in ds:
            raise DhbvInputError(f"{name}: missing coordinate '{c}' on the unit dimension")
    check_time_axis(ds, name)
    t = pd.DatetimeIndex(ds["time"].values)
    if len(t) > 1 and not (np.diff(t.values).astype("timedelta64[h]") == np.timedelta64(24, "h")).all():
        raise DhbvInputError(f"{name}: time axis is not a gap-free daily series; reindex it to "
                             "daily steps (NaN for gaps)")
    if pd.Index(ds["unit"].values).duplicated().any():
        raise DhbvInputError(f"{name}: duplicate unit ids")
    return ds


def read_unit_forcing(path) -> xr.Dataset:
    """Read and validate a unit-forcing NetCDF (unit ids as str, time normalised to days)."""
    ds = open_netcdf(path, "unit forcing", ("time", "unit"))
    ds = ds.assign_coords(unit=_str_coord(ds["unit"].values),
                          time=pd.DatetimeIndex(ds["time"].values).normalize())
    return validate_unit_forcing(ds, f"unit forcing {path}")


# ----------------------------------------------------------------------------- attributes
def make_unit_attributes(unit_ids, table: dict, units: dict | None = None,
                         source: str = "") -> xr.Dataset:
    """Build a unit-attributes Dataset from {name: [U] array}; ``units`` maps name → unit."""
    units = units or {}
    dv = {k: ("unit", np.asarray(v, dtype=np.float64), {"units": units.get(k, "1")})
          for k, v in table.items()}
    return xr.Dataset(dv, coords={"unit": _str_coord(unit_ids)}, attrs={"source": source})


def validate_unit_attributes(ds: xr.Dataset, required=(), name="unit attributes") -> xr.Dataset:
    """Check the unit dimension and that every ``required`` attribute exists and is finite."""
    if "unit" not in ds.dims:
        raise DhbvInputError(f"{name}: missing dimension 'unit'")
    for r in required:
        if r not in ds:
            raise DhbvInputError(f"{name}: attribute '{r}' is missing; add it to the attribute "
                                 "file or remove it from model.attributes")
        bad = ~np.isfinite(ds[r].values)
        if bad.any():
            u = ds["unit"].values[np.argmax(bad)]
            raise DhbvInputError(f"{name}: attribute '{r}' is NaN for unit {u} "
                                 f"({int(bad.sum())} units); fill it or drop those units")
    return ds


def read_unit_attributes(path, required=()) -> xr.Dataset:
    """Read and validate a unit-attributes NetCDF."""
    ds = open_netcdf(path, "unit attributes", ("unit",))
    ds = ds.assign_coords(unit=_str_coord(ds["unit"].values))
    return validate_unit_attributes(ds, required, f"unit attributes {path}")


# ----------------------------------------------------------------------------- observations
def make_gauge_observations(time, gauge_ids, streamflow, *, units: str, area,
                            source: str = "") -> xr.Dataset:
    """Build gauge observations [time, gauge]; ``units`` is "mm d-1" or "m3 s-1"."""
    if units not in ("mm d-1", "m3 s-1"):
        raise DhbvInputError(f"gauge observations: units {units!r} not supported; use 'mm d-1' or "
                             "'m3 s-1' (convert ft3/s with ×0.0283168)")
    return xr.Dataset(
        {"streamflow": (("time", "gauge"), np.asarray(streamflow, dtype=np.float32),
                        {"units": units})},
        coords={"time": pd.DatetimeIndex(time), "gauge": _str_coord(gauge_ids),
                "area": ("gauge", np.asarray(area, dtype=np.float64), {"units": "km2"})},
        attrs={"source": source})


def validate_gauge_observations(ds: xr.Dataset, name="gauge observations") -> xr.Dataset:
    """Check dims, the streamflow variable and its unit, and gauge areas."""
    for dim in ("time", "gauge"):
        if dim not in ds.dims:
            raise DhbvInputError(f"{name}: missing dimension '{dim}'")
    if "streamflow" not in ds:
        raise DhbvInputError(f"{name}: missing variable 'streamflow'")
    u = ds["streamflow"].attrs.get("units")
    if u not in ("mm d-1", "m3 s-1"):
        raise DhbvInputError(f"{name}: streamflow units {u!r} not recorded as 'mm d-1' or 'm3 s-1'; "
                             "set the units attribute")
    if "area" not in ds.coords and "area" not in ds:
        raise DhbvInputError(f"{name}: missing coordinate 'area' [km2] on the gauge dimension")
    if pd.Index(ds["gauge"].values).duplicated().any():
        raise DhbvInputError(f"{name}: duplicate gauge ids")
    check_time_axis(ds, name)
    return ds


def observations_mm_per_day(ds: xr.Dataset) -> xr.DataArray:
    """Gauge streamflow in mm d-1 (m3 s-1 converted with ×86400/(A_gauge[km2]·1000))."""
    q = ds["streamflow"].astype(np.float64)
    if q.attrs.get("units") == "m3 s-1":
        area = ds["area"]
        if (~np.isfinite(area.values) | (area.values <= 0)).any():
            g = ds["gauge"].values[np.argmax(~np.isfinite(area.values) | (area.values <= 0))]
            raise DhbvInputError(f"gauge observations: gauge {g} has no positive area; needed to "
                                 "convert m3 s-1 to mm d-1")
        q = q * 86400.0 / (area * 1000.0)
    q.attrs = {"units": "mm d-1"}
    return q


def read_gauge_observations(path) -> xr.Dataset:
    """Read and validate a gauge-observations NetCDF."""
    ds = open_netcdf(path, "gauge observations", ("time", "gauge"))
    ds = ds.assign_coords(gauge=_str_coord(ds["gauge"].values),
                          time=pd.DatetimeIndex(ds["time"].values).normalize())
    return validate_gauge_observations(ds, f"gauge observations {path}")


# ----------------------------------------------------------------------------- membership
def make_membership(gauges, units, weights=None) -> xr.Dataset:
    """Build a gauge-membership Dataset from parallel (gauge, unit, weight) sequences."""
    gauges = _str_coord(gauges)
    units = _str_coord(units)
    w = np.ones(len(gauges)) if weights is None else np.asarray(weights, dtype=np.float64)
    return xr.Dataset({"gauge": ("pair", gauges), "unit": ("pair", units),
                       "weight": ("pair", w, {"units": "1"})})


def lumped_membership(ids) -> xr.Dataset:
    """Membership of lumped basins: each gauge is its own single unit (weight 1)."""
    return make_membership(ids, ids)


def validate_membership(ds: xr.Dataset, name="gauge membership") -> xr.Dataset:
    """Check the pair table (variables gauge, unit, weight; positive weights; no duplicates)."""
    for v in ("gauge", "unit", "weight"):
        if v not in ds:
            raise DhbvInputError(f"{name}: missing variable '{v}' on dimension 'pair'")
    w = ds["weight"].values
    if (~np.isfinite(w) | (w <= 0)).any():
        raise DhbvInputError(f"{name}: weights must be positive and finite")
    key = pd.Index([f"{g}|{u}" for g, u in zip(ds["gauge"].values, ds["unit"].values)])
    if key.duplicated().any():
        raise DhbvInputError(f"{name}: duplicate (gauge, unit) pair {key[key.duplicated()][0]}")
    return ds


def read_membership(path) -> xr.Dataset:
    """Read and validate a gauge-membership NetCDF (ids as str)."""
    ds = open_netcdf(path, "gauge membership", ("gauge", "unit", "weight"))
    ds["gauge"] = ("pair", _str_coord(ds["gauge"].values))
    ds["unit"] = ("pair", _str_coord(ds["unit"].values))
    return validate_membership(ds, f"gauge membership {path}")


def standard_source(forcing, attributes, observations, membership) -> dict:
    """A dataset source entry (type ``standard``) for the four standard-form files of a dataset,
    as written by :func:`dhbv.datasets.write_standard`."""
    return {"type": "standard", "forcing": str(forcing), "attributes": str(attributes),
            "observations": str(observations), "membership": str(membership)}
