"""Training configuration: defaults, loading, validation and the resolved-config file.

A training config is a mapping with sections ``run``, ``data``, ``model``, ``train``,
``simulate`` and ``evaluation`` (see :data:`DEFAULTS`; the YAML files under ``config/`` are
examples). :func:`resolve_config` deep-merges a user mapping over the defaults, validates it and
returns a new dict; :func:`write_resolved_config` stores it (YAML) in a run directory.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import yaml

from dhbv.errors import DhbvInputError

PAPER_ATTRIBUTES_CAMELS = [
    # δHBV2.0 names with a CAMELS-US equivalent (dhbv.io.camels.CAMELS_ATTRIBUTE_MAP) or
    # derived from forcing (meanTa, ETPOT_Hargr)
    "aridity", "meanP", "ETPOT_Hargr", "NDVI", "meanslope", "SoilGrids1km_sand",
    "SoilGrids1km_clay", "SoilGrids1km_silt", "meanelevation", "meanTa", "permeability",
    "seasonality_P", "snow_fraction", "Porosity", "uparea",
]

DEFAULTS: dict = {
    "run": {"name": "dhbv", "seed": 0, "device": "auto", "threads": None,
            # oneDNN (mkldnn) CPU kernels re-pack the DropConnect LSTM weights on every call
            # (new mask each forward), which is slow and erratic; off by default.
            "mkldnn": False,
            # threads of numba-parallel physics kernels; >1 oversubscribes small CPUs (spinning
            # OpenMP workers stall the sequential LSTM), so 1 unless the machine is idle
            "numba_threads": 1},
    "data": {"sources": [], "train_gauges": None},
    "model": {
        "attributes": PAPER_ATTRIBUTES_CAMELS,
        "nmul": 4, "lstm_hidden": 64, "mlp_hidden": 4096, "mlp_layers": 7, "dropout": 0.5,
        "lstm_dropout": None, "mlp_dropout": None, "dy_drop": 0.0,
        "warmup": 365,
        "options": {},                 # HbvOptions fields (exchange, elev_threshold, backend ...)
        "statistics": None,            # existing normalisation JSON; None = compute (training)
    },
    "train": {
        "period": ["1980-10-01", "1995-09-30"],
        "validation_period": None,      # held-out part of the training years (early stopping)
        "rho": 365, "min_warmup": 180,
        "warmup_grad": None,            # last days of the spin-up with gradients; None = all
        "batch_gauges": 100, "max_units_per_batch": 5000,
        "iterations_per_epoch": "auto", "epochs": 100,
        "optimizer": "adadelta", "lr": 1.0, "weight_decay": 0.0,
        "lr_schedule": "none",          # none | cosine | step
        "lr_step_epochs": 30, "lr_gamma": 0.5, "lr_min": 0.0,
        "grad_clip": None,
        "loss": "rmse_comb", "loss_alpha": 0.25, "loss_beta": 1.0e-6,
        "checkpoint_every": 5, "checkpoint_every_steps": None,
        "validate_every": 1, "early_stopping_patience": None,
        "ensemble": 1, "progress": True,
        "parallel_members": 1,          # ensemble members trained at once in worker processes
        "window_sampling": "per_batch",  # per_batch: one window per step; per_gauge: one per gauge
        "max_minutes": None,            # wall-clock budget per ensemble member (stops after the epoch)
    },
    # spinup: days run before simulate.period from cold stores; None = model.warmup; "full" =
    # from the first forcing day (a continuous simulation, as the paper's 1980-2020 product)
    "simulate": {"period": None, "batch_gauges": 200, "spinup": None},
    "evaluation": {"period": ["1995-10-01", "2014-09-30"], "min_days": 365},
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "options":
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _period(p, name):
    if p is None:
        return None
    if not (isinstance(p, (list, tuple)) and len(p) == 2):
        raise DhbvInputError(f"config {name} must be [start, end] dates, got {p!r}")
    try:
        a, b = pd.Timestamp(str(p[0])), pd.Timestamp(str(p[1]))
    except ValueError:
        raise DhbvInputError(f"config {name}: cannot parse dates {p!r}; use YYYY-MM-DD") from None
    if b < a:
        raise DhbvInputError(f"config {name}: end {b.date()} is before start {a.date()}")
    return [str(a.date()), str(b.date())]


def _overlap(a, b) -> bool:
    return pd.Timestamp(a[0]) <= pd.Timestamp(b[1]) and pd.Timestamp(b[0]) <= pd.Timestamp(a[1])


def parse_spinup(value, name: str = "simulate.spinup"):
    """A simulation spin-up: None (model.warmup), days ≥ 0 (int or digit string) or "full"."""
    if value is None or value == "full":
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise DhbvInputError(f"{name} {value!r}: use null (model.warmup), a number of days ≥ 0, "
                         "or 'full' (from the first forcing day)")


def resolve_config(cfg: dict) -> dict:
    """Merge ``cfg`` over :data:`DEFAULTS` and validate; returns a new, complete dict."""
    unknown = set(cfg or {}) - set(DEFAULTS)
    if unknown:
        raise DhbvInputError(f"config: unknown top-level key(s) {sorted(unknown)}; allowed "
                             f"{sorted(DEFAULTS)}")
    c = _merge(DEFAULTS, cfg or {})
    for sec in ("run", "model", "train", "simulate", "evaluation"):
        bad = set(c[sec]) - set(DEFAULTS[sec])
        if bad:
            raise DhbvInputError(f"config {sec}: unknown key(s) {sorted(bad)}; allowed "
                                 f"{sorted(DEFAULTS[sec])}")
    t = c["train"]
    t["period"] = _period(t["period"], "train.period")
    t["validation_period"] = _period(t["validation_period"], "train.validation_period")
    c["evaluation"]["period"] = _period(c["evaluation"]["period"], "evaluation.period")
    c["simulate"]["period"] = _period(c["simulate"]["period"], "simulate.period")
    ev = c["evaluation"]["period"]
    if ev and _overlap(t["period"], ev):
        raise DhbvInputError(f"config: train.period {t['period']} overlaps evaluation.period {ev}; "
                             "training windows must never touch the evaluation period")
    vp = t["validation_period"]
    if vp and ev and _overlap(vp, ev):
        raise DhbvInputError("config: train.validation_period overlaps evaluation.period")
    for k in ("rho", "epochs", "batch_gauges", "max_units_per_batch", "ensemble", "checkpoint_every",
              "parallel_members"):
        if int(t[k]) < 1:
            raise DhbvInputError(f"config train.{k} must be ≥ 1, got {t[k]}")
    if t["optimizer"] not in ("adadelta", "adam", "adamw"):
        raise DhbvInputError(f"config train.optimizer {t['optimizer']!r}: use adadelta, adam or adamw")
    if t["lr_schedule"] not in ("none", "cosine", "step"):
        raise DhbvInputError(f"config train.lr_schedule {t['lr_schedule']!r}: use none, cosine or step")
    if t["window_sampling"] not in ("per_batch", "per_gauge"):
        raise DhbvInputError(f"config train.window_sampling {t['window_sampling']!r}: use "
                             "per_batch or per_gauge")
    if t["loss"] not in ("rmse_comb", "nse"):
        raise DhbvInputError(f"config train.loss {t['loss']!r}: use rmse_comb or nse")
    if c["run"]["device"] not in ("auto", "cpu", "cuda") and not str(c["run"]["device"]).startswith("cuda:"):
        raise DhbvInputError(f"config run.device {c['run']['device']!r}: use auto, cpu or cuda")
    if int(c["model"]["warmup"]) < 0:
        raise DhbvInputError("config model.warmup must be ≥ 0 days")
    wg = t["warmup_grad"]
    if wg is not None and (isinstance(wg, bool) or not isinstance(wg, int) or wg < 0):
        raise DhbvInputError(f"config train.warmup_grad {wg!r}: use null (the whole spin-up "
                             "carries gradients) or a number of days ≥ 0")
    c["simulate"]["spinup"] = parse_spinup(c["simulate"]["spinup"], "config simulate.spinup")
    if not isinstance(c["data"].get("sources"), list) or not c["data"]["sources"]:
        raise DhbvInputError("config data.sources must list at least one source")
    return c


def load_config(path) -> dict:
    """Read a YAML config file (not yet resolved)."""
    p = Path(path)
    if not p.exists():
        raise DhbvInputError(f"config file {p} not found")
    with open(p) as fh:
        cfg = yaml.safe_load(fh) or {}
    if not isinstance(cfg, dict):
        raise DhbvInputError(f"config file {p} must hold a mapping")
    return cfg


def write_resolved_config(cfg: dict, path) -> Path:
    """Write the resolved config as YAML (atomic)."""
    from dhbv.io.standard import write_text_atomic

    return write_text_atomic(yaml.safe_dump(cfg, sort_keys=False), path)
