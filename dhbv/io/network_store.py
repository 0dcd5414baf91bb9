"""Network files: the dhbv network NetCDF, the DDR zarr v3 COO layout and gauge subnetworks.

Network NetCDF (one file per domain, written by :func:`write_network`)
    dims ``reach`` (n), ``edge`` (n − n_outlets), ``reach_ptr`` (n + 1), ``outlet``;
    variables (all aligned with the topological order)

    ========================  ========  ==================================================
    ``order``                 int64     MERIT COMID of each reach (topological order)
    ``indices_0``             int32     COO row = downstream index (edge)
    ``indices_1``             int32     COO column = upstream index (edge), row > column
    ``indptr``                int64     CSR row pointer (reach_ptr) over ``indices``
    ``indices``               int32     CSR upstream indices per row (edge)
    ``downstream``            int64     index of the downstream reach, −1 for outlets
    ``next_down``             int64     NextDownID as read (0 = none; > 0 outside domain)
    ``level``                 int32     topological level (headwaters 0)
    ``is_outlet``             int8      1 for outlets
    ``strahler``              int32     Strahler order
    ``length_m``              float64   m
    ``slope``                 float64   m/m, floored at attr ``min_slope``
    ``slope_raw``             float64   m/m as read
    ``uparea``, ``unitarea``  float64   km²
    ``outlet_comid``          int64     COMIDs of the outlets (outlet)
    ``outlet_next_down``      int64     their NextDownID (0 = sink/coast, else external)
    ========================  ========  ==================================================

    global attrs: ``format="COO"``, ``shape=[n, n]``, ``geodataset="merit"``, ``n_reaches``,
    ``n_edges``, ``n_outlets``, ``n_headwaters``, ``n_levels``, ``outlets`` (COMID list, only
    when n_outlets ≤ 1000, else see ``outlet_comid``), ``min_slope``, ``source``,
    ``area_source``, ``dropped_cycle_comids``, ``topological_sort``.

DDR zarr v3 layout (:func:`export_ddr_zarr`, routing_spec §13)
    group attrs ``format="COO"``, ``shape=[n, n]``, ``geodataset``; arrays ``indices_0``,
    ``indices_1`` (int32), ``values`` (uint8 1), ``order`` (int32 COMIDs), ``length_m``,
    ``slope`` (float32, raw slope). Gauge stores (:func:`export_ddr_gauge_zarr`): one subgroup
    per STAID with the subnetwork's edges in the global index space and attrs
    ``gage_catchment`` (COMID), ``gage_idx``.

Gauge-subnetwork NetCDF (:func:`write_gauge_subnetworks`)
    dims ``gauge``, ``gauge_ptr`` (n_gauges + 1), ``member``; variables ``STAID`` (str),
    ``gage_catchment`` (int64 COMID), ``gage_idx`` (int32 global index), ``DA_VALID`` (int8),
    ``FLOW_SCALE`` (float64), ``DRAIN_SQKM``, ``COMID_DRAIN_SQKM``, ``COMID_UNITAREA_SQKM``
    (float64 km², NaN if not in the gauge table), ``n_members`` (int64), ``member_ptr``
    (int64, CSR pointer over ``member_idx``), ``member_idx`` (int32 global reach indices of
    the gauge COMID and all its ancestors, ascending = topological order). attrs
    ``network_n_reaches``, ``network_order_sha256`` (guards against pairing with another
    network), ``network_file``.

All writers are atomic: they write a temporary sibling and rename it onto the target.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from dhbv.io.atomic import atomic_path

from dhbv.errors import DhbvInputError, NetworkTopologyError

if TYPE_CHECKING:  # dhbv.network imports this module; import it lazily at run time
    from dhbv.network.network import Network

#: Default routing-slope floor (m/m); same value as dhbv.network.topology.DEFAULT_MIN_SLOPE.
DEFAULT_MIN_SLOPE = 1e-3
_MAX_OUTLETS_IN_ATTRS = 1000


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def order_digest(comid: np.ndarray) -> str:
    """SHA-256 of the int64 COMID order; identifies a network's index space."""
    return hashlib.sha256(np.ascontiguousarray(comid, dtype="<i8").tobytes()).hexdigest()


def _atomic_netcdf(ds, path: Path, encoding: dict) -> None:
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)


# ---- network NetCDF ---------------------------------------------------------------------------


def network_to_dataset(net: Network):
    """The network as an :class:`xarray.Dataset` in the layout described in the module doc."""
    import xarray as xr

    n = net.n
    outlets = net.is_outlet
    f64 = lambda a: np.full(n, np.nan) if a is None else np.asarray(a, np.float64)  # noqa: E731
    dropped = [c for cyc in net.dropped_cycles for c in cyc]
    ds = xr.Dataset(
        {
            "order": ("reach", net.comid.astype(np.int64),
                      {"long_name": "MERIT-Basins COMID in topological order (upstream first)"}),
            "indices_0": ("edge", net.indices_0.astype(np.int32),
                          {"long_name": "COO row: index of the downstream reach"}),
            "indices_1": ("edge", net.indices_1.astype(np.int32),
                          {"long_name": "COO column: index of the upstream reach"}),
            "indptr": ("reach_ptr", net.indptr.astype(np.int64),
                       {"long_name": "CSR row pointer into indices (upstream reaches of each row)"}),
            "indices": ("edge", net.indices.astype(np.int32),
                        {"long_name": "CSR column indices: upstream reach indices"}),
            "downstream": ("reach", net.downstream.astype(np.int64),
                           {"long_name": "index of the downstream reach (-1 = outlet)"}),
            "next_down": ("reach", net.next_down.astype(np.int64),
                          {"long_name": "NextDownID as read (0 = none)"}),
            "level": ("reach", net.level.astype(np.int32),
                      {"long_name": "topological level (headwaters 0, 1 + max upstream level)"}),
            "is_outlet": ("reach", outlets.astype(np.int8),
                          {"long_name": "reach has no downstream reach in the domain",
                           "flag_values": np.array([0, 1], np.int8),
                           "flag_meanings": "interior outlet"}),
            "strahler": ("reach", np.asarray(net.strahler, np.int32),
                         {"long_name": "Strahler stream order"}),
            "length_m": ("reach", f64(net.length_m), {"long_name": "channel length", "units": "m"}),
            "slope": ("reach", f64(net.slope),
                      {"long_name": "channel slope floored at min_slope", "units": "1"}),
            "slope_raw": ("reach", f64(net.slope_raw),
                          {"long_name": "channel slope as read", "units": "1"}),
            "uparea": ("reach", f64(net.uparea),
                       {"long_name": "upstream drainage area at the reach outlet", "units": "km2"}),
            "unitarea": ("reach", f64(net.unitarea),
                         {"long_name": "unit-catchment area", "units": "km2"}),
            "outlet_comid": ("outlet", net.comid[outlets].astype(np.int64),
                             {"long_name": "COMIDs of the domain outlets"}),
            "outlet_next_down": ("outlet", net.next_down[outlets].astype(np.int64),
                                 {"long_name": "NextDownID of each outlet (0 = sink or coast, "
                                               "> 0 = reach outside the domain)"}),
        },
        attrs={
            "Conventions": "CF-1.8",
            "title": "MERIT-Basins river network in topological order (dhbv)",
            "format": "COO",
            "shape": np.array([n, n], np.int64),
            "geodataset": net.geodataset,
            "n_reaches": n,
            "n_edges": net.n_edges,
            "n_outlets": int(outlets.sum()),
            "n_headwaters": int(net.is_headwater.sum()),
            "n_levels": net.n_levels,
            "min_slope": float(net.min_slope),
            "source": str(net.source),
            "area_source": str(net.area_source),
            "topological_sort": "level-major Kahn (headwaters first), ties broken by COMID",
            "dropped_cycle_comids": np.array(dropped, np.int64) if dropped else "",
            "notes": "; ".join(net.notes),
        },
    )
    if outlets.sum() <= _MAX_OUTLETS_IN_ATTRS:
        ds.attrs["outlets"] = net.comid[outlets].astype(np.int64)
    else:
        ds.attrs["outlets"] = "see variable outlet_comid"
    return ds


def write_network(net: Network, path: str | Path) -> Path:
    """Write the network NetCDF atomically (temporary file, then rename). Returns the path."""
    ds = network_to_dataset(net)
    enc = {v: {"zlib": True, "complevel": 4} for v in ds.data_vars if ds[v].size > 0}
    path = Path(path)
    _atomic_netcdf(ds, path, enc)
    return path


def _network_from_dataset(ds, source: str) -> Network:
    from dhbv.network.network import Network
    from dhbv.network.topology import strahler_order, topology_from_coo

    for v in ("order", "indices_0", "indices_1"):
        if v not in ds:
            raise DhbvInputError(f"{source}: variable {v!r} missing; not a dhbv network file")
    nd = ds["next_down"].values if "next_down" in ds else None
    topo = topology_from_coo(ds["order"].values, ds["indices_0"].values, ds["indices_1"].values,
                             next_down=nd, source=source)
    get = lambda v: ds[v].values.astype(np.float64) if v in ds else np.full(topo.n, np.nan)  # noqa: E731
    dropped = ds.attrs.get("dropped_cycle_comids", "")
    dropped = [] if isinstance(dropped, str) else [np.atleast_1d(dropped).astype(np.int64).tolist()]
    strahler = ds["strahler"].values.astype(np.int32) if "strahler" in ds else strahler_order(topo)
    notes = ds.attrs.get("notes", "")
    net = Network.from_topology(
        topo,
        length_m=get("length_m"),
        slope_raw=get("slope_raw"),
        slope=get("slope"),
        uparea=get("uparea"),
        unitarea=get("unitarea"),
        strahler=strahler,
        min_slope=float(ds.attrs.get("min_slope", DEFAULT_MIN_SLOPE)),
        geodataset=str(ds.attrs.get("geodataset", "merit")),
        source=str(ds.attrs.get("source", source)),
        area_source=str(ds.attrs.get("area_source", "")),
        notes=[s for s in str(notes).split("; ") if s],
    )
    net.dropped_cycles = dropped
    return net


def read_network(path: str | Path, *, min_slope: float | None = None) -> Network:
    """Read a network from the dhbv NetCDF or from a DDR zarr v3 COO group.

    For the DDR layout (which stores only order, COO, length_m and raw slope) the levels,
    CSR and Strahler order are derived, ``slope`` is ``max(slope_raw, min_slope)`` (default
    1e-3) and ``uparea``/``unitarea`` are NaN. ``min_slope`` re-floors a NetCDF network too.
    """
    path = Path(path)
    if not path.exists():
        raise DhbvInputError(f"{path}: network file not found; run the network stage first")
    if path.is_dir():
        net = _read_ddr_zarr(path)
    else:
        import xarray as xr

        try:
            with xr.open_dataset(path, engine="netcdf4") as ds:
                ds.load()
                net = _network_from_dataset(ds, str(path))
        except (DhbvInputError, NetworkTopologyError):
            raise
        except Exception as exc:
            raise DhbvInputError(
                f"{path}: cannot read network NetCDF ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); rebuild it"
            ) from exc
    if min_slope is not None:
        net.min_slope = float(min_slope)
        net.slope = np.fmax(net.slope_raw, min_slope)
    return net


def _read_ddr_zarr(path: Path) -> Network:
    import zarr

    from dhbv.network.network import Network
    from dhbv.network.topology import strahler_order, topology_from_coo

    try:
        g = zarr.open_group(str(path), mode="r")
        arrays = {k: g[k][...] for k in ("order", "indices_0", "indices_1")}
        opt = {k: g[k][...] for k in ("length_m", "slope") if k in g}
        attrs = dict(g.attrs)
    except KeyError as exc:
        raise DhbvInputError(f"{path}: array {exc} missing; not a DDR COO network group") from exc
    except Exception as exc:
        raise DhbvInputError(
            f"{path}: cannot read zarr group ({type(exc).__name__}); check it is a zarr v3 "
            "DDR COO network store"
        ) from exc
    if attrs.get("format", "COO") != "COO":
        raise DhbvInputError(f"{path}: format={attrs.get('format')!r}, expected 'COO'")
    topo = topology_from_coo(arrays["order"], arrays["indices_0"], arrays["indices_1"],
                             source=str(path))
    n = topo.n
    shape = attrs.get("shape")
    if shape is not None and list(shape) != [n, n]:
        raise DhbvInputError(f"{path}: attr shape={shape} does not match {n} reaches in 'order'")
    slope_raw = opt["slope"].astype(np.float64) if "slope" in opt else np.full(n, np.nan)
    return Network.from_topology(
        topo,
        length_m=opt["length_m"].astype(np.float64) if "length_m" in opt else np.full(n, np.nan),
        slope_raw=slope_raw,
        slope=np.fmax(slope_raw, DEFAULT_MIN_SLOPE),
        uparea=np.full(n, np.nan),
        unitarea=np.full(n, np.nan),
        strahler=strahler_order(topo),
        min_slope=DEFAULT_MIN_SLOPE,
        geodataset=str(attrs.get("geodataset", "merit")),
        source=str(path),
        area_source="",
    )


# ---- DDR zarr export --------------------------------------------------------------------------


def _zarr_write_arrays(group, arrays: dict) -> None:
    import zarr

    comp = zarr.codecs.ZstdCodec(level=0)
    for name, data in arrays.items():
        group.create_array(name, data=data, chunks=(max(1, data.size),), compressors=comp)


def _int32_comids(comid: np.ndarray, path: Path) -> np.ndarray:
    if comid.size and (comid.max() > np.iinfo(np.int32).max or comid.min() < 0):
        raise DhbvInputError(f"{path}: COMIDs exceed int32, the DDR layout cannot store them")
    return comid.astype(np.int32)


def _atomic_dir(path: Path, fill) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        fill(tmp)
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


def export_ddr_zarr(net: Network, path: str | Path) -> Path:
    """Write the network in the DDR zarr v3 binsparse-style COO layout (routing_spec §13).

    ``length_m`` and ``slope`` are float32; ``slope`` is the *raw* slope (DDR floors at routing
    time). Replaces an existing store atomically.
    """
    import zarr

    path = Path(path)
    n = net.n

    def fill(tmp: Path):
        g = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        g.attrs.update({"format": "COO", "shape": [n, n], "geodataset": net.geodataset})
        _zarr_write_arrays(g, {
            "indices_0": net.indices_0.astype(np.int32),
            "indices_1": net.indices_1.astype(np.int32),
            "values": np.ones(net.n_edges, np.uint8),
            "order": _int32_comids(net.comid, path),
            "length_m": np.asarray(net.length_m, np.float32),
            "slope": np.asarray(net.slope_raw, np.float32),
        })

    return _atomic_dir(path, fill)


# ---- gauge subnetworks -----------------------------------------------------------------------


@dataclass
class GaugeSubnetworks:
    """Gauge subnetworks in a network's global index space (see module docstring).

    ``members(staid)`` returns the ascending global indices of the gauge reach and all its
    ancestors; ``unit_weights()`` returns ``{STAID: (indices, weights)}`` with weight
    FLOW_SCALE for the gauge's own unit and 1 elsewhere.
    """

    staid: np.ndarray  # str
    gage_catchment: np.ndarray  # int64 COMID
    gage_idx: np.ndarray  # int32
    da_valid: np.ndarray  # bool
    flow_scale: np.ndarray  # float64
    drain_sqkm: np.ndarray
    comid_drain_sqkm: np.ndarray
    comid_unitarea_sqkm: np.ndarray
    member_ptr: np.ndarray  # int64 (g+1)
    member_idx: np.ndarray  # int32
    network_n_reaches: int
    network_order_sha256: str
    network_file: str = ""
    excluded: dict = field(default_factory=dict)

    @property
    def n_gauges(self) -> int:
        return int(self.staid.size)

    @property
    def n_members(self) -> np.ndarray:
        return np.diff(self.member_ptr)

    def _pos(self, staid: str) -> int:
        hit = np.flatnonzero(self.staid == str(staid))
        if hit.size == 0:
            raise DhbvInputError(f"gauge subnetworks: STAID {staid!r} not present; "
                                 "add it to the configured gauges and rebuild")
        return int(hit[0])

    def members(self, staid: str) -> np.ndarray:
        k = self._pos(staid)
        return self.member_idx[self.member_ptr[k]:self.member_ptr[k + 1]].astype(np.int64)

    def unit_weights(self, staids=None) -> dict:
        out = {}
        for s in (self.staid if staids is None else staids):
            k = self._pos(s)
            idx = self.members(s)
            w = np.ones(idx.size)
            w[idx == self.gage_idx[k]] = self.flow_scale[k]
            out[str(s)] = (idx, w)
        return out


def write_gauge_subnetworks(sub: GaugeSubnetworks, path: str | Path) -> Path:
    """Write gauge subnetworks to one NetCDF file atomically."""
    import xarray as xr

    ds = xr.Dataset(
        {
            "STAID": ("gauge", sub.staid.astype(object), {"long_name": "USGS station id"}),
            "gage_catchment": ("gauge", sub.gage_catchment.astype(np.int64),
                               {"long_name": "MERIT COMID of the gauge reach"}),
            "gage_idx": ("gauge", sub.gage_idx.astype(np.int32),
                         {"long_name": "global topological index of the gauge reach"}),
            "DA_VALID": ("gauge", sub.da_valid.astype(np.int8),
                         {"long_name": "|DRAIN_SQKM - uparea| <= unitarea",
                          "flag_values": np.array([0, 1], np.int8), "flag_meanings": "false true"}),
            "FLOW_SCALE": ("gauge", sub.flow_scale.astype(np.float64),
                           {"long_name": "weight of the gauge reach's own unit runoff", "units": "1"}),
            "DRAIN_SQKM": ("gauge", sub.drain_sqkm.astype(np.float64), {"units": "km2"}),
            "COMID_DRAIN_SQKM": ("gauge", sub.comid_drain_sqkm.astype(np.float64), {"units": "km2"}),
            "COMID_UNITAREA_SQKM": ("gauge", sub.comid_unitarea_sqkm.astype(np.float64),
                                    {"units": "km2"}),
            "n_members": ("gauge", sub.n_members.astype(np.int64),
                          {"long_name": "number of reaches in the gauge subnetwork"}),
            "member_ptr": ("gauge_ptr", sub.member_ptr.astype(np.int64),
                           {"long_name": "CSR pointer of each gauge into member_idx"}),
            "member_idx": ("member", sub.member_idx.astype(np.int32),
                           {"long_name": "global reach indices of the gauge reach and its ancestors"}),
        },
        attrs={
            "Conventions": "CF-1.8",
            "title": "gauge subnetworks (gauge COMID + all ancestors) in the global index space",
            "network_n_reaches": int(sub.network_n_reaches),
            "network_order_sha256": sub.network_order_sha256,
            "network_file": sub.network_file,
            "excluded": "; ".join(f"{k}: {v}" for k, v in sub.excluded.items()),
        },
    )
    enc = {v: {"zlib": True, "complevel": 4} for v in ds.data_vars
           if ds[v].dtype != object and ds[v].size > 0}
    path = Path(path)
    _atomic_netcdf(ds, path, enc)
    return path


def read_gauge_subnetworks(path: str | Path, *, network: Network | None = None) -> GaugeSubnetworks:
    """Read a gauge-subnetwork NetCDF; with ``network`` check it belongs to that network."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise DhbvInputError(f"{path}: gauge subnetwork file not found; run the gauge stage first")
    with xr.open_dataset(path, engine="netcdf4") as ds:
        ds.load()
        sub = GaugeSubnetworks(
            staid=ds["STAID"].values.astype(str),
            gage_catchment=ds["gage_catchment"].values.astype(np.int64),
            gage_idx=ds["gage_idx"].values.astype(np.int32),
            da_valid=ds["DA_VALID"].values.astype(bool),
            flow_scale=ds["FLOW_SCALE"].values.astype(np.float64),
            drain_sqkm=ds["DRAIN_SQKM"].values,
            comid_drain_sqkm=ds["COMID_DRAIN_SQKM"].values,
            comid_unitarea_sqkm=ds["COMID_UNITAREA_SQKM"].values,
            member_ptr=ds["member_ptr"].values.astype(np.int64),
            member_idx=ds["member_idx"].values.astype(np.int32),
            network_n_reaches=int(ds.attrs["network_n_reaches"]),
            network_order_sha256=str(ds.attrs["network_order_sha256"]),
            network_file=str(ds.attrs.get("network_file", "")),
        )
    if network is not None and order_digest(network.comid) != sub.network_order_sha256:
        raise DhbvInputError(
            f"{path}: gauge subnetworks were built for a different network order "
            f"({sub.network_file}); rebuild them from the current network file"
        )
    return sub


def export_ddr_gauge_zarr(net: Network, sub: GaugeSubnetworks, path: str | Path) -> Path:
    """DDR gauge store: one zarr subgroup per STAID with the subnetwork COO (global indices)."""
    import zarr

    path = Path(path)
    n = net.n
    order32 = _int32_comids(net.comid, path)

    def fill(tmp: Path):
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        inset = np.zeros(n, bool)
        for k, s in enumerate(sub.staid):
            idx = sub.member_idx[sub.member_ptr[k]:sub.member_ptr[k + 1]]
            inset[:] = False
            inset[idx] = True
            e = inset[net.indices_1] & inset[net.indices_0]
            g = root.create_group(str(s))
            g.attrs.update({"format": "COO", "shape": [n, n], "geodataset": net.geodataset,
                            "gage_catchment": int(sub.gage_catchment[k]),
                            "gage_idx": int(sub.gage_idx[k])})
            _zarr_write_arrays(g, {
                "indices_0": net.indices_0[e].astype(np.int32),
                "indices_1": net.indices_1[e].astype(np.int32),
                "values": np.ones(int(e.sum()), np.uint8),
                "order": order32,
            })

    return _atomic_dir(path, fill)
