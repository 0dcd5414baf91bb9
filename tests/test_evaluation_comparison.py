"""Model comparison (dhbv.evaluation.comparison / stage): several simulations of the same
gauges, one tidy table, medians per model; external files in the documented format."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.evaluation.comparison import compare_models, model_summary, read_simulation
from dhbv.evaluation.stage import evaluate_models

GAUGES = ["01000001", "01000002", "01000003"]
AREA = np.array([100.0, 400.0, 2500.0])          # km2
TIME = pd.date_range("2000-01-01", periods=400)


def observed_mm() -> np.ndarray:
    """[time, gauge] observed flow in mm d-1: seasonal cycles with different means."""
    d = np.arange(TIME.size)[:, None]
    return 1.0 + np.array([0.5, 1.0, 2.0]) * (1 + np.sin(2 * np.pi * d / 365.0 + [0, 1, 2]))


def nse(s, o) -> float:
    return 1.0 - np.sum((s - o) ** 2) / np.sum((o - o.mean()) ** 2)


def write_simulation(path, q, units="mm d-1", area=None, gauges=GAUGES, time=TIME, **extra):
    """A simulation NetCDF in the documented format: dims (time, gauge), streamflow + units."""
    coords = {"time": time, "gauge": np.array(gauges, dtype=object)}
    if area is not None:
        coords["area"] = ("gauge", np.asarray(area, dtype=np.float64), {"units": "km2"})
    data = {"streamflow": (("time", "gauge"), np.asarray(q, np.float32),
                           {"units": units} if units else {})}
    data.update(extra)
    xr.Dataset(data, coords=coords).to_netcdf(path)
    return path


def obs_array(values=None) -> xr.DataArray:
    return xr.DataArray(observed_mm() if values is None else values, dims=("time", "gauge"),
                        coords={"time": TIME, "gauge": GAUGES})


def test_run_model_and_external_file_in_cubic_metres_per_second(tmp_path):
    o = observed_mm()
    a = write_simulation(tmp_path / "a.nc", 0.9 * o)
    # the observations themselves, in m3 s-1 with the file's own areas: a perfect model
    b = write_simulation(tmp_path / "b.nc", o * AREA / 86.4, units="m3 s-1", area=AREA)
    sims = [("A", read_simulation(a, "A", GAUGES)), ("B", read_simulation(b, "B", GAUGES))]
    t = compare_models(obs_array(), sims, period=["2000-01-01", "2001-01-31"], min_days=30)
    assert list(t["model"]) == ["A"] * 3 + ["B"] * 3 and list(t["gauge"]) == GAUGES * 2
    want = [nse(0.9 * o[:397, g], o[:397, g]) for g in range(3)]
    np.testing.assert_allclose(t.loc[t["model"] == "A", "nse"], want, rtol=1e-5)
    np.testing.assert_allclose(t.loc[t["model"] == "B", "nse"], 1.0, atol=1e-5)
    assert (t["n_days"] == 397).all() and (t["period_end"] == "2001-01-31").all()
    s = model_summary(t)
    assert list(s["model"]) == ["A", "B"] and (s["n_gauges"] == 3).all()
    assert s.loc[0, "median_nse"] == pytest.approx(np.median(want), rel=1e-5)


def test_cubic_metres_per_second_uses_the_observation_areas_when_the_file_has_none(tmp_path):
    o = observed_mm()
    b = write_simulation(tmp_path / "b.nc", 2 * o * AREA / 86.4, units="m3 s-1")
    q = read_simulation(b, "B", GAUGES[::-1], pd.Series(AREA, index=GAUGES))
    np.testing.assert_allclose(q.values, 2 * o[:, ::-1], rtol=1e-5)
    assert list(q["gauge"].values) == GAUGES[::-1]
    with pytest.raises(DhbvInputError, match="no positive area"):
        read_simulation(b, "B", GAUGES)


def test_nan_days_of_an_external_series_are_left_out_for_every_model(tmp_path):
    o = observed_mm()
    gappy = o.copy()
    gappy[:10, 0] = np.nan
    sims = [("A", obs_array(0.9 * o)), ("NWM", obs_array(gappy))]
    t = compare_models(obs_array(), sims, min_days=30, options={"NWM": {"allow_nan_sim": True}})
    assert t.loc[t["gauge"] == GAUGES[0], "n_days"].tolist() == [390, 390]
    assert t.loc[t["gauge"] == GAUGES[1], "n_days"].tolist() == [400, 400]
    want = nse(0.9 * o[10:, 0], o[10:, 0])
    assert t.loc[(t["model"] == "A") & (t["gauge"] == GAUGES[0]), "nse"].item() == \
        pytest.approx(want)
    with pytest.raises(DhbvInputError, match="NaN"):
        compare_models(obs_array(), sims, min_days=30)


def test_gauges_with_too_many_missing_observations_are_excluded():
    o = observed_mm()
    holes = o.copy()
    holes[:130, 1] = np.nan                      # 32.5 % of 400 days
    t = compare_models(obs_array(holes), [("A", obs_array(o))], min_days=30)
    assert t["excluded"].tolist() == [False, True, False] and np.isnan(t.loc[1, "nse"])
    t = compare_models(obs_array(holes), [("A", obs_array(o))], min_days=30,
                       max_missing_fraction=None)
    assert not t["excluded"].any()


@pytest.mark.parametrize("case, message", [
    ("twice", "model name 'A' given twice"),
    ("missing", "model B: 1 of 3 gauges missing from the simulation (first 01000003)"),
    ("period", "no observations in 1990-01-01 – 1990-12-31"),
])
def test_bad_comparisons_stop_with_one_line(case, message):
    o = obs_array()
    sims = [("A", o), ("A" if case == "twice" else "B",
                       o.isel(gauge=slice(0, 2)) if case == "missing" else o)]
    period = ["1990-01-01", "1990-12-31"] if case == "period" else None
    with pytest.raises(DhbvInputError) as err:
        compare_models(o, sims, period=period)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_simulation_file_format_errors(tmp_path):
    o = observed_mm()
    no_units = write_simulation(tmp_path / "u.nc", o, units=None)
    with pytest.raises(DhbvInputError, match="streamflow units None; declare 'mm d-1' or"):
        read_simulation(no_units, "X", GAUGES)
    feet = write_simulation(tmp_path / "f.nc", o, units="ft3 s-1")
    with pytest.raises(DhbvInputError, match="units 'ft3 s-1'"):
        read_simulation(feet, "X", GAUGES)
    with pytest.raises(DhbvInputError, match="missing from the simulation"):
        read_simulation(write_simulation(tmp_path / "a.nc", o), "X", GAUGES + ["09999999"])


def _forms(tmp_path):
    """Unit forcing coordinates (two units for gauge 1, one each for 2 and 3) and membership."""
    from dhbv.io.standard import make_membership

    units = ["u1", "u2", "u3", "u4"]
    xr.Dataset(coords={"unit": units, "area": ("unit", [60.0, 40.0, 400.0, 2500.0]),
                       "lat": ("unit", [40.0, 41.0, 45.0, 35.0]),
                       "lon": ("unit", [-100.0, -101.0, -90.0, -80.0])}).to_netcdf(
        tmp_path / "forcing.nc")
    make_membership([GAUGES[0], GAUGES[0], GAUGES[1], GAUGES[2]], units).to_netcdf(
        tmp_path / "membership.nc")
    return {"forcing": tmp_path / "forcing.nc", "membership": tmp_path / "membership.nc"}


def test_evaluate_models_writes_one_tidy_table_per_run(tmp_path):
    from dhbv.evaluation.comparison import parquet_available

    o = observed_mm()
    ref = write_simulation(tmp_path / "run.nc", 0.9 * o, area=AREA,
                           observed=(("time", "gauge"), o.astype(np.float32),
                                     {"units": "mm d-1"}))
    ext = write_simulation(tmp_path / "nwm.nc", 1.1 * o * AREA / 86.4, units="m3 s-1", area=AREA)
    models = {"dHBV2.0": {"source": "run"}, "NWM": {"source": "file", "path": str(ext)}}
    out = tmp_path / "eval"
    table = evaluate_models({"demo": ref}, {"demo": _forms(tmp_path)},
                            {"dHBV2.0": {"demo": ref}, "NWM": {"demo": ext}},
                            out / "metrics.csv", out / "summary.csv", models=models,
                            period=["2000-01-01", "2000-12-31"], min_days=100,
                            max_missing_fraction=0.3,
                            out_parquet=out / "metrics.parquet" if parquet_available() else None)
    t = pd.read_csv(out / "metrics.csv", dtype={"gauge": str})
    assert list(t.columns[:8]) == ["gauge", "dataset", "model", "area", "lat", "lon",
                                   "period_start", "period_end"]
    assert {"nse", "kge", "nnse", "spearman_rho", "bias_rel", "abs_fhv"} <= set(t.columns)
    assert len(t) == 6 and set(t["dataset"]) == {"demo"} and (t["n_days"] == 366).all()
    g1 = t[t["gauge"] == GAUGES[0]].iloc[0]
    # area-weighted position of the two units of gauge 1: (60·40 + 40·41) / 100
    assert g1["lat"] == pytest.approx(40.4) and g1["lon"] == pytest.approx(-100.4)
    assert g1["area"] == pytest.approx(100.0)
    np.testing.assert_allclose(t.loc[t["model"] == "NWM", "bias_rel"], 0.1, rtol=1e-4)
    s = pd.read_csv(out / "summary.csv")
    want = np.median([nse(0.9 * o[:366, g], o[:366, g]) for g in range(3)])
    assert s.set_index("model").loc["dHBV2.0", "median_nse"] == pytest.approx(want, rel=1e-5)
    assert len(table) == 6
    assert (out / "metrics.parquet").exists() == parquet_available()


def test_evaluate_models_writes_nothing_when_a_file_lacks_gauges(tmp_path):
    o = observed_mm()
    ref = write_simulation(tmp_path / "run.nc", o, observed=(("time", "gauge"),
                                                             o.astype(np.float32)))
    short = write_simulation(tmp_path / "x.nc", o[:, :2], gauges=GAUGES[:2])
    with pytest.raises(DhbvInputError, match="gauges missing"):
        evaluate_models({"d": ref}, {"d": _forms(tmp_path)},
                        {"run": {"d": ref}, "X": {"d": short}}, tmp_path / "o/m.csv",
                        tmp_path / "o/s.csv", models={}, period=None, min_days=10,
                        max_missing_fraction=None)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("models, message", [
    ({"m": {"source": "member"}}, "evaluation.models.m: source member needs member"),
    ({"m": {"source": "member", "member": 3}}, "0 <= k < train.ensemble (2)"),
    ({"m": {"source": "file"}}, "evaluation.models.m: source file needs path"),
    ({"m": {"source": "file", "path": "config.yaml", "datasets": ["nope"]}},
     "datasets names 'nope', which is not in simulate.datasets"),
])
def test_config_checks_the_models(models, message, monkeypatch, repo):
    from dhbv.config import validate_config

    monkeypatch.chdir(repo)
    cfg = {"train": {"ensemble": 2}, "evaluation": {"models": models}}
    with pytest.raises(DhbvInputError) as err:
        validate_config(cfg, source="my.yaml")
    assert message in str(err.value)


def test_config_compare_names_listed_models(monkeypatch, repo):
    from dhbv.config import validate_config

    monkeypatch.chdir(repo)
    cfg = {"evaluation": {"compare": ["dHBV2.0", "NWM"]}}
    with pytest.raises(DhbvInputError, match="evaluation.compare names 'NWM'"):
        validate_config(cfg, source="my.yaml")
