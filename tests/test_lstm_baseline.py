"""The LSTM-only streamflow baseline: output bounds, the same trainer, run directory and
simulation path as δHBV2.0, and its place in the workflow's model comparison."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.nn.streamflow_lstm import LstmState, StreamflowLSTM
from test_training_resume import tiny_config


def _inputs(t=50, b=4, n_dyn=3, n_sta=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(t, b, n_dyn, generator=g), torch.randn(b, n_sta, generator=g)


def test_output_shape_warmup_and_non_negative_flow():
    torch.manual_seed(1)
    model = StreamflowLSTM(3, 5, hidden=6, dropout=0.3).eval()
    x, s = _inputs()
    with torch.no_grad():
        out = model(x, s, torch.zeros(50, 4, 3), torch.ones(4), torch.ones(4), warmup=10)
        assert out["streamflow"].shape == (40, 4)
        assert isinstance(out["state"], LstmState) and out["state"].lstm[0].shape == (1, 4, 6)
        # a head that gives z = b for every day: q = softplus(b) = ln(1 + e^b) exactly
        model.lstm.linear_out.weight.zero_()
        for b, q in ((0.0, math.log(2.0)), (2.0, math.log(1 + math.e ** 2)),
                     (-30.0, math.exp(-30.0))):
            model.lstm.linear_out.bias.fill_(b)
            v = model(x, s, warmup=0)["streamflow"]
            assert (v >= 0).all()
            np.testing.assert_allclose(v.numpy(), q, rtol=1e-5)


def test_split_window_and_truncated_backprop_equal_one_pass():
    torch.manual_seed(2)
    model = StreamflowLSTM(3, 5, hidden=6, dropout=0.0).eval()
    x, s = _inputs(t=60)
    with torch.no_grad():
        whole = model(x, s)["streamflow"]
        a = model(x[:25], s)
        b = model(x[25:], s, state=a["state"])["streamflow"]
    torch.testing.assert_close(torch.cat([a["streamflow"], b]), whole, rtol=1e-5, atol=1e-6)
    model.train()
    model.lstm.dropout = 0.4
    torch.manual_seed(3)
    one = model(x, s, warmup=20)["streamflow"]
    torch.manual_seed(3)
    cut = model(x, s, warmup=20, nograd_days=15)["streamflow"]
    torch.testing.assert_close(one, cut)          # same DropConnect draw, same values
    cut.sum().backward()                           # gradients reach the weights
    assert model.lstm.weight_hh.grad.abs().sum() > 0


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(4)
    model = StreamflowLSTM(3, 5, hidden=7, dropout=0.2).eval()
    model.save(tmp_path / "lstm.pt")
    back = StreamflowLSTM.load(tmp_path / "lstm.pt").eval()
    assert back.hidden == 7 and back.lstm.dropout == 0.2
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
    x, s = _inputs(seed=5)
    with torch.no_grad():
        assert torch.equal(model(x, s)["streamflow"], back(x, s)["streamflow"])
    (tmp_path / "other.pt").write_bytes(b"not a model")
    with pytest.raises(DhbvInputError, match="not a readable LSTM baseline"):
        StreamflowLSTM.load(tmp_path / "other.pt")


def test_learns_a_linear_reservoir():
    """Gradient steps on a synthetic linear reservoir (S_t = (1 − k)·S_{t−1} + P_t,
    q_t = k·S_t, a different k per basin given as its attribute) take the NSE of the
    simulated flow from below 0 to above 0.6: the model learns memory, not only the mean."""
    from dhbv.training.losses import rmse_comb

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    t, b, warm = 150, 8, 30
    p = -3.0 * torch.log(torch.rand(t, b, generator=g)) * (torch.rand(t, b, generator=g) < 0.3)
    k = 0.05 + 0.1 * torch.rand(b, generator=g)
    q = torch.zeros(t, b)
    store = torch.zeros(b)
    for i in range(t):
        store = (1 - k) * store + p[i]
        q[i] = k * store
    x = torch.stack([(p - 1) / 3, torch.zeros(t, b), torch.zeros(t, b)], -1)
    s = ((k - 0.1) / 0.03)[:, None]
    y = q[warm:]
    model = StreamflowLSTM(3, 1, hidden=8, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)

    def nse():
        with torch.no_grad():
            out = model(x, s, warmup=warm)["streamflow"]
        return float(1 - ((out - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())

    before = nse()
    for _ in range(45):
        loss = rmse_comb(model(x, s, warmup=warm)["streamflow"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert before < 0 and nse() > 0.6, (before, nse())


def _lstm_config(**train):
    cfg = tiny_config(validation_period=None, checkpoint_every_steps=None, epochs=6,
                      iterations_per_epoch=10, optimizer="adam", lr=0.05, ensemble=1, **train)
    cfg["model"].update(type="lstm", lstm_hidden=8, dropout=0.0)
    return cfg


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory):
    """An LSTM baseline trained by the δHBV2.0 trainer, and its initial weights."""
    from dhbv.runner import build_model
    from dhbv.training import train

    made = []

    def factory(mc, n_static):
        m = build_model(mc, n_static)
        made.append(copy.deepcopy(m.state_dict()))
        return m

    run = tmp_path_factory.mktemp("lstm") / "run"
    train(_lstm_config(), run, model_factory=factory)
    return run, made[0]


def test_training_by_the_shared_trainer_lowers_the_loss(lstm_run):
    """RmseComb over the whole training period (all gauges, the same days) of the trained
    weights is below that of the weights the trainer started from."""
    from dhbv.datasets import dataset_of, load_dataset
    from dhbv.runner import build_model, load_run, prepare, simulate_gauges
    from dhbv.training.losses import rmse_comb

    run, initial = lstm_run
    models, cfg, stats = load_run(run)
    assert isinstance(models[0], StreamflowLSTM) and cfg["model"]["type"] == "lstm"
    data = load_dataset(dataset_of(cfg), cfg["model"]["attributes"])
    prep = prepare(data, stats)
    i0, i1 = data.check_period(*cfg["train"]["period"], "training")
    g = list(range(len(data.gauge_ids)))
    obs = torch.from_numpy(data.obs[i0:i1 + 1]).float()
    start = build_model(cfg["model"], len(data.attribute_names))
    start.load_state_dict(initial)
    losses = []
    for m in (start, models[0]):
        q = simulate_gauges(m, prep, data, g, i0 - 30, i1 + 1, 30, "cpu")
        assert q.shape == obs.shape and (q >= 0).all()
        losses.append(float(rmse_comb(torch.from_numpy(q), obs)))
    assert losses[1] < 0.9 * losses[0], losses      # measured: 2.04 → 1.79


def test_run_directory_round_trip_and_simulation(lstm_run, tmp_path):
    """model.pt holds the weights load_run rebuilds; dhbv.simulation.simulate runs the baseline
    like any run (non-negative flow, observations beside it)."""
    from dhbv.runner import load_run
    from dhbv.simulation import simulate

    run, _ = lstm_run
    saved = torch.load(run / "model.pt", weights_only=False)["members"][0]["weights"]
    models, _, _ = load_run(run)
    for k, v in models[0].state_dict().items():
        assert torch.equal(v, saved[k]), k
    out = simulate(run, None, tmp_path / "sim.nc", ["1995-10-01", "1996-09-30"])
    with xr.open_dataset(out) as ds:
        q = ds["streamflow"].values
        assert q.shape == (366, 3) and np.isfinite(q).all() and (q >= 0).all()
        assert "observed" in ds


def test_lstm_run_has_no_hbv_parameters(lstm_run):
    from dhbv.parameters import range_use

    run, _ = lstm_run
    with pytest.raises(DhbvInputError, match="LSTM baseline .* without HBV parameters"):
        range_use(run)


def test_baseline_model_section_and_folders():
    """The baseline reads the run's inputs and warm-up only; its folder is the model name
    made safe for paths; its simulation is a model of the comparison."""
    from dhbv.config import validate_config
    from dhbv.evaluation.paths import (baseline_model_config, baseline_names,
                                       evaluation_simulations)

    cfg = {"model": {"nmul": 3, "mlp_hidden": 32, "lstm_hidden": 16, "dropout": 0.4,
                     "warmup": 100},
           "evaluation": {"models": {"dHBV2.0": {"source": "run"},
                                     "LSTM": {"source": "lstm"},
                                     "LSTM h/256": {"source": "lstm", "lstm_hidden": 256,
                                                    "lstm_dropout": 0.1},
                                     "LSTM h_256": {"source": "lstm"}}}}
    validate_config(cfg)
    assert baseline_names(cfg) == {"LSTM": "LSTM", "LSTM h/256": "LSTM_h_256",
                                   "LSTM h_256": "LSTM_h_256-2"}
    mc = baseline_model_config(cfg, "LSTM")
    assert mc["type"] == "lstm" and (mc["lstm_hidden"], mc["dropout"], mc["warmup"]) == \
        (16, 0.4, 100)
    assert "nmul" not in mc and "mlp_hidden" not in mc and "readout" not in mc
    big = baseline_model_config(cfg, "LSTM_h_256")
    assert (big["lstm_hidden"], big["lstm_dropout"]) == (256, 0.1)
    sims = evaluation_simulations(dict(cfg, simulate={"datasets": ["d"]},
                                       train={"dataset": "d"}), "r")
    assert sims["LSTM h/256"] == {"d": "results/simulation/r/d/baseline_LSTM_h_256.nc"}
    with pytest.raises(DhbvInputError, match="must be one of"):
        validate_config({"model": {"type": "transformer"}})


def test_gauge_flow_is_the_area_weighted_mean_of_unit_flow():
    """With a batch, the baseline reads gauges out like δHBV2.0UH: gauge = Σ w·A·q / Σ w·A."""
    from types import SimpleNamespace

    torch.manual_seed(6)
    model = StreamflowLSTM(3, 5, hidden=4, dropout=0.0).eval()
    x, s = _inputs(t=20, b=3)
    # gauge 0 = units 0 and 1 with weights·areas 1·100 and 1·300; gauge 1 = unit 2 alone
    w = torch.sparse_coo_tensor([[0, 0, 1], [0, 1, 2]], [0.25, 0.75, 1.0], (2, 3),
                                check_invariants=True)
    with torch.no_grad():
        out = model(x, s, warmup=5, batch=SimpleNamespace(weights=w.coalesce()))
    q = out["streamflow"]
    torch.testing.assert_close(out["gauge_streamflow"],
                               torch.stack([0.25 * q[:, 0] + 0.75 * q[:, 1], q[:, 2]], 1))
