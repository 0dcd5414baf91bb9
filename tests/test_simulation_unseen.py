"""A trained model runs on basins it never saw (Caravan and standard-form inputs) via the CLI."""
import copy

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from dhbv.cli import main
from dhbv.training import train

from test_training_resume import DEMO, tiny_config

UNSEEN = ["01333000", "01423000"]


def test_simulate_unseen_basins_and_score(tmp_path):
    cfg = tiny_config(epochs=1, iterations_per_epoch=3, validation_period=None,
                      checkpoint_every_steps=None)
    run = tmp_path / "run"
    train(copy.deepcopy(cfg), run)
    new = copy.deepcopy(cfg)
    new["datasets"]["three"]["sources"][0]["basins"] = UNSEEN
    new_yaml = tmp_path / "unseen.yaml"
    new_yaml.write_text(yaml.safe_dump({"datasets": {"unseen": new["datasets"]["three"]},
                                        "model": new["model"]}))
    out, scores = tmp_path / "sim.nc", tmp_path / "scores.csv"
    rc = main(["simulate", "--run-dir", str(run), "--config", str(new_yaml), "--out", str(out),
               "--period", "1996-01-01", "1997-12-31", "--scores", str(scores),
               "--obs-out", str(tmp_path / "obs.nc")])
    assert rc == 0
    with xr.open_dataset(out) as ds:
        assert list(ds["gauge"].values) == UNSEEN
        assert ds["streamflow"].attrs["units"] == "mm d-1"
        assert ds.sizes["time"] == 731 and np.isfinite(ds["streamflow"].values).all()
        assert (ds["streamflow"].values >= 0).all()
    t = pd.read_csv(scores, dtype={"gauge": str})
    assert list(t["gauge"]) == UNSEEN and np.isfinite(t["nse"]).all()
    # the same basins given as standard forms (dhbv prepare) give the same flows
    assert main(["prepare", "--config", str(new_yaml), "--out-dir", str(tmp_path / "std")]) == 0
    std_cfg = {"datasets": {"unseen_std": {"sources": [{
        "type": "standard", "forcing": str(tmp_path / "std" / "unit_forcing.nc"),
        "attributes": str(tmp_path / "std" / "unit_attributes.nc"),
        "observations": str(tmp_path / "std" / "gauge_observations.nc"),
        "membership": str(tmp_path / "std" / "gauge_membership.nc")}]}}}
    std_yaml = tmp_path / "std.yaml"
    std_yaml.write_text(yaml.safe_dump(std_cfg))
    assert main(["simulate", "--run-dir", str(run), "--config", str(std_yaml), "--out",
                 str(tmp_path / "sim2.nc"), "--period", "1996-01-01", "1997-12-31"]) == 0
    with xr.open_dataset(out) as a, xr.open_dataset(tmp_path / "sim2.nc") as b:
        np.testing.assert_allclose(a["streamflow"].values, b["streamflow"].values, rtol=1e-5,
                                   atol=1e-6)
    # evaluate subcommand on the written files
    assert main(["evaluate", "--sim", str(out), "--obs", str(tmp_path / "obs.nc"),
                 "--out", str(tmp_path / "s2.csv")]) == 0
    t2 = pd.read_csv(tmp_path / "s2.csv", dtype={"gauge": str})
    np.testing.assert_allclose(t2["nse"], t["nse"])


def test_cli_input_error_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({
        "datasets": {"bad": {"sources": [{"type": "caravan", "basins": ["1"],
                                          "timeseries_dir": str(tmp_path),
                                          "attributes_dir": f"{DEMO}/camels_us/attributes"}]}},
        "train": {"dataset": "bad", "period": ["1981-10-01", "1982-09-30"]}}))
    assert main(["train", "--config", str(bad), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error:" in err


def test_full_spinup_is_the_continuous_simulation_from_the_forcing_start(tmp_path):
    cfg = tiny_config(epochs=1, iterations_per_epoch=2, validation_period=None,
                      checkpoint_every_steps=None)
    run = tmp_path / "run"
    train(copy.deepcopy(cfg), run)
    full, cont = tmp_path / "full.nc", tmp_path / "cont.nc"
    assert main(["simulate", "--run-dir", str(run), "--out", str(full),
                 "--period", "1996-01-01", "1996-12-31", "--spinup", "full"]) == 0
    # the Caravan series start on 1981-01-01: a run from there without spin-up, cut to 1996
    assert main(["simulate", "--run-dir", str(run), "--out", str(cont),
                 "--period", "1981-01-01", "1996-12-31", "--spinup", "0"]) == 0
    with xr.open_dataset(full) as a, xr.open_dataset(cont) as b:
        assert a.attrs["warmup_days"] == (pd.Timestamp("1996-01-01")
                                          - pd.Timestamp("1981-01-01")).days == 5478
        assert b.attrs["warmup_days"] == 0
        np.testing.assert_allclose(a["streamflow"].values,
                                   b["streamflow"].sel(time=slice("1996-01-01", None)).values,
                                   rtol=1e-5, atol=1e-6)


def test_bad_spinup_is_rejected_with_the_key_named(tmp_path, capsys):
    from dhbv.config import resolve_config
    from dhbv.errors import DhbvInputError
    from dhbv.simulation import simulate

    cfg = tiny_config(epochs=1)
    for bad in ("long", -5, 1.5):
        cfg["simulate"] = {"spinup": bad}
        try:
            resolve_config(cfg)
        except DhbvInputError as err:
            assert "simulate.spinup" in str(err)
        else:
            raise AssertionError(f"spinup {bad!r} was accepted")
    rc = None
    try:
        rc = main(["simulate", "--run-dir", str(tmp_path), "--out", str(tmp_path / "x.nc"),
                   "--spinup", "-3"])
    except SystemExit as stop:
        rc = stop.code
    assert rc == 2 and "--spinup" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()
    # the Python API checks the value before it reads anything
    try:
        simulate(tmp_path, None, tmp_path / "y.nc", spinup="long")
    except DhbvInputError as err:
        assert "spinup" in str(err)
    else:
        raise AssertionError("simulate(spinup='long') was accepted")
    assert not (tmp_path / "y.nc").exists()


def test_members_alone_average_to_the_ensemble_and_parameters_stay_in_range(tmp_path):
    from dhbv.parameters import learned_parameters, range_use
    from dhbv.physics.hbv2 import PARAMETER_RANGES

    cfg = tiny_config(ensemble=2, epochs=1, iterations_per_epoch=2, validation_period=None,
                      checkpoint_every_steps=None)
    run = tmp_path / "run"
    train(copy.deepcopy(cfg), run)
    period = ["1996-01-01", "1996-12-31"]
    for name, extra in (("all", []), ("m0", ["--member", "0"]), ("m1", ["--member", "1"])):
        assert main(["simulate", "--run-dir", str(run), "--out", str(tmp_path / f"{name}.nc"),
                     "--period", *period, *extra]) == 0
    with xr.open_dataset(tmp_path / "all.nc") as a, xr.open_dataset(tmp_path / "m0.nc") as m0, \
            xr.open_dataset(tmp_path / "m1.nc") as m1:
        assert m0.attrs["member"] == 0 and a.attrs["member"] == "all"
        assert not np.allclose(m0["streamflow"].values, m1["streamflow"].values)
        np.testing.assert_allclose(a["streamflow"].values,
                                   (m0["streamflow"].values + m1["streamflow"].values) / 2,
                                   rtol=1e-6, atol=1e-7)
    assert main(["simulate", "--run-dir", str(run), "--out", str(tmp_path / "x.nc"),
                 "--member", "2"]) == 2
    assert not (tmp_path / "x.nc").exists()
    phys = learned_parameters(run, period=period)
    assert phys["FC"].shape == (2, 3, 2) and phys["BETA"].shape == (2, 366, 3, 2)
    for name, (lo, hi) in PARAMETER_RANGES.items():
        assert lo <= phys[name].min() and phys[name].max() <= hi, name
    table = range_use(run, period=period).set_index("parameter")
    lo, hi = PARAMETER_RANGES["FC"]
    scaled_fc = (phys["FC"] - lo) / (hi - lo)
    np.testing.assert_allclose(table.loc["FC", "q50"], np.quantile(scaled_fc, 0.5), rtol=1e-5)
    np.testing.assert_allclose(table.loc["FC", "at_low"], (scaled_fc < 0.02).mean())
