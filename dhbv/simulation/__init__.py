"""Run a trained δHBV2.0 model on basins (seen or unseen in training) and write gauge flows.

:func:`simulate` loads a run directory (weights, resolved config, normalisation statistics),
reads a dataset (Caravan, CAMELS or standard forms, see :mod:`dhbv.datasets`), runs the
networks + HBV once per unit and reads the gauges out with the model's readout
(:mod:`dhbv.runner`). :func:`simulate_basins` is the entry of the workflow rule of that name.
Output NetCDF: dims (time, gauge); ``streamflow`` [mm d-1] (ensemble mean), ``observed``
[mm d-1] when observations exist, coord ``area`` [km2] (sum of member unit areas).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.errors import DhbvInputError

log = logging.getLogger(__name__)


def simulate(run_dir, dataset, out_path, period=None, *, obs_out=None, scores_out=None,
             base_dir=".", model_factory=None, device="auto", spinup=None,
             min_days=None, member: int | None = None, gauges=None,
             forcing_gaps: str | None = None) -> Path:
    """Simulate gauge streamflow with a trained run; returns ``out_path``.

    ``dataset``: a dataset mapping (``{"sources": [...]}``, e.g. from
    :func:`dhbv.datasets.dataset_of`), or None (the run's training dataset). ``period``: [start, end] dates (default:
    config ``simulate.period``, else ``evaluation.period``). A spin-up from cold stores precedes
    the period: ``spinup`` days (default: config ``simulate.spinup``, else ``model.warmup``;
    shortened with a warning if the forcing starts later), or ``"full"``: from the first
    forcing day, a continuous simulation.
    ``obs_out``: also write the observations (standard gauge form, mm d-1). ``scores_out``:
    also write per-gauge NSE/KGE (CSV) over ``period``, scoring gauges with at least
    ``min_days`` observed days (default: the run's ``evaluation.min_days``).
    ``forcing_gaps``: "error" or "interpolate" for NaN forcing in the simulated days (default:
    the run's ``data.forcing_gaps``); interpolated gauge days are flagged in the output
    (``forcing_gap_filled``) and left out of the scores. Every input is checked before any
    output is written, and the outputs appear together or not at all.
    """
    import torch

    from dhbv.config import parse_period, parse_spinup
    from dhbv.datasets import dataset_of, load_dataset, select_gauges
    from dhbv.evaluation import GAP_FLAG
    from dhbv.io.atomic import atomic_outputs, check_output_path
    from dhbv.io.standard import make_gauge_observations
    from dhbv.runner import (check_forcing_gaps, load_run, prepare, resolve_device,
                             simulate_gauges)

    spinup = parse_spinup(spinup, "simulate(spinup=...)")
    period = parse_period(period, "simulation period")
    for path, what in ((out_path, "simulation output"), (obs_out, "observations output"),
                       (scores_out, "scores output")):
        if path is not None:
            check_output_path(path, what)
    dev = resolve_device(device)
    models, cfg, stats = load_run(run_dir, model_factory, device=dev)
    if member is not None:
        if not 0 <= int(member) < len(models):
            raise DhbvInputError(f"member {member}: the run has members 0..{len(models) - 1}")
        models = [models[int(member)]]
    mc = cfg["model"]
    base = Path(cfg.get("_base_dir", ".")) if dataset is None else Path(base_dir)
    data = load_dataset(dataset or dataset_of(cfg), mc["attributes"], base_dir=base,
                        dynamic_inputs=mc["dynamic_inputs"])
    data = select_gauges(data, None if gauges is None else [str(g) for g in gauges])
    period = period or cfg["simulate"]["period"] or cfg["evaluation"]["period"]
    if period is None:
        raise DhbvInputError("no simulation period: pass period or set simulate.period")
    i0, i1 = data.check_period(period[0], period[1], "simulation")
    cov0, _ = data.forcing_coverage()
    spinup = spinup if spinup is not None else cfg["simulate"].get("spinup")
    if spinup == "full":
        warm = max(i0 - cov0, 0)
    else:
        warm_cfg = int(cfg["model"]["warmup"] if spinup is None else spinup)
        warm = max(min(warm_cfg, i0 - cov0), 0)
        if warm < warm_cfg:
            log.warning("spin-up shortened to %d days (forcing starts %s)", warm,
                        data.time[cov0].date())
    if forcing_gaps is None:
        forcing_gaps = (cfg.get("data") or {}).get("forcing_gaps", "error")
    gap_days = check_forcing_gaps(data, i0 - warm, i1 + 1, forcing_gaps, "simulation",
                                  mc["dynamic_inputs"])
    prep = prepare(data, stats, mc["dynamic_inputs"])
    gauges = list(range(len(data.gauge_ids)))
    sims = []
    with torch.no_grad():
        for mdl in models:
            sims.append(simulate_gauges(mdl, prep, data, gauges, i0 - warm, i1 + 1, warm, dev,
                                        int(cfg["simulate"]["batch_gauges"]),
                                        int(cfg["train"]["max_units_per_batch"])))
    sim = np.mean(sims, axis=0)
    if not np.isfinite(sim).all():
        bad = data.gauge_ids[int(np.argmax(~np.isfinite(sim).all(axis=0)))]
        raise DhbvInputError(f"simulation of gauge {bad} contains NaN; check its forcing")
    time = data.time[i0:i1 + 1]
    area = np.array([data.membership.unit_area[idx].sum() for idx, _ in data.membership.pairs])
    ds = xr.Dataset(
        {"streamflow": (("time", "gauge"), sim.astype(np.float32),
                        {"units": "mm d-1", "long_name": "simulated gauge streamflow"}),
         "observed": (("time", "gauge"), data.obs[i0:i1 + 1].astype(np.float32),
                      {"units": "mm d-1", "long_name": "observed gauge streamflow"})},
        coords={"time": time, "gauge": np.array(data.gauge_ids, dtype=object),
                "area": ("gauge", area, {"units": "km2"})},
        attrs={"run_dir": str(Path(run_dir).resolve()), "ensemble_members": len(models),
               "member": "all" if member is None else int(member),
               "warmup_days": warm, "sources": "; ".join(data.provenance)})
    if gap_days is not None:
        ds[GAP_FLAG] = (("time", "gauge"), gap_days[warm:].astype(np.int8),
                        {"long_name": "forcing gap filled by interpolation (1); not scored"})
    # every output of the call appears together, or none (e.g. when scoring fails)
    with atomic_outputs(out_path, obs_out, scores_out) as (t_out, t_obs, t_scores):
        ds.to_netcdf(t_out)
        if obs_out:
            make_gauge_observations(time, data.gauge_ids, data.obs[i0:i1 + 1], units="mm d-1",
                                    area=area).to_netcdf(t_obs)
        if scores_out:
            from dhbv.evaluation import score

            score(t_out, t_obs or t_out, t_scores, period,
                  min_days=int(cfg["evaluation"]["min_days"] if min_days is None else min_days))
    return Path(out_path)


def simulate_basins(run_dir, forms: dict, streamflow_out, scores_out, *, period, spinup,
                    min_days, device="auto", forcing_gaps=None) -> Path:
    """Rule ``simulate_basins``: one dataset in the standard ``forms`` ({forcing, attributes,
    observations, membership} files) → gauge flows and scores."""
    from dhbv.io.standard import standard_source

    dataset = {"sources": [standard_source(**forms)]}
    out = simulate(run_dir, dataset, streamflow_out, period, scores_out=scores_out,
                   device=device, spinup=spinup, min_days=min_days, forcing_gaps=forcing_gaps)
    return out


def simulate_fold(run_dir, forms: dict, folds_csv, fold: int, streamflow_out, scores_out, *,
                  period, spinup, min_days, device="auto", forcing_gaps=None) -> Path:
    """Rule ``simulate_fold``: the held-out gauges of a PUB fold with that fold's model."""
    from dhbv.io.standard import standard_source
    from dhbv.training.folds import fold_gauges, read_folds

    _, held_out = fold_gauges(read_folds(folds_csv), fold)
    dataset = {"sources": [standard_source(**forms)]}
    return simulate(run_dir, dataset, streamflow_out, period, scores_out=scores_out,
                    device=device, spinup=spinup, min_days=min_days, gauges=held_out,
                    forcing_gaps=forcing_gaps)
