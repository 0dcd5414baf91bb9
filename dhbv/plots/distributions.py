"""Distribution figures over gauges: CDFs of NSE/KGE, the NNSE histogram, Spearman ρ vs
|relative bias| quadrants and NSE box plots by drainage-area bin (docs/evaluation.md §6).

Inputs are tidy evaluation tables (one row per gauge and model). Excluded gauges
(``excluded`` True) and NaN metrics are left out; every function returns the numbers it prints.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.plots.canvas import finite, models_of, new_figure, panel_grid, save_png, scored

__all__ = ["AREA_BINS", "NNSE_EDGES", "area_bin_index", "area_bin_labels", "metric_cdf",
           "nnse_histogram", "nse_by_area", "spearman_bias_quadrants"]

#: Drainage-area bins of the paper's box plots [km2]; a bin holds lo < area ≤ hi (0 included).
AREA_BINS = ((0.0, 1000.0), (1000.0, 3000.0), (3000.0, 5000.0), (5000.0, 10000.0),
             (10000.0, 50000.0))
#: NNSE histogram bin edges: 0–0.2, 0.2–0.4, …, 0.8–1 (the last bin includes 1).
NNSE_EDGES = np.linspace(0.0, 1.0, 6)


def _require(table: pd.DataFrame, *columns: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DhbvInputError(f"evaluation table: missing column(s) {missing}")


def _model_values(table: pd.DataFrame, column: str) -> dict[str, np.ndarray]:
    _require(table, column)
    ok = scored(table)
    return {m: finite(ok.loc[ok["model"].astype(str) == m, column]) for m in models_of(table)}


def metric_cdf(table: pd.DataFrame, out, metrics=("nse", "kge"), xlim=(-1.0, 1.0)) -> dict:
    """Empirical CDF over gauges of each metric (one panel per metric, one line per model).

    The x axis is cut to ``xlim`` (gauges below it still count in the CDF). The legend prints
    each model's median and gauge count. When the table has a ``dataset`` column with several
    datasets (e.g. the training basins' temporal test and unseen basins), each model gets one
    line per dataset (solid, dashed, dotted, … by dataset, one colour per model) instead of one
    pooled line. Returns {"median": {metric: {model: value}}, "n": {metric: {model: count}}}
    over all datasets, and with several datasets also "by_dataset": {metric: {dataset:
    {model: {"median", "n"}}}}.
    """
    fig = new_figure(5.0 * len(metrics), 4.0)
    axes = panel_grid(fig, len(metrics), ncols=len(metrics))
    medians, counts, by_dataset = {}, {}, {}
    datasets = (list(dict.fromkeys(table["dataset"].astype(str)))
                if "dataset" in table.columns else [])
    split = len(datasets) > 1
    styles = ("-", "--", ":", "-.")

    def line(ax, v, label, **kw):
        x = np.sort(v)
        ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", label=label, **kw)

    for ax, key in zip(axes, metrics):
        values = _model_values(table, key)
        medians[key], counts[key] = {}, {}
        for j, (model, v) in enumerate(values.items()):
            med = float(np.median(v)) if v.size else float("nan")
            medians[key][model], counts[key][model] = med, int(v.size)
            if v.size and not split:
                line(ax, v, f"{model}: median {med:.2f} (n={v.size})")
        if split:
            by_dataset[key] = {}
            for i, d in enumerate(datasets):
                sub = _model_values(table[table["dataset"].astype(str) == d], key)
                by_dataset[key][d] = {}
                for j, model in enumerate(values):
                    v = sub.get(model, np.empty(0))
                    med = float(np.median(v)) if v.size else float("nan")
                    by_dataset[key][d][model] = {"median": med, "n": int(v.size)}
                    if v.size:
                        line(ax, v, f"{model} · {d}: median {med:.2f} (n={v.size})",
                             color=f"C{j}", ls=styles[i % len(styles)])
        ax.set_xlim(*xlim)
        ax.set_ylim(0, 1)
        ax.set_xlabel(key.upper())
        ax.set_ylabel("fraction of gauges ≤ x")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    save_png(fig, out)
    return {"median": medians, "n": counts, **({"by_dataset": by_dataset} if split else {})}


def nnse_histogram(table: pd.DataFrame, out, threshold: float = 0.6) -> dict:
    """Histogram of NNSE = 1/(2 − NSE) in bins 0–0.2, …, 0.8–1, one panel per model, with the
    share of gauges whose NNSE ≥ ``threshold`` printed on each panel.

    Returns {"share_at_least": {model: fraction}, "counts": {model: [5 counts]},
    "n": {model: gauges}}.
    """
    values = _model_values(table, "nnse")
    fig = new_figure(4.0 * min(len(values), 3), 3.5 * -(-len(values) // 3))
    shares, counts, n = {}, {}, {}
    for ax, (model, v) in zip(panel_grid(fig, len(values)), values.items()):
        c, _ = np.histogram(v, bins=NNSE_EDGES)
        share = float(np.mean(v >= threshold)) if v.size else float("nan")
        shares[model], counts[model], n[model] = share, [int(k) for k in c], int(v.size)
        ax.bar(NNSE_EDGES[:-1], c, width=np.diff(NNSE_EDGES), align="edge", edgecolor="k")
        ax.axvline(threshold, color="r", ls="--")
        ax.set_title(model)
        ax.set_xlabel("NNSE")
        ax.set_ylabel("gauges")
        ax.text(0.02, 0.95, f"NNSE ≥ {threshold:g}: {100 * share:.1f} % of {v.size}",
                transform=ax.transAxes, va="top", fontsize=9)
    save_png(fig, out)
    return {"share_at_least": shares, "counts": counts, "n": n}


def spearman_bias_quadrants(table: pd.DataFrame, out, rho_split: float = 0.5,
                            bias_split: float = 1.0) -> dict:
    """Scatter of Spearman ρ vs |relative bias| (fraction), one panel per model, split into
    quadrants at ρ = ``rho_split`` and |bias| = ``bias_split`` with the share of gauges in each.

    Quadrant keys: ``high_rho_low_bias`` (ρ ≥ split, |bias| ≤ split), ``high_rho_high_bias``,
    ``low_rho_low_bias``, ``low_rho_high_bias``. Gauges need a finite ρ and bias. Returns
    {"shares": {model: {quadrant: fraction}}, "n": {model: gauges}}.
    """
    _require(table, "spearman_rho", "bias_rel")
    ok = scored(table)
    models = models_of(table)
    fig = new_figure(4.0 * min(len(models), 3), 3.8 * -(-len(models) // 3))
    shares, n = {}, {}
    for ax, model in zip(panel_grid(fig, len(models)), models):
        rows = ok[ok["model"].astype(str) == model]
        rho = rows["spearman_rho"].to_numpy(np.float64)
        bias = np.abs(rows["bias_rel"].to_numpy(np.float64))
        keep = np.isfinite(rho) & np.isfinite(bias)
        rho, bias = rho[keep], bias[keep]
        high, low_bias = rho >= rho_split, bias <= bias_split
        q = {"high_rho_low_bias": high & low_bias, "high_rho_high_bias": high & ~low_bias,
             "low_rho_low_bias": ~high & low_bias, "low_rho_high_bias": ~high & ~low_bias}
        shares[model] = {k: float(v.mean()) if rho.size else float("nan") for k, v in q.items()}
        n[model] = int(rho.size)
        ax.scatter(bias, rho, s=12, alpha=0.7)
        ax.axhline(rho_split, color="k", lw=0.8)
        ax.axvline(bias_split, color="k", lw=0.8)
        xmax = max(2.0 * bias_split, float(bias.max()) * 1.05 if bias.size else 0.0)
        ax.set_xlim(0, xmax)
        ax.set_ylim(min(-0.1, float(rho.min()) - 0.05) if rho.size else -0.1, 1.0)
        for key, (x, y, ha, va) in {
                "high_rho_low_bias": (0.02, 0.98, "left", "top"),
                "high_rho_high_bias": (0.98, 0.98, "right", "top"),
                "low_rho_low_bias": (0.02, 0.02, "left", "bottom"),
                "low_rho_high_bias": (0.98, 0.02, "right", "bottom")}.items():
            ax.text(x, y, f"{100 * shares[model][key]:.1f} %", transform=ax.transAxes,
                    ha=ha, va=va, fontsize=9, color="tab:red")
        ax.set_title(f"{model} (n={rho.size})")
        ax.set_xlabel("|relative bias| (fraction)")
        ax.set_ylabel("Spearman ρ")
    save_png(fig, out)
    return {"shares": shares, "n": n}


def area_bin_labels(bins=AREA_BINS) -> list[str]:
    """Labels such as "0–1k" for the area bins [km2]."""
    def k(v):
        return f"{v / 1000:g}k" if v else "0"
    return [f"{k(lo)}–{k(hi)}" for lo, hi in bins]


def area_bin_index(area, bins=AREA_BINS) -> np.ndarray:
    """Index of the area bin of each gauge (lo < area ≤ hi, 0 in the first), -1 outside."""
    a = np.asarray(area, dtype=np.float64)
    out = np.full(a.shape, -1, dtype=int)
    for i, (lo, hi) in enumerate(bins):
        inside = (a > lo) & (a <= hi) if i else (a >= lo) & (a <= hi)
        out[inside & (out < 0)] = i
    return out


def nse_by_area(table: pd.DataFrame, out, bins=AREA_BINS) -> dict:
    """Box plots of NSE per drainage-area bin, one box per model in each bin; the number of
    gauges in each bin (with a finite NSE) is printed under its label.

    Returns {"labels": [...], "counts": {model: [gauges per bin]}, "median": {model: [median
    NSE per bin, NaN when empty]}, "outside": {model: gauges outside every bin}}.
    """
    _require(table, "nse", "area")
    ok = scored(table)
    models = models_of(table)
    labels = area_bin_labels(bins)
    fig = new_figure(max(6.0, 1.6 * len(bins) * max(1, len(models)) / 2), 4.2)
    ax = fig.subplots()
    width = 0.8 / len(models)
    counts, medians, outside = {}, {}, {}
    for j, model in enumerate(models):
        rows = ok[ok["model"].astype(str) == model]
        nse = rows["nse"].to_numpy(np.float64)
        which = area_bin_index(rows["area"].to_numpy(np.float64), bins)
        groups = [nse[(which == i) & np.isfinite(nse)] for i in range(len(bins))]
        counts[model] = [int(g.size) for g in groups]
        medians[model] = [float(np.median(g)) if g.size else float("nan") for g in groups]
        outside[model] = int(((which < 0) & np.isfinite(nse)).sum())
        pos = np.arange(len(bins)) + (j - (len(models) - 1) / 2) * width
        filled = [i for i, g in enumerate(groups) if g.size]
        if filled:
            bp = ax.boxplot([groups[i] for i in filled], positions=pos[filled], widths=width * 0.9,
                            patch_artist=True, manage_ticks=False)
            for box in bp["boxes"]:
                box.set_facecolor(f"C{j}")
                box.set_alpha(0.6)
        ax.plot([], [], color=f"C{j}", lw=6, alpha=0.6, label=model)
    first = counts[models[0]] if models else [0] * len(bins)
    ax.set_xticks(np.arange(len(bins)),
                  [f"{lab} km²\nn={c}" for lab, c in zip(labels, first)])
    ax.set_ylabel("NSE")
    ax.set_ylim(-1, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    save_png(fig, out)
    return {"labels": labels, "counts": counts, "median": medians, "outside": outside}
