"""Gauge readouts: from the runoff of a batch's units to streamflow at its gauges.

A readout is a module owned by the model, called as ``readout(unit_flow, batch)`` with unit
flow [T, I] (mm d-1, one column per instance of :class:`dhbv.datasets.batch.GaugeBatch`) and
returning gauge flow [T, G] (mm d-1). δHBV2.0UH uses the area-weighted mean of the gauge's
UH-routed unit runoff (docs/model.md#multiscale-gauge-aggregation):

    Q_g(t) = Σ_{u∈U(g)} w_u·A_u·q_u(t) / Σ_{u∈U(g)} w_u·A_u

with A_u the unit's own area (km²) and w_u = FLOW_SCALE for the gauge's own unit, 1 otherwise.
Channel routing on the batch's subnetwork (δHBV2.0MC) plugs in here as another readout.
"""
from __future__ import annotations

import torch
from torch import nn

from dhbv.errors import DhbvInputError


def aggregate(matrix: torch.Tensor, unit_flow: torch.Tensor) -> torch.Tensor:
    """Gauge flow [T, G] from unit flow [T, U] (mm d-1) with a sparse [G, U] weight matrix."""
    if matrix.shape[0] == matrix.shape[1] and matrix.shape[0] == unit_flow.shape[1] and \
            matrix._nnz() == matrix.shape[0]:
        idx = matrix.indices()
        if torch.equal(idx[0], idx[1]) and torch.all(matrix.values() == 1):
            return unit_flow                                  # lumped batch: identity
    return torch.sparse.mm(matrix, unit_flow.transpose(0, 1)).transpose(0, 1)


class AreaWeightedReadout(nn.Module):
    """Gauge flow = area-weighted mean of its units' flow (δHBV2.0UH); no parameters."""

    name = "area_weighted"

    def forward(self, unit_flow: torch.Tensor, batch) -> torch.Tensor:
        """unit_flow [T, I] (mm d-1) → gauge flow [T, G] (mm d-1)."""
        return aggregate(batch.weights, unit_flow)


READOUTS = {AreaWeightedReadout.name: AreaWeightedReadout}


def build_readout(name: str) -> nn.Module:
    """The readout named by ``model.readout``."""
    if name not in READOUTS:
        raise DhbvInputError(f"model.readout {name!r} unknown; use one of {sorted(READOUTS)}")
    return READOUTS[name]()
