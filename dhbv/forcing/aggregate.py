"""Chunked application of coverage weights: gridded daily forcing → unit-catchment forcing.

For every unit c, variable v and day t (``m`` = 1 where the cell value is finite):

    x_c(t) = Σ_g w[c,g]·m_g(t)·x_g(t) / Σ_g w[c,g]·m_g(t),   f_c(t) = Σ_g w[c,g]·m_g(t)

with the weights of :mod:`dhbv.forcing.weights` (rows sum to the unit's covered fraction).
Cells without data are thus dropped and the weights renormalised per time step; when the
*valid covered fraction* f_c(t) falls below ``min_coverage`` the run stops with an error
naming the unit. A unit partly outside the grid is averaged over its covered part (weights
renormalised) and its covered fraction is written to the output (coordinate
``covered_fraction``; ``valid_fraction_min`` is the smallest f_c(t) over all days/variables).

Precipitation and PET are depths (mm d-1), so Σ_c A_c·P_c equals the grid integral
Σ_g A_g·P_g over the covered cells; temperatures are area-weighted means (no lapse-rate
correction). T = (Tmax + Tmin)/2 when the product has no daily mean; PET is computed at unit
level from the unit-mean Tmax/Tmin (or T) at the unit centroid latitude (see
:mod:`dhbv.forcing.pet`).

The time axis is processed in chunks of ``chunk_days`` and each chunk is written straight to
the output NetCDF, so memory does not grow with the length of the period. Only the bounding
box of the cells used by the weights is read from the grid.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import scipy.sparse as sp

from dhbv.errors import DhbvInputError
from dhbv.forcing.grid import STANDARD_UNITS, grid_spec, gridded_variables, open_grid, unit_conversion
from dhbv.forcing.weights import WEIGHTS_METHOD, load_coverage_weights, polygon_hash, read_polygons
from dhbv.io.atomic import atomic_path

log = logging.getLogger(__name__)

FORCING_VARIABLES = ("P", "T", "Tmax", "Tmin", "PET")
LONG_NAMES = {
    "P": "unit-mean daily precipitation",
    "T": "unit-mean daily mean air temperature",
    "Tmax": "unit-mean daily maximum air temperature",
    "Tmin": "unit-mean daily minimum air temperature",
    "PET": "unit-mean daily potential evapotranspiration",
}
PET_FROM_INPUT = "input"


def _parse_variables(variables: dict, ds, source: str, extra: dict) -> dict[str, tuple[str, float, float, str, str | None]]:
    """{std_name: (file variable, scale, offset, source units, extra file or None)} from the config.

    A spec with a ``file`` key is read from that file (opened once into ``extra``)."""
    if not isinstance(variables, dict) or not variables:
        raise DhbvInputError(f"forcing variables for {source} must be a mapping like {{'P': 'prcp', 'Tmax': 'tmax'}}")
    out = {}
    for std, spec in variables.items():
        if std not in FORCING_VARIABLES:
            raise DhbvInputError(f"forcing config for {source}: unknown variable key {std!r}; use {list(FORCING_VARIABLES)}")
        fkey = None
        if isinstance(spec, str):
            name, units = spec, None
        elif isinstance(spec, dict) and "name" in spec:
            name, units = spec["name"], spec.get("units")
            if spec.get("file") is not None:
                fkey = str(spec["file"])
                if fkey not in extra:
                    extra[fkey] = open_grid(fkey)
        else:
            raise DhbvInputError(f"forcing config for {source}: variable {std!r} must be a name or {{name:, units:, file:}}")
        dsv, src_v = (extra[fkey], fkey) if fkey else (ds, source)
        if name not in dsv.data_vars:
            raise DhbvInputError(
                f"forcing grid {src_v} has no variable {name!r} (for {std}); available: "
                f"{gridded_variables(dsv)}; fix forcing.variables"
            )
        file_units = dsv[name].attrs.get("units")
        if units is None:
            if file_units is None:
                raise DhbvInputError(
                    f"forcing grid {source}: variable {name!r} has no units attribute; give units for {std} in forcing.variables"
                )
            units = file_units
        elif file_units is not None:
            cfg = unit_conversion(std, units, where=f"forcing config {std}")
            fil = unit_conversion(std, file_units, where=f"forcing grid {source} variable {name!r}")
            if not np.allclose(cfg, fil):
                raise DhbvInputError(
                    f"forcing grid {source}: variable {name!r} has units {file_units!r} but the config says {units!r}; fix forcing.variables"
                )
        scale, offset = unit_conversion(std, units, where=f"forcing grid {source} variable {name!r}")
        out[std] = (name, scale, offset, str(units), fkey)
    if "P" not in out:
        raise DhbvInputError(f"forcing config for {source}: precipitation 'P' is required in forcing.variables")
    if "T" not in out and not ("Tmax" in out and "Tmin" in out):
        raise DhbvInputError(f"forcing config for {source}: give 'T' or both 'Tmax' and 'Tmin' in forcing.variables")
    return out


def _time_info(ds, source: str):
    if "time" not in ds.coords and "time" not in ds.dims:
        raise DhbvInputError(f"forcing grid {source} has no 'time' coordinate")
    t = ds["time"].values
    if np.issubdtype(t.dtype, np.datetime64):
        idx = pd.DatetimeIndex(t)
        doy = idx.day_of_year.to_numpy()
        dates = list(idx.to_pydatetime())
        calendar = "proleptic_gregorian"
    else:  # cftime objects (non-standard calendars)
        dates = list(t)
        doy = np.array([d.dayofyr for d in dates])
        calendar = getattr(dates[0], "calendar", "standard")
    d0 = dates[0]
    units = f"days since {d0.year:04d}-{d0.month:02d}-{d0.day:02d}"
    return dates, doy, units, calendar


def aggregate_forcing(grid_path, weights_path, polygons_path, out_path, *, variables: dict,
                      pet_method: str = "hargreaves", chunk_days: int = 100, min_coverage: float = 0.5,
                      crs=None, start=None, end=None) -> Path:
    """Aggregate a gridded daily forcing product to unit catchments and write the unit forcing.

    Parameters
    ----------
    grid_path : CF NetCDF file or Zarr store with daily fields (time, y, x), or a list of
        files on the same grid (one per variable, as gridMET serves them).
    weights_path : ``.npz`` from :func:`dhbv.forcing.build_coverage_weights` for this grid.
    polygons_path : the polygon layer the weights were built from (checked against the weights'
        fingerprint; ``None`` skips the check).
    out_path : output NetCDF (docs/datasets.md#unit-forcing: dims (time, unit), P [mm d-1],
        T [degC], PET [mm d-1], optional Tmax/Tmin [degC]; coords unit, area [km2], lat, lon,
        covered_fraction, valid_fraction_min), written atomically.
    variables : {standard name: file variable or {"name":, "units":, "file":}} for P, T, Tmax,
        Tmin, PET (``file``: read this variable from another file on the same grid). Units come from the file's ``units`` attribute unless given here (precipitation
        mm/d, kg m-2 s-1, m, ...; temperature degC or K).
    pet_method : "hargreaves" (needs Tmax/Tmin), "oudin", "hamon" (need T or Tmax/Tmin) or
        "input" (PET taken from the grid, mapping "PET").
    chunk_days : days per processed chunk (memory ∝ chunk_days × cells in the used bbox).
    min_coverage : smallest allowed valid covered fraction of a unit on any day (0–1).
    crs : grid CRS when the file has none (must equal the one used for the weights).
    start, end : optional period (inclusive, anything pandas parses).
    """
    out = Path(out_path)
    source = ", ".join(map(str, grid_path)) if isinstance(grid_path, (list, tuple)) else str(grid_path)
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise DhbvInputError(f"forcing.min_coverage must be within [0, 1], got {min_coverage}")
    if int(chunk_days) < 1:
        raise DhbvInputError(f"forcing.chunk_days must be a positive integer, got {chunk_days}")
    pet_method = str(pet_method).lower()
    w = load_coverage_weights(weights_path)
    ds = open_grid(grid_path)
    extra: dict = {}
    try:
        vmap = _parse_variables(variables, ds, source, extra)
        if pet_method == PET_FROM_INPUT and "PET" not in vmap:
            raise DhbvInputError(f"pet_method 'input' needs a 'PET' entry in forcing.variables for {source}")
        if pet_method == "hargreaves" and not ("Tmax" in vmap and "Tmin" in vmap):
            raise DhbvInputError(
                f"pet_method 'hargreaves' needs Tmax and Tmin in forcing.variables for {source}; use oudin or hamon with T only"
            )
        if pet_method not in (PET_FROM_INPUT, "hargreaves", "oudin", "hamon"):
            raise DhbvInputError(f"unknown pet_method {pet_method!r}; use hargreaves, oudin, hamon or input")
        first_var = vmap["P"][0]
        spec = grid_spec(ds, first_var, crs=crs, source=source)
        if spec.grid_hash() != w.grid_hash or spec.shape != tuple(w.grid_shape):
            raise DhbvInputError(
                f"coverage weights {weights_path} were built for another grid than {source}; rebuild them (build_coverage_weights)"
            )
        for fkey, dsx in extra.items():
            sx = grid_spec(dsx, None, crs=crs, source=fkey)
            if sx.grid_hash() != spec.grid_hash():
                raise DhbvInputError(f"forcing file {fkey} is on another grid than {source}; all forcing files must share one grid")
        for std, (name, _s, _o, _u, fkey) in vmap.items():
            dims = set(map(str, (extra[fkey] if fkey else ds)[name].dims))
            if not {spec.x_dim, spec.y_dim, "time"} <= dims:
                raise DhbvInputError(f"forcing grid {fkey or source}: variable {name!r} lacks dims time/{spec.y_dim}/{spec.x_dim}")
        if polygons_path is not None:
            poly = read_polygons(polygons_path, w.id_field)
            if polygon_hash(poly, w.id_field) != w.polygon_hash:
                raise DhbvInputError(
                    f"coverage weights {weights_path} do not match polygons {polygons_path}; rebuild them (build_coverage_weights)"
                )
        low = np.flatnonzero(w.covered_fraction < min_coverage)
        if low.size:
            names = ", ".join(f"{w.unit_ids[i]} ({w.covered_fraction[i]:.2f})" for i in low[:5])
            raise DhbvInputError(
                f"units outside the forcing grid {source}: covered fraction below min_coverage {min_coverage}: {names}"
                f"{' ...' if low.size > 5 else ''}; use a grid that covers them or lower forcing.min_coverage"
            )
        if start is not None or end is not None:
            ds = ds.sel(time=slice(start, end))
            extra = {k: v.sel(time=slice(start, end)) for k, v in extra.items()}
        for fkey, dsx in extra.items():
            if dsx.sizes.get("time") != ds.sizes.get("time") or not np.array_equal(dsx["time"].values, ds["time"].values):
                raise DhbvInputError(f"forcing file {fkey} has another time axis than {source}; give files covering the same days")
        if ds.sizes.get("time", 0) == 0:
            raise DhbvInputError(f"forcing grid {source} has no days in the period {start}..{end}")
        dates, doy, time_units, calendar = _time_info(ds, source)

        # restrict reads to the bounding box of the cells used by the weights
        ny, nx = spec.shape
        W = w.matrix.tocsr()
        used = np.unique(W.indices)
        if used.size == 0:
            raise DhbvInputError(f"no unit of {weights_path} overlaps the forcing grid {source}")
        r, c = np.divmod(used, nx)
        r0, r1, c0, c1 = int(r.min()), int(r.max()) + 1, int(c.min()), int(c.max()) + 1
        rr, cc = np.divmod(W.indices, nx)
        sub_idx = (rr - r0) * (c1 - c0) + (cc - c0)
        Wsub = sp.csr_matrix((W.data, sub_idx, W.indptr), shape=(W.shape[0], (r1 - r0) * (c1 - c0)))

        nt, nunit = len(dates), W.shape[0]
        with atomic_path(out) as tmp:
            valid_min = _write_unit_forcing(
                tmp, ds, extra, spec, vmap, Wsub, w, (r0, r1, c0, c1), dates, doy, time_units, calendar,
                int(chunk_days), float(min_coverage), pet_method, source, nt, nunit,
            )
    finally:
        ds.close()
        for dsx in extra.values():
            dsx.close()
    log.info("wrote %s: %d units x %d days (min valid covered fraction %.3f)", out, nunit, nt, valid_min)
    return out


def _read_block(ds, name, spec, tsl, box):
    r0, r1, c0, c1 = box
    da = ds[name].isel({"time": tsl, spec.y_dim: slice(r0, r1), spec.x_dim: slice(c0, c1)})
    extra = [d for d in da.dims if d not in ("time", spec.y_dim, spec.x_dim)]
    for d in extra:
        if da.sizes[d] != 1:
            raise DhbvInputError(f"forcing grid {spec.source}: variable {name!r} has an extra dimension {d!r} of size {da.sizes[d]}; select one level")
        da = da.isel({d: 0})
    arr = np.asarray(da.transpose("time", spec.y_dim, spec.x_dim).values)
    if arr.dtype != np.float32 and arr.dtype != np.float64:
        arr = arr.astype(np.float64)
    return np.ascontiguousarray(arr.reshape(arr.shape[0], -1))


def _write_unit_forcing(tmp, ds, extra, spec, vmap, Wsub, w, box, dates, doy, time_units, calendar, chunk_days,
                        min_coverage, pet_method, source, nt, nunit):
    from dhbv.forcing.pet import compute_pet

    out_vars = ["P", "T", "PET"] + [v for v in ("Tmax", "Tmin") if v in vmap]
    nc = netCDF4.Dataset(tmp, "w", format="NETCDF4")
    valid_min = np.full(nunit, np.inf)
    try:
        nc.createDimension("time", nt)
        nc.createDimension("unit", nunit)
        tv = nc.createVariable("time", "f8", ("time",))
        tv.units, tv.calendar, tv.standard_name, tv.axis = time_units, calendar, "time", "T"
        tv[:] = netCDF4.date2num(dates, time_units, calendar=calendar)
        uv = nc.createVariable("unit", str, ("unit",))
        uv.long_name = f"unit catchment id ({w.id_field})"
        uv.cf_role = "timeseries_id"
        uv[:] = np.asarray(w.unit_ids, dtype=object)
        coords = "area lat lon covered_fraction valid_fraction_min"
        for name, vals, units, ln in (
            ("area", w.area_km2, "km2", "unit catchment area (geodesic, WGS84)"),
            ("lat", w.lat, "degrees_north", "latitude of the unit centroid"),
            ("lon", w.lon, "degrees_east", "longitude of the unit centroid"),
            ("covered_fraction", w.covered_fraction, "1", "fraction of the unit area inside the forcing grid"),
        ):
            v = nc.createVariable(name, "f8", ("unit",))
            v.units, v.long_name = units, ln
            v[:] = vals
        vmin = nc.createVariable("valid_fraction_min", "f8", ("unit",))
        vmin.units = "1"
        vmin.long_name = "smallest daily fraction of the unit area covered by valid grid cells (all variables)"
        tchunk = max(1, min(nt, chunk_days))
        ncvars = {}
        for v in out_vars:
            var = nc.createVariable(v, "f4", ("time", "unit"), zlib=True, complevel=1, fill_value=np.float32(np.nan),
                                    chunksizes=(min(tchunk, 365), min(nunit, 512)))
            var.units = STANDARD_UNITS[v]
            var.long_name = LONG_NAMES[v]
            var.coordinates = coords
            if v in vmap:
                var.source_variable = vmap[v][0]
                var.source_units = vmap[v][3]
            var.cell_methods = "time: mean unit: mean (area-weighted)" if v.startswith("T") else "time: sum unit: mean (area-weighted)"
            ncvars[v] = var
        ncvars["PET"].pet_method = pet_method

        row_sum = np.asarray(Wsub.sum(axis=1)).ravel()
        for t0 in range(0, nt, chunk_days):
            tsl = slice(t0, min(nt, t0 + chunk_days))
            res = {}
            for std, (name, scale, offset, _u, fkey) in vmap.items():
                x = _read_block(extra[fkey] if fkey else ds, name, spec, tsl, box)
                valid = np.isfinite(x)
                if valid.all():  # common case: no gaps -> the denominator is the row sum
                    den = np.broadcast_to(row_sum[:, None], (row_sum.size, x.shape[0]))
                else:
                    x[~valid] = 0.0
                    den = np.asarray(Wsub @ valid.T.astype(np.float64))
                del valid
                num = np.asarray(Wsub @ x.T)  # (unit, t), source units
                num = num * scale + offset * den  # linear unit conversion after aggregation
                bad = den < min_coverage
                if bad.any():
                    ui, ti = np.argwhere(bad)[0]
                    raise DhbvInputError(
                        f"unit {w.unit_ids[ui]}: only {den[ui, ti]:.2f} of its area has valid {std} ({name!r}) in {source} "
                        f"on {dates[t0 + ti]:%Y-%m-%d} (min_coverage {min_coverage}); fill the grid gaps or lower forcing.min_coverage"
                    )
                valid_min = np.minimum(valid_min, den.min(axis=1))
                res[std] = (num / den).T  # (t, unit)
            if "T" not in res:
                res["T"] = 0.5 * (res["Tmax"] + res["Tmin"])
            if pet_method != PET_FROM_INPUT:
                d = doy[tsl][:, None]
                res["PET"] = compute_pet(pet_method, lat_deg=w.lat[None, :], day_of_year=d, tmean_c=res["T"],
                                         tmin_c=res.get("Tmin"), tmax_c=res.get("Tmax"))
            for v in out_vars:
                ncvars[v][tsl, :] = res[v].astype(np.float32)
        vmin[:] = valid_min
        src_title = ds.attrs.get("title", "")
        nc.setncatts({
            "Conventions": "CF-1.8",
            "title": "unit-catchment daily forcing",
            "source": source + (f" ({src_title})" if src_title else ""),
            "method": f"area-weighted mean over exact coverage weights ({WEIGHTS_METHOD}); NaN cells dropped and weights renormalised per day",
            "weights_fingerprint": w.fingerprint,
            "pet_method": pet_method,
            "min_coverage": float(min_coverage),
            "history": f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} dhbv.forcing.aggregate_forcing from {source}",
        })
    finally:
        nc.close()
    return float(valid_min.min()) if valid_min.size else float("nan")
