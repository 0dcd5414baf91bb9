"""Training and simulation batches: which units run, and how they map to the batch's gauges.

A batch is a set of gauges; every distinct upstream unit is simulated once (nested gauges share
units), or once per distinct time window when gauges have their own windows. The batch carries
the area-weight matrix of the area-weighted readout and, when the dataset has a river network,
the CSR subnetwork of its units for channel routing (:mod:`dhbv.readout`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dhbv.datasets.membership import Membership
from dhbv.datasets.network import BatchNetwork
from dhbv.errors import DhbvInputError


@dataclass
class GaugeBatch:
    """One batch of gauges.

    gauges : gauge indices into the dataset (rows of the readout output)
    units : [I] unit index of each simulated instance (columns of the model's unit output)
    starts : [I] time-window start of each instance (per-gauge windows), or None (one window)
    weights : sparse [G, I] area weights w_u·A_u / Σ w·A (rows sum to 1)
    network : CSR subnetwork of the instances when the dataset has a river network, else None
    unit_area : [I] the instances' own areas (km²), for depth → discharge conversions
    members : per gauge, (instance positions [k], membership weights w_u [k]); w_u is
        FLOW_SCALE for the gauge's own unit, 1 otherwise (single-window batches only, else None)
    """

    gauges: list
    units: np.ndarray
    starts: np.ndarray | None
    weights: torch.Tensor
    network: BatchNetwork | None = None
    unit_area: np.ndarray | None = None
    members: list | None = None


def gauge_batch(data, gauge_indices, starts=None, *, dtype=torch.float32,
                device="cpu") -> GaugeBatch:
    """The :class:`GaugeBatch` of ``gauge_indices`` of a dataset (:class:`BasinData`).

    ``starts``: one window start per gauge (time index) for per-gauge windows, else None.
    """
    gauge_indices = [int(g) for g in gauge_indices]
    if starts is None:
        m, units = batch_matrix(data.membership, gauge_indices, dtype=dtype, device=device)
        inst_starts = None
    else:
        m, units, inst_starts = batch_matrix_windows(data.membership, gauge_indices, starts,
                                                     dtype=dtype, device=device)
    net = members = None
    if inst_starts is None:
        pos = np.full(len(data.membership.unit_area), -1, np.int64)
        pos[np.asarray(units)] = np.arange(len(units))
        members = [(pos[data.membership.pairs[g][0]], data.membership.pairs[g][1])
                   for g in gauge_indices]
        if data.network is not None:
            net = data.network.batch(units)
    return GaugeBatch(gauge_indices, np.asarray(units), inst_starts, m, net,
                      np.asarray(data.membership.unit_area)[np.asarray(units)], members)


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
