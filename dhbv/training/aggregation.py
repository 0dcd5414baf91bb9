"""Multiscale aggregation of unit-basin runoff to gauges (model_spec.md §6, δHBV2.0UH).

Q_g(t) = Σ_{u∈U(g)} w_u·A_u·q_u(t) / Σ_{u∈U(g)} w_u·A_u   [mm d-1]

with A_u the unit's own area (km²) and w_u = FLOW_SCALE for the gauge's own unit, 1 otherwise.
Each unit of a batch is simulated once; nested gauges share columns of a sparse gauge × unit
weight matrix.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

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


def batch_matrix(membership: Membership, gauge_indices, dtype=torch.float32, device="cpu"):
    """Sparse [G_batch, U_batch] aggregation matrix and the batch's unit indices.

    Returns (matrix, unit_indices) with ``unit_indices`` the sorted distinct units of the batch
    (each simulated once); row g holds w_u·A_u / Σ w·A over the gauge's units, so rows sum to 1.
    """
    gauge_indices = list(gauge_indices)
    units = np.unique(np.concatenate([membership.pairs[g][0] for g in gauge_indices]))
    col = {u: j for j, u in enumerate(units)}
    rows, cols, vals = [], [], []
    for r, g in enumerate(gauge_indices):
        idx, w = membership.pairs[g]
        wa = w * membership.unit_area[idx]
        wa = wa / wa.sum()
        rows.extend([r] * len(idx))
        cols.extend(col[u] for u in idx)
        vals.extend(wa.tolist())
    m = torch.sparse_coo_tensor(
        torch.tensor([rows, cols], dtype=torch.long), torch.tensor(vals, dtype=dtype),
        size=(len(gauge_indices), len(units)), device=device,
        check_invariants=False).coalesce()
    return m, units


def batch_matrix_windows(membership: Membership, gauge_indices, starts, dtype=torch.float32,
                         device="cpu"):
    """Aggregation matrix for a batch whose gauges have their own time windows.

    ``starts[k]`` is the window start (time index) of gauge ``gauge_indices[k]``. A simulated
    instance is one (unit, start) pair: units shared by gauges with the same window are
    simulated once, the same unit in two windows twice. Returns (matrix [G, I], instance unit
    indices [I], instance starts [I]), instances in order of first appearance (a lumped batch
    gives the identity matrix).
    """
    gauge_indices = list(gauge_indices)
    starts = np.asarray(starts, dtype=np.int64)
    if starts.shape != (len(gauge_indices),):
        raise DhbvInputError(f"batch_matrix_windows: {starts.size} starts for "
                             f"{len(gauge_indices)} gauges")
    col: dict[tuple[int, int], int] = {}
    rows, cols, vals = [], [], []
    for r, (g, s0) in enumerate(zip(gauge_indices, starts.tolist())):
        idx, w = membership.pairs[g]
        wa = w * membership.unit_area[idx]
        wa = wa / wa.sum()
        for u, v in zip(idx.tolist(), wa.tolist()):
            j = col.setdefault((u, s0), len(col))
            rows.append(r)
            cols.append(j)
            vals.append(v)
    keys = np.array(list(col), dtype=np.int64).reshape(-1, 2)
    m = torch.sparse_coo_tensor(
        torch.tensor([rows, cols], dtype=torch.long), torch.tensor(vals, dtype=dtype),
        size=(len(gauge_indices), len(col)), device=device, check_invariants=False).coalesce()
    return m, keys[:, 0], keys[:, 1]


def aggregate(matrix: torch.Tensor, unit_flow: torch.Tensor) -> torch.Tensor:
    """Gauge flow [T, G] from unit flow [T, U] (mm d-1) with a :func:`batch_matrix` matrix."""
    if matrix.shape[0] == matrix.shape[1] and matrix.shape[0] == unit_flow.shape[1] and \
            matrix._nnz() == matrix.shape[0]:
        idx = matrix.indices()
        if torch.equal(idx[0], idx[1]) and torch.all(matrix.values() == 1):
            return unit_flow                                  # lumped batch: identity
    return torch.sparse.mm(matrix, unit_flow.transpose(0, 1)).transpose(0, 1)
