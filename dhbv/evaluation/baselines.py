"""The LSTM-only baseline of the model comparison: trained and simulated like δHBV2.0
(docs/evaluation.md#lstm-baseline).

A model ``{source: lstm}`` of ``evaluation.models`` is a :class:`dhbv.nn.streamflow_lstm.
StreamflowLSTM` trained by the same trainer (:func:`dhbv.training.train_model`) on the same
dataset, training period, loss, schedule, ensemble size and seed as the run's δHBV2.0 model,
saved as a run directory of its own (``results/models/<run>/baselines/<name>/``) and simulated
by the same simulation path (:func:`dhbv.simulation.simulate`), so it is scored on the same
gauges and days as every other model.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["train_baseline", "simulate_baseline"]


def train_baseline(forms: dict, run_dir, *, run: dict, model: dict, train_cfg: dict,
                   knobs: dict, evaluation_period=None, forcing_gaps: str = "error") -> Path:
    """Rule ``train_baseline``: the LSTM baseline on the training dataset in the standard
    ``forms`` ({forcing, attributes, observations, membership}); ``model`` is its ``model``
    section (``type: lstm``, :func:`dhbv.evaluation.paths.baseline_model_config`), the other
    arguments those of :func:`dhbv.training.train_model`. Returns the path of ``model.pt``."""
    from dhbv.errors import DhbvInputError
    from dhbv.training import train_model

    if model.get("type") != "lstm":
        raise DhbvInputError(f"train_baseline trains the LSTM baseline (model.type lstm), got "
                             f"model.type {model.get('type')!r}")
    return train_model(forms, run_dir, run=run, model=model, train_cfg=train_cfg, knobs=knobs,
                       evaluation_period=evaluation_period, forcing_gaps=forcing_gaps)


def simulate_baseline(run_dir, forms: dict, streamflow_out, *, period, spinup, device="auto",
                      forcing_gaps=None) -> Path:
    """Rule ``simulate_baseline``: the baseline run in ``run_dir`` (its ensemble mean) on one
    dataset in the standard ``forms`` → gauge flows [mm d-1] in the format of the run's own
    simulation (``streamflow`` and ``observed``)."""
    from dhbv.io.standard import standard_source
    from dhbv.simulation import simulate

    dataset = {"sources": [standard_source(**forms)]}
    return simulate(run_dir, dataset, streamflow_out, period, device=device, spinup=spinup,
                    forcing_gaps=forcing_gaps)
