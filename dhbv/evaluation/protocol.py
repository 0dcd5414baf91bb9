"""Evaluation protocol of the δHBV2.0 paper (Song et al. 2025): scoring windows and gauge filter.

See docs/evaluation.md §4. Each gauge is scored only outside its training window (training
gauges) or outside the NWM 3.0 calibration window (NWM-calibrated gauges in the NWM
comparison); gauges with more than 30 % missing observations among their scored days are
excluded (:data:`PAPER_MAX_MISSING_FRACTION`, a keyword of
:func:`dhbv.evaluation.metrics_table`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError

__all__ = ["PAPER_MAX_MISSING_FRACTION", "PAPER_TRAINING_WINDOW", "NWM_CALIBRATION_WINDOW",
           "outside_window"]

PAPER_MAX_MISSING_FRACTION = 0.3
PAPER_TRAINING_WINDOW = ("1980-10-01", "1995-09-30")
NWM_CALIBRATION_WINDOW = ("2008-10-01", "2013-09-30")


def outside_window(time, window, in_window) -> np.ndarray:
    """Scoring mask [gauge, time]: False inside ``window`` for the flagged gauges, else True.

    ``time``: daily dates [T]; ``window``: (first day, last day), both included;
    ``in_window``: bool [G], True for gauges whose days in ``window`` must not be scored
    (e.g. training gauges and :data:`PAPER_TRAINING_WINDOW`). Pass the result as ``mask`` to
    :func:`dhbv.evaluation.metrics_table` (it expects [gauge, time] unless ``axis=0``).
    """
    t = pd.DatetimeIndex(time)
    start, end = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    if end < start:
        raise DhbvInputError(f"scoring window {window}: end before start")
    inside = np.asarray((t >= start) & (t <= end))
    flag = np.asarray(in_window, dtype=bool)
    if flag.ndim != 1:
        raise DhbvInputError(f"in_window must be one flag per gauge, got shape {flag.shape}")
    return ~(flag[:, None] & inside[None, :])
