"""Hydrographs: observed vs simulated daily streamflow [mm d-1] for a few gauges, each with a
zoom on its largest observed event (docs/evaluation.md §6)."""
from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.plots.canvas import new_figure, save_png

__all__ = ["largest_event_window", "hydrograph_panels"]


def largest_event_window(obs, before: int = 20, after: int = 40) -> tuple[int, int]:
    """Index range [start, stop) around the largest observed flow: ``before`` days before the
    peak to ``after`` days after it, cut to the series; (0, 0) when no day is observed."""
    o = np.asarray(obs, dtype=np.float64)
    if not np.isfinite(o).any():
        return 0, 0
    peak = int(np.nanargmax(o))
    return max(peak - before, 0), min(peak + after + 1, o.size)


def hydrograph_panels(time, observed: dict, simulated: dict, out, titles: dict | None = None,
                      before: int = 20, after: int = 40) -> dict:
    """One row per gauge: the full series (left) and the largest event (right).

    ``time``: daily dates [T]; ``observed``: {gauge: [T] mm d-1}; ``simulated``: {model:
    {gauge: [T] mm d-1}}; ``titles``: optional {gauge: text}. Returns {gauge: {"peak_date":
    date of the largest observed flow, "peak_observed": its value, "window": (first, last)
    date of the zoom}}.
    """
    t = pd.DatetimeIndex(time)
    gauges = list(observed)
    if not gauges:
        raise DhbvInputError("hydrographs: no gauge to draw")
    fig = new_figure(12.0, 3.0 * len(gauges))
    axes = fig.subplots(len(gauges), 2, squeeze=False, width_ratios=[3, 1])
    info = {}
    for row, g in zip(axes, gauges):
        o = np.asarray(observed[g], dtype=np.float64)
        if o.shape != (t.size,):
            raise DhbvInputError(f"hydrographs: gauge {g} has {o.size} observed days for "
                                 f"{t.size} dates")
        a, b = largest_event_window(o, before, after)
        for ax, sl in ((row[0], slice(None)), (row[1], slice(a, b))):
            ax.plot(t[sl], o[sl], color="k", lw=1.0, label="observed")
            for j, (model, series) in enumerate(simulated.items()):
                ax.plot(t[sl], np.asarray(series[g], dtype=np.float64)[sl], color=f"C{j}",
                        lw=0.8, label=model)
            ax.set_ylabel("streamflow (mm d⁻¹)")
            locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            ax.tick_params(axis="x", labelsize=7)
        row[0].set_title((titles or {}).get(g, f"gauge {g}"), fontsize=9, loc="left")
        row[0].legend(fontsize=7, loc="upper right")
        if b > a:
            peak = a + int(np.nanargmax(o[a:b]))
            row[0].axvspan(t[a], t[b - 1], color="0.85", zorder=0)
            row[1].set_title(f"largest event, peak {t[peak].date()}", fontsize=9)
            info[g] = {"peak_date": str(t[peak].date()), "peak_observed": float(o[peak]),
                       "window": (str(t[a].date()), str(t[b - 1].date()))}
        else:
            info[g] = {"peak_date": None, "peak_observed": float("nan"), "window": None}
    save_png(fig, out)
    return info
