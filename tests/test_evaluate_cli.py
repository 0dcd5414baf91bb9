"""``dhbv evaluate`` on a user's own observation and simulation files: the table, and
one-line errors with no output for bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dhbv.cli import main
from test_evaluation_comparison import AREA, GAUGES, TIME, nse, observed_mm, write_simulation


def write_observations(path, q, units="m3 s-1"):
    """Standard gauge observations with positions: streamflow [time, gauge], area, lat, lon."""
    xr.Dataset({"streamflow": (("time", "gauge"), np.asarray(q, np.float32),
                               {"units": units} if units else {})},
               coords={"time": TIME, "gauge": GAUGES, "area": ("gauge", AREA),
                       "lat": ("gauge", [40.0, 41.0, 42.0]),
                       "lon": ("gauge", [-100.0, -99.0, -98.0])}).to_netcdf(path)
    return path


@pytest.fixture
def files(tmp_path):
    o = observed_mm()
    return {"o": o,
            "obs": write_observations(tmp_path / "obs.nc", o * AREA / 86.4),
            "a": write_simulation(tmp_path / "a.nc", 0.8 * o),
            "b": write_simulation(tmp_path / "b.nc", 1.2 * o * AREA / 86.4, units="m3 s-1",
                                  area=AREA)}


def test_two_models_one_table(files, tmp_path, capsys):
    out, summary = tmp_path / "out" / "t.csv", tmp_path / "out" / "s.csv"
    rc = main(["evaluate", "--obs", str(files["obs"]), "--sim", f"mine={files['a']}",
               "--sim", str(files["b"]), "--out", str(out), "--summary", str(summary),
               "--period", "2000-02-01", "2000-12-31", "--min-days", "100"])
    assert rc == 0, capsys.readouterr().err
    t = pd.read_csv(out, dtype={"gauge": str})
    assert list(t.columns[:7]) == ["gauge", "model", "area", "lat", "lon", "period_start",
                                   "period_end"]
    assert list(t["model"]) == ["mine"] * 3 + ["b"] * 3          # b: the file's stem
    o = files["o"][31:366]
    np.testing.assert_allclose(t.loc[t["model"] == "mine", "nse"],
                               [nse(0.8 * o[:, g], o[:, g]) for g in range(3)], rtol=1e-5)
    np.testing.assert_allclose(t.loc[t["model"] == "b", "bias_rel"], 0.2, rtol=1e-4)
    assert (t["n_days"] == 335).all() and t["lat"].tolist() == [40.0, 41.0, 42.0] * 2
    s = pd.read_csv(summary)
    assert list(s["model"]) == ["mine", "b"] and (s["n_gauges"] == 3).all()
    assert "median_nse" in capsys.readouterr().out


def test_gauge_subset_and_observation_units_from_the_command_line(files, tmp_path):
    obs = write_observations(tmp_path / "o2.nc", files["o"], units=None)
    out = tmp_path / "t.csv"
    assert main(["evaluate", "--obs", str(obs), "--obs-units", "mm d-1", "--sim",
                 f"a={files['a']}", "--gauges", GAUGES[2], "--out", str(out),
                 "--min-days", "100"]) == 0
    t = pd.read_csv(out, dtype={"gauge": str})
    assert t["gauge"].tolist() == [GAUGES[2]]
    assert t["nse"].item() == pytest.approx(nse(0.8 * files["o"][:, 2], files["o"][:, 2]),
                                            rel=1e-5)


def _bad(tmp_path, files, case):
    o = files["o"]
    args = ["--obs", str(files["obs"]), "--sim", f"a={files['a']}"]
    if case == "declared units":
        args += ["--obs-units", "mm d-1"]
    elif case == "values in other units":
        # flows in m3 s-1 stored with the attribute mm d-1
        args[1] = str(write_observations(tmp_path / "o3.nc", o * AREA / 86.4, units="mm d-1"))
    elif case == "missing gauges":
        short = write_simulation(tmp_path / "s.nc", o[:, :2], gauges=GAUGES[:2])
        args += ["--sim", f"short={short}"]
    elif case == "empty period":
        args += ["--period", "1990-01-01", "1990-12-31"]
    elif case == "name twice":
        args += ["--sim", f"a={files['b']}"]
    return args


@pytest.mark.parametrize("case, message", [
    ("declared units", "streamflow is in 'm3 s-1' by its units attribute but 'mm d-1' was "
                       "declared"),
    ("values in other units", "the values are not in the declared units 'mm d-1'"),
    ("missing gauges", "model short: "),
    ("empty period", "no observations in 1990-01-01 – 1990-12-31"),
    ("name twice", "model name 'a' given twice"),
])
def test_bad_input_one_line_error_and_no_output(case, message, files, tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = _bad(tmp_path, files, case)
    rc = main(["evaluate", *args, "--out", str(out_dir / "t.csv"), "--summary",
               str(out_dir / "s.csv"), "--min-days", "100"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and message in err, err
    if case == "missing gauges":
        assert "1 of 3 gauges missing from the simulation (first 01000003)" in err
    assert list(out_dir.iterdir()) == []
