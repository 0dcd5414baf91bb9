"""Data-scaling curve: skill on a fixed set of gauges against the number of training gauges.

Input: per-gauge score tables (the ``scores.csv`` of ``simulate_basins``: one row per gauge,
column ``nse``) of runs that differ only in how many gauges they were trained on, all scored
on the same gauges in the same years. Output: a table with one row per run (training gauges,
scored gauges, median and quartiles of NSE) and a PNG of the median with the interquartile
band against the number of training gauges.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.plots.canvas import new_figure, save_png

COLUMNS = ["training_gauges", "label", "scored_gauges", "nse_q25", "nse_median", "nse_q75"]


def scaling_table(scores: dict[int, pd.DataFrame], labels: dict[int, str] | None = None,
                  metric: str = "nse") -> pd.DataFrame:
    """One row per run: {training gauges: per-gauge score table} → median and quartiles.

    All tables must score the same gauges (column ``gauge``), else the medians compare
    different basins.
    """
    if not scores:
        raise DhbvInputError("scaling curve: no runs given")
    rows, gauges = [], None
    for n, table in sorted(scores.items()):
        if metric not in table.columns or "gauge" not in table.columns:
            raise DhbvInputError(f"scaling curve: the scores of the {n}-gauge run have no "
                                 f"'gauge' and '{metric}' columns")
        g = sorted(table["gauge"].astype(str))
        if gauges is not None and g != gauges:
            raise DhbvInputError(f"scaling curve: the {n}-gauge run scores other gauges than "
                                 "the first run; score every run on the same gauges")
        gauges = g
        v = table[metric].to_numpy(float)
        v = v[np.isfinite(v)]
        q25, q50, q75 = np.percentile(v, [25, 50, 75]) if v.size else (np.nan,) * 3
        rows.append([int(n), (labels or {}).get(n, f"{n} gauges"), int(v.size), q25, q50, q75])
    return pd.DataFrame(rows, columns=COLUMNS)


def read_scaling_table(path) -> pd.DataFrame:
    """A table written by :func:`scaling_table` (CSV), checked for its columns."""
    t = pd.read_csv(path)
    missing = [c for c in ("training_gauges", "nse_median") if c not in t.columns]
    if missing:
        raise DhbvInputError(f"{path}: no column {missing[0]!r}; expected the columns "
                             f"{', '.join(COLUMNS)}")
    return t.sort_values("training_gauges").reset_index(drop=True)


def plot_scaling_curve(table: pd.DataFrame, out, title: str | None = None) -> dict:
    """Median NSE (line) and interquartile band against training gauges; returns the medians."""
    fig = new_figure(5.0, 3.6)
    ax = fig.add_subplot()
    x = table["training_gauges"].to_numpy(float)
    med = table["nse_median"].to_numpy(float)
    if {"nse_q25", "nse_q75"} <= set(table.columns):
        lo, hi = table["nse_q25"].to_numpy(float), table["nse_q75"].to_numpy(float)
        ax.fill_between(x, lo, hi, alpha=0.25, color="tab:blue", label="interquartile range")
    ax.plot(x, med, "o-", color="tab:blue", label="median")
    for xi, yi in zip(x, med):
        ax.annotate(f"{yi:.3f}", (xi, yi), textcoords="offset points", xytext=(0, 6),
                    ha="center", fontsize=8)
    ax.set_xlabel("training gauges")
    ax.set_ylabel("test NSE of the scored gauges")
    ax.set_xticks(x)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    save_png(fig, out)
    return dict(zip(table["training_gauges"].astype(int), med))
