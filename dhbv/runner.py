"""The run layer shared by training, simulation and the CLI.

Everything that turns a configuration and a dataset into model outputs, without optimising:
choosing the device and thread settings, building :class:`dhbv.model.DeltaHBV` from the
``model`` section, preparing the (gap-filled, normalised) inputs, forward runs over units,
windows and gauge batches, and loading a trained run directory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dhbv.datasets.basin_data import BasinData, stats_name
from dhbv.datasets.batch import gauge_batch
from dhbv.errors import DhbvInputError

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- settings
def resolve_device(spec: str = "auto") -> torch.device:
    """"auto" → CUDA when available, else CPU; otherwise the given device string."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(spec).startswith("cuda") and not torch.cuda.is_available():
        raise DhbvInputError(f"run.device {spec!r} requested but CUDA is not available; use auto or cpu")
    return torch.device(spec)


def configure_backends(run_cfg: dict, threads=None) -> None:
    """Torch threads (``threads`` or ``run.threads``), oneDNN and numba threads of a run."""
    threads = threads or run_cfg.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    torch.backends.mkldnn.enabled = bool(run_cfg.get("mkldnn", False))
    n = run_cfg.get("numba_threads")
    if n:
        import numba

        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


# ----------------------------------------------------------------------------- model
def build_model(model_cfg: dict, n_static: int) -> torch.nn.Module:
    """:class:`dhbv.model.DeltaHBV` from the ``model`` configuration section, or the LSTM
    baseline :class:`dhbv.nn.streamflow_lstm.StreamflowLSTM` when ``model.type`` is lstm."""
    if model_cfg.get("type", "dhbv2") == "lstm":
        from dhbv.nn.streamflow_lstm import StreamflowLSTM

        return StreamflowLSTM.from_config(model_cfg, n_static)
    from dhbv.model import DeltaHBV
    from dhbv.physics.hbv2 import HbvOptions
    from dhbv.readout import readout_options

    return DeltaHBV(len(model_cfg["dynamic_inputs"]), n_static, nmul=int(model_cfg["nmul"]),
                    lstm_hidden=int(model_cfg["lstm_hidden"]),
                    mlp_hidden=int(model_cfg["mlp_hidden"]), mlp_layers=int(model_cfg["mlp_layers"]),
                    dropout=float(model_cfg["dropout"]),
                    options=HbvOptions(**(model_cfg.get("options") or {})),
                    lstm_dropout=model_cfg.get("lstm_dropout"), mlp_dropout=model_cfg.get("mlp_dropout"),
                    dy_drop=float(model_cfg.get("dy_drop") or 0.0),
                    readout=model_cfg.get("readout", "area_weighted"),
                    readout_options=readout_options(model_cfg))


# ----------------------------------------------------------------------------- inputs
@dataclass
class Prepared:
    """Model-ready arrays for all units of a dataset."""

    forcing: np.ndarray        # [T, U, 3] raw P (mm d-1), T (°C), PET (mm d-1); gaps filled
    dyn_norm: np.ndarray       # [T, U, n_dyn] normalised daily network inputs
    static_norm: np.ndarray    # [U, A] normalised attributes
    uparea: np.ndarray         # [U] km²
    elev: np.ndarray           # [U] m


FORCING_GAP_POLICIES = ("error", "interpolate")


def check_forcing_gaps(data: BasinData, s: int, e: int, policy: str, what: str,
                       dynamic_inputs=("P", "T", "PET")):
    """Forcing gaps (NaN) of the days [s, e) the model reads, by ``data.forcing_gaps`` policy.

    ``"error"``: a one-line error naming the first unit, variable and date with a gap.
    ``"interpolate"``: the gaps are reported (log line with counts) and filled by
    :func:`prepare`; returns the gauge days [e − s, G] that read a filled value (to leave out
    of scores and loss), or None when there is no gap.
    """
    if policy not in FORCING_GAP_POLICIES:
        raise DhbvInputError(f"data.forcing_gaps {policy!r}: use one of "
                             f"{', '.join(FORCING_GAP_POLICIES)}")
    names = list(data.forcing_names)
    used = [names.index(v) for v in dict.fromkeys(("P", "T", "PET") + tuple(dynamic_inputs))
            if v in names]
    nan = ~np.isfinite(data.forcing[s:e][..., used])        # [days, U, V]
    if not nan.any():
        return None
    unit_days = nan.any(axis=2)
    t, u, v = np.argwhere(nan)[0]
    first = (f"unit {data.unit_ids[u]}: {names[used[v]]} is NaN on "
             f"{int(nan[:, u, v].sum())} day(s) of the {what} days "
             f"{data.time[s].date()}..{data.time[e - 1].date()}, first {data.time[s + t].date()}")
    if policy == "error":
        raise DhbvInputError(f"{first} ({int(unit_days.any(axis=0).sum())} unit(s) with gaps); "
                             "fill the forcing, or set data.forcing_gaps: interpolate (gap days "
                             "are then filled and left out of the scores)")
    gauge_days = np.zeros((e - s, len(data.gauge_ids)), dtype=bool)
    for g, (idx, _) in enumerate(data.membership.pairs):
        gauge_days[:, g] = unit_days[:, idx].any(axis=1)
    log.warning("forcing gaps filled by linear interpolation (data.forcing_gaps: interpolate): "
                "%d unit-days in %d unit(s) (%s); %d gauge-days left out of the scores",
                int(unit_days.sum()), int(unit_days.any(axis=0).sum()), first,
                int(gauge_days.sum()))
    return gauge_days


def prepare(data: BasinData, stats: dict, dynamic_inputs=("P", "T", "PET")) -> Prepared:
    """Fill forcing gaps (linear in time, per unit) and normalise with ``stats``."""
    from dhbv.nn.normalization import interpolate_nan_time, normalize, normalize_attributes

    names = list(data.forcing_names)
    missing = [v for v in dynamic_inputs if v not in names]
    if missing:
        raise DhbvInputError(f"model.dynamic_inputs: '{missing[0]}' is not a daily variable of "
                             f"the dataset ({', '.join(names)}); add it to the unit forcing")
    filled = interpolate_nan_time(data.forcing, axis=0)
    idx = [names.index(v) for v in dynamic_inputs]
    dyn = normalize(filled[..., idx], [stats_name(v) for v in dynamic_inputs], stats,
                    axis=-1).astype(np.float32)
    raw = np.nan_to_num(filled[..., :3], nan=0.0).astype(np.float32)
    sta = normalize_attributes(data.attributes, data.attribute_names, stats).astype(np.float32)
    return Prepared(raw, dyn, sta, data.uparea.astype(np.float32), data.elev.astype(np.float32))


def input_statistics(data: BasinData, gauge_indices, i0: int, i1: int,
                     dynamic_inputs=("P", "T", "PET")) -> dict:
    """Normalisation statistics over the given gauges' units and time indices [i0, i1]."""
    from dhbv.nn.normalization import compute_statistics

    units = np.unique(np.concatenate([data.membership.pairs[g][0] for g in gauge_indices]))
    f = data.forcing[i0:i1 + 1][:, units]
    names = list(data.forcing_names)
    d = {stats_name(v): f[..., names.index(v)]
         for v in dict.fromkeys(("P", "T", "PET") + tuple(dynamic_inputs))}
    for k, n in enumerate(data.attribute_names):
        d[n] = data.attributes[units, k]
    return compute_statistics(d)


# ----------------------------------------------------------------------------- forward runs
def _nograd_kw(nograd: int) -> dict:
    # passed only when used, so a model_factory model with the plain forward signature works
    return {"nograd_days": int(nograd)} if nograd > 0 else {}


def _run(model, prep: Prepared, u: np.ndarray, dyn_norm: np.ndarray, forcing: np.ndarray,
         warm: int, device, nograd: int = 0) -> torch.Tensor:
    """Unit streamflow for units ``u`` given their [T, U, ·] inputs (normalised and raw)."""
    xs = torch.from_numpy(prep.static_norm[u]).to(device)
    up = torch.from_numpy(prep.uparea[u]).to(device)
    el = torch.from_numpy(prep.elev[u]).to(device)
    return model(torch.from_numpy(dyn_norm).to(device), xs, torch.from_numpy(forcing).to(device),
                 up, el, warmup=int(warm), **_nograd_kw(nograd))["streamflow"]


def run_units(model, prep: Prepared, units, s: int, e: int, warm: int, device,
              nograd: int = 0) -> torch.Tensor:
    """Unit streamflow [e − s − warm, U] (mm d-1) for time indices [s, e) with ``warm`` spin-up
    days (the first ``nograd`` of them without gradients)."""
    u = np.asarray(units)
    return _run(model, prep, u, prep.dyn_norm[s:e][:, u], prep.forcing[s:e][:, u], warm, device,
                nograd)


def run_windows(model, prep: Prepared, units, starts, length: int, warm: int, device,
                nograd: int = 0) -> torch.Tensor:
    """Streamflow [length − warm, I] (mm d-1) of instances i = (units[i], window start
    starts[i]), each run for ``length`` days from its own start with ``warm`` spin-up days
    (the first ``nograd`` of them without gradients)."""
    u = np.asarray(units)
    tidx = np.asarray(starts)[None, :] + np.arange(int(length))[:, None]
    return _run(model, prep, u, prep.dyn_norm[tidx, u[None, :]], prep.forcing[tidx, u[None, :]],
                warm, device, nograd)


def gauge_chunks(data: BasinData, gauges, batch_gauges: int, max_units: int):
    """Consecutive chunks of ``gauges`` with at most ``batch_gauges`` gauges and
    ``max_units`` distinct units each."""
    cur, units = [], set()
    for g in gauges:
        gu = set(data.membership.pairs[g][0].tolist())
        if cur and (len(cur) >= batch_gauges or len(units | gu) > max_units):
            yield cur
            cur, units = [], set()
        cur.append(g)
        units |= gu
    if cur:
        yield cur


def simulate_gauges(model, prep: Prepared, data: BasinData, gauge_indices, s: int, e: int,
                    warm: int, device, batch_gauges: int = 200, max_units: int = 20000) -> np.ndarray:
    """Gauge streamflow [e − s − warm, G] (mm d-1), evaluation mode, no gradients.

    Gauges are processed in chunks; within a chunk every unit is simulated once and the
    model's gauge readout turns unit flow into gauge flow.
    """
    from dhbv.readout import gauge_flow, readout_lead

    gauge_indices = list(gauge_indices)
    out = np.empty((e - s - warm, len(gauge_indices)), dtype=np.float32)
    lead = readout_lead(model, warm)     # spin-up days of a routing readout, inside warm
    model.eval()
    with torch.no_grad():
        for chunk in gauge_chunks(data, gauge_indices, batch_gauges, max_units):
            batch = gauge_batch(data, chunk, device=device)
            q = gauge_flow(model, run_units(model, prep, batch.units, s, e, warm - lead, device),
                           batch, prep.static_norm, lead)
            pos = [gauge_indices.index(g) for g in chunk]
            out[:, pos] = q.cpu().numpy()
    return out


# ----------------------------------------------------------------------------- run directory
def load_run(run_dir, model_factory=None, device="cpu"):
    """(ensemble members in eval mode, resolved config, normalisation statistics) of a run."""
    from dhbv.nn.normalization import load_statistics

    run_dir = Path(run_dir)
    p = run_dir / "model.pt"
    if not p.exists():
        raise DhbvInputError(f"{p} not found; train the model first (dhbv train)")
    if p.is_dir():
        raise DhbvInputError(f"{p} is a folder; the run's weights must be a file written by "
                             "dhbv train")
    try:
        blob = torch.load(p, map_location=device, weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a broken file
        reason = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
        raise DhbvInputError(f"{p} is not a readable dhbv model ({reason}); the file is "
                             "truncated or corrupt: copy it again or retrain (dhbv train)") from None
    keys = ("config", "members", "n_static")
    if not (isinstance(blob, dict) and all(k in blob for k in keys)
            and isinstance(blob["config"], dict) and "model" in blob["config"]):
        raise DhbvInputError(f"{p} is not a dhbv run's model.pt (it lacks "
                             f"{', '.join(keys)}); point --run-dir at a folder written by "
                             "dhbv train")
    configure_backends({k: v for k, v in (blob["config"].get("run") or {}).items()
                        if k != "threads"})
    factory = model_factory or build_model
    models = []
    for i, m in enumerate(blob["members"]):
        net = factory(blob["config"]["model"], int(blob["n_static"])).to(device)
        try:
            net.load_state_dict(m["weights"])
        except (RuntimeError, KeyError, TypeError) as err:
            reason = str(err).splitlines()[0][:100]
            raise DhbvInputError(f"{p}: weights of member {i} do not fit the model its config "
                                 f"describes ({reason}); the file is from another model or "
                                 "version: retrain (dhbv train)") from None
        net.eval()
        models.append(net)
    cfg = dict(blob["config"], _base_dir=blob.get("base_dir", "."))
    stats_path = run_dir / "normalization_statistics.json"
    stats = load_statistics(stats_path)
    mc = blob["config"]["model"]
    need = [stats_name(v) for v in dict.fromkeys(("P", "T", "PET")
                                                 + tuple(mc.get("dynamic_inputs") or ()))]
    need += list(blob.get("attribute_names") or mc.get("attributes") or ())
    missing = [n for n in need if n not in stats]
    if missing:
        raise DhbvInputError(f"{stats_path} lacks '{missing[0]}' ({len(missing)} of the run's "
                             "inputs missing): the file belongs to another run; copy this run's "
                             "own statistics or retrain")
    return models, cfg, stats
