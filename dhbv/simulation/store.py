"""CF-compliant zarr stores of a domain simulation, written batch by batch.

One store per time chunk, dims (unit, time): data variables float32, Blosc-zstd compressed,
chunked ``(UNIT_CHUNK, TIME_CHUNK)`` so both a map (all units, one day) and a time series (one
unit, all days) read a bounded number of small chunks. Time is CF-encoded (integer days since
1970-01-01, proleptic Gregorian); the unit coordinate carries ``cf_role: timeseries_id`` with
lat/lon (degrees) and area (km²) as auxiliary coordinates (CF discrete sampling geometry
``timeSeries``). A store is built under a temporary name and renamed into place only once
every batch is written, so a half-written chunk never looks complete; its metadata is
consolidated then, so a plain ``xr.open_zarr(path)`` opens it without warnings.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.simulation.variables import cf_attributes

UNIT_CHUNK = 1024   # units per zarr chunk
TIME_CHUNK = 92     # days per zarr chunk (a quarter)
TIME_UNITS = "days since 1970-01-01"
#: zarr group of a chunk store holding the routed streamflow of a δHBV2.0MC run
ROUTED_GROUP = "routed"
BALANCE = {  # per-unit water-balance terms of the chunk (mm), see dhbv.physics.balance
    "P": "precipitation", "AET": "actual evapotranspiration",
    "Q": "runoff (routed)", "dS": "change of storage (five stores + unit-hydrograph transit)",
    "exchange": "realised regional exchange (+ = gain)",
    "clamp_water": "water created by the soil-moisture and lower-zone floors"}


class ChunkStore:
    """A zarr store of one chunk under construction: ``write`` batches, then ``commit``."""

    def __init__(self, path, unit_ids, time, variables, *, lat=None, lon=None, area=None,
                 attrs=None):
        import zarr

        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        n_u, n_t = len(unit_ids), len(time)
        coords = {"unit": ("unit", np.array([str(u) for u in unit_ids], dtype=object),
                           {"long_name": "unit catchment id", "cf_role": "timeseries_id"}),
                  "time": ("time", pd.DatetimeIndex(time),
                           {"standard_name": "time", "long_name": "time", "axis": "T"})}
        for name, v, a in (("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
                           ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
                           ("area", area, {"long_name": "unit catchment area", "units": "km2"})):
            coords[name] = ("unit", np.full(n_u, np.nan) if v is None else np.asarray(v, float), a)
        skeleton = xr.Dataset(coords=coords, attrs={
            "Conventions": "CF-1.10", "featureType": "timeSeries",
            "title": "δHBV2.0 unit-catchment simulation", **(attrs or {})})
        skeleton.to_zarr(self.tmp, mode="w", consolidated=False, encoding={
            "time": {"units": TIME_UNITS, "calendar": "proleptic_gregorian", "dtype": "int32"}})
        group = zarr.open_group(self.tmp, mode="a")
        comp = zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
        chunks = (min(UNIT_CHUNK, n_u), min(TIME_CHUNK, n_t))
        self.arrays = {v: group.create_array(v, shape=(n_u, n_t), chunks=chunks, dtype="float32",
                                             fill_value=np.nan, compressors=comp,
                                             dimension_names=("unit", "time"),
                                             attributes=cf_attributes(v))
                       for v in variables}
        for k, long_name in BALANCE.items():
            self.arrays["balance_" + k] = group.create_array(
                "balance_" + k, shape=(n_u,), chunks=(min(UNIT_CHUNK, n_u),), dtype="float64",
                fill_value=np.nan, dimension_names=("unit",),
                attributes={"units": "mm", "long_name": f"chunk total: {long_name}",
                            "coordinates": "lat lon"})

    def write(self, u0: int, u1: int, values: dict) -> None:
        """Write units [u0, u1): ``values`` maps variable → [u1 − u0, T] (or [u1 − u0])."""
        for name, v in values.items():
            self.arrays[name][u0:u1] = v

    def commit(self) -> Path:
        """Consolidate the finished store's metadata and move it into place (replacing an
        older one)."""
        consolidate(self.tmp)
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Remove the unfinished store."""
        shutil.rmtree(self.tmp, ignore_errors=True)


def consolidate(path) -> None:
    """Write the consolidated metadata of the zarr store ``path`` (all groups), so that
    ``xr.open_zarr(path)`` opens it from one file, without xarray's warning about
    unconsolidated stores. Zarr 3 warns that consolidated metadata is not yet part of the
    format 3 specification; readers without it still read the store node by node."""
    import warnings

    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        zarr.consolidate_metadata(str(path))


def open_store(path, group=None) -> xr.Dataset:
    """One chunk store (or its zarr ``group``, e.g. :data:`ROUTED_GROUP`), lazily (the marker
    file Snakemake leaves in a directory output is not a zarr node: its warning is silenced)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
        return xr.open_zarr(path, group=group, consolidated=False, chunks=None)


def open_routed(paths) -> xr.Dataset:
    """The routed streamflow (group :data:`ROUTED_GROUP`: ``streamflow`` (reach, time) and
    ``gauge_streamflow`` (gauge, time), m³ s-1) of the chunk stores ``paths`` (time order) of
    a routed domain simulation as one Dataset (read on concatenation)."""
    parts = [open_store(p, group=ROUTED_GROUP) for p in paths]
    if not parts:
        from dhbv.errors import DhbvInputError

        raise DhbvInputError("no chunk stores given; simulate the chunks first")
    return xr.concat(parts, dim="time", data_vars="minimal", coords="minimal",
                     compat="override", combine_attrs="drop_conflicts")


def open_chunks(paths) -> xr.Dataset:
    """The chunk stores ``paths`` (in time order) as one lazily read Dataset (dask when
    installed, else the arrays are read on concatenation)."""
    paths = [str(p) for p in paths]
    try:
        import dask  # noqa: F401
    except ImportError:
        return xr.concat([open_store(p) for p in paths], dim="time", data_vars="minimal",
                         coords="minimal", compat="override")
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
        return xr.open_mfdataset(paths, engine="zarr", consolidated=False, combine="nested",
                                 concat_dim="time", data_vars="minimal", coords="minimal",
                                 compat="override")
