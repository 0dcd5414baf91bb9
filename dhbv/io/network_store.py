"""Network files: the dhbv network NetCDF, the DDR zarr v3 COO layout and gauge subnetworks.

Network NetCDF (one file per domain, written by :func:`write_network_netcdf`)
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

DDR zarr v3 layout (:func:`write_ddr_zarr`, docs/network.md#ddr-zarr-layout)
    group attrs ``format="COO"``, ``shape=[n, n]``, ``geodataset``; arrays ``indices_0``,
    ``indices_1`` (int32), ``values`` (uint8 1), ``order`` (int32 COMIDs), ``length_m``,
    ``slope`` (float32, raw slope). Gauge stores (:func:`write_ddr_gauge_zarr`): one subgroup
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

The network files are exchanged as named arrays (the variable names above) and attributes;
:mod:`dhbv.network.store` converts them from and to a :class:`dhbv.network.Network`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dhbv.errors import DhbvInputError
from dhbv.io.atomic import atomic_path

_MAX_OUTLETS_IN_ATTRS = 1000

# variable -> (dimension, dtype, attributes) of the network NetCDF, in file order
NETWORK_VARIABLES: dict[str, tuple[str, type, dict]] = {
    "order": ("reach", np.int64,
              {"long_name": "MERIT-Basins COMID in topological order (upstream first)"}),
    "indices_0": ("edge", np.int32, {"long_name": "COO row: index of the downstream reach"}),
    "indices_1": ("edge", np.int32, {"long_name": "COO column: index of the upstream reach"}),
    "indptr": ("reach_ptr", np.int64,
               {"long_name": "CSR row pointer into indices (upstream reaches of each row)"}),
    "indices": ("edge", np.int32, {"long_name": "CSR column indices: upstream reach indices"}),
    "downstream": ("reach", np.int64,
                   {"long_name": "index of the downstream reach (-1 = outlet)"}),
    "next_down": ("reach", np.int64, {"long_name": "NextDownID as read (0 = none)"}),
    "level": ("reach", np.int32,
              {"long_name": "topological level (headwaters 0, 1 + max upstream level)"}),
    "is_outlet": ("reach", np.int8,
                  {"long_name": "reach has no downstream reach in the domain",
                   "flag_values": np.array([0, 1], np.int8), "flag_meanings": "interior outlet"}),
    "strahler": ("reach", np.int32, {"long_name": "Strahler stream order"}),
    "length_m": ("reach", np.float64, {"long_name": "channel length", "units": "m"}),
    "slope": ("reach", np.float64,
              {"long_name": "channel slope floored at min_slope", "units": "1"}),
    "slope_raw": ("reach", np.float64, {"long_name": "channel slope as read", "units": "1"}),
    "uparea": ("reach", np.float64,
               {"long_name": "upstream drainage area at the reach outlet", "units": "km2"}),
    "unitarea": ("reach", np.float64, {"long_name": "unit-catchment area", "units": "km2"}),
    "outlet_comid": ("outlet", np.int64, {"long_name": "COMIDs of the domain outlets"}),
    "outlet_next_down": ("outlet", np.int64,
                         {"long_name": "NextDownID of each outlet (0 = sink or coast, "
                                       "> 0 = reach outside the domain)"}),
}
#: Variables without which a file is not a network file (the COO layout).
REQUIRED_VARIABLES = ("order", "indices_0", "indices_1")


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def order_digest(comid: np.ndarray) -> str:
    """SHA-256 of the int64 COMID order; identifies a network's index space."""
    return hashlib.sha256(np.ascontiguousarray(comid, dtype="<i8").tobytes()).hexdigest()


def _atomic_netcdf(ds, path: Path, encoding: dict) -> None:
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)


# ---- network NetCDF ---------------------------------------------------------------------------


def network_dataset(arrays: Mapping[str, np.ndarray], attrs: Mapping):
    """The network NetCDF layout (module doc) as an :class:`xarray.Dataset`.

    ``arrays`` holds every variable of ``NETWORK_VARIABLES`` (cast to the layout's dtypes
    here); ``attrs`` the network's ``geodataset``, ``n_headwaters``, ``n_levels``,
    ``min_slope`` (m/m), ``source``, ``area_source``, ``dropped_cycle_comids`` (COMIDs, may be
    empty) and ``notes`` (list of str). Counts and the COO shape are taken from the arrays.
    """
    import xarray as xr

    n = len(arrays["order"])
    outlets = np.asarray(arrays["outlet_comid"], np.int64)
    dropped = np.asarray(attrs["dropped_cycle_comids"], np.int64)
    ds = xr.Dataset(
        {name: (dim, np.asarray(arrays[name], dtype), dict(meta))
         for name, (dim, dtype, meta) in NETWORK_VARIABLES.items()},
        attrs={
            "Conventions": "CF-1.8",
            "title": "MERIT-Basins river network in topological order (dhbv)",
            "format": "COO",
            "shape": np.array([n, n], np.int64),
            "geodataset": str(attrs["geodataset"]),
            "n_reaches": n,
            "n_edges": len(arrays["indices_0"]),
            "n_outlets": int(outlets.size),
            "n_headwaters": int(attrs["n_headwaters"]),
            "n_levels": int(attrs["n_levels"]),
            "min_slope": float(attrs["min_slope"]),
            "source": str(attrs["source"]),
            "area_source": str(attrs["area_source"]),
            "topological_sort": "level-major Kahn (headwaters first), ties broken by COMID",
            "dropped_cycle_comids": dropped if dropped.size else "",
            "notes": "; ".join(attrs["notes"]),
            "outlets": (outlets if outlets.size <= _MAX_OUTLETS_IN_ATTRS
                        else "see variable outlet_comid"),
        },
    )
    return ds


def write_network_netcdf(arrays: Mapping[str, np.ndarray], attrs: Mapping,
                         path: str | Path) -> Path:
    """Write the network NetCDF (see :func:`network_dataset`) atomically. Returns the path."""
    ds = network_dataset(arrays, attrs)
    enc = {v: {"zlib": True, "complevel": 4} for v in ds.data_vars if ds[v].size > 0}
    path = Path(path)
    _atomic_netcdf(ds, path, enc)
    return path


def read_network_file(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Named arrays and attributes of a network NetCDF or of a DDR zarr v3 COO group.

    Arrays keep the NetCDF variable names; the DDR layout's raw ``slope`` is returned as
    ``slope_raw``, and its optional ``length_m``/``slope`` may be absent. The NetCDF attributes
    ``dropped_cycle_comids`` and ``notes`` are decoded to lists (COMIDs, str).
    """
    path = Path(path)
    if not path.exists():
        raise DhbvInputError(f"{path}: network file not found; run the network stage first")
    if path.is_dir():
        return _read_ddr_zarr(path)
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            ds.load()
    except Exception as exc:
        raise DhbvInputError(
            f"{path}: cannot read network NetCDF ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); rebuild it"
        ) from exc
    for v in REQUIRED_VARIABLES:
        if v not in ds:
            raise DhbvInputError(f"{path}: variable {v!r} missing; not a dhbv network file")
    arrays = {str(v): ds[v].values for v in ds.data_vars}
    attrs = dict(ds.attrs)
    dropped = attrs.get("dropped_cycle_comids", "")
    attrs["dropped_cycle_comids"] = ([] if isinstance(dropped, str)
                                     else np.atleast_1d(dropped).astype(np.int64).tolist())
    attrs["notes"] = [s for s in str(attrs.get("notes", "")).split("; ") if s]
    return arrays, attrs


def _read_ddr_zarr(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    import zarr

    try:
        g = zarr.open_group(str(path), mode="r")
        arrays = {k: g[k][...] for k in REQUIRED_VARIABLES}
        if "length_m" in g:
            arrays["length_m"] = g["length_m"][...]
        if "slope" in g:
            arrays["slope_raw"] = g["slope"][...]
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
    n = len(arrays["order"])
    shape = attrs.get("shape")
    if shape is not None and list(shape) != [n, n]:
        raise DhbvInputError(f"{path}: attr shape={shape} does not match {n} reaches in 'order'")
    return arrays, attrs


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


def write_ddr_zarr(arrays: Mapping[str, np.ndarray], attrs: Mapping, path: str | Path) -> Path:
    """Write a network in the DDR zarr v3 binsparse-style COO layout (docs/network.md#ddr-zarr-layout).

    Reads ``order``, ``indices_0``, ``indices_1``, ``length_m`` (m) and ``slope_raw`` (m/m)
    from ``arrays`` and ``geodataset`` from ``attrs`` (as for :func:`network_dataset`).
    ``length_m`` and ``slope`` are stored as float32; ``slope`` is the *raw* slope (DDR floors
    at routing time). Replaces an existing store atomically.
    """
    import zarr

    path = Path(path)
    n = len(arrays["order"])

    def fill(tmp: Path):
        g = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        g.attrs.update({"format": "COO", "shape": [n, n], "geodataset": attrs["geodataset"]})
        _zarr_write_arrays(g, {
            "indices_0": np.asarray(arrays["indices_0"], np.int32),
            "indices_1": np.asarray(arrays["indices_1"], np.int32),
            "values": np.ones(len(arrays["indices_0"]), np.uint8),
            "order": _int32_comids(np.asarray(arrays["order"]), path),
            "length_m": np.asarray(arrays["length_m"], np.float32),
            "slope": np.asarray(arrays["slope_raw"], np.float32),
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


def read_gauge_subnetworks(path: str | Path, *,
                           network_comid: np.ndarray | None = None) -> GaugeSubnetworks:
    """Read a gauge-subnetwork NetCDF; with ``network_comid`` (a network's COMIDs in
    topological order) check it belongs to that network."""
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
    if network_comid is not None and order_digest(network_comid) != sub.network_order_sha256:
        raise DhbvInputError(
            f"{path}: gauge subnetworks were built for a different network order "
            f"({sub.network_file}); rebuild them from the current network file"
        )
    return sub


def write_ddr_gauge_zarr(arrays: Mapping[str, np.ndarray], attrs: Mapping,
                         sub: GaugeSubnetworks, path: str | Path) -> Path:
    """DDR gauge store: one zarr subgroup per STAID with the subnetwork COO (global indices).

    ``arrays``/``attrs`` are those of the network (``order``, ``indices_0``, ``indices_1``;
    ``geodataset``), as for :func:`write_ddr_zarr`.
    """
    import zarr

    path = Path(path)
    n = len(arrays["order"])
    order32 = _int32_comids(np.asarray(arrays["order"]), path)
    rows = np.asarray(arrays["indices_0"])
    cols = np.asarray(arrays["indices_1"])

    def fill(tmp: Path):
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        inset = np.zeros(n, bool)
        for k, s in enumerate(sub.staid):
            idx = sub.member_idx[sub.member_ptr[k]:sub.member_ptr[k + 1]]
            inset[:] = False
            inset[idx] = True
            e = inset[cols] & inset[rows]
            g = root.create_group(str(s))
            g.attrs.update({"format": "COO", "shape": [n, n], "geodataset": attrs["geodataset"],
                            "gage_catchment": int(sub.gage_catchment[k]),
                            "gage_idx": int(sub.gage_idx[k])})
            _zarr_write_arrays(g, {
                "indices_0": rows[e].astype(np.int32),
                "indices_1": cols[e].astype(np.int32),
                "values": np.ones(int(e.sum()), np.uint8),
                "order": order32,
            })

    return _atomic_dir(path, fill)
