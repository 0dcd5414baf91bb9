"""Reading regular CF grids (NetCDF or Zarr) of daily forcing, and unit conversion.

The aggregation needs, from a gridded product, the cell-centre coordinates of a *regular*
grid (constant spacing along x and along y), its coordinate reference system and the names
and units of the forcing variables. This module finds them in CF metadata:

* x/y axes: coordinate ``axis`` attribute (X/Y), ``standard_name`` (longitude/latitude,
  projection_x_coordinate/projection_y_coordinate) or the names lon/longitude/x and
  lat/latitude/y;
* CRS: explicit ``crs=`` argument, else the variable's ``grid_mapping`` variable (``crs_wkt``,
  ``spatial_ref`` or CF grid-mapping attributes via :meth:`pyproj.CRS.from_cf`), else a variable
  named ``crs``/``spatial_ref``, else EPSG:4326 when the axes are longitude/latitude.

Units are mapped to the project's standard units (precipitation and PET mm d-1, temperature
degC) by :func:`to_standard_units`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import xarray as xr

from dhbv.errors import DhbvInputError

#: Authalic (equal-area) sphere radius of WGS84, m (used when a CRS has a spherical datum).
EARTH_RADIUS_M = 6371007.181

_X_NAMES = ("lon", "longitude", "x", "rlon", "nav_lon")
_Y_NAMES = ("lat", "latitude", "y", "rlat", "nav_lat")
_X_STD = ("longitude", "projection_x_coordinate", "grid_longitude")
_Y_STD = ("latitude", "projection_y_coordinate", "grid_latitude")


def open_grid(path) -> xr.Dataset:
    """Open a gridded forcing product lazily: a NetCDF file, a Zarr store, or a list of them
    (e.g. one file per variable as served by gridMET; merged on identical coordinates).

    A time dimension named otherwise (gridMET's ``day``; any coordinate with
    ``standard_name: time`` or ``axis: T``) is renamed to ``time``.
    """
    if isinstance(path, (list, tuple)):
        parts = [open_grid(p) for p in path]
        if len(parts) == 1:
            return parts[0]
        try:
            return xr.merge(parts, compat="override", join="exact", combine_attrs="drop_conflicts")
        except ValueError as exc:
            raise DhbvInputError(
                f"forcing files {[str(p) for p in path]} do not share the same grid/time axis: {str(exc).splitlines()[0]}"
            ) from exc
    p = Path(path)
    if not p.exists():
        raise DhbvInputError(f"forcing grid {p} does not exist; check the forcing grid path in the config")
    try:
        if p.is_dir() or p.suffix == ".zarr":
            ds = xr.open_dataset(p, engine="zarr", chunks=None, cache=False)
        else:
            ds = xr.open_dataset(p, chunks=None, cache=False)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DhbvInputError(f"cannot read forcing grid {p}: {msg}; give a CF NetCDF file or Zarr store") from exc
    ds.encoding.setdefault("source", str(p))
    if "time" not in ds.dims:
        for d in ds.dims:
            attrs = ds[d].attrs if d in ds.variables else {}
            if str(d).lower() in ("day", "t", "date") or attrs.get("standard_name") == "time" or str(attrs.get("axis", "")).upper() == "T":
                ds = ds.rename({d: "time"})
                break
    return ds


@dataclass(frozen=True)
class GridSpec:
    """Geometry of a regular grid.

    ``x``/``y`` are the cell-centre coordinates in the file's order (degrees for geographic
    grids, CRS units otherwise); ``x_dim``/``y_dim`` the dimension names; ``crs`` the grid CRS.
    """

    x: np.ndarray
    y: np.ndarray
    x_dim: str
    y_dim: str
    crs: pyproj.CRS
    source: str = ""
    cell_dx: float | None = None  # cell size from CF bounds (needed for single-cell axes)
    cell_dy: float | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y.size, self.x.size)

    @property
    def ncells(self) -> int:
        return self.y.size * self.x.size

    @property
    def dx(self) -> float:
        if self.x.size > 1:
            return float(abs(self.x[1] - self.x[0]))
        return self.cell_dx if self.cell_dx else _single_spacing(self.source, "x")

    @property
    def dy(self) -> float:
        if self.y.size > 1:
            return float(abs(self.y[1] - self.y[0]))
        return self.cell_dy if self.cell_dy else _single_spacing(self.source, "y")

    @property
    def is_geographic(self) -> bool:
        return bool(self.crs.is_geographic)

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the outer cell edges, CRS units."""
        return (
            float(self.x.min() - self.dx / 2),
            float(self.y.min() - self.dy / 2),
            float(self.x.max() + self.dx / 2),
            float(self.y.max() + self.dy / 2),
        )

    def cell_areas_m2(self) -> np.ndarray:
        """True area of every cell, m², shape (ny, nx) in file order.

        Geographic grids: exact area of a latitude-longitude rectangle on the CRS ellipsoid,
        A = Δλ·[F(φ_n) − F(φ_s)] with F(φ) = b²/2·(sinφ/(1 − e²sin²φ) + artanh(e·sinφ)/e)
        (the sphere's R²·Δλ·(sinφ_n − sinφ_s) when e = 0); latitudes clipped to ±90°.
        Projected grids: |dx·dy| times the squared metre-per-unit factor of the CRS axis (the
        projection's own scale distortion, e.g. of Web Mercator, is not corrected: use an
        equal-area projection for projected forcing).
        """
        if self.is_geographic:
            lat_n = np.clip(self.y + self.dy / 2, -90.0, 90.0)
            lat_s = np.clip(self.y - self.dy / 2, -90.0, 90.0)
            a, e2 = _ellipsoid(self.crs)
            band = np.abs(zone_area_per_radian(lat_n, a, e2) - zone_area_per_radian(lat_s, a, e2))
            row = np.radians(self.dx) * band
            return np.repeat(row[:, None], self.x.size, axis=1)
        factor = _linear_unit_factor(self.crs)
        return np.full(self.shape, abs(self.dx * self.dy) * factor**2)

    def grid_hash(self) -> str:
        """sha256 of the cell-centre coordinates and the CRS (WKT)."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.x, dtype="<f8").tobytes())
        h.update(b"|")
        h.update(np.ascontiguousarray(self.y, dtype="<f8").tobytes())
        h.update(b"|")
        h.update(self.crs.to_wkt().encode())
        return h.hexdigest()


def _ellipsoid(crs: pyproj.CRS) -> tuple[float, float]:
    """(semi-major axis [m], first eccentricity squared) of the CRS ellipsoid (WGS84 if none)."""
    ell = crs.ellipsoid
    if ell is None:
        return 6378137.0, 0.00669437999014
    a = float(ell.semi_major_metre)
    inv_f = float(ell.inverse_flattening or 0.0)
    f = 1.0 / inv_f if inv_f > 0 else 0.0
    return a, f * (2.0 - f)


def zone_area_per_radian(lat_deg, a: float = EARTH_RADIUS_M, e2: float = 0.0):
    """Area [m²] between the equator and latitude ``lat_deg`` per radian of longitude.

    Ellipsoid (a, e²): b²/2·(sinφ/(1 − e²sin²φ) + artanh(e·sinφ)/e); sphere (e² = 0): a²·sinφ.
    """
    s = np.sin(np.radians(np.asarray(lat_deg, dtype=float)))
    if e2 <= 0.0:
        return a * a * s
    e = np.sqrt(e2)
    b2 = a * a * (1.0 - e2)
    return 0.5 * b2 * (s / (1.0 - e2 * s * s) + np.arctanh(e * s) / e)


def _single_spacing(source: str, axis: str) -> float:
    raise DhbvInputError(
        f"forcing grid {source} has a single cell along {axis} and no CF bounds variable; add {axis} bounds to give the cell size"
    )


def _bounds_width(ds: xr.Dataset, name: str) -> float | None:
    bname = ds[name].attrs.get("bounds") if name in ds.variables else None
    if bname and bname in ds.variables:
        b = np.asarray(ds[bname].values, dtype=float)
        if b.ndim == 2 and b.shape[1] == 2 and np.all(np.isfinite(b)):
            return float(abs(b[0, 1] - b[0, 0]))
    return None


def _linear_unit_factor(crs: pyproj.CRS) -> float:
    try:
        factor = crs.axis_info[0].unit_conversion_factor
    except (IndexError, AttributeError):
        factor = 1.0
    return float(factor or 1.0)


def _find_axis(ds: xr.Dataset, dims: tuple[str, ...], which: str, source: str) -> str:
    names, stds = (_X_NAMES, _X_STD) if which == "X" else (_Y_NAMES, _Y_STD)
    for d in dims:
        if d in ds.coords or d in ds.variables:
            attrs = ds[d].attrs
            if str(attrs.get("axis", "")).upper() == which or attrs.get("standard_name") in stds:
                return d
    for d in dims:
        if d.lower() in names:
            return d
    raise DhbvInputError(
        f"forcing grid {source}: cannot find the {which} axis among dimensions {list(dims)}; "
        f"name it {'/'.join(names[:3])} or set its axis attribute to {which}"
    )


def _crs_from_dataset(ds: xr.Dataset, var: str | None, xname: str, source: str) -> pyproj.CRS | None:
    candidates: list[str] = []
    if var is not None and var in ds.variables:
        gm = ds[var].attrs.get("grid_mapping") or ds[var].encoding.get("grid_mapping")
        if gm:
            candidates.append(str(gm).split(":")[0].strip())
    candidates += [n for n in ("crs", "spatial_ref", "transverse_mercator", "lambert_conformal_conic") if n in ds.variables]
    for name in candidates:
        if name not in ds.variables:
            continue
        attrs = dict(ds[name].attrs)
        for key in ("crs_wkt", "spatial_ref"):
            if key in attrs:
                try:
                    return pyproj.CRS.from_user_input(attrs[key])
                except pyproj.exceptions.CRSError:
                    pass
        if "epsg_code" in attrs:
            try:
                return pyproj.CRS.from_user_input(str(attrs["epsg_code"]))
            except pyproj.exceptions.CRSError:
                pass
        if "grid_mapping_name" in attrs:
            try:
                return pyproj.CRS.from_cf(attrs)
            except (pyproj.exceptions.CRSError, KeyError, ValueError):
                pass
    std = ds[xname].attrs.get("standard_name") if xname in ds.variables else None
    units = str(ds[xname].attrs.get("units", "")) if xname in ds.variables else ""
    if std == "longitude" or units.startswith("degree") or xname.lower() in ("lon", "longitude"):
        return pyproj.CRS.from_epsg(4326)
    return None


def gridded_variables(ds: xr.Dataset) -> list[str]:
    """Names of the data variables with at least two dimensions (sorted)."""
    return sorted(str(k) for k, v in ds.data_vars.items() if v.ndim >= 2)


def check_degrees(x, y, crs: pyproj.CRS, what: str) -> None:
    """Coordinates of a geographic CRS must be degrees: longitudes within [-180, 360],
    latitudes within [-90, 90]; else the CRS is mislabelled (projected metres, a wrong .prj)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.nanmin(x) < -180 or np.nanmax(x) > 360 or np.nanmin(y) < -90 or np.nanmax(y) > 90:
        raise DhbvInputError(
            f"{what}: coordinates x {np.nanmin(x):.6g}..{np.nanmax(x):.6g}, y {np.nanmin(y):.6g}.."
            f"{np.nanmax(y):.6g} are not degrees, but its CRS {crs.to_string()} is geographic; "
            "the CRS is mislabelled: set the CRS the coordinates are in (e.g. the projected one)")


def grid_spec(ds: xr.Dataset, var: str | None = None, *, crs=None, source: str = "") -> GridSpec:
    """Describe the regular grid of ``ds`` (optionally of variable ``var``).

    ``crs`` (anything :class:`pyproj.CRS` accepts) overrides the CRS found in the file.
    Raises :class:`DhbvInputError` when the axes or the CRS cannot be found or the grid is not
    regular (constant spacing to 1e-6 of the cell size).
    """
    source = source or str(ds.encoding.get("source", "<dataset>"))
    if var is not None:
        if var not in ds.data_vars:
            raise DhbvInputError(
                f"forcing grid {source} has no variable {var!r}; available: {gridded_variables(ds)}; "
                "fix the variable mapping in the forcing config"
            )
        dims = tuple(map(str, ds[var].dims))
    else:
        dims = tuple(map(str, ds.dims))
    xname = _find_axis(ds, dims, "X", source)
    yname = _find_axis(ds, dims, "Y", source)
    x = np.asarray(ds[xname].values, dtype=float)
    y = np.asarray(ds[yname].values, dtype=float)
    for name, c in ((xname, x), (yname, y)):
        if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)):
            raise DhbvInputError(f"forcing grid {source}: coordinate {name!r} must be 1-D and finite (curvilinear grids are not supported)")
        if c.size > 1:
            d = np.diff(c)
            if np.any(d == 0) or not (np.all(d > 0) or np.all(d < 0)):
                raise DhbvInputError(f"forcing grid {source}: coordinate {name!r} is not strictly monotonic")
            if np.max(np.abs(d - d[0])) > 1e-6 * abs(d[0]) + 1e-9:
                raise DhbvInputError(
                    f"forcing grid {source}: coordinate {name!r} is not evenly spaced; regrid to a regular grid first"
                )
    if crs is not None:
        try:
            crs_obj = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as exc:
            raise DhbvInputError(f"forcing grid {source}: cannot interpret crs={crs!r}; give e.g. 'EPSG:4326'") from exc
    else:
        crs_obj = _crs_from_dataset(ds, var, xname, source)
        if crs_obj is None:
            raise DhbvInputError(
                f"forcing grid {source} has no CRS (no grid_mapping/crs variable and projected axes); pass crs= explicitly"
            )
    if crs_obj.is_geographic:
        check_degrees(x, y, crs_obj, f"forcing grid {source}")
    return GridSpec(x=x, y=y, x_dim=xname, y_dim=yname, crs=crs_obj, source=source,
                    cell_dx=_bounds_width(ds, xname), cell_dy=_bounds_width(ds, yname))


def grid_spec_from_path(path, var: str | None = None, *, crs=None) -> GridSpec:
    """:func:`grid_spec` of the file at ``path``."""
    ds = open_grid(path)
    try:
        return grid_spec(ds, var, crs=crs, source=str(path))
    finally:
        ds.close()


# --------------------------------------------------------------------------- units

_PRECIP_FACTORS = {
    # depth rates -> mm d-1
    "mm/d": 1.0, "mm/day": 1.0, "mm d-1": 1.0, "mm day-1": 1.0, "mm d^-1": 1.0, "mm.d-1": 1.0,
    "mm": 1.0,  # a daily total
    "kg m-2 d-1": 1.0, "kg m-2 day-1": 1.0, "kg/m2/d": 1.0, "kg/m^2/day": 1.0, "kg m-2": 1.0,
    "kg m-2 s-1": 86400.0, "kg/m2/s": 86400.0, "kg m^-2 s^-1": 86400.0, "kg/m^2/s": 86400.0,
    "mm/s": 86400.0, "mm s-1": 86400.0,
    "mm/h": 24.0, "mm h-1": 24.0, "mm/hr": 24.0,
    "m": 1000.0, "m/d": 1000.0, "m d-1": 1000.0, "m/day": 1000.0, "m day-1": 1000.0,
    "m s-1": 86400000.0, "m/s": 86400000.0,
    "in/d": 25.4, "in/day": 25.4, "inch/day": 25.4,
}
_TEMP_OFFSETS = {
    "degc": 0.0, "c": 0.0, "°c": 0.0, "celsius": 0.0, "deg_c": 0.0, "degrees_celsius": 0.0,
    "degree_celsius": 0.0, "deg c": 0.0, "degreec": 0.0,
    "k": -273.15, "degk": -273.15, "kelvin": -273.15, "deg_k": -273.15, "degrees_kelvin": -273.15,
}

#: Standard (CF) units of the unit-forcing variables.
STANDARD_UNITS = {"P": "mm d-1", "PET": "mm d-1", "T": "degC", "Tmax": "degC", "Tmin": "degC"}
_KIND = {"P": "depth", "PET": "depth", "T": "temperature", "Tmax": "temperature", "Tmin": "temperature"}


def unit_conversion(std_name: str, units: str, *, where: str = "") -> tuple[float, float]:
    """(scale, offset) so that ``value_standard = value * scale + offset``.

    ``std_name`` is one of P, PET (→ mm d-1) or T, Tmax, Tmin (→ degC). Raises
    :class:`DhbvInputError` naming ``where`` for unknown or incompatible units.
    """
    kind = _KIND.get(std_name)
    if kind is None:
        raise DhbvInputError(f"{where}: unknown forcing variable {std_name!r}; use one of {sorted(_KIND)}")
    u = " ".join(str(units).strip().split())
    if kind == "depth":
        key = u.lower().replace("**", "^")
        for cand, f in _PRECIP_FACTORS.items():
            if key == cand.lower():
                return f, 0.0
        raise DhbvInputError(
            f"{where}: units {units!r} cannot be converted to mm d-1 for {std_name}; "
            "use mm/d, kg m-2 s-1, m (daily total) or give the correct units in the forcing config"
        )
    key = u.lower().replace("degrees ", "deg").replace("degree ", "deg")
    if key in _TEMP_OFFSETS:
        return 1.0, _TEMP_OFFSETS[key]
    raise DhbvInputError(
        f"{where}: units {units!r} cannot be converted to degC for {std_name}; use degC or K, "
        "or give the correct units in the forcing config"
    )
