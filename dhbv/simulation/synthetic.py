"""A synthetic MERIT-like domain for speed and memory tests of the domain simulation.

Unit catchments as in MERIT-Basins: areas log-normal around 40 km² (median; 5–95 %: ~8–200 km²),
upstream areas log-uniform 10–10⁵ km², elevations 0–3500 m, latitudes 25–50° N, longitudes
125–67° W. Attributes are drawn around plausible values for the configured names (unknown names:
standard normal). Daily forcing per unit: precipitation on wet days (probability 0.25–0.6,
persistent: a wet day follows a wet day more often) with gamma depths (shape 0.7) scaled to an
annual total log-normal around 800 mm; temperature with a seasonal cycle whose mean falls with
latitude and elevation (lapse rate 6 °C/km), amplitude 6–16 °C and daily noise; PET from the
temperature (Hargreaves, 0–9 mm/d). Everything is generated per unit batch and time
window from seeds, so a domain of any size costs no memory until a batch is asked for. The
static values of a unit (area, attributes, climate) are drawn per block of
:data:`BLOCK` units, so they do not depend on how the units are batched.

With ``network=True`` the units are the reaches of a dendritic river network
(:func:`unit_network`: one reach per unit catchment, ids = the unit ids, MERIT-like COMIDs)
and each unit's upstream area is its own area plus the upstream areas of the reaches draining
into it (:func:`accumulate`), so the outlet's upstream area is the domain's total area.
"""
from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd

from dhbv.simulation.inputs import DomainInputs

#: units per seeded block of static values
BLOCK = 1024
#: id of the first unit of a domain with a network (MERIT COMIDs of North America are 7xxxxxxx)
FIRST_ID = 71_000_001
#: main-stem reaches of a 180,000-reach network (the Mississippi's topological depth in MERIT);
#: smaller networks get a stem ∝ √reaches
CONUS_STEM = 3_000

_ATTRIBUTE_DRAWS = {  # name: (mean, std) of plausible unit values
    "aridity": (1.2, 0.6), "meanP": (2.5, 1.2), "ETPOT_Hargr": (3.0, 0.8), "NDVI": (0.5, 0.15),
    "meanslope": (5.0, 4.0), "SoilGrids1km_sand": (40.0, 12.0),
    "SoilGrids1km_clay": (22.0, 8.0), "SoilGrids1km_silt": (38.0, 10.0),
    "meanelevation": (900.0, 700.0), "meanTa": (10.0, 5.0), "permeability": (-13.5, 1.5),
    "seasonality_P": (0.0, 0.4), "snow_fraction": (0.15, 0.15), "Porosity": (0.4, 0.05),
    "uparea": (2000.0, 5000.0),
}


def unit_network(n_units: int, seed: int = 0, n_stem: int | None = None):
    """A dendritic MERIT-like network of exactly ``n_units`` reaches, one per unit catchment:
    :class:`dhbv.routing.RoutingGraph` in topological order with ids ``FIRST_ID + unit index``
    (unit i is reach i).

    The tree is :func:`dhbv.routing.synthetic.synthetic_network` (binary confluences, a main
    stem of ``n_stem`` reaches, default ``CONUS_STEM·√(n_units/180 000)``, with heavy-tailed
    tributaries; lengths ~6.4 km and slopes ~0.003 log-normal). Its full binary trees have an
    odd number of reaches, so for an even ``n_units`` one more unit drains directly to the sea
    (a coastal unit: its own outlet, last in the order)."""
    from dhbv.routing.graph import RoutingGraph
    from dhbv.routing.synthetic import synthetic_network

    n = int(n_units)
    if n < 1:
        raise ValueError("unit_network: n_units must be ≥ 1")
    n_tree = n if n % 2 else n - 1
    if n_tree < 3:                      # one or two units: a headwater (and a coastal unit)
        rng = np.random.default_rng([seed, 5])
        down = np.full(n, -1, np.int64)
        length = np.clip(rng.lognormal(np.log(6400.0), 0.8, n), 90.0, 40_000.0)
        slope = np.maximum(rng.lognormal(np.log(0.003), 1.2, n), 1e-3)
        return RoutingGraph(down, length, slope, ids=FIRST_ID + np.arange(n))
    if n_stem is None:
        n_stem = round(CONUS_STEM * math.sqrt(n_tree / 180_000))
    n_stem = int(min(max(n_stem, 2), (n_tree + 1) // 2))
    tree, _ = synthetic_network(n_tree, n_stem=n_stem, seed=seed)
    down, length, slope = tree.downstream.astype(np.int64), tree.length_m, tree.slope
    if n > n_tree:                      # the coastal unit
        rng = np.random.default_rng([seed, 6])
        down = np.append(down, -1)
        length = np.append(length, np.clip(rng.lognormal(np.log(6400.0), 0.8), 90.0, 40_000.0))
        slope = np.append(slope, max(rng.lognormal(np.log(0.003), 1.2), 1e-3))
    return RoutingGraph(down, length, slope, ids=FIRST_ID + np.arange(n))


def accumulate(graph, values) -> np.ndarray:
    """Each reach's value plus those of all reaches upstream of it (float64 [n]; e.g. unit
    areas [km²] → upstream areas), level by level from the headwaters."""
    acc = np.array(values, np.float64)
    down = np.asarray(graph.downstream, np.int64)
    level = np.asarray(graph.level)
    order = np.argsort(level, kind="stable")
    bounds = np.searchsorted(level[order], np.arange(int(level.max()) + 2 if level.size else 1))
    for a, b in zip(bounds[:-1], bounds[1:]):
        idx = order[a:b]
        idx = idx[down[idx] >= 0]
        np.add.at(acc, down[idx], acc[idx])
    return acc


class SyntheticDomain:
    """``n_units`` unit catchments with attributes ``attribute_names`` (seeded); with
    ``network=True`` also their river network (``graph``, :func:`unit_network`) and upstream
    areas accumulated on it."""

    def __init__(self, n_units: int, attribute_names, seed: int = 0, network: bool = False):
        self.n_units = int(n_units)
        self.attribute_names = list(attribute_names)
        self.seed = int(seed)
        self.graph, self._uparea = None, None
        if network:
            self.graph = unit_network(self.n_units, self.seed)
            self._uparea = accumulate(self.graph, self.area(0, self.n_units))

    def _per_unit(self, u0: int, u1: int, stream, draw) -> dict:
        """{name: [u1 − u0]} from ``draw(rng)`` → {name: [BLOCK]}, one generator per block."""
        b0, b1 = u0 // BLOCK, max(u1 - 1, u0) // BLOCK + 1
        parts = [draw(np.random.default_rng([self.seed, *stream, b])) for b in range(b0, b1)]
        return {k: np.concatenate([p[k] for p in parts])[u0 - b0 * BLOCK:u1 - b0 * BLOCK]
                for k in parts[0]}

    def unit_ids(self, u0: int = 0, u1: int | None = None) -> list[str]:
        """Ids of units [u0, u1): the reach ids (COMIDs) with a network, else ``u0000000`` …"""
        u1 = self.n_units if u1 is None else u1
        if self.graph is not None:
            return [str(FIRST_ID + i) for i in range(u0, u1)]
        return [f"u{i:07d}" for i in range(u0, u1)]

    def area(self, u0: int = 0, u1: int | None = None) -> np.ndarray:
        """Unit catchment areas [km²] of units [u0, u1) (log-normal, median 40 km²)."""
        u1 = self.n_units if u1 is None else u1
        return self._per_unit(u0, u1, (3,), lambda rng: {
            "a": np.exp(rng.normal(math.log(40.0), 0.95, BLOCK))})["a"]

    def _static(self, u0: int, u1: int, names=None) -> dict:
        s = self._per_unit(u0, u1, (1,), lambda rng: {
            "uparea": 10.0 ** rng.uniform(1.0, 5.0, BLOCK),
            "elev": rng.uniform(0.0, 3500.0, BLOCK),
            "lat": rng.uniform(25.0, 50.0, BLOCK), "lon": rng.uniform(-125.0, -67.0, BLOCK),
            "annual_p": np.exp(rng.normal(math.log(800.0), 0.5, BLOCK)),
            "p_wet": rng.uniform(0.25, 0.6, BLOCK), "t_amp": rng.uniform(6.0, 16.0, BLOCK)})
        s["area"] = self.area(u0, u1)
        if self._uparea is not None:
            s["uparea"] = self._uparea[u0:u1]
        s["t_mean"] = 28.0 - 0.7 * (s["lat"] - 25.0) - 6.0 * s["elev"] / 1000.0
        known = {"uparea": s["uparea"], "log10_uparea": np.log10(s["uparea"]),
                 "meanelevation": s["elev"], "meanTa": s["t_mean"],
                 "meanP": s["annual_p"] / 365.25}
        cols = []
        for name in self.attribute_names if names is None else names:
            if name in known:
                cols.append(known[name])
                continue
            m, sd = _ATTRIBUTE_DRAWS.get(name, (0.0, 1.0))
            cols.append(self._per_unit(u0, u1, (4, zlib.crc32(name.encode())), lambda rng: {
                "x": rng.normal(m, sd, BLOCK)})["x"])
        s["attributes"] = (np.stack(cols, -1) if cols else np.zeros((u1 - u0, 0))).astype(
            np.float64)
        return s

    def attributes(self, names, u0: int = 0, u1: int | None = None) -> np.ndarray:
        """Attributes ``names`` [u1 − u0, len(names)] of units [u0, u1) (a name has the same
        values whichever list it is in; ``log10_uparea`` is log10 of the upstream area)."""
        u1 = self.n_units if u1 is None else u1
        return self._static(u0, u1, list(names))["attributes"]

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
                            self.unit_ids(u0, u1), forcing, ("P", "T", "PET"),
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
