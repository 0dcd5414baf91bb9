"""Zonal statistics of user rasters over unit polygons (rasterio + exactextract).

Continuous rasters: coverage-weighted mean (exactextract ``mean``: partial cells count with
their covered fraction; nodata cells are ignored). Categorical rasters: the covered fraction of
each class (exactextract ``frac``), one column ``<name>_frac_<class>`` per class (classes listed
in the config, or all classes found).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.forcing.weights import check_polygons, read_polygons

_KEY = "dhbv_feature_index"


def zonal_attributes(rasters: dict, polygons, id_field: str) -> pd.DataFrame:
    """Attribute table (index: unit id) from ``rasters``.

    ``rasters``: {name: path} (continuous, mean) or {name: {"path":, "stat": "mean"|"frac",
    "classes": [..] (frac only), "scale": 1.0, "offset": 0.0}}; ``polygons``: path or
    GeoDataFrame with ``id_field``. Polygons are reprojected to each raster's CRS.
    """
    import rasterio
    from exactextract import exact_extract

    gdf = read_polygons(polygons, id_field) if not hasattr(polygons, "geometry") else check_polygons(polygons, id_field)
    ids = gdf[id_field].astype(str).to_numpy()
    out = pd.DataFrame(index=pd.Index(ids, name="unit"))
    for name, spec in rasters.items():
        spec = {"path": spec} if isinstance(spec, (str, Path)) else dict(spec)
        path = Path(spec["path"])
        stat = spec.get("stat", "mean")
        if not path.exists():
            raise DhbvInputError(f"raster {path} for attribute {name!r} does not exist; check attributes.zonal in the config")
        if stat not in ("mean", "frac"):
            raise DhbvInputError(f"attribute {name!r}: stat {stat!r} not supported; use mean or frac")
        with rasterio.open(path) as src:
            if src.crs is None:
                raise DhbvInputError(f"raster {path} has no CRS; add one (gdal_edit.py -a_srs) before zonal statistics")
            feats = gdf.to_crs(src.crs)
            feats = feats.assign(**{_KEY: np.arange(len(feats))})[[_KEY, feats.geometry.name]]
            ops = ["mean"] if stat == "mean" else ["frac", "unique"]
            res = exact_extract(src, feats, ops, include_cols=[_KEY], output="pandas").sort_values(_KEY)
        if stat == "mean":
            vals = res["mean"].to_numpy(dtype=float) * float(spec.get("scale", 1.0)) + float(spec.get("offset", 0.0))
            out[name] = vals
        else:
            # exactextract: per feature, "unique" class values and their covered fractions "frac"
            per_unit = [dict(zip(map(_class_key, u), map(float, f))) for u, f in zip(res["unique"], res["frac"])]
            classes = spec.get("classes")
            keys = [_class_key(c) for c in classes] if classes is not None else sorted({k for d in per_unit for k in d}, key=_num_key)
            for k in keys:
                out[f"{name}_frac_{k}"] = np.array([d.get(k, 0.0) for d in per_unit])
    return out


def _class_key(v) -> str:
    """Class label as text: 3.0 -> "3", "forest" -> "forest"."""
    try:
        f = float(v)
        return str(int(f)) if f.is_integer() else f"{f:g}"
    except (TypeError, ValueError):
        return str(v)


def _is_number(s) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _num_key(s):
    return (0, float(s), "") if _is_number(s) else (1, 0.0, s)
