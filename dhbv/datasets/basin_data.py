"""A gauged dataset in memory: unit forcing, attributes, observations and membership.

:class:`BasinData` holds numpy arrays on one daily time axis; the dataset readers
(:mod:`dhbv.datasets.readers`) build it from the standard on-disk forms (docs/datasets.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dhbv.datasets.membership import Membership
from dhbv.datasets.network import UnitNetwork
from dhbv.errors import DhbvInputError

HBV_UPAREA = "uparea"          # km², upstream area used by the HBV exchange term
HBV_ELEV = "meanelevation"     # m, unit mean elevation used by the 2000 m switch
PHYSICS_FORCING = ("P", "T", "PET")   # raw daily forcing of the HBV physics, in this order
# keys of the physics forcing in the normalisation statistics JSON (published δHBV2.0 names)
STATS_NAMES = {"P": "P", "T": "Temp", "PET": "PET"}


def stats_name(variable: str) -> str:
    """Key of a daily input variable in the normalisation statistics."""
    return STATS_NAMES.get(variable, variable)


@dataclass
class BasinData:
    """Merged inputs, numpy arrays on a common daily time axis.

    forcing [T, U, V] in ``forcing_names`` order: P (mm d-1), T (degC), PET (mm d-1) for the
    physics first, then any further daily variables the networks read (``model.dynamic_inputs``;
    NaN outside a unit's record), attributes [U, n_attr] (model input attributes, raw units), uparea [U] km², elev [U] m,
    obs [T, G] mm d-1 (NaN = missing), membership (gauge → units, unit areas km²).
    """

    time: pd.DatetimeIndex
    unit_ids: list[str]
    forcing: np.ndarray
    attribute_names: list[str]
    attributes: np.ndarray
    uparea: np.ndarray
    elev: np.ndarray
    gauge_ids: list[str]
    obs: np.ndarray
    membership: Membership
    provenance: list[str] = field(default_factory=list)
    lat: np.ndarray | None = None    # [U] degrees north
    lon: np.ndarray | None = None    # [U] degrees east
    forcing_names: tuple[str, ...] = PHYSICS_FORCING
    network: UnitNetwork | None = None   # river network over the units, when the data has one

    def time_index(self, date) -> int:
        """Index of ``date`` on the time axis (error if outside)."""
        d = pd.Timestamp(date)
        i = self.time.get_indexer([d])[0]
        if i < 0:
            raise DhbvInputError(f"date {d.date()} is outside the data record "
                                 f"{self.time[0].date()}..{self.time[-1].date()}; fix the period")
        return int(i)

    def forcing_coverage(self, unit_indices=None) -> tuple[int, int]:
        """First/last time index where every selected unit has complete P, T, PET."""
        f = self.forcing[..., :3] if unit_indices is None else self.forcing[:, unit_indices, :3]
        ok = np.isfinite(f).all(axis=(1, 2))
        if not ok.any():
            raise DhbvInputError("no day with complete forcing for all units")
        idx = np.flatnonzero(ok)
        return int(idx[0]), int(idx[-1])

    def check_period(self, start, end, what: str, unit_indices=None) -> tuple[int, int]:
        """Indices (i0, i1 inclusive) of a period; error naming the unit whose forcing lacks it."""
        i0, i1 = self.time_index(start), self.time_index(end)
        units = range(len(self.unit_ids)) if unit_indices is None else unit_indices
        sub = self.forcing[i0:i1 + 1, :, :3]
        for u in units:
            fin = np.isfinite(sub[:, u])
            if not fin.all():
                # tolerate short interior gaps (filled by interpolation); reject missing ends
                first_ok = np.isfinite(self.forcing[:, u, :3]).all(axis=1)
                cov = np.flatnonzero(first_ok)
                if cov.size == 0 or cov[0] > i0 or cov[-1] < i1:
                    rng = (f"{self.time[cov[0]].date()}..{self.time[cov[-1]].date()}"
                           if cov.size else "nothing")
                    raise DhbvInputError(
                        f"unit {self.unit_ids[u]}: forcing covers {rng} but the {what} period is "
                        f"{pd.Timestamp(start).date()}..{pd.Timestamp(end).date()}; shorten the "
                        "period or extend the forcing")
        return i0, i1

    def subset_gauges(self, gauges) -> "BasinData":
        """Restrict to the given gauges (and their units)."""
        gauges = [str(g) for g in gauges]
        gi = {g: i for i, g in enumerate(self.gauge_ids)}
        missing = [g for g in gauges if g not in gi]
        if missing:
            raise DhbvInputError(f"gauge {missing[0]} is not in the data ({len(missing)} missing); "
                                 "fix the gauge list")
        sel = [gi[g] for g in gauges]
        units = np.unique(np.concatenate([self.membership.pairs[i][0] for i in sel]))
        remap = {int(u): j for j, u in enumerate(units)}
        pairs = [(np.array([remap[int(u)] for u in self.membership.pairs[i][0]]),
                  self.membership.pairs[i][1]) for i in sel]
        m = Membership(gauges, [self.unit_ids[u] for u in units],
                       self.membership.unit_area[units], pairs)
        return BasinData(self.time, m.unit_ids, self.forcing[:, units], self.attribute_names,
                         self.attributes[units], self.uparea[units], self.elev[units], gauges,
                         self.obs[:, sel], m, list(self.provenance),
                         None if self.lat is None else self.lat[units],
                         None if self.lon is None else self.lon[units], self.forcing_names,
                         None if self.network is None else self.network.subset(units))
