"""Water balance diagnostics and corrected modes (docs/model.md#options-and-corrections)."""

import torch

from dhbv.physics import HbvOptions, run_hbv2, water_balance
from dhbv.physics.synthetic import synthetic_case

CORRECTED = HbvOptions(exchange="bounded", exchange_form="smooth", elev_threshold="none",
                       uh_length=60, uh_weights="integrated")


def _case(n_t=3650, n_b=6, nmul=3, seed=21):
    return synthetic_case(n_t, n_b, nmul, seed=seed, dtype=torch.float64)


def test_default_mode_reports_leak_and_closes_with_diagnostics():
    case = _case()
    out = run_hbv2(*case, warmup=365, full_output=True)
    wb = water_balance(case[0], out, warmup=365)
    # the default model leaks: the residual is the realised exchange plus the floors' water
    assert float(wb["relative_residual"].abs().max()) > 1e-3
    torch.testing.assert_close(wb["residual"], -(wb["exchange"] + wb["clamp_water"]),
                               rtol=0, atol=1e-8 * float(wb["P"].max()))
    assert float(wb["relative_closure"].abs().max()) < 1e-10


def test_zero_exchange_residual_at_round_off():
    f, d, s, r, u, e = _case()
    s = s.clone()
    s[:, 11, :] = 0.0  # RT = 0
    out = run_hbv2(f, d, s, r, u, e, warmup=365, full_output=True)
    wb = water_balance(f, out, warmup=365)
    assert float(wb["exchange"].abs().max()) == 0.0
    # only the nz floors remain (at most a few 1e-5 mm per day)
    assert float(wb["relative_residual"].abs().max()) < 1e-5
    out32 = run_hbv2(f.float(), d.float(), s.float(), r.float(), u.float(), e.float(),
                     warmup=365, full_output=True)
    wb32 = water_balance(f.float(), out32, warmup=365)
    assert float(wb32["relative_closure"].abs().max()) < 1e-5


def test_exchange_off_closes():
    case = _case(n_t=1000)
    out = run_hbv2(*case, options=HbvOptions(exchange="off"), full_output=True)
    wb = water_balance(case[0], out)
    assert float(out["LF"].abs().max()) == 0.0
    assert float((wb["residual"] + wb["clamp_water"]).abs().max() / wb["P"].min()) < 1e-10


def test_corrected_mode_closes_over_ten_years_routed():
    case = _case()
    out = run_hbv2(*case, warmup=0, options=CORRECTED, full_output=True)
    for routed in (False, True):
        wb = water_balance(case[0], out, routed=routed)
        # P − ET − Q − ΔS − (−exchange) − floors = 0
        assert float(wb["relative_closure"].abs().max()) <= 1e-5
    # the UH holds water at the end of the window and it is reported
    assert float(out["uh_in_transit"][-1].min()) > 0.0


def test_realised_exchange_loss_limited_by_storage():
    case = _case(n_t=800, n_b=8, nmul=2, seed=3)
    f, d, s, r, u, e = case
    s = s.clone()
    s[:, 11, :] = 1.0  # RT = 20 mm/d
    s[:, 12, :] = 1.0  # AC = 2500 km²: loss for every unit below 2500 km²
    u = torch.full_like(u, 100.0)
    out = run_hbv2(f, d, s, r, u, e, options=HbvOptions(exchange="bounded"), full_output=True)
    # nominal −18.8 mm/d, realised loss cannot exceed what SLZ held
    assert float(out["LF_nominal"].max()) < -18.0
    assert float(out["LF"].mean()) > -18.0
    # SLZ never drops below the floor before baseflow: after Q2 it keeps >= nz·(1 − K2max)
    assert float(out["SLZ"].min()) >= 1e-5 * (1 - 0.2) - 1e-12
