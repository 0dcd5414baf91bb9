"""NSE / KGE on hand-computed cases (docs/evaluation.md §2-3)."""
import numpy as np
import pytest

from dhbv.errors import DhbvInputError
from dhbv.evaluation.metrics import (kge, kge_components, kge_matrix, nse, nse_matrix,
                                     score_table)

OBS = np.array([1.0, 2.0, 3.0, 4.0, 5.0])


def test_nse_hand_computed():
    assert nse(OBS, OBS) == 1.0
    assert nse(np.full(5, 3.0), OBS) == pytest.approx(0.0)
    sim = OBS + 1.0                                     # Σ(s-o)² = 5, Σ(o-μ)² = 10
    assert nse(sim, OBS) == pytest.approx(0.5)


def test_kge_hand_computed():
    sim = 2.0 * OBS                                     # r = 1, α = 2, β = 2
    r, a, b = kge_components(sim, OBS)
    assert (r, a, b) == pytest.approx((1.0, 2.0, 2.0))
    assert kge(sim, OBS) == pytest.approx(1 - np.sqrt(2.0))
    sim = OBS + 1.0                                     # r = 1, α = 1, β = 4/3
    assert kge(sim, OBS) == pytest.approx(1 - 1.0 / 3.0)


def test_missing_observations_masked_and_nan_sim_error():
    obs = np.array([1.0, np.nan, 3.0, 4.0, 5.0, 2.0])
    sim = np.array([1.0, 99.0, 3.0, 4.0, 5.0, 2.0])
    assert nse(sim, obs) == 1.0
    with pytest.raises(DhbvInputError, match="gauge X"):
        nse(np.array([np.nan, 1, 2, 3, 4, 5.0]), obs, name="gauge X")
    assert np.isnan(nse([1.0], [1.0]))
    assert np.isnan(nse([1.0, 2.0], [3.0, 3.0]))        # zero observed variance


def test_matrix_versions_match_scalar():
    rng = np.random.default_rng(0)
    o = rng.gamma(2.0, size=(4, 50))
    s = o * rng.uniform(0.5, 1.5, size=o.shape)
    o[1, :10] = np.nan
    n = nse_matrix(s, o)
    k = kge_matrix(s, o)
    for i in range(4):
        assert n[i] == pytest.approx(nse(s[i], o[i]))
        assert k[i, 0] == pytest.approx(kge(s[i], o[i]))
    t = score_table(s, o, ["a", "b", "c", "d"], min_days=45)
    assert list(t["excluded"]) == [False, True, False, False]
    assert np.isnan(t.loc[1, "nse"])
