"""Learned channel parameters: reach attributes, the bounded parameter network, training on the
Juniata network (a twin case with known n and q), the ``dhbv route`` CLI and its bad inputs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from dhbv.cli import main
from dhbv.errors import DhbvInputError
from dhbv.routing import ChannelParameters, RoutingGraph, RoutingOptions, route
from dhbv.routing.attributes import (ROUTING_ATTRIBUTES, AttributeStatistics, fit_statistics,
                                     normalise, reach_inputs, read_reach_attributes)
from dhbv.routing.learned import RoutingParameterNetwork
from dhbv.routing.training import (RoutingTrainingOptions, load_graph, load_routing_run,
                                   route_flows, score_routing, train_routing)

JUNIATA = Path(__file__).resolve().parents[1] / "resources" / "demo" / "juniata_merit"
ZARR = JUNIATA / "juniata_conus_adjacency.zarr"
QPRIME = JUNIATA / "juniata_qprime.nc"
ATTRS = JUNIATA / "juniata_attributes.nc"
GAGE = JUNIATA / "juniata_gage.csv"
#: a short twin experiment: one training year, 30 warm-up days, 120-day windows
SHORT = dict(train_period=("1981-10-01", "1982-09-30"), test_period=("1982-10-01", "1983-03-31"),
             warmup_days=30, window_days=120, lr=0.02, seed=3)
TRUE_N, TRUE_Q = 0.035, 0.3


# ----------------------------------------------------------------------------- attributes
def _attr_file(path: Path, ids, **cols) -> Path:
    xr.Dataset({k: ("COMID", np.asarray(v, float)) for k, v in cols.items()},
               coords={"COMID": np.asarray(ids, np.int64)}).to_netcdf(path)
    return path


def test_nan_fill_and_normalisation_by_hand(tmp_path, caplog):
    """a = [1, 3, NaN, 5] → mean 3, std √(8/3) (ddof 0 over the 3 valid values), NaN → 0;
    b constant → std 1, all 0; rows follow the network's ids, extra file rows are dropped."""
    f = _attr_file(tmp_path / "a.nc", [40, 10, 30, 20, 99], a=[5, 1, np.nan, 3, 100],
                   b=[2, 2, 2, 2, 7])
    raw = read_reach_attributes(f, [10, 20, 30, 40], names=("a", "b"))
    np.testing.assert_array_equal(raw[:, 0], [1, 3, np.nan, 5])
    stats = fit_statistics(raw, ("a", "b"))
    assert stats.mean.tolist() == [3.0, 2.0]
    assert stats.std[0] == pytest.approx(np.sqrt(8 / 3)) and stats.std[1] == 1.0
    assert stats.filled == {"a": 1, "b": 0}
    with caplog.at_level(logging.INFO, "dhbv.routing.attributes"):
        x, filled = normalise(raw, stats)
    s = np.sqrt(8 / 3)
    np.testing.assert_allclose(x[:, 0], [-2 / s, 0, 0, 2 / s])
    np.testing.assert_array_equal(x[:, 1], 0.0)
    assert filled == {"a": 1, "b": 0} and "a 1, b 0" in caplog.text
    # the statistics travel with the model: another network is normalised with them
    back = AttributeStatistics.from_dict(stats.to_dict())
    x2, _ = normalise(np.array([[7.0, 4.0]]), back)
    np.testing.assert_allclose(x2, [[4 / s, 2.0]])


def test_juniata_attributes_one_ndvi_nan(caplog):
    graph = load_graph(ZARR)
    with caplog.at_level(logging.INFO, "dhbv.routing.attributes"):
        x, stats, raw = reach_inputs(ATTRS, graph.ids)
    assert stats.names == ROUTING_ATTRIBUTES and x.shape == (213, 10)
    assert stats.filled["NDVI"] == 1 and sum(stats.filled.values()) == 1
    assert "NDVI 1" in caplog.text
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-12)
    # filling with the mean keeps the sum of squares: the NDVI std shrinks by √(212/213)
    expected = np.where(np.array(ROUTING_ATTRIBUTES) == "NDVI", np.sqrt(212 / 213), 1.0)
    np.testing.assert_allclose(x.std(0), expected, rtol=1e-12)
    # log10 of the upstream area grows downstream: the outlet has the largest
    assert raw[graph.outlets[0], ROUTING_ATTRIBUTES.index("log10_uparea")] == raw[:, 6].max()


@pytest.mark.parametrize("edit, culprit", [
    (lambda ids, c: (ids[:-1], {k: v[:-1] for k, v in c.items()}), "1 network reaches have"),
    (lambda ids, c: (np.r_[ids, ids[:1]], {k: np.r_[v, v[:1]] for k, v in c.items()}),
     "appears 2 times"),
    (lambda ids, c: (ids, {k: v for k, v in c.items() if k != "a"}), "no variable 'a'"),
])
def test_attribute_file_errors(tmp_path, edit, culprit):
    ids, cols = edit(np.array([1, 2, 3]), {"a": np.ones(3), "b": np.ones(3)})
    f = _attr_file(tmp_path / "a.nc", ids, **cols)
    with pytest.raises(DhbvInputError, match=culprit) as err:
        read_reach_attributes(f, [1, 2, 3], names=("a", "b"))
    assert str(f) in str(err.value) and "\n" not in str(err.value)


def test_parameter_bounds_hold_for_any_input():
    torch.manual_seed(0)
    net = RoutingParameterNetwork(10, hidden=16, layers=2, learn_p=True).double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(50.0)                                   # saturate the sigmoids
    x = torch.cat([torch.randn(500, 10, dtype=torch.float64) * s for s in (1, 100, 1e4)])
    with torch.no_grad():
        out = net(x)
    assert float(out.n.min()) >= 0.015 and float(out.n.max()) <= 0.25
    assert float(out.q.min()) >= 0.0 and float(out.q.max()) <= 1.0
    assert float(out.p.min()) >= 1.0 and float(out.p.max()) <= 200.0
    assert float(out.n.min()) < 0.02 and float(out.n.max()) > 0.24      # both ends reached
    with pytest.raises(DhbvInputError, match="NaN"):
        net(torch.full((2, 10), float("nan"), dtype=torch.float64))


# ----------------------------------------------------------------------------- twin training
@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """Observations made by routing the real Q′ with n = 0.035, q = 0.3 everywhere (wide
    channel); an untrained model (epochs 0) and one trained 3 epochs from the same seed."""
    root = tmp_path_factory.mktemp("twin")
    graph = load_graph(ZARR)
    with xr.open_dataset(QPRIME) as ds:
        lat = ds["Qr"].sel(time=slice("1981-01-01", "1983-04-30"))
        days = pd.DatetimeIndex(lat["time"].values)
        q = lat.transpose("time", "divide_id").values.astype(np.float64)
        lat.to_dataset().to_netcdf(root / "lateral.nc")
    res = route(graph, torch.as_tensor(q), ChannelParameters(n=TRUE_N, q=TRUE_Q),
                readout=[212])
    xr.Dataset({"streamflow": (("gage_id", "time"), res.mean.numpy().T, {"units": "m3/s"})},
               coords={"gage_id": ["01567000"], "time": days[:-1]}).to_netcdf(root / "obs.nc")
    common = (ZARR, ATTRS, root / "lateral.nc", root / "obs.nc", GAGE, ["01567000"])
    start = train_routing(*common, root / "untrained", RoutingTrainingOptions(**SHORT, epochs=0))
    trained = train_routing(*common, root / "run", RoutingTrainingOptions(**SHORT, epochs=3))
    return {"root": root, "common": common, "start": start, "trained": trained}


def _nse(run_dir, twin, period="train", flow="routed"):
    run = load_routing_run(run_dir)
    s = score_routing(run, *twin["common"][2:4], GAGE, ["01567000"])
    return float(s.query("period == @period and flow == @flow")["nse"].iloc[0]), run


def test_twin_training_improves_the_fit_and_moves_n_towards_the_truth(twin):
    nse0, run0 = _nse(twin["root"] / "untrained", twin)
    nse1, run1 = _nse(twin["root"] / "run", twin)
    test1, _ = _nse(twin["root"] / "run", twin, "test")
    assert nse0 < 0.9 and nse1 > 0.97 and test1 > 0.97        # stated margin: +0.07 NSE
    assert 1 - nse1 < 0.3 * (1 - nse0)                        # error variance cut by > 70 %
    assert twin["trained"]["train_nse"]["01567000"] == pytest.approx(nse1, abs=1e-3)
    x = run0.parameters(normalise(run0.attributes, run0.statistics)[0])
    y = run1.parameters(normalise(run1.attributes, run1.statistics)[0])
    err0 = float(np.median(np.abs(np.log(x.n.numpy() / TRUE_N))))
    err1 = float(np.median(np.abs(np.log(y.n.numpy() / TRUE_N))))
    assert err1 < 0.5 * err0
    log = pd.read_csv(twin["root"] / "run" / "training_log.csv")
    assert list(log["epoch"]) == [1, 2, 3] and (log["steps"] == 3).all()
    assert log["loss"].iloc[-1] < log["loss"].iloc[0]


def test_training_is_deterministic(twin, tmp_path):
    train_routing(*twin["common"], tmp_path / "again", RoutingTrainingOptions(**SHORT, epochs=3))
    a = torch.load(twin["root"] / "run" / "routing_model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "again" / "routing_model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(
        ["routing_model.pt", "attribute_statistics.json", "options.yaml", "training_log.csv",
         "reaches.nc"])


def test_route_flows_outputs(twin, tmp_path):
    out = {k: tmp_path / f"{k}.nc" for k in ("parameters", "discharge")}
    scores = route_flows(twin["root"] / "run", *twin["common"][2:4], GAGE, ["01567000"],
                         parameters_out=out["parameters"], discharge_out=out["discharge"],
                         scores_out=tmp_path / "scores.csv",
                         period=["1982-01-01", "1982-12-31"])
    pars = xr.open_dataset(out["parameters"])
    assert pars["n"].attrs["units"] == "s m-1/3" and pars.sizes["reach"] == 213
    assert ((pars["n"] >= 0.015) & (pars["n"] <= 0.25)).all()
    dis = xr.open_dataset(out["discharge"])
    assert dis["discharge"].attrs["units"] == "m3 s-1" and dis.sizes["time"] == 365
    assert dis["discharge"].attrs["standard_name"] == "water_volume_transport_in_river_channel"
    # the gauge reach's routed flow fits the twin's truth (NSE computed here by hand)
    obs = xr.open_dataset(twin["root"] / "obs.nc")["streamflow"].sel(
        gage_id="01567000", time=dis["time"]).values
    q = dis["discharge"].sel(reach=73005278).values
    assert 1 - ((q - obs) ** 2).sum() / ((obs - obs.mean()) ** 2).sum() > 0.98
    # volume: the routed year carries the year's lateral inflow to within 2 %
    with xr.open_dataset(twin["common"][2]) as ds:
        inflow = float(ds["Qr"].sel(time=slice("1982-01-01", "1982-12-31")).sum())
    assert float(q.sum()) == pytest.approx(inflow, rel=0.02)
    assert set(scores["flow"]) == {"routed", "unrouted"} and set(scores["period"]) == {
        "train", "test"}
    assert pd.read_csv(tmp_path / "scores.csv").shape == scores.shape


# ----------------------------------------------------------------------------- the CLI
def test_cli_route_round_trip(twin, tmp_path, capsys):
    """Two overlapping periods agree after their warm-ups (same day alignment), the reaches
    are in the network's order, and the flow equals routing with the written n and q."""
    run = twin["root"] / "run"
    lat = twin["common"][2]
    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    assert main(["route", "--run-dir", str(run), "--lateral", str(lat), "--period",
                 "1982-01-01", "1982-12-31", "--out", str(a)]) == 0
    assert main(["route", "--run-dir", str(run), "--lateral", str(lat), "--period",
                 "1981-06-01", "1983-01-31", "--out", str(b),
                 "--network", str(ZARR), "--attributes", str(ATTRS)]) == 0
    qa = xr.open_dataset(a)["discharge"]
    qb = xr.open_dataset(b)["discharge"].sel(time=qa["time"])
    late = qa["time"] >= np.datetime64("1982-03-01")
    np.testing.assert_allclose(qa.where(late, drop=True), qb.where(late, drop=True), rtol=1e-5)
    # independent: route() with the learned n, q from the model and a 30-day warm-up
    r = load_routing_run(run)
    p = r.parameters(normalise(r.attributes, r.statistics)[0])
    graph = load_graph(ZARR)
    with xr.open_dataset(lat) as ds:
        q = ds["Qr"].sel(time=slice("1981-12-02", "1983-01-01")).transpose("time", ...).values
    res = route(graph, torch.as_tensor(q.astype(np.float64)), p,
                options=RoutingOptions(geometry="wide"))
    np.testing.assert_allclose(qa.values, res.mean.numpy()[30:], rtol=2e-6)
    assert (qa["reach"].values == graph.ids).all()


# ----------------------------------------------------------------------------- bad inputs
_BUILT: dict = {}


def _net_copy(tmp: Path, edit) -> Path:
    """The Juniata network file (built once per session) with ``edit`` applied."""
    from dhbv.network import build_topology

    if "net" not in _BUILT:
        build_topology(JUNIATA / "juniata_reaches.csv", out_path=tmp / "net.nc")
        with xr.open_dataset(tmp / "net.nc") as src:
            _BUILT["ds"] = src.load()
        _BUILT["net"] = True
    ds = _BUILT["ds"].copy(deep=True)
    edit(ds)
    out = tmp / "bad_net.nc"
    ds.to_netcdf(out)
    return out


def _lateral_copy(tmp: Path, edit) -> Path:
    with xr.open_dataset(QPRIME) as ds:
        d = ds.sel(time=slice("1981-01-01", "1982-12-31")).load()
    d = edit(d) or d
    d.to_netcdf(tmp / "lat.nc")
    return tmp / "lat.nc"


def _set(var, index, value):
    def edit(ds):
        v = ds[var].values.copy()
        v[index] = value
        ds[var] = (ds[var].dims, v, ds[var].attrs)
    return edit


def _cycle(ds):
    """Reach 0 drains into d (COO row d, column 0); make d drain back into reach 0."""
    rows, cols = ds["indices_0"].values.copy(), ds["indices_1"].values.copy()
    d = int(rows[cols == 0][0])
    rows[cols == d] = 0
    ds["indices_0"] = (ds["indices_0"].dims, rows)


BAD = {
    # in a stored order a cycle always has an edge pointing upstream: the reader names it
    "network_cycle": (lambda t: ["--network", _net_copy(t, _cycle)], "not topological"),
    "zero_length": (lambda t: ["--network", _net_copy(t, _set("length_m", 7, 0.0))],
                    "length_m"),
    "zero_slope": (lambda t: ["--network", _net_copy(t, _set("slope", 7, 0.0))], "slope"),
    "lateral_misses_a_reach": (lambda t: ["--lateral", _lateral_copy(
        t, lambda d: d.isel(divide_id=slice(1, None)))], "no inflow for 1 network reaches"),
    "lateral_reach_not_in_network": (lambda t: ["--lateral", _lateral_copy(
        t, lambda d: d.assign_coords(divide_id=np.r_[d.divide_id.values[:-1], 1]))],
        "not in the network"),
    "negative_inflow": (lambda t: ["--lateral", _lateral_copy(t, _set("Qr", (5, 400), -1.0))],
                        "negative"),
    "nan_inflow": (lambda t: ["--lateral", _lateral_copy(t, _set("Qr", (5, 400), np.nan))],
                   "NaN"),
    "period_outside_file": (lambda t: ["--period", "1982-06-01", "1983-06-30"],
                            "1981-01-01..1982-12-31"),
    "period_reaches_last_record": (lambda t: ["--period", "1982-06-01", "1982-12-31"],
                                   "next day's record"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_cli_route_bad_input(twin, tmp_path, capsys, name):
    make, culprit = BAD[name]
    extra = [str(v) for v in make(tmp_path)]
    args = {"--run-dir": str(twin["root"] / "run"), "--period": ["1982-03-01", "1982-06-30"],
            "--out": str(tmp_path / "out" / "q.nc")}
    if "--lateral" not in extra:
        args["--lateral"] = str(_lateral_copy(tmp_path, lambda d: None))
    if "--network" in extra:
        args["--attributes"] = str(ATTRS)
    argv = ["route"]
    for k, v in args.items():
        if k not in extra:
            argv += [k, *(v if isinstance(v, list) else [v])]
    rc = main(argv + extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("dhbv route: error:"), err
    assert culprit in err[0], err[0]
    assert not (tmp_path / "out").exists()


def test_train_routing_bad_network_leaves_no_run(twin, tmp_path):
    bad = _net_copy(tmp_path, _cycle)
    with pytest.raises(DhbvInputError, match="not topological") as err:
        train_routing(bad, *twin["common"][1:], tmp_path / "run",
                      RoutingTrainingOptions(**SHORT, epochs=1))
    assert str(bad) in str(err.value)
    assert not (tmp_path / "run").exists()


def test_cli_route_run_dir_not_trained(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc = main(["route", "--run-dir", str(tmp_path / "empty"), "--lateral", str(QPRIME),
               "--period", "1982-01-01", "1982-01-31", "--out", str(tmp_path / "q.nc")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "routing_model.pt" in err[0]
    assert not (tmp_path / "q.nc").exists()


def test_route_graph_rejects_cycles_directly():
    with pytest.raises(DhbvInputError, match="cycle"):
        RoutingGraph(downstream=np.array([1, 2, 1, -1]), length_m=np.ones(4), slope=np.ones(4))
