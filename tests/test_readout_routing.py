"""δHBV2.0MC: unit runoff routed by Muskingum–Cunge through a batch's subnetwork (the
``muskingum_cunge`` readout), trained end to end.

Synthetic network: a main stem of 8 reaches (unit 0 at the top, unit 7 the outlet) with one
headwater tributary unit draining into each stem reach; gauge G7 at the outlet and the nested
partial-area gauge G4 (FLOW_SCALE 0.7) on the stem share one routing solve.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dhbv.datasets.batch import gauge_batch
from dhbv.datasets.membership import Membership
from dhbv.datasets.network import UnitNetwork
from dhbv.errors import DhbvInputError
from dhbv.model import DeltaHBV
from dhbv.readout import (MM_DAY_KM2_TO_M3S, MuskingumCungeReadout, aggregate, gauge_flow,
                          readout_options)

N_STEM = 8
DOWN = np.array(list(range(1, N_STEM)) + [-1] + list(range(N_STEM)))
N = DOWN.size
N_TRUE, Q_TRUE = 0.04, 0.5


def _ancestors(u, down):
    out, stack = [u], [u]
    while stack:
        v = stack.pop()
        for w in np.flatnonzero(down == v):
            out.append(int(w))
            stack.append(int(w))
    return sorted(out)


def make_data(down=DOWN, gauges=(("G7", 7, 1.0), ("G4", 4, 0.7)), length=3.0e4, seed=0,
              network=True):
    """(dataset-like object, unit areas km²) of the synthetic network and gauges."""
    rng = np.random.default_rng(seed)
    n = down.size
    area = rng.uniform(20.0, 80.0, n)
    ids = [f"u{i}" for i in range(n)]
    pairs = [(g, f"u{v}", fs if v == u else 1.0) for g, u, fs in gauges
             for v in _ancestors(u, down)]
    mem = Membership.from_table(*zip(*pairs), [g for g, _, _ in gauges], ids, area)
    net = UnitNetwork(down, np.full(n, length), np.full(n, 1e-3)) if network else None
    return SimpleNamespace(membership=mem, network=net), area


def forcing(n, days=730, seed=0):
    """Synthetic daily P (intermittent gamma storms), T (seasonal), PET (seasonal) [T, n, 3]."""
    rng = np.random.default_rng(seed)
    doy = np.arange(days) % 365
    p = rng.gamma(0.3, 30.0, (days, 1)) * (rng.random((days, 1)) < 0.3) * \
        rng.uniform(0.7, 1.3, (1, n))
    t = 12 + 10 * np.sin(2 * np.pi * (doy - 100) / 365)[:, None] + rng.normal(0, 2, (days, n))
    pet = np.clip(1 + np.sin(2 * np.pi * (doy - 100) / 365), 0.2, None)[:, None] * np.ones((1, n))
    f = np.stack([p, t, pet], -1).astype(np.float32)
    norm = ((f - f.mean((0, 1))) / f.std((0, 1))).astype(np.float32)
    return torch.from_numpy(norm), torch.from_numpy(f)


def set_constant(readout, n_val, q_val):
    """Make the routing network give (almost) the same n, q on every reach."""
    last = readout.network.net[-1]
    with torch.no_grad():
        last.weight.mul_(0.01)
        for k, (name, v) in enumerate((("n", n_val), ("q", q_val))):
            lo, hi = readout.network.ranges[name]
            last.bias[k] = math.log((v - lo) / (hi - v))


def tiny_model(readout="muskingum_cunge", **opts):
    torch.manual_seed(0)
    return DeltaHBV(3, 4, nmul=2, lstm_hidden=8, mlp_hidden=16, mlp_layers=1, dropout=0.0,
                    readout=readout, readout_options=dict(attribute_index=[0, 1, 2], hidden=16,
                                                          **opts) if readout != "area_weighted"
                    else None)


def run(model, xd, raw, xs, area, batch, warmup, state=None):
    return model(xd, xs, raw, torch.from_numpy(area.astype(np.float32) * 5.0),
                 torch.full((xs.shape[0],), 500.0), warmup=warmup, batch=batch, state=state)


def nse(sim, obs):
    return 1.0 - ((sim - obs) ** 2).sum(0) / ((obs - obs.mean(0)) ** 2).sum(0)


# ------------------------------------------------------------------------------------ physics
def test_steady_runoff_gives_the_area_weighted_depth_at_every_gauge():
    """Constant unit runoff: the hot start is the steady state, so every gauge reads its
    units' area-weighted runoff (mm/d), FLOW_SCALE included; hand-derived for a 2-unit chain."""
    data, area = make_data(np.array([1, -1]), (("B", 1, 1.0), ("A", 0, 1.0), ("P", 1, 0.6)))
    batch = gauge_batch(data, [0, 1, 2])
    ro = MuskingumCungeReadout([0], hidden=4)
    q = torch.tensor([[2.0, 5.0]]).repeat(20, 1)                 # mm/d, units 0 and 1
    with torch.no_grad():
        g = ro(q, batch, lead=3, attributes=torch.zeros(2, 1))
    assert g.shape == (17, 3)
    expect_b = (2.0 * area[0] + 5.0 * area[1]) / (area[0] + area[1])
    expect_p = (2.0 * area[0] + 0.6 * 5.0 * area[1]) / (area[0] + 0.6 * area[1])
    np.testing.assert_allclose(g[:, 0].numpy(), expect_b, rtol=1e-4)
    np.testing.assert_allclose(g[:, 1].numpy(), 2.0, rtol=1e-4)
    np.testing.assert_allclose(g[:, 2].numpy(), expect_p, rtol=1e-4)
    assert MM_DAY_KM2_TO_M3S == pytest.approx(1.0e-3 * 1.0e6 / 86400.0)


def test_routed_volume_equals_the_unrouted_sum_over_a_long_window():
    """Two years of HBV runoff: Σ routed gauge flow·D_g equals Σ w_u·A_u·q_u of the
    gauge's units within 1 % (storage change and nonlinear storage redefinition), at the
    outlet and at the nested partial-area gauge; the hydrograph itself is delayed."""
    data, area = make_data()
    batch = gauge_batch(data, [0, 1])
    xd, raw = forcing(N, days=1095)
    xs = torch.randn(N, 4, generator=torch.Generator().manual_seed(3))
    model = tiny_model()
    set_constant(model.readout, 0.1, 0.3)
    model.eval()
    with torch.no_grad():
        out = run(model, xd, raw, xs, area, batch, warmup=365)
    routed = out["gauge_streamflow"].double().numpy()
    unrouted = aggregate(batch.weights, out["streamflow"]).double().numpy()
    assert routed.shape == unrouted.shape == (730, 2)
    np.testing.assert_allclose(routed.sum(0), unrouted.sum(0), rtol=0.01)
    assert not np.allclose(routed, unrouted, rtol=0.05)          # routing changed the timing
    lag = [np.corrcoef(unrouted[:-k or None, 0], routed[k:, 0])[0, 1] for k in range(4)]
    assert int(np.argmax(lag)) >= 1                              # the outlet peaks later


# ------------------------------------------------------------------------------- gradients
def test_gradients_reach_the_routing_and_the_hbv_parameter_networks():
    data, area = make_data()
    batch = gauge_batch(data, [0, 1])
    xd, raw = forcing(N, days=120)
    xs = torch.randn(N, 4, generator=torch.Generator().manual_seed(3))
    model = tiny_model()
    set_constant(model.readout, 0.03, 0.4)      # velocities above the 0.3 m/s floor
    model.train()
    out = run(model, xd, raw, xs, area, batch, warmup=60)
    out["gauge_streamflow"].pow(2).mean().backward()
    for name, mod in (("routing", model.readout.network), ("lstm", model.networks.lstm),
                      ("mlp", model.networks.mlp)):
        g = torch.cat([p.grad.flatten() for p in mod.parameters() if p.grad is not None])
        assert torch.isfinite(g).all(), name
        assert g.abs().sum() > 0, name


# -------------------------------------------------------------------------- continuation
@pytest.mark.parametrize("offset", [0.0, 9.0])
def test_split_run_equals_the_unsplit_run(offset):
    """A period run in two windows, the second continuing the first's ModelState (routing
    state included), equals the unsplit run; with a 9-hour day offset the first window's last
    day holds its last record for the 9 hours it lacks, and only that day differs."""
    data, area = make_data()
    batch = gauge_batch(data, [0, 1])
    xd, raw = forcing(N, days=160)
    xs = torch.randn(N, 4, generator=torch.Generator().manual_seed(3))
    model = tiny_model(day_offset_hours=offset)
    set_constant(model.readout, 0.06, 0.4)
    model.eval()
    w, cut = 40, 100
    with torch.no_grad():
        full = run(model, xd, raw, xs, area, batch, warmup=w)["gauge_streamflow"]
        a = run(model, xd[:cut], raw[:cut], xs, area, batch, warmup=w)
        b = run(model, xd[cut:], raw[cut:], xs, area, batch, warmup=0, state=a["state"])
    assert a["state"].routing is not None and a["state"].routing.discharge.shape == (N,)
    split = torch.cat([a["gauge_streamflow"], b["gauge_streamflow"]])
    assert split.shape == full.shape == (120, 2)
    keep = np.ones(120, bool)
    if offset:
        keep[cut - w - 1] = False
        assert not torch.allclose(split[~keep], full[~keep], rtol=1e-4)
    torch.testing.assert_close(split[keep], full[keep], rtol=2e-5, atol=1e-6)


# ------------------------------------------------------------------------ twin experiment
def test_twin_experiment_recovers_the_flows_and_moves_n_towards_the_truth():
    """Observations made by the model with n = 0.04, q = 0.5 on every reach; the routing
    network trained from n = 0.1, q = 0.3 recovers them (NSE ≥ 0.99 at both gauges, from
    < 0.98) and the stem's geometric-mean n moves to within 30 % of the truth."""
    data, area = make_data()
    batch = gauge_batch(data, [0, 1])
    xd, raw = forcing(N)
    xs = torch.randn(N, 4, generator=torch.Generator().manual_seed(3))
    model = tiny_model()
    model.eval()
    with torch.no_grad():                         # the HBV part fixed: unit runoff once
        q = run(model, xd, raw, xs, area, None, warmup=360)["streamflow"]
    truth = MuskingumCungeReadout([0, 1, 2], hidden=16)
    set_constant(truth, N_TRUE, Q_TRUE)
    with torch.no_grad():
        obs = truth(q, batch, lead=5, attributes=xs)
    torch.manual_seed(2)
    ro = MuskingumCungeReadout([0, 1, 2], hidden=16)
    set_constant(ro, 0.1, 0.3)

    def stem_n():
        with torch.no_grad():
            return float(ro.network.bounded(xs[:, :3])["n"][:N_STEM].log().mean().exp())

    with torch.no_grad():
        nse0 = nse(ro(q, batch, lead=5, attributes=xs), obs)
    n0 = stem_n()
    opt = torch.optim.Adam(ro.parameters(), lr=0.05)
    for _ in range(30):
        loss = ((ro(q, batch, lead=5, attributes=xs) - obs) ** 2).mean() / obs.var()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        nse1 = nse(ro(q, batch, lead=5, attributes=xs), obs)
    assert (nse0 < 0.98).all() and (nse1 >= 0.99).all(), (nse0, nse1)
    assert abs(math.log(n0 / N_TRUE)) > 0.9
    assert abs(math.log(stem_n() / N_TRUE)) < math.log(1.3), stem_n()


# ----------------------------------------------------------------- configuration and errors
def test_readout_options_from_the_model_section():
    cfg = {"readout": "muskingum_cunge", "attributes": ["a", "b", "c"],
           "routing": {"attributes": ["c", "a"], "hidden": 8, "geometry": "trapezoid"}}
    opts = readout_options(cfg)
    assert opts["attribute_index"] == [2, 0] and opts["hidden"] == 8
    assert readout_options(dict(cfg, routing={}))["attribute_index"] == [0, 1, 2]
    assert readout_options({"readout": "area_weighted"}) == {}
    with pytest.raises(DhbvInputError, match="'z' is not one of model.attributes"):
        readout_options(dict(cfg, routing={"attributes": ["z"]}))


def test_lumped_dataset_gives_one_line_error():
    data, _ = make_data(network=False)
    batch = gauge_batch(data, [0, 1])
    ro = MuskingumCungeReadout([0], hidden=4)
    with pytest.raises(DhbvInputError, match="needs a river network") as err:
        ro(torch.ones(10, N), batch, attributes=torch.zeros(N, 1))
    assert "\n" not in str(err.value)
    from dhbv.training.trainer import _check_readout
    with pytest.raises(DhbvInputError, match="training dataset is lumped"):
        _check_readout({"readout": "muskingum_cunge"}, {"window_sampling": "per_batch"},
                       SimpleNamespace(network=None))


def test_gauge_flow_passes_lead_days_and_attributes():
    data, area = make_data()
    batch = gauge_batch(data, [0, 1])
    model = tiny_model()
    q = torch.rand(30, N) + 0.5
    static = np.random.default_rng(0).normal(size=(N, 4)).astype(np.float32)
    got = gauge_flow(model, q, batch, static, lead=5)
    want = model.readout(q, batch, lead=5, attributes=torch.from_numpy(static))
    assert got.shape == (25, 2)
    torch.testing.assert_close(got, want)
    uh = tiny_model("area_weighted")
    torch.testing.assert_close(gauge_flow(uh, q, batch, static, lead=5),
                               aggregate(batch.weights, q[5:]))


# ------------------------------------------------------------------ the trainer, end to end
def test_trainer_trains_dhbv20mc_end_to_end_on_the_juniata_network(tmp_path):
    """``dhbv train`` with model.readout muskingum_cunge on the 213 Juniata MERIT reaches
    (network and membership from the topology stage, synthetic forcing and observations):
    the loss is finite, the routing network's weights are trained and saved with the model,
    and a trained run reloads and simulates its gauge through the routing readout."""
    import pandas as pd

    from dhbv.datasets.dataset import build_membership
    from dhbv.io import standard as std
    from dhbv.network import build_gauge_subnetworks, build_topology, read_network
    from dhbv.config import resolve_config
    from dhbv.datasets import load_dataset
    from dhbv.runner import build_model, load_run, prepare, simulate_gauges
    from dhbv.nn.normalization import load_statistics
    from dhbv.training import train

    jun = "resources/demo/juniata_merit"
    build_topology(f"{jun}/juniata_reaches.csv", out_path=tmp_path / "net.nc")
    build_gauge_subnetworks(tmp_path / "net.nc", f"{jun}/juniata_gage.csv", ["01567000"],
                            tmp_path / "sub.nc")
    build_membership(tmp_path / "net.nc", tmp_path / "sub.nc", tmp_path / "membership.nc")
    net = read_network(tmp_path / "net.nc")
    ids = [str(c) for c in net.comid]
    t = pd.date_range("1990-01-01", periods=240)
    xd, raw = forcing(net.n, days=240, seed=4)
    f = raw.numpy()
    obs = np.convolve(f[:, :, 0].mean(1), np.ones(5) / 5, "same")[:, None] * 0.4
    rng = np.random.default_rng(5)
    files = {
        "forcing": std.make_unit_forcing(t, ids, f[..., 0], f[..., 1], f[..., 2],
                                         area=net.unitarea, lat=np.full(net.n, 40.5),
                                         lon=np.full(net.n, -77.5)),
        "attributes": std.make_unit_attributes(ids, {
            "uparea": net.uparea, "meanelevation": rng.uniform(200, 700, net.n),
            "log10_uparea": np.log10(net.uparea), "meanslope": rng.uniform(1, 10, net.n),
            "aridity": rng.uniform(0.5, 1.5, net.n)}),
        "observations": std.make_gauge_observations(t, ["01567000"], obs, units="mm d-1",
                                                    area=[8657.3]),
    }
    src = {k: str(std.write_netcdf(ds, tmp_path / f"{k}.nc")) for k, ds in files.items()}
    src.update(type="standard", membership=str(tmp_path / "membership.nc"),
               network=str(tmp_path / "net.nc"))
    cfg = {
        "run": {"seed": 3, "device": "cpu", "threads": 1},
        "datasets": {"jun": {"sources": [src]}},
        "model": {"attributes": ["aridity", "meanslope", "log10_uparea"], "nmul": 2,
                  "lstm_hidden": 8, "mlp_hidden": 16, "mlp_layers": 1, "warmup": 30,
                  "readout": "muskingum_cunge",
                  "routing": {"attributes": ["meanslope", "log10_uparea"], "hidden": 8}},
        "train": {"dataset": "jun", "period": ["1990-02-01", "1990-06-30"],
                  "validation_period": ["1990-06-01", "1990-06-30"], "rho": 30,
                  "min_warmup": 30, "iterations_per_epoch": 3, "epochs": 1, "lr": 0.05,
                  "optimizer": "adam", "progress": False},
        "evaluation": {"period": ["1990-07-01", "1990-08-20"]},
    }
    torch.manual_seed(3)                              # the trainer's seed of member 0
    init = build_model(resolve_config(cfg, source="test")["model"], 3).state_dict()
    out = train(cfg, tmp_path / "run")
    blob = torch.load(out, weights_only=False)
    w = blob["members"][0]["weights"]
    keys = [k for k in w if k.startswith("readout.network.")]
    assert keys and all(torch.isfinite(w[k]).all() for k in keys)
    assert any(not torch.equal(w[k], init[k]) for k in keys)       # routing trained
    log = pd.read_csv(tmp_path / "run" / "training_log.csv")
    assert np.isfinite(log["train_loss"]).all() and np.isfinite(log["val_median_nse"]).all()
    models, rcfg, stats = load_run(tmp_path / "run")
    assert models[0].readout.name == "muskingum_cunge"
    data = load_dataset(rcfg["datasets"]["jun"], rcfg["model"]["attributes"])
    prep = prepare(data, load_statistics(tmp_path / "run" / "normalization_statistics.json"))
    s, e = data.time_index("1990-06-01"), data.time_index("1990-08-20") + 1
    sim = simulate_gauges(models[0], prep, data, [0], s, e, 30, "cpu")
    assert sim.shape == (e - s - 30, 1) and np.isfinite(sim).all() and (sim > 0).all()
