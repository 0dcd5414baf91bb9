"""δHBV2.0 model: parameterisation networks + HBV 2.0 physics (docs/model.md).

::

    x_dyn_norm [T, B, n_dyn] ─┐
                              ├─ LSTM ─► dyn [T, B, 3, nmul] ───┐
    x_static_norm [B, n_sta] ─┼─ MLP ──► static [B, 13, nmul] ──┼─► run_hbv2(raw forcing, …) ─► unit outputs
                              │          UH [B, 2] ─────────────┘
    unit streamflow [T, I] ─► readout(·, batch) ─► gauge streamflow [T, G]
                              (area-weighted mean, δHBV2.0UH; or Muskingum–Cunge routing on the
                               batch's subnetwork with learned n, q, δHBV2.0MC)

The LSTM reads the normalised daily inputs (``model.dynamic_inputs``, default P, T, PET)
concatenated with the normalised attributes repeated over time; the MLP reads the attributes
only. The physics receives the raw forcing (P mm/d, T °C, PET mm/d), the upstream area (km²) and
the elevation (m) of every unit. The model owns its gauge readout (:mod:`dhbv.readout`). A run
continues exactly from a :class:`ModelState` (LSTM h/c, HBV stores, UH history, and the
routing state of a routed batch): a period split in two runs equals the unsplit run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from dhbv.errors import DhbvInputError
from dhbv.nn.checkpoint import load_networks, save_networks
from dhbv.nn.networks import NetworkArchitecture, ParameterNetworks
from dhbv.nn.scaling import DYNAMIC_LAYOUT, apply_dy_drop, canonical_dynamic_order
from dhbv.physics.hbv2 import HbvOptions, run_hbv2
from dhbv.readout import build_readout

__all__ = ["DeltaHBV", "ModelState"]


@dataclass
class ModelState:
    """Everything a run carries from one day to the next, per unit (batch column).

    lstm : (h, c), each [1, B, H], the LSTM's hidden and cell state
    hbv : [5, B, nmul] HBV stores (mm) in ``dhbv.physics.STATE_NAMES`` order
    uh_history : [L − 1, B, 3] unrouted Q0, Q1, Q2 (mm/d) of the last L − 1 days, oldest first
    mlp_out : optional [B, 13·nmul + 2] MLP output (it depends on the attributes only), kept in
        evaluation mode so that a continued run skips the MLP; None in training mode
    routing : :class:`dhbv.routing.RoutingState` of the batch's subnetwork (discharge of every
        reach, m³ s-1, and the unfinished daily mean) after a run with a routing readout and a
        ``batch``; None otherwise
    """

    lstm: tuple[Tensor, Tensor]
    hbv: Tensor
    uh_history: Tensor
    mlp_out: Tensor | None = None
    routing: Any = None

    def _routing_map(self, fn):
        if self.routing is None:
            return None
        from dhbv.routing import RoutingState

        r = self.routing
        return RoutingState(fn(r.discharge), fn(r.pending), r.pending_count, r.to_skip)

    def detach(self) -> "ModelState":
        """The same state cut from the autograd graph."""
        return ModelState((self.lstm[0].detach(), self.lstm[1].detach()), self.hbv.detach(),
                          self.uh_history.detach(),
                          None if self.mlp_out is None else self.mlp_out.detach(),
                          self._routing_map(lambda t: t.detach()))

    def to(self, device) -> "ModelState":
        """The state on ``device``."""
        return ModelState((self.lstm[0].to(device), self.lstm[1].to(device)),
                          self.hbv.to(device), self.uh_history.to(device),
                          None if self.mlp_out is None else self.mlp_out.to(device),
                          self._routing_map(lambda t: t.to(device)))


class DeltaHBV(nn.Module):
    """Differentiable HBV 2.0 with LSTM (dynamic) and MLP (static) parameterisation.

    Parameters
    ----------
    n_dynamic_inputs:
        Normalised daily inputs of the LSTM besides the attributes (P, T, PET → 3).
    n_static_inputs:
        Normalised attributes (paper: 28).
    nmul:
        Parallel HBV components per unit (default 4; published weights: inferred).
    lstm_hidden, mlp_hidden, mlp_layers:
        LSTM hidden size (64), MLP width (4096) and number of MLP hidden blocks (7).
    dropout:
        Default for both the LSTM DropConnect and the MLP dropout probabilities (0.5).
    options:
        Physics options passed to :func:`dhbv.physics.hbv2.run_hbv2`.
    lstm_dropout, mlp_dropout:
        Override ``dropout`` per network.
    lstm_input_projection, lstm_input_activation:
        Input Linear layer before the LSTM and its activation (``"relu"`` paper, ``"none"``).
    dy_drop:
        Probability of the ``dy_drop`` regulariser (training only; 0 in δHBV2.0).
    dynamic_parameters:
        Configured dynamic parameter names (any order; validated and re-sorted to
        BETA, K0, BETAET).
    readout:
        Gauge readout (:func:`dhbv.readout.build_readout`); "area_weighted" (δHBV2.0UH) or
        "muskingum_cunge" (δHBV2.0MC: routing on the batch's subnetwork).
    readout_options:
        Keyword options of the readout (e.g. ``attribute_index`` of the routing network).
    """

    def __init__(
        self,
        n_dynamic_inputs: int,
        n_static_inputs: int,
        nmul: int = 4,
        lstm_hidden: int = 64,
        mlp_hidden: int = 4096,
        mlp_layers: int = 7,
        dropout: float = 0.5,
        options: HbvOptions = HbvOptions(),
        *,
        lstm_dropout: float | None = None,
        mlp_dropout: float | None = None,
        lstm_input_projection: bool = True,
        lstm_input_activation: str = "relu",
        dy_drop: float = 0.0,
        dynamic_parameters: Sequence[str] = DYNAMIC_LAYOUT,
        readout: str = "area_weighted",
        readout_options: Mapping[str, Any] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        arch = NetworkArchitecture(
            n_dynamic_inputs=int(n_dynamic_inputs),
            n_static_inputs=int(n_static_inputs),
            nmul=int(nmul),
            lstm_hidden=int(lstm_hidden),
            mlp_hidden=int(mlp_hidden),
            mlp_layers=int(mlp_layers),
            lstm_input_projection=bool(lstm_input_projection),
            lstm_input_activation=lstm_input_activation,
        )
        if not 0.0 <= dy_drop <= 1.0:
            raise DhbvInputError(f"dy_drop must be in [0, 1], got {dy_drop}")
        self.dynamic_parameters = canonical_dynamic_order(dynamic_parameters)
        self.options = options
        self.dy_drop = float(dy_drop)
        self.networks = ParameterNetworks(
            arch,
            dropout if lstm_dropout is None else lstm_dropout,
            dropout if mlp_dropout is None else mlp_dropout,
            device=device,
            dtype=dtype,
        )
        self.readout = build_readout(readout, **dict(readout_options or {}))
        if device is not None or dtype is not None:
            self.readout.to(device=device, dtype=dtype)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_networks(
        cls,
        networks: ParameterNetworks,
        options: HbvOptions = HbvOptions(),
        *,
        dy_drop: float = 0.0,
    ) -> "DeltaHBV":
        """Wrap already built (e.g. loaded) :class:`ParameterNetworks` without copying weights."""
        if not 0.0 <= dy_drop <= 1.0:
            raise DhbvInputError(f"dy_drop must be in [0, 1], got {dy_drop}")
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model.dynamic_parameters = DYNAMIC_LAYOUT
        model.options = options
        model.dy_drop = float(dy_drop)
        model.networks = networks
        model.readout = build_readout("area_weighted")
        return model

    @classmethod
    def from_checkpoint(
        cls,
        source: str | os.PathLike | Mapping[str, Any],
        options: HbvOptions = HbvOptions(),
        *,
        dropout: float = 0.5,
        lstm_dropout: float | None = None,
        mlp_dropout: float | None = None,
        dy_drop: float = 0.0,
        lstm_input_activation: str | None = None,
    ) -> "DeltaHBV":
        """Build a model from a checkpoint file or state dict (dhbv or published δMG weights).

        nmul, network sizes and the number of dynamic inputs (LSTM inputs − attributes) are
        inferred from the tensor shapes; see :mod:`dhbv.nn.checkpoint` for the layouts.
        """
        nets = load_networks(
            source,
            lstm_dropout=dropout if lstm_dropout is None else lstm_dropout,
            mlp_dropout=dropout if mlp_dropout is None else mlp_dropout,
            lstm_input_activation=lstm_input_activation,
        )
        return cls.from_networks(nets, options, dy_drop=dy_drop)

    def save(self, path: str | os.PathLike) -> None:
        """Save network weights and architecture (readable by :meth:`from_checkpoint`)."""
        save_networks(self.networks, path)

    # ------------------------------------------------------------------ properties
    @property
    def arch(self) -> NetworkArchitecture:
        """Network sizes (nmul, widths, input counts)."""
        return self.networks.arch

    @property
    def nmul(self) -> int:
        """Parallel HBV components per unit."""
        return self.networks.arch.nmul

    # ------------------------------------------------------------------ forward
    def hbv_parameters(
        self, x_dyn_norm: Tensor, x_static_norm: Tensor, n_prefix: int = 0,
        lstm_state: tuple[Tensor, Tensor] | None = None, mlp_out: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, tuple[Tensor, Tensor]]:
        """Network outputs in the physics layout, all in (0, 1), and the final LSTM state.

        x_dyn_norm [T, B, n_dyn], x_static_norm [B, n_static] →
        (dyn [T, B, 3, nmul], static [B, 13, nmul], UH parameters [B, 2], (h, c));
        ``dy_drop`` applied in training mode. The LSTM starts from ``lstm_state`` (zeros when
        None); its first ``n_prefix`` days carry no gradient. ``mlp_out``: an earlier MLP
        output of these units (the MLP is skipped).
        """
        dyn, static, uh_params, final = self.networks(x_dyn_norm, x_static_norm, n_prefix,
                                                      lstm_state, mlp_out)
        if self.training and self.dy_drop > 0.0:
            dyn = apply_dy_drop(dyn, self.dy_drop)
        return dyn, static, uh_params, final

    def forward(
        self,
        x_dyn_norm: Tensor,
        x_static_norm: Tensor,
        forcing_raw: Tensor,
        uparea: Tensor,
        elev: Tensor,
        *,
        warmup: int = 0,
        full_output: bool = False,
        state: ModelState | None = None,
        nograd_days: int = 0,
        batch=None,
    ) -> dict[str, Any]:
        """Run networks and physics over one window.

        Parameters
        ----------
        x_dyn_norm:
            [T, B, n_dyn] normalised daily inputs (``model.dynamic_inputs``).
        x_static_norm:
            [B, n_static] normalised attributes.
        forcing_raw:
            [T, B, 3] raw P (mm/d), T (°C), PET (mm/d) for the physics.
        uparea, elev:
            [B] upstream drainage area (km²) and mean elevation (m) of each unit.
        warmup:
            Leading days run but dropped from the outputs.
        full_output:
            Passed to :func:`run_hbv2` (fluxes and states per day).
        state:
            The :class:`ModelState` to start from (a previous window's ``outputs["state"]``
            continues it exactly); None = cold start (zero LSTM state, HBV stores at their
            initial value, no UH history).
        nograd_days:
            Leading days of the warm-up (at most ``warmup``) run without gradients when
            gradients are enabled: networks and physics give the same values as one pass, the
            states and the UH history carry over, but backpropagation stops there (cheaper
            long spin-ups). 0: one pass with gradients throughout.
        batch:
            A :class:`dhbv.datasets.batch.GaugeBatch` whose instances are the B columns: the
            readout runs too and ``gauge_streamflow`` [T − warmup, G] (mm/d) is returned. A
            routing readout spins up over the last ``readout.lead_days`` days of the warm-up
            (hot start there) or, when ``state`` carries a routing state, continues it over
            the whole window; the routing state is returned in ``state.routing``.

        Returns
        -------
        :func:`run_hbv2`'s dict (``streamflow``, ``runoff``, ``AET`` [T − warmup, B] (mm/d), …)
        with ``state``, the :class:`ModelState` at the end of the window.
        """
        if forcing_raw.dim() != 3 or forcing_raw.shape[-1] != 3:
            raise DhbvInputError(
                f"raw forcing must be [T, B, 3] (P, T, PET), got {list(forcing_raw.shape)}"
            )
        if forcing_raw.shape[:2] != x_dyn_norm.shape[:2]:
            raise DhbvInputError(
                f"raw forcing {list(forcing_raw.shape[:2])} and normalised inputs "
                f"{list(x_dyn_norm.shape[:2])} differ in [T, B]"
            )
        b = forcing_raw.shape[1]
        for name, v in (("uparea", uparea), ("elev", elev)):
            if v.dim() != 1 or v.shape[0] != b:
                raise DhbvInputError(f"{name} must be [B] = [{b}], got {list(v.shape)}")
        if not 0 <= int(warmup) < forcing_raw.shape[0]:
            raise DhbvInputError(
                f"warmup must be in [0, T) = [0, {forcing_raw.shape[0]}), got {warmup}"
            )
        n_pre = min(int(nograd_days), int(warmup))
        if n_pre < 0:
            raise DhbvInputError(f"nograd_days must be >= 0, got {nograd_days}")
        truncated = n_pre > 0 and torch.is_grad_enabled()
        n_pre = n_pre if truncated else 0
        lstm0, hbv0, uh0 = (None, None, None) if state is None else \
            (state.lstm, state.hbv, state.uh_history)
        mlp_out = None if state is None else state.mlp_out
        if mlp_out is None and not self.training:   # kept in the state: a continuation skips it
            mlp_out = self.networks.mlp(x_static_norm)
        dyn, static, uh_params, lstm_final = self.hbv_parameters(x_dyn_norm, x_static_norm,
                                                                 n_pre, lstm0, mlp_out)
        if truncated:
            with torch.no_grad():
                head = run_hbv2(forcing_raw[:n_pre], dyn[:n_pre], static, uh_params, uparea,
                                elev, options=self.options, initial_states=hbv0,
                                initial_uh_history=uh0)
            forcing_raw, dyn = forcing_raw[n_pre:], dyn[n_pre:]
            hbv0, uh0 = head["final_states"], head["final_uh_history"]
        r_state = None if state is None else state.routing
        lead = 0
        if batch is not None and hasattr(self.readout, "run"):
            if r_state is not None and n_pre:
                raise DhbvInputError("nograd_days cannot be used when continuing a routing "
                                     "state: the router needs the whole window's runoff")
            lead = int(warmup) if r_state is not None else \
                min(int(getattr(self.readout, "lead_days", 0)), int(warmup) - n_pre)
            if lead and full_output:
                raise DhbvInputError("full_output cannot be combined with a routed batch whose "
                                     "readout spins up in the warm-up; run the readout apart")
        out = run_hbv2(forcing_raw, dyn, static, uh_params, uparea, elev,
                       warmup=int(warmup) - n_pre - lead, options=self.options,
                       full_output=full_output, initial_states=hbv0, initial_uh_history=uh0)
        if batch is not None:
            q = out["streamflow"]
            if hasattr(self.readout, "run"):
                out["gauge_streamflow"], r_state = self.readout.run(
                    q, batch, lead=lead, attributes=x_static_norm, state=r_state)
            else:
                out["gauge_streamflow"] = self.readout(q, batch)
            for k in ("streamflow", "runoff", "AET"):
                out[k] = out[k][lead:]
        out["state"] = ModelState(lstm_final, out["final_states"], out["final_uh_history"],
                                  mlp_out, r_state)
        return out
