"""Gauge positions and areas for the evaluation table, from a dataset's standard forms."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["gauge_locations"]


def gauge_locations(forcing_path, membership_path) -> pd.DataFrame:
    """Per gauge: ``lat``, ``lon`` [degrees] and ``area`` [km2] from the unit forcing (coords
    area, lat, lon per unit) and the gauge membership (gauge, unit, weight pairs).

    The position is the mean of the gauge's units' positions weighted by weight × unit area
    (a lumped basin: its own position, i.e. the gauge's); the area is Σ weight × unit area.
    Units without a position give NaN. Index: gauge id (str).
    """
    import xarray as xr

    from dhbv.errors import DhbvInputError
    from dhbv.io.standard import read_membership

    with xr.open_dataset(forcing_path) as f:     # coordinates only: the series stay on disk
        missing = [c for c in ("unit", "area", "lat", "lon") if c not in f.variables]
        if missing:
            raise DhbvInputError(f"unit forcing {forcing_path}: missing {missing}")
        units = pd.DataFrame({c: f[c].values.astype(np.float64) for c in ("area", "lat", "lon")},
                             index=pd.Index([str(u) for u in f["unit"].values]))
    m = read_membership(membership_path)
    pairs = pd.DataFrame({"gauge": m["gauge"].values, "unit": m["unit"].values,
                          "weight": m["weight"].values.astype(np.float64)})
    pairs = pairs.join(units, on="unit")
    pairs["wa"] = pairs["weight"] * pairs["area"]
    rows = {}
    for g, p in pairs.groupby("gauge", sort=False):
        wa = p["wa"].to_numpy()
        w = wa if np.isfinite(wa).all() and wa.sum() > 0 else np.ones(len(p))
        rows[str(g)] = {"area": float(np.nansum(wa)),
                        "lat": float(np.sum(w * p["lat"]) / w.sum()),
                        "lon": float(np.sum(w * p["lon"]) / w.sum())}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "gauge"
    return out
