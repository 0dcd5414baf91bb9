"""MERIT-Basins unit catchments/river reaches per Pfafstetter level-2 zone, and tables
(gauge → COMID, MERIT attribute tables) from a configured URL or a local folder.

MERIT-Basins (Lin et al. 2019, v1.0 "bugfix1") is distributed through a web form / Google
Drive, so plain-HTTP download only works from a mirror the user configures (``base_url``);
otherwise the files must be placed in ``local_dir`` by hand (:func:`retrieve_merit_basins`
then fails with a "manual download" message naming the expected files).
"""

from __future__ import annotations

from pathlib import Path

from dhbv.errors import DhbvInputError
from dhbv.retrieval.download import copy_prestaged, download, read_sha256sums

MERIT_BASINS_URL_INFO = "https://www.reachhydro.org/home/params/merit-basins"
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
MERIT_NAME = "{kind}_pfaf_{zone}_MERIT_Hydro_v07_Basins_v01_bugfix1"


def merit_basins_files(zone, kinds=("cat", "riv")) -> list[str]:
    """File names of the zone's catchment (cat) and river (riv) shapefiles (all parts)."""
    z = str(zone)
    if not (z.isdigit() and len(z) == 2):
        raise DhbvInputError(f"MERIT-Basins zone must be a 2-digit Pfafstetter level-2 code (e.g. 71), got {zone!r}")
    return [MERIT_NAME.format(kind=k, zone=z) + ext for k in kinds for ext in SHAPEFILE_PARTS]


def retrieve_merit_basins(zones, dest_dir, *, source: str = "prestaged", local_dir=None, base_url: str | None = None,
                          checksums: dict | str | Path | None = None, kinds=("cat", "riv"), **download_kw) -> list[Path]:
    """Fetch MERIT-Basins shapefiles of ``zones`` into ``dest_dir``.

    Order: ``local_dir`` (verified copy) when it holds the file; else, with ``source="online"``
    and ``base_url``, ``<base_url>/<file name>``; else a manual-download error. ``checksums``
    is {file name: sha256} or a ``SHA256SUMS`` file.
    """
    dest_dir = Path(dest_dir)
    sums = read_sha256sums(checksums) if isinstance(checksums, (str, Path)) else dict(checksums or {})
    out, missing = [], []
    for zone in zones:
        for name in merit_basins_files(zone, kinds):
            local = Path(local_dir) / name if local_dir else None
            if local is not None and local.exists():
                out.append(copy_prestaged(local, dest_dir / name, sha256=sums.get(name)))
            elif source == "online" and base_url:
                out.append(download(f"{base_url.rstrip('/')}/{name}", dest_dir / name, sha256=sums.get(name), **download_kw))
            else:
                missing.append(name)
    if missing:
        where = f"{local_dir}" if local_dir else "data.merit_basins.local_dir"
        raise DhbvInputError(
            f"MERIT-Basins files missing ({len(missing)}: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}); "
            f"manual download: get them from {MERIT_BASINS_URL_INFO} and place them in {where} (or set a mirror base_url with data.source: online)"
        )
    return out


def retrieve_table(dest, *, source: str = "prestaged", url: str | None = None, local_path=None, sha256: str | None = None,
                   what: str = "table", **download_kw) -> Path:
    """Fetch a table (gauge → COMID list, attribute CSV/NetCDF) from ``local_path`` or ``url``.

    ``source="prestaged"``: verified copy of ``local_path``; ``"online"``: download ``url``
    (falls back to ``local_path`` when no URL is configured).
    """
    dest = Path(dest)
    if source not in ("prestaged", "online"):
        raise DhbvInputError(f"data.source must be 'online' or 'prestaged', got {source!r}")
    if source == "online" and url:
        return download(url, dest, sha256=sha256, **download_kw)
    if local_path is not None and Path(local_path).exists():
        return copy_prestaged(local_path, dest, sha256=sha256)
    raise DhbvInputError(
        f"{what} {dest.name}: no pre-staged file at {local_path} and no URL for data.source={source}; "
        "set the local path or the URL in the dataset registry"
    )
