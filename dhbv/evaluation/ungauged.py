"""The out-of-fold score table of a PUB (ungauged-basin) run."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from dhbv.errors import DhbvInputError


def collect_ungauged_scores(fold_scores, folds_csv, out_csv, out_summary) -> pd.DataFrame:
    """Rule ``collect_ungauged_scores``: the per-fold score tables as one table (a ``fold``
    column added) and a JSON summary (medians over all gauges, per-fold medians).

    Every gauge of the fold table must appear exactly once, in its own fold's scores.
    """
    from dhbv.evaluation import summarize
    from dhbv.io.standard import write_text_atomic
    from dhbv.training.folds import read_folds

    folds = read_folds(folds_csv)
    parts = []
    for k, path in enumerate(fold_scores):
        t = pd.read_csv(path, dtype={"gauge": str})
        t.insert(1, "fold", k)
        parts.append(t)
    table = pd.concat(parts, ignore_index=True)
    got = table.set_index("gauge")["fold"].sort_index()
    want = folds.set_index("gauge")["fold"].sort_index()
    if not got.index.equals(want.index) or not (got == want).all():
        raise DhbvInputError(f"{folds_csv}: the fold score tables do not hold each gauge once, "
                             "in its own fold; rerun the ungauged folds")
    summary = summarize(table)
    summary["folds"] = {int(k): summarize(t) for k, t in table.groupby("fold")}
    write_text_atomic(table.to_csv(index=False), out_csv)
    write_text_atomic(json.dumps(summary, indent=1, default=float), out_summary)
    return table
