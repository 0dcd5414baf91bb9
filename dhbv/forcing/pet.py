"""Potential evapotranspiration (PET) from temperature and latitude.

All functions use numpy broadcasting and return float64 arrays in **mm d-1** (radiation in
**MJ m-2 d-1**). Latitude is in decimal degrees (south negative); ``day_of_year`` is 1 … 366.

* :func:`extraterrestrial_radiation` — Ra, FAO-56 (Allen et al. 1998) eqs. 21–25.
* :func:`hargreaves` — Hargreaves & Samani (1985), FAO-56 eq. 52 (the δHBV2.0 paper's choice).
* :func:`oudin` — Oudin et al. (2005, J. Hydrol. 303), temperature-only formula.
* :func:`hamon` — Hamon (1961) in the form of Lu et al. (2005), daylight hours from FAO-56 eq. 34.
"""
from __future__ import annotations

import numpy as np

SOLAR_CONSTANT = 0.0820          # MJ m-2 min-1 (FAO-56)
LATENT_HEAT = 2.45               # MJ kg-1 (FAO-56, at ~20 °C)
WATER_DENSITY = 1000.0           # kg m-3
MJ_TO_MM = 1.0 / LATENT_HEAT     # 1 MJ m-2 d-1 of radiation evaporates 0.408 mm d-1 of water

PET_METHODS = ("hargreaves", "oudin", "hamon")


def _solar_geometry(lat_deg, day_of_year):
    """Return (phi [rad], dr [-], delta [rad], omega_s [rad]) per FAO-56 eqs. 22–25."""
    phi = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))
    j = np.asarray(day_of_year, dtype=np.float64)
    dr = 1.0 + 0.033 * np.cos(2.0 * np.pi * j / 365.0)                  # eq. 23
    delta = 0.409 * np.sin(2.0 * np.pi * j / 365.0 - 1.39)              # eq. 24
    # eq. 25; argument clipped so polar day (-1) / polar night (+1) are defined
    omega_s = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))
    return phi, dr, delta, omega_s


def extraterrestrial_radiation(lat_deg, day_of_year):
    """Extraterrestrial radiation Ra [MJ m-2 d-1] (FAO-56 eq. 21).

    Ra = 24·60/π · Gsc · dr · [ωs·sinφ·sinδ + cosφ·cosδ·sin ωs].
    FAO-56 Example 8: 20 °S on 3 September (day 246) gives Ra = 32.2 MJ m-2 d-1.
    """
    phi, dr, delta, omega_s = _solar_geometry(lat_deg, day_of_year)
    ra = (24.0 * 60.0 / np.pi) * SOLAR_CONSTANT * dr * (
        omega_s * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(omega_s)
    )
    return np.maximum(ra, 0.0)


def daylight_hours(lat_deg, day_of_year):
    """Maximum possible daylight duration N [h] (FAO-56 eq. 34: N = 24/π·ωs)."""
    return 24.0 / np.pi * _solar_geometry(lat_deg, day_of_year)[3]


def hargreaves(tmin_c, tmax_c, lat_deg, day_of_year):
    """Hargreaves (1985) reference ET [mm d-1] (FAO-56 eq. 52).

    ET0 = 0.0023 · (Tmean + 17.8) · √(Tmax − Tmin) · 0.408·Ra, Tmean = (Tmax + Tmin)/2,
    Ra from :func:`extraterrestrial_radiation`. A negative range (Tmax < Tmin) is treated as 0
    and negative results are set to 0.
    """
    tmin = np.asarray(tmin_c, dtype=np.float64)
    tmax = np.asarray(tmax_c, dtype=np.float64)
    ra_mm = MJ_TO_MM * extraterrestrial_radiation(lat_deg, day_of_year)
    tmean = 0.5 * (tmax + tmin)
    et0 = 0.0023 * (tmean + 17.8) * np.sqrt(np.maximum(tmax - tmin, 0.0)) * ra_mm
    return np.maximum(et0, 0.0)


def oudin(tmean_c, lat_deg, day_of_year):
    """Oudin et al. (2005) PET [mm d-1].

    PE = Ra/(λ·ρ) · (T + 5)/100 if T + 5 > 0 else 0, with Ra [MJ m-2 d-1], λ = 2.45 MJ kg-1,
    ρ = 1000 kg m-3; converted from m d-1 to mm d-1, i.e. PE = Ra/2.45·(T + 5)/100.
    """
    t = np.asarray(tmean_c, dtype=np.float64)
    ra = extraterrestrial_radiation(lat_deg, day_of_year)
    pe = ra / (LATENT_HEAT * WATER_DENSITY) * (t + 5.0) / 100.0 * 1000.0
    return np.where(t + 5.0 > 0.0, pe, 0.0)


def hamon(tmean_c, lat_deg, day_of_year):
    """Hamon (1961) PET [mm d-1] in the form of Lu et al. (2005).

    PET = 0.1651 · (N/12) · ρ_sat · 1.2 (coefficient 1.2 after Lu et al.), N daylight hours,
    ρ_sat = 216.7·e_s/(T + 273.3) [g m-3] with e_s = 6.108·exp(17.27·T/(T + 237.3)) [hPa].
    """
    t = np.asarray(tmean_c, dtype=np.float64)
    n = daylight_hours(lat_deg, day_of_year)
    es = 6.108 * np.exp(17.27 * t / (t + 237.3))
    rho_sat = 216.7 * es / (t + 273.3)
    return np.maximum(1.2 * 0.1651 * (n / 12.0) * rho_sat, 0.0)


def compute_pet(method: str, *, lat_deg, day_of_year, tmean_c=None, tmin_c=None, tmax_c=None):
    """Dispatch to a PET method by name ("hargreaves", "oudin", "hamon"); mm d-1."""
    from dhbv.errors import DhbvInputError

    if method == "hargreaves":
        if tmin_c is None or tmax_c is None:
            raise DhbvInputError(
                "pet_method 'hargreaves' needs Tmax and Tmin; the input has only T mean - "
                "use pet_method: oudin (or hamon) for this source")
        return hargreaves(tmin_c, tmax_c, lat_deg, day_of_year)
    if tmean_c is None:
        if tmin_c is None or tmax_c is None:
            raise DhbvInputError(f"pet_method '{method}' needs a mean temperature T")
        tmean_c = 0.5 * (np.asarray(tmin_c) + np.asarray(tmax_c))
    if method == "oudin":
        return oudin(tmean_c, lat_deg, day_of_year)
    if method == "hamon":
        return hamon(tmean_c, lat_deg, day_of_year)
    raise DhbvInputError(f"unknown pet_method {method!r}; use one of {PET_METHODS}")
