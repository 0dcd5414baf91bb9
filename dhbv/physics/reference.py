"""Readable plain-PyTorch implementation of the HBV 2.0 daily step (docs/model.md#daily-step).

This is the specification in executable form: one explicit daily step per loop iteration,
differentiated by torch autograd. The fused kernels (``kernels_cpu``, ``kernels_cuda``) must
reproduce it value for value and gradient for gradient; tests compare them.

All parameters passed here are already in physical units (see ``hbv2.descale``); the
elevation switch and the nominal regional exchange are resolved by the caller, so the step
only sees the effective threshold temperature ``TT_eff`` (°C) and the nominal exchange ``LF``
(mm/d) per component.
"""

from __future__ import annotations

import torch

NEAR_ZERO = 1e-5
"""Floor (mm) applied to SM and SLZ after ET, capillary rise and exchange (docs/model.md#spin-up-floors-and-precision)."""

STATE_NAMES = ("SNOWPACK", "MELTWATER", "SM", "SUZ", "SLZ")

# Per-step component outputs of the core, in this order (all mm/d except the states, which are
# mm at the end of the day, and evapfactor, which is dimensionless).
FLUX_NAMES = (
    "runoff", "Q0", "Q1", "Q2", "AET", "recharge", "excess", "tosoil", "percolation",
    "capillary", "evapfactor", "LF", "clamp_water",
)
OUTPUT_NAMES = FLUX_NAMES + STATE_NAMES
N_COMPACT = 5  # runoff, Q0, Q1, Q2, AET

# Column order of the per-component static input of the core.
CORE_STATIC = ("FC", "K1", "K2", "LP", "PERC", "UZL", "TT_eff", "CFMAX", "CFR", "CWH", "C", "LF")
CORE_DYNAMIC = ("BETA", "K0", "BETAET")


def hbv_step(states, p, tc, pet, dyn, sta, bounded_exchange: bool, nz: float = NEAR_ZERO):
    """One HBV 2.0 day for all basins and components.

    Parameters
    ----------
    states : tuple of 5 tensors [B, nmul], mm — SNOWPACK, MELTWATER, SM, SUZ, SLZ at day start.
    p, tc, pet : tensors [B, 1] — precipitation (mm/d), mean temperature (°C), PET (mm/d).
    dyn : tuple (BETA, K0, BETAET), each [B, nmul] (–, 1/d, –).
    sta : tuple in ``CORE_STATIC`` order, each [B, nmul].
    bounded_exchange : if True, an exchange loss is limited to the water available in SLZ
        above the floor (realised LF = max(LF, nz − SLZ)); otherwise the paper's clamp.

    Returns
    -------
    (new_states, fluxes) with ``fluxes`` a tuple in ``FLUX_NAMES`` order, each [B, nmul].
    """
    sp, mw, sm, suz, slz = states
    beta, k0, betaet = dyn
    fc, k1, k2, lp, percmax, uzl, tt, cfmax, cfr, cwh, c, lf = sta

    rain = p * (tc >= tt).to(p.dtype)
    snow = p * (tc < tt).to(p.dtype)

    # Snow
    sp = sp + snow
    melt = torch.minimum(torch.clamp(cfmax * (tc - tt), min=0.0), sp)
    mw = mw + melt
    sp = sp - melt
    refreeze = torch.minimum(torch.clamp(cfr * cfmax * (tt - tc), min=0.0), mw)
    sp = sp + refreeze
    mw = mw - refreeze
    tosoil = torch.clamp(mw - cwh * sp, min=0.0)
    mw = mw - tosoil

    # Soil moisture (states are >= nz, so the power bases are positive)
    soil_wetness = torch.clamp((sm / fc) ** beta, min=0.0, max=1.0)
    recharge = (rain + tosoil) * soil_wetness
    sm = sm + rain + tosoil - recharge
    excess = torch.clamp(sm - fc, min=0.0)
    sm = sm - excess

    # Evapotranspiration, on the soil moisture after recharge and overflow
    evapfactor = torch.clamp((sm / (lp * fc)) ** betaet, min=0.0, max=1.0)
    et = torch.minimum(sm, pet * evapfactor)
    sm_unclamped = sm - et
    sm = torch.clamp(sm_unclamped, min=nz)

    # Capillary rise SLZ -> SM
    capillary = torch.minimum(slz, c * slz * (1.0 - torch.clamp(sm / fc, max=1.0)))
    sm_cap = sm + capillary
    slz_cap = slz - capillary
    clamp_water = (sm - sm_unclamped)
    sm = torch.clamp(sm_cap, min=nz)
    slz = torch.clamp(slz_cap, min=nz)
    clamp_water = clamp_water + (sm - sm_cap) + (slz - slz_cap)

    # Upper and lower zones
    suz = suz + recharge + excess
    perc = torch.minimum(suz, percmax)
    suz = suz - perc
    q0 = k0 * torch.clamp(suz - uzl, min=0.0)
    suz = suz - q0
    q1 = k1 * suz
    suz = suz - q1
    slz = slz + perc

    # Regional exchange: the realised flux is what actually entered SLZ
    if bounded_exchange:
        lf_real = torch.maximum(lf, nz - slz)
        slz_new = slz + lf_real
    else:
        slz_new = torch.clamp(slz + lf, min=nz)
        lf_real = slz_new - slz
    slz = slz_new

    q2 = k2 * slz
    slz = slz - q2

    fluxes = (q0 + q1 + q2, q0, q1, q2, et, recharge, excess, tosoil, perc, capillary,
              evapfactor, lf_real, clamp_water)
    return (sp, mw, sm, suz, slz), fluxes


def run_reference(p, tc, pet, dyn, sta, states0, bounded_exchange: bool, nz: float = NEAR_ZERO,
                  full: bool = True):
    """Time loop of :func:`hbv_step` with nmul-mean outputs.

    Parameters
    ----------
    p, tc, pet : [T, B] forcing (mm/d, °C, mm/d).
    dyn : [T, B, nmul, 3] physical dynamic parameters (``CORE_DYNAMIC`` order).
    sta : [B, nmul, 12] physical static inputs (``CORE_STATIC`` order).
    states0 : [5, B, nmul] initial states (mm).
    full : if False only the first ``N_COMPACT`` outputs are produced.

    Returns
    -------
    out : [n_out, T, B] nmul means of ``OUTPUT_NAMES`` (states at the end of each day).
    final_states : [5, B, nmul].
    """
    n_steps = p.shape[0]
    states = tuple(states0[i] for i in range(5))
    sta_t = tuple(sta[..., i] for i in range(sta.shape[-1]))
    n_out = len(OUTPUT_NAMES) if full else N_COMPACT
    rows = []
    for t in range(n_steps):
        dyn_t = tuple(dyn[t, ..., i] for i in range(3))
        states, fluxes = hbv_step(states, p[t, :, None], tc[t, :, None], pet[t, :, None],
                                  dyn_t, sta_t, bounded_exchange, nz)
        values = (fluxes + states)[:n_out]
        rows.append(torch.stack([v.mean(-1) for v in values]))
    out = torch.stack(rows, dim=1)
    return out, torch.stack(states)
