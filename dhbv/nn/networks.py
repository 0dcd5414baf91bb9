"""The pair of parameterisation networks of δHBV2.0: LSTM (dynamic) + MLP (static, UH).

:class:`NetworkArchitecture` records every size/shape choice; it is what
:mod:`dhbv.nn.checkpoint` infers from a state dict and what :class:`ParameterNetworks` is built
from. :func:`count_parameters` gives the trainable parameter count analytically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from dhbv.errors import DhbvInputError
from dhbv.nn.lstm import DropConnectLSTM
from dhbv.nn.mlp import StaticMLP
from dhbv.nn.scaling import dynamic_width, split_dynamic, split_static, static_width

__all__ = ["NetworkArchitecture", "ParameterNetworks", "count_parameters"]


@dataclass(frozen=True)
class NetworkArchitecture:
    """Sizes of the two networks.

    ``n_dynamic_inputs`` are the daily forcings seen by the LSTM (P, T, PET → 3);
    ``n_static_inputs`` the attributes (28), seen by the MLP and, repeated in time, by the LSTM.
    Defaults are the paper's (docs/model.md#parameter-networks), except nmul (config value, default 4).
    """

    n_dynamic_inputs: int = 3
    n_static_inputs: int = 28
    nmul: int = 4
    lstm_hidden: int = 64
    mlp_hidden: int = 4096
    mlp_layers: int = 7
    lstm_input_projection: bool = True
    lstm_input_activation: str = "relu"

    def __post_init__(self) -> None:
        for name in (
            "n_dynamic_inputs",
            "n_static_inputs",
            "nmul",
            "lstm_hidden",
            "mlp_hidden",
            "mlp_layers",
        ):
            if int(getattr(self, name)) < 1:
                raise DhbvInputError(
                    f"network architecture: {name} must be ≥ 1, got {getattr(self, name)}"
                )

    @property
    def lstm_inputs(self) -> int:
        """LSTM input width = dynamic + static inputs."""
        return self.n_dynamic_inputs + self.n_static_inputs

    def to_dict(self) -> dict:
        """Plain dict (JSON / ``torch.save(weights_only=True)`` safe)."""
        return asdict(self)


def count_parameters(arch: NetworkArchitecture) -> int:
    """Trainable parameter count of :class:`ParameterNetworks` for ``arch`` (analytic).

    LSTM: [input Linear n_in·H + H] + 4H·(n_lstm_in + H) + 8H + output H·3nmul + 3nmul.
    MLP: n_s·W + W + (L − 1)·(W² + W) + W·(13nmul + 2) + 13nmul + 2.
    """
    h, w, L = arch.lstm_hidden, arch.mlp_hidden, arch.mlp_layers
    n_in = arch.lstm_inputs
    nd, ns = dynamic_width(arch.nmul), static_width(arch.nmul)
    lstm = 0
    if arch.lstm_input_projection:
        lstm += n_in * h + h
        rec_in = h
    else:
        rec_in = n_in
    lstm += 4 * h * (rec_in + h) + 8 * h + h * nd + nd
    mlp = arch.n_static_inputs * w + w + (L - 1) * (w * w + w) + w * ns + ns
    return lstm + mlp


class ParameterNetworks(nn.Module):
    """LSTM + MLP producing the HBV 2.0 parameter arrays in (0, 1).

    Parameters
    ----------
    arch:
        Network sizes.
    lstm_dropout, mlp_dropout:
        DropConnect probability of the LSTM weights and dropout probability of the MLP layers.
    """

    def __init__(
        self,
        arch: NetworkArchitecture,
        lstm_dropout: float = 0.5,
        mlp_dropout: float = 0.5,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.lstm = DropConnectLSTM(
            arch.lstm_inputs,
            dynamic_width(arch.nmul),
            arch.lstm_hidden,
            lstm_dropout,
            input_projection=arch.lstm_input_projection,
            input_activation=arch.lstm_input_activation,
            device=device,
            dtype=dtype,
        )
        self.mlp = StaticMLP(
            arch.n_static_inputs,
            static_width(arch.nmul),
            arch.mlp_hidden,
            arch.mlp_layers,
            mlp_dropout,
            device=device,
            dtype=dtype,
        )

    @property
    def nmul(self) -> int:
        """Number of parallel HBV components."""
        return self.arch.nmul

    def raw_outputs(self, x_dyn_norm: Tensor, x_static_norm: Tensor, n_prefix: int = 0,
                    lstm_state: tuple[Tensor, Tensor] | None = None, mlp_out: Tensor | None = None):
        """Sigmoid outputs before splitting, and the LSTM's final state.

        x_dyn_norm [T, B, n_dyn], x_static_norm [B, n_static] (both normalised) →
        (LSTM output [T, B, 3·nmul], MLP output [B, 13·nmul + 2], final LSTM (h, c), each
        [1, B, H]). ``lstm_state``: the LSTM's initial (h, c) (zeros when None), e.g. the final
        state of the previous period. With gradients enabled, the first ``n_prefix`` days of
        the LSTM run without them (same values, and the hidden state carries over):
        backpropagation through time is truncated there. ``mlp_out``: the MLP output of these
        units from an earlier call (it depends on the attributes only), so the MLP is skipped.
        """
        a = self.arch
        if x_dyn_norm.dim() != 3 or x_dyn_norm.shape[-1] != a.n_dynamic_inputs:
            raise DhbvInputError(
                f"dynamic network input must be [T, B, {a.n_dynamic_inputs}], got {list(x_dyn_norm.shape)}"
            )
        if x_static_norm.dim() != 2 or x_static_norm.shape[-1] != a.n_static_inputs:
            raise DhbvInputError(
                f"static network input must be [B, {a.n_static_inputs}], got {list(x_static_norm.shape)}"
            )
        if x_dyn_norm.shape[1] != x_static_norm.shape[0]:
            raise DhbvInputError(
                f"dynamic inputs have {x_dyn_norm.shape[1]} units but static inputs {x_static_norm.shape[0]}"
            )
        t = x_dyn_norm.shape[0]
        static_t = x_static_norm.unsqueeze(0).expand(t, -1, -1).to(x_dyn_norm.dtype)
        lstm_in = torch.cat([x_dyn_norm, static_t], dim=-1)
        if not (0 < n_prefix < t and torch.is_grad_enabled()):
            out, final = self.lstm(lstm_in, lstm_state, return_state=True)
            return out, self.mlp(x_static_norm) if mlp_out is None else mlp_out, final
        # one DropConnect draw for the whole window, as an unsplit pass would use
        lstm = self.lstm
        masks = lstm.sample_masks() if lstm.training and lstm.dropout > 0.0 else None
        with torch.no_grad():
            head, state = lstm(lstm_in[:n_prefix], lstm_state, masks=masks, return_state=True)
        tail, final = lstm(lstm_in[n_prefix:], state, masks=masks, return_state=True)
        return (torch.cat([head, tail]), self.mlp(x_static_norm) if mlp_out is None else mlp_out,
                final)

    def forward(self, x_dyn_norm: Tensor, x_static_norm: Tensor, n_prefix: int = 0,
                lstm_state: tuple[Tensor, Tensor] | None = None, mlp_out: Tensor | None = None):
        """→ (dyn [T, B, 3, nmul], static [B, 13, nmul], UH parameters [B, 2], all in (0, 1);
        final LSTM (h, c)); see :meth:`raw_outputs` for ``n_prefix``, ``lstm_state`` and
        ``mlp_out``."""
        dyn_out, sta_out, final = self.raw_outputs(x_dyn_norm, x_static_norm, n_prefix,
                                                   lstm_state, mlp_out)
        static, uh_params = split_static(sta_out, self.arch.nmul)
        return split_dynamic(dyn_out, self.arch.nmul), static, uh_params, final
