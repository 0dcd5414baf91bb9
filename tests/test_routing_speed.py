"""Float32 fast path: the vectorisable ln/exp, float32 routing against float64, the synthetic
MERIT-like network and a smoke run of benchmarks/routing_speed.py."""

import runpy
import sys

import numpy as np
import pytest
import torch
from numba import njit

from dhbv.routing import ChannelParameters, RoutingOptions, route
from dhbv.routing.fastmath import fexp, flog
from dhbv.routing.synthetic import synthetic_lateral, synthetic_network


@njit
def _apply(x, out, which):
    for i in range(x.size):
        out[i] = flog(x[i]) if which == 0 else fexp(x[i])


def test_float32_log_exp_within_one_ulp():
    rng = np.random.default_rng(0)
    x = np.exp(rng.uniform(-30, 30, 200_000)).astype(np.float32)
    out = np.empty_like(x)
    _apply(x, out, 0)
    ref = np.log(x.astype(np.float64))
    assert np.all(np.abs(out - ref) <= 1.01 * np.spacing(np.abs(ref).astype(np.float32)) + 1e-7)
    y = rng.uniform(-80, 80, 200_000).astype(np.float32)
    _apply(y, out, 1)
    ref = np.exp(y.astype(np.float64))
    assert np.max(np.abs(out - ref) / ref) < 1.2e-7
    z = np.array([0.5, 2.0], np.float64)  # float64 stays libm
    out64 = np.empty_like(z)
    _apply(z, out64, 0)
    np.testing.assert_array_equal(out64, np.log(z))


@pytest.mark.parametrize("geometry", ["wide", "trapezoid_exact"])
def test_float32_routing_matches_float64(geometry):
    graph, _ = synthetic_network(3000, 60, seed=2)
    lat = synthetic_lateral(20, graph.n, seed=3, dtype=np.float64)
    rng = np.random.default_rng(4)
    mann, expo = rng.uniform(0.015, 0.25, graph.n), rng.uniform(0, 1, graph.n)
    opts = RoutingOptions(geometry=geometry)
    runs = [route(graph, torch.as_tensor(lat, dtype=dt),
                  ChannelParameters(n=torch.as_tensor(mann, dtype=dt),
                                    q=torch.as_tensor(expo, dtype=dt)), options=opts).mean
            for dt in (torch.float32, torch.float64)]
    np.testing.assert_allclose(runs[0].double(), runs[1], rtol=2e-4)


def test_synthetic_network_is_merit_like():
    graph, n_levels = synthetic_network(20_000, 400, seed=1)
    n_up = np.diff(graph.indptr)
    assert abs(graph.n - 20_000) <= 1 and set(np.unique(n_up)) == {0, 2}
    assert graph.outlets.size == 1 and 400 <= n_levels < 500
    assert np.all(np.diff(graph.level) >= 0)  # level-sorted
    assert graph.slope.min() >= 1e-3 and 90 <= graph.length_m.min()


def test_benchmark_script_runs(repo, capsys, monkeypatch):
    routelink = repo / "resources" / "demo" / "nwm_routelink" / "RouteLink_HurricaneLaura.nc"
    monkeypatch.setattr(sys, "argv", ["routing_speed.py", "--reaches", "3000", "--stem", "60",
                                      "--days", "1", "--threads", "1", "--repeats", "1",
                                      "--baseline-steps", "2", "--geometry", "wide",
                                      "--routelink", str(routelink)])
    runpy.run_path(str(repo / "benchmarks" / "routing_speed.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "x baseline" in out and "scipy" in out and "differs by" in out
    assert "network HurricaneLaura: 18 reaches" in out
