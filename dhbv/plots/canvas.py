"""A matplotlib figure on the Agg canvas (no pyplot state, no display) and its atomic PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dhbv.errors import DhbvInputError

DPI = 120


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` × ``height`` inches attached to an Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, out) -> Path:
    """Write ``fig`` to ``out`` (PNG) through a temporary file; returns the path."""
    from dhbv.io.atomic import atomic_path

    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return Path(out)


def models_of(table: pd.DataFrame) -> list[str]:
    """The models of a tidy table in the order they first appear."""
    if "model" not in table.columns:
        raise DhbvInputError("evaluation table: no 'model' column")
    return list(dict.fromkeys(table["model"].astype(str)))


def finite(values) -> np.ndarray:
    """The finite entries of ``values`` as float64."""
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]


def scored(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of gauges that were scored (``excluded`` False when the column exists)."""
    if "excluded" in table.columns:
        return table[~table["excluded"].astype(bool)]
    return table


def panel_grid(fig: Figure, n: int, ncols: int = 3):
    """``n`` axes on a grid of at most ``ncols`` columns (spare axes hidden)."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]
