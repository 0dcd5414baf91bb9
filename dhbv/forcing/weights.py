"""Exact coverage weights of grid cells in unit-catchment polygons (sparse units × cells).

For a unit c and a grid cell g the weight is

    w[c, g] = area(cell g ∩ unit c) / area(unit c),

computed with exactextract (``cell_id`` + ``coverage`` operations: the exact fraction of each
cell covered by the polygon) multiplied by the true cell area (spherical zone formula on
geographic grids, see :meth:`GridSpec.cell_areas_m2`). Each row is scaled to sum to the
*covered fraction* f_c = area(unit ∩ grid extent)/area(unit) (computed in the grid CRS), so a
row sums to 1 (± 1e-12) for a unit fully inside the grid. The aggregation renormalises the
weights over the valid cells of every time step (see :mod:`dhbv.forcing.aggregate`).

Partial-cell coverage is measured in the grid's coordinate plane; on geographic grids this
neglects the change of cos(latitude) *within* a cell (relative error < 1e-3 for 1/8° cells).

The matrix is stored once as CSR components in a ``.npz`` together with the unit ids, unit
area (km², geodesic on WGS84), centroid lat/lon (degrees), the covered fraction and a
fingerprint (sha256 of grid coordinates + grid CRS + polygon geometries/CRS/ids). A call with
an unchanged grid and polygon set reuses the stored file.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import scipy.sparse as sp
import shapely
from shapely.geometry import box

from dhbv.errors import DhbvInputError
from dhbv.forcing.grid import GridSpec, check_degrees, grid_spec_from_path
from dhbv.io.atomic import atomic_path

log = logging.getLogger(__name__)

WEIGHTS_METHOD = "exactextract coverage fraction x true cell area (dhbv weights v1)"
_KEY = "dhbv_feature_index"


@dataclass
class CoverageWeights:
    """Sparse coverage weights and the per-unit metadata stored with them.

    ``matrix`` (CSR, units × cells; columns index cells of the grid flattened in the file's
    (y, x) order), ``unit_ids`` (str), ``area_km2`` (geodesic unit area), ``lat``/``lon``
    (unit centroid, degrees), ``covered_fraction`` (fraction of the unit area inside the grid
    extent = row sums), ``grid_shape`` (ny, nx), hashes and the id field.
    """

    matrix: sp.csr_matrix
    unit_ids: np.ndarray
    area_km2: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    covered_fraction: np.ndarray
    grid_shape: tuple[int, int]
    grid_hash: str
    polygon_hash: str
    id_field: str
    grid_crs_wkt: str

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.grid_hash, self.polygon_hash)


def fingerprint_of(grid_hash: str, polygon_hash: str) -> str:
    """Combined fingerprint of a grid hash and a polygon hash (sha256 hex, 64 chars)."""
    return hashlib.sha256(f"{WEIGHTS_METHOD}|{grid_hash}|{polygon_hash}".encode()).hexdigest()


# --------------------------------------------------------------------------- polygons


def read_polygons(path, id_field: str) -> gpd.GeoDataFrame:
    """Read a polygon layer (GeoPackage, shapefile, GeoJSON, ...) keyed by ``id_field``.

    Checks: the id column exists, ids are unique and not null, geometries are non-empty
    (multi)polygons (invalid ones are repaired with ``make_valid``), a CRS is set.
    """
    p = Path(path)
    if not p.exists():
        raise DhbvInputError(f"polygon layer {p} does not exist; check the unit polygon path in the config")
    try:
        gdf = gpd.read_file(p)
    except Exception as exc:  # noqa: BLE001
        raise DhbvInputError(f"cannot read polygon layer {p}: {str(exc).splitlines()[0]}") from exc
    return check_polygons(gdf, id_field, source=str(p))


def check_polygons(gdf: gpd.GeoDataFrame, id_field: str, *, source: str = "<polygons>") -> gpd.GeoDataFrame:
    """Validate a polygon GeoDataFrame (see :func:`read_polygons`) and return a clean copy."""
    if id_field not in gdf.columns:
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        raise DhbvInputError(f"polygon layer {source} has no id column {id_field!r}; columns: {cols}")
    if gdf.crs is None:
        raise DhbvInputError(f"polygon layer {source} has no CRS; add a .prj / crs member or reproject it")
    if len(gdf) == 0:
        raise DhbvInputError(f"polygon layer {source} is empty")
    if gdf.crs.is_geographic:
        check_degrees(gdf.total_bounds[[0, 2]], gdf.total_bounds[[1, 3]], gdf.crs,
                      f"polygon layer {source}")
    ids = gdf[id_field]
    if ids.isna().any():
        raise DhbvInputError(f"polygon layer {source}: column {id_field!r} has empty ids; fill them")
    sids = ids.map(_id_to_str)
    dup = sids[sids.duplicated()].unique()
    if len(dup):
        raise DhbvInputError(f"polygon layer {source}: duplicate ids in {id_field!r}: {list(dup[:5])}; make them unique")
    out = gdf[[id_field, gdf.geometry.name]].copy()
    out[id_field] = sids.values
    geom = out.geometry
    bad = geom.is_empty | geom.isna()
    if bad.any():
        raise DhbvInputError(f"polygon layer {source}: empty geometry for ids {list(sids[bad.values][:5])}; remove them")
    gtypes = set(geom.geom_type)
    if not gtypes <= {"Polygon", "MultiPolygon", "GeometryCollection"}:
        raise DhbvInputError(f"polygon layer {source}: geometry types {sorted(gtypes)}; unit catchments must be polygons")
    invalid = ~geom.is_valid
    if invalid.any():
        fixed = shapely.make_valid(geom[invalid].values)
        fixed = [_polygonal_part(g) for g in fixed]
        out.loc[invalid, out.geometry.name] = fixed
        log.info("repaired %d invalid polygons in %s", int(invalid.sum()), source)
    return out.reset_index(drop=True)


def _id_to_str(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _polygonal_part(g):
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else g


def polygon_hash(gdf: gpd.GeoDataFrame, id_field: str) -> str:
    """sha256 of the polygon ids, geometries (WKB) and CRS, in layer order."""
    h = hashlib.sha256()
    h.update(id_field.encode())
    h.update(gdf.crs.to_wkt().encode() if gdf.crs is not None else b"nocrs")
    for uid, wkb in zip(gdf[id_field].astype(str), shapely.to_wkb(gdf.geometry.values, output_dimension=2)):
        h.update(uid.encode())
        h.update(b"\0")
        h.update(wkb)
    return h.hexdigest()


def _to_grid_frame(gdf: gpd.GeoDataFrame, spec: GridSpec) -> gpd.GeoDataFrame:
    """Reproject polygons to the grid CRS and match the grid's longitude convention."""
    out = gdf if gdf.crs.equals(spec.crs) else gdf.to_crs(spec.crs)
    if spec.is_geographic:
        xmin, _, xmax, _ = spec.bounds()
        geoms = out.geometry.values
        cx = shapely.get_x(shapely.centroid(geoms))
        if xmax > 180.0:  # grid in 0..360: move western-hemisphere polygons east
            shift = np.where(cx < 0.0, 360.0, 0.0)
        else:  # grid in -180..180: move polygons given in 0..360 back west
            shift = np.where(cx > 180.0, -360.0, 0.0)
        if np.any(shift != 0):
            geoms = np.array(
                [shapely.transform(g, lambda c, s=s: c + np.array([s, 0.0])) if s else g for g, s in zip(geoms, shift)],
                dtype=object,
            )
            out = out.set_geometry(gpd.GeoSeries(geoms, crs=out.crs, index=out.index))
    return out


def _unit_geodesy(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geodesic area (km², WGS84) and area-weighted centroid (lat, lon in degrees)."""
    g4326 = gdf.to_crs(4326)
    geod = pyproj.Geod(ellps="WGS84")
    area = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in g4326.geometry.values]) / 1e6
    ea = gdf.to_crs(6933)  # WGS 84 / EASE-Grid 2.0 global, equal-area: true centroid
    cen = gpd.GeoSeries(ea.geometry.centroid, crs=6933).to_crs(4326)
    return area, cen.y.to_numpy(), cen.x.to_numpy()


# --------------------------------------------------------------------------- weights


def compute_coverage_weights(spec: GridSpec, polygons: gpd.GeoDataFrame, id_field: str) -> CoverageWeights:
    """Exact coverage weights of the cells of ``spec`` in every polygon (see module docstring)."""
    from exactextract import exact_extract
    from exactextract.raster import NumPyRasterSource

    polygons = check_polygons(polygons, id_field)
    phash = polygon_hash(polygons, id_field)
    area_km2, lat, lon = _unit_geodesy(polygons)
    poly = _to_grid_frame(polygons, spec)
    ny, nx = spec.shape
    xmin, ymin, xmax, ymax = spec.bounds()
    # exactextract reads north-up rasters (row 0 = ymax); cell_id = row * nx + col in that frame
    raster = NumPyRasterSource(np.zeros((ny, nx), dtype=np.float32), xmin, ymin, xmax, ymax,
                               srs_wkt=spec.crs.to_wkt())
    feats = gpd.GeoDataFrame({_KEY: np.arange(len(poly), dtype=np.int64)}, geometry=poly.geometry.values, crs=spec.crs)
    res = exact_extract(raster, feats, ["cell_id", "coverage"], include_cols=[_KEY], output="pandas")
    y_asc = spec.y.size > 1 and spec.y[1] > spec.y[0]
    x_desc = spec.x.size > 1 and spec.x[1] < spec.x[0]
    cell_area = spec.cell_areas_m2().ravel()

    extent = box(xmin, ymin, xmax, ymax)
    geoms = poly.geometry.values
    inside = shapely.within(geoms, extent)
    poly_area = shapely.area(geoms)
    frac = np.ones(len(poly))
    part = ~inside
    if part.any():
        frac[part] = shapely.area(shapely.intersection(geoms[part], extent)) / np.where(poly_area[part] > 0, poly_area[part], 1.0)
    frac = np.clip(frac, 0.0, 1.0)

    rows, cols, vals = [], [], []
    for k, cid, cov in zip(res[_KEY].to_numpy(), res["cell_id"], res["coverage"]):
        cid = np.asarray(cid, dtype=np.int64)
        cov = np.asarray(cov, dtype=float)
        keep = cov > 0
        if not keep.any():
            continue
        cid, cov = cid[keep], cov[keep]
        r, c = np.divmod(cid, nx)
        if y_asc:
            r = ny - 1 - r
        if x_desc:
            c = nx - 1 - c
        flat = r * nx + c
        w = cov * cell_area[flat]
        w = w / w.sum() * frac[int(k)]
        rows.append(np.full(flat.size, int(k)))
        cols.append(flat)
        vals.append(w)
    if rows:
        mat = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(len(poly), ny * nx))
    else:
        mat = sp.csr_matrix((len(poly), ny * nx))
    mat.sum_duplicates()
    mat.sort_indices()
    covered = np.asarray(mat.sum(axis=1)).ravel()
    return CoverageWeights(
        matrix=mat,
        unit_ids=polygons[id_field].astype(str).to_numpy(),
        area_km2=area_km2,
        lat=lat,
        lon=lon,
        covered_fraction=covered,
        grid_shape=(ny, nx),
        grid_hash=spec.grid_hash(),
        polygon_hash=phash,
        id_field=id_field,
        grid_crs_wkt=spec.crs.to_wkt(),
    )


def save_coverage_weights(w: CoverageWeights, out_path) -> Path:
    """Write ``w`` atomically to ``out_path`` (.npz)."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    m = w.matrix.tocsr()
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                data=m.data, indices=m.indices, indptr=m.indptr, shape=np.asarray(m.shape, dtype=np.int64),
                unit_ids=np.asarray(w.unit_ids, dtype=str), area_km2=w.area_km2, lat=w.lat, lon=w.lon,
                covered_fraction=w.covered_fraction, grid_shape=np.asarray(w.grid_shape, dtype=np.int64),
                grid_hash=np.asarray(w.grid_hash), polygon_hash=np.asarray(w.polygon_hash),
                fingerprint=np.asarray(w.fingerprint), id_field=np.asarray(w.id_field),
                grid_crs_wkt=np.asarray(w.grid_crs_wkt), method=np.asarray(WEIGHTS_METHOD),
            )
    return out


def load_coverage_weights(path) -> CoverageWeights:
    """Read weights written by :func:`save_coverage_weights`."""
    p = Path(path)
    if not p.exists():
        raise DhbvInputError(f"coverage weights {p} do not exist; run build_coverage_weights first")
    try:
        z = np.load(p, allow_pickle=False)
        mat = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
        return CoverageWeights(
            matrix=mat, unit_ids=z["unit_ids"].astype(str), area_km2=z["area_km2"], lat=z["lat"], lon=z["lon"],
            covered_fraction=z["covered_fraction"], grid_shape=tuple(int(v) for v in z["grid_shape"]),
            grid_hash=str(z["grid_hash"]), polygon_hash=str(z["polygon_hash"]), id_field=str(z["id_field"]),
            grid_crs_wkt=str(z["grid_crs_wkt"]),
        )
    except KeyError as exc:
        raise DhbvInputError(f"coverage weights {p} lack member {exc}; rebuild them with build_coverage_weights") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DhbvInputError(f"cannot read coverage weights {p}: {exc}; rebuild them") from exc


def build_coverage_weights(grid_path, polygons_path, id_field: str, out_path, *, crs=None, var: str | None = None,
                           reuse: bool = True) -> CoverageWeights:
    """Build (or reuse) the coverage weights of ``grid_path`` cells in ``polygons_path`` units.

    ``grid_path``: NetCDF/Zarr (or a list of files on one grid); ``id_field``: polygon column with the unit ids (e.g. ``COMID``); ``crs``: grid CRS when the
    file has none; ``var``: a gridded variable whose (y, x) dimensions define the grid (default:
    the dataset's dimensions). When ``out_path`` already holds weights with the same fingerprint
    and ``reuse`` is true it is returned unchanged. Returns the weights (also written to
    ``out_path``, .npz).
    """
    spec = grid_spec_from_path(grid_path, var, crs=crs)
    polygons = read_polygons(polygons_path, id_field)
    fp = fingerprint_of(spec.grid_hash(), polygon_hash(polygons, id_field))
    out = Path(out_path)
    if reuse and out.exists():
        try:
            old = load_coverage_weights(out)
            if old.fingerprint == fp:
                log.info("coverage weights %s are up to date (fingerprint %s)", out, fp[:12])
                return old
        except DhbvInputError:
            pass
    w = compute_coverage_weights(spec, polygons, id_field)
    save_coverage_weights(w, out)
    log.info("wrote coverage weights %s: %d units x %d cells, %d non-zeros", out, *w.matrix.shape, w.matrix.nnz)
    return w
