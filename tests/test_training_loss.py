"""RmseComb loss and multiscale aggregation (docs/training.md, docs/model.md#multiscale-gauge-aggregation)."""
import numpy as np
import pytest
import torch

from dhbv.errors import DhbvInputError
from dhbv.datasets.batch import batch_matrix, batch_matrix_windows
from dhbv.datasets.membership import Membership
from dhbv.readout import aggregate
from dhbv.training.losses import rmse_comb


def g(x, beta=1e-6):
    return np.log10(np.sqrt(max(x, 0.0) + beta) + 0.1)


def test_rmse_comb_hand_computed():
    p = torch.tensor([[1.0, 4.0], [0.0, 2.0]])
    y = torch.tensor([[2.0, 4.0], [1.0, 1.0]])
    rmse = np.sqrt((1 + 0 + 1 + 1) / 4)
    rlog = np.sqrt(np.mean([(g(a) - g(b)) ** 2 for a, b in [(1, 2), (4, 4), (0, 1), (2, 1)]]))
    assert float(rmse_comb(p, y)) == pytest.approx(0.75 * rmse + 0.25 * rlog, rel=1e-6)
    assert float(rmse_comb(p, y, alpha=0.0)) == pytest.approx(rmse, rel=1e-6)


def test_rmse_comb_masks_missing_and_clamps_negative_in_log_only():
    p = torch.tensor([1.0, -1.0, 100.0])
    y = torch.tensor([1.0, 0.0, float("nan")])
    rmse = np.sqrt((0 + 1) / 2)
    rlog = np.sqrt(((g(1) - g(1)) ** 2 + (g(-1) - g(0)) ** 2) / 2)   # g(-1) == g(0)
    assert float(rmse_comb(p, y)) == pytest.approx(0.75 * rmse + 0.25 * rlog, rel=1e-6)
    pp = p.clone().requires_grad_(True)
    rmse_comb(pp, y).backward()
    assert torch.isfinite(pp.grad).all() and pp.grad[2] == 0.0
    with pytest.raises(ValueError):
        rmse_comb(p, torch.full((3,), float("nan")))


def _nested():
    # gauge A (outlet) has units u1 (own, FLOW_SCALE 0.5), u2, u3; gauge B (upstream) has u2, u3
    return Membership.from_table(["A", "A", "A", "B", "B"], ["u1", "u2", "u3", "u2", "u3"],
                                 [0.5, 1, 1, 1, 1], ["A", "B"], ["u1", "u2", "u3"],
                                 np.array([10.0, 20.0, 30.0]))


def test_weights_sum_to_one_and_nested_units_computed_once():
    mem = _nested()
    m, units = batch_matrix(mem, [0, 1])
    assert list(units) == [0, 1, 2]                 # each unit once although shared
    dense = m.to_dense().numpy()
    np.testing.assert_allclose(dense.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(dense[0], np.array([5.0, 20, 30]) / 55, rtol=1e-6)
    np.testing.assert_allclose(dense[1], np.array([0.0, 20, 30]) / 50, rtol=1e-6)


def test_identical_runoff_gives_same_gauge_flow_and_mass_invariant():
    mem = Membership.from_table(["A", "A", "A", "B", "B"], ["u1", "u2", "u3", "u2", "u3"],
                                np.ones(5), ["A", "B"], ["u1", "u2", "u3"],
                                np.array([10.0, 20.0, 30.0]))
    m, _ = batch_matrix(mem, [0, 1], dtype=torch.float64)
    q = torch.full((7, 3), 2.5, dtype=torch.float64)
    np.testing.assert_allclose(aggregate(m, q).numpy(), 2.5)
    q = torch.rand(7, 3, dtype=torch.float64)
    qg = aggregate(m, q)
    area = torch.tensor([10.0, 20.0, 30.0], dtype=torch.float64)
    # Σ_t Q_A · Σ A_u == Σ_u Σ_t A_u q_u
    assert float(qg[:, 0].sum() * area.sum()) == pytest.approx(float((q * area).sum()))
    assert float(qg[:, 1].sum() * 50.0) == pytest.approx(float((q[:, 1:] * area[1:]).sum()))


def test_aggregation_gradient_flows_and_lumped_identity():
    mem = Membership.lumped(["a", "b"], np.array([5.0, 7.0]))
    m, units = batch_matrix(mem, [1, 0])
    q = torch.rand(4, 2, requires_grad=True)
    out = aggregate(m, q)
    np.testing.assert_allclose(out.detach().numpy(), q.detach().numpy()[:, [1, 0]])
    out.sum().backward()
    assert torch.all(q.grad == 1.0)
    mem = _nested()
    m, _ = batch_matrix(mem, [0])
    q = torch.rand(4, 3, requires_grad=True)
    aggregate(m, q).sum().backward()
    np.testing.assert_allclose(q.grad[:, 0].numpy(), 5 / 55, rtol=1e-6)


def test_membership_errors():
    with pytest.raises(DhbvInputError, match="gauge B has no upstream units"):
        Membership.from_table(["A"], ["u1"], [1.0], ["A", "B"], ["u1"], np.array([1.0]))
    with pytest.raises(DhbvInputError, match="unit u9 of gauge A"):
        Membership.from_table(["A"], ["u9"], [1.0], ["A"], ["u1"], np.array([1.0]))
    with pytest.raises(DhbvInputError, match="area"):
        Membership.from_table(["A"], ["u1"], [1.0], ["A"], ["u1"], np.array([np.nan]))


def test_windowed_batch_shares_units_only_within_one_window():

    mem = _nested()
    m, units, starts = batch_matrix_windows(mem, [0, 1], [100, 100])   # same window: shared
    assert list(units) == [0, 1, 2] and list(starts) == [100, 100, 100]
    ref, _ = batch_matrix(mem, [0, 1])
    np.testing.assert_allclose(m.to_dense().numpy(), ref.to_dense().numpy())
    m, units, starts = batch_matrix_windows(mem, [0, 1], [100, 250])   # own windows
    assert list(units) == [0, 1, 2, 1, 2] and list(starts) == [100, 100, 100, 250, 250]
    dense = m.to_dense().numpy()
    np.testing.assert_allclose(dense.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(dense[0], np.array([5.0, 20, 30, 0, 0]) / 55, rtol=1e-6)
    np.testing.assert_allclose(dense[1], np.array([0, 0, 0, 20.0, 30]) / 50, rtol=1e-6)
    lump = Membership.lumped(["a", "b"], np.array([5.0, 7.0]))
    m, units, _ = batch_matrix_windows(lump, [1, 0], [30, 40])
    q = torch.rand(4, 2)
    assert list(units) == [1, 0] and torch.equal(aggregate(m, q), q)    # identity
    with pytest.raises(DhbvInputError, match="starts"):
        batch_matrix_windows(lump, [1, 0], [30])
