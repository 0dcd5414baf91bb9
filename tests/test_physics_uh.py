"""Gamma unit hydrograph (docs/model.md#unit-hydrograph)."""

import math

import pytest
import torch
from scipy import stats

from dhbv.physics.uh import gamma_uh_weights, uh_convolve, uh_in_transit, uh_pending


def _params(a, theta):
    """Physical route_a, route_b giving shape a and scale theta."""
    return (torch.tensor([a - 0.1], dtype=torch.float64),
            torch.tensor([theta - 0.5], dtype=torch.float64))


@pytest.mark.parametrize("mode", ["midpoint", "integrated"])
def test_kernel_sums_to_one(mode):
    ra = torch.linspace(0.0, 2.9, 7, dtype=torch.float64)
    rb = torch.linspace(0.0, 6.5, 7, dtype=torch.float64)
    w = gamma_uh_weights(ra, rb, 15, mode)
    assert w.shape == (7, 15)
    torch.testing.assert_close(w.sum(1), torch.ones(7, dtype=torch.float64))
    assert bool((w >= 0).all())


def test_shape_one_is_exponential():
    ra, rb = _params(1.0, 3.0)
    w = gamma_uh_weights(ra, rb, 15)[0]
    k = torch.arange(15, dtype=torch.float64)
    expected = torch.exp(-(k + 0.5) / 3.0)
    torch.testing.assert_close(w, expected / expected.sum())


def test_midpoint_matches_scipy_density():
    ra, rb = _params(2.3, 1.7)
    w = gamma_uh_weights(ra, rb, 15)[0]
    dens = stats.gamma.pdf([k + 0.5 for k in range(15)], a=2.3, scale=1.7)
    torch.testing.assert_close(w, torch.tensor(dens / dens.sum(), dtype=torch.float64))


def test_integrated_matches_scipy_cdf_differences():
    for a, theta in [(0.1, 0.5), (0.7, 2.0), (3.0, 7.0)]:
        ra, rb = _params(a, theta)
        w = gamma_uh_weights(ra, rb, 40, "integrated")[0]
        cdf = stats.gamma.cdf([float(k) for k in range(41)], a=a, scale=theta)
        diff = cdf[1:] - cdf[:-1]
        torch.testing.assert_close(w, torch.tensor(diff / diff.sum(), dtype=torch.float64),
                                   rtol=1e-9, atol=1e-12)


def test_integrated_gradients_reach_route_parameters():
    ra = torch.tensor([0.8, 2.0], dtype=torch.float64, requires_grad=True)
    rb = torch.tensor([1.0, 5.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: gamma_uh_weights(a, b, 10, "integrated"), (ra, rb))


def test_unit_pulse_returns_kernel():
    ra = torch.tensor([0.5, 2.0], dtype=torch.float64)
    rb = torch.tensor([1.0, 4.0], dtype=torch.float64)
    w = gamma_uh_weights(ra, rb, 15)
    q = torch.zeros(30, 2, dtype=torch.float64)
    q[3] = 1.0
    y = uh_convolve(q, w)
    assert float(y[:3].abs().max()) == 0.0
    torch.testing.assert_close(y[3:18].t(), w)
    assert float(y[18:].abs().max()) == 0.0


def test_in_transit_volume_closes_mass():
    ra = torch.tensor([2.9], dtype=torch.float64)
    rb = torch.tensor([6.5], dtype=torch.float64)
    w = gamma_uh_weights(ra, rb, 15)
    q = torch.rand(50, 1, dtype=torch.float64)
    y = uh_convolve(q, w)
    transit = uh_in_transit(q, y)
    # what is left in the kernel: sum over the last 14 days of q(s) * (1 - cumulative weight)
    cum = torch.cumsum(w[0], 0)
    expected = sum(float(q[49 - j, 0]) * (1 - float(cum[j])) for j in range(15))
    assert float(transit[-1, 0]) == pytest.approx(expected, rel=1e-10)
    assert math.isclose(float(q.sum() - y.sum()), float(transit[-1, 0]), rel_tol=1e-12)


def test_pending_volume_of_a_history_by_hand():
    # w = (0.5, 0.3, 0.2); yesterday 4 mm released 0.5 of itself (2 mm pending), the day
    # before 2 mm released 0.8 (0.4 mm pending): 2.4 mm
    w = torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64)
    history = torch.tensor([[2.0], [4.0]], dtype=torch.float64)  # oldest first
    assert float(uh_pending(history, w)[0]) == pytest.approx(2.4, rel=1e-12)
    assert float(uh_pending(history[:0], w)[0]) == 0.0
