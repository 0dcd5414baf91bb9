"""Topology of a MERIT river network (docs/network.md#topological-order-and-adjacency, docs/network.md#topology-rules).

Everything is vectorised with numpy over whole levels of the tree, so a 350,000-reach zone with
thousands of levels builds in seconds:

* each reach has at most one downstream reach (MERIT is dendritic), so the graph is a
  *functional graph*; Kahn's algorithm run level by level (peel all reaches whose upstream
  reaches are all done) gives the topological **level** of every reach (headwaters 0,
  ``level = 1 + max(level of upstream reaches)``). Reaches never peeled are exactly the members
  of cycles (in a functional graph nothing can lie downstream of a cycle).
* the **order** is level-major with ties broken by COMID (``np.lexsort((comid, level))``), so it
  is deterministic and every level is a contiguous slice ``level_ptr[L]:level_ptr[L+1]`` — the
  schedule a level-parallel Muskingum sweep needs.
* the adjacency N (row = downstream index, column = upstream index) is then strictly lower
  triangular; it is stored as COO (``indices_0``/``indices_1``, sorted by row then column) and
  as CSR (``indptr``/``indices``: upstream reaches of each row).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from dhbv.errors import NetworkTopologyError

log = logging.getLogger(__name__)

#: Default floor for the routing slope (m/m); MERIT slopes contain zeros.
DEFAULT_MIN_SLOPE = 1e-3


def _fmt_ids(ids, limit: int = 10) -> str:
    ids = [int(i) for i in ids]
    s = ", ".join(map(str, ids[:limit]))
    return s + (f", … ({len(ids)} in total)" if len(ids) > limit else "")


@dataclass
class Topology:
    """Connectivity of a network in topological order (no reach attributes).

    Attributes
    ----------
    comid : int64 (n,)           COMIDs in topological order (the DDR ``order`` array).
    input_row : int64 (n,)       row of the input table each reach came from.
    downstream : int64 (n,)      index of the downstream reach, -1 for outlets.
    level : int32 (n,)           topological level (headwaters 0).
    indices_0, indices_1 : int32 (E,)  COO rows (downstream) / columns (upstream), row > col.
    indptr : int64 (n+1,), indices : int32 (E,)  CSR of the upstream reaches of each row.
    next_down : int64 (n,)       original NextDownID of each reach (0 = none); for outlets it
                                 says whether the domain drains to a sink (0) or to a reach
                                 outside the domain (> 0).
    dropped_cycles : list of lists of COMIDs removed because they formed cycles.
    """

    comid: np.ndarray
    input_row: np.ndarray
    downstream: np.ndarray
    level: np.ndarray
    indices_0: np.ndarray
    indices_1: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    next_down: np.ndarray
    dropped_cycles: list = field(default_factory=list)
    n_nextdown_only_edges: int = 0
    n_external_upstream: int = 0

    @property
    def n(self) -> int:
        return int(self.comid.size)

    @property
    def n_edges(self) -> int:
        return int(self.indices_0.size)

    @property
    def is_outlet(self) -> np.ndarray:
        return self.downstream < 0

    @property
    def is_headwater(self) -> np.ndarray:
        return np.diff(self.indptr) == 0

    @property
    def n_levels(self) -> int:
        return int(self.level.max()) + 1 if self.n else 0

    @property
    def is_level_sorted(self) -> bool:
        """True when levels are contiguous in the order (always for :func:`topology_from_table`)."""
        return bool(np.all(np.diff(self.level) >= 0))

    @property
    def level_ptr(self) -> np.ndarray:
        """Start of each level in the order (length n_levels + 1); needs a level-sorted order."""
        if not self.is_level_sorted:
            raise ValueError("level_ptr needs a level-sorted order (see topology_from_table)")
        return np.searchsorted(self.level, np.arange(self.n_levels + 1)).astype(np.int64)

    @property
    def outlets(self) -> np.ndarray:
        """COMIDs of the outlets (reaches without a downstream reach in the domain)."""
        return self.comid[self.is_outlet]


def _index_lookup(comid: np.ndarray):
    """Return ``lookup(x) -> (index or -1, found)`` for COMIDs, using a sorted copy."""
    srt = np.argsort(comid, kind="stable")
    cs = comid[srt]

    def lookup(x: np.ndarray):
        x = np.asarray(x, np.int64)
        if cs.size == 0:
            return np.full(x.shape, -1, np.int64), np.zeros(x.shape, bool)
        posc = np.minimum(np.searchsorted(cs, x), cs.size - 1)
        found = cs[posc] == x
        return np.where(found, srt[posc], -1), found

    return cs, lookup


def _find_cycles(down: np.ndarray, members: np.ndarray) -> list[list[int]]:
    """Split the cycle members of a functional graph into individual cycles (index lists)."""
    seen = np.zeros(down.size, bool)
    cycles = []
    for start in members.tolist():
        if seen[start]:
            continue
        cyc = []
        i = start
        while not seen[i]:
            seen[i] = True
            cyc.append(i)
            i = int(down[i])
        cycles.append(cyc)
    return cycles


def topology_from_table(
    comid,
    next_down,
    up=None,
    *,
    cycle_policy: str = "error",
    source: str = "reach table",
) -> Topology:
    """Build the topologically ordered adjacency of a dendritic river network.

    Parameters
    ----------
    comid : int array (n,)
        Reach ids.
    next_down : int array (n,)
        Downstream COMID of each reach; 0 (or negative) = none. A COMID not in ``comid`` makes
        the reach an outlet of the domain (zone boundary, coast, sink).
    up : int array (n, k) or None
        MERIT ``up1..up4`` (0 = none). Every listed upstream reach that is in the domain must
        have this reach as its NextDownID (cross-check, docs/network.md#topology-rules (rule 1)). Upstream COMIDs outside
        the domain are ignored (counted in ``n_external_upstream``). Edges present only through
        NextDownID are kept (counted in ``n_nextdown_only_edges``).
    cycle_policy : "error" | "drop"
        ``"error"`` raises :class:`NetworkTopologyError` listing the cycles; ``"drop"`` removes
        all cycle members (logged) and makes the reaches that drained into them outlets.
    source : str
        File name used in error messages.

    Raises
    ------
    NetworkTopologyError
        Duplicate COMIDs; a reach draining to more than one reach; cycles (policy "error").
    """
    if cycle_policy not in ("error", "drop"):
        raise ValueError(f"cycle_policy={cycle_policy!r}; use 'error' or 'drop'")
    comid = np.asarray(comid, dtype=np.int64)
    nd = np.asarray(next_down, dtype=np.int64)
    n = comid.size
    if nd.shape != comid.shape:
        raise ValueError("comid and next_down must have the same length")

    cs, lookup = _index_lookup(comid)
    if n > 1:
        dup_mask = cs[1:] == cs[:-1]
        if dup_mask.any():
            dups = np.unique(cs[1:][dup_mask])
            raise NetworkTopologyError(
                f"{source}: duplicate COMIDs {_fmt_ids(dups)}; each reach must appear once "
                "(remove the duplicate rows)"
            )
    down, found = lookup(nd)
    down[nd <= 0] = -1

    n_nextdown_only = 0
    n_external_up = 0
    if up is not None:
        up = np.asarray(up, dtype=np.int64).reshape(n, -1)
        mask = up > 0
        d_row = np.nonzero(mask)[0]
        u_ids = up[mask]
        u_idx, ufound = lookup(u_ids)
        n_external_up = int((~ufound).sum())
        ui, di = u_idx[ufound], d_row[ufound]
        # a reach listed as upstream of two different reaches
        if ui.size:
            o = np.lexsort((di, ui))
            uo, do = ui[o], di[o]
            same = (uo[1:] == uo[:-1]) & (do[1:] != do[:-1])
            if same.any():
                k = int(np.flatnonzero(same)[0])
                raise NetworkTopologyError(
                    f"{source}: reach COMID {comid[uo[k]]} is listed in up1..up4 of both "
                    f"{comid[do[k]]} and {comid[do[k + 1]]}; a reach may have only one downstream "
                    "reach (braided network) — fix the up fields"
                )
        bad = down[ui] != di
        if bad.any():
            k = np.flatnonzero(bad)[:5]
            pairs = "; ".join(
                f"{comid[ui[j]]} (NextDownID {nd[ui[j]]}, listed in up1..up4 of {comid[di[j]]})"
                for j in k
            )
            raise NetworkTopologyError(
                f"{source}: {int(bad.sum())} reaches would have more than one downstream reach: "
                f"{pairs}; make NextDownID and up1..up4 agree"
            )
        # NextDownID edges not in the up lists
        has_down = np.flatnonzero(down >= 0)
        key_all = has_down.astype(np.int64) * n + down[has_down]
        key_up = ui.astype(np.int64) * n + di
        n_nextdown_only = int((~np.isin(key_all, key_up)).sum())
        if n_nextdown_only:
            log.warning(
                "%s: %d edges appear only through NextDownID (not in the up1..up4 lists); kept",
                source, n_nextdown_only,
            )

    # ---- Kahn by levels -------------------------------------------------------------------
    level = _levels(down)
    dropped: list[list[int]] = []
    keep = level >= 0
    if not keep.all():
        members = np.flatnonzero(~keep)
        cycles = _find_cycles(down, members)
        text = "; ".join(
            "[" + " -> ".join(str(comid[i]) for i in c + c[:1]) + "]" for c in cycles[:5]
        )
        if len(cycles) > 5:
            text += f"; … ({len(cycles)} cycles)"
        if cycle_policy == "error":
            raise NetworkTopologyError(
                f"{source}: river network has {len(cycles)} cycle(s) through NextDownID: {text}; "
                "fix NextDownID or set cycle_policy='drop'"
            )
        dropped = [[int(comid[i]) for i in c] for c in cycles]
        log.warning(
            "%s: dropped %d reaches in %d cycle(s): %s", source, members.size, len(cycles), text
        )
        # reaches draining into a dropped reach become outlets
        into = (down >= 0) & keep
        into[into] = ~keep[down[into]]
        down = down.copy()
        down[into] = -1
        kept_rows = np.flatnonzero(keep)
        remap = np.full(n, -1, np.int64)
        remap[kept_rows] = np.arange(kept_rows.size)
        down = np.where(down[kept_rows] >= 0, remap[np.maximum(down[kept_rows], 0)], -1)
        level = level[kept_rows]
        comid_k, nd_k = comid[kept_rows], nd[kept_rows]
    else:
        kept_rows = np.arange(n)
        comid_k, nd_k = comid, nd

    order = np.lexsort((comid_k, level))
    m = order.size
    pos = np.empty(m, np.int64)
    pos[order] = np.arange(m)
    down_o = down[order]
    downstream = np.where(down_o >= 0, pos[np.maximum(down_o, 0)], -1)
    cols = np.flatnonzero(downstream >= 0)
    rows = downstream[cols]
    e = np.lexsort((cols, rows))
    rows, cols = rows[e], cols[e]
    if not np.all(rows > cols):  # guaranteed by level[down] > level[up]; keep as a hard check
        raise NetworkTopologyError(f"{source}: internal error, adjacency not lower triangular")
    indptr = np.zeros(m + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    return Topology(
        comid=comid_k[order],
        input_row=kept_rows[order],
        downstream=downstream.astype(np.int64),
        level=level[order].astype(np.int32),
        indices_0=rows.astype(np.int32),
        indices_1=cols.astype(np.int32),
        indptr=indptr,
        indices=cols.astype(np.int32),
        next_down=nd_k[order],
        dropped_cycles=dropped,
        n_nextdown_only_edges=n_nextdown_only,
        n_external_upstream=n_external_up,
    )


def _levels(down: np.ndarray) -> np.ndarray:
    """Topological level of each reach by level-wise Kahn peeling; -1 for cycle members."""
    n = down.size
    indeg = np.bincount(down[down >= 0], minlength=n)
    level = np.full(n, -1, np.int64)
    frontier = np.flatnonzero(indeg == 0)
    lev = 0
    while frontier.size:
        level[frontier] = lev
        d = down[frontier]
        d = d[d >= 0]
        if d.size == 0:
            break
        u, c = np.unique(d, return_counts=True)
        indeg[u] -= c
        frontier = u[indeg[u] == 0]
        lev += 1
    return level


def levels_from_coo(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Topological levels from a COO adjacency (row = downstream); -1 marks cycle members."""
    down = np.full(n, -1, np.int64)
    rows = np.asarray(rows, np.int64)
    cols = np.asarray(cols, np.int64)
    if np.unique(cols).size != cols.size:
        c, k = np.unique(cols, return_counts=True)
        raise NetworkTopologyError(
            f"adjacency has reaches with more than one downstream reach (indices {c[k > 1][:5].tolist()})"
        )
    down[cols] = rows
    return _levels(down)


# ---- per-level accumulations over the CSR ---------------------------------------------------


def _schedule(topo: Topology):
    """Level-sorted view: (perm or None, level_ptr, indptr, indices) with perm[view] = index."""
    if topo.is_level_sorted:
        return None, topo.level_ptr, topo.indptr, topo.indices
    perm = np.lexsort((np.arange(topo.n), topo.level))
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    rows, cols = inv[topo.indices_0], inv[topo.indices_1]
    e = np.lexsort((cols, rows))
    indptr = np.zeros(topo.n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=topo.n), out=indptr[1:])
    lp = np.searchsorted(topo.level[perm], np.arange(topo.n_levels + 1)).astype(np.int64)
    return perm, lp, indptr, cols[e]


def accumulate_upstream(topo: Topology, local: np.ndarray) -> np.ndarray:
    """Total over each reach and all its ancestors: ``tot_i = local_i + Σ_{j∈up(i)} tot_j``.

    Used for uparea [km²] = Σ unitarea of the reach and its ancestors.
    """
    perm, lp, ip, ix = _schedule(topo)
    tot = np.asarray(local, dtype=np.float64).copy()
    if perm is not None:
        tot = tot[perm]
    for L in range(1, topo.n_levels):
        s, e = lp[L], lp[L + 1]
        a, b = ip[s], ip[e]
        # every reach at level >= 1 has at least one upstream reach: no empty segments
        tot[s:e] += np.add.reduceat(tot[ix[a:b]], ip[s:e] - a)
    if perm is not None:
        out = np.empty_like(tot)
        out[perm] = tot
        return out
    return tot


def strahler_order(topo: Topology) -> np.ndarray:
    """Strahler stream order: headwaters 1; max upstream order, +1 if that max occurs twice."""
    perm, lp, ip, ix = _schedule(topo)
    st = np.ones(topo.n, np.int32)
    for L in range(1, topo.n_levels):
        s, e = lp[L], lp[L + 1]
        a, b = ip[s], ip[e]
        seg = ip[s:e] - a
        vals = st[ix[a:b]]
        mx = np.maximum.reduceat(vals, seg)
        nmax = np.add.reduceat((vals == np.repeat(mx, np.diff(ip[s : e + 1]))).astype(np.int32), seg)
        st[s:e] = np.where(nmax >= 2, mx + 1, mx)
    if perm is not None:
        out = np.empty_like(st)
        out[perm] = st
        return out
    return st


def upstream_sum(topo: Topology, values: np.ndarray) -> np.ndarray:
    """Σ of ``values`` over the direct upstream reaches of each reach (0 for headwaters)."""
    return np.bincount(
        topo.indices_0, weights=np.asarray(values, np.float64)[topo.indices_1], minlength=topo.n
    )


def topology_from_coo(order, rows, cols, *, next_down=None, source: str = "adjacency") -> Topology:
    """Rebuild a :class:`Topology` from a stored order and COO adjacency (row = downstream).

    The stored order is kept as is (it defines the index space of other files, e.g. the
    lateral-inflow ``divide_id`` axis); it need not be level-sorted.

    Raises
    ------
    NetworkTopologyError
        Edge not strictly lower triangular, index out of range, or a reach with two downstream
        reaches.
    """
    comid = np.asarray(order, dtype=np.int64)
    n = comid.size
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n or cols.min() < 0 or cols.max() >= n):
        raise NetworkTopologyError(f"{source}: COO index out of range [0, {n}); file is corrupt")
    bad = rows <= cols
    if bad.any():
        k = np.flatnonzero(bad)[:5]
        raise NetworkTopologyError(
            f"{source}: {int(bad.sum())} edges are not strictly lower triangular (downstream "
            f"index <= upstream index), e.g. COMIDs {[(int(comid[cols[j]]), int(comid[rows[j]])) for j in k]}; "
            "the order is not topological — rebuild the network"
        )
    c, cnt = np.unique(cols, return_counts=True)
    if (cnt > 1).any():
        raise NetworkTopologyError(
            f"{source}: reaches with more than one downstream reach: COMIDs "
            f"{_fmt_ids(comid[c[cnt > 1]])}; the network must be dendritic"
        )
    e = np.lexsort((cols, rows))
    rows, cols = rows[e], cols[e]
    down = np.full(n, -1, np.int64)
    down[cols] = rows
    level = _levels(down).astype(np.int32)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    if next_down is None:
        next_down = np.where(down >= 0, comid[np.maximum(down, 0)], 0)
    return Topology(
        comid=comid,
        input_row=np.arange(n, dtype=np.int64),
        downstream=down,
        level=level,
        indices_0=rows.astype(np.int32),
        indices_1=cols.astype(np.int32),
        indptr=indptr,
        indices=cols.astype(np.int32),
        next_down=np.asarray(next_down, dtype=np.int64),
    )
