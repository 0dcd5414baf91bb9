"""The HBV 2.0 parameters a trained run learns, in physical units and relative to their ranges.

:func:`learned_parameters` runs the parameter networks of every ensemble member over a dataset
and period and returns the descaled parameters (docs/model.md#parameter-ranges): dynamic ones
[member, T, U, nmul], static ones [member, U, nmul], unit-hydrograph ones [member, U].
:func:`range_use` tabulates how much of each parameter's range the fit uses: the share of
values within 2 % of either end (values piled up at one end mean the range, not the data,
decides the fit) and quantiles of the value scaled to [0, 1].
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dhbv.physics.hbv2 import (DYNAMIC_PARAMETERS, PARAMETER_RANGES, STATIC_PARAMETERS,
                               UH_PARAMETERS)

END_BAND = 0.02   # "at an end of the range": scaled value below 2 % or above 98 %


def _scaled(run_dir, dataset=None, period=None, base_dir="."):
    """Network outputs in (0, 1) per parameter (members stacked) and the dataset's unit ids."""
    from dhbv.datasets import dataset_of, load_dataset
    from dhbv.runner import load_run, prepare

    models, cfg, stats = load_run(run_dir)
    mc = cfg["model"]
    base = Path(cfg.get("_base_dir", ".")) if dataset is None else Path(base_dir)
    data = load_dataset(dataset or dataset_of(cfg), mc["attributes"], base_dir=base,
                        dynamic_inputs=mc["dynamic_inputs"])
    period = period or cfg["simulate"]["period"] or cfg["evaluation"]["period"]
    i0, i1 = data.check_period(period[0], period[1], "parameter")
    prep = prepare(data, stats, mc["dynamic_inputs"])
    x_dyn = torch.from_numpy(prep.dyn_norm[i0:i1 + 1])
    x_sta = torch.from_numpy(prep.static_norm)
    out: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for model in models:
            model.eval()
            dyn, sta, uh, _ = model.hbv_parameters(x_dyn, x_sta)
            for k, name in enumerate(DYNAMIC_PARAMETERS):
                out.setdefault(name, []).append(dyn[:, :, k, :].numpy())
            for k, name in enumerate(STATIC_PARAMETERS):
                out.setdefault(name, []).append(sta[:, k, :].numpy())
            for k, name in enumerate(UH_PARAMETERS):
                out.setdefault(name, []).append(uh[:, k].numpy())
    return {k: np.stack(v) for k, v in out.items()}, data.unit_ids


def learned_parameters(run_dir, dataset=None, period=None, base_dir=".") -> dict:
    """Physical parameter values of every member: {name: array}, plus ``unit_ids``.

    ``dataset``: a dataset mapping (default: the run's training dataset); ``period``:
    [start, end] of the dynamic parameters (default: simulate.period, else evaluation.period).
    """
    scaled, unit_ids = _scaled(run_dir, dataset, period, base_dir)
    phys = {}
    for name, v in scaled.items():
        lo, hi = PARAMETER_RANGES[name]
        phys[name] = lo + v * (hi - lo)
    phys["unit_ids"] = list(unit_ids)
    return phys


def range_use(run_dir, dataset=None, period=None, base_dir=".") -> pd.DataFrame:
    """One row per parameter: range, share at the lower/upper end, q10/q50/q90 in [0, 1]."""
    scaled, _ = _scaled(run_dir, dataset, period, base_dir)
    rows = []
    for name, v in scaled.items():
        v = v.ravel()
        lo, hi = PARAMETER_RANGES[name]
        q10, q50, q90 = np.quantile(v, [0.1, 0.5, 0.9])
        rows.append({"parameter": name, "low": lo, "high": hi,
                     "at_low": float((v < END_BAND).mean()),
                     "at_high": float((v > 1 - END_BAND).mean()),
                     "q10": q10, "q50": q50, "q90": q90})
    return pd.DataFrame(rows)
