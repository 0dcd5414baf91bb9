"""Gauge maps: points at the gauges' latitude/longitude coloured by a metric, per model, and
the difference of NSE between two models (docs/evaluation.md §6).

Positions are plain longitude/latitude [degrees] (the axis aspect corrects for latitude); no
basemap is drawn. Gauges without a finite position or value are left out and counted.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.plots.canvas import models_of, new_figure, panel_grid, save_png, scored

__all__ = ["metric_map", "delta_nse_map", "nse_difference"]


def _draw(ax, lon, lat, value, vmin, vmax, cmap, label, fig):
    ok = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(value)
    art = ax.scatter(lon[ok], lat[ok], c=np.clip(value[ok], vmin, vmax), vmin=vmin, vmax=vmax,
                     cmap=cmap, s=30, edgecolors="k", linewidths=0.3)
    if ok.any():
        mid = np.deg2rad(np.mean(lat[ok]))
        ax.set_aspect(1.0 / max(np.cos(mid), 0.1))
        pad = 0.5
        ax.set_xlim(lon[ok].min() - pad, lon[ok].max() + pad)
        ax.set_ylim(lat[ok].min() - pad, lat[ok].max() + pad)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    fig.colorbar(art, ax=ax, label=label, shrink=0.8)
    return int(ok.sum()), int((~ok).sum())


def _columns(rows: pd.DataFrame, value: str):
    missing = [c for c in ("lat", "lon", value) if c not in rows.columns]
    if missing:
        raise DhbvInputError(f"evaluation table: missing column(s) {missing} for the map")
    return (rows["lon"].to_numpy(np.float64), rows["lat"].to_numpy(np.float64),
            rows[value].to_numpy(np.float64))


def metric_map(table: pd.DataFrame, out, metric: str = "nse", vmin: float = -0.2,
               vmax: float = 1.0, cmap: str = "RdYlBu") -> dict:
    """One panel per model: gauges coloured by ``metric`` (clipped to [vmin, vmax]).

    Returns {"shown": {model: gauges drawn}, "left_out": {model: gauges without a position
    or value}}.
    """
    ok = scored(table)
    models = models_of(table)
    fig = new_figure(5.0 * min(len(models), 2), 4.0 * -(-len(models) // 2))
    shown, left = {}, {}
    for ax, model in zip(panel_grid(fig, len(models), ncols=2), models):
        lon, lat, v = _columns(ok[ok["model"].astype(str) == model], metric)
        shown[model], left[model] = _draw(ax, lon, lat, v, vmin, vmax, cmap, metric.upper(), fig)
        ax.set_title(f"{metric.upper()}, {model} ({shown[model]} gauges)")
    save_png(fig, out)
    return {"shown": shown, "left_out": left}


def nse_difference(table: pd.DataFrame, reference: str, candidate: str) -> pd.DataFrame:
    """Per gauge: lat, lon and ΔNSE = NSE(candidate) − NSE(reference), for the gauges both
    models scored (NaN dropped)."""
    ok = scored(table)
    models = models_of(table)
    for m in (reference, candidate):
        if m not in models:
            raise DhbvInputError(f"ΔNSE map: model {m!r} not in the table (models: {models})")
    key = ["gauge", "dataset"] if "dataset" in ok.columns else ["gauge"]
    a = ok[ok["model"].astype(str) == reference].set_index(key)
    b = ok[ok["model"].astype(str) == candidate].set_index(key)
    both = a.index.intersection(b.index)
    out = pd.DataFrame({"lat": a.loc[both, "lat"], "lon": a.loc[both, "lon"],
                        "delta_nse": b.loc[both, "nse"] - a.loc[both, "nse"]})
    return out[np.isfinite(out["delta_nse"])].reset_index()


def delta_nse_map(table: pd.DataFrame, out, reference: str, candidate: str,
                  limit: float = 1.0) -> dict:
    """Map of ΔNSE = NSE(candidate) − NSE(reference), colour range ±``limit``; the share of
    gauges where the candidate is better is printed.

    Returns {"n": gauges with both scores, "share_better": fraction with ΔNSE > 0,
    "median_delta": median ΔNSE}.
    """
    d = nse_difference(table, reference, candidate)
    fig = new_figure(6.0, 4.5)
    ax = fig.subplots()
    delta = d["delta_nse"].to_numpy(np.float64)
    _draw(ax, d["lon"].to_numpy(np.float64), d["lat"].to_numpy(np.float64), delta, -limit,
          limit, "RdBu", f"ΔNSE = {candidate} − {reference}", fig)
    share = float(np.mean(delta > 0)) if delta.size else float("nan")
    med = float(np.median(delta)) if delta.size else float("nan")
    ax.set_title(f"ΔNSE {candidate} − {reference}: {candidate} better at "
                 f"{100 * share:.1f} % of {delta.size} gauges, median Δ {med:+.3f}", fontsize=9)
    save_png(fig, out)
    return {"n": int(delta.size), "share_better": share, "median_delta": med}
