"""Flow-duration-curve (FDC) metrics: two families that must not be mixed (docs/evaluation.md §3).

Both sort the valid simulated and observed flows *independently* and compare them rank by
rank. They differ in direction, rounding and transform:

* **MHPI family** (``rmse_low``, ``rmse_high``, ``flv_mhpi``, ``fhv_mhpi``, ``abs_flv``,
  ``abs_fhv``; the δHBV papers' lowRMSE, highRMSE, FLV, FHV, absFLV, absFHV): ascending sort,
  low segment = positions [0, round(0.3 n)), high segment = positions [round(0.98 n), n);
  relative volume errors of the flows themselves (no logarithm).
* **Yilmaz et al. (2008) family** (``fhv_yilmaz``, ``flv_yilmaz``, ``fms_yilmaz``): descending
  (exceedance) sort, top round(0.02 n) flows for FHV, bottom round(0.3 n) for FLV; FLV and
  FMS work on log flows, zero flows are replaced by 1e-6 mm d-1 before the logarithm and 1e-6
  is added to the log denominators.

Because the high segments are counted differently (n − round(0.98 n) versus round(0.02 n)),
``fhv_mhpi`` and ``fhv_yilmaz`` can average a different number of peak days; the low-flow
metrics differ in the logarithm. Values are in mm d-1 (RMSE) or percent (volume biases).
"""
from __future__ import annotations

import numpy as np

from dhbv.evaluation.series import Paired, metric, ratio

__all__ = ["rmse_low", "rmse_high", "flv_mhpi", "fhv_mhpi", "abs_flv", "abs_fhv",
           "fhv_yilmaz", "flv_yilmaz", "fms_yilmaz", "LOW_FRACTION", "MHPI_HIGH_CUT",
           "YILMAZ_HIGH_FRACTION", "MHPI_FLV_OFFSET", "YILMAZ_FLOOR"]

LOW_FRACTION = 0.3            # lowest 30 % of the flows (both families)
MHPI_HIGH_CUT = 0.98          # MHPI high segment starts at ascending position round(0.98 n)
YILMAZ_HIGH_FRACTION = 0.02   # Yilmaz high segment: the round(0.02 n) largest flows
FMS_EXCEEDANCE = (0.2, 0.7)   # Yilmaz mid-segment bounds (exceedance probabilities)
MHPI_FLV_OFFSET = 1e-4        # mm d-1 added to the MHPI FLV denominator
YILMAZ_FLOOR = 1e-6           # flows <= 0 replaced by this before log; added to log denominators


def _count(fraction: float, n) -> np.ndarray:
    """round(fraction · n) with Python's round-half-to-even, per gauge."""
    return np.round(fraction * np.asarray(n)).astype(np.int64)


def _mhpi_low(p: Paired) -> np.ndarray:
    return p.positions(0, _count(LOW_FRACTION, p.n))


def _mhpi_high(p: Paired) -> np.ndarray:
    return p.positions(_count(MHPI_HIGH_CUT, p.n), p.n)


def _segment_sum(segment, x) -> np.ndarray:
    return np.where(segment, x, 0.0).sum(axis=1)


def _fdc_rmse(p: Paired, segment) -> np.ndarray:
    sq = (p.sorted_s - p.sorted_o) ** 2
    return np.sqrt(ratio(_segment_sum(segment, sq), segment.sum(axis=1)))


def _fdc_bias(p: Paired, segment, *, absolute: bool = False, offset: float = 0.0) -> np.ndarray:
    """100 · Σ_seg(s_(k) − o_(k)) / (Σ_seg o_(k) + offset); |·| inside the sum if absolute."""
    d = p.sorted_s - p.sorted_o
    num = _segment_sum(segment, np.abs(d) if absolute else d)
    den = _segment_sum(segment, p.sorted_o) + offset
    return np.where(segment.any(axis=1), 100.0 * ratio(num, den), np.nan)


@metric
def rmse_low(p: Paired) -> np.ndarray:
    """Low-flow RMSE: √mean over the lowest 30 % of (s_(k) − o_(k))², sorted ascending (mm d-1)."""
    return _fdc_rmse(p, _mhpi_low(p))


@metric
def rmse_high(p: Paired) -> np.ndarray:
    """High-flow RMSE: √mean over ascending positions ≥ round(0.98 n) of (s_(k) − o_(k))² (mm d-1).

    NaN while that segment is empty (fewer than 25 valid pairs).
    """
    return _fdc_rmse(p, _mhpi_high(p))


@metric
def flv_mhpi(p: Paired) -> np.ndarray:
    """MHPI low-flow volume bias (%): Σ_low(s_(k) − o_(k)) / (Σ_low o_(k) + 1e-4) · 100.

    Lowest 30 % of the independently sorted flows, no logarithm; signed (> 0: too much low
    flow). The 1e-4 mm d-1 offset keeps all-zero low flows finite.
    """
    return _fdc_bias(p, _mhpi_low(p), offset=MHPI_FLV_OFFSET)


@metric
def fhv_mhpi(p: Paired) -> np.ndarray:
    """MHPI high-flow volume bias (%): Σ_high(s_(k) − o_(k)) / Σ_high o_(k) · 100, signed.

    High segment = ascending positions ≥ round(0.98 n) (the top ~2 %).
    """
    return _fdc_bias(p, _mhpi_high(p))


@metric
def abs_flv(p: Paired) -> np.ndarray:
    """MHPI absolute low-flow error (%): Σ_low|s_(k) − o_(k)| / (Σ_low o_(k) + 1e-4) · 100.

    The absFLV of the δHBV papers: absolute differences summed rank by rank, so it is
    ≥ |flv_mhpi| (equal when the simulated low FDC lies on one side of the observed one).
    """
    return _fdc_bias(p, _mhpi_low(p), absolute=True, offset=MHPI_FLV_OFFSET)


@metric
def abs_fhv(p: Paired) -> np.ndarray:
    """MHPI absolute high-flow error (%): Σ_high|s_(k) − o_(k)| / Σ_high o_(k) · 100 (absFHV)."""
    return _fdc_bias(p, _mhpi_high(p), absolute=True)


def _log_flow(x) -> np.ndarray:
    """ln of flows with values <= 0 set to 1e-6 first (NaN stays NaN)."""
    return np.log(np.where(x <= 0, YILMAZ_FLOOR, x))


@metric
def fhv_yilmaz(p: Paired) -> np.ndarray:
    """Yilmaz et al. (2008) %BiasFHV: Σ_H(s_h − o_h) / Σ_H o_h · 100 (signed %).

    H = the round(0.02 n) largest flows of each exceedance-sorted series; NaN while H is
    empty (n < 26) or Σ_H o_h = 0.
    """
    k = _count(YILMAZ_HIGH_FRACTION, p.n)
    return _fdc_bias(p, p.positions(p.n - k, p.n))


@metric
def flv_yilmaz(p: Paired) -> np.ndarray:
    """Yilmaz et al. (2008) %BiasFLV on log flows (signed %).

    Over the round(0.3 n) smallest flows l with minimum L:
    FLV = −[Σ(ln s_l − ln s_L) − Σ(ln o_l − ln o_L)] / (Σ(ln o_l − ln o_L) + 1e-6) · 100.
    Flows <= 0 become 1e-6 mm d-1 before the logarithm, so intermittent rivers give unstable
    values.
    """
    seg = p.positions(0, _count(LOW_FRACTION, p.n))

    def spread(x):
        lx = _log_flow(x)
        lmin = np.where(seg, lx, np.inf).min(axis=1, initial=np.inf)
        return _segment_sum(seg, lx - lmin[:, None])

    qsl, qol = spread(p.sorted_s), spread(p.sorted_o)
    return np.where(seg.any(axis=1), -100.0 * (qsl - qol) / (qol + YILMAZ_FLOOR), np.nan)


@metric
def fms_yilmaz(p: Paired) -> np.ndarray:
    """Yilmaz et al. (2008) %BiasFMS: bias of the log-FDC slope between exceedance 0.2 and 0.7.

    With q_a, q_b the flows at exceedance ranks round(0.2 n) and round(0.7 n) (0-based,
    descending): FMS = [(ln s_a − ln s_b) − (ln o_a − ln o_b)] / (ln o_a − ln o_b + 1e-6) · 100
    (signed %; flows <= 0 → 1e-6 first).
    """
    lo, hi = FMS_EXCEEDANCE
    n = p.n
    ia, ib = n - 1 - _count(lo, n), n - 1 - _count(hi, n)     # ascending positions
    ok = (n >= 1) & (ib >= 0)

    def at(x, i):
        return np.take_along_axis(_log_flow(x), np.clip(i, 0, None)[:, None], axis=1)[:, 0]

    ds = at(p.sorted_s, ia) - at(p.sorted_s, ib)
    do = at(p.sorted_o, ia) - at(p.sorted_o, ib)
    return np.where(ok, 100.0 * ratio(ds - do, do + YILMAZ_FLOOR), np.nan)
