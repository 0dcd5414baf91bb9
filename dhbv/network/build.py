"""Build a domain's routing network from MERIT-Basins files (docs/network.md).

Entry points: :func:`build_network` (in memory) and :func:`build_topology` (writes the
network NetCDF, optionally the DDR zarr store, and returns a :class:`NetworkSummary`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.io.merit import UP_FIELDS, read_catchments, read_reach_table
from dhbv.network.network import Network
from dhbv.network.store import export_ddr_zarr, write_network
from dhbv.network.topology import (
    DEFAULT_MIN_SLOPE,
    _fmt_ids,
    accumulate_upstream,
    strahler_order,
    topology_from_table,
    upstream_sum,
)

log = logging.getLogger(__name__)

#: Relative tolerance of the check ``uparea_i >= Σ uparea of the direct upstream reaches``.
UPAREA_RTOL = 1e-3


def _fill_nan_with_mean(values: np.ndarray, what: str, comid: np.ndarray, source: str,
                        notes: list, *, positive: bool) -> np.ndarray:
    bad = ~np.isfinite(values) | ((values <= 0) if positive else False)
    if bad.any():
        good = values[~bad]
        if good.size == 0:
            raise DhbvInputError(f"{source}: field {what!r} has no valid values")
        msg = (f"{what}: {int(bad.sum())} missing/invalid values replaced by the network mean "
               f"{good.mean():.6g} (COMIDs {_fmt_ids(comid[bad], 5)})")
        log.warning("%s: %s", source, msg)
        notes.append(msg)
        values = np.where(bad, good.mean(), values)
    return values


DANGLING_POLICIES = ("error", "outlet")


def _check_dangling(topo, all_ids: np.ndarray, policy: str, source: str) -> None:
    """Outlets whose NextDownID names a reach missing from the table: an error (policy
    "error") when the network has more outlets than that one."""
    if policy not in DANGLING_POLICIES:
        raise DhbvInputError(f"network.dangling_downstream {policy!r}: use one of "
                             f"{', '.join(DANGLING_POLICIES)}")
    nd = topo.next_down[topo.is_outlet]
    natural = (nd <= 0) | ~np.isin(nd, all_ids)   # not outlets made by dropping a cycle
    dangling = (nd > 0) & ~np.isin(nd, all_ids)
    if policy == "error" and dangling.any() and natural.sum() > 1:
        ids = topo.comid[topo.is_outlet][dangling]
        raise DhbvInputError(
            f"{source}: reach COMID {ids[0]} drains to NextDownID {nd[dangling][0]}, which is not "
            f"in the table ({int(dangling.sum())} such reach(es), {int(natural.sum())} outlets "
            "in all), so its branch would not reach the others' outlet; restore the missing rows "
            "or fix NextDownID, or set network.dangling_downstream: outlet if the domain really "
            "drains to several outlets")


def build_network(
    flowlines,
    catchments=None,
    *,
    min_slope: float = DEFAULT_MIN_SLOPE,
    cycle_policy: str = "error",
    field_map: Mapping[str, str] | None = None,
    catchment_field_map: Mapping[str, str] | None = None,
    area_source: str = "auto",
    layer: str | None = None,
    geodataset: str = "merit",
    dangling_downstream: str = "error",
) -> Network:
    """Build the topologically ordered network of one domain.

    Parameters
    ----------
    flowlines
        MERIT ``riv_pfaf_*`` file, reduced flowline file (COMID, NextDownID, slope, length
        [m]), CSV reach table (MERIT column names) or DataFrame. See :mod:`dhbv.io.merit`.
    catchments
        Optional unit-catchment polygons (``cat_pfaf_*``, or reduced with ``area`` in m²).
        When given, they define ``unitarea`` [km²]; every polygon must match a flowline and
        every flowline a polygon.
    min_slope
        Floor for ``slope`` [m/m]; ``slope_raw`` keeps the values as read.
    cycle_policy
        ``"error"`` or ``"drop"`` (see :func:`dhbv.network.topology.topology_from_table`).
    field_map, catchment_field_map
        ``{canonical: source column}`` overrides for the two files.
    area_source
        Catchment area source, see :func:`dhbv.io.merit.read_catchments`.
    dangling_downstream
        ``"error"``: a reach whose NextDownID names a reach missing from the table stops the
        build when the network has more than one outlet (a lost row would silently cut its
        branch off from the gauge); ``"outlet"``: such reaches are outlets of the domain. A
        network with a single outlet may always drain out of the domain (a clipped basin).

    Unit and drainage areas
        ``unitarea`` comes from the catchments, else from a ``unitarea`` field, else from
        ``uparea − Σ uparea of the direct upstream reaches`` (floored at 0). ``uparea`` comes
        from the ``uparea`` field if present (checked: ≥ Σ upstream uparea within
        :data:`UPAREA_RTOL`), else it is Σ unitarea of the reach and all its ancestors.
    """
    table = read_reach_table(flowlines, field_map=field_map, layer=layer)
    source = table.attrs.get("source", "reach table")
    has_up = all(k in table for k in UP_FIELDS)
    topo = topology_from_table(
        table["COMID"].to_numpy(),
        table["NextDownID"].to_numpy(),
        table[list(UP_FIELDS)].to_numpy() if has_up else None,
        cycle_policy=cycle_policy,
        source=source,
    )
    _check_dangling(topo, table["COMID"].to_numpy(), dangling_downstream, source)
    rows = topo.input_row
    comid = topo.comid
    notes: list[str] = []
    if topo.n_external_upstream:
        notes.append(f"{topo.n_external_upstream} up1..up4 entries name reaches outside the domain")
    if topo.n_nextdown_only_edges:
        notes.append(f"{topo.n_nextdown_only_edges} edges only via NextDownID")
    if topo.dropped_cycles:
        notes.append("dropped cycle reaches " + _fmt_ids([c for cy in topo.dropped_cycles for c in cy], 20))

    length_m = _fill_nan_with_mean(table["length_m"].to_numpy()[rows], "length_m", comid, source,
                                   notes, positive=True)
    slope_raw = table["slope"].to_numpy()[rows].astype(np.float64)
    slope_filled = _fill_nan_with_mean(slope_raw, "slope", comid, source, notes, positive=False)
    slope = np.maximum(slope_filled, min_slope)
    n_floor = int((slope_filled < min_slope).sum())
    if n_floor:
        notes.append(f"slope floored at {min_slope:g} for {n_floor} reaches")

    # ---- unit areas -------------------------------------------------------------------------
    area_desc = ""
    if catchments is not None:
        cat = read_catchments(catchments, field_map=catchment_field_map, area_source=area_source)
        cname = cat.attrs.get("source", "catchments")
        area_desc = f"{cname} ({cat.attrs.get('area_source', '')})"
        cid = cat["COMID"].to_numpy()
        u, cnt = np.unique(cid, return_counts=True)
        if (cnt > 1).any():
            raise DhbvInputError(
                f"{cname}: duplicate catchment COMIDs {_fmt_ids(u[cnt > 1], 5)}; dissolve the "
                "polygons of each COMID into one"
            )
        all_ids = table["COMID"].to_numpy()
        orphan = ~np.isin(cid, all_ids)
        if orphan.any():
            raise DhbvInputError(
                f"{cname}: {int(orphan.sum())} catchment polygons have no matching flowline in "
                f"{source} (COMIDs {_fmt_ids(cid[orphan], 5)}); use the cat_pfaf/riv_pfaf files "
                "of the same basin or clip both to the same domain"
            )
        s = pd.Series(cat["unitarea"].to_numpy(), index=cid)
        unitarea = s.reindex(comid).to_numpy()
        missing = ~np.isfinite(unitarea)
        if missing.any():
            raise DhbvInputError(
                f"{cname}: {int(missing.sum())} flowlines of {source} have no catchment polygon "
                f"(COMIDs {_fmt_ids(comid[missing], 5)}); every MERIT reach has a unit catchment"
            )
    elif "unitarea" in table and np.isfinite(table["unitarea"].to_numpy()).all():
        unitarea = table["unitarea"].to_numpy()[rows].astype(np.float64)
        area_desc = f"{source} (field unitarea [km2])"
    elif "uparea" in table and np.isfinite(table["uparea"].to_numpy()).all():
        up = table["uparea"].to_numpy()[rows].astype(np.float64)
        unitarea = up - upstream_sum(topo, up)
        neg = unitarea < 0
        if neg.any():
            notes.append(f"unitarea = uparea - Σ upstream uparea < 0 for {int(neg.sum())} reaches, set to 0")
        unitarea = np.maximum(unitarea, 0.0)
        area_desc = f"{source} (unitarea derived from uparea)"
    else:
        raise DhbvInputError(
            f"{source}: no unit areas: pass the catchment polygons or give a 'unitarea' (km²) or "
            "'uparea' (km²) field"
        )

    # ---- drainage areas ---------------------------------------------------------------------
    accumulated = accumulate_upstream(topo, unitarea)
    if "uparea" in table and np.isfinite(table["uparea"].to_numpy()).all():
        uparea = table["uparea"].to_numpy()[rows].astype(np.float64)
        ups = upstream_sum(topo, uparea)
        bad = uparea < ups * (1.0 - UPAREA_RTOL)
        if bad.any():
            msg = (f"uparea smaller than the sum of its upstream reaches for {int(bad.sum())} "
                   f"reaches (COMIDs {_fmt_ids(comid[bad], 5)})")
            log.warning("%s: %s", source, msg)
            notes.append(msg)
        rel = np.abs(uparea - accumulated) / np.maximum(uparea, 1e-12)
        notes.append(f"max |uparea - Σ ancestor unitarea| / uparea = {rel.max():.3g}")
    else:
        uparea = accumulated

    strahler = strahler_order(topo)
    if "strahler" in table:
        given = table["strahler"].to_numpy()[rows]
        mism = np.isfinite(given) & (given != strahler)
        if mism.any():
            notes.append(f"Strahler order differs from the field 'order' for {int(mism.sum())} reaches")
    return Network.from_topology(
        topo,
        length_m=length_m,
        slope_raw=slope_raw,
        slope=slope,
        uparea=uparea,
        unitarea=unitarea,
        strahler=strahler,
        min_slope=float(min_slope),
        geodataset=geodataset,
        source=source,
        area_source=area_desc,
        notes=notes,
    )


@dataclass
class NetworkSummary:
    """What the network stage built (also logged).

    ``outlets`` lists the outlet COMIDs; ``external_outlets`` maps outlets whose NextDownID is a
    reach outside the domain to that COMID; ``outlet_uparea_km2`` is the drainage area of the
    largest outlet.
    """

    out_path: str
    n_reaches: int
    n_edges: int
    n_outlets: int
    n_headwaters: int
    n_levels: int
    max_upstream: int
    outlets: list
    external_outlets: dict
    largest_outlet: int
    outlet_uparea_km2: float
    dropped_cycles: list
    ddr_zarr_path: str | None = None
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(net: Network, out_path: str | Path, ddr_zarr_path=None) -> NetworkSummary:
    """Summary numbers of a network."""
    out = net.is_outlet
    ext = out & (net.next_down > 0)
    oi = np.flatnonzero(out)
    k = int(oi[np.nanargmax(net.uparea[oi])]) if oi.size and np.isfinite(net.uparea[oi]).any() else (
        int(oi[-1]) if oi.size else -1)
    return NetworkSummary(
        out_path=str(out_path),
        n_reaches=net.n,
        n_edges=net.n_edges,
        n_outlets=int(out.sum()),
        n_headwaters=int(net.is_headwater.sum()),
        n_levels=net.n_levels,
        max_upstream=net.max_upstream,
        outlets=net.comid[out].tolist(),
        external_outlets=dict(zip(net.comid[ext].tolist(), net.next_down[ext].tolist())),
        largest_outlet=int(net.comid[k]) if k >= 0 else -1,
        outlet_uparea_km2=float(net.uparea[k]) if k >= 0 else float("nan"),
        dropped_cycles=net.dropped_cycles,
        ddr_zarr_path=None if ddr_zarr_path is None else str(ddr_zarr_path),
        notes=list(net.notes),
    )


def build_topology(
    flowlines,
    catchments=None,
    *,
    out_path: str | Path,
    min_slope: float = DEFAULT_MIN_SLOPE,
    cycle_policy: str = "error",
    field_map: Mapping[str, str] | None = None,
    catchment_field_map: Mapping[str, str] | None = None,
    area_source: str = "auto",
    ddr_zarr_path: str | Path | None = None,
    dangling_downstream: str = "error",
) -> NetworkSummary:
    """Network stage: build the network of one domain and write it (atomically).

    Writes the network NetCDF to ``out_path`` (layout in :mod:`dhbv.io.network_store`) and, if
    ``ddr_zarr_path`` is given, the DDR zarr v3 COO store. Returns a :class:`NetworkSummary`.
    """
    net = build_network(
        flowlines, catchments, min_slope=min_slope, cycle_policy=cycle_policy,
        field_map=field_map, catchment_field_map=catchment_field_map, area_source=area_source,
        dangling_downstream=dangling_downstream,
    )
    write_network(net, out_path)
    if ddr_zarr_path is not None:
        export_ddr_zarr(net, ddr_zarr_path)
    summary = summarize(net, out_path, ddr_zarr_path)
    log.info(
        "network %s: %d reaches, %d edges, %d outlets (largest %d, %.1f km2), %d headwaters, "
        "%d levels, max %d upstream; %s",
        out_path, summary.n_reaches, summary.n_edges, summary.n_outlets, summary.largest_outlet,
        summary.outlet_uparea_km2, summary.n_headwaters, summary.n_levels, summary.max_upstream,
        "; ".join(summary.notes) or "no notes",
    )
    if summary.external_outlets:
        log.info("outlets draining to reaches outside the domain: %s",
                 _fmt_ids(list(summary.external_outlets), 20))
    return summary
