"""The paper's metric set (docs/evaluation.md §2-4) against hand-derived values.

Every expected number is derived in the comment next to it from the definition, never by
calling the code under test. The optional oracles (HydroErr, neuralhydrology) are compared
where their definitions coincide with ours; those tests skip when the package is absent.
"""
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from dhbv.errors import DhbvInputError
from dhbv.evaluation import metrics as M
from dhbv.evaluation import summarize
from dhbv.evaluation.protocol import PAPER_MAX_MISSING_FRACTION, outside_window

OBS5 = np.array([1.0, 2.0, 3.0, 4.0, 5.0])        # μ = 3, Σ(o−μ)² = 10, σ = √2


# ---- efficiency, correlation, volume ------------------------------------------------------
def test_nse_and_nnse_hand_computed():
    assert M.nse(OBS5, OBS5) == 1.0 and M.nnse(OBS5, OBS5) == 1.0
    # s = o + 1: Σ(s−o)² = 5 → NSE = 1 − 5/10 = 0.5, NNSE = 1/(2 − 0.5) = 2/3
    assert M.nse(OBS5 + 1, OBS5) == pytest.approx(0.5)
    assert M.nnse(OBS5 + 1, OBS5) == pytest.approx(2 / 3)
    # s = μ_o: NSE = 0 → NNSE = 1/2
    assert M.nnse(np.full(5, 3.0), OBS5) == pytest.approx(0.5)
    # s = o + 3: Σ(s−o)² = 45 → NSE = −3.5, NNSE = 1/5.5
    assert M.nnse(OBS5 + 3, OBS5) == pytest.approx(1 / 5.5)


def test_kge_2009_and_2012_hand_computed():
    # s = 2o: r = 1, α = 2, β = 2 → KGE = 1 − √2; CVs equal → γ = 1 → KGE'12 = 1 − |β−1| = 0
    assert M.kge_components(2 * OBS5, OBS5) == pytest.approx((1.0, 2.0, 2.0))
    assert M.kge(2 * OBS5, OBS5) == pytest.approx(1 - math.sqrt(2))
    assert M.kge_12(2 * OBS5, OBS5) == pytest.approx(0.0)
    # s = o + 1: r = 1, α = 1, β = 4/3, γ = (√2/4)/(√2/3) = 3/4
    # KGE = 1 − 1/3 = 2/3; KGE'12 = 1 − √(1/16 + 1/9) = 1 − 5/12 = 7/12
    assert M.kge(OBS5 + 1, OBS5) == pytest.approx(2 / 3)
    assert M.kge_12(OBS5 + 1, OBS5) == pytest.approx(7 / 12)
    # s = 6 − o (reversed): r = −1, α = 1, β = 1 → KGE = 1 − 2 = −1
    assert M.kge(6 - OBS5, OBS5) == pytest.approx(-1.0)


def test_pearson_and_spearman_hand_computed():
    # s = o²: deviations (−2,−1,0,1,2) and (−10,−7,−2,5,14): Σ dx·dy = 60, Σdx² = 10, Σdy² = 374
    assert M.pearson_r(OBS5 ** 2, OBS5) == pytest.approx(60 / math.sqrt(3740))
    assert M.spearman_rho(OBS5 ** 2, OBS5) == pytest.approx(1.0)      # monotone
    assert M.spearman_rho(6 - OBS5, OBS5) == pytest.approx(-1.0)
    # ties get mean ranks: o = (1,2,2,3) → (1, 2.5, 2.5, 4); s = (1,3,2,4) → ranks (1,3,2,4)
    # rank deviations (−1.5,0,0,1.5), (−1.5,.5,−.5,1.5): ρ = 4.5/√(4.5·5) = √0.9
    o, s = np.array([1.0, 2, 2, 3]), np.array([1.0, 3, 2, 4])
    assert M.spearman_rho(s, o) == pytest.approx(math.sqrt(0.9))


def test_volume_biases_hand_computed():
    o, s = np.array([1.0, 2, 3, 4]), np.array([2.0, 2, 3, 5])
    assert M.bias_rel(s, o) == pytest.approx(0.2)          # (12 − 10)/10
    assert M.pbias_abs(s, o) == pytest.approx(20.0)        # (1+0+0+1)/10 · 100
    s2 = np.array([0.0, 2, 3, 5])                           # errors −1, +1 cancel in the sum
    assert M.bias_rel(s2, o) == pytest.approx(0.0)
    assert M.pbias_abs(s2, o) == pytest.approx(20.0)


# ---- flow-duration-curve families -----------------------------------------------------------
# n = 75 pins both rounding conventions: round(0.3·75) = round(22.5) = 22 (half to even),
# MHPI high start round(0.98·75) = round(73.5) = 74 → 1 value; Yilmaz top round(1.5) = 2.
RNG = np.random.default_rng(7)
N75 = np.arange(1.0, 76.0)
O75 = RNG.permutation(N75)                 # time order must not matter: sorted independently
S75 = RNG.permutation(N75 + 1.0)           # sorted sim = sorted obs + 1


def test_mhpi_fdc_family_hand_computed():
    # low: 22 smallest, o = 1..22 (Σ = 253), every s_(k) − o_(k) = 1
    assert M.flv_mhpi(S75, O75) == pytest.approx(100 * 22 / (253 + 1e-4))
    assert M.abs_flv(S75, O75) == pytest.approx(100 * 22 / (253 + 1e-4))
    assert M.rmse_low(S75, O75) == pytest.approx(1.0)
    # high: position 74 only, o = 75
    assert M.fhv_mhpi(S75, O75) == pytest.approx(100 / 75)
    assert M.abs_fhv(S75, O75) == pytest.approx(100 / 75)
    assert M.rmse_high(S75, O75) == pytest.approx(1.0)
    # s = 2o: low diffs = o → RMSE = √(Σ_{1..22} j² / 22) = √(23·45/6); high diff 75
    assert M.rmse_low(2 * O75, O75) == pytest.approx(math.sqrt(23 * 45 / 6))
    assert M.rmse_high(2 * O75, O75) == pytest.approx(75.0)


def test_mhpi_signed_versus_absolute():
    # n = 10: low = 3 smallest; obs 1,2,3 (Σ 6); sim 0.5,2.5,3 → diffs −0.5, +0.5, 0
    o = np.arange(1.0, 11.0)
    s = o.copy()
    s[:2] = [0.5, 2.5]
    assert M.flv_mhpi(s, o) == pytest.approx(0.0)
    assert M.abs_flv(s, o) == pytest.approx(100 * 1.0 / (6 + 1e-4))
    assert M.rmse_low(s, o) == pytest.approx(math.sqrt(0.5 / 3))   # (0.25+0.25+0)/3
    assert np.isnan(M.fhv_mhpi(s, o))          # round(9.8) = 10 = n → empty high segment


def test_yilmaz_fdc_family_hand_computed():
    # FHV: top 2 flows, o = 75 + 74 = 149, Σ(s − o) = 2
    assert M.fhv_yilmaz(S75, O75) == pytest.approx(100 * 2 / 149)
    # FLV: low flows o = 1..22 (min 1), s = 2..23 (min 2)
    #   Σ(ln o − ln 1) = ln 22!,  Σ(ln s − ln 2) = ln 23! − 22 ln 2
    qol = math.lgamma(23)
    qsl = math.lgamma(24) - 22 * math.log(2)
    assert M.flv_yilmaz(S75, O75) == pytest.approx(-100 * (qsl - qol) / (qol + 1e-6))
    # FMS: exceedance ranks round(0.2·75) = 15 and round(0.7·75) = round(52.5) = 52 of the
    # descending series: o = 60 and 23, s = 61 and 24
    do, ds = math.log(60 / 23), math.log(61 / 24)
    assert M.fms_yilmaz(S75, O75) == pytest.approx(100 * (ds - do) / (do + 1e-6))


def test_mhpi_and_yilmaz_fhv_differ_by_segment_count():
    # same series, same ratio s/o on the top flows would hide the difference; s = o + 1 does not
    assert M.fhv_mhpi(S75, O75) == pytest.approx(1.3333333, rel=1e-6)   # 1/75
    assert M.fhv_yilmaz(S75, O75) == pytest.approx(1.3422819, rel=1e-6)  # 2/149


@pytest.mark.parametrize("n, mhpi_defined, yilmaz_defined", [
    (24, False, False),   # round(23.52) = 24 → empty; round(0.48) = 0
    (25, True, False),    # round(24.5) = 24 → 1 value; round(0.5) = 0
    (26, True, True),     # round(25.48) = 25 → 1 value; round(0.52) = 1
])
def test_high_segment_minimum_length(n, mhpi_defined, yilmaz_defined):
    o = np.arange(1.0, n + 1)
    assert np.isfinite(M.fhv_mhpi(o + 1, o)) == mhpi_defined
    assert np.isfinite(M.rmse_high(o + 1, o)) == mhpi_defined
    assert np.isfinite(M.fhv_yilmaz(o + 1, o)) == yilmaz_defined


def test_zero_flows_in_low_flow_metrics():
    o = np.array([0.0, 0, 0, 1, 2, 3, 4, 5, 6, 7])             # low segment: three zeros
    s = np.array([0.1, 0.2, 0.4, 1, 2, 3, 4, 5, 6, 7])
    # MHPI: Σ(s − o) = 0.7 over Σo + 1e-4 = 1e-4
    assert M.flv_mhpi(s, o) == pytest.approx(100 * 0.7 / 1e-4)
    # Yilmaz: zeros → 1e-6, observed log spread 0; simulated ln 2 + ln 4 = 3 ln 2
    assert M.flv_yilmaz(s, o) == pytest.approx(-100 * 3 * math.log(2) / 1e-6)
    # a zero simulation: s_low = (1e-6, 2, 4), o_low = (1, 2, 4)
    o2 = np.array([1.0, 2, 4, 5, 6, 7, 8, 9, 10, 11])
    s2 = np.array([0.0, 2, 4, 5, 6, 7, 8, 9, 10, 11])
    # spread_s − spread_o = [ln(2e6) + ln(4e6)] − [ln 2 + ln 4] = 2 ln 1e6
    expected = -100 * 2 * math.log(1e6) / (3 * math.log(2) + 1e-6)
    assert M.flv_yilmaz(s2, o2) == pytest.approx(expected)
    # all-zero observations: relative biases undefined, no warnings
    z = np.zeros(30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(M.bias_rel(z + 1, z)) and np.isnan(M.fhv_mhpi(z + 1, z))
        assert np.isnan(M.kge_components(z + 1, z)[2]) and np.isnan(M.rd_max(z + 1, z))


# ---- peaks ----------------------------------------------------------------------------------
def test_rd_max_window_hand_computed():
    o = np.ones(60)
    o[15] = 10.0                                   # observed maximum on day 15
    s = np.ones(60)
    s[20] = 12.0                                   # inside 15 ± 10
    s[40] = 50.0                                   # outside
    assert M.rd_max(s, o) == pytest.approx(0.2)    # (12 − 10)/10
    s[25] = 13.0                                   # day 25 = t* + 10: still inside
    assert M.rd_max(s, o) == pytest.approx(0.3)
    s[26] = 14.0                                   # day 26: outside
    assert M.rd_max(s, o) == pytest.approx(0.3)
    # missing observations on days 16-19: the window counts 10 *valid* days → up to day 29
    o[16:20] = np.nan
    assert M.rd_max(s, o) == pytest.approx(0.4)    # (14 − 10)/10
    # maximum near the start: window cut at day 0
    o2, s2 = np.ones(30), np.ones(30)
    o2[2], s2[0] = 4.0, 2.0
    assert M.rd_max(s2, o2) == pytest.approx(-0.5)  # (2 − 4)/4


def _peak_series(n=260, peaks=(40,)):
    o = np.ones(n)
    for i in peaks:
        o[i] = 10.0
    return o


def test_peak_timing_hand_computed():
    o = _peak_series(peaks=(40, 180))             # two peaks ≥ 100 days apart, prominence 9 > σ
    s = np.ones_like(o)
    s[41], s[183] = 5.0, 6.0                       # lags 1 and 3 days → mean 2
    assert M.peak_timing(s, o) == pytest.approx(2.0)
    s[184] = 7.0                                   # 4 days late: outside ±3 → max at 183 stays
    assert M.peak_timing(s, o) == pytest.approx(2.0)
    # a simulated local peak on the observed day counts as on time even if a larger one is near
    s2 = np.ones_like(o)
    s2[40], s2[42] = 3.0, 8.0
    assert M.peak_timing(s2, _peak_series()) == 0.0
    # only the larger of two peaks closer than 100 days is kept
    o3 = _peak_series(peaks=(40, 90))
    o3[90] = 9.0
    s3 = np.ones_like(o3)
    s3[38], s3[91] = 5.0, 5.0
    assert M.peak_timing(s3, o3) == pytest.approx(2.0)


def test_peak_timing_skips_edges_and_gaps():
    o = _peak_series(peaks=(2,))                   # within 3 days of the start
    assert np.isnan(M.peak_timing(np.ones_like(o), o))
    o = _peak_series(peaks=(40,))
    o[38] = np.nan                                 # the ±3-day window spans a missing day
    assert np.isnan(M.peak_timing(np.ones_like(o), o))
    assert np.isnan(M.peak_timing(np.ones(50), np.full(50, 2.0)))     # no peak at all


# ---- NaN, shapes, vectorisation -------------------------------------------------------------
ALL_PUBLIC = [M.nse, M.nnse, M.kge, M.kge_12, M.pearson_r, M.spearman_rho, M.bias_rel,
              M.pbias_abs, M.rmse_low, M.rmse_high, M.flv_mhpi, M.fhv_mhpi, M.abs_flv,
              M.abs_fhv, M.fhv_yilmaz, M.flv_yilmaz, M.fms_yilmaz, M.rd_max, M.peak_timing]


def _random_pair(g=5, t=400, seed=3):
    rng = np.random.default_rng(seed)
    o = np.abs(rng.standard_t(3, size=(g, t))).cumsum(axis=1) % 7.0
    s = o * rng.uniform(0.5, 1.5, size=o.shape)
    o[1, :60] = np.nan
    o[2, ::7] = np.nan
    o[3:4] = np.nan                               # row 3, when present: no observation
    return s, o


@pytest.mark.parametrize("f", ALL_PUBLIC, ids=lambda f: f.__name__)
def test_vectorised_equals_per_series(f):
    s, o = _random_pair()
    rows = f(s, o)
    cols = f(s.T, o.T, axis=0)
    assert rows.shape == (5,)
    for i in range(5):
        one = f(s[i], o[i])
        assert isinstance(one, float)
        np.testing.assert_allclose([rows[i], cols[i]], [one, one], rtol=1e-12, equal_nan=True)
    assert np.isnan(rows[3])                       # all-NaN observations


@pytest.mark.parametrize("f", ALL_PUBLIC, ids=lambda f: f.__name__)
def test_constant_and_all_nan_observations_give_no_warning(f):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(f(OBS5, np.full(5, np.nan)))
        f(OBS5 * 10, np.full(5, 2.0))              # constant observations: NaN or finite


def test_constant_observations():
    c = np.full(30, 2.0)
    s = np.linspace(1, 3, 30)
    assert np.isnan(M.nse(s, c)) and np.isnan(M.kge(s, c)) and np.isnan(M.nnse(s, c))
    assert np.isnan(M.pearson_r(s, c)) and np.isnan(M.spearman_rho(s, c))
    assert M.bias_rel(s, c) == pytest.approx(0.0)      # mean of s is 2
    assert M.kge_components(s, c)[2] == pytest.approx(1.0)


def test_nan_observations_dropped_and_min_days():
    o = np.array([1.0, np.nan, 2, 3, 4, 5])
    s = np.array([2.0, 99.0, 3, 4, 5, 6])          # the NaN day's 99 is ignored
    assert M.bias_rel(s, o) == pytest.approx(5 / 15)
    assert M.nse(s, o) == pytest.approx(0.5)       # Σ(s−o)² = 5, Σ(o−μ)² = 10
    assert np.isnan(M.nse(s, o, min_days=6))       # 5 valid pairs < 6
    assert M.nse(s, o, min_days=5) == pytest.approx(0.5)
    m = np.array([True, True, True, True, True, False])   # day 5 not scored: o 1..4
    assert M.bias_rel(s, o, mask=m) == pytest.approx(4 / 10)


def test_input_errors_are_one_line():
    o = np.array([1.0, 2, 3, 4])
    cases = [
        (lambda: M.nse(o[:3], o), "shape"),
        (lambda: M.nse(o, o - 2, name="G1"), "G1: 1 negative observation"),
        (lambda: M.kge(np.array([1, np.nan, 3, 4]), o, name="G2"), "G2: simulation is NaN"),
        (lambda: M.fhv_mhpi(o - 2, o, name="G3"), "G3: 1 negative simulated"),
        (lambda: M.nse(np.ones((2, 2, 2)), np.ones((2, 2, 2))), "dimensions"),
        (lambda: M.nse(o, o, mask=np.ones(3, bool)), "mask"),
        (lambda: M.metrics_table(o, o, metrics=["nse", "flv"]), "unknown metric"),
    ]
    for call, text in cases:
        with pytest.raises(DhbvInputError, match=text) as e:
            call()
        assert "\n" not in str(e.value)


def test_external_simulations_nan_and_negative_allowed():
    o = np.array([1.0, 2, 3, 4, 5])
    s = np.array([2.0, np.nan, 4, 5, 6])
    # NaN day dropped: pairs (1,2),(3,4),(4,5),(5,6) → Σs = 17, Σo = 13
    assert M.bias_rel(s, o, allow_nan_sim=True) == pytest.approx(4 / 13)
    s2 = np.array([-1.0, 2, 3, 4, 5])               # clipped to 0 → Σ(s−o) = −1 over 15
    assert M.bias_rel(s2, o, clip_negative_sim=True) == pytest.approx(-1 / 15)


# ---- the table, protocol and summary ----------------------------------------------------------
def test_metrics_table_rows_columns_and_exclusions():
    s, o = _random_pair(g=4, t=400)
    o[0, :130] = np.nan                             # 32.5 % missing > 30 %
    t = M.metrics_table(s, o, ["a", "b", "c", "d"], min_days=250)
    assert list(t.columns[:3]) == ["gauge", "n_days", "missing_fraction"]
    assert set(M.METRICS) <= set(t.columns) and set(M.PAPER_METRICS) <= set(M.METRICS)
    assert list(t["gauge"]) == ["a", "b", "c", "d"]
    assert list(t["n_days"]) == [270, 340, 342, 0]  # 400 − 130, 400 − 60, 400 − 58 (::7)
    assert list(t["excluded"]) == [True, False, False, True]
    assert "missing" in t.loc[0, "exclusion"] and "min_days" in t.loc[3, "exclusion"]
    assert t.loc[0, ["nse", "peak_timing"]].isna().all()
    assert t.loc[1, "nse"] == pytest.approx(M.nse(s[1], o[1]))
    # the filter is configurable; [time, gauge] input gives the same table
    t2 = M.metrics_table(s.T, o.T, ["a", "b", "c", "d"], axis=0, min_days=250,
                         max_missing_fraction=None, metrics=["nse", "fhv_yilmaz"], chunk=3)
    assert list(t2["excluded"]) == [False, False, False, True]
    assert t2.loc[0, "nse"] == pytest.approx(M.nse(s[0], o[0]))
    assert "kge" not in t2.columns


def test_training_window_mask_not_counted_as_missing():
    time = pd.date_range("1994-10-01", periods=730)         # WY1995 and WY1996
    rng = np.random.default_rng(5)
    o = rng.gamma(2.0, size=(2, 730))
    s = o + 0.1
    mask = outside_window(time, ("1980-10-01", "1995-09-30"), [True, False])
    assert mask.shape == (2, 730) and mask[0].sum() == 365 and mask[1].all()   # WY1995 out
    t = M.metrics_table(s, o, ["train", "other"], mask=mask, min_days=300)
    assert PAPER_MAX_MISSING_FRACTION == 0.3
    assert list(t["n_days"]) == [365, 730] and list(t["missing_fraction"]) == [0.0, 0.0]
    assert not t["excluded"].any()
    # the training gauge is scored after WY1995 only: bias 0.1·365/Σo(days 365..729)
    assert t.loc[0, "bias_rel"] == pytest.approx(0.1 * 365 / o[0, 365:].sum())


def test_summarize_medians_of_all_metrics():
    t = pd.DataFrame({"gauge": ["a", "b", "c", "d"], "nse": [0.5, 0.7, np.nan, 0.9],
                      "kge": [0.1, 0.3, np.nan, -5], "abs_flv": [10.0, 30.0, np.nan, 99.0],
                      "excluded": [False, False, False, True]})
    out = summarize(t)
    assert out["n_gauges"] == 2 and out["median_nse"] == pytest.approx(0.6)
    assert out["median_kge"] == pytest.approx(0.2) and out["median_abs_flv"] == pytest.approx(20)
    assert "median_fhv_yilmaz" not in out


def test_score_writes_full_table(tmp_path):
    xr = pytest.importorskip("xarray")
    time = pd.date_range("2000-01-01", periods=400)
    rng = np.random.default_rng(2)
    q = rng.gamma(2.0, size=(400, 2))
    obs = q.copy()
    obs[:150, 1] = np.nan                           # 37.5 % missing
    coords = {"time": time, "gauge": ["g1", "g2"]}
    xr.Dataset({"streamflow": (("time", "gauge"), q * 1.1)}, coords=coords).to_netcdf(
        tmp_path / "sim.nc")
    xr.Dataset({"observed": (("time", "gauge"), obs)}, coords=coords).to_netcdf(
        tmp_path / "obs.nc")
    from dhbv.evaluation import score
    t = score(tmp_path / "sim.nc", tmp_path / "obs.nc", tmp_path / "s.csv", min_days=200,
              max_missing_fraction=0.3)
    assert list(t.columns[:3]) == ["gauge", "period_start", "period_end"]
    assert list(t["excluded"]) == [False, True]
    assert t.loc[0, "bias_rel"] == pytest.approx(0.1)      # s = 1.1·o
    assert pd.read_csv(tmp_path / "s.csv")["fms_yilmaz"].notna().sum() == 1


# ---- optional oracles -----------------------------------------------------------------------
@pytest.mark.oracle
def test_against_hydroerr():
    he = pytest.importorskip("HydroErr", reason="optional oracle HydroErr not installed")
    s, o = _random_pair(g=3, t=500, seed=11)
    o[0, 5] = 0.0
    for i in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # HydroErr warns when it drops NaN pairs
            r, a, b, k = he.kge_2009(s[i], o[i], return_all=True)
            ref = {"nse": he.nse(s[i], o[i]), "kge": k, "kge_12": he.kge_2012(s[i], o[i]),
                   "pearson_r": he.pearson_r(s[i], o[i]),
                   "spearman_rho": he.spearman_r(s[i], o[i]),
                   "pbias_abs": 100 * (1 - he.ve(s[i], o[i])),
                   "bias_rel": he.me(s[i], o[i]) / np.nanmean(o[i])}
        ours = M.metrics_table(s[i], o[i], min_days=1, metrics=list(ref)).iloc[0]
        for key, value in ref.items():
            assert ours[key] == pytest.approx(value, rel=1e-10), key
        # KGE components (α with ddof = 1 in HydroErr: the ratio is the same)
        assert M.kge_components(s[i], o[i]) == pytest.approx((r, a, b), rel=1e-10)
        # low/high-flow RMSE = HydroErr RMSE of the independently sorted segments
        v = ~np.isnan(o[i])
        ss, oo, n = np.sort(s[i][v]), np.sort(o[i][v]), int(v.sum())
        lo, hi = round(0.3 * n), round(0.98 * n)
        assert M.rmse_low(s[i], o[i]) == pytest.approx(he.rmse(ss[:lo], oo[:lo]), rel=1e-10)
        assert M.rmse_high(s[i], o[i]) == pytest.approx(he.rmse(ss[hi:], oo[hi:]), rel=1e-10)


@pytest.mark.oracle
def test_against_neuralhydrology():
    nh = pytest.importorskip("neuralhydrology.evaluation.metrics",
                             reason="optional oracle neuralhydrology not installed")
    xr = pytest.importorskip("xarray")
    rng = np.random.default_rng(4)
    t = 1500
    o = pd.Series(rng.gamma(0.5, 4.0, size=t)).rolling(4, min_periods=1).mean().to_numpy(copy=True)
    o[::23] = 0.0
    o[700:760] = np.nan
    s = np.clip(0.8 * np.roll(o, 2) + rng.normal(0, 0.3, t), 0, None)
    s = np.where(np.isnan(s), 1.0, s)
    dates = pd.date_range("2001-01-01", periods=t)

    def da(x):
        return xr.DataArray(x, coords={"date": dates}, dims="date")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # pandas/xarray deprecations inside the oracle
        ref = {"nse": nh.nse(da(o), da(s)), "kge": nh.kge(da(o), da(s)),
               "pearson_r": nh.pearsonr(da(o), da(s)), "fhv_yilmaz": nh.fdc_fhv(da(o), da(s)),
               "flv_yilmaz": nh.fdc_flv(da(o), da(s)), "fms_yilmaz": nh.fdc_fms(da(o), da(s)),
               "peak_timing": nh.mean_peak_timing(da(o), da(s))}
    ours = M.metrics_table(s, o, min_days=1, metrics=list(ref)).iloc[0]
    assert np.isfinite(ref["peak_timing"])
    for key, value in ref.items():
        assert ours[key] == pytest.approx(float(value), rel=1e-9), key
