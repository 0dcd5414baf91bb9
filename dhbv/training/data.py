"""Training/simulation data: resolve the ``data`` config into standard forms and arrays.

A ``data`` section lists ``sources``; each source yields the four standard forms
(docs/CONTRACTS.md): unit forcing, unit attributes, gauge observations (mm d-1) and gauge
membership. Sources are merged into one :class:`BasinData` on a common daily time axis.

Source types (keys):

* ``caravan``: ``timeseries_dir``, ``basins`` (list or text file), ``attributes_dir`` (CAMELS
  tables), ``pet_method`` (oudin | hamon | source; default oudin), ``start`` (1981-01-01).
* ``camels``: ``forcing_dir``, ``forcing_product`` (cida | maurer | nldas; file pattern
  ``<id>_lump_<product>_forcing_leap.txt``), ``streamflow_dir``, ``attributes_dir``, ``basins``,
  ``pet_method`` (hargreaves | oudin | hamon; default hargreaves).
* ``standard``: ``forcing`` (unit-forcing NetCDF, e.g. the aggregated-forcing output),
  ``observations`` (gauge NetCDF, or {format: caravan_csv, path, gauge} or
  {format: camels_qc, path, gauge}), ``attributes`` (unit-attribute NetCDF or
  {format: camels, dir}), ``membership`` (NetCDF; omitted = lumped, unit id = gauge id),
  ``pet_method`` (keep | hargreaves | oudin | hamon; default keep).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.io import standard as std
from dhbv.training.aggregation import Membership

log = logging.getLogger(__name__)

HBV_UPAREA = "uparea"          # km², upstream area used by the HBV exchange term
HBV_ELEV = "meanelevation"     # m, unit mean elevation used by the 2000 m switch
FORCING_VARS = ("P", "T", "PET")
STATS_FORCING_NAMES = ("P", "Temp", "PET")   # keys in the normalisation statistics JSON


@dataclass
class BasinData:
    """Merged inputs, numpy arrays on a common daily time axis.

    forcing [T, U, 3] (P mm d-1, T degC, PET mm d-1; NaN outside a unit's record),
    attributes [U, n_attr] (model input attributes, raw units), uparea [U] km², elev [U] m,
    obs [T, G] mm d-1 (NaN = missing), membership (gauge → units, unit areas km²).
    """

    time: pd.DatetimeIndex
    unit_ids: list[str]
    forcing: np.ndarray
    attribute_names: list[str]
    attributes: np.ndarray
    uparea: np.ndarray
    elev: np.ndarray
    gauge_ids: list[str]
    obs: np.ndarray
    membership: Membership
    provenance: list[str] = field(default_factory=list)
    lat: np.ndarray | None = None    # [U] degrees north
    lon: np.ndarray | None = None    # [U] degrees east

    def time_index(self, date) -> int:
        """Index of ``date`` on the time axis (error if outside)."""
        d = pd.Timestamp(date)
        i = self.time.get_indexer([d])[0]
        if i < 0:
            raise DhbvInputError(f"date {d.date()} is outside the data record "
                                 f"{self.time[0].date()}..{self.time[-1].date()}; fix the period")
        return int(i)

    def forcing_coverage(self, unit_indices=None) -> tuple[int, int]:
        """First/last time index where every selected unit has complete P, T, PET."""
        f = self.forcing if unit_indices is None else self.forcing[:, unit_indices]
        ok = np.isfinite(f).all(axis=(1, 2))
        if not ok.any():
            raise DhbvInputError("no day with complete forcing for all units")
        idx = np.flatnonzero(ok)
        return int(idx[0]), int(idx[-1])

    def check_period(self, start, end, what: str, unit_indices=None) -> tuple[int, int]:
        """Indices (i0, i1 inclusive) of a period; error naming the unit whose forcing lacks it."""
        i0, i1 = self.time_index(start), self.time_index(end)
        units = range(len(self.unit_ids)) if unit_indices is None else unit_indices
        sub = self.forcing[i0:i1 + 1]
        for u in units:
            fin = np.isfinite(sub[:, u])
            if not fin.all():
                # tolerate short interior gaps (filled by interpolation); reject missing ends
                first_ok = np.isfinite(self.forcing[:, u]).all(axis=1)
                cov = np.flatnonzero(first_ok)
                if cov.size == 0 or cov[0] > i0 or cov[-1] < i1:
                    rng = (f"{self.time[cov[0]].date()}..{self.time[cov[-1]].date()}"
                           if cov.size else "nothing")
                    raise DhbvInputError(
                        f"unit {self.unit_ids[u]}: forcing covers {rng} but the {what} period is "
                        f"{pd.Timestamp(start).date()}..{pd.Timestamp(end).date()}; shorten the "
                        "period or extend the forcing")
        return i0, i1

    def subset_gauges(self, gauges) -> "BasinData":
        """Restrict to the given gauges (and their units)."""
        gauges = [str(g) for g in gauges]
        gi = {g: i for i, g in enumerate(self.gauge_ids)}
        missing = [g for g in gauges if g not in gi]
        if missing:
            raise DhbvInputError(f"gauge {missing[0]} is not in the data ({len(missing)} missing); "
                                 "fix the gauge list")
        sel = [gi[g] for g in gauges]
        units = np.unique(np.concatenate([self.membership.pairs[i][0] for i in sel]))
        remap = {int(u): j for j, u in enumerate(units)}
        pairs = [(np.array([remap[int(u)] for u in self.membership.pairs[i][0]]),
                  self.membership.pairs[i][1]) for i in sel]
        m = Membership(gauges, [self.unit_ids[u] for u in units],
                       self.membership.unit_area[units], pairs)
        return BasinData(self.time, m.unit_ids, self.forcing[:, units], self.attribute_names,
                         self.attributes[units], self.uparea[units], self.elev[units], gauges,
                         self.obs[:, sel], m, list(self.provenance),
                         None if self.lat is None else self.lat[units],
                         None if self.lon is None else self.lon[units])


# ----------------------------------------------------------------------------- sources
def _basin_list(spec) -> list[str]:
    if spec is None:
        raise DhbvInputError("source needs 'basins' (a list of ids or a text file)")
    if isinstance(spec, (list, tuple)):
        return [str(b).strip() for b in spec]
    p = Path(spec)
    if not p.exists():
        raise DhbvInputError(f"basin list {p} not found")
    return [ln.split()[0].strip() for ln in p.read_text().splitlines() if ln.strip()]


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


def _load_source(src: dict, attribute_names, base: Path):
    """Return (forcing, attributes, observations, membership) Datasets of one source."""
    def path(p):
        q = Path(p)
        return q if q.is_absolute() else base / q

    kind = src.get("type")
    if kind == "caravan":
        from dhbv.io.camels import read_attribute_tables
        from dhbv.io.caravan import CARAVAN_START, build_caravan_standard

        ids = _basin_list(src.get("basins") if isinstance(src.get("basins"), list)
                          else path(src["basins"]) if src.get("basins") else None)
        table = read_attribute_tables(path(src["attributes_dir"]))
        forcing, obs = build_caravan_standard(path(src["timeseries_dir"]), ids, table,
                                              pet_method=src.get("pet_method", "oudin"),
                                              start=src.get("start", CARAVAN_START))
        attrs = _camels_attributes(path(src["attributes_dir"]), ids, attribute_names, forcing)
        return forcing, attrs, obs, std.lumped_membership(ids)
    if kind == "camels":
        from dhbv.io.camels import (find_camels_file, read_attribute_tables, read_camels_forcing,
                                    read_camels_streamflow)

        ids = _basin_list(src.get("basins") if isinstance(src.get("basins"), list)
                          else path(src["basins"]) if src.get("basins") else None)
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
        return forcing, attrs, obs, std.lumped_membership(ids)
    if kind == "standard":
        if "forcing" not in src:
            raise DhbvInputError("standard source needs 'forcing' (unit-forcing NetCDF)")
        forcing = _recompute_pet(std.read_unit_forcing(path(src["forcing"])),
                                 src.get("pet_method", "keep"))
        units = [str(u) for u in forcing["unit"].values]
        ospec = src.get("observations")
        if ospec is None:
            raise DhbvInputError("standard source needs 'observations'")
        if isinstance(ospec, dict) and ospec.get("format") in ("caravan_csv", "camels_qc"):
            g = str(ospec["gauge"])
            if ospec["format"] == "caravan_csv":
                from dhbv.io.caravan import read_caravan_csv

                s = read_caravan_csv(path(ospec["path"]))["Q"]
            else:
                from dhbv.io.camels import read_camels_streamflow

                s = read_camels_streamflow(path(ospec["path"]), float(ospec["area_km2"]))
            area = float(ospec.get("area_km2", forcing["area"].values[units.index(g)]
                                   if g in units else np.nan))
            obs = std.make_gauge_observations(s.index, [g], s.to_numpy()[:, None],
                                              units="mm d-1", area=[area],
                                              source=str(ospec["path"]))
        else:
            obs = std.read_gauge_observations(path(ospec if isinstance(ospec, str) else ospec["path"]))
        aspec = src.get("attributes")
        if isinstance(aspec, dict) and aspec.get("format") == "camels":
            attrs = _camels_attributes(path(aspec["dir"]), units, attribute_names, forcing)
        elif aspec:
            attrs = std.read_unit_attributes(path(aspec if isinstance(aspec, str) else aspec["path"]))
        else:
            raise DhbvInputError("standard source needs 'attributes' (NetCDF or {format: camels, dir})")
        memb = (std.read_membership(path(src["membership"])) if src.get("membership")
                else std.lumped_membership([str(g) for g in obs["gauge"].values]))
        return forcing, attrs, obs, memb
    raise DhbvInputError(f"data source type {kind!r} unknown; use caravan, camels or standard")


def load_data(data_cfg: dict, attribute_names, *, base_dir=".") -> BasinData:
    """Resolve all sources of a ``data`` config section into one :class:`BasinData`."""
    base = Path(base_dir)
    sources = data_cfg.get("sources") or []
    if not sources:
        raise DhbvInputError("data.sources is empty; list at least one source")
    parts = [_load_source(s, attribute_names, base) for s in sources]
    return merge_standard(parts, attribute_names)


def merge_standard(parts, attribute_names) -> BasinData:
    """Merge (forcing, attributes, observations, membership) tuples into a :class:`BasinData`."""
    times = [pd.DatetimeIndex(p[0]["time"].values) for p in parts]
    t0 = min(t[0] for t in times)
    t1 = max(t[-1] for t in times)
    time = pd.date_range(t0, t1, freq="D")
    unit_ids, forcing, attrs, upa, elev, area, lat, lon = [], [], [], [], [], [], [], []
    gauge_ids, obs, mg, mu, mw = [], [], [], [], []
    provenance = []
    need = list(attribute_names) + [HBV_UPAREA, HBV_ELEV]
    for f, a, o, m in parts:
        std.validate_unit_forcing(f)
        std.validate_gauge_observations(o)
        std.validate_membership(m)
        uids = [str(u) for u in f["unit"].values]
        a = a.reindex(unit=uids) if set(uids) <= set(map(str, a["unit"].values)) else None
        if a is None:
            raise DhbvInputError("unit attributes do not cover every unit of the forcing; add the "
                                 "missing units' attributes")
        std.validate_unit_attributes(a, [HBV_UPAREA, HBV_ELEV])
        for n in attribute_names:
            if n not in a:
                raise DhbvInputError(f"unit attributes: attribute '{n}' is missing; add it to the "
                                     "attribute source or remove it from model.attributes")
            nbad = int((~np.isfinite(a[n].values)).sum())
            if nbad:
                log.warning("attribute %s is NaN for %d unit(s); it enters the networks as 0 "
                            "(the normalised mean)", n, nbad)
        fr = f.reindex(time=time)
        forcing.append(np.stack([fr[v].values for v in FORCING_VARS], -1))
        attrs.append(np.stack([a[n].values for n in attribute_names], -1) if attribute_names
                     else np.zeros((len(uids), 0)))
        upa.append(a[HBV_UPAREA].values)
        elev.append(a[HBV_ELEV].values)
        area.append(f["area"].values)
        lat.append(f["lat"].values)
        lon.append(f["lon"].values)
        unit_ids += uids
        q = std.observations_mm_per_day(o).transpose("time", "gauge").reindex(time=time)
        gids = [str(g) for g in o["gauge"].values]
        for g in gids:
            col = q.sel(gauge=g).values
            if not np.isfinite(col).any():
                raise DhbvInputError(f"gauge {g}: all observations are NaN; remove the gauge or fix "
                                     "its streamflow file")
        obs.append(q.values)
        gauge_ids += gids
        mg += [str(x) for x in m["gauge"].values]
        mu += [str(x) for x in m["unit"].values]
        mw += list(m["weight"].values)
        provenance.append(f"{f.attrs.get('source', '')} | PET {f.attrs.get('pet_method', '')}")
    if len(set(unit_ids)) != len(unit_ids):
        dup = pd.Index(unit_ids)[pd.Index(unit_ids).duplicated()][0]
        raise DhbvInputError(f"unit {dup} appears in two sources; list each basin once")
    if len(set(gauge_ids)) != len(gauge_ids):
        dup = pd.Index(gauge_ids)[pd.Index(gauge_ids).duplicated()][0]
        raise DhbvInputError(f"gauge {dup} appears in two sources; list each gauge once")
    area = np.concatenate(area)
    memb = Membership.from_table(mg, mu, mw, gauge_ids, unit_ids, area)
    return BasinData(time, unit_ids, np.concatenate(forcing, 1).astype(np.float32),
                     list(attribute_names), np.concatenate(attrs, 0).astype(np.float64),
                     np.concatenate(upa).astype(np.float64), np.concatenate(elev).astype(np.float64),
                     gauge_ids, np.concatenate(obs, 1).astype(np.float32), memb, provenance,
                     np.concatenate(lat).astype(np.float64), np.concatenate(lon).astype(np.float64))


def write_standard(data: BasinData, out_dir) -> dict[str, Path]:
    """Write a :class:`BasinData` as the four standard NetCDF forms into ``out_dir``."""
    out = Path(out_dir)
    m = data.membership
    f = std.make_unit_forcing(data.time, data.unit_ids, data.forcing[..., 0], data.forcing[..., 1],
                              data.forcing[..., 2], area=m.unit_area,
                              lat=data.lat if data.lat is not None else np.full(len(data.unit_ids), np.nan),
                              lon=data.lon if data.lon is not None else np.full(len(data.unit_ids), np.nan),
                              source="; ".join(data.provenance))
    table = {n: data.attributes[:, i] for i, n in enumerate(data.attribute_names)}
    table.setdefault(HBV_UPAREA, data.uparea)
    table.setdefault(HBV_ELEV, data.elev)
    a = std.make_unit_attributes(data.unit_ids, table)
    area_g = np.array([np.sum(m.unit_area[idx]) for idx, _ in m.pairs])
    o = std.make_gauge_observations(data.time, data.gauge_ids, data.obs, units="mm d-1", area=area_g)
    g, u, w = [], [], []
    for gid, (idx, wt) in zip(data.gauge_ids, m.pairs):
        g += [gid] * len(idx)
        u += [data.unit_ids[i] for i in idx]
        w += list(wt)
    mem = std.make_membership(g, u, w)
    paths = {"forcing": out / "unit_forcing.nc", "attributes": out / "unit_attributes.nc",
             "observations": out / "gauge_observations.nc", "membership": out / "gauge_membership.nc"}
    for k, ds in zip(paths, (f, a, o, mem)):
        std.write_netcdf(ds, paths[k])
    return paths
