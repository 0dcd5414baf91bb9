"""The LSTM-only streamflow model: the purely data-driven baseline of the comparison
(docs/evaluation.md#lstm-baseline).

::

    x_dyn_norm [T, B, n_dyn] ─┐
                              ├─ Linear+ReLU ─ LSTM (DropConnect) ─ Linear(H → 1) ─ softplus ─► q [T, B] (mm d-1)
    x_static_norm [B, n_sta] ─┘   (attributes repeated over time)

    unit streamflow [T, I] ─► readout(·, batch) ─► gauge streamflow [T, G]

The same inputs as δHBV2.0's LSTM (the normalised daily forcing of ``model.dynamic_inputs``
and the normalised attributes), the same recurrent cell (:class:`dhbv.nn.lstm.DropConnectLSTM`:
input projection, single-layer LSTM, DropConnect on the recurrent weights), but a linear head
that gives streamflow itself instead of HBV parameters. ``softplus`` keeps the flow
non-negative with a gradient everywhere (q = ln(1 + eᶻ) > 0; z ≪ 0 gives q ≈ eᶻ → 0).

The model has the call signature of :class:`dhbv.model.DeltaHBV`, so the trainer, the run
directory and the simulation path (:mod:`dhbv.runner`) use it unchanged: ``forward`` returns
``{"streamflow": [T − warmup, B], "state": LstmState}`` and ``readout`` turns unit flow into
gauge flow. On a lumped dataset (one unit per gauge) this is the lumped multi-basin LSTM of the
papers' comparisons; on sub-units the gauge flow is the area-weighted mean of the units' LSTM
flows. The raw forcing, upstream area and elevation the physics would read are accepted and
ignored. It has no HBV parameters or fluxes: domain simulations and ``dhbv parameters`` need a
δHBV2.0 run.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from dhbv.errors import DhbvInputError
from dhbv.nn.lstm import DropConnectLSTM
from dhbv.readout import build_readout

__all__ = ["LstmState", "StreamflowLSTM", "MODEL_TYPE"]

#: ``model.type`` value that selects this model.
MODEL_TYPE = "lstm"


@dataclass
class LstmState:
    """What a run carries from one day to the next: the LSTM's (h, c), each [1, B, H]."""

    lstm: tuple[Tensor, Tensor]

    def detach(self) -> "LstmState":
        """The same state cut from the autograd graph."""
        return LstmState((self.lstm[0].detach(), self.lstm[1].detach()))

    def to(self, device) -> "LstmState":
        """The state on ``device``."""
        return LstmState((self.lstm[0].to(device), self.lstm[1].to(device)))


class StreamflowLSTM(nn.Module):
    """LSTM over forcing + attributes with a linear, softplus-bounded streamflow head.

    Parameters
    ----------
    n_dynamic_inputs:
        Normalised daily inputs (P, T, PET → 3).
    n_static_inputs:
        Normalised attributes, repeated over time as further LSTM inputs.
    hidden:
        LSTM hidden size H (and width of the input projection).
    dropout:
        DropConnect probability on the recurrent weight matrices, in [0, 1).
    readout:
        Gauge readout (:func:`dhbv.readout.build_readout`); "area_weighted" (the only one the
        baseline uses: gauge flow = area-weighted mean of its units' flow).
    """

    model_type = MODEL_TYPE

    def __init__(self, n_dynamic_inputs: int, n_static_inputs: int, hidden: int = 64,
                 dropout: float = 0.5, *, readout: str = "area_weighted",
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if int(n_dynamic_inputs) < 1 or int(n_static_inputs) < 0:
            raise DhbvInputError(f"LSTM baseline inputs: {n_dynamic_inputs} daily, "
                                 f"{n_static_inputs} static; need ≥ 1 daily input")
        self.n_dynamic_inputs = int(n_dynamic_inputs)
        self.n_static_inputs = int(n_static_inputs)
        # the recurrent cell of δHBV2.0's LSTM; its output layer Linear(H → 1) is the head
        self.lstm = DropConnectLSTM(self.n_dynamic_inputs + self.n_static_inputs, 1, int(hidden),
                                    float(dropout), device=device, dtype=dtype)
        self.readout = build_readout(readout)

    @classmethod
    def from_config(cls, model_cfg: dict, n_static: int) -> "StreamflowLSTM":
        """The model of a ``model`` configuration section with ``type: lstm``: hidden size
        ``lstm_hidden``, DropConnect ``lstm_dropout`` (else ``dropout``)."""
        p = model_cfg.get("lstm_dropout")
        readout = model_cfg.get("readout") or "area_weighted"
        if readout != "area_weighted":
            raise DhbvInputError(f"model.type lstm reads gauges out by area weighting; "
                                 f"model.readout {readout!r} is for δHBV2.0: set area_weighted")
        return cls(len(model_cfg["dynamic_inputs"]), int(n_static),
                   hidden=int(model_cfg["lstm_hidden"]),
                   dropout=float(model_cfg["dropout"] if p is None else p))

    @property
    def hidden(self) -> int:
        """LSTM hidden size."""
        return self.lstm.hidden_size

    @property
    def arch(self):
        """δHBV2.0 network sizes: none here (a one-line error for domain simulations)."""
        raise DhbvInputError("the run is an LSTM baseline (model.type: lstm): it simulates gauge "
                             "streamflow only, without HBV parameters or fluxes; use a δHBV2.0 "
                             "run for domain simulations and parameter maps")

    def hbv_parameters(self, *args, **kwargs):
        """No HBV parameters: a one-line error (see :attr:`arch`)."""
        return self.arch

    def save(self, path: str | os.PathLike) -> None:
        """Save the weights with the sizes needed to rebuild the model (:meth:`load`)."""
        from dhbv.io.atomic import atomic_path

        blob = {"model_type": MODEL_TYPE, "n_dynamic_inputs": self.n_dynamic_inputs,
                "n_static_inputs": self.n_static_inputs, "hidden": self.hidden,
                "dropout": self.lstm.dropout, "readout": self.readout.name,
                "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location="cpu") -> "StreamflowLSTM":
        """A model written by :meth:`save`."""
        try:
            blob = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means a broken file
            raise DhbvInputError(f"{path} is not a readable LSTM baseline ({type(err).__name__})"
                                 ) from None
        if not isinstance(blob, dict) or blob.get("model_type") != MODEL_TYPE:
            raise DhbvInputError(f"{path} is not an LSTM baseline written by StreamflowLSTM.save")
        model = cls(blob["n_dynamic_inputs"], blob["n_static_inputs"], blob["hidden"],
                    blob["dropout"], readout=blob["readout"])
        model.load_state_dict(blob["state_dict"])
        return model

    # ------------------------------------------------------------------ forward
    def _recurrence(self, z: Tensor, state, masks):
        lstm = self.lstm
        weights = lstm.recurrent_weights(masks)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not part of single contiguous chunk.*")
            out, h_n, c_n = torch.lstm(z.contiguous(), state, list(weights), True, 1, 0.0,
                                       self.training, False, False)
        return out, (h_n, c_n)

    def forward(self, x_dyn_norm: Tensor, x_static_norm: Tensor, forcing_raw: Tensor | None = None,
                uparea: Tensor | None = None, elev: Tensor | None = None, *, warmup: int = 0,
                full_output: bool = False, state: LstmState | None = None,
                nograd_days: int = 0, batch=None) -> dict[str, Any]:
        """Unit streamflow over one window.

        Parameters
        ----------
        x_dyn_norm:
            [T, B, n_dyn] normalised daily inputs.
        x_static_norm:
            [B, n_static] normalised attributes.
        forcing_raw, uparea, elev:
            The physics inputs of :class:`dhbv.model.DeltaHBV`; not used.
        warmup:
            Leading days run but dropped from the output.
        full_output:
            Accepted for signature compatibility; streamflow is the only output.
        state:
            :class:`LstmState` to continue from (a previous window's ``outputs["state"]``);
            None = zero state.
        nograd_days:
            Leading days of the warm-up (at most ``warmup``) run without gradients (truncated
            backpropagation); same values as one pass.
        batch:
            A :class:`dhbv.datasets.batch.GaugeBatch` whose instances are the B columns: the
            output then also holds ``gauge_streamflow`` [T − warmup, G] (the readout's).

        Returns
        -------
        {"streamflow": [T − warmup, B] (mm d-1, > 0), "state": :class:`LstmState`, and
        ``gauge_streamflow`` with ``batch``}.
        """
        t = x_dyn_norm.shape[0]
        if x_dyn_norm.dim() != 3 or x_dyn_norm.shape[-1] != self.n_dynamic_inputs:
            raise DhbvInputError(f"LSTM baseline daily input must be [T, B, "
                                 f"{self.n_dynamic_inputs}], got {list(x_dyn_norm.shape)}")
        if x_static_norm.shape != (x_dyn_norm.shape[1], self.n_static_inputs):
            raise DhbvInputError(f"LSTM baseline static input must be [{x_dyn_norm.shape[1]}, "
                                 f"{self.n_static_inputs}], got {list(x_static_norm.shape)}")
        if not 0 <= int(warmup) < t:
            raise DhbvInputError(f"warmup must be in [0, T) = [0, {t}), got {warmup}")
        if int(nograd_days) < 0:
            raise DhbvInputError(f"nograd_days must be >= 0, got {nograd_days}")
        static_t = x_static_norm.unsqueeze(0).expand(t, -1, -1).to(x_dyn_norm.dtype)
        z = self.lstm.project_inputs(torch.cat([x_dyn_norm, static_t], dim=-1))
        if state is None:
            h0 = z.new_zeros(1, z.shape[1], self.hidden)
            h = (h0, h0)
        else:
            h = state.lstm
        lstm = self.lstm
        # one DropConnect draw for the whole window, whether or not it is split in two
        masks = lstm.sample_masks() if lstm.training and lstm.dropout > 0.0 else None
        n_pre = min(int(nograd_days), int(warmup))
        if n_pre > 0 and torch.is_grad_enabled():
            with torch.no_grad():
                head, h = self._recurrence(z[:n_pre].detach(), h, masks)
            tail, h = self._recurrence(z[n_pre:], h, masks)
            out = torch.cat([head, tail])
        else:
            out, h = self._recurrence(z, h, masks)
        q = nn.functional.softplus(lstm.linear_out(out[int(warmup):])).squeeze(-1)
        result = {"streamflow": q, "state": LstmState(h)}
        if batch is not None:
            result["gauge_streamflow"] = self.readout(q, batch)
        return result
