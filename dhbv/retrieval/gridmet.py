"""gridMET daily forcing subsets via the THREDDS NetCDF Subset Service (plain HTTP, no account).

Why gridMET (Abatzoglou 2013) rather than Daymet: gridMET serves one aggregated file per
variable for 1979–present on the Northwest Knowledge THREDDS server, so a basin/zone subset
for any period is a *single* NCSS request per variable, with a standard calendar and tmax/tmin
(K), precipitation (mm) and a reference ET. Daymet's ORNL NCSS needs one request per year and
variable and uses a 365-day calendar (31 December dropped in leap years).

Files are written unchanged (download only); :func:`dhbv.forcing.aggregate_forcing` reads
them as a list (time dimension ``day`` is recognised; units K → degC converted).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from dhbv.errors import DhbvInputError
from dhbv.retrieval.download import download

GRIDMET_NCSS = "http://thredds.northwestknowledge.net:8080/thredds/ncss/agg_met_{var}_1979_CurrentYear_CONUS.nc"
#: gridMET short name -> NetCDF variable name inside the aggregated file
GRIDMET_VARIABLES = {
    "pr": "precipitation_amount",   # mm (daily total)
    "tmmx": "air_temperature",      # K, daily maximum
    "tmmn": "air_temperature",      # K, daily minimum
    "pet": "potential_evapotranspiration",  # mm, grass reference (Penman-Monteith)
    "srad": "surface_downwelling_shortwave_flux_in_air",
    "vs": "wind_speed",
}
def gridmet_ncss_url(var: str, bbox: tuple[float, float, float, float], start: str, end: str, *,
                     base_url: str = GRIDMET_NCSS) -> str:
    """NCSS URL for gridMET variable ``var`` (e.g. "pr") over ``bbox`` = (west, south, east,
    north) in degrees and the inclusive period ``start``..``end`` (YYYY-MM-DD)."""
    if var not in GRIDMET_VARIABLES:
        raise DhbvInputError(f"unknown gridMET variable {var!r}; use one of {sorted(GRIDMET_VARIABLES)}")
    w, s, e, n = map(float, bbox)
    if not (w < e and s < n):
        raise DhbvInputError(f"gridMET bbox {bbox} must be (west, south, east, north) with west < east, south < north")
    q = {
        "var": GRIDMET_VARIABLES[var], "north": f"{n:.4f}", "west": f"{w:.4f}", "east": f"{e:.4f}", "south": f"{s:.4f}",
        "disableProjSubset": "on", "horizStride": "1",
        "time_start": f"{start}T00:00:00Z", "time_end": f"{end}T00:00:00Z", "timeStride": "1", "accept": "netcdf4",
    }
    return base_url.format(var=var) + "?" + urlencode(q)


def retrieve_gridmet(bbox, start: str, end: str, out_dir, *, variables=("pr", "tmmx", "tmmn"),
                     buffer_deg: float = 0.05, base_url: str = GRIDMET_NCSS,
                     filename: str = "gridmet_{var}_{start}_{end}.nc", **download_kw) -> dict[str, Path]:
    """Download gridMET subsets (one NetCDF per variable, named by ``filename``).

    ``bbox`` (west, south, east, north) is widened by ``buffer_deg`` so that cells only partly
    inside the unit polygons are included. Returns {var: path}.
    """
    w, s, e, n = map(float, bbox)
    box = (w - buffer_deg, s - buffer_deg, e + buffer_deg, n + buffer_deg)
    out_dir = Path(out_dir)
    out = {}
    for v in variables:
        url = gridmet_ncss_url(v, box, start, end, base_url=base_url)
        out[v] = download(url, out_dir / filename.format(var=v, start=start, end=end),
                          **download_kw)
    return out


def gridmet_forcing_variables(files: dict) -> dict:
    """``variables`` mapping for :func:`dhbv.forcing.aggregate_forcing` from the files of
    :func:`retrieve_gridmet` ({"pr": path, "tmmx": path, "tmmn": path}); pass
    ``grid_path=files["pr"]``. tmmx and tmmn both name their variable ``air_temperature`` (K),
    hence one file per variable."""
    out = {"P": {"name": "precipitation_amount", "units": "mm", "file": str(files["pr"])}}
    if "tmmx" in files and "tmmn" in files:
        out["Tmax"] = {"name": "air_temperature", "units": "K", "file": str(files["tmmx"])}
        out["Tmin"] = {"name": "air_temperature", "units": "K", "file": str(files["tmmn"])}
    if "pet" in files:
        out["PET"] = {"name": "potential_evapotranspiration", "units": "mm", "file": str(files["pet"])}
    return out
