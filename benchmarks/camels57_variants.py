"""57-basin benchmark variants: train one configuration change, score it in and out of sample.

    # one member of config/camels57.yaml with DropConnect 0.5, two such runs side by side
    .venv/bin/python benchmarks/camels57_variants.py --run-dir /tmp/v_drop05 \\
        --set train.ensemble=1 --set run.threads=1 --set model.dropout=0.5

    # each member of a trained ensemble scored on its own, and the ensemble mean
    .venv/bin/python benchmarks/camels57_variants.py --members results/models/camels57

Prints one JSON line: median NSE/KGE/r over the 57 basins in the test period (WY1996-2014) and
in the training period (WY1982-1995, simulated from 1981-10-01 with the shortened spin-up), and
the training wall time. With --members: the same test scores for every member alone, their mean
and standard deviation (the seed-to-seed spread that any comparison of variants must exceed).
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import yaml

TEST = ["1995-10-01", "2014-09-30"]
TRAIN = ["1981-10-01", "1995-09-30"]


def _scores(run: Path, period, name: str) -> pd.DataFrame:
    from dhbv.simulation import simulate

    simulate(run, None, run / f"sim_{name}.nc", period, scores_out=run / f"scores_{name}.csv")
    return pd.read_csv(run / f"scores_{name}.csv", dtype={"gauge": str})


def _medians(t: pd.DataFrame, prefix: str) -> dict:
    return {f"{prefix}_nse": round(float(t.nse.median()), 4),
            f"{prefix}_kge": round(float(t.kge.median()), 4),
            f"{prefix}_r": round(float(t.kge_r.median()), 4)}


def variant(config: str, run_dir: Path, sets: list[str]) -> dict:
    from dhbv.config import load_config
    from dhbv.training import train

    cfg = load_config(config)
    for kv in sets:
        key, value = kv.split("=", 1)
        section, name = key.split(".", 1)
        cfg.setdefault(section, {})[name] = yaml.safe_load(value)
    cfg["train"]["progress"] = False
    t0 = time.time()
    train(cfg, run_dir)
    out = {"set": sets, "train_seconds": round(time.time() - t0)}
    out.update(_medians(_scores(run_dir, TEST, "test"), "test"))
    out.update(_medians(_scores(run_dir, TRAIN, "train"), "train"))
    return out


def members(run_dir: Path) -> dict:
    import torch

    blob = torch.load(run_dir / "model.pt", weights_only=False)
    rows = []
    for k, m in enumerate(blob["members"]):
        d = run_dir / "members" / f"m{k}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for f in ("config.resolved.yaml", "normalization_statistics.json"):
            shutil.copy(run_dir / f, d / f)
        torch.save(dict(blob, members=[m]), d / "model.pt")
        rows.append(dict(member=k, **_medians(_scores(d, TEST, "test"), "test")))
    table = pd.DataFrame(rows)
    out = {"members": rows, "member_mean_nse": round(float(table.test_nse.mean()), 4),
           "member_sd_nse": round(float(table.test_nse.std(ddof=1)), 4) if len(rows) > 1 else None}
    out.update(_medians(_scores(run_dir, TEST, "test"), "ensemble_test"))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="config/camels57.yaml")
    p.add_argument("--run-dir", type=Path, help="new run directory for a variant")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="config override (YAML value), repeatable")
    p.add_argument("--members", type=Path, metavar="RUN_DIR",
                   help="score each member of a trained run alone")
    a = p.parse_args(argv)
    if a.members:
        print(json.dumps(members(a.members)))
    elif a.run_dir:
        print(json.dumps(variant(a.config, a.run_dir, a.set)))
    else:
        p.error("give --run-dir (train a variant) or --members RUN_DIR")


if __name__ == "__main__":
    main()
