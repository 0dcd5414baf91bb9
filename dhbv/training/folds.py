"""Prediction in ungauged basins (PUB): k-fold cross-validation over gauges (docs/training.md).

The gauges of the training dataset are shuffled with ``ungauged.seed`` and split into
``ungauged.folds`` folds of nearly equal size. The model of fold k trains on every gauge outside
fold k (and on the same years as the temporal protocol); it is then applied to the gauges of
fold k, which it never saw, in the test period. Every gauge is held out exactly once, so the
out-of-fold scores of all folds form one table over all gauges.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError


def assign_folds(gauge_ids, folds: int, seed: int) -> pd.DataFrame:
    """Table (gauge, fold) of a random split of ``gauge_ids`` into ``folds`` folds."""
    ids = [str(g) for g in gauge_ids]
    if len(set(ids)) != len(ids):
        raise DhbvInputError("fold assignment: gauge ids repeat; list each gauge once")
    if not 2 <= int(folds) <= len(ids):
        raise DhbvInputError(f"ungauged.folds {folds}: use 2 to {len(ids)} folds for "
                             f"{len(ids)} gauges")
    order = np.random.default_rng(int(seed)).permutation(len(ids))
    fold = np.empty(len(ids), np.int64)
    for k, part in enumerate(np.array_split(order, int(folds))):
        fold[part] = k
    return pd.DataFrame({"gauge": ids, "fold": fold})


def read_folds(path) -> pd.DataFrame:
    """A fold table written by :func:`build_folds` (gauge ids as text)."""
    p = Path(path)
    if not p.exists():
        raise DhbvInputError(f"fold table {p} not found; run build_folds first")
    t = pd.read_csv(p, dtype={"gauge": str})
    if list(t.columns) != ["gauge", "fold"]:
        raise DhbvInputError(f"fold table {p}: columns must be gauge, fold")
    return t


def fold_gauges(folds: pd.DataFrame, fold: int) -> tuple[list[str], list[str]]:
    """(training gauges, held-out gauges) of ``fold``."""
    if int(fold) not in set(folds["fold"]):
        raise DhbvInputError(f"fold {fold} is not in the fold table (folds "
                             f"{sorted(set(folds['fold']))})")
    held = folds["fold"] == int(fold)
    return folds.loc[~held, "gauge"].tolist(), folds.loc[held, "gauge"].tolist()


def build_folds(observations, folds: int, seed: int, out) -> Path:
    """Rule ``build_folds``: the fold table of the gauges of a dataset's observations file."""
    from dhbv.io.standard import read_gauge_observations, write_text_atomic

    gauges = [str(g) for g in read_gauge_observations(observations)["gauge"].values]
    return write_text_atomic(assign_folds(gauges, folds, seed).to_csv(index=False), out)


def train_fold(forms: dict, folds_csv, fold: int, run_dir, *, run: dict, model: dict,
               train_cfg: dict, knobs: dict, ensemble=None, evaluation_period=None,
               forcing_gaps: str = "error") -> Path:
    """Rule ``train_fold``: train on every gauge of the dataset (standard ``forms``) outside
    ``fold``; see :func:`dhbv.training.trainer.train_model`."""
    from dhbv.training.trainer import train_model

    train_gauges, _ = fold_gauges(read_folds(folds_csv), fold)
    cfg = dict(train_cfg, gauges=train_gauges)
    if ensemble is not None:
        cfg["ensemble"] = int(ensemble)
    return train_model(forms, run_dir, run=run, model=model, train_cfg=cfg, knobs=knobs,
                       evaluation_period=evaluation_period, forcing_gaps=forcing_gaps)
