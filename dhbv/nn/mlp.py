"""MLP parameterisation network for the static HBV and unit-hydrograph (UH) parameters
(docs/model.md#mlp).

Architecture (paper defaults, ``n_hidden_layers = 7``, ``hidden_size = 4096``)::

    a [B, n_in] ── Linear(n_in → W) ─ ReLU ─ Dropout(p) ── 6 × [Linear(W → W) ─ ReLU ─ Dropout(p)]
                ── Linear(W → n_out) ── sigmoid

``n_hidden_layers`` counts the Linear+ReLU+Dropout blocks (the first one included); the output
layer comes on top. Dropout is ordinary (inverted) element dropout, active in training mode only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dhbv.errors import DhbvInputError

__all__ = ["StaticMLP"]


class StaticMLP(nn.Module):
    """Fully connected sigmoid-output network mapping static attributes to parameters in (0, 1).

    Parameters
    ----------
    n_inputs:
        Number of static attributes (δHBV2.0: 28).
    n_outputs:
        Output width (δHBV2.0: 13·nmul + 2).
    hidden_size:
        Width W of every hidden layer (paper: 4096).
    n_hidden_layers:
        Number of Linear+ReLU+Dropout blocks (paper: 7 = input layer + 6 hidden layers).
    dropout:
        Dropout probability after each hidden block (paper: 0.5).
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        hidden_size: int = 4096,
        n_hidden_layers: int = 7,
        dropout: float = 0.5,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if n_inputs < 1 or n_outputs < 1 or hidden_size < 1 or n_hidden_layers < 1:
            raise DhbvInputError(
                f"MLP sizes must be positive: n_inputs={n_inputs}, n_outputs={n_outputs}, "
                f"hidden_size={hidden_size}, n_hidden_layers={n_hidden_layers}"
            )
        if not 0.0 <= dropout < 1.0:
            raise DhbvInputError(f"MLP dropout probability must be in [0, 1), got {dropout}")
        factory = {"device": device, "dtype": dtype}
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self.hidden_size = int(hidden_size)
        self.n_hidden_layers = int(n_hidden_layers)
        self.dropout = float(dropout)
        widths = [self.n_inputs] + [self.hidden_size] * self.n_hidden_layers
        self.hidden = nn.ModuleList(
            nn.Linear(widths[k], widths[k + 1], **factory) for k in range(self.n_hidden_layers)
        )
        self.output = nn.Linear(self.hidden_size, self.n_outputs, **factory)
        self.drop = nn.Dropout(self.dropout)

    def extra_repr(self) -> str:
        return f"n_hidden_layers={self.n_hidden_layers}, dropout={self.dropout}"

    def forward(self, a: Tensor) -> Tensor:
        """a [B, n_inputs] normalised attributes → [B, n_outputs] sigmoid outputs in (0, 1)."""
        if a.dim() != 2 or a.shape[-1] != self.n_inputs:
            raise DhbvInputError(f"MLP input must be [B, {self.n_inputs}], got {list(a.shape)}")
        h = a
        for layer in self.hidden:
            h = self.drop(torch.relu(layer(h)))
        return torch.sigmoid(self.output(h))
