"""Options of the Muskingum–Cunge router (physics, floors and clamps; docs/routing.md §2–§4).

All quantities are SI: discharge m³/s, length m, time s, velocity m/s, depth and width m.
"""

from __future__ import annotations

from dataclasses import dataclass

from dhbv.errors import DhbvInputError

#: geometry modes and their code in the kernels
GEOMETRIES = {"linear": 0, "wide": 0, "trapezoid": 1, "trapezoid_exact": 2}
#: clamp semantics: "after" = solve the whole step, then floor every reach; "sweep" = floor
#: each reach as it is solved, so downstream reaches see it (docs/routing.md §4)
CLAMP_MODES = ("after", "sweep")
#: default velocity bounds (m/s) per geometry: the paper-era wide channel used [0.3, 15]
#: (Bindas et al. 2024), the trapezoid modes [0.01, 15]
DEFAULT_VELOCITY_BOUNDS = {"linear": (0.0, float("inf")), "wide": (0.3, 15.0),
                           "trapezoid": (0.01, 15.0), "trapezoid_exact": (0.01, 15.0)}


@dataclass(frozen=True)
class RoutingOptions:
    """Physics and numerics of one routing run.

    geometry : "wide" (Manning, wide channel, c = 5/3·v), "trapezoid" (c = 5/3·v on a
        trapezoid with top width T = p·d^q), "trapezoid_exact" (c = β·v, the exact kinematic
        celerity of that trapezoid) or "linear" (travel time K given per reach, no geometry).
    dt : routing step [s] (3600 by default); the lateral-inflow record length must be a
        multiple of it.
    x : Muskingum weighting X (constant; per-reach values may be passed to ``route``).
    clamp : "after" or "sweep" (see ``CLAMP_MODES``).
    q_min : floor of the routed discharge after every step and of the lateral inflow [m³/s].
    slope_min : floor of the bed slope [m/m].
    velocity_bounds : (v_min, v_max) [m/s] applied to the Manning velocity before the
        celerity factor; ``None`` takes the geometry's default (``DEFAULT_VELOCITY_BOUNDS``).
    depth_min, bottom_min : floors of the flow depth and bottom width [m] (trapezoids).
    side_slope_bounds : bounds of the side slope z (horizontal/vertical) (trapezoids).
    q_eps : added to the width exponent q in the trapezoid formulas (keeps d^q smooth at q=0).
    manning_eps : added to p·√S in the depth inversion of the trapezoid formulas.
    """

    geometry: str = "wide"
    dt: float = 3600.0
    x: float = 0.3
    clamp: str = "after"
    q_min: float = 1e-4
    slope_min: float = 1e-3
    velocity_bounds: tuple[float, float] | None = None
    depth_min: float = 0.01
    bottom_min: float = 0.01
    side_slope_bounds: tuple[float, float] = (0.5, 50.0)
    q_eps: float = 1e-6
    manning_eps: float = 1e-8

    def __post_init__(self):
        if self.geometry not in GEOMETRIES:
            raise DhbvInputError(f"routing.geometry={self.geometry!r}: expected one of "
                                 f"{sorted(GEOMETRIES)}")
        if self.clamp not in CLAMP_MODES:
            raise DhbvInputError(f"routing.clamp={self.clamp!r}: expected one of {CLAMP_MODES}")
        if not self.dt > 0:
            raise DhbvInputError(f"routing.dt={self.dt}: the routing step must be > 0 s")
        if not 0.0 <= self.x <= 0.5:
            raise DhbvInputError(f"routing.x={self.x}: Muskingum X must lie in [0, 0.5]")
        if not self.q_min >= 0:
            raise DhbvInputError(f"routing.q_min={self.q_min}: must be >= 0 m3/s")
        lo, hi = self.v_bounds
        if not 0 <= lo < hi:
            raise DhbvInputError(f"routing.velocity_bounds={self.velocity_bounds}: need "
                                 "0 <= v_min < v_max")

    @property
    def mode(self) -> int:
        """Geometry code used by the kernels (0 power law, 1 trapezoid, 2 exact trapezoid)."""
        return GEOMETRIES[self.geometry]

    @property
    def v_bounds(self) -> tuple[float, float]:
        """(v_min, v_max) in m/s after applying the geometry default."""
        if self.velocity_bounds is not None:
            return tuple(float(v) for v in self.velocity_bounds)
        return DEFAULT_VELOCITY_BOUNDS[self.geometry]

    @property
    def clamp_after(self) -> bool:
        return self.clamp == "after"

    def steps_per(self, seconds: float, what: str) -> int:
        """Number of routing steps in ``seconds`` (an exact multiple of dt is required)."""
        k = seconds / self.dt
        if k < 1 or abs(k - round(k)) > 1e-9:
            raise DhbvInputError(f"{what}={seconds} s is not a whole multiple of routing.dt="
                                 f"{self.dt} s")
        return int(round(k))
