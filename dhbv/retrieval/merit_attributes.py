"""Unit-catchment attribute tables of MERIT-Basins zones (δHBV2.0 attribute names).

The δHBV2.0 unit-catchment attributes (climate, soil, land cover, topography per MERIT unit
catchment, keyed by COMID) are not on a public download service; like the MERIT-Basins
shapefiles they are copied from a local folder where the user placed them, or downloaded from
a mirror the user configures. One NetCDF per Pfafstetter level-2 zone,
``merit_attributes_<zone>.nc``, readable by :func:`dhbv.attributes.tables.read_merit_attributes`.
"""
from __future__ import annotations

from pathlib import Path

from dhbv.errors import DhbvInputError
from dhbv.retrieval.download import copy_prestaged, download

MERIT_ATTRIBUTES_NAME = "merit_attributes_{zone}.nc"


def retrieve_merit_attributes(zone, dest, *, local_dir=None, base_url: str | None = None,
                              sha256: str | None = None, **download_kw) -> Path:
    """Fetch the zone's attribute table to ``dest``: a verified copy from ``local_dir`` when it
    holds the file, else ``<base_url>/<name>``; else a one-line manual-download error."""
    z = str(zone)
    if not (z.isdigit() and len(z) == 2):
        raise DhbvInputError(f"MERIT zone must be a 2-digit Pfafstetter level-2 code (e.g. 71), "
                             f"got {zone!r}")
    name = MERIT_ATTRIBUTES_NAME.format(zone=z)
    local = Path(local_dir) / name if local_dir else None
    if local is not None and local.exists():
        return copy_prestaged(local, dest, sha256=sha256)
    if base_url:
        return download(f"{base_url.rstrip('/')}/{name}", dest, sha256=sha256, **download_kw)
    raise DhbvInputError(f"MERIT attribute table {name} missing: place it in "
                         f"{local_dir or 'retrieve.merit_basins.local_dir'} (or set "
                         "retrieve.merit_basins.base_url to a mirror holding it)")
