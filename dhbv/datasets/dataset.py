"""Load a configured dataset into one :class:`BasinData`, and write it in the standard forms.

:func:`load_dataset` reads every source of a dataset (``{"sources": [...]}``) with its
registered reader and merges them on one daily time axis; :func:`write_standard` writes a
dataset as the four standard NetCDF forms (what the ``build_training_data`` rule produces).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dhbv.datasets.basin_data import HBV_ELEV, HBV_UPAREA, PHYSICS_FORCING, BasinData
from dhbv.datasets.membership import Membership
from dhbv.datasets.network import UnitNetwork
from dhbv.datasets.readers import SourceForms, basin_list, read_source
from dhbv.errors import DhbvInputError
from dhbv.io import standard as std
from dhbv.io.atomic import atomic_outputs

log = logging.getLogger(__name__)


def dataset_of(config: dict, name: str | None = None) -> dict:
    """The ``datasets.<name>`` entry of a configuration; without ``name``: ``train.dataset``,
    else the configuration's only dataset."""
    datasets = config.get("datasets") or {}
    name = name or (config.get("train") or {}).get("dataset")
    if not name and len(datasets) == 1:
        name = next(iter(datasets))
    if not name:
        raise DhbvInputError("config train.dataset is not set; name one of datasets "
                             f"{sorted(datasets)}")
    if name not in datasets:
        raise DhbvInputError(f"config: dataset {name!r} is not in datasets {sorted(datasets)}; "
                             "add it or fix the name")
    return datasets[name]


def load_dataset(dataset: dict, attribute_names, *, base_dir=".",
                 dynamic_inputs=PHYSICS_FORCING) -> BasinData:
    """Read and merge all sources of ``dataset`` (``{"sources": [...]}``).

    ``dynamic_inputs``: daily variables the networks read; those beyond P, T, PET must be in
    every source's unit forcing and are kept after the physics forcing.
    """
    sources = (dataset or {}).get("sources") or []
    if not sources:
        raise DhbvInputError("dataset has no sources; list at least one under sources")
    parts = [read_source(s, attribute_names, Path(base_dir)) for s in sources]
    return merge_standard(parts, attribute_names, dynamic_inputs)


def forcing_names(dynamic_inputs) -> tuple[str, ...]:
    """Daily variables held by a dataset: the physics forcing, then the networks' extras."""
    return PHYSICS_FORCING + tuple(v for v in dynamic_inputs if v not in PHYSICS_FORCING)


def _check_attributes(a, uids, attribute_names):
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
    return a


def merge_standard(parts: list[SourceForms], attribute_names,
                   dynamic_inputs=PHYSICS_FORCING) -> BasinData:
    """Merge the standard forms of several sources into a :class:`BasinData`."""
    names = forcing_names(dynamic_inputs)
    times = [pd.DatetimeIndex(p.forcing["time"].values) for p in parts]
    time = pd.date_range(min(t[0] for t in times), max(t[-1] for t in times), freq="D")
    unit_ids, forcing, attrs, upa, elev, area, lat, lon = [], [], [], [], [], [], [], []
    gauge_ids, obs, mg, mu, mw, nets = [], [], [], [], [], []
    provenance = []
    for f, a, o, m, net in parts:
        std.validate_unit_forcing(f)
        std.validate_gauge_observations(o)
        std.validate_membership(m)
        uids = [str(u) for u in f["unit"].values]
        missing = [v for v in names if v not in f]
        if missing:
            raise DhbvInputError(f"unit forcing ({f.attrs.get('source', '')}) lacks the daily "
                                 f"variable '{missing[0]}' named in model.dynamic_inputs; add it "
                                 "to every source or remove it from model.dynamic_inputs")
        a = _check_attributes(a, uids, attribute_names)
        fr = f.reindex(time=time)
        forcing.append(np.stack([fr[v].values for v in names], -1))
        attrs.append(np.stack([a[n].values for n in attribute_names], -1) if attribute_names
                     else np.zeros((len(uids), 0)))
        upa.append(a[HBV_UPAREA].values)
        elev.append(a[HBV_ELEV].values)
        area.append(f["area"].values)
        lat.append(f["lat"].values)
        lon.append(f["lon"].values)
        nets.append(UnitNetwork.lumped(len(uids)) if net is None
                    else UnitNetwork.from_network(net, uids))
        unit_ids += uids
        q = std.observations_mm_per_day(o).transpose("time", "gauge").reindex(time=time)
        gids = [str(g) for g in o["gauge"].values]
        for g in gids:
            if not np.isfinite(q.sel(gauge=g).values).any():
                raise DhbvInputError(f"gauge {g}: all observations are NaN; remove the gauge or fix "
                                     "its streamflow file")
        obs.append(q.values)
        gauge_ids += gids
        mg += [str(x) for x in m["gauge"].values]
        mu += [str(x) for x in m["unit"].values]
        mw += list(m["weight"].values)
        provenance.append(f"{f.attrs.get('source', '')} | PET {f.attrs.get('pet_method', '')}")
    for ids, what, fix in ((unit_ids, "unit", "list each basin once"),
                           (gauge_ids, "gauge", "list each gauge once")):
        idx = pd.Index(ids)
        if idx.duplicated().any():
            raise DhbvInputError(f"{what} {idx[idx.duplicated()][0]} appears in two sources; {fix}")
    area = np.concatenate(area)
    memb = Membership.from_table(mg, mu, mw, gauge_ids, unit_ids, area)
    has_network = any(p.network is not None for p in parts)
    return BasinData(time, unit_ids, np.concatenate(forcing, 1).astype(np.float32),
                     list(attribute_names), np.concatenate(attrs, 0).astype(np.float64),
                     np.concatenate(upa).astype(np.float64), np.concatenate(elev).astype(np.float64),
                     gauge_ids, np.concatenate(obs, 1).astype(np.float32), memb, provenance,
                     np.concatenate(lat).astype(np.float64), np.concatenate(lon).astype(np.float64),
                     names, UnitNetwork.concatenate(nets) if has_network else None)


def select_gauges(data: BasinData, gauges, base_dir=".") -> BasinData:
    """Restrict a dataset to ``gauges`` (a list of ids or a text file, e.g. ``train.gauges``)."""
    if gauges is None:
        return data
    spec = gauges if isinstance(gauges, list) else Path(base_dir) / gauges
    return data.subset_gauges(basin_list(spec))


def write_standard(data: BasinData, out_dir) -> dict[str, Path]:
    """Write a :class:`BasinData` as the four standard NetCDF forms into ``out_dir``."""
    out = Path(out_dir)
    m = data.membership
    nan = np.full(len(data.unit_ids), np.nan)
    extra = {v: data.forcing[..., k] for k, v in enumerate(data.forcing_names)
             if v not in PHYSICS_FORCING}
    f = std.make_unit_forcing(data.time, data.unit_ids, data.forcing[..., 0], data.forcing[..., 1],
                              data.forcing[..., 2], area=m.unit_area,
                              lat=data.lat if data.lat is not None else nan,
                              lon=data.lon if data.lon is not None else nan,
                              source="; ".join(data.provenance), extra=extra)
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
    with atomic_outputs(*paths.values()) as tmps:    # the four files appear together
        for tmp, ds in zip(tmps, (f, a, o, mem)):
            ds.to_netcdf(tmp)
    return paths


def build_training_data(sources: list, attribute_names, dynamic_inputs, out_dir) -> dict:
    """Rule ``build_training_data``: one dataset's raw sources → the standard forms."""
    data = load_dataset({"sources": sources}, attribute_names, dynamic_inputs=dynamic_inputs)
    return write_standard(data, out_dir)


def build_membership(network, subnetworks, out) -> Path:
    """Rule ``build_membership``: gauge subnetworks of the topology stage → the gauge
    membership standard form (units = reaches upstream of each gauge, weight FLOW_SCALE for the
    gauge's own unit, 1 otherwise)."""
    from dhbv.network import gauge_membership_dataset, read_network

    net = read_network(network)
    return std.write_netcdf(gauge_membership_dataset(subnetworks, net), out)
