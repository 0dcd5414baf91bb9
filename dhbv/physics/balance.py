"""Per-basin water balance of an HBV 2.0 run (docs/model.md#options-and-corrections).

Over the reported window, with all terms in mm (sums of daily mm/d values):

    residual = ΣP − ΣAET − ΣQ − ΔS            (Q unrouted; ΔS of the five stores)
    closure  = residual − ΣLF − Σclamp_water

``residual`` is what the default (paper) model leaks: the realised regional exchange plus the
water created by the SM/SLZ floors. ``closure`` accounts for both and is round-off for every
option set. With ``routed=True`` the UH-routed flow replaces Q and the change of the volume in
transit inside the UH is added to ΔS.
"""

from __future__ import annotations

import torch


def water_balance(forcing: torch.Tensor, out: dict, warmup: int = 0, routed: bool = False
                  ) -> dict[str, torch.Tensor]:
    """Water balance per basin from ``run_hbv2(..., full_output=True)`` results.

    forcing : the [T, B, 3] forcing passed to ``run_hbv2``; ``warmup`` the same value.
    Returns a dict of [B] tensors (mm): ``P``, ``AET``, ``Q``, ``dS``, ``exchange`` (ΣLF,
    + = gain), ``clamp_water``, ``residual``, ``closure`` and ``relative_closure`` /
    ``relative_residual`` (divided by ΣP).
    """
    required = ("storage", "storage_start", "LF", "clamp_water")
    missing = [k for k in required if k not in out]
    if missing:
        raise KeyError(f"water_balance needs run_hbv2(..., full_output=True); missing {missing}")
    p = forcing[warmup:, :, 0].to(out["runoff"].dtype).sum(dim=0)
    aet = out["AET"].sum(dim=0)
    ds = out["storage"][-1] - out["storage_start"]
    if routed:
        q = out["streamflow"].sum(dim=0)
        ds = ds + out["uh_in_transit"][-1] - out["uh_in_transit_start"]
    else:
        q = out["runoff"].sum(dim=0)
    exchange = out["LF"].sum(dim=0)
    clamp = out["clamp_water"].sum(dim=0)
    residual = p - aet - q - ds
    closure = residual + exchange + clamp
    denom = torch.clamp(p, min=1e-12)
    return {"P": p, "AET": aet, "Q": q, "dS": ds, "exchange": exchange, "clamp_water": clamp,
            "residual": residual, "closure": closure, "relative_residual": residual / denom,
            "relative_closure": closure / denom}
