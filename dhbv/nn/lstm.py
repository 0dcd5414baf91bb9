"""LSTM parameterisation network for the dynamic HBV parameters (docs/model.md#lstm).

Architecture (paper defaults)::

    x [T, B, n_in] ── Linear(n_in → H) ── ReLU ── LSTM(H → H, DropConnect p) ── Linear(H → n_out) ── sigmoid

* single-layer LSTM, gate order (i, f, g, o) in the stacked weight matrices, every LSTM weight
  and bias initialised U(−1/√H, +1/√H);
* DropConnect: in training mode one Bernoulli(1 − p) mask is drawn per forward pass for each of
  the input-to-hidden and hidden-to-hidden weight matrices, scaled by 1/(1 − p) and multiplied
  into the weights; the same masked weights are used at every time step. Biases are not masked.
  In evaluation mode the raw weights are used.

The recurrence runs through ``torch.lstm`` (the fused ATen LSTM kernel: cuDNN on CUDA, the
native C++ loop on CPU) with the masked weight tensors passed in as plain arguments, so there is
no Python loop over days and gradients flow to the unmasked parameters through the mask product.

Architecture variants needed to load published weights (see :mod:`dhbv.nn.checkpoint`):
``input_activation="none"`` (input projection without ReLU) and ``input_projection=False``
(the LSTM reads the raw inputs).
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn

from dhbv.errors import DhbvInputError

__all__ = ["DropConnectLSTM", "INPUT_ACTIVATIONS"]

INPUT_ACTIVATIONS = ("relu", "none")


class DropConnectLSTM(nn.Module):
    """Input projection + single-layer LSTM with DropConnect + sigmoid output head.

    Parameters
    ----------
    n_inputs:
        Number of input features per day (δHBV2.0: 3 forcings + 28 attributes = 31).
    n_outputs:
        Output width (δHBV2.0: 3 dynamic parameters × nmul).
    hidden_size:
        LSTM hidden size H (paper: 64); also the width of the input projection.
    dropout:
        DropConnect probability p in [0, 1) on the LSTM weight matrices (paper: 0.5).
    input_projection:
        If True (paper), a Linear(n_inputs → H) layer precedes the LSTM.
    input_activation:
        ``"relu"`` (paper) or ``"none"``: activation after the input projection.
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        hidden_size: int = 64,
        dropout: float = 0.5,
        *,
        input_projection: bool = True,
        input_activation: str = "relu",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if n_inputs < 1 or n_outputs < 1 or hidden_size < 1:
            raise DhbvInputError(
                f"LSTM sizes must be positive: n_inputs={n_inputs}, n_outputs={n_outputs}, "
                f"hidden_size={hidden_size}"
            )
        if not 0.0 <= dropout < 1.0:
            raise DhbvInputError(f"LSTM DropConnect probability must be in [0, 1), got {dropout}")
        if input_activation not in INPUT_ACTIVATIONS:
            raise DhbvInputError(
                f"LSTM input_activation must be one of {INPUT_ACTIVATIONS}, got {input_activation!r}"
            )
        factory = {"device": device, "dtype": dtype}
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self.hidden_size = int(hidden_size)
        self.dropout = float(dropout)
        self.input_projection = bool(input_projection)
        self.input_activation = input_activation

        h = self.hidden_size
        lstm_in = h if self.input_projection else self.n_inputs
        self.linear_in = nn.Linear(self.n_inputs, h, **factory) if self.input_projection else None
        self.weight_ih = nn.Parameter(torch.empty(4 * h, lstm_in, **factory))
        self.weight_hh = nn.Parameter(torch.empty(4 * h, h, **factory))
        self.bias_ih = nn.Parameter(torch.empty(4 * h, **factory))
        self.bias_hh = nn.Parameter(torch.empty(4 * h, **factory))
        self.linear_out = nn.Linear(h, self.n_outputs, **factory)
        self.reset_lstm_parameters()

    def reset_lstm_parameters(self) -> None:
        """Initialise the four LSTM tensors U(−1/√H, +1/√H) (linear layers keep torch defaults)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
                if p.device.type != "meta":
                    p.uniform_(-bound, bound)

    def extra_repr(self) -> str:
        return (
            f"n_inputs={self.n_inputs}, n_outputs={self.n_outputs}, hidden_size={self.hidden_size}, "
            f"dropout={self.dropout}, input_projection={self.input_projection}, "
            f"input_activation={self.input_activation!r}"
        )

    def sample_masks(self) -> tuple[Tensor, Tensor]:
        """Draw one DropConnect mask pair (values 0 or 1/(1 − p)) shaped like W_ih and W_hh.

        Uses the global torch RNG of the weights' device: W_ih's mask is drawn first, then W_hh's.
        """
        keep = 1.0 - self.dropout
        m_ih = torch.empty_like(self.weight_ih, requires_grad=False).bernoulli_(keep).div_(keep)
        m_hh = torch.empty_like(self.weight_hh, requires_grad=False).bernoulli_(keep).div_(keep)
        return m_ih, m_hh

    def project_inputs(self, x: Tensor) -> Tensor:
        """Input projection (+ activation) applied to x [T, B, n_inputs] → [T, B, H or n_inputs]."""
        if self.linear_in is None:
            return x
        z = self.linear_in(x)
        return torch.relu(z) if self.input_activation == "relu" else z

    def recurrent_weights(
        self, masks: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The (W_ih, W_hh, b_ih, b_hh) used in this forward pass.

        ``masks`` given: they are applied. Otherwise in training mode with p > 0 a fresh mask pair
        is drawn (:meth:`sample_masks`); in evaluation mode the raw weights are returned.
        """
        if masks is None and self.training and self.dropout > 0.0:
            masks = self.sample_masks()
        if masks is None:
            return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
        m_ih, m_hh = masks
        return self.weight_ih * m_ih, self.weight_hh * m_hh, self.bias_ih, self.bias_hh

    def forward(
        self,
        x: Tensor,
        state: tuple[Tensor, Tensor] | None = None,
        *,
        masks: tuple[Tensor, Tensor] | None = None,
        return_state: bool = False,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run the network over a window.

        Parameters
        ----------
        x:
            [T, B, n_inputs] normalised inputs (time-major).
        state:
            Optional initial (h0, c0), each [1, B, H]; zeros when omitted.
        masks:
            Optional explicit DropConnect masks (W_ih-shaped, W_hh-shaped); overrides the
            train/eval rule of :meth:`recurrent_weights`.
        return_state:
            Also return the final (h, c), each [1, B, H].

        Returns
        -------
        [T, B, n_outputs] sigmoid outputs in (0, 1) (and the final state if requested).
        """
        if x.dim() != 3 or x.shape[-1] != self.n_inputs:
            raise DhbvInputError(f"LSTM input must be [T, B, {self.n_inputs}], got {list(x.shape)}")
        z = self.project_inputs(x)
        b = x.shape[1]
        if state is None:
            h0 = z.new_zeros(1, b, self.hidden_size)
            state = (h0, h0)
        weights = self.recurrent_weights(masks)
        with warnings.catch_warnings():
            # cuDNN copies non-flattened weights into its buffer each call; with per-pass
            # DropConnect masks that copy is unavoidable, so its warning carries no information.
            warnings.filterwarnings("ignore", message=".*not part of single contiguous chunk.*")
            out, h_n, c_n = torch.lstm(
                z.contiguous(), state, list(weights), True, 1, 0.0, self.training, False, False
            )
        y = torch.sigmoid(self.linear_out(out))
        if return_state:
            return y, (h_n, c_n)
        return y
