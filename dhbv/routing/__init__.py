"""Differentiable Muskingum–Cunge routing on a river network (docs/routing.md).

Public API
----------
RoutingGraph(downstream, length_m, slope, ids=None) / RoutingGraph.from_network(net)
ChannelParameters(n=None, q=None, p=21.0, k=None)
RoutingOptions(geometry="wide", dt=3600, x=0.3, clamp="after", q_min=1e-4, ...)
route(graph, lateral, params, *, options, record_seconds=86400, average_seconds=None,
      day_offset_hours=9, convention="end", state=None, readout=None, x=None,
      lateral_ids=None) -> RoutingResult(mean, state, diagnostics)
hot_start(graph, lateral0, q_min) -> steady-state discharge
"""

from pathlib import Path as _Path

from dhbv.numba_cache import drop_stale as _drop_stale

# before any kernel of this package loads its cached machine code (see dhbv.numba_cache)
_drop_stale(_Path(__file__).parent)

from .diagnostics import RoutingDiagnostics
from .geometry import ChannelParameters, kernel_parameters
from .graph import RoutingGraph
from .options import RoutingOptions
from .solver import RoutingResult, RoutingState, block_schedule, hot_start, route

__all__ = [
    "ChannelParameters", "RoutingDiagnostics", "RoutingGraph", "RoutingOptions",
    "RoutingResult", "RoutingState", "block_schedule", "hot_start", "kernel_parameters", "route",
]
