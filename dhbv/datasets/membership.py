"""Gauge → unit membership of a dataset (which unit basins drain to each gauge).

Each gauge lists its upstream units with a weight w_u: FLOW_SCALE for the gauge's own unit
(partial-area gauges, docs/network.md), 1 otherwise. The gauge readout
(:mod:`dhbv.readout`) turns unit runoff into gauge flow with these weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dhbv.errors import DhbvInputError


@dataclass
class Membership:
    """Gauge → units table. ``pairs[g]`` = (unit indices into the unit axis, weights w_u)."""

    gauge_ids: list[str]
    unit_ids: list[str]
    unit_area: np.ndarray                     # [U] km², the units' own areas
    pairs: list[tuple[np.ndarray, np.ndarray]]

    @classmethod
    def from_table(cls, gauges, units, weights, gauge_ids, unit_ids, unit_area):
        """Build from parallel arrays of (gauge, unit, weight) pairs (standard membership form)."""
        gauge_ids = [str(g) for g in gauge_ids]
        unit_ids = [str(u) for u in unit_ids]
        uindex = {u: i for i, u in enumerate(unit_ids)}
        by_gauge: dict[str, tuple[list, list]] = {g: ([], []) for g in gauge_ids}
        for g, u, w in zip(gauges, units, weights):
            g, u = str(g), str(u)
            if g not in by_gauge:
                continue
            if u not in uindex:
                raise DhbvInputError(f"membership: unit {u} of gauge {g} has no forcing/attributes; "
                                     "add the unit to the unit forcing file or drop the pair")
            by_gauge[g][0].append(uindex[u])
            by_gauge[g][1].append(float(w))
        pairs = []
        area = np.asarray(unit_area, dtype=np.float64)
        for g in gauge_ids:
            idx, w = by_gauge[g]
            if not idx:
                raise DhbvInputError(f"gauge {g} has no upstream units in the membership table; "
                                     "add its (gauge, unit) pairs or remove the gauge")
            idx = np.asarray(idx, dtype=np.int64)
            w = np.asarray(w, dtype=np.float64)
            if not np.all(np.isfinite(area[idx]) & (area[idx] > 0)):
                raise DhbvInputError(f"gauge {g}: a member unit has a missing or non-positive area; "
                                     "fix the 'area' coordinate of the unit forcing")
            if np.any(w <= 0) or not np.all(np.isfinite(w)):
                raise DhbvInputError(f"gauge {g}: membership weights must be positive and finite")
            pairs.append((idx, w))
        return cls(gauge_ids, unit_ids, area, pairs)

    @classmethod
    def lumped(cls, ids, area):
        """One unit per gauge with the same id (lumped basins)."""
        ids = [str(i) for i in ids]
        return cls.from_table(ids, ids, np.ones(len(ids)), ids, ids, area)

    def n_units(self, gauge_indices) -> int:
        """Number of distinct units upstream of the given gauges."""
        return int(np.unique(np.concatenate([self.pairs[g][0] for g in gauge_indices])).size)
