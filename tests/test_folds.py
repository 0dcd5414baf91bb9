"""PUB fold assignment: every basin held out exactly once, never trained on in its own fold."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dhbv.errors import DhbvInputError
from dhbv.training.folds import assign_folds, fold_gauges

IDS = [f"{i:08d}" for i in range(1_000_000, 1_000_177)]


@pytest.mark.parametrize("k", [2, 3, 5])
def test_every_basin_is_held_out_exactly_once(k):
    folds = assign_folds(IDS, k, seed=4)
    held = [g for f in range(k) for g in fold_gauges(folds, f)[1]]
    assert sorted(held) == sorted(IDS)                       # once each, none lost
    sizes = folds["fold"].value_counts()
    assert sizes.max() - sizes.min() <= 1 and len(sizes) == k
    for f in range(k):
        train, test = fold_gauges(folds, f)
        assert not set(train) & set(test)                    # never trained on in its fold
        assert sorted(train + test) == sorted(IDS)


def test_assignment_is_fixed_by_the_seed():
    a, b, c = assign_folds(IDS, 3, 7), assign_folds(IDS, 3, 7), assign_folds(IDS, 3, 8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["fold"], c["fold"])


def test_bad_fold_settings():
    with pytest.raises(DhbvInputError, match="ungauged.folds 1"):
        assign_folds(IDS[:5], 1, 0)
    with pytest.raises(DhbvInputError, match="ungauged.folds 6"):
        assign_folds(IDS[:5], 6, 0)
    with pytest.raises(DhbvInputError, match="repeat"):
        assign_folds(IDS[:3] + IDS[:1], 2, 0)
    with pytest.raises(DhbvInputError, match="fold 4 is not in the fold table"):
        fold_gauges(assign_folds(IDS, 3, 0), 4)
