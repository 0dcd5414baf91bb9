"""Peak magnitude and timing metrics (docs/evaluation.md §3).

Both work on the series of valid pairs (days without an observation are removed first), so a
search window counts valid days; :func:`peak_timing` additionally skips peaks whose window
spans removed days.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

from dhbv.errors import DhbvInputError
from dhbv.evaluation.series import Paired, metric, ratio

__all__ = ["rd_max", "peak_timing", "RD_MAX_HALF_WINDOW"]

RD_MAX_HALF_WINDOW = 10   # valid days searched on each side of the observed maximum


@metric
def rd_max(p: Paired) -> np.ndarray:
    """Relative error of the largest flow: (s_max − o_max) / o_max (fraction; ×100 for %).

    o_max is the observed maximum (first occurrence) on day t*; s_max is the largest simulated
    flow within 10 valid days before to 10 valid days after t* (21 days, cut at the series
    ends). Ideal 0; NaN when o_max = 0 or no valid pair.
    """
    cpos = np.cumsum(p.valid, axis=1) - 1                     # index among the valid days
    o = np.where(p.valid, p.o, -np.inf)
    rows = np.arange(o.shape[0])
    t_star = np.argmax(o, axis=1)
    o_max = o[rows, t_star]
    c_star = cpos[rows, t_star][:, None]
    w = p.valid & (np.abs(cpos - c_star) <= RD_MAX_HALF_WINDOW)
    s_max = np.where(w, p.s, -np.inf).max(axis=1)
    with np.errstate(invalid="ignore"):
        return np.where(p.n > 0, ratio(s_max - o_max, o_max), np.nan)


@metric
def peak_timing(p: Paired, *, window: int = 3, distance: int = 100,
                prominence_std: float = 1.0) -> np.ndarray:
    """Mean absolute timing error of observed peaks (days; ideal 0).

    Observed peaks are the local maxima found by :func:`scipy.signal.find_peaks` with a
    prominence of at least ``prominence_std`` observed standard deviations (ddof = 0) and at
    least ``distance`` days apart. For each peak at day i the simulated peak day is i itself
    when the simulation is higher there than on both neighbouring days, else the day of the
    simulated maximum within i ± ``window`` days. Peaks closer than ``window`` days to either
    end, or whose window spans days without observations, are skipped. NaN without a usable
    peak. Follows the definition of Kratzert et al. (2021, HESS, appendix) / neuralhydrology.
    """
    if window < 1:
        raise DhbvInputError(f"peak_timing window must be >= 1 day, got {window}")
    out = np.full(p.s.shape[0], np.nan)
    for g in range(p.s.shape[0]):
        day = np.flatnonzero(p.valid[g])
        if day.size < 2 * window + 1:
            continue
        o, s = p.o[g, day], p.s[g, day]
        peaks, _ = find_peaks(o, distance=distance, prominence=prominence_std * np.std(o))
        errors = []
        for i in peaks:
            if i < window or i + window >= day.size:
                continue
            if day[i + window] - day[i - window] != 2 * window:     # window spans a gap
                continue
            if s[i] > s[i - 1] and s[i] > s[i + 1]:
                errors.append(0)
            else:
                errors.append(abs(int(np.argmax(s[i - window:i + window + 1])) - window))
        if errors:
            out[g] = float(np.mean(errors))
    return out
