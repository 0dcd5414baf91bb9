"""Plausible random forcing and parameters for tests and benchmarks of the physics core."""

from __future__ import annotations

import math

import torch


def synthetic_case(n_t: int, n_b: int, nmul: int, seed: int = 0, dtype=torch.float32):
    """Random but hydrologically plausible inputs for ``run_hbv2``.

    Precipitation: wet days with probability 0.45 and gamma-distributed depths (mean ~5 mm);
    temperature: seasonal cycle (annual mean 2–14 °C, amplitude 8–16 °C) plus daily noise, so
    snow, melt and refreezing all occur; PET: seasonal 0–6 mm/d. Parameters uniform in [0, 1];
    upstream areas log-uniform 1–10⁴ km² (both exchange branches); elevations 0–3500 m (both
    sides of the 2000 m switch).

    Returns (forcing [T,B,3], dyn [T,B,3,nmul], static [B,13,nmul], uh_params [B,2],
    uparea [B], elev [B]).
    """
    g = torch.Generator().manual_seed(seed)
    day = torch.arange(n_t, dtype=torch.float64)[:, None]
    wet = torch.rand(n_t, n_b, generator=g, dtype=torch.float64) < 0.45
    depth = -torch.log(torch.rand(n_t, n_b, generator=g, dtype=torch.float64)) * 5.0
    p = depth * wet
    t_mean = 2.0 + 12.0 * torch.rand(1, n_b, generator=g, dtype=torch.float64)
    t_amp = 8.0 + 8.0 * torch.rand(1, n_b, generator=g, dtype=torch.float64)
    season = -torch.cos(2.0 * math.pi * (day - 15.0) / 365.25)
    tc = t_mean + t_amp * season + 3.0 * torch.randn(n_t, n_b, generator=g, dtype=torch.float64)
    pet = torch.clamp(3.0 + 3.0 * season + 0.5 * torch.randn(n_t, n_b, generator=g,
                                                             dtype=torch.float64), min=0.0)
    forcing = torch.stack([p, tc, pet], dim=-1).to(dtype)
    dyn = torch.rand(n_t, n_b, 3, nmul, generator=g, dtype=torch.float64).to(dtype)
    static = torch.rand(n_b, 13, nmul, generator=g, dtype=torch.float64).to(dtype)
    uh_params = torch.rand(n_b, 2, generator=g, dtype=torch.float64).to(dtype)
    uparea = (10.0 ** (4.0 * torch.rand(n_b, generator=g, dtype=torch.float64))).to(dtype)
    elev = (3500.0 * torch.rand(n_b, generator=g, dtype=torch.float64)).to(dtype)
    return forcing, dyn, static, uh_params, uparea, elev
