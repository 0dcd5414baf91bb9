"""A synthetic MERIT-like domain for speed and memory tests of the domain simulation.

Unit catchments as in MERIT-Basins: areas log-normal around 40 km² (median; 5–95 %: ~8–200 km²),
upstream areas log-uniform 10–10⁵ km², elevations 0–3500 m, latitudes 25–50° N, longitudes
125–67° W. Attributes are drawn around plausible values for the configured names (unknown names:
standard normal). Daily forcing per unit: precipitation on wet days (probability 0.25–0.6,
persistent: a wet day follows a wet day more often) with gamma depths (shape 0.7) scaled to an
annual total log-normal around 800 mm; temperature with a seasonal cycle whose mean falls with
latitude and elevation (lapse rate 6 °C/km), amplitude 6–16 °C and daily noise; PET from the
temperature (Hargreaves, 0–9 mm/d). Everything is generated per unit batch and time
window from seeds, so a domain of any size costs no memory until a batch is asked for.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dhbv.simulation.inputs import DomainInputs

_ATTRIBUTE_DRAWS = {  # name: (mean, std) of plausible unit values
    "aridity": (1.2, 0.6), "meanP": (2.5, 1.2), "ETPOT_Hargr": (3.0, 0.8), "NDVI": (0.5, 0.15),
    "meanslope": (5.0, 4.0), "SoilGrids1km_sand": (40.0, 12.0),
    "SoilGrids1km_clay": (22.0, 8.0), "SoilGrids1km_silt": (38.0, 10.0),
    "meanelevation": (900.0, 700.0), "meanTa": (10.0, 5.0), "permeability": (-13.5, 1.5),
    "seasonality_P": (0.0, 0.4), "snow_fraction": (0.15, 0.15), "Porosity": (0.4, 0.05),
    "uparea": (2000.0, 5000.0),
}


class SyntheticDomain:
    """``n_units`` unit catchments with attributes ``attribute_names`` (seeded)."""

    def __init__(self, n_units: int, attribute_names, seed: int = 0):
        self.n_units = int(n_units)
        self.attribute_names = list(attribute_names)
        self.seed = int(seed)

    def _static(self, u0: int, u1: int) -> dict:
        n = u1 - u0
        rng = np.random.default_rng([self.seed, 1, u0, u1])
        s = {"area": np.exp(rng.normal(math.log(40.0), 0.95, n)),
             "uparea": 10.0 ** rng.uniform(1.0, 5.0, n),
             "elev": rng.uniform(0.0, 3500.0, n),
             "lat": rng.uniform(25.0, 50.0, n), "lon": rng.uniform(-125.0, -67.0, n),
             "annual_p": np.exp(rng.normal(math.log(800.0), 0.5, n)),
             "p_wet": rng.uniform(0.25, 0.6, n), "t_amp": rng.uniform(6.0, 16.0, n)}
        s["t_mean"] = 28.0 - 0.7 * (s["lat"] - 25.0) - 6.0 * s["elev"] / 1000.0
        cols = []
        for name in self.attribute_names:
            m, sd = _ATTRIBUTE_DRAWS.get(name, (0.0, 1.0))
            cols.append({"uparea": s["uparea"], "meanelevation": s["elev"],
                         "meanTa": s["t_mean"], "meanP": s["annual_p"] / 365.25}.get(
                name, rng.normal(m, sd, n)))
        s["attributes"] = (np.stack(cols, -1) if cols else np.zeros((n, 0))).astype(np.float64)
        return s

    def window(self, u0: int, u1: int, start, n_days: int) -> DomainInputs:
        """Inputs of units [u0, u1) over ``n_days`` days from ``start``."""
        s = self._static(u0, u1)
        n = u1 - u0
        t0 = pd.Timestamp(start)
        day0 = (t0 - pd.Timestamp("1970-01-01")).days
        rng = np.random.default_rng([self.seed, 2, u0, u1, day0, n_days])
        doy = (day0 + np.arange(n_days))[:, None] % 365.25
        u = rng.random((n_days, n))
        wet = np.empty((n_days, n), bool)
        wet[0] = u[0] < s["p_wet"]
        for t in range(1, n_days):   # wet follows wet with p_wet + 0.25
            wet[t] = u[t] < np.where(wet[t - 1], np.minimum(s["p_wet"] + 0.25, 0.95),
                                     s["p_wet"] * 0.8)
        depth = rng.gamma(0.7, 1.0, (n_days, n))
        p11, p01 = np.minimum(s["p_wet"] + 0.25, 0.95), s["p_wet"] * 0.8
        wet_share = p01 / (1.0 - p11 + p01)        # stationary share of wet days
        p = wet * depth * (s["annual_p"] / (365.25 * wet_share * 0.7))
        season = -np.cos(2.0 * math.pi * (doy - 15.0) / 365.25)
        tc = s["t_mean"] + s["t_amp"] * season + rng.normal(0.0, 3.0, (n_days, n))
        radiation = 10.0 + 6.0 * season            # extraterrestrial radiation, mm/d equivalent
        pet = np.clip(0.0023 * radiation * (tc + 17.8) * 3.5, 0.0, 9.0)  # Hargreaves, ΔT ≈ 12 °C
        forcing = np.stack([p, tc, pet], -1).astype(np.float32)
        return DomainInputs(pd.date_range(t0, periods=n_days, freq="D"),
                            [f"u{i:07d}" for i in range(u0, u1)], forcing, ("P", "T", "PET"),
                            self.attribute_names, s["attributes"], s["uparea"], s["elev"],
                            s["lat"], s["lon"], s["area"])

    def statistics(self, n_sample: int = 2000) -> dict:
        """Normalisation statistics from a sample of units over one year."""
        from dhbv.datasets.basin_data import stats_name
        from dhbv.nn.normalization import compute_statistics

        w = self.window(0, min(n_sample, self.n_units), "2000-01-01", 365)
        d = {stats_name(v): w.forcing[..., k] for k, v in enumerate(w.forcing_names)}
        d.update({a: w.attributes[:, k] for k, a in enumerate(w.attribute_names)})
        return compute_statistics(d)
