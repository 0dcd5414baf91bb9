"""Hand-computed single-day cases for each HBV 2.0 routine (docs/model.md#daily-step, docs/model.md#verification).

Every case runs one day through both the plain-torch reference step and the fused kernel
(nmul = 1, float64) and compares with values worked out by hand.
"""

import math

import pytest
import torch

from dhbv.physics.autograd import run_fused
from dhbv.physics.hbv2 import HbvOptions, effective_tt, nominal_exchange
from dhbv.physics.reference import CORE_STATIC, NEAR_ZERO, OUTPUT_NAMES, run_reference

NZ = NEAR_ZERO
BASE = dict(FC=100.0, K1=0.1, K2=0.05, LP=0.5, PERC=0.0, UZL=20.0, TT_eff=0.0, CFMAX=2.0,
            CFR=0.05, CWH=0.1, C=0.0, LF=0.0)
DYN = dict(BETA=2.0, K0=0.5, BETAET=1.0)


def one_day(states, p=0.0, tc=10.0, pet=0.0, bounded=False, **params):
    """Run one day; returns {output name: value} after checking reference == fused."""
    sta_d = {**BASE, **{k: v for k, v in params.items() if k in BASE}}
    dyn_d = {**DYN, **{k: v for k, v in params.items() if k in DYN}}
    f = lambda v: torch.tensor([[v]], dtype=torch.float64)  # noqa: E731
    sta = torch.tensor([[[sta_d[k] for k in CORE_STATIC]]], dtype=torch.float64)
    dyn = torch.tensor([[[[dyn_d["BETA"], dyn_d["K0"], dyn_d["BETAET"]]]]], dtype=torch.float64)
    s0 = torch.tensor(states, dtype=torch.float64).reshape(5, 1, 1)
    ref, ref_final = run_reference(f(p), f(tc), f(pet), dyn, sta, s0, bounded)
    fused, fused_final = run_fused(f(p), f(tc), f(pet), dyn, sta, s0, bounded)
    torch.testing.assert_close(fused, ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(fused_final, ref_final, rtol=1e-12, atol=1e-14)
    return {name: float(ref[i, 0, 0]) for i, name in enumerate(OUTPUT_NAMES)}


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=1e-12)


def test_snow_below_threshold_accumulates_and_refreezes():
    # snow = 10; melt = 0; refreeze = min(0.05*2*(0-(-1)), 1) = 0.1; tosoil = max(0.9-0.1*10.1, 0)
    o = one_day([0.0, 1.0, 50.0, 0.0, 0.0], p=10.0, tc=-1.0)
    assert o["SNOWPACK"] == approx(10.1)
    assert o["MELTWATER"] == approx(0.9)
    assert o["tosoil"] == approx(0.0)
    assert o["recharge"] == approx(0.0)


def test_rain_at_threshold_temperature():
    # T == TT_eff counts as rain; 10 mm enter the soil: sw = (50/100)^2 = 0.25
    o = one_day([0.0, 0.0, 50.0, 0.0, 0.0], p=10.0, tc=0.0)
    assert o["SNOWPACK"] == approx(0.0)
    assert o["recharge"] == approx(2.5)
    assert o["SM"] == approx(57.5)


def test_melt_limited_by_snowpack_and_released_to_soil():
    # melt = min(2*3, 5) = 5; refreeze 0; tosoil = 5 - 0.1*0 = 5; sw = 0.25 -> recharge 1.25
    o = one_day([5.0, 0.0, 50.0, 0.0, 0.0], tc=3.0)
    assert o["SNOWPACK"] == approx(0.0)
    assert o["MELTWATER"] == approx(0.0)
    assert o["tosoil"] == approx(5.0)
    assert o["recharge"] == approx(1.25)
    assert o["SM"] == approx(53.75)


def test_liquid_water_held_by_snowpack():
    # melt = min(2*1, 10) = 2 -> SP 8, MW 2; hold 0.1*8 = 0.8 -> tosoil 1.2
    o = one_day([10.0, 0.0, 50.0, 0.0, 0.0], tc=1.0)
    assert o["SNOWPACK"] == approx(8.0)
    assert o["MELTWATER"] == approx(0.8)
    assert o["tosoil"] == approx(1.2)


def test_field_capacity_overflow_goes_to_upper_zone():
    # SM 120 > FC 100: sw clamps to 1, all rain recharges, excess = 20 -> SUZ = 20 + 5 - q0 - q1
    o = one_day([0.0, 0.0, 120.0, 0.0, 0.0], p=5.0, UZL=100.0, K1=0.1)
    assert o["recharge"] == approx(5.0)
    assert o["excess"] == approx(20.0)
    assert o["SM"] == approx(100.0)
    assert o["Q0"] == approx(0.0)
    assert o["Q1"] == approx(2.5)
    assert o["SUZ"] == approx(22.5)


def test_et_at_lp_fc_equals_pet_and_scales_below():
    # SM = LP*FC = 50 -> ef = 1 -> ET = PET
    o = one_day([0.0, 0.0, 50.0, 0.0, 0.0], pet=3.0, BETAET=2.0)
    assert o["evapfactor"] == approx(1.0)
    assert o["AET"] == approx(3.0)
    assert o["SM"] == approx(47.0)
    # SM = 25 -> ef = 0.5^2 = 0.25 -> ET = 0.75
    o = one_day([0.0, 0.0, 25.0, 0.0, 0.0], pet=3.0, BETAET=2.0)
    assert o["evapfactor"] == approx(0.25)
    assert o["AET"] == approx(0.75)


def test_et_limited_by_soil_moisture_and_floored():
    # LP*FC = 1 < SM = 2 -> ef = 1; ET = min(SM, PET) = SM -> SM floored at nz
    o = one_day([0.0, 0.0, 2.0, 0.0, 0.0], pet=5.0, LP=0.2, FC=5.0)
    assert o["AET"] == approx(2.0)
    assert o["SM"] == approx(NZ)
    # floors create nz in SM (after ET) and nz in the empty SLZ (after capillary rise)
    assert o["clamp_water"] == approx(2 * NZ)


def test_capillary_rise_zero_at_field_capacity():
    o = one_day([0.0, 0.0, 100.0, 0.0, 10.0], C=0.5)
    assert o["capillary"] == approx(0.0)
    # SM = 50: cap = min(10, 0.5*10*(1-0.5)) = 2.5; SLZ = 7.5 - K2*7.5
    o = one_day([0.0, 0.0, 50.0, 0.0, 10.0], C=0.5)
    assert o["capillary"] == approx(2.5)
    assert o["SM"] == approx(52.5)
    assert o["Q2"] == approx(0.05 * 7.5)
    assert o["SLZ"] == approx(7.5 * 0.95)


def test_quick_flow_only_above_uzl():
    # SUZ 30 > UZL 20: Q0 = 0.5*10 = 5, SUZ 25, Q1 = 2.5
    o = one_day([0.0, 0.0, 50.0, 30.0, 0.0], K0=0.5)
    assert o["Q0"] == approx(5.0)
    assert o["Q1"] == approx(2.5)
    assert o["SUZ"] == approx(22.5)
    # SUZ 10 < UZL: no quick flow
    o = one_day([0.0, 0.0, 50.0, 10.0, 0.0], K0=0.5)
    assert o["Q0"] == approx(0.0)
    assert o["Q1"] == approx(1.0)


def test_percolation_capped():
    # SUZ 10, PERC 4 -> perc 4, SUZ 6 (< UZL), Q1 0.6; SLZ 1 + 4 -> Q2 = 0.05*5
    o = one_day([0.0, 0.0, 50.0, 10.0, 1.0], PERC=4.0)
    assert o["percolation"] == approx(4.0)
    assert o["Q1"] == approx(0.6)
    assert o["Q2"] == approx(0.25)


@pytest.mark.parametrize("bounded", [False, True])
def test_exchange_gain_and_truncated_loss(bounded):
    o = one_day([0.0, 0.0, 50.0, 0.0, 10.0], LF=5.0, bounded=bounded)
    assert o["LF"] == approx(5.0)
    assert o["Q2"] == approx(0.05 * 15.0)
    # a 5 mm/d loss from 2 mm: only 2 - nz is realised, SLZ ends at the floor
    o = one_day([0.0, 0.0, 50.0, 0.0, 2.0], LF=-5.0, bounded=bounded)
    assert o["LF"] == approx(NZ - 2.0)
    assert o["Q2"] == approx(0.05 * NZ)


def test_nominal_exchange_branches():
    opts = HbvOptions()
    rt = torch.full((4, 1), 10.0, dtype=torch.float64)
    ac = torch.tensor([[500.0], [1000.0], [0.0], [0.0]], dtype=torch.float64)
    area = torch.tensor([1000.0, 500.0, 2500.0, 3000.0], dtype=torch.float64)
    lf = nominal_exchange(rt, ac, area, opts)[:, 0]
    # Ac < 2500: RT*clamp((Ac-AC)/1000, -1, 1); Ac >= 2500: RT*exp(clamp(-(Ac-2500)/50, -10, 0))
    assert lf.tolist() == pytest.approx([5.0, -5.0, 10.0, 10.0 * math.exp(-10.0)], rel=1e-12)
    off = nominal_exchange(rt, ac, area, HbvOptions(exchange="off"))
    assert float(off.abs().max()) == 0.0
    smooth = nominal_exchange(rt, ac, area, HbvOptions(exchange_form="smooth"))[:, 0]
    assert smooth.tolist() == pytest.approx([10 * math.tanh(0.5), -10 * math.tanh(0.5),
                                             10 * math.tanh(2.5), 10 * math.tanh(3.0)])


def test_elevation_switch_at_2000_m():
    tt = torch.zeros(3, 1, dtype=torch.float64)
    elev = torch.tensor([1999.0, 2000.0, 2500.0], dtype=torch.float64)
    assert effective_tt(tt, elev, "paper")[:, 0].tolist() == [0.0, 4.0, 4.0]
    assert effective_tt(tt, elev, "none")[:, 0].tolist() == [0.0, 0.0, 0.0]
    smooth = effective_tt(tt, elev, "smooth")[:, 0]
    assert 1.9 < float(smooth[0]) < 2.1 and float(smooth[2]) == 4.0
    # at 3 °C: rain below the switch, snow above it
    assert one_day([0.0, 0.0, 50.0, 0.0, 0.0], p=10.0, tc=3.0, TT_eff=0.0)["SNOWPACK"] == 0.0
    o = one_day([0.0, 0.0, 50.0, 0.0, 0.0], p=10.0, tc=3.0, TT_eff=4.0)
    # snow 10; melt 0; refreeze min(0.05*2*1, 0) = 0
    assert o["SNOWPACK"] == approx(10.0)
