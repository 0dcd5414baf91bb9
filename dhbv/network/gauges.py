"""Gauge subnetworks (docs/network.md#gauge-subnetworks, docs/network.md#gauge-mapping).

A gauge subnetwork is the gauge's COMID plus all its graph ancestors, kept in the global
(domain) index space: sorted global indices preserve the topological order, so a training batch
is the sorted union of its gauges' member lists and nested gauges share reaches.

The gauge's own unit runoff is weighted by FLOW_SCALE (partial-area gauges, docs/network.md#gauge-mapping):
``FLOW_SCALE = (unitarea − |Δ|)/unitarea`` if ``Δ = DRAIN_SQKM − uparea < 0`` and
``|Δ| < unitarea``, else 1; ``DA_VALID = |Δ| ≤ unitarea``. Both are taken from the gauge table,
or computed with these formulas when the columns are absent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.io.network_store import (
    GaugeSubnetworks,
    order_digest,
    read_gauge_subnetworks,
    write_gauge_subnetworks,
)
from dhbv.network.network import Network
from dhbv.network.store import read_network

log = logging.getLogger(__name__)


def normalize_staid(staid) -> str:
    """USGS station id as an 8+ digit string (integers lose leading zeros in configs/CSV)."""
    s = str(staid).strip()
    if s.endswith(".0") and s[:-2].isdigit():
        s = s[:-2]
    return s.zfill(8) if s.isdigit() and len(s) < 8 else s


def read_gauge_table(gauge_table) -> pd.DataFrame:
    """Read a gauge → COMID table (CSV path or DataFrame) with STAID kept as a string.

    Required columns: ``STAID``, ``COMID``. ``FLOW_SCALE``/``DA_VALID`` are computed from
    ``DRAIN_SQKM``, ``COMID_DRAIN_SQKM`` and ``COMID_UNITAREA_SQKM`` (km²) when absent.
    """
    if isinstance(gauge_table, pd.DataFrame):
        df, name = gauge_table.copy(), gauge_table.attrs.get("source", "<gauge table>")
    else:
        name = str(gauge_table)
        if not Path(gauge_table).exists():
            raise DhbvInputError(f"{name}: gauge table not found; check the configured path")
        try:
            df = pd.read_csv(gauge_table, dtype={"STAID": str})
        except Exception as exc:
            raise DhbvInputError(f"{name}: cannot read gauge table ({type(exc).__name__}); "
                                 "it must be a CSV with STAID and COMID columns") from exc
    for col in ("STAID", "COMID"):
        if col not in df:
            raise DhbvInputError(f"{name}: required column {col!r} missing; the gauge table needs "
                                 "STAID and COMID (see resources/demo/gauges)")
    df["STAID"] = [normalize_staid(s) for s in df["STAID"]]
    dup = df["STAID"][df["STAID"].duplicated()]
    if len(dup):
        raise DhbvInputError(f"{name}: duplicate STAIDs {sorted(set(dup))[:5]}; keep one row each")
    areas = ("DRAIN_SQKM", "COMID_DRAIN_SQKM", "COMID_UNITAREA_SQKM")
    for col in areas:
        if col not in df:
            df[col] = np.nan
    delta = df["DRAIN_SQKM"] - df["COMID_DRAIN_SQKM"]
    ua = df["COMID_UNITAREA_SQKM"]
    if "FLOW_SCALE" not in df:
        if df[list(areas)].isna().any().any():
            raise DhbvInputError(f"{name}: no FLOW_SCALE column and the areas {areas} needed to "
                                 "compute it are incomplete; add FLOW_SCALE")
        part = (delta < 0) & (delta.abs() < ua)
        df["FLOW_SCALE"] = np.where(part, (ua - delta.abs()) / ua, 1.0)
    if "DA_VALID" not in df:
        df["DA_VALID"] = (delta.abs() <= ua).fillna(False)
    df["DA_VALID"] = df["DA_VALID"].map(
        lambda v: str(v).strip().lower() in ("true", "1", "1.0", "yes")
    ).astype(bool)
    df.attrs["source"] = name
    return df


def _ancestors_csr(net: Network, gauge_idx: np.ndarray):
    """CSR (ptr, idx) of each gauge reach + all ancestors, indices ascending."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order

    n = net.n
    up = csr_matrix((np.ones(net.n_edges, np.int8), net.indices.astype(np.int32), net.indptr),
                    shape=(n, n))
    parts = []
    for g in gauge_idx.tolist():
        nodes = breadth_first_order(up, g, directed=True, return_predecessors=False)
        parts.append(np.sort(nodes).astype(np.int32))
    ptr = np.zeros(len(parts) + 1, np.int64)
    np.cumsum([p.size for p in parts], out=ptr[1:])
    idx = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    return ptr, idx


def compute_gauge_subnetworks(
    network: Network,
    gauge_table,
    staids=None,
    *,
    require_da_valid: bool = False,
    network_file: str = "",
) -> GaugeSubnetworks:
    """Gauge subnetworks of ``staids`` (default: every gauge in the table) in ``network``.

    Raises
    ------
    DhbvInputError
        A STAID not in the gauge table, or a gauge COMID not in the network (names both).
    """
    df = read_gauge_table(gauge_table)
    name = df.attrs["source"]
    if staids is None:
        want = df["STAID"].tolist()
    else:
        want = [normalize_staid(s) for s in staids]
    tab = df.set_index("STAID")
    missing = [s for s in want if s not in tab.index]
    if missing:
        raise DhbvInputError(f"{name}: STAIDs {missing[:10]} not in the gauge table; fix the "
                             "configured gauge list or use a table that contains them")
    sel = tab.loc[want]
    excluded = {}
    if require_da_valid:
        bad = ~sel["DA_VALID"].to_numpy()
        if bad.any():
            excluded = {s: "DA_VALID false" for s in sel.index[bad]}
            log.warning("%s: %d gauges dropped because DA_VALID is false: %s", name,
                        int(bad.sum()), list(excluded)[:20])
            sel = sel[~bad]
    comids = sel["COMID"].to_numpy().astype(np.int64)
    gidx = network.index_of(comids)
    if (gidx < 0).any():
        k = np.flatnonzero(gidx < 0)[:5]
        pairs = ", ".join(f"STAID {sel.index[j]} (COMID {comids[j]})" for j in k)
        raise DhbvInputError(
            f"{name}: gauge COMID not in the network {network_file or network.source}: {pairs}; "
            "build the network for the basin that contains the gauge or remove the gauge"
        )
    ptr, idx = _ancestors_csr(network, gidx)
    return GaugeSubnetworks(
        staid=np.array(sel.index.tolist(), dtype=str),
        gage_catchment=comids,
        gage_idx=gidx.astype(np.int32),
        da_valid=sel["DA_VALID"].to_numpy().astype(bool),
        flow_scale=sel["FLOW_SCALE"].to_numpy().astype(np.float64),
        drain_sqkm=sel["DRAIN_SQKM"].to_numpy().astype(np.float64),
        comid_drain_sqkm=sel["COMID_DRAIN_SQKM"].to_numpy().astype(np.float64),
        comid_unitarea_sqkm=sel["COMID_UNITAREA_SQKM"].to_numpy().astype(np.float64),
        member_ptr=ptr,
        member_idx=idx,
        network_n_reaches=network.n,
        network_order_sha256=order_digest(network.comid),
        network_file=str(network_file),
        excluded=excluded,
    )


def build_gauge_subnetworks(
    network_path,
    gauge_table,
    staids,
    out_path,
    *,
    require_da_valid: bool = False,
) -> GaugeSubnetworks:
    """Gauge stage: read the network file, compute the subnetworks, write them atomically.

    ``staids`` may be None for every gauge of the table whose COMID is required to be in the
    network. Output layout: see :mod:`dhbv.io.network_store` (gauge-subnetwork NetCDF).
    """
    net = read_network(network_path)
    sub = compute_gauge_subnetworks(net, gauge_table, staids, require_da_valid=require_da_valid,
                                    network_file=str(network_path))
    write_gauge_subnetworks(sub, out_path)
    headwater_only = sub.staid[sub.n_members == 1].tolist()
    log.info("gauge subnetworks %s: %d gauges, %d member entries; headwater-only (no routing "
             "edge): %s", out_path, sub.n_gauges, sub.member_idx.size, headwater_only[:20])
    return sub


def gauge_unit_weights(subnetworks, staids=None) -> dict:
    """Per-gauge unit lists and weights: ``{STAID: (global indices int64, weights float64)}``.

    The weight is FLOW_SCALE for the gauge's own unit and 1 for every upstream unit, so the
    gauge's area-weighted runoff is ``Σ w_k q'_k``. ``subnetworks`` is a
    :class:`~dhbv.io.network_store.GaugeSubnetworks` or the path of its NetCDF file.
    """
    if not isinstance(subnetworks, GaugeSubnetworks):
        subnetworks = read_gauge_subnetworks(subnetworks)
    return subnetworks.unit_weights(staids)


def gauge_membership_dataset(subnetworks, network: Network):
    """The gauge-membership standard form of docs/datasets.md#standard-forms: dims ``pair``; variables
    ``gauge`` (str STAID), ``unit`` (str COMID) and ``weight`` (FLOW_SCALE for the gauge's own
    unit, 1 otherwise)."""
    import xarray as xr

    if not isinstance(subnetworks, GaugeSubnetworks):
        subnetworks = read_gauge_subnetworks(subnetworks, network_comid=network.comid)
    g, u, w = [], [], []
    for s, (idx, wt) in subnetworks.unit_weights().items():
        g.extend([s] * idx.size)
        u.extend(network.comid[idx].astype(str).tolist())
        w.append(wt)
    return xr.Dataset({
        "gauge": ("pair", np.array(g, dtype=object)),
        "unit": ("pair", np.array(u, dtype=object)),
        "weight": ("pair", np.concatenate(w) if w else np.zeros(0), {"units": "1"}),
    })
