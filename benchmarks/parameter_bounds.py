"""Where a trained run puts its HBV parameters inside their ranges.

    .venv/bin/python benchmarks/parameter_bounds.py --run-dir results/models/camels57 \
        [--period 1995-10-01 2014-09-30]

For every HBV 2.0 parameter (dynamic ones on every day of the period, static ones per unit and
component, unit-hydrograph (UH) parameters per unit; all ensemble members pooled) prints the
share of values within 2 % of the lower and of the upper end of its range and the 10/50/90 %
quantiles of the scaled value in [0, 1]. Many values piled up at one end mean the range, not the
data, decides the fit.
"""
from __future__ import annotations

import argparse

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", default="results/models/camels57")
    p.add_argument("--period", nargs=2, default=["1995-10-01", "2014-09-30"])
    a = p.parse_args(argv)

    import torch

    from dhbv.physics.hbv2 import (DYNAMIC_PARAMETERS, PARAMETER_RANGES, STATIC_PARAMETERS,
                                   UH_PARAMETERS)
    from dhbv.training.data import load_data
    from dhbv.training.trainer import load_trained, prepare

    models, cfg, stats = load_trained(a.run_dir)
    data = load_data(cfg["data"], cfg["model"]["attributes"], base_dir=cfg.get("_base_dir", "."))
    prep = prepare(data, stats)
    i0, i1 = data.check_period(a.period[0], a.period[1], "period")
    x_dyn = torch.from_numpy(prep.dyn_norm[i0:i1 + 1])
    x_sta = torch.from_numpy(prep.static_norm)
    pooled: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for model in models:
            model.eval()
            dyn, sta, uh = model.hbv_parameters(x_dyn, x_sta)
            for k, name in enumerate(DYNAMIC_PARAMETERS):
                pooled.setdefault(name, []).append(dyn[:, :, k, :].numpy().ravel())
            for k, name in enumerate(STATIC_PARAMETERS):
                pooled.setdefault(name, []).append(sta[:, k, :].numpy().ravel())
            for k, name in enumerate(UH_PARAMETERS):
                pooled.setdefault(name, []).append(uh[:, k].numpy())
    print(f"{len(models)} member(s), {len(data.gauge_ids)} gauges, {a.period[0]}..{a.period[1]}")
    print(f"{'parameter':10s} {'range':>16s} {'at low':>7s} {'at high':>7s} "
          f"{'q10':>6s} {'q50':>6s} {'q90':>6s}")
    for name, parts in pooled.items():
        v = np.concatenate(parts)
        lo, hi = PARAMETER_RANGES[name]
        q10, q50, q90 = np.quantile(v, [0.1, 0.5, 0.9])
        print(f"{name:10s} {f'{lo:g}..{hi:g}':>16s} {(v < 0.02).mean():7.1%} {(v > 0.98).mean():7.1%} "
              f"{q10:6.3f} {q50:6.3f} {q90:6.3f}")


if __name__ == "__main__":
    main()
