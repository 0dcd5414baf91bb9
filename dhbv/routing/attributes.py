"""Reach attributes for the learned channel parameters (docs/routing.md §10).

The routing parameter network (:mod:`dhbv.routing.learned`) reads static attributes of each
reach and its unit catchment. The ten of δHBV2.0MC on MERIT (shipped for the Juniata) are
``ROUTING_ATTRIBUTES``:

| name | meaning | unit |
|---|---|---|
| SoilGrids1km_clay | clay fraction of the soil | % |
| aridity | PET / P | – |
| meanelevation | mean elevation | m |
| meanP | mean annual precipitation | mm yr⁻¹ |
| NDVI | normalised difference vegetation index | – |
| meanslope | mean terrain slope | ° (MERIT attribute) |
| log10_uparea | log10 of the upstream area | log10(km²) |
| SoilGrids1km_sand | sand fraction of the soil | % |
| ETPOT_Hargr | Hargreaves potential evapotranspiration | mm yr⁻¹ |
| Porosity | soil porosity | – |

Reading checks the reach ids against the network (every network reach needs a row; rows of
other reaches are dropped). Normalisation is z-scoring with the domain's mean and standard
deviation of the valid values of each attribute; missing values (NaN) are filled with that
mean (0 after normalisation) and counted per attribute. The statistics are stored with a
trained routing model (:class:`AttributeStatistics`, JSON) so that applying it to another
network normalises with the training domain's numbers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dhbv.errors import DhbvInputError

log = logging.getLogger(__name__)

#: the ten reach attributes of δHBV2.0MC on MERIT, in the network's input order
ROUTING_ATTRIBUTES = ("SoilGrids1km_clay", "aridity", "meanelevation", "meanP", "NDVI",
                      "meanslope", "log10_uparea", "SoilGrids1km_sand", "ETPOT_Hargr",
                      "Porosity")
#: names accepted for the reach-id coordinate of an attribute file
ID_NAMES = ("COMID", "comid", "reach", "divide_id", "unit")


@dataclass
class AttributeStatistics:
    """Normalisation of the routing attributes: x̂ = (x − mean)/std, NaN → mean (x̂ = 0).

    names : attribute names (input order of the network); mean, std : per attribute, in the
    attribute's unit, over the valid values of the training domain (std = 1 where an
    attribute is constant there); filled : NaNs filled per attribute in the training domain.
    """

    names: tuple
    mean: np.ndarray
    std: np.ndarray
    filled: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"names": list(self.names),
                "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std],
                "filled": {k: int(v) for k, v in self.filled.items()},
                "normalisation": "(x - mean) / std; NaN filled with mean"}

    @classmethod
    def from_dict(cls, d: dict, source: str = "attribute statistics") -> "AttributeStatistics":
        try:
            names = tuple(str(n) for n in d["names"])
            mean = np.asarray(d["mean"], np.float64)
            std = np.asarray(d["std"], np.float64)
        except (KeyError, TypeError, ValueError):
            raise DhbvInputError(f"{source}: expected keys names, mean, std (one value per "
                                 "attribute); re-train the routing model") from None
        if not (mean.shape == std.shape == (len(names),)) or not (std > 0).all() \
                or not np.isfinite(mean).all():
            raise DhbvInputError(f"{source}: names, mean and std differ in length or hold "
                                 "non-positive std / NaN mean; re-train the routing model")
        return cls(names, mean, std, dict(d.get("filled", {})))

    def save(self, path) -> Path:
        from dhbv.io.standard import write_text_atomic

        return write_text_atomic(json.dumps(self.to_dict(), indent=1) + "\n", path)

    @classmethod
    def load(cls, path) -> "AttributeStatistics":
        path = Path(path)
        if not path.is_file():
            raise DhbvInputError(f"attribute statistics {path} does not exist; is the run "
                                 "directory a trained routing model?")
        try:
            d = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            raise DhbvInputError(f"attribute statistics {path} is not JSON; re-train the "
                                 "routing model") from None
        return cls.from_dict(d, str(path))


def read_reach_attributes(path, reach_ids, names=ROUTING_ATTRIBUTES) -> np.ndarray:
    """Raw attributes [reaches, attributes] (float64, NaN kept) in the order of ``reach_ids``.

    ``path`` is a NetCDF with one variable per attribute along a reach-id dimension
    (``COMID``, ``reach``, ``divide_id`` or ``unit``). One-line errors name the file when it is
    unreadable, lacks an attribute or the id coordinate, holds duplicate ids, or misses
    network reaches. Extra reaches in the file are ignored.
    """
    from dhbv.io.standard import open_netcdf

    ds = open_netcdf(path, "routing attributes")
    idname = next((k for k in ID_NAMES if k in ds.variables), None)
    if idname is None:
        raise DhbvInputError(f"routing attributes file {path}: no reach-id coordinate (one of "
                             f"{', '.join(ID_NAMES)})")
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise DhbvInputError(f"routing attributes file {path}: no variable {missing[0]!r} "
                             f"({len(missing)} of the {len(names)} attributes missing); add it")
    try:
        ids = np.asarray(ds[idname].values).astype(np.int64)
    except (TypeError, ValueError):
        raise DhbvInputError(f"routing attributes file {path}: {idname} is not an integer "
                             "reach id") from None
    u, k = np.unique(ids, return_counts=True)
    if (k > 1).any():
        raise DhbvInputError(f"routing attributes file {path}: reach {int(u[k > 1][0])} "
                             f"appears {int(k[k > 1][0])} times; keep one row per reach")
    reach_ids = np.asarray(reach_ids, np.int64)
    srt = np.argsort(ids)
    pos = np.minimum(np.searchsorted(ids[srt], reach_ids), ids.size - 1)
    found = ids[srt][pos] == reach_ids
    if not found.all():
        absent = reach_ids[~found]
        raise DhbvInputError(f"routing attributes file {path}: {absent.size} network reaches "
                             f"have no attributes (e.g. {absent[:5].tolist()}); give a file "
                             "covering the network")
    rows = srt[pos]
    out = np.empty((reach_ids.size, len(names)), np.float64)
    for j, name in enumerate(names):
        v = ds[name]
        if v.dims != (idname,) and v.ndim != 1:
            raise DhbvInputError(f"routing attributes file {path}: {name} has dimensions "
                                 f"{v.dims}, expected ({idname},)")
        out[:, j] = np.asarray(v.values, np.float64)[rows]
    bad = ~np.isnan(out) & ~np.isfinite(out)
    if bad.any():
        j = int(np.flatnonzero(bad.any(0))[0])
        raise DhbvInputError(f"routing attributes file {path}: {names[j]} holds infinite "
                             "values; fix or set them to NaN (filled)")
    if extra := ids.size - reach_ids.size:
        log.info("routing attributes %s: %d reaches not in the network ignored", path, extra)
    return out


def fit_statistics(raw: np.ndarray, names=ROUTING_ATTRIBUTES) -> AttributeStatistics:
    """Mean and standard deviation (ddof 0) of each attribute over its valid values.

    An attribute without any valid value is an error; a constant one gets std = 1.
    """
    raw = np.asarray(raw, np.float64)
    if raw.ndim != 2 or raw.shape[1] != len(names):
        raise DhbvInputError(f"routing attributes: shape {raw.shape}, expected [reaches, "
                             f"{len(names)}]")
    valid = ~np.isnan(raw)
    count = valid.sum(0)
    if (count == 0).any():
        j = int(np.flatnonzero(count == 0)[0])
        raise DhbvInputError(f"routing attributes: {names[j]} is NaN on every reach; drop it "
                             "or give values")
    mean = np.where(valid, raw, 0.0).sum(0) / count
    var = np.where(valid, (raw - mean) ** 2, 0.0).sum(0) / count
    std = np.sqrt(var)
    for j in np.flatnonzero(std == 0):
        log.warning("routing attribute %s is constant over the domain; std set to 1", names[j])
    std = np.where(std > 0, std, 1.0)
    filled = {n: int((~valid[:, j]).sum()) for j, n in enumerate(names)}
    return AttributeStatistics(tuple(names), mean, std, filled)


def normalise(raw: np.ndarray, stats: AttributeStatistics, what: str = "routing attributes"
              ) -> tuple[np.ndarray, dict]:
    """(x̂ [reaches, attributes], NaNs filled per attribute): NaN → the statistics' mean,
    then (x − mean)/std. The counts are logged."""
    raw = np.asarray(raw, np.float64)
    if raw.ndim != 2 or raw.shape[1] != len(stats.names):
        raise DhbvInputError(f"{what}: shape {raw.shape}, expected [reaches, "
                             f"{len(stats.names)}] ({', '.join(stats.names)})")
    nan = np.isnan(raw)
    filled = {n: int(nan[:, j].sum()) for j, n in enumerate(stats.names)}
    x = np.where(nan, stats.mean, raw)
    out = (x - stats.mean) / stats.std
    log.info("%s: NaNs filled with the domain mean per attribute: %s", what,
             ", ".join(f"{k} {v}" for k, v in filled.items()))
    return out, filled


def reach_inputs(path, reach_ids, stats: AttributeStatistics | None = None,
                 names=ROUTING_ATTRIBUTES):
    """(normalised attributes [reaches, A], statistics, raw [reaches, A]) for a network.

    With ``stats`` None the statistics are fitted on these reaches (training); otherwise the
    given ones are applied (a trained model on any network).
    """
    names = tuple(stats.names) if stats is not None else tuple(names)
    raw = read_reach_attributes(path, reach_ids, names)
    if stats is None:
        stats = fit_statistics(raw, names)
    x, _ = normalise(raw, stats, f"routing attributes {path}")
    return x, stats, raw
