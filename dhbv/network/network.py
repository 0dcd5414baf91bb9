"""The routing network: topology plus per-reach attributes, aligned with the topological order."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dhbv.network.topology import Topology


@dataclass
class Network(Topology):
    """A river network in topological order with the per-reach arrays routing needs.

    Besides the :class:`~dhbv.network.topology.Topology` arrays (``comid``, ``downstream``,
    ``level``, COO ``indices_0``/``indices_1``, CSR ``indptr``/``indices``) it holds, all of
    length n and aligned with ``comid``:

    length_m : float64 [m]        channel length
    slope_raw : float64 [m/m]     slope as read (MERIT contains zeros)
    slope : float64 [m/m]         ``max(slope_raw, min_slope)``
    uparea : float64 [km²]        drainage area at the reach outlet
    unitarea : float64 [km²]      area of the reach's own unit catchment
    strahler : int32              Strahler order (headwaters 1)

    ``uparea``/``unitarea`` are NaN when the source did not provide them (DDR zarr layout).
    """

    length_m: np.ndarray | None = None
    slope_raw: np.ndarray | None = None
    slope: np.ndarray | None = None
    uparea: np.ndarray | None = None
    unitarea: np.ndarray | None = None
    strahler: np.ndarray | None = None
    min_slope: float = 1e-3
    geodataset: str = "merit"
    source: str = ""
    area_source: str = ""
    notes: list = field(default_factory=list)

    @classmethod
    def from_topology(cls, topo: Topology, **attrs) -> "Network":
        """Wrap a topology (arrays are shared, not copied) with per-reach attributes."""
        base = {f: getattr(topo, f) for f in Topology.__dataclass_fields__}
        return cls(**base, **attrs)

    def index_of(self, comids) -> np.ndarray:
        """Topological index of each COMID; -1 where the COMID is not in the network."""
        comids = np.asarray(comids, dtype=np.int64)
        srt = np.argsort(self.comid, kind="stable")
        cs = self.comid[srt]
        if cs.size == 0:
            return np.full(comids.shape, -1, np.int64)
        pos = np.minimum(np.searchsorted(cs, comids), cs.size - 1)
        return np.where(cs[pos] == comids, srt[pos], -1)

    @property
    def max_upstream(self) -> int:
        """Largest number of direct upstream reaches of any reach (≤ 4 in MERIT)."""
        return int(np.diff(self.indptr).max()) if self.n else 0
