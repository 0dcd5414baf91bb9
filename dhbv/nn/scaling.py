"""Network-output layout: from sigmoid outputs to the HBV 2.0 parameter arrays (docs/model.md#output-layout).

Layout is parameter-major: parameter k occupies columns k·nmul … (k+1)·nmul − 1.

* LSTM output [T, B, 3·nmul]     → dynamic  [T, B, 3, nmul]   order (BETA, K0, BETAET)
* MLP output  [B, 13·nmul + 2]   → static   [B, 13, nmul]     order (FC, K1, K2, LP, PERC, UZL,
  TT, CFMAX, CFR, CWH, C, RT, AC), then the unit-hydrograph (UH) parameters [B, 2]
  (route_a, route_b)

All values stay in (0, 1); the physics maps σ to θ = lo + σ·(hi − lo). :func:`physical_values`
does that mapping for diagnostics given a range table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from dhbv.errors import DhbvInputError
from dhbv.physics.hbv2 import (
    DYNAMIC_PARAMETERS,
    PARAMETER_RANGES,
    STATIC_PARAMETERS,
    UH_PARAMETERS,
)

__all__ = [
    "DYNAMIC_LAYOUT",
    "STATIC_LAYOUT",
    "UH_LAYOUT",
    "canonical_dynamic_order",
    "dynamic_width",
    "static_width",
    "nmul_from_widths",
    "split_dynamic",
    "split_static",
    "apply_dy_drop",
    "physical_values",
]

# The layout is the physics' parameter order (docs/model.md#output-layout); the table order of
# PARAMETER_RANGES is the sort key for re-ordering configured dynamic parameters.
DYNAMIC_LAYOUT: tuple[str, ...] = DYNAMIC_PARAMETERS
STATIC_LAYOUT: tuple[str, ...] = STATIC_PARAMETERS
UH_LAYOUT: tuple[str, ...] = UH_PARAMETERS
_TABLE_ORDER: tuple[str, ...] = tuple(PARAMETER_RANGES)


def canonical_dynamic_order(names: Sequence[str]) -> tuple[str, ...]:
    """Validate a configured list of dynamic parameters and return it in canonical table order.

    The HBV 2.0 physics takes exactly BETA, K0 and BETAET as time-varying parameters; a config
    may list them in any order (e.g. ``["BETAET", "BETA", "K0"]``), the network layout is always
    the table order. Unknown, duplicated or missing names raise :class:`DhbvInputError`.
    """
    names = [str(n) for n in names]
    unknown = [n for n in names if n not in _TABLE_ORDER]
    if unknown:
        raise DhbvInputError(
            f"unknown dynamic parameter name(s) {unknown}; known: {list(_TABLE_ORDER)}"
        )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DhbvInputError(f"dynamic parameter(s) listed twice: {dup}")
    ordered = tuple(sorted(names, key=_TABLE_ORDER.index))
    if ordered != DYNAMIC_LAYOUT:
        raise DhbvInputError(
            f"δHBV2.0 dynamic parameters must be exactly {list(DYNAMIC_LAYOUT)}, got {names}"
        )
    return ordered


def dynamic_width(nmul: int) -> int:
    """LSTM output width for ``nmul`` components: 3·nmul."""
    return len(DYNAMIC_LAYOUT) * int(nmul)


def static_width(nmul: int) -> int:
    """MLP output width for ``nmul`` components: 13·nmul + 2."""
    return len(STATIC_LAYOUT) * int(nmul) + len(UH_LAYOUT)


def nmul_from_widths(dyn_width: int, sta_width: int) -> int:
    """Infer nmul from network output widths (3·nmul and 13·nmul + 2); they must agree."""
    nd, rd = divmod(int(dyn_width), len(DYNAMIC_LAYOUT))
    ns, rs = divmod(int(sta_width) - len(UH_LAYOUT), len(STATIC_LAYOUT))
    if rd or rs or nd < 1 or nd != ns:
        raise DhbvInputError(
            f"network output widths {dyn_width} (dynamic) / {sta_width} (static) are not "
            f"3·nmul / 13·nmul+2 for one nmul"
        )
    return nd


def split_dynamic(out: Tensor, nmul: int) -> Tensor:
    """LSTM output [T, B, 3·nmul] → dynamic parameters [T, B, 3, nmul] (values unchanged)."""
    if out.dim() != 3 or out.shape[-1] != dynamic_width(nmul):
        raise DhbvInputError(
            f"dynamic network output must be [T, B, {dynamic_width(nmul)}] for nmul={nmul}, "
            f"got {list(out.shape)}"
        )
    return out.reshape(out.shape[0], out.shape[1], len(DYNAMIC_LAYOUT), nmul)


def split_static(out: Tensor, nmul: int) -> tuple[Tensor, Tensor]:
    """MLP output [B, 13·nmul + 2] → (static [B, 13, nmul], UH parameters [B, 2])."""
    if out.dim() != 2 or out.shape[-1] != static_width(nmul):
        raise DhbvInputError(
            f"static network output must be [B, {static_width(nmul)}] for nmul={nmul}, "
            f"got {list(out.shape)}"
        )
    n = len(STATIC_LAYOUT) * nmul
    static = out[:, :n].reshape(out.shape[0], len(STATIC_LAYOUT), nmul)
    uh_params = out[:, n:]
    return static, uh_params


def apply_dy_drop(dyn: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """``dy_drop`` regulariser on dynamic parameters dyn [T, B, n_dyn, nmul].

    For every unit and every dynamic parameter independently, with probability ``p`` the whole
    series (all days, all components) is replaced by its last-day value. The caller applies this
    in training only. Returns a new tensor; gradients flow to the kept values.
    """
    if p <= 0.0:
        return dyn
    if p > 1.0:
        raise DhbvInputError(f"dy_drop probability must be in [0, 1], got {p}")
    t, b, k, _ = dyn.shape
    draw = torch.rand((1, b, k, 1), generator=generator, device=dyn.device)
    mask = (draw < p).to(dyn.dtype)
    last = dyn[-1:].expand(t, -1, -1, -1)
    return dyn * (1.0 - mask) + last * mask


def physical_values(
    sigma: Tensor, names: Sequence[str], ranges: Mapping[str, tuple[float, float]], axis: int
) -> dict[str, Tensor]:
    """Map σ ∈ [0, 1] to θ = lo + σ·(hi − lo) for each parameter along ``axis`` of ``sigma``.

    Example: ``physical_values(static, STATIC_LAYOUT, PARAMETER_RANGES, axis=1)`` returns
    {"FC": [B, nmul] in mm, ...}. ``ranges`` must name every parameter in ``names``.
    """
    missing = [n for n in names if n not in ranges]
    if missing:
        raise DhbvInputError(f"parameter range table lacks {missing}")
    if sigma.shape[axis] != len(names):
        raise DhbvInputError(
            f"axis {axis} of the parameter array has {sigma.shape[axis]} entries, expected {len(names)}"
        )
    out = {}
    for k, name in enumerate(names):
        lo, hi = ranges[name]
        out[name] = lo + sigma.select(axis, k) * (hi - lo)
    return out
