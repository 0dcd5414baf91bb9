"""Readers of raw dataset sources, one registered per source ``type``.

A dataset (``datasets.<name>.sources`` in the configuration) lists sources; the reader of each
source's ``type`` turns it into the standard forms (docs/datasets.md): unit forcing, unit
attributes, gauge observations (mm d-1), gauge membership and, optionally, the river network
of its units. Readers:

* ``caravan``: ``timeseries_dir``, ``basins`` (list or text file), ``attributes_dir`` (CAMELS
  tables), ``pet_method`` (oudin | hamon | source; default oudin), ``start`` (1981-01-01). The
  Caravan PET column is kept as the daily variable ``PET_source``.
* ``camels``: ``forcing_dir``, ``forcing_product`` (cida | maurer | nldas; file pattern
  ``<id>_lump_<product>_forcing_leap.txt``), ``streamflow_dir``, ``attributes_dir``, ``basins``,
  ``pet_method`` (hargreaves | oudin | hamon; default hargreaves).
* ``standard``: ``forcing`` (unit-forcing NetCDF, e.g. the aggregated-forcing output),
  ``observations`` (gauge NetCDF, or {format: caravan_csv, path, gauge} or
  {format: camels_qc, path, gauge}), ``attributes`` (unit-attribute NetCDF or
  {format: camels, dir}), ``membership`` (NetCDF; omitted = lumped, unit id = gauge id),
  ``network`` (topology-stage network NetCDF over the units; optional),
  ``pet_method`` (keep | hargreaves | oudin | hamon; default keep).

A new source type is one function decorated with :func:`register_reader`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.datasets.basin_data import HBV_ELEV, HBV_UPAREA
from dhbv.errors import DhbvInputError
from dhbv.io import standard as std


class SourceForms(NamedTuple):
    """The standard forms of one source (xarray Datasets; ``network`` a topology-stage
    network over the forcing's units, or None)."""

    forcing: xr.Dataset
    attributes: xr.Dataset
    observations: xr.Dataset
    membership: xr.Dataset
    network: object = None


Reader = Callable[[dict, list, Callable[[str], Path]], SourceForms]
READERS: dict[str, Reader] = {}


def register_reader(kind: str):
    """Register ``fn(source, attribute_names, path) -> SourceForms`` for source type ``kind``;
    ``path(p)`` resolves a configured path against the dataset's base directory."""
    def deco(fn: Reader) -> Reader:
        READERS[kind] = fn
        return fn
    return deco


def read_source(src: dict, attribute_names, base: Path) -> SourceForms:
    """The standard forms of one configured source."""
    kind = src.get("type")
    if kind not in READERS:
        raise DhbvInputError(f"data source type {kind!r} unknown; use one of {sorted(READERS)}")

    def path(p) -> Path:
        q = Path(p)
        return q if q.is_absolute() else base / q

    return READERS[kind](src, list(attribute_names), path)


def basin_list(spec) -> list[str]:
    """Basin ids from a list or a text file (first column of each non-empty line)."""
    if spec is None:
        raise DhbvInputError("source needs 'basins' (a list of ids or a text file)")
    if isinstance(spec, (list, tuple)):
        return [str(b).strip() for b in spec]
    p = Path(spec)
    if not p.exists():
        raise DhbvInputError(f"basin list {p} not found")
    return [ln.split()[0].strip() for ln in p.read_text().splitlines() if ln.strip()]


def _source_basins(src: dict, path) -> list[str]:
    spec = src.get("basins")
    return basin_list(spec if isinstance(spec, list) or spec is None else path(spec))


def _recompute_pet(forcing: xr.Dataset, method: str) -> xr.Dataset:
    from dhbv.forcing.pet import compute_pet

    if method in ("keep", "given", "input", None):
        if "PET" not in forcing:
            raise DhbvInputError("unit forcing has no PET and pet_method is 'keep'; set "
                                 "pet_method to hargreaves/oudin/hamon")
        return forcing
    doy = pd.DatetimeIndex(forcing["time"].values).day_of_year.to_numpy()[:, None]
    lat = forcing["lat"].values[None, :]
    pet = compute_pet(method, lat_deg=lat, day_of_year=doy, tmean_c=forcing["T"].values,
                      tmin_c=forcing["Tmin"].values if "Tmin" in forcing else None,
                      tmax_c=forcing["Tmax"].values if "Tmax" in forcing else None)
    out = forcing.copy()
    out["PET"] = (("time", "unit"), pet.astype(np.float32), {"units": "mm d-1"})
    out.attrs["pet_method"] = method
    return out


def _camels_attributes(attr_dir, unit_ids, names, forcing: xr.Dataset) -> xr.Dataset:
    from dhbv.io.camels import read_attribute_tables, resolve_attribute

    table = read_attribute_tables(attr_dir)
    means = {v: np.nanmean(forcing[v].values, axis=0) for v in ("T", "PET") if v in forcing}
    vals, units = {}, {}
    for n in dict.fromkeys(list(names) + [HBV_UPAREA, HBV_ELEV]):
        vals[n], units[n] = resolve_attribute(n, table, unit_ids, means)
    return std.make_unit_attributes(unit_ids, vals, units, source=f"CAMELS-US tables {attr_dir}")


@register_reader("caravan")
def read_caravan(src: dict, attribute_names: list, path) -> SourceForms:
    """Lumped Caravan CAMELS-US basins (CSV time series + CAMELS attribute tables)."""
    from dhbv.io.camels import read_attribute_tables
    from dhbv.io.caravan import CARAVAN_START, build_caravan_standard

    ids = _source_basins(src, path)
    table = read_attribute_tables(path(src["attributes_dir"]))
    forcing, obs = build_caravan_standard(path(src["timeseries_dir"]), ids, table,
                                          pet_method=src.get("pet_method", "oudin"),
                                          start=src.get("start", CARAVAN_START))
    attrs = _camels_attributes(path(src["attributes_dir"]), ids, attribute_names, forcing)
    return SourceForms(forcing, attrs, obs, std.lumped_membership(ids))


@register_reader("camels")
def read_camels(src: dict, attribute_names: list, path) -> SourceForms:
    """Lumped CAMELS-US basins (basin-mean forcing and streamflow text files)."""
    from dhbv.io.camels import (find_camels_file, read_attribute_tables, read_camels_forcing,
                                read_camels_streamflow)

    ids = _source_basins(src, path)
    table = read_attribute_tables(path(src["attributes_dir"]))
    product = src.get("forcing_product", "cida")
    frames, qs, lats, lons, areas = [], [], [], [], []
    for b in ids:
        f, head = read_camels_forcing(find_camels_file(path(src["forcing_dir"]), b,
                                                       f"_lump_{product}_forcing_leap.txt"))
        area = float(table.at[b, "area_gages2"]) if b in table.index else np.nan
        q = read_camels_streamflow(find_camels_file(path(src["streamflow_dir"]), b,
                                                    "_streamflow_qc.txt"), area)
        frames.append(f)
        qs.append(q)
        lats.append(head["lat"])
        lons.append(float(table.at[b, "gauge_lon"]) if b in table.index else np.nan)
        areas.append(area)
    time = frames[0].index
    for f in frames[1:]:
        time = time.union(f.index)
    time = pd.date_range(time[0], time[-1], freq="D")
    arr = {k: np.stack([f[k].reindex(time).to_numpy() for f in frames], 1)
           for k in ("P", "T", "Tmax", "Tmin")}
    forcing = std.make_unit_forcing(time, ids, arr["P"], arr["T"], np.full_like(arr["P"], np.nan),
                                    Tmax=arr["Tmax"], Tmin=arr["Tmin"], area=areas, lat=lats,
                                    lon=lons, source=f"CAMELS-US {product} {src['forcing_dir']}")
    forcing = _recompute_pet(forcing, src.get("pet_method", "hargreaves"))
    q = np.stack([s.reindex(time).to_numpy() for s in qs], 1)
    obs = std.make_gauge_observations(time, ids, q, units="mm d-1", area=areas,
                                      source=f"CAMELS-US streamflow {src['streamflow_dir']}")
    attrs = _camels_attributes(path(src["attributes_dir"]), ids, attribute_names, forcing)
    return SourceForms(forcing, attrs, obs, std.lumped_membership(ids))


def _standard_observations(ospec, forcing: xr.Dataset, path) -> xr.Dataset:
    """Gauge observations of a standard source: a NetCDF or one gauge's CSV/text file."""
    if not (isinstance(ospec, dict) and ospec.get("format") in ("caravan_csv", "camels_qc")):
        return std.read_gauge_observations(path(ospec if isinstance(ospec, str) else ospec["path"]))
    units = [str(u) for u in forcing["unit"].values]
    g = str(ospec["gauge"])
    if ospec["format"] == "caravan_csv":
        from dhbv.io.caravan import read_caravan_csv

        s = read_caravan_csv(path(ospec["path"]))["Q"]
    else:
        from dhbv.io.camels import read_camels_streamflow

        s = read_camels_streamflow(path(ospec["path"]), float(ospec["area_km2"]))
    area = float(ospec.get("area_km2", forcing["area"].values[units.index(g)]
                           if g in units else np.nan))
    return std.make_gauge_observations(s.index, [g], s.to_numpy()[:, None], units="mm d-1",
                                       area=[area], source=str(ospec["path"]))


@register_reader("standard")
def read_standard(src: dict, attribute_names: list, path) -> SourceForms:
    """The standard NetCDF forms (e.g. the forcing stage's output or a built dataset)."""
    if "forcing" not in src:
        raise DhbvInputError("standard source needs 'forcing' (unit-forcing NetCDF)")
    forcing = _recompute_pet(std.read_unit_forcing(path(src["forcing"])),
                             src.get("pet_method", "keep"))
    units = [str(u) for u in forcing["unit"].values]
    if src.get("observations") is None:
        raise DhbvInputError("standard source needs 'observations'")
    obs = _standard_observations(src["observations"], forcing, path)
    aspec = src.get("attributes")
    if isinstance(aspec, dict) and aspec.get("format") == "camels":
        attrs = _camels_attributes(path(aspec["dir"]), units, attribute_names, forcing)
    elif aspec:
        attrs = std.read_unit_attributes(path(aspec if isinstance(aspec, str) else aspec["path"]))
    else:
        raise DhbvInputError("standard source needs 'attributes' (NetCDF or {format: camels, dir})")
    memb = (std.read_membership(path(src["membership"])) if src.get("membership")
            else std.lumped_membership([str(g) for g in obs["gauge"].values]))
    network = None
    if src.get("network"):
        from dhbv.network import read_network

        network = read_network(path(src["network"]))
    return SourceForms(forcing, attrs, obs, memb, network)
