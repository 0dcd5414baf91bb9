"""A :class:`Network` from and to the network files of :mod:`dhbv.io.network_store`.

The file layouts (network NetCDF, DDR zarr v3 COO group, DDR gauge store) are defined there and
exchanged as named arrays and attributes; this module maps a network onto those names and
rebuilds a network (topology, levels, CSR, Strahler order) from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dhbv.io import network_store
from dhbv.io.network_store import GaugeSubnetworks
from dhbv.network.network import Network
from dhbv.network.topology import DEFAULT_MIN_SLOPE, strahler_order, topology_from_coo


def network_arrays(net: Network) -> tuple[dict[str, np.ndarray], dict]:
    """The named arrays and attributes of ``net`` in the layout of the network files.

    Per-reach attributes the network lacks (None) are written as NaN.
    """
    n = net.n
    outlets = net.is_outlet

    def per_reach(a):
        return np.full(n, np.nan) if a is None else a

    arrays = {
        "order": net.comid,
        "indices_0": net.indices_0,
        "indices_1": net.indices_1,
        "indptr": net.indptr,
        "indices": net.indices,
        "downstream": net.downstream,
        "next_down": net.next_down,
        "level": net.level,
        "is_outlet": outlets,
        "strahler": net.strahler,
        "length_m": per_reach(net.length_m),
        "slope": per_reach(net.slope),
        "slope_raw": per_reach(net.slope_raw),
        "uparea": per_reach(net.uparea),
        "unitarea": per_reach(net.unitarea),
        "outlet_comid": net.comid[outlets],
        "outlet_next_down": net.next_down[outlets],
    }
    attrs = {
        "geodataset": net.geodataset,
        "n_headwaters": int(net.is_headwater.sum()),
        "n_levels": net.n_levels,
        "min_slope": net.min_slope,
        "source": net.source,
        "area_source": net.area_source,
        "dropped_cycle_comids": [c for cyc in net.dropped_cycles for c in cyc],
        "notes": list(net.notes),
    }
    return arrays, attrs


def write_network(net: Network, path: str | Path) -> Path:
    """Write the network NetCDF atomically (temporary file, then rename). Returns the path."""
    return network_store.write_network_netcdf(*network_arrays(net), path)


def export_ddr_zarr(net: Network, path: str | Path) -> Path:
    """Write the network as a DDR zarr v3 COO group (float32 length and *raw* slope)."""
    return network_store.write_ddr_zarr(*network_arrays(net), path)


def export_ddr_gauge_zarr(net: Network, sub: GaugeSubnetworks, path: str | Path) -> Path:
    """DDR gauge store of ``net``: one zarr subgroup per STAID with the subnetwork COO."""
    return network_store.write_ddr_gauge_zarr(*network_arrays(net), sub, path)


def network_from_arrays(arrays: Mapping[str, np.ndarray], attrs: Mapping,
                        source: str) -> Network:
    """Rebuild a network from the named arrays and attributes of a network file.

    Only ``order``, ``indices_0`` and ``indices_1`` are required: missing per-reach values are
    NaN, ``slope`` defaults to ``max(slope_raw, min_slope)`` (min_slope from the attributes,
    else 1e-3 m/m) and the Strahler order is derived when not stored.
    """
    topo = topology_from_coo(arrays["order"], arrays["indices_0"], arrays["indices_1"],
                             next_down=arrays.get("next_down"), source=source)

    def per_reach(name):
        return arrays[name].astype(np.float64) if name in arrays else np.full(topo.n, np.nan)

    min_slope = float(attrs.get("min_slope", DEFAULT_MIN_SLOPE))
    slope_raw = per_reach("slope_raw")
    slope = per_reach("slope") if "slope" in arrays else np.fmax(slope_raw, min_slope)
    strahler = (arrays["strahler"].astype(np.int32) if "strahler" in arrays
                else strahler_order(topo))
    net = Network.from_topology(
        topo,
        length_m=per_reach("length_m"),
        slope_raw=slope_raw,
        slope=slope,
        uparea=per_reach("uparea"),
        unitarea=per_reach("unitarea"),
        strahler=strahler,
        min_slope=min_slope,
        geodataset=str(attrs.get("geodataset", "merit")),
        source=str(attrs.get("source", source)),
        area_source=str(attrs.get("area_source", "")),
        notes=list(attrs.get("notes", [])),
    )
    dropped = list(attrs.get("dropped_cycle_comids", []))
    net.dropped_cycles = [dropped] if dropped else []
    return net


def read_network(path: str | Path, *, min_slope: float | None = None) -> Network:
    """Read a network from the dhbv NetCDF or from a DDR zarr v3 COO group.

    For the DDR layout (which stores only order, COO, length_m and raw slope) the levels,
    CSR and Strahler order are derived, ``slope`` is ``max(slope_raw, 1e-3)`` and
    ``uparea``/``unitarea`` are NaN. ``min_slope`` (m/m) re-floors the slope of either layout.
    """
    path = Path(path)
    arrays, attrs = network_store.read_network_file(path)
    net = network_from_arrays(arrays, attrs, str(path))
    if min_slope is not None:
        net.min_slope = float(min_slope)
        net.slope = np.fmax(net.slope_raw, min_slope)
    return net
