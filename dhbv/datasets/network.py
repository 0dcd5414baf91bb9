"""The river network over a dataset's units, and the subnetwork of one training batch.

In MERIT-Basins every unit catchment drains into exactly one reach, so a unit is a reach: a
dataset built from the topology stage (``results/network/<domain>/network.nc``) carries, for
each of its units, the unit its reach drains into. Lumped basins are outlets of their own.
Channel routing (Muskingum–Cunge) reads a batch's subnetwork as CSR upstream lists in
topological order (upstream before downstream).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dhbv.errors import DhbvInputError


@dataclass
class UnitNetwork:
    """Downstream links between the units of a dataset.

    downstream : int64 [U]   index of the unit each unit drains into; -1 for an outlet (or a
                             reach draining out of the dataset)
    length_m : float64 [U]   channel length (m); NaN for units without a reach (lumped basins)
    slope : float64 [U]      channel slope (m/m, floored by the topology stage); NaN likewise
    """

    downstream: np.ndarray
    length_m: np.ndarray
    slope: np.ndarray

    @classmethod
    def lumped(cls, n_units: int) -> "UnitNetwork":
        """``n_units`` units that are each their own outlet."""
        nan = np.full(n_units, np.nan)
        return cls(np.full(n_units, -1, np.int64), nan, nan.copy())

    @classmethod
    def from_network(cls, network, unit_ids) -> "UnitNetwork":
        """Links of ``unit_ids`` (COMIDs as text) taken from a topology-stage network."""
        try:
            comids = np.array([int(u) for u in unit_ids], dtype=np.int64)
        except ValueError:
            raise DhbvInputError("dataset units with a river network must be MERIT COMIDs "
                                 "(integers); check the unit ids of the unit forcing") from None
        pos = network.index_of(comids)
        if (pos < 0).any():
            missing = int(comids[np.argmax(pos < 0)])
            raise DhbvInputError(f"unit {missing} is not a reach of the river network "
                                 f"{network.source or ''}; use the network its units come from")
        local = {int(p): i for i, p in enumerate(pos)}
        down = np.array([local.get(int(network.downstream[p]), -1) for p in pos], np.int64)
        return cls(down, np.asarray(network.length_m, np.float64)[pos],
                   np.asarray(network.slope, np.float64)[pos])

    @classmethod
    def concatenate(cls, parts: list["UnitNetwork"]) -> "UnitNetwork":
        """Networks of consecutive unit blocks (sources of one dataset) as one network."""
        offsets = np.cumsum([0] + [len(p.downstream) for p in parts])
        down = np.concatenate([np.where(p.downstream >= 0, p.downstream + o, -1)
                               for p, o in zip(parts, offsets)])
        return cls(down, np.concatenate([p.length_m for p in parts]),
                   np.concatenate([p.slope for p in parts]))

    def subset(self, units) -> "UnitNetwork":
        """The network of the given units (links to units outside the subset become outlets)."""
        units = np.asarray(units, np.int64)
        local = np.full(len(self.downstream), -1, np.int64)
        local[units] = np.arange(units.size)
        d = self.downstream[units]
        return UnitNetwork(np.where(d >= 0, local[np.maximum(d, 0)], -1), self.length_m[units],
                           self.slope[units])

    def batch(self, units) -> "BatchNetwork":
        """CSR subnetwork of the batch units ``units`` (indices into this network)."""
        sub = self.subset(units)
        n = len(sub.downstream)
        order = topological_order(sub.downstream)
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n)
        ups = [[] for _ in range(n)]
        for u in order:                       # upstream lists in topological order
            d = sub.downstream[u]
            if d >= 0:
                ups[d].append(u)
        indptr = np.zeros(n + 1, np.int64)
        indptr[1:] = np.cumsum([len(ups[u]) for u in order])
        indices = np.array([x for u in order for x in ups[u]], np.int64)
        return BatchNetwork(order, indptr, indices, sub.downstream, sub.length_m, sub.slope)


@dataclass
class BatchNetwork:
    """Subnetwork of one batch, in batch unit positions (columns of the batch's unit axis).

    order [U_b]             batch positions in topological order (upstream first)
    indptr [U_b + 1]        CSR row pointers: row k lists the units draining into order[k]
    indices [nnz]           batch positions of those upstream units
    downstream [U_b]        batch position each unit drains into, -1 for an outlet
    length_m, slope [U_b]   channel length (m) and slope (m/m)
    """

    order: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    downstream: np.ndarray
    length_m: np.ndarray
    slope: np.ndarray

    def outlet_of(self, member_positions) -> int:
        """The one unit of a gauge's members that drains out of them (the gauge's reach)."""
        members = np.asarray(member_positions, np.int64)
        inside = np.isin(self.downstream[members], members)
        outs = members[~inside]
        if outs.size != 1:
            raise DhbvInputError(f"a gauge's units drain to {outs.size} outlets; its membership "
                                 "must be one connected subnetwork (rebuild it with "
                                 "build_membership)")
        return int(outs[0])


def topological_order(downstream: np.ndarray) -> np.ndarray:
    """Unit indices with every unit before the unit it drains into (Kahn's algorithm)."""
    n = len(downstream)
    indeg = np.zeros(n, np.int64)
    valid = downstream >= 0
    np.add.at(indeg, downstream[valid], 1)
    stack = list(np.flatnonzero(indeg == 0)[::-1])
    out = []
    while stack:
        u = stack.pop()
        out.append(u)
        d = downstream[u]
        if d >= 0:
            indeg[d] -= 1
            if indeg[d] == 0:
                stack.append(d)
    if len(out) != n:
        raise DhbvInputError("the units' downstream links contain a cycle; rebuild the network "
                             "with build_topology")
    return np.array(out, np.int64)
