"""Per-run diagnostics of the router: negative solves and the water balance (docs/routing.md §6).

Water balance of a run (all volumes in m³):

    inflow − outflow − (storage_end − storage_start) = residual

inflow = Δt·Σ max(q', q_min) over reaches and steps; outflow = outlet discharge integrated by
the trapezoid rule (the time discretisation of the Muskingum scheme); storage = the Muskingum
prism Σ K(Q)·(X·I + (1 − X)·Q). The scheme conserves this balance exactly step by step except
for (a) the clamp to q_min, which creates ``clamp_volume_m3``, and (b) the travel time K being
re-evaluated from the new discharge at every step (nonlinear MC), which redefines the stored
volume: ``storage_redefinition_m3`` = −(residual + clamp_volume). Both are zero for linear
Muskingum without clamps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RoutingDiagnostics:
    """Counts and volumes of one routing run (or of consecutive runs added together)."""

    n_steps: int
    n_reaches: int
    n_negative: int
    n_clamped: int
    clamp_volume_m3: float
    inflow_volume_m3: float
    lateral_floor_volume_m3: float
    outflow_volume_m3: float
    storage_start_m3: float
    storage_end_m3: float

    @property
    def residual_m3(self) -> float:
        """inflow − outflow − Δstorage [m³]."""
        return (self.inflow_volume_m3 - self.outflow_volume_m3
                - (self.storage_end_m3 - self.storage_start_m3))

    @property
    def storage_redefinition_m3(self) -> float:
        """Balance change from K varying between steps: −(residual + clamp volume) [m³]."""
        return -(self.residual_m3 + self.clamp_volume_m3)

    @property
    def negative_fraction(self) -> float:
        """Negative solves per reach-step."""
        return self.n_negative / max(self.n_steps * self.n_reaches, 1)

    def __add__(self, later: "RoutingDiagnostics") -> "RoutingDiagnostics":
        """Diagnostics of this run followed by ``later`` (a continuation of it)."""
        return replace(
            self, n_steps=self.n_steps + later.n_steps,
            n_negative=self.n_negative + later.n_negative,
            n_clamped=self.n_clamped + later.n_clamped,
            clamp_volume_m3=self.clamp_volume_m3 + later.clamp_volume_m3,
            inflow_volume_m3=self.inflow_volume_m3 + later.inflow_volume_m3,
            lateral_floor_volume_m3=self.lateral_floor_volume_m3 + later.lateral_floor_volume_m3,
            outflow_volume_m3=self.outflow_volume_m3 + later.outflow_volume_m3,
            storage_end_m3=later.storage_end_m3)

    def summary(self) -> str:
        """One line for the log."""
        scale = max(abs(self.inflow_volume_m3), 1e-300)
        return (f"routing: {self.n_steps} steps x {self.n_reaches} reaches, "
                f"{self.n_negative} negative solves ({self.negative_fraction:.2e} per "
                f"reach-step), {self.n_clamped} clamped (+{self.clamp_volume_m3:.4g} m3), "
                f"balance residual {self.residual_m3:.4g} m3 "
                f"({self.residual_m3 / scale:.2e} of inflow)")
