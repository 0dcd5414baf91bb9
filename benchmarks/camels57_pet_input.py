"""57-basin benchmark with one more input: the Caravan ERA5-Land PET column fed to the LSTM.

    .venv/bin/python benchmarks/camels57_pet_input.py --run-dir /tmp/pet_input \\
        [--config config/camels57.yaml] [--ensemble 4] [--seed S]

Question answered: does more daily information from the same shipped files raise the test
skill? The HBV physics keeps the configured PET (Oudin from T mean); the LSTM reads P, T, that
PET and, as a fourth daily input, the ERA5-Land potential evaporation of the Caravan CSVs
(standardised with its mean and standard deviation over all units in the training period).
That column carries radiation, humidity and wind, which T mean alone does not; its magnitude
is unreliable, so it is not used as the physics' PET.

The input is added here, in the benchmark, by wrapping ``dhbv.training.trainer.prepare`` and
``build_model`` at import time (spawned member workers import this script too), not as a
model option. Prints one JSON line (``camels57_variants.py --members``): each member's test median NSE, KGE
and r over the 57 basins in WY1996-2014 (continuous simulation, as the config says), their
mean and spread, the ensemble mean's scores, and the training wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import dhbv.training.trainer as trainer

_ENV_DIR, _ENV_PERIOD = "DHBV_BENCH_PET_DIR", "DHBV_BENCH_PET_PERIOD"
_prepare, _build_model = trainer.prepare, trainer.build_model


def _prepare_with_pet(data, stats):
    """The configured inputs plus the standardised Caravan PET column as a 4th LSTM input."""
    from dhbv.io.caravan import read_caravan_csv

    prep = _prepare(data, stats)
    ts_dir = Path(os.environ[_ENV_DIR])
    col = np.stack([read_caravan_csv(ts_dir / f"{u}.csv")["PET_source"].reindex(data.time)
                    .to_numpy() for u in data.unit_ids], axis=1)
    start, end = os.environ[_ENV_PERIOD].split(",")
    sel = (data.time >= start) & (data.time <= end)
    z = (col - np.nanmean(col[sel])) / np.nanstd(col[sel])
    extra = np.nan_to_num(z, nan=0.0).astype(np.float32)[..., None]
    prep.dyn_norm = np.concatenate([prep.dyn_norm, extra], axis=-1)
    return prep


def _build_model_with_pet(model_cfg, n_static):
    """build_model's DeltaHBV with one more LSTM input (everything else as configured)."""
    import dhbv.model as model_mod

    real = model_mod.DeltaHBV

    class _OneMoreInput(real):
        def __init__(self, n_dynamic_inputs, *args, **kw):
            super().__init__(n_dynamic_inputs + 1, *args, **kw)

    model_mod.DeltaHBV = _OneMoreInput
    try:
        return _build_model(model_cfg, n_static)
    finally:
        model_mod.DeltaHBV = real


trainer.prepare = _prepare_with_pet
trainer.build_model = _build_model_with_pet


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="config/camels57.yaml")
    p.add_argument("--run-dir", required=True, type=Path)
    p.add_argument("--ensemble", type=int, default=4)
    p.add_argument("--seed", type=int, default=None,
                   help="run.seed (member k is seeded seed + 1000 k: the config's seed + 4000 "
                        "trains the config's members 4, 5, ...)")
    a = p.parse_args(argv)

    from dhbv.config import load_config

    cfg = load_config(a.config)
    src = cfg["data"]["sources"][0]
    base = Path(cfg.get("_base_dir", "."))
    os.environ[_ENV_DIR] = str((base / src["timeseries_dir"]).resolve())
    os.environ[_ENV_PERIOD] = ",".join(str(d) for d in cfg["train"]["period"])
    cfg["train"]["ensemble"] = a.ensemble
    if a.seed is not None:
        cfg["run"]["seed"] = a.seed
    cfg["train"]["progress"] = False
    t0 = time.time()
    trainer.train(cfg, a.run_dir)
    t_train = time.time() - t0

    from camels57_variants import members   # same folder: each member alone, their mean

    out = members(a.run_dir)
    out["train_seconds"] = round(t_train)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
