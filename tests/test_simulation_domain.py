"""Domain simulation in time chunks: chunked = unchunked, resume at the first missing chunk,
CF zarr outputs, and one-line errors without partial output for bad inputs."""
import copy

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml

from dhbv.errors import DhbvInputError
from dhbv.simulation import domain as dom
from dhbv.time_chunks import chunk_periods
from dhbv.simulation.store import open_chunks
from dhbv.simulation.variables import DEFAULT_VARIABLES, VARIABLES

from test_training_resume import tiny_config

PERIOD = ["1990-01-01", "1992-12-31"]
VARS = list(DEFAULT_VARIABLES)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny trained run (2 members) and the 3 Caravan basins as standard forms."""
    from dhbv.cli import main
    from dhbv.training import train

    tmp = tmp_path_factory.mktemp("domain")
    cfg = tiny_config(epochs=1, iterations_per_epoch=2, validation_period=None,
                      checkpoint_every_steps=None, ensemble=2)
    train(copy.deepcopy(cfg), tmp / "run")
    (tmp / "ds.yaml").write_text(yaml.safe_dump({"datasets": cfg["datasets"],
                                                 "model": cfg["model"]}))
    assert main(["prepare", "--config", str(tmp / "ds.yaml"), "--out-dir", str(tmp / "std")]) == 0
    forms = {"forcing": str(tmp / "std/unit_forcing.nc"),
             "attributes": str(tmp / "std/unit_attributes.nc")}
    return tmp, forms


def _run(setup, name, chunk_years, **kw):
    tmp, forms = setup
    kw.setdefault("forms", forms)
    out = tmp / name
    dom.simulate_domain(tmp / "run", kw.pop("forms"), out, period=PERIOD,
                        chunk_years=chunk_years, device="cpu", progress=False, **kw)
    return out


def _unchunked_reference(setup):
    """One forward pass of every member over spin-up + period (no chunks, no states, no
    batches), inputs from the gauge-simulation path (load_dataset + prepare)."""
    from dhbv.datasets import load_dataset
    from dhbv.io.standard import standard_source
    from dhbv.physics.balance import water_balance
    from dhbv.runner import load_run, prepare

    tmp, forms = setup
    models, cfg, stats = load_run(tmp / "run")
    mc = cfg["model"]
    data = load_dataset({"sources": [standard_source(
        forms["forcing"], forms["attributes"], tmp / "std/gauge_observations.nc",
        tmp / "std/gauge_membership.nc")]}, mc["attributes"], dynamic_inputs=mc["dynamic_inputs"])
    i0, i1 = data.time_index(PERIOD[0]), data.time_index(PERIOD[1])
    warm = mc["warmup"]
    p = prepare(data, stats, mc["dynamic_inputs"])
    sl = slice(i0 - warm, i1 + 1)
    args = [torch.from_numpy(x) for x in (p.dyn_norm[sl], p.static_norm, p.forcing[sl],
                                          p.uparea, p.elev)]
    outs, bals = [], []
    with torch.no_grad():
        for m in models:
            o = m(*args, warmup=warm, full_output=True)
            outs.append({v: o[VARIABLES[v][0]].numpy().T for v in VARS})
            bals.append({k: v.double().numpy()
                         for k, v in water_balance(args[2], o, warm, routed=True).items()})
    mean = {v: np.mean([o[v] for o in outs], axis=0) for v in VARS}
    bal = {k: np.mean([b[k] for b in bals], axis=0) for k in bals[0]}
    return mean, bal, data.unit_ids


def test_chunked_equals_unchunked_for_all_outputs(setup):
    ref, bal, units = _unchunked_reference(setup)
    chunked = _run(setup, "yearly", 1, batch_units=2)     # 3 chunks, 2 batches each
    whole = _run(setup, "whole", 3)                          # one chunk
    stores = sorted((chunked / "chunks").glob("*.zarr"))
    assert [s.name for s in stores] == ["19900101-19901231.zarr", "19910101-19911231.zarr",
                                        "19920101-19921231.zarr"]
    a = open_chunks(stores)
    b = open_chunks(sorted((whole / "chunks").glob("*.zarr")))
    assert list(a["unit"].values) == units and a.sizes["time"] == 1096
    for v in VARS:
        np.testing.assert_allclose(a[v].values, ref[v], rtol=1e-4, atol=1e-5, err_msg=v)
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=1e-4, atol=1e-5, err_msg=v)
    # the summary's per-unit balance over three chunks = the one-pass balance
    s = pd.read_csv(chunked / "summary.csv", dtype={"unit": str})
    assert list(s["unit"]) == units
    for k in ("P", "AET", "Q", "dS", "clamp_water"):
        np.testing.assert_allclose(s[k], bal[k], rtol=1e-4, atol=1e-2, err_msg=k)
    np.testing.assert_allclose(s["exchange"], -bal["exchange"], rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(s["balance"], s["P"] - s["AET"] - s["Q"] - s["dS"] - s["exchange"],
                               atol=1e-5)
    assert np.abs(s["closure"]).max() < 0.05                 # mm over three years


def test_later_chunks_skip_the_mlp(setup, monkeypatch):
    """The MLP output (attributes only) is carried in the state: only the first chunk runs it."""
    from dhbv.nn.mlp import StaticMLP

    calls = []
    orig = StaticMLP.forward
    monkeypatch.setattr(StaticMLP, "forward", lambda self, x: calls.append(len(x)) or orig(self, x))
    _run(setup, "mlp", 1, batch_units=2)                      # 3 chunks x 2 batches x 2 members
    assert calls == [2, 2, 1, 1]


def test_store_is_cf_zarr(setup):
    out = _run(setup, "cf", 3, variables=["runoff", "swe", "aet"])
    store = next((out / "chunks").glob("*.zarr"))
    with xr.open_zarr(store, consolidated=False, decode_times=False) as raw:
        assert raw["time"].attrs["units"] == "days since 1970-01-01"
        assert raw["time"].attrs["calendar"] == "proleptic_gregorian"
        assert raw["time"].values[0] == (pd.Timestamp("1990-01-01") - pd.Timestamp("1970-01-01")).days
    with xr.open_zarr(store, consolidated=False) as ds:
        assert ds.attrs["Conventions"].startswith("CF-") and ds.attrs["featureType"] == "timeSeries"
        assert set(ds.data_vars) >= {"runoff", "swe", "aet"} and "baseflow" not in ds
        assert ds["runoff"].dims == ("unit", "time") and ds["runoff"].dtype == np.float32
        assert ds["runoff"].attrs["units"] == "mm d-1" and ds["swe"].attrs["units"] == "mm"
        assert ds["swe"].attrs["standard_name"] == "lwe_thickness_of_surface_snow_amount"
        assert ds["unit"].attrs["cf_role"] == "timeseries_id"
        assert ds["lat"].attrs["units"] == "degrees_north"
        enc = ds["runoff"].encoding
        assert enc["chunks"] == (3, 92) and enc["compressors"]
    # consolidated metadata: a plain open_zarr reads it without the unconsolidated warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with xr.open_zarr(store, consolidated=True) as ds:
            assert set(ds.data_vars) >= {"runoff", "swe", "aet"}


def test_resume_at_first_missing_chunk_after_a_kill(setup, monkeypatch):
    tmp, _ = setup
    ref = _run(setup, "ref", 1)
    from dhbv.simulation.store import ChunkStore

    orig = ChunkStore.write

    def killing_write(self, u0, u1, values):
        if self.path.name.startswith("1991") and u0 > 0:
            raise KeyboardInterrupt("killed")
        return orig(self, u0, u1, values)

    monkeypatch.setattr(ChunkStore, "write", killing_write)
    with pytest.raises(KeyboardInterrupt):
        _run(setup, "killed", 1, batch_units=1)
    out = tmp / "killed"
    assert sorted(p.name for p in (out / "chunks").iterdir()) == ["19900101-19901231.zarr"]
    assert sorted(p.name for p in (out / "states").iterdir()) == ["19900101-19901231.pt"]
    monkeypatch.setattr(ChunkStore, "write", orig)
    done = []
    real = dom.simulate_chunk
    monkeypatch.setattr(dom, "simulate_chunk",
                        lambda *a, **k: done.append(a[2][0].year) or real(*a, **k))
    _run(setup, "killed", 1, batch_units=1)
    assert done == [1991, 1992]                                # chunk 1990 was not redone
    a = open_chunks(sorted((out / "chunks").glob("*.zarr")))
    b = open_chunks(sorted((ref / "chunks").glob("*.zarr")))
    for v in VARS:
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=1e-5, atol=1e-6, err_msg=v)


def _chunk(setup, label, out_name, previous, forms=None, chunk_years=1):
    tmp, f = setup
    out = tmp / out_name
    return dom.simulate_domain_chunk(
        tmp / "run", forms or f, label, out / "chunk.zarr", out / "state.pt",
        previous_state=previous, period=PERIOD, chunk_years=chunk_years, spinup=None,
        variables=VARS, memory_mb=100, device="cpu")


def _refused(setup, match, out_name, *a, **kw):
    tmp, _ = setup
    with pytest.raises(DhbvInputError, match=match) as err:
        _chunk(setup, *a, out_name=out_name, **kw)
    assert "\n" not in str(err.value)
    left = list((tmp / out_name).iterdir()) if (tmp / out_name).exists() else []
    assert left == [], left                                # no partial output


def test_bad_inputs_give_one_line_errors_and_no_output(setup):
    tmp, forms = setup
    ref = _run(setup, "ref2", 1)
    s1990 = ref / "states/19900101-19901231.pt"
    # a state from another period: the 1990 end state given to the 1992 chunk
    _refused(setup, "is the state on 1991-01-01, but the chunk starts on 1992-01-01", "b1",
             "19920101-19921231", previous=s1990)
    # a state from another model: same architecture, other weights
    other = tmp / "other_run"
    other.mkdir()
    for f in ("normalization_statistics.json", "config.resolved.yaml"):
        (other / f).write_bytes((tmp / "run" / f).read_bytes())
    blob = torch.load(tmp / "run/model.pt", weights_only=False)
    for m in blob["members"]:
        for k in m["weights"]:
            m["weights"][k] = m["weights"][k] * 1.01
    torch.save(blob, other / "model.pt")
    with pytest.raises(DhbvInputError, match="was written by run") as err:
        dom.simulate_domain_chunk(other, forms, "19910101-19911231", tmp / "b2/c.zarr",
                                  tmp / "b2/s.pt", previous_state=s1990, period=PERIOD,
                                  chunk_years=1, spinup=None, variables=VARS, memory_mb=100,
                                  device="cpu")
    assert "\n" not in str(err.value) and not (tmp / "b2").exists()
    # a forcing gap inside the chunk
    with xr.open_dataset(forms["forcing"]) as f:
        gap = f.load()
    gap["P"][dict(time=gap.indexes["time"].get_loc(pd.Timestamp("1991-06-15")), unit=1)] = np.nan
    gap.to_netcdf(tmp / "gap.nc")
    _refused(setup, r"unit 01057000: forcing gap on 1991-06-15", "b3", "19910101-19911231",
             previous=ref / "states/19900101-19901231.pt",
             forms={**forms, "forcing": str(tmp / "gap.nc")})
    # units without attributes
    with xr.open_dataset(forms["attributes"]) as a:
        a.isel(unit=[0, 2]).load().to_netcdf(tmp / "attrs2.nc")
    _refused(setup, "lack 1 unit.*first: 01057000", "b4", "19900101-19901231", previous=None,
             forms={**forms, "attributes": str(tmp / "attrs2.nc")})
    # a chunk size that does not divide the period
    _refused(setup, "chunk_years 2 does not divide the period of 3 years", "b5",
             "19900101-19911231", previous=None, chunk_years=2)
    # not the first chunk, but no previous state
    _refused(setup, "give the previous chunk's state", "b6", "19910101-19911231", previous=None)
    # the workflow's form (dates from the label, first= given): the same checks
    with pytest.raises(DhbvInputError, match="but the chunk starts on 1992-01-01") as err:
        dom.simulate_domain_chunk(tmp / "run", forms, "19920101-19921231", tmp / "b7/c.zarr",
                                  tmp / "b7/s.pt", previous_state=s1990, first=False,
                                  spinup=None, variables=VARS, memory_mb=100, device="cpu")
    assert "\n" not in str(err.value) and not (tmp / "b7").exists()


def test_chunk_periods():
    c = chunk_periods(["1981-10-01", "1985-09-30"], 2)
    assert [(a.date().isoformat(), b.date().isoformat()) for a, b in c] == [
        ("1981-10-01", "1983-09-30"), ("1983-10-01", "1985-09-30")]
    with pytest.raises(DhbvInputError, match="not a whole number of years"):
        chunk_periods(["1981-10-01", "1985-09-29"], 1)


def test_cli_simulate_domain_and_resume(setup, capsys):
    from dhbv.cli import main

    tmp, forms = setup
    args = ["simulate-domain", "--run-dir", str(tmp / "run"), "--forcing", forms["forcing"],
            "--attributes", forms["attributes"], "--out-dir", str(tmp / "cli"),
            "--period", "1990-01-01", "1991-12-31", "--variables", "runoff", "swe", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "unit-days/s" in out and "water balance" in out
    s = pd.read_csv(tmp / "cli/summary.csv", dtype={"unit": str})
    assert len(s) == 3 and np.abs(s["closure"]).max() < 0.05
    stamp = (tmp / "cli/states/19910101-19911231.pt").stat().st_mtime_ns
    assert main(args) == 0                                       # all chunks done: nothing rerun
    assert (tmp / "cli/states/19910101-19911231.pt").stat().st_mtime_ns == stamp
    bad = ["simulate-domain", "--run-dir", str(tmp / "run"), "--forcing", forms["forcing"],
           "--attributes", forms["attributes"], "--out-dir", str(tmp / "cli_bad"),
           "--period", "1990-01-01", "1992-12-31", "--chunk-years", "2", "--quiet"]
    assert main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not divide the period of 3 years" in err
    assert not (tmp / "cli_bad").exists()


def test_config_section_checks():
    from dhbv.config import resolve_config

    c = resolve_config({"simulate_domain": {"datasets": [], "period": None}})
    assert c["simulate_domain"]["chunk_years"] == 1
    assert c["simulate_domain"]["variables"] == list(DEFAULT_VARIABLES)
    with pytest.raises(DhbvInputError, match="simulate_domain.datasets names 'nowhere'"):
        resolve_config({"simulate_domain": {"datasets": ["nowhere"], "period": None}})
    base = {"datasets": {"d": {"sources": [{"type": "standard", "forcing": "f.nc",
                                           "observations": "o.nc", "attributes": "a.nc"}]}}}
    with pytest.raises(DhbvInputError, match="simulate_domain.period is not"):
        resolve_config({**base, "simulate_domain": {"datasets": ["d"]}})
    with pytest.raises(DhbvInputError, match="chunk_years 4 does not divide"):
        resolve_config({**base, "simulate_domain": {"datasets": ["d"], "chunk_years": 4,
                                                    "period": ["1981-01-01", "1990-12-31"]}})
    # a per-dataset period replaces period for its dataset only, and is checked the same way
    from dhbv.time_chunks import chunk_labels, domain_period

    two = {"datasets": {**base["datasets"], "e": base["datasets"]["d"]}}
    c = resolve_config({**two, "simulate_domain": {
        "datasets": ["d", "e"], "period": ["1950-01-01", "1952-12-31"],
        "periods": {"e": ["1982-01-01", "1983-12-31"]}}})
    sd = c["simulate_domain"]
    assert chunk_labels(domain_period(sd, "d"), 1) == [
        "19500101-19501231", "19510101-19511231", "19520101-19521231"]
    assert chunk_labels(domain_period(sd, "e"), 1) == ["19820101-19821231", "19830101-19831231"]
    # without period, every dataset needs its own
    c = resolve_config({**two, "simulate_domain": {"datasets": ["d", "e"], "periods": {
        "d": ["1981-01-01", "1981-12-31"], "e": ["1982-01-01", "1983-12-31"]}}})
    assert c["simulate_domain"]["period"] is None
    with pytest.raises(DhbvInputError, match="simulate_domain.period is not .nor periods.d."):
        resolve_config({**two, "simulate_domain": {"datasets": ["d", "e"], "periods": {
            "e": ["1982-01-01", "1983-12-31"]}}})
    with pytest.raises(DhbvInputError, match="simulate_domain.periods names 'x', which is not"):
        resolve_config({**two, "simulate_domain": {"datasets": ["d"], "period": [
            "1981-01-01", "1981-12-31"], "periods": {"x": ["1982-01-01", "1983-12-31"]}}})
    with pytest.raises(DhbvInputError, match=r"simulate_domain.periods.e 1982-01-01..1983-06-30 "
                                             "is not a whole number of years"):
        resolve_config({**two, "simulate_domain": {"datasets": ["d", "e"], "period": [
            "1981-01-01", "1981-12-31"], "periods": {"e": ["1982-01-01", "1983-06-30"]}}})


def test_synthetic_domain_statistics():
    from dhbv.simulation.synthetic import SyntheticDomain

    d = SyntheticDomain(500, ["aridity", "uparea"], seed=3)
    w = d.window(0, 500, "2001-01-01", 365)
    assert w.forcing.shape == (365, 500, 3) and np.isfinite(w.forcing).all()
    p, t, pet = (w.forcing[..., k] for k in range(3))
    assert 600 < np.median(p.sum(0)) < 1000                  # mm/yr, log-normal around 800
    assert 0.3 < (p > 0).mean() < 0.7 and (p >= 0).all()
    assert (pet >= 0).all() and 500 < np.median(pet.sum(0)) < 1300
    assert t[:31].mean() < t[181:212].mean() - 10           # January colder than July
    assert 25 < np.median(w.area) < 60 and (w.attributes[:, 1] == w.uparea).all()
    np.testing.assert_array_equal(d.window(0, 500, "2001-01-01", 365).forcing, w.forcing)
