"""Multiscale training on nested gauges that share unit basins (standard-form inputs)."""
import numpy as np
import pandas as pd
import torch

from dhbv.io import standard as std
from dhbv.readout import AreaWeightedReadout
from dhbv.training import train


def _nested_sources(tmp_path):
    t = pd.date_range("1990-01-01", periods=200)
    rng = np.random.default_rng(0)
    P = rng.gamma(0.6, 6.0, size=(200, 3))
    T = 10 + 8 * np.sin(np.arange(200) / 58.0)[:, None] + np.zeros((1, 3))
    f = std.make_unit_forcing(t, ["a", "b", "c"], P, T, np.full((200, 3), 2.0),
                              area=[10.0, 20.0, 30.0], lat=[45.0] * 3, lon=[-100.0] * 3)
    a = std.make_unit_attributes(["a", "b", "c"], {
        "uparea": np.array([60.0, 50.0, 30.0]), "meanelevation": np.array([300.0, 400.0, 500.0]),
        "aridity": np.array([0.8, 1.0, 1.2])})
    q = np.convolve(P.mean(1), np.ones(5) / 5, "same")[:, None] * np.array([[0.4, 0.5]])
    q[::7, 1] = np.nan                                   # missing observations are masked
    o = std.make_gauge_observations(t, ["OUT", "UP"], q, units="mm d-1", area=[60.0, 50.0])
    m = std.make_membership(["OUT", "OUT", "OUT", "UP", "UP"], ["a", "b", "c", "b", "c"],
                            [0.5, 1, 1, 1, 1])
    src = {}
    for k, ds in dict(forcing=f, attributes=a, observations=o, membership=m).items():
        src[k] = str(std.write_netcdf(ds, tmp_path / f"{k}.nc"))
    return {"sources": [dict(type="standard", **src)]}


def test_train_on_nested_gauges_counts_units_once(tmp_path):
    calls = []

    class Tiny(torch.nn.Module):
        """Linear-reservoir stand-in with the DeltaHBV forward signature."""

        def __init__(self, n_static):
            super().__init__()
            self.lin = torch.nn.Linear(3 + n_static, 1)
            self.readout = AreaWeightedReadout()

        def forward(self, xd, xs, forcing, uparea, elev, *, warmup=0):
            calls.append(xd.shape[1])
            x = torch.cat([xd, xs.unsqueeze(0).expand(xd.shape[0], -1, -1)], -1)
            q = torch.sigmoid(self.lin(x))[..., 0] * forcing[..., 0]
            return {"streamflow": q[warmup:]}

    cfg = {"run": {"seed": 3, "device": "cpu"}, "datasets": {"nested": _nested_sources(tmp_path)},
           "model": {"attributes": ["aridity"], "warmup": 20},
           "train": {"dataset": "nested", "period": ["1990-02-01", "1990-07-01"], "rho": 30,
                     "min_warmup": 20,
                     "iterations_per_epoch": 3, "epochs": 2, "progress": False,
                     "optimizer": "adam", "lr": 0.05},
           "evaluation": {"period": ["1990-07-02", "1990-07-19"]}}
    out = train(cfg, tmp_path / "run", model_factory=lambda mc, n: Tiny(n))
    assert out.exists()
    assert calls and all(c == 3 for c in calls)          # 2 gauges, 3 distinct units per batch
    log = pd.read_csv(tmp_path / "run" / "training_log.csv")
    assert np.isfinite(log["train_loss"]).all() and len(log) == 2

    # one window per gauge: the upstream gauge's 2 units run again in its own window
    calls.clear()
    cfg["train"]["window_sampling"] = "per_gauge"
    train(cfg, tmp_path / "run_pg", model_factory=lambda mc, n: Tiny(n))
    assert len(calls) == 6 and all(c == 5 for c in calls)
    log = pd.read_csv(tmp_path / "run_pg" / "training_log.csv")
    assert np.isfinite(log["train_loss"]).all() and len(log) == 2
