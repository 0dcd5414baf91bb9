"""Read parameter-network weights: dhbv's own files and published δMG (``dmg``) state dicts.

Recognised state-dict layouts (names after stripping wrapper prefixes such as ``nn_model.``,
``module.``, ``_orig_mod.``, ``networks.``):

``dmg-lstm-mlp``
    δMG ``LstmMlpModel`` as built by its config loader for δHBV2.0 (module
    ``models/neural_networks/lstm_mlp.py``): ``lstminv.linear_in.*`` (input projection followed
    by ReLU), ``lstminv.lstm.{w_ih,w_hh,b_ih,b_hh}`` (DropConnect LSTM),
    ``lstminv.linear_out.*``, ``ann.i2h.*``, ``ann.h2h1.*`` … ``ann.h2hN.*``, ``ann.h2o.*``.
    This is the paper architecture of docs/model.md#parameter-networks.
``dmg-stack-lstm-mlp``
    the ``LstmMlpModel`` that δMG 1.5.0 exports from ``dmg.models.neural_networks`` (module
    ``stack_lstm_mlp.py``): optional ``in_proj.*`` (projection *without* activation), a
    ``torch.nn.LSTM`` ``lstm_inv.{weight_ih_l0,weight_hh_l0,bias_ih_l0,bias_hh_l0}``,
    ``linear_out.*`` and ``ann.<i>.*`` (``nn.Sequential`` of Linear/ReLU/Dropout, sigmoid last).
``dhbv``
    :class:`~dhbv.nn.networks.ParameterNetworks` keys ``lstm.*`` / ``mlp.*``.

nmul is inferred from the output widths (3·nmul and 13·nmul + 2), all layer sizes from the
weight shapes. Files are read with ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from dhbv.errors import DhbvInputError
from dhbv.nn.networks import NetworkArchitecture, ParameterNetworks
from dhbv.nn.scaling import nmul_from_widths

__all__ = [
    "LAYOUTS",
    "read_state_dict",
    "detect_layout",
    "convert_state_dict",
    "load_networks",
    "save_networks",
]

LAYOUTS = ("dmg-lstm-mlp", "dmg-stack-lstm-mlp", "dhbv")
NATIVE_FORMAT = "dhbv-parameter-networks"
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "nn_trainable", "model")
_PREFIXES = ("module.", "_orig_mod.", "networks.")


def read_state_dict(
    source: str | os.PathLike | Mapping[str, Any],
) -> tuple[dict[str, Tensor], dict]:
    """Load a checkpoint (path or already loaded mapping) → (flat tensor dict, metadata dict).

    Accepts a bare state dict or a dict wrapping one under ``state_dict``, ``model_state_dict``,
    ``nn_trainable`` or ``model``; metadata are the wrapper's other (non-tensor) entries.
    """
    if isinstance(source, (str, os.PathLike)):
        path = str(source)
        if not os.path.exists(path):
            raise DhbvInputError(f"checkpoint file {path} does not exist")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # pickle or format errors: one line for the user
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DhbvInputError(
                f"checkpoint {path} cannot be read as a weights-only torch file: {first}"
            ) from None
        where = path
    else:
        obj, where = source, "checkpoint"
    if not isinstance(obj, Mapping):
        raise DhbvInputError(f"{where} holds a {type(obj).__name__}, expected a state dict")
    meta: dict = {}
    for key in _WRAPPER_KEYS:
        inner = obj.get(key)
        if (
            isinstance(inner, Mapping)
            and inner
            and all(isinstance(v, Tensor) for v in inner.values())
        ):
            meta = {k: v for k, v in obj.items() if k != key}
            obj = inner
            break
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    if not tensors:
        raise DhbvInputError(f"{where} contains no weight tensors")
    return tensors, meta


def _strip_prefixes(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    if any(k.startswith("nn_model.") for k in sd):  # δMG DplModel wrapper: keep the network only
        sd = {k[len("nn_model.") :]: v for k, v in sd.items() if k.startswith("nn_model.")}
    changed = True
    while changed:
        changed = False
        for p in _PREFIXES:
            if sd and all(k.startswith(p) for k in sd):
                sd = {k[len(p) :]: v for k, v in sd.items()}
                changed = True
    return dict(sd)


def detect_layout(sd: Mapping[str, Tensor]) -> str:
    """Name the layout of a (prefix-stripped) state dict; see module docstring."""
    keys = set(sd)
    if "lstminv.lstm.w_ih" in keys and "ann.i2h.weight" in keys:
        return "dmg-lstm-mlp"
    if "lstm_inv.weight_ih_l0" in keys:
        return "dmg-stack-lstm-mlp"
    if "lstm.weight_ih" in keys and "mlp.output.weight" in keys:
        return "dhbv"
    sample = sorted(keys)[:6]
    raise DhbvInputError(
        f"checkpoint layout not recognised (expected δMG LstmMlpModel or dhbv keys); first keys: {sample}"
    )


def _need(sd: Mapping[str, Tensor], key: str, ndim: int) -> Tensor:
    if key not in sd:
        raise DhbvInputError(f"checkpoint lacks tensor {key!r}")
    t = sd[key]
    if t.dim() != ndim:
        raise DhbvInputError(
            f"checkpoint tensor {key!r} has shape {list(t.shape)}, expected {ndim} dimensions"
        )
    return t


def _map_dmg_lstm_mlp(sd: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], str]:
    out = {
        "lstm.linear_in.weight": _need(sd, "lstminv.linear_in.weight", 2),
        "lstm.linear_in.bias": _need(sd, "lstminv.linear_in.bias", 1),
        "lstm.weight_ih": _need(sd, "lstminv.lstm.w_ih", 2),
        "lstm.weight_hh": _need(sd, "lstminv.lstm.w_hh", 2),
        "lstm.bias_ih": _need(sd, "lstminv.lstm.b_ih", 1),
        "lstm.bias_hh": _need(sd, "lstminv.lstm.b_hh", 1),
        "lstm.linear_out.weight": _need(sd, "lstminv.linear_out.weight", 2),
        "lstm.linear_out.bias": _need(sd, "lstminv.linear_out.bias", 1),
        "mlp.hidden.0.weight": _need(sd, "ann.i2h.weight", 2),
        "mlp.hidden.0.bias": _need(sd, "ann.i2h.bias", 1),
        "mlp.output.weight": _need(sd, "ann.h2o.weight", 2),
        "mlp.output.bias": _need(sd, "ann.h2o.bias", 1),
    }
    idx = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"ann\.h2h(\d+)\.weight", k)))
    if idx != list(range(1, len(idx) + 1)):
        raise DhbvInputError(
            f"checkpoint MLP hidden layers ann.h2h<k> are not numbered 1..N: {idx}"
        )
    for k in idx:
        out[f"mlp.hidden.{k}.weight"] = _need(sd, f"ann.h2h{k}.weight", 2)
        out[f"mlp.hidden.{k}.bias"] = _need(sd, f"ann.h2h{k}.bias", 1)
    return out, "relu"


def _map_dmg_stack(sd: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], str | None]:
    out = {
        "lstm.weight_ih": _need(sd, "lstm_inv.weight_ih_l0", 2),
        "lstm.weight_hh": _need(sd, "lstm_inv.weight_hh_l0", 2),
        "lstm.bias_ih": _need(sd, "lstm_inv.bias_ih_l0", 1),
        "lstm.bias_hh": _need(sd, "lstm_inv.bias_hh_l0", 1),
        "lstm.linear_out.weight": _need(sd, "linear_out.weight", 2),
        "lstm.linear_out.bias": _need(sd, "linear_out.bias", 1),
    }
    if any(k.endswith("_l1") or "_reverse" in k for k in sd if k.startswith("lstm_inv.")):
        raise DhbvInputError(
            "checkpoint LSTM has more than one layer or is bidirectional; dhbv supports one forward layer"
        )
    activation = None
    if "in_proj.weight" in sd:
        out["lstm.linear_in.weight"] = _need(sd, "in_proj.weight", 2)
        out["lstm.linear_in.bias"] = _need(sd, "in_proj.bias", 1)
        activation = "none"
    idx = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"ann\.(\d+)\.weight", k)))
    if len(idx) < 2:
        raise DhbvInputError("checkpoint MLP 'ann.<i>' has fewer than two Linear layers")
    for j, i in enumerate(idx[:-1]):
        out[f"mlp.hidden.{j}.weight"] = _need(sd, f"ann.{i}.weight", 2)
        out[f"mlp.hidden.{j}.bias"] = _need(sd, f"ann.{i}.bias", 1)
    out["mlp.output.weight"] = _need(sd, f"ann.{idx[-1]}.weight", 2)
    out["mlp.output.bias"] = _need(sd, f"ann.{idx[-1]}.bias", 1)
    return out, activation


def _infer_architecture(sd: Mapping[str, Tensor], activation: str) -> NetworkArchitecture:
    w_ih, w_hh = sd["lstm.weight_ih"], sd["lstm.weight_hh"]
    four_h, h = w_hh.shape
    if four_h != 4 * h:
        raise DhbvInputError(f"checkpoint LSTM W_hh has shape {list(w_hh.shape)}, expected [4H, H]")
    if (
        w_ih.shape[0] != 4 * h
        or sd["lstm.bias_ih"].shape != (4 * h,)
        or sd["lstm.bias_hh"].shape != (4 * h,)
    ):
        raise DhbvInputError(f"checkpoint LSTM weights/biases do not agree on hidden size {h}")
    projection = "lstm.linear_in.weight" in sd
    if projection:
        w_in = sd["lstm.linear_in.weight"]
        if w_in.shape[0] != h or w_ih.shape[1] != h or sd["lstm.linear_in.bias"].shape != (h,):
            raise DhbvInputError(
                f"checkpoint LSTM input projection {list(w_in.shape)} does not match hidden size {h}"
            )
        n_lstm_in = w_in.shape[1]
    else:
        n_lstm_in = w_ih.shape[1]
    w_out = sd["lstm.linear_out.weight"]
    if w_out.shape[1] != h:
        raise DhbvInputError(
            f"checkpoint LSTM output layer {list(w_out.shape)} does not take hidden size {h}"
        )
    n_layers = sum(1 for k in sd if re.fullmatch(r"mlp\.hidden\.\d+\.weight", k))
    first = sd["mlp.hidden.0.weight"]
    width, n_static = first.shape
    for k in range(1, n_layers):
        wk = sd[f"mlp.hidden.{k}.weight"]
        if tuple(wk.shape) != (width, width):
            raise DhbvInputError(
                f"checkpoint MLP layer {k} has shape {list(wk.shape)}, expected [{width}, {width}]"
            )
    m_out = sd["mlp.output.weight"]
    if m_out.shape[1] != width:
        raise DhbvInputError(
            f"checkpoint MLP output layer {list(m_out.shape)} does not take width {width}"
        )
    nmul = nmul_from_widths(w_out.shape[0], m_out.shape[0])
    n_dyn = n_lstm_in - n_static
    if n_dyn < 1:
        raise DhbvInputError(
            f"checkpoint LSTM reads {n_lstm_in} inputs but the MLP {n_static} attributes; "
            f"the LSTM must read the dynamic inputs plus the attributes"
        )
    return NetworkArchitecture(
        n_dynamic_inputs=int(n_dyn),
        n_static_inputs=int(n_static),
        nmul=int(nmul),
        lstm_hidden=int(h),
        mlp_hidden=int(width),
        mlp_layers=int(n_layers),
        lstm_input_projection=projection,
        lstm_input_activation=activation,
    )


def convert_state_dict(
    sd: Mapping[str, Tensor],
    *,
    lstm_input_activation: str | None = None,
    meta: Mapping | None = None,
) -> tuple[NetworkArchitecture, dict[str, Tensor], str]:
    """Map a state dict of any recognised layout to :class:`ParameterNetworks` names.

    Returns (architecture inferred from the shapes, converted state dict, layout name).
    ``lstm_input_activation`` overrides the activation implied by the layout
    (dmg-lstm-mlp: ReLU; dmg-stack-lstm-mlp: none; dhbv: from the file's metadata, else ReLU).
    """
    sd = _strip_prefixes(sd)
    layout = detect_layout(sd)
    if layout == "dmg-lstm-mlp":
        mapped, activation = _map_dmg_lstm_mlp(sd)
    elif layout == "dmg-stack-lstm-mlp":
        mapped, activation = _map_dmg_stack(sd)
    else:
        mapped = {k: v for k, v in sd.items() if k.startswith(("lstm.", "mlp."))}
        arch_meta = (meta or {}).get("architecture") or {}
        activation = arch_meta.get("lstm_input_activation", "relu")
    if activation is None:
        activation = "relu"
    if lstm_input_activation is not None:
        activation = lstm_input_activation
    arch = _infer_architecture(mapped, activation)
    return arch, mapped, layout


def load_networks(
    source: str | os.PathLike | Mapping[str, Any],
    *,
    lstm_dropout: float = 0.5,
    mlp_dropout: float = 0.5,
    lstm_input_activation: str | None = None,
) -> ParameterNetworks:
    """Build :class:`ParameterNetworks` from a checkpoint file or state dict (weights loaded, CPU).

    Sizes and nmul come from the weight shapes; dropout probabilities are training settings and
    are not stored in δMG files, hence arguments (paper: 0.5 / 0.5).
    """
    tensors, meta = read_state_dict(source)
    arch, mapped, _ = convert_state_dict(
        tensors, lstm_input_activation=lstm_input_activation, meta=meta
    )
    dtype = mapped["lstm.weight_ih"].dtype
    nets = ParameterNetworks(arch, lstm_dropout, mlp_dropout, dtype=dtype)
    expected = nets.state_dict()
    extra = sorted(set(mapped) - set(expected))
    missing = sorted(set(expected) - set(mapped))
    if extra or missing:
        raise DhbvInputError(
            f"checkpoint does not match the inferred networks: unexpected {extra[:4]}, missing {missing[:4]}"
        )
    for k, v in mapped.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise DhbvInputError(
                f"checkpoint tensor for {k} has shape {list(v.shape)}, expected {list(expected[k].shape)}"
            )
    nets.load_state_dict(mapped, strict=True)
    return nets


def save_networks(networks: ParameterNetworks, path: str | os.PathLike) -> None:
    """Write networks as ``{"format", "architecture", "state_dict"}`` (weights-only loadable)."""
    torch.save(
        {
            "format": NATIVE_FORMAT,
            "architecture": networks.arch.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in networks.state_dict().items()},
        },
        str(path),
    )
