"""Trainer: exact resume after a crash, run-directory contents, config validation."""
import copy

import numpy as np
import pandas as pd
import pytest
import torch

from dhbv.config import resolve_config
from dhbv.errors import DhbvInputError
from dhbv.training import train
from dhbv.training.trainer import WindowSampler

DEMO = "resources/demo"
BASINS = ["01022500", "01057000", "01139000"]


def tiny_config(**train_over):
    cfg = {
        "run": {"seed": 7, "device": "cpu", "threads": 1},
        "datasets": {"three": {"sources": [{
            "type": "caravan", "basins": BASINS,
            "timeseries_dir": f"{DEMO}/caravan_camels_us/timeseries",
            "attributes_dir": f"{DEMO}/camels_us/attributes", "pet_method": "oudin"}]}},
        "model": {"attributes": ["aridity", "meanP", "meanTa", "frac_forest"], "nmul": 2,
                  "lstm_hidden": 8, "mlp_hidden": 16, "mlp_layers": 2, "warmup": 30},
        "train": {"dataset": "three", "period": ["1981-10-01", "1982-09-30"],
                  "validation_period": ["1982-07-01", "1982-09-30"],
                  "rho": 40, "min_warmup": 30, "iterations_per_epoch": 4, "epochs": 2,
                  "checkpoint_every": 1, "checkpoint_every_steps": 2, "progress": False},
        "evaluation": {"period": ["1995-10-01", "1996-09-30"]},
    }
    cfg["train"].update(train_over)
    return cfg


def _weights(path):
    return torch.load(path, weights_only=False)["members"][0]["weights"]


class Crash(RuntimeError):
    pass


def test_resume_after_crash_gives_identical_weights(tmp_path):
    cfg = tiny_config()
    ref = train(copy.deepcopy(cfg), tmp_path / "ref")

    def crash(member, epoch, step, loss):
        if epoch == 1 and step == 3:                     # mid-epoch 2, after a step checkpoint
            raise Crash("simulated kill")

    with pytest.raises(Crash):
        train(copy.deepcopy(cfg), tmp_path / "run", callbacks=[crash])
    assert not (tmp_path / "run" / "model.pt").exists()
    out = train(copy.deepcopy(cfg), tmp_path / "run")          # restart → resumes
    a, b = _weights(ref), _weights(out)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    la = pd.read_csv(tmp_path / "ref" / "training_log.csv")
    lb = pd.read_csv(tmp_path / "run" / "training_log.csv")
    assert list(la.columns) == ["member", "epoch", "train_loss", "val_loss", "val_median_nse",
                                "lr", "seconds"]
    np.testing.assert_array_equal(la["train_loss"], lb["train_loss"])
    assert la["val_median_nse"].notna().all()
    run = tmp_path / "run"
    for f in ("config.resolved.yaml", "normalization_statistics.json", "model.pt"):
        assert (run / f).exists()
    assert any((run / "checkpoints").glob("member0_e0002_s00000.pt"))
    # statistics come from the training units and period only
    import json
    st = json.load(open(run / "normalization_statistics.json"))
    assert set(st) == {"P", "Temp", "PET", "aridity", "meanP", "meanTa", "frac_forest"}


def test_changed_config_in_same_run_dir_is_refused(tmp_path):
    cfg = tiny_config(epochs=1, iterations_per_epoch=1, validation_period=None)
    train(copy.deepcopy(cfg), tmp_path / "r")
    cfg["train"]["rho"] = 35
    with pytest.raises(DhbvInputError, match="different config"):
        train(cfg, tmp_path / "r")


def test_config_validation():
    with pytest.raises(DhbvInputError, match="overlaps evaluation.period"):
        resolve_config(tiny_config(period=["1981-10-01", "1996-09-30"]))
    with pytest.raises(DhbvInputError, match="unknown key"):
        resolve_config(dict(tiny_config(), train={"epoch": 3}))
    c = resolve_config(tiny_config())
    assert c["train"]["loss"] == "rmse_comb" and c["train"]["optimizer"] == "adadelta"
    assert c["train"]["lr"] == 1.0 and c["train"]["batch_gauges"] == 100


def test_sampler_windows_avoid_validation_and_respect_warmup(tmp_path):
    from dhbv.datasets import dataset_of, load_dataset

    c = resolve_config(tiny_config())
    d = load_dataset(dataset_of(c), c["model"]["attributes"])
    i0, i1 = d.check_period(*c["train"]["period"], "training")
    v0, v1 = d.check_period(*c["train"]["validation_period"], "validation")
    s = WindowSampler(d, [0, 1, 2], i0, i1, rho=40, warmup=365, min_warmup=200, batch_gauges=2,
                      max_units=10, seed=1, exclude=(v0, v1), iterations=5)
    for step in range(50):
        g, t0, warm = s.draw(0, 0, step)
        assert len(g) == 2 and i0 <= t0 and t0 + 40 - 1 < v0
        assert 200 <= warm <= 365 and t0 - warm >= 0      # data start 1981-01-01 → shortened
    assert s.draw(0, 3, 4) == s.draw(0, 3, 4)             # pure function of (seed, epoch, step)


def test_parallel_members_train_the_same_members_as_sequential(tmp_path):
    """Members are independent given (seed, member): 2 worker processes reproduce the
    sequential run bit for bit (both at 1 torch thread per member) and the log is merged."""
    cfg = tiny_config(ensemble=2, epochs=1, validation_period=None, checkpoint_every_steps=None)
    seq = train(copy.deepcopy(cfg), tmp_path / "seq")
    cfg["train"]["parallel_members"] = 2
    par = train(copy.deepcopy(cfg), tmp_path / "par")
    ma = torch.load(seq, weights_only=False)["members"]
    mb = torch.load(par, weights_only=False)["members"]
    assert len(ma) == len(mb) == 2
    for a, b in zip(ma, mb):
        for k in a["weights"]:
            assert torch.equal(a["weights"][k], b["weights"][k]), k
    assert not torch.equal(ma[0]["weights"]["networks.lstm.weight_hh"],
                           ma[1]["weights"]["networks.lstm.weight_hh"])
    la = pd.read_csv(tmp_path / "seq" / "training_log.csv")
    lb = pd.read_csv(tmp_path / "par" / "training_log.csv")
    assert list(lb["member"]) == [0, 1]
    np.testing.assert_array_equal(la["train_loss"], lb["train_loss"])
    assert not list((tmp_path / "par").glob("training_log.member*.csv"))


def test_per_gauge_windows_are_inside_training_and_simulated_from_their_own_start(tmp_path):
    from dhbv.datasets import dataset_of, load_dataset
    from dhbv.runner import build_model, input_statistics, prepare, run_units, run_windows

    c = resolve_config(tiny_config(window_sampling="per_gauge"))
    d = load_dataset(dataset_of(c), c["model"]["attributes"])
    i0, i1 = d.check_period(*c["train"]["period"], "training")
    v0, v1 = d.check_period(*c["train"]["validation_period"], "validation")
    s = WindowSampler(d, [0, 1, 2], i0, i1, rho=40, warmup=365, min_warmup=200, batch_gauges=3,
                      max_units=10, seed=1, exclude=(v0, v1), iterations=5, windows="per_gauge")
    seen = set()
    for step in range(30):
        g, t0, warm = s.draw(0, 0, step)
        assert len(g) == 3 and t0.shape == (3,)
        assert np.all(t0 >= i0) and np.all(t0 + 40 - 1 < v0)
        assert warm == min(365, int(t0.min()) - s.cov0) and warm >= 200
        seen.update(t0.tolist())
    assert len(seen) > 60                                   # many years per epoch, not one
    # each instance equals a run of its unit over its own window alone
    prep = prepare(d, input_statistics(d, [0, 1, 2], i0, i1))
    torch.manual_seed(0)
    model = build_model(c["model"], len(d.attribute_names)).eval()
    units, starts = np.array([2, 0, 2]), np.array([300, 320, 340])
    with torch.no_grad():
        q = run_windows(model, prep, units, starts - 30, 70, 30, "cpu")
        for k in range(3):
            ref = run_units(model, prep, [units[k]], starts[k] - 30, starts[k] + 40, 30, "cpu")
            np.testing.assert_allclose(q[:, k].numpy(), ref[:, 0].numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(DhbvInputError, match="window_sampling"):
        resolve_config(tiny_config(window_sampling="per_year"))


def test_spinup_days_without_gradients_keep_the_loss_and_change_the_update(tmp_path):
    """train.warmup_grad: the first step's loss is that of a full-gradient run (same forward
    values); the updates differ, as the gradient through the first 100 spin-up days is cut
    (after 2 steps: Adadelta's first step is nearly sign(g) · const for every weight). A
    200-day spin-up: after 30 days from cold stores the soil is too dry for any runoff, and
    the dynamic parameters get no gradient at all."""
    runs = {}
    for name, wg in (("full", None), ("cut", 100)):
        for n_it in (1, 2):
            cfg = tiny_config(warmup_grad=wg, iterations_per_epoch=n_it, epochs=1,
                              validation_period=None)
            cfg["model"]["warmup"] = 200
            train(cfg, tmp_path / f"{name}{n_it}")
        runs[name] = (pd.read_csv(tmp_path / f"{name}1" / "training_log.csv"),
                      _weights(tmp_path / f"{name}2" / "model.pt"))
    np.testing.assert_allclose(runs["cut"][0]["train_loss"], runs["full"][0]["train_loss"],
                               rtol=1e-6)
    for key in ("networks.lstm.weight_hh", "networks.mlp.output.weight"):
        assert not torch.equal(runs["full"][1][key], runs["cut"][1][key])
    with pytest.raises(DhbvInputError, match="train.warmup_grad"):
        resolve_config(tiny_config(warmup_grad=-5))
