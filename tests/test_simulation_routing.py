"""Routed domain simulation of a δHBV2.0MC run (dhbv.simulation.routed): on a 7-reach network
with a tiny two-member Muskingum–Cunge model, chunked = unchunked for the routed streamflow and
the unit outputs, the streamflow equals an independent route() of the members' unit runoff, a
state of another network is refused without output, and the routing water balance closes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.simulation import domain as dom
from dhbv.simulation.store import open_chunks, open_routed, open_store
from dhbv.simulation.variables import DEFAULT_VARIABLES

PERIOD = ["1990-01-01", "1991-12-31"]
FIRST = pd.Timestamp("1989-11-01")          # forcing start: 61 days of spin-up before PERIOD
WARMUP = 40                                  # model.warmup = spin-up days of the first chunk
LEAD = 5                                     # model.routing.warmup_days
NAMES = ["a1", "a2", "a3"]
IDS = np.arange(71000001, 71000008)
#: 1, 2 → 3; 3, 4 → 5; 5, 6 → 7 (outlet): reach index i drains into DOWN[i]
DOWN = np.array([2, 2, 4, 4, 6, 6, -1])
LENGTH_KM = np.array([4.0, 6.5, 3.0, 8.0, 5.5, 7.0, 9.0])
SLOPE = np.array([0.004, 0.006, 0.003, 0.005, 0.002, 0.004, 0.0015])
AREA = np.array([35.0, 60.0, 20.0, 80.0, 45.0, 55.0, 30.0])       # km²
#: gauges: partial-area on reach 3 (FLOW_SCALE 0.6; the outlet gauge is downstream of it),
#: headwater reach 4 and the outlet (whole units)
GAUGES = {"00000003": (IDS[2], 0.6), "00000004": (IDS[3], 1.0), "00000007": (IDS[6], 1.0)}
VARS = list(DEFAULT_VARIABLES)


def _network(path, length_factor=1.0):
    from dhbv.network import build_network
    from dhbv.network.store import write_network

    up = AREA.copy()
    for i in range(len(IDS)):                       # upstream areas (reaches in order)
        if DOWN[i] >= 0:
            up[DOWN[i]] += up[i]
    table = pd.DataFrame({"COMID": IDS, "NextDownID": np.where(DOWN >= 0, IDS[DOWN], 0),
                          "lengthkm": LENGTH_KM * length_factor, "slope": SLOPE,
                          "uparea": up, "unitarea": AREA})
    return write_network(build_network(table), path), up


def _model_config():
    return {"dynamic_inputs": ["P", "T", "PET"], "attributes": NAMES, "nmul": 2,
            "lstm_hidden": 8, "mlp_hidden": 16, "mlp_layers": 1, "dropout": 0.0,
            "warmup": WARMUP, "readout": "muskingum_cunge",
            "routing": {"hidden": 8, "layers": 1, "warmup_days": LEAD, "day_offset_hours": 9.0,
                        "dt": 3600.0}}


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The network (and a second one with other lengths), a gauge table, the unit forms and
    an untrained two-member δHBV2.0MC run (seeded weights)."""
    from dhbv.datasets.basin_data import stats_name
    from dhbv.io import standard as std
    from dhbv.nn.normalization import compute_statistics, save_statistics
    from dhbv.runner import build_model

    tmp = tmp_path_factory.mktemp("routed")
    net, up = _network(tmp / "network.nc")
    _network(tmp / "network_b.nc", length_factor=2.0)
    pd.DataFrame({"STAID": list(GAUGES), "COMID": [v[0] for v in GAUGES.values()],
                  "FLOW_SCALE": [v[1] for v in GAUGES.values()],
                  "DRAIN_SQKM": [up[2] - 0.4 * AREA[2], up[3], up[6]],
                  "LAT_GAGE": [47.1, 47.2, 47.3], "LNG_GAGE": [-120.1, -120.2, -120.3]}).to_csv(
        tmp / "gauges.csv", index=False)
    rng = np.random.default_rng(3)
    time = pd.date_range(FIRST, PERIOD[1], freq="D")
    n_t, n_u = len(time), len(IDS)
    doy = time.day_of_year.values[:, None]
    p = rng.gamma(0.6, 30.0, (n_t, n_u)) * (rng.random((n_t, n_u)) < 0.45)   # ~3000 mm/a
    t = 12.0 - 6.0 * np.cos(2 * np.pi * (doy - 15) / 365.25) + rng.normal(0, 2, (n_t, n_u))
    pet = np.clip(0.1 * (t + 5.0), 0.0, None)
    uids = [str(u) for u in IDS]
    std.write_netcdf(std.make_unit_forcing(time, uids, p, t, pet, area=AREA,
                                           lat=np.linspace(47, 48, n_u),
                                           lon=np.linspace(-121, -120, n_u)),
                     tmp / "unit_forcing.nc")
    attrs = {n: rng.normal(0, 1, n_u) for n in NAMES}
    attrs.update({"uparea": up, "meanelevation": np.linspace(300.0, 1500.0, n_u)})
    std.write_netcdf(std.make_unit_attributes(uids, attrs), tmp / "unit_attributes.nc")
    stats = compute_statistics({stats_name("P"): p, stats_name("T"): t, stats_name("PET"): pet,
                                **{n: attrs[n] for n in NAMES}})
    run = tmp / "run"
    run.mkdir()
    save_statistics(stats, run / "normalization_statistics.json")
    mc = _model_config()
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append({"weights": build_model(mc, len(NAMES)).state_dict()})
    torch.save({"members": members, "config": {"model": mc, "run": {}, "simulate": {}},
                "n_static": len(NAMES), "attribute_names": NAMES}, run / "model.pt")
    forms = {"forcing": str(tmp / "unit_forcing.nc"), "attributes": str(tmp / "unit_attributes.nc")}
    return tmp, forms


def _simulate(case, name, chunk_years, **kw):
    tmp, forms = case
    kw.setdefault("network", tmp / "network.nc")
    kw.setdefault("gauge_table", tmp / "gauges.csv")
    kw.setdefault("gauges", list(GAUGES))
    out = tmp / name
    if not (out / "summary.csv").exists():
        dom.simulate_domain(tmp / "run", forms, out, period=PERIOD, chunk_years=chunk_years,
                            device="cpu", progress=False, **kw)
    return out, sorted((out / "chunks").glob("*.zarr"))


_REFERENCE: dict = {}


def _reference(case):
    if not _REFERENCE:
        _REFERENCE["r"] = _compute_reference(case)
    return _REFERENCE["r"]


def _compute_reference(case):
    """Independent routing: every member's forward pass over spin-up + period (no chunks, no
    batches), its UH-routed runoff of the last LEAD spin-up days and the period × area / 86.4
    as lateral inflow [m³/s] on a graph built here from the reach table, its own n, q from the
    normalised attributes, one route() hot-started LEAD days before the period; ensemble mean
    of the daily means of the reaches and of the FLOW_SCALE-corrected gauges."""
    from dhbv.nn.normalization import normalize_attributes
    from dhbv.routing import RoutingGraph, route
    from dhbv.runner import load_run, prepare
    from dhbv.simulation.inputs import load_window

    tmp, forms = case
    models, cfg, stats = load_run(tmp / "run")
    start = pd.Timestamp(PERIOD[0])
    inp = load_window(forms["forcing"], forms["attributes"], NAMES, ["P", "T", "PET"],
                      start - pd.Timedelta(days=WARMUP), PERIOD[1])
    prep = prepare(inp, stats, ["P", "T", "PET"])
    args = [torch.from_numpy(x) for x in (prep.dyn_norm, prep.static_norm, prep.forcing,
                                          prep.uparea, prep.elev)]
    graph = RoutingGraph(DOWN, LENGTH_KM * 1000.0, SLOPE, ids=IDS)   # already in order
    x = torch.from_numpy(normalize_attributes(inp.attributes, NAMES, stats).astype(np.float32))
    qs, gs, lats, diags, runoffs = [], [], [], [], []
    for m in models:
        with torch.no_grad():
            runoff = m(*args, warmup=WARMUP - LEAD)["streamflow"].double().numpy()
            params = m.readout.channel_parameters(x)
            lat = torch.from_numpy((np.maximum(runoff, 0.0) * AREA / 86.4).astype(np.float32))
            r = route(graph, lat, params, options=m.readout.options, day_offset_hours=9.0)
        mean = r.mean.double().numpy()
        own = lat.double().numpy()
        own = 15 / 24 * own[:-1] + 9 / 24 * own[1:]                   # hours 10..33 of day d
        g = [np.maximum(mean[:, 2] - 0.4 * own[:, 2], 0.0), mean[:, 3], mean[:, 6]]
        qs.append(mean[LEAD:])
        gs.append(np.stack(g, 1)[LEAD:])
        lats.append(lat.double().numpy())
        diags.append(r.diagnostics)
        runoffs.append(runoff.astype(np.float32))
    days = pd.date_range(start, periods=qs[0].shape[0], freq="D")
    _REFERENCE["members"] = (qs, runoffs, inp, stats, models)
    return days, np.mean(qs, 0), np.mean(gs, 0), lats, diags


def test_chunked_equals_unchunked_and_the_unit_outputs_are_those_of_the_uh_path(case):
    yearly, ystores = _simulate(case, "yearly", 1, batch_units=3)     # 2 chunks, 3 batches
    whole, wstores = _simulate(case, "whole", 2)
    uh, ustores = _simulate(case, "uh", 1, network=None, gauge_table=None, gauges=(),
                          batch_units=3)
    a, b = open_routed(ystores), open_routed(wstores)
    t = pd.DatetimeIndex(a["time"].values)
    # day offset 9 h: the period's last day needs the next record and is not written
    assert t[0] == pd.Timestamp("1990-01-01") and t[-1] == pd.Timestamp("1991-12-30")
    assert (np.diff(t.values).astype("m8[D]").astype(int) == 1).all()
    assert list(a["reach"].values) == list(IDS) and list(a["gauge"].values) == list(GAUGES)
    for v in ("streamflow", "gauge_streamflow"):
        assert a[v].attrs["units"] == "m3 s-1"
        assert a[v].attrs["standard_name"] == "water_volume_transport_in_river_channel"
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=2e-6, atol=1e-7, err_msg=v)
    ua, ub, uu = open_chunks(ystores), open_chunks(wstores), open_chunks(ustores)
    for v in VARS:
        np.testing.assert_allclose(ua[v].values, ub[v].values, rtol=1e-5, atol=1e-6, err_msg=v)
        # routing reads the runoff only: the unit outputs are the UH-only path's, bit for bit
        np.testing.assert_array_equal(ua[v].values, uu[v].values, err_msg=v)
    for k in ("P", "AET", "Q", "dS", "exchange", "clamp_water"):
        np.testing.assert_array_equal(ua["balance_" + k].values, uu["balance_" + k].values)
    # the UH-only chunks have no routed group and no routing state
    with pytest.raises((FileNotFoundError, KeyError, OSError)):
        open_store(ustores[0], group="routed")
    assert "routing" not in torch.load(uh / "states" / "19900101-19901231.pt",
                                       weights_only=True)
    st = torch.load(yearly / "states" / "19900101-19901231.pt", weights_only=True)["routing"]
    assert st["next_day"] == "1990-12-31" and len(st["members"]) == 2


def test_streamflow_equals_an_independent_route_of_the_unit_runoff(case):
    _, stores = _simulate(case, "yearly", 1, batch_units=3)
    days, q, g, _, _ = _reference(case)
    ds = open_routed(stores)
    assert ds.sizes["time"] == len(days) - 1 or ds.sizes["time"] == len(days)
    n = ds.sizes["time"]
    assert pd.Timestamp(ds["time"].values[0]) == days[0]
    np.testing.assert_allclose(ds["streamflow"].values, q[:n].T, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(ds["gauge_streamflow"].values, g[:n].T, rtol=2e-5, atol=1e-6)
    # the correction matters: the partial gauge reads less than its reach
    assert (ds["gauge_streamflow"].values[0] < ds["streamflow"].values[2]).mean() > 0.9
    assert ds["flow_scale"].values.tolist() == [0.6, 1.0, 1.0]
    assert float(ds["streamflow"].mean()) > 0.01
    # a one-member router (no ensemble mean) gives that member's reference flow
    from dhbv.simulation.routed import DomainRouter

    qs, runoffs, inp, stats, models = _REFERENCE["members"]
    router = DomainRouter(models[1:], inp, stats, case[0] / "network.nc")
    d1, q1, g1, state, _ = router.route(runoffs[1][None], start=PERIOD[0], end=PERIOD[1],
                                        lead=LEAD, previous=None)
    assert d1[0] == days[0] and g1 is None and state["next_day"] == "1991-12-31"
    by_id = np.argsort(router.graph.ids)                      # graph order → IDS order
    np.testing.assert_allclose(q1[by_id], qs[1][:len(d1)].T, rtol=2e-5, atol=1e-6)


def test_state_of_another_network_is_refused_without_output(case):
    tmp, forms = case
    out, _ = _simulate(case, "yearly", 1, batch_units=3)
    store, state = tmp / "b" / "19910101-19911231.zarr", tmp / "b" / "19910101-19911231.pt"
    with pytest.raises(DhbvInputError, match="network") as err:
        dom.simulate_domain_chunk(tmp / "run", forms, "19910101-19911231", store, state,
                                  previous_state=out / "states" / "19900101-19901231.pt",
                                  spinup=None, variables=None, memory_mb=500, period=PERIOD,
                                  chunk_years=1, device="cpu", network=tmp / "network_b.nc",
                                  gauge_table=tmp / "gauges.csv", gauges=list(GAUGES))
    assert "\n" not in str(err.value)
    assert not (tmp / "b").exists()                 # no store, no temporary store, no state
    # a UH-only state (no routing) is refused too
    uh, _ = _simulate(case, "uh", 1, network=None, gauge_table=None, gauges=(), batch_units=3)
    with pytest.raises(DhbvInputError, match="no routing state"):
        dom.simulate_domain_chunk(tmp / "run", forms, "19910101-19911231", store, state,
                                  previous_state=uh / "states" / "19900101-19901231.pt",
                                  spinup=None, variables=None, memory_mb=500, period=PERIOD,
                                  chunk_years=1, device="cpu", network=tmp / "network.nc")
    assert not (tmp / "b").exists()


def test_routing_water_balance_over_the_chunks(case):
    """Σ lateral − Σ outlet outflow − Δstorage over both chunks: the lateral volume equals
    the reference runoff's (records × 86 400 s, member mean), the chunks continue each
    other's storage, and the residual (clamps + nonlinear storage redefinition) is small."""
    out, stores = _simulate(case, "yearly", 1, batch_units=3)
    _, _, _, lats, diags = _reference(case)
    s = pd.read_csv(out / "routing_summary.csv")
    rows, tot = s.iloc[:-1], s.iloc[-1]
    assert list(rows["chunk"]) == ["19900101-19901231", "19910101-19911231"]
    np.testing.assert_allclose(rows["storage_start_m3"].values[1], rows["storage_end_m3"].values[0],
                               rtol=1e-6)
    inflow = np.mean([np.maximum(v, 1e-4).sum() * 86400.0 for v in lats])
    assert tot["inflow_volume_m3"] == pytest.approx(inflow, rel=1e-5)
    ref_out = np.mean([d.outflow_volume_m3 for d in diags])
    assert tot["outflow_volume_m3"] == pytest.approx(ref_out, rel=1e-5)
    # no clamp acts here: the residual is the nonlinear storage redefinition (docs/routing.md
    # §5), a few 1e-4 of the inflow, and the same as the unchunked route's
    assert tot["clamp_volume_m3"] == pytest.approx(np.mean([d.clamp_volume_m3 for d in diags]),
                                                   abs=1e-9 * inflow)
    assert abs(tot["residual_m3"]) < 1e-3 * tot["inflow_volume_m3"]
    assert tot["residual_m3"] == pytest.approx(np.mean([d.residual_m3 for d in diags]),
                                               abs=1e-6 * inflow)
    with open_store(stores[0], group="routed") as ds:
        assert ds.attrs["warmup_days"] == LEAD and ds.attrs["network_id"]


def test_workflow_routing_inputs():
    cfg = {"model": {"readout": "muskingum_cunge"},
           "domains": {"merit_71": {"gauge_table": "g.csv", "gauges": ["01"]}, "bow": {}},
           "datasets": {"d": {"sources": [{"network": "results/network/bow/network.nc"}]},
                        "c": {"sources": [{"type": "caravan"}]}}}
    assert dom.domain_routing_inputs(cfg, "merit_71") == (
        {"network": "results/network/merit_71/network.nc", "gauge_table": "g.csv"}, ["01"])
    assert dom.domain_routing_inputs(cfg, "d") == (
        {"network": "results/network/bow/network.nc"}, [])
    assert dom.domain_routing_inputs(cfg, "c") == ({}, [])
    assert dom.domain_routing_inputs(dict(cfg, model={}), "merit_71") == ({}, [])


def test_cli_routes_with_network_and_refuses_gauges_without_it(case, capsys):
    from dhbv.cli import main

    tmp, forms = case
    base = ["simulate-domain", "--run-dir", str(tmp / "run"), "--forcing", forms["forcing"],
            "--attributes", forms["attributes"], "--period", "1990-01-01", "1990-12-31",
            "--device", "cpu", "--quiet"]
    assert main(base + ["--out-dir", str(tmp / "cli_bad"), "--gauges", "00000004"]) == 2
    err = capsys.readouterr().err.strip()
    assert "network" in err and "\n" not in err and not (tmp / "cli_bad" / "chunks").exists()
    assert main(base + ["--out-dir", str(tmp / "cli"), "--network", str(tmp / "network.nc"),
                        "--gauge-table", str(tmp / "gauges.csv"), "--gauges", "00000004"]) == 0
    ds = open_routed(sorted((tmp / "cli" / "chunks").glob("*.zarr")))
    assert list(ds["gauge"].values) == ["00000004"] and ds.sizes["reach"] == len(IDS)
    assert (tmp / "cli" / "routing_summary.csv").exists()
