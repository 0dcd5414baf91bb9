"""57-basin skill benchmark: train δHBV2.0 on the shipped Caravan CAMELS-US basins, then
simulate and score the test period.

    .venv/bin/python benchmarks/camels57_skill.py --run-dir results/models/camels57 \
        [--config config/camels57.yaml] [--skip-train]

Protocol (config/camels57.yaml): train WY1982-1995 (1981-10-01..1995-09-30), evaluate WY1996-2014
(1995-10-01..2014-09-30), ERA5-Land P and T mean, Oudin PET.
Prints training wall time, the learning curve (training_log.csv) and median NSE / KGE over the
57 basins; writes sim_test.nc, scores_test.csv and summary.json into the run directory.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="config/camels57.yaml")
    p.add_argument("--run-dir", default="results/models/camels57")
    p.add_argument("--skip-train", action="store_true", help="only simulate and score")
    a = p.parse_args(argv)

    from dhbv.config import load_config
    from dhbv.evaluation import summarize
    from dhbv.simulation import simulate
    from dhbv.training import train

    run = Path(a.run_dir)
    cfg = load_config(a.config)
    t0 = time.time()
    if not a.skip_train:
        train(cfg, run)
    t_train = time.time() - t0
    t1 = time.time()
    period = [str(d) for d in cfg["evaluation"]["period"]]
    # the config's spin-up, also for a run directory trained before simulate.spinup existed
    simulate(run, None, run / "sim_test.nc", period, scores_out=run / "scores_test.csv",
             spinup=cfg["simulate"]["spinup"])
    t_sim = time.time() - t1
    table = pd.read_csv(run / "scores_test.csv", dtype={"gauge": str})
    summary = summarize(table)
    curve = pd.read_csv(run / "training_log.csv")
    summary.update(train_wall_seconds=round(t_train, 1), simulate_wall_seconds=round(t_sim, 1),
                   period=period, config=str(a.config), spinup=cfg["simulate"]["spinup"],
                   median_kge_r=float(table["kge_r"].median()),
                   median_kge_alpha=float(table["kge_alpha"].median()),
                   median_kge_beta=float(table["kge_beta"].median()))
    from dhbv.io.standard import write_text_atomic

    write_text_atomic(json.dumps(summary, indent=1), run / "summary.json")
    with pd.option_context("display.max_rows", 500, "display.width", 120):
        if curve["val_median_nse"].notna().any():
            print(curve.dropna(subset=["val_median_nse"]).to_string(index=False))
        else:                       # no hold-out: the mean training loss of the members per epoch
            print(curve.groupby("epoch")["train_loss"].mean().round(4).to_string())
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
