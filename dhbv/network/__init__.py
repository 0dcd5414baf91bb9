"""MERIT-Basins river-network topology (docs/network.md).

Public API
----------
build_topology(flowlines, catchments=None, *, out_path, min_slope=1e-3,
               cycle_policy="error", field_map=None, catchment_field_map=None,
               area_source="auto", ddr_zarr_path=None) -> NetworkSummary   (rule build_topology)
build_network(flowlines, catchments=None, *, ...) -> Network            (in memory)
topology_from_table(comid, next_down, up=None, *, cycle_policy="error", source=...) -> Topology
build_gauge_subnetworks(network_path, gauge_table, staids, out_path, *,
                        require_da_valid=False) -> GaugeSubnetworks
gauge_unit_weights(subnetworks, staids=None) -> {STAID: (indices, weights)}
read_network(path) / write_network(net, path) / export_ddr_zarr(net, path)
"""

from dhbv.io.network_store import GaugeSubnetworks, read_gauge_subnetworks
from dhbv.network.build import NetworkSummary, build_topology, build_network, summarize
from dhbv.network.gauges import (
    build_gauge_subnetworks,
    compute_gauge_subnetworks,
    gauge_membership_dataset,
    gauge_unit_weights,
    read_gauge_table,
)
from dhbv.network.network import Network
from dhbv.network.store import export_ddr_gauge_zarr, export_ddr_zarr, read_network, write_network
from dhbv.network.topology import (
    DEFAULT_MIN_SLOPE,
    Topology,
    accumulate_upstream,
    strahler_order,
    topology_from_coo,
    topology_from_table,
)

__all__ = [
    "DEFAULT_MIN_SLOPE", "GaugeSubnetworks", "Network", "NetworkSummary", "Topology",
    "accumulate_upstream", "build_gauge_subnetworks", "build_network", "build_topology",
    "compute_gauge_subnetworks", "export_ddr_gauge_zarr", "export_ddr_zarr",
    "gauge_membership_dataset", "gauge_unit_weights", "read_gauge_subnetworks",
    "read_gauge_table", "read_network", "strahler_order", "summarize", "topology_from_coo",
    "topology_from_table", "write_network",
]
