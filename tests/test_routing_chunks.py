"""Routing in time chunks (dhbv.routing.chunks) on the 213-reach Juniata network with the
published δHBV2.0 unit runoff Q′: chunked = unchunked, day bookkeeping, resume at a chunk,
refused states, FLOW_SCALE gauges, the water balance summary, CF metadata and lazy reads,
the CLI and the gauge NSE of the products against score_routing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from dhbv.cli import main
from dhbv.errors import DhbvInputError
from dhbv.routing import route
from dhbv.routing.chunks import (load_state, piece_days, route_chunk, route_domain,
                                 route_domain_chunk, routing_chunks, summarize_domain_routing)
from dhbv.routing.training import (RoutingTrainingOptions, _applied, load_routing_run,
                                   read_lateral, score_routing, train_routing)
from dhbv.simulation.store import open_chunks, open_store

JUNIATA = Path(__file__).resolve().parents[1] / "resources" / "demo" / "juniata_merit"
ZARR = JUNIATA / "juniata_conus_adjacency.zarr"
ATTRS = JUNIATA / "juniata_attributes.nc"
GAGE = JUNIATA / "juniata_gage.csv"
OBS = JUNIATA / "juniata_obs.nc"
GAUGE = "01567000"
#: records routed: 30 warm-up days (1980-06) are routed before the period, 3 chunks of at most
#: one year, the last one shorter
PERIOD = ["1980-07-01", "1982-12-31"]
OPTIONS = dict(train_period=("1980-10-01", "1981-09-30"), test_period=None, warmup_days=30,
               epochs=0)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Two untrained routing models (seeds 0 and 1: different n, q) on the Juniata, a 3-year
    cut of Q′ and the model-0 products of PERIOD in yearly chunks (with the gauge)."""
    root = tmp_path_factory.mktemp("chunks")
    with xr.open_dataset(JUNIATA / "juniata_qprime.nc") as ds:
        ds.sel(time=slice("1980-01-01", "1983-01-31")).to_netcdf(root / "lateral.nc")
    common = (ZARR, ATTRS, root / "lateral.nc", OBS, GAGE, [GAUGE])
    for seed in (0, 1):
        train_routing(*common, root / f"model{seed}", RoutingTrainingOptions(**OPTIONS, seed=seed))
    route_domain(root / "model0", root / "lateral.nc", root / "out", period=PERIOD,
                 chunk_years=1, gauge_table=GAGE, gauges=[GAUGE], progress=False)
    return root


def _unchunked(model, lateral, first, last, lateral_scale=None):
    """Daily means [days, reaches] and the diagnostics of one route call over the records
    first..last from the hot start (the reference the chunks must equal)."""
    run = load_routing_run(model)
    graph, x = _applied(run, None, None)
    lat = read_lateral(lateral, graph, first, last)
    v = lat.values if lateral_scale is None else lat.values * lateral_scale
    with torch.no_grad():
        r = route(graph, torch.as_tensor(v), run.parameters(x),
                  options=run.options.routing_options())
    days = pd.date_range(first, periods=r.mean.shape[0], freq="D")
    return days, r.mean.numpy(), r.diagnostics, graph


def _stores(out: Path):
    return sorted((out / "chunks").glob("*.zarr"))


def test_chunks_of_a_period():
    assert [(str(a.date()), str(b.date())) for a, b in routing_chunks(PERIOD, 1)] == [
        ("1980-07-01", "1981-06-30"), ("1981-07-01", "1982-06-30"), ("1982-07-01", "1982-12-31")]
    assert len(routing_chunks(["1980-01-01", "2010-12-31"], 1)) == 31
    assert len(routing_chunks(["1980-01-01", "2010-12-31"], 5)) == 7
    with pytest.raises(DhbvInputError, match="chunk_years"):
        routing_chunks(PERIOD, 0)


@pytest.mark.parametrize("chunk_years", [1, 2])
def test_chunked_equals_unchunked(case, tmp_path, chunk_years):
    """Every reach and day of the chunk stores equals one unchunked run (hot start 30 days
    before the period) to float32 round-off; each chunk holds the days its records complete
    (9-h day alignment: the day before its first record up to the day before its last)."""
    out = case / "out" if chunk_years == 1 else tmp_path / "out"
    if chunk_years != 1:
        route_domain(case / "model0", case / "lateral.nc", out, period=PERIOD,
                     chunk_years=chunk_years, progress=False)
    days, ref, _, graph = _unchunked(case / "model0", case / "lateral.nc", "1980-06-01",
                                     PERIOD[1])
    stores = _stores(out)
    assert len(stores) == {1: 3, 2: 2}[chunk_years]
    ds = open_chunks(stores)
    t = pd.DatetimeIndex(ds["time"].values)
    assert t[0] == pd.Timestamp("1980-07-01") and t[-1] == pd.Timestamp("1982-12-30")
    assert (np.diff(t.values) == np.timedelta64(1, "D")).all()
    sim = ds["streamflow"].sel(reach=graph.ids).values.T           # network order
    want = ref[days.get_indexer(t)].astype(np.float32)
    np.testing.assert_allclose(sim, want, rtol=1e-6, atol=0)
    if chunk_years == 1:
        first_days = [str(pd.Timestamp(open_store(s)["time"].values[0]).date()) for s in stores]
        assert first_days == ["1980-07-01", "1981-06-30", "1982-06-30"]
        np.testing.assert_array_equal(ds["gauge_streamflow"].sel(gauge=GAUGE).values,
                                      ds["streamflow"].sel(reach=73005278).values)


def test_summary_is_the_unchunked_water_balance(case, tmp_path):
    """Chunk volumes add up to those of the unchunked run: inflow, outlet outflow, clamps,
    storage at the end (the hot start at the same record)."""
    _, _, d, _ = _unchunked(case / "model0", case / "lateral.nc", "1980-06-01", PERIOD[1])
    t = summarize_domain_routing(_stores(case / "out"), tmp_path / "s.csv", echo=lambda s: None)
    tot = t.iloc[-1]
    assert list(t["chunk"]) == ["19800701-19810630", "19810701-19820630", "19820701-19821231",
                                "total"]
    for k in ("inflow_volume_m3", "outflow_volume_m3", "storage_start_m3", "storage_end_m3"):
        assert tot[k] == pytest.approx(getattr(d, k), rel=1e-9), k
    records = len(pd.date_range("1980-06-01", PERIOD[1]))
    assert tot["n_steps"] == d.n_steps == records * 24 and tot["n_negative"] == d.n_negative
    assert tot["residual_m3"] == pytest.approx(d.residual_m3, rel=1e-6, abs=1.0)
    assert pd.read_csv(tmp_path / "s.csv").shape == t.shape


def test_resume_at_the_first_missing_chunk(case, tmp_path):
    """A run killed after its first chunk (later stores and states gone, a half-written store
    left under its temporary name) resumes at chunk 2; chunk 1 is not routed again; the result
    equals the uninterrupted one."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(case / "out", out)
    for s in _stores(out)[1:]:
        shutil.rmtree(s)
    (out / "states" / "19820701-19821231.pt").unlink()
    (out / "chunks" / ".19810701-19820630.zarr.tmp1").mkdir()
    first = _stores(out)[0]
    stamp = (first / "zarr.json").stat().st_mtime_ns
    route_domain(case / "model0", case / "lateral.nc", out, period=PERIOD, chunk_years=1,
                 gauge_table=GAGE, gauges=[GAUGE], progress=False)
    assert (first / "zarr.json").stat().st_mtime_ns == stamp
    a, b = open_chunks(_stores(case / "out")), open_chunks(_stores(out))
    np.testing.assert_array_equal(a["streamflow"].values, b["streamflow"].values)
    assert len(_stores(out)) == 3


def test_a_state_of_another_chunk_model_or_network_is_refused(case, tmp_path):
    """One-line errors and no output for: the state of another chunk, of another routing
    model, of another network (same reach ids, one slope changed), a file that is no state."""
    from dhbv.network import read_network, write_network

    states = sorted((case / "out" / "states").glob("*.pt"))
    net = read_network(ZARR)
    net.slope = net.slope.copy()
    net.slope[5] *= 2.0
    other_net = write_network(net, tmp_path / "other_network.nc")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a state")
    cases = [
        (dict(model=case / "model0", state=states[0]), "continues with the record of 1981-07-01"),
        (dict(model=case / "model1", state=states[1]), "routing model"),
        (dict(model=case / "model0", state=states[1], network=other_net, attributes=ATTRS),
         "belongs to network"),
        (dict(model=case / "model0", state=junk), "is not a routing state file"),
    ]
    for kw, msg in cases:
        store, state = tmp_path / "c.zarr", tmp_path / "c.pt"
        with pytest.raises(DhbvInputError, match=msg) as err:
            route_domain_chunk(kw["model"], case / "lateral.nc", "19820701-19821231", store,
                               state, previous_state=kw["state"], first=False,
                               network=kw.get("network"), attributes=kw.get("attributes"))
        assert "\n" not in str(err.value) and str(kw["state"]) in str(err.value)
        assert not store.exists() and not state.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".c.")]


def test_the_label_must_be_a_chunk_of_the_period(case, tmp_path):
    with pytest.raises(DhbvInputError, match="is not a chunk of the period"):
        route_domain_chunk(case / "model0", case / "lateral.nc", "19810101-19811231",
                           tmp_path / "c.zarr", tmp_path / "c.pt", previous_state=None,
                           period=PERIOD, chunk_years=1)
    with pytest.raises(DhbvInputError, match="the file covers 1980-01-01..1983-01-31"):
        route_chunk(case / "model0", case / "lateral.nc", ("1979-01-01", "1979-12-31"),
                    tmp_path / "c.zarr", tmp_path / "c.pt", first=True)
    assert not (tmp_path / "c.zarr").exists()


def test_scaled_gauge_is_routed_with_its_share_of_the_lateral_inflow(case, tmp_path):
    """FLOW_SCALE 0.5: the gauge reads its reach with half of that reach's own lateral inflow
    (a second solve carried in the state), chunked = unchunked; the reach series stays the
    full flow."""
    table = pd.read_csv(GAGE, dtype={"STAID": str})
    table["FLOW_SCALE"] = 0.5
    table.to_csv(tmp_path / "gage.csv", index=False)
    out = tmp_path / "out"
    route_domain(case / "model0", case / "lateral.nc", out, period=PERIOD, chunk_years=1,
                 gauge_table=tmp_path / "gage.csv", gauges=[GAUGE], progress=False)
    scale = np.ones(213)
    days, ref, _, graph = _unchunked(case / "model0", case / "lateral.nc", "1980-06-01",
                                     PERIOD[1])
    outlet = int(np.flatnonzero(graph.ids == 73005278)[0])
    scale[outlet] = 0.5
    _, half, _, _ = _unchunked(case / "model0", case / "lateral.nc", "1980-06-01", PERIOD[1],
                               lateral_scale=scale)
    ds = open_chunks(_stores(out))
    rows = days.get_indexer(pd.DatetimeIndex(ds["time"].values))
    g = ds["gauge_streamflow"].sel(gauge=GAUGE).values
    np.testing.assert_allclose(g, half[rows, outlet].astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(ds["streamflow"].sel(reach=73005278).values,
                               ref[rows, outlet].astype(np.float32), rtol=1e-6)
    full = ds["streamflow"].sel(reach=73005278).values
    assert (g <= full).all() and (g < full).mean() > 0.9
    assert float(ds["flow_scale"].values[0]) == 0.5


def test_cf_metadata_and_lazy_reads(case):
    store = _stores(case / "out")[1]
    ds = open_store(store)
    assert not ds["streamflow"].variable._in_memory            # nothing read yet
    assert ds.attrs["Conventions"] == "CF-1.10" and ds.attrs["featureType"] == "timeSeries"
    for v in ("streamflow", "gauge_streamflow"):
        a = ds[v].attrs
        assert a["units"] == "m3 s-1" and a["cell_methods"] == "time: mean"
        assert a["standard_name"] == "water_volume_transport_in_river_channel"
        assert ds[v].dtype == np.float32 and a["long_name"]
    assert ds["reach"].attrs["cf_role"] == "timeseries_id"
    assert (np.diff(ds["reach"].values) > 0).all()             # a monotonic coordinate
    enc = ds["time"].encoding
    assert enc["units"] == "days since 1970-01-01" and enc["calendar"] == "proleptic_gregorian"
    assert enc["dtype"] == np.int32
    assert ds["streamflow"].encoding["chunks"] == (213, 92)
    assert "zstd" in str(ds["streamflow"].encoding["compressors"])
    for k in ("routing_model_id", "network_id", "chunk", "records", "inflow_volume_m3"):
        assert k in ds.attrs, k
    assert ds.attrs["records"] == "1981-07-01..1982-06-30"
    # consolidated metadata: a plain open_zarr reads it without the unconsolidated warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with xr.open_zarr(store, consolidated=True) as plain:
            assert plain["streamflow"].shape == ds["streamflow"].shape


def test_store_passes_the_cf_checker(case, tmp_path):
    from test_simulation_cf_checker import _as_netcdf, _check, _checker

    exe = _checker()
    nc = tmp_path / "routing.nc"
    _as_netcdf(_stores(case / "out")[1], nc)
    res = _check(exe, nc, tmp_path)
    assert res["high_count"] == 0 and res["medium_count"] == 0, res["messages"]
    assert res["scored_points"] == res["possible_points"]


def test_gauge_nse_of_the_products_equals_score_routing(case):
    """NSE at the gauge over the training year from the zarr products (computed here) equals
    score_routing's (a hot start 30 days before that year: the months before are forgotten)."""
    ds = open_chunks(_stores(case / "out"))
    a, b = OPTIONS["train_period"]
    sim = ds["gauge_streamflow"].sel(gauge=GAUGE, time=slice(a, b)).values.astype(float)
    with xr.open_dataset(OBS) as o:
        obs = o["streamflow"].sel(gage_id=GAUGE, time=slice(a, b)).values.astype(float)
    m = np.isfinite(obs)
    nse = 1 - ((sim[m] - obs[m]) ** 2).sum() / ((obs[m] - obs[m].mean()) ** 2).sum()
    s = score_routing(load_routing_run(case / "model0"), case / "lateral.nc", OBS, GAGE, [GAUGE])
    ref = s[(s["period"] == "train") & (s["flow"] == "routed")]["nse"].item()
    assert len(sim) == 365 and nse == pytest.approx(ref, abs=1e-4)


def test_cli_routes_in_chunks_and_resumes(case, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["route", "--run-dir", str(case / "model0"), "--lateral", str(case / "lateral.nc"),
            "--period", *PERIOD, "--chunk-years", "1", "--out-dir", str(out), "--quiet"]
    assert main(args) == 0
    a, b = open_chunks(_stores(case / "out")), open_chunks(_stores(out))
    np.testing.assert_array_equal(a["streamflow"].values, b["streamflow"].values)
    assert "gauge_streamflow" not in b and (out / "summary.csv").exists()
    stamps = [os.stat(s / "zarr.json").st_mtime_ns for s in _stores(out)]
    assert main(args) == 0                                      # all done: nothing rerun
    assert [os.stat(s / "zarr.json").st_mtime_ns for s in _stores(out)] == stamps
    capsys.readouterr()
    assert main(args[:-3] + ["--gauges", GAUGE, "--out-dir", str(tmp_path / "x")]) == 2
    assert "--gauges needs --gauge-table" in capsys.readouterr().err


def test_state_file_records_what_it_belongs_to(case):
    from dhbv.routing.chunks import model_id, network_id

    st = sorted((case / "out" / "states").glob("*.pt"))[0]
    blob = torch.load(st, weights_only=True)
    graph = load_routing_run(case / "model0").graph
    assert blob["model_id"] == model_id(case / "model0") != model_id(case / "model1")
    assert blob["network_id"] == network_id(graph)
    assert (blob["valid_at"], blob["last_day"]) == ("1981-07-01", "1981-06-29")
    assert st.stat().st_size < 20_000                           # 213 reaches, not the chunk
    cs = load_state(st, network=network_id(graph), model=model_id(case / "model0"),
                    valid_at="1981-07-01", dt=3600.0, day_offset_hours=9.0, gauges=[])
    assert cs.state.pending_count == 15 and cs.state.discharge.shape == (213,)


# ----------------------------------------------------------------------------- unit runoff
def _unit_store(path, ids, area, days, runoff_mmd):
    from dhbv.simulation.store import ChunkStore

    st = ChunkStore(path, ids, days, ["runoff"], area=area)
    st.write(0, len(ids), {"runoff": runoff_mmd})
    return st.commit()


def test_unit_runoff_of_the_domain_simulation_as_lateral_inflow(case, tmp_path):
    """Chunk stores of unit runoff (mm d-1, dims unit, time) over the Juniata's unit
    catchments, made from Q′ (m³ s-1 × 86.4 / area), route as Q′ does (to the float32 rounding
    of the stores); missing or extra units are refused with one line."""
    from dhbv.routing.chunks import UnitRunoffLateral

    with xr.open_dataset(case / "lateral.nc") as ds:
        q = ds["Qr"].sel(time=slice("1980-06-01", "1981-06-30"))
        ids, days = q["divide_id"].values, pd.DatetimeIndex(q["time"].values)
        qv = q.transpose("divide_id", "time").values.astype(np.float64)
    area = np.linspace(5.0, 120.0, ids.size)                    # km², any positive areas
    mmd = (qv * 86.4 / area[:, None]).astype(np.float32)
    cut = days.get_loc(pd.Timestamp("1980-12-31"))
    stores = [_unit_store(tmp_path / "u1.zarr", ids, area, days[:cut + 1], mmd[:, :cut + 1]),
              _unit_store(tmp_path / "u2.zarr", ids, area, days[cut + 1:], mmd[:, cut + 1:])]
    src = UnitRunoffLateral(stores)
    route_chunk(case / "model0", src, ("1980-07-01", "1981-06-30"), tmp_path / "a.zarr",
                tmp_path / "a.pt", first=True)
    route_chunk(case / "model0", case / "lateral.nc", ("1980-07-01", "1981-06-30"),
                tmp_path / "b.zarr", tmp_path / "b.pt", first=True)
    a, b = open_store(tmp_path / "a.zarr"), open_store(tmp_path / "b.zarr")
    np.testing.assert_allclose(a["streamflow"].values, b["streamflow"].values, rtol=2e-6)
    assert a.attrs["warmup_days"] == 30
    bad = _unit_store(tmp_path / "u3.zarr", ids[1:], area[1:], days, mmd[1:])
    with pytest.raises(DhbvInputError, match="no unit runoff for 1 network reaches") as err:
        route_chunk(case / "model0", UnitRunoffLateral([bad]), ("1980-07-01", "1981-06-30"),
                    tmp_path / "c.zarr", tmp_path / "c.pt", first=True)
    assert "\n" not in str(err.value) and not (tmp_path / "c.zarr").exists()
    extra = _unit_store(tmp_path / "u4.zarr", np.r_[ids, 1], np.r_[area, 1.0], days,
                        np.r_[mmd, mmd[:1]])
    with pytest.raises(DhbvInputError, match="1 units are not reaches of the network"):
        route_chunk(case / "model0", UnitRunoffLateral([extra]), ("1980-07-01", "1981-06-30"),
                    tmp_path / "c.zarr", tmp_path / "c.pt", first=True)


def test_period_outside_the_lateral_inflow_is_refused(case, tmp_path):
    from dhbv.routing.chunks import lateral_period

    assert lateral_period(case / "lateral.nc") == ["1980-01-01", "1983-01-31"]
    assert lateral_period(case / "lateral.nc", PERIOD) == PERIOD
    with pytest.raises(DhbvInputError, match="not inside the records") as err:
        route_domain(case / "model0", case / "lateral.nc", tmp_path / "o",
                     period=["1982-01-01", "1983-12-31"], progress=False)
    assert "\n" not in str(err.value) and not (tmp_path / "o").exists()


def test_piece_days_from_the_memory_budget():
    # 48 B per reach-day: 0.17 MiB = 178,257 B hold 17 days of 213 reaches (10,224 B a day)
    assert piece_days(213, 0.17) == 17
    assert piece_days(180_000, 2000) == 242      # 2000 MiB / 8.64 MB a day
    assert piece_days(10**9, 1) == 1             # never less than a day


def test_routing_a_chunk_in_pieces_equals_one_call(case, tmp_path):
    """With a budget of 17 days per piece (21–22 pieces a chunk, the first with its warm-up
    split too) the stores, the scaled gauge's second solve and the end states equal routing
    each chunk in one call."""
    table = pd.read_csv(GAGE, dtype={"STAID": str})
    table["FLOW_SCALE"] = 0.5
    table.to_csv(tmp_path / "gage.csv", index=False)
    outs = {}
    for name, mb in (("whole", 2000), ("pieces", 0.17)):
        outs[name] = tmp_path / name
        route_domain(case / "model0", case / "lateral.nc", outs[name], period=PERIOD,
                     chunk_years=1, gauge_table=tmp_path / "gage.csv", gauges=[GAUGE],
                     progress=False, memory_mb=mb)
    whole, pieces = (open_chunks(_stores(outs[k])) for k in ("whole", "pieces"))
    assert whole.sizes == pieces.sizes
    for v in ("streamflow", "gauge_streamflow"):
        np.testing.assert_array_equal(pieces[v].values, whole[v].values)
    for s_whole, s_pieces in zip(sorted((outs["whole"] / "states").glob("*.pt")),
                                 sorted((outs["pieces"] / "states").glob("*.pt"))):
        a, b = torch.load(s_whole, weights_only=False), torch.load(s_pieces, weights_only=False)
        for key in ("state", "gauge_state"):
            for field in ("discharge", "pending"):
                assert torch.equal(a[key][field], b[key][field]), (s_pieces.name, key, field)
            for field in ("pending_count", "to_skip"):
                assert a[key][field] == b[key][field]
    sw = pd.read_csv(outs["whole"] / "summary.csv")
    sp = pd.read_csv(outs["pieces"] / "summary.csv")
    num = [c for c in sw.select_dtypes("number").columns if "second" not in c]  # not timings
    np.testing.assert_allclose(sp[num].values, sw[num].values, rtol=1e-9, atol=1e-9)


def test_a_warm_up_longer_than_the_inflow_is_cut_to_it_in_pieces_too(tmp_path):
    """The first chunk's warm-up (here 400 days) starts where the inflow does when the inflow
    starts later; with 17-day pieces most of the warm-up lies before the inflow. One call and
    pieces give the same store."""
    with xr.open_dataset(JUNIATA / "juniata_qprime.nc") as ds:
        ds.sel(time=slice("1980-01-01", "1980-12-31")).to_netcdf(tmp_path / "lateral.nc")
    common = (ZARR, ATTRS, tmp_path / "lateral.nc", OBS, GAGE, [GAUGE])
    opts = dict(OPTIONS, train_period=("1980-03-01", "1980-09-30"), warmup_days=400)
    train_routing(*common, tmp_path / "model", RoutingTrainingOptions(**opts, seed=0))
    stores = {}
    for name, mb in (("whole", 2000), ("pieces", 0.17)):
        route_domain(tmp_path / "model", tmp_path / "lateral.nc", tmp_path / name,
                     period=["1980-06-01", "1980-12-31"], chunk_years=1, progress=False,
                     memory_mb=mb)
        stores[name] = open_chunks(_stores(tmp_path / name))
        assert stores[name].attrs["warmup_days"] == 152          # 1980-01-01 .. 05-31
    np.testing.assert_array_equal(stores["pieces"]["streamflow"].values,
                                  stores["whole"]["streamflow"].values)
