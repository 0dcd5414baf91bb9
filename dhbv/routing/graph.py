"""The river network as the router sees it: reaches in topological order (docs/routing.md §5).

Reach i drains into ``downstream[i]`` (−1 for an outlet) and every reach drains into a reach
of larger index, so the network matrix N (N[i, j] = 1 iff j drains into i) is strictly lower
triangular and one step of the Muskingum system is solved by a single pass over the reaches in
index order. ``indptr``/``indices`` is the CSR list of the direct upstream reaches of each
reach, in ascending order (every sum over upstream reaches adds them in that order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dhbv.errors import DhbvInputError, NetworkTopologyError
from dhbv.network.topology import _levels


def _fmt(idx, ids, limit: int = 5) -> str:
    idx = np.asarray(idx)[:limit]
    names = [str(int(ids[i])) if ids is not None else f"#{int(i)}" for i in idx]
    return ", ".join(names)


@dataclass
class RoutingGraph:
    """Topologically ordered dendritic network with the per-reach channel data.

    downstream : int32 (n,)   index of the downstream reach, −1 for outlets; downstream[i] > i.
    length_m : float64 (n,)   channel length [m] (> 0).
    slope : float64 (n,)      bed slope [m/m] (> 0; the router floors it at
                              ``RoutingOptions.slope_min``).
    ids : int64 (n,) or None  reach ids (MERIT COMIDs) in the same order.
    indptr : int32 (n+1,), indices : int32 (E,)   CSR of the direct upstream reaches.
    level : int32 (n,)        topological level (headwaters 0).
    """

    downstream: np.ndarray
    length_m: np.ndarray
    slope: np.ndarray
    ids: np.ndarray | None = None
    indptr: np.ndarray = field(init=False)
    indices: np.ndarray = field(init=False)
    level: np.ndarray = field(init=False)
    _schedule: tuple | None = field(init=False, default=None, repr=False)

    def __post_init__(self):
        down = np.asarray(self.downstream)
        n = down.size
        if down.ndim != 1 or not np.issubdtype(down.dtype, np.integer):
            raise DhbvInputError("downstream: expected a 1-d integer array of reach indices")
        if n and (down.min() < -1 or down.max() >= n):
            raise DhbvInputError(f"downstream: index out of range [-1, {n})")
        if self.ids is not None:
            self.ids = np.asarray(self.ids, np.int64)
            if self.ids.shape != (n,):
                raise DhbvInputError(f"ids: {self.ids.shape[0]} ids for {n} reaches")
        level = _levels(down.astype(np.int64))
        if (level < 0).any():
            raise NetworkTopologyError(
                f"downstream: the network has a cycle through reaches "
                f"{_fmt(np.flatnonzero(level < 0), self.ids)}; drop or repair them")
        bad = np.flatnonzero((down >= 0) & (down <= np.arange(n)))
        if bad.size:
            raise NetworkTopologyError(
                f"downstream: reaches are not in topological order ({bad.size} drain into a "
                f"reach of lower index, e.g. {_fmt(bad, self.ids)}); order them upstream first")
        self.downstream = down.astype(np.int32)
        self.level = level.astype(np.int32)
        self.length_m = self._positive(self.length_m, "length_m", n)
        self.slope = self._positive(self.slope, "slope", n)
        has = self.downstream >= 0
        cols = np.flatnonzero(has).astype(np.int32)
        rows = self.downstream[has]
        order = np.lexsort((cols, rows))
        self.indices = cols[order]
        self.indptr = np.zeros(n + 1, np.int32)
        np.cumsum(np.bincount(rows, minlength=n), out=self.indptr[1:])

    def _positive(self, values, name: str, n: int) -> np.ndarray:
        v = np.asarray(values, np.float64)
        if v.shape != (n,):
            raise DhbvInputError(f"{name}: {v.shape} values for {n} reaches")
        bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
        if bad.size:
            raise DhbvInputError(
                f"{name}: {bad.size} reaches have a zero, negative or NaN {name} (e.g. reach "
                f"{_fmt(bad, self.ids)}); fix or floor it before routing")
        return v

    # ---- constructors ----------------------------------------------------------------------
    @classmethod
    def from_network(cls, net) -> "RoutingGraph":
        """From a :class:`dhbv.network.Network` (uses its floored ``slope``)."""
        return cls(downstream=np.asarray(net.downstream), length_m=net.length_m,
                   slope=net.slope, ids=net.comid)

    @classmethod
    def from_coo(cls, n: int, rows, cols, length_m, slope, ids=None) -> "RoutingGraph":
        """From a COO adjacency with row = downstream index and column = upstream index."""
        rows = np.asarray(rows, np.int64)
        cols = np.asarray(cols, np.int64)
        if rows.shape != cols.shape:
            raise DhbvInputError("indices_0/indices_1: COO row and column arrays differ in size")
        if rows.size and (min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= n):
            raise DhbvInputError(f"indices_0/indices_1: COO index out of range [0, {n})")
        c, k = np.unique(cols, return_counts=True)
        if (k > 1).any():
            raise NetworkTopologyError(
                f"indices_1: reaches with more than one downstream reach "
                f"({_fmt(c[k > 1], ids)}); the network must be dendritic")
        down = np.full(n, -1, np.int64)
        down[cols] = rows
        return cls(downstream=down, length_m=length_m, slope=slope, ids=ids)

    # ---- derived ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.downstream.size)

    @property
    def n_levels(self) -> int:
        return int(self.level.max()) + 1 if self.n else 0

    @property
    def outlets(self) -> np.ndarray:
        """Indices of the outlets (int32)."""
        return np.flatnonzero(self.downstream < 0).astype(np.int32)

    def index_of(self, ids) -> np.ndarray:
        """Position of each id in the network (−1 where absent); needs ``ids``."""
        if self.ids is None:
            raise DhbvInputError("ids: the network has no reach ids to look up")
        ids = np.asarray(ids, np.int64)
        srt = np.argsort(self.ids, kind="stable")
        pos = np.minimum(np.searchsorted(self.ids[srt], ids), self.n - 1)
        return np.where(self.ids[srt][pos] == ids, srt[pos], -1)

    def component(self) -> np.ndarray:
        """Index of the outlet each reach drains to (pointer jumping, O(n log depth))."""
        root = np.where(self.downstream < 0, np.arange(self.n), self.downstream).astype(np.int64)
        while True:
            nxt = root[root]
            if np.array_equal(nxt, root):
                return root
            root = nxt

    def schedule(self):
        """Level schedule per independent sub-basin, for the level-parallel (GPU) sweep.

        Returns (order, level_ptr, comp_ptr): ``order`` lists the reaches grouped by outlet
        and, within a sub-basin, by level; the reaches of level k of sub-basin c are
        ``order[level_ptr[comp_ptr[c] + k] : level_ptr[comp_ptr[c] + k + 1]]``.
        """
        if self._schedule is None:
            comp = self.component()
            order = np.lexsort((np.arange(self.n), self.level, comp)).astype(np.int32)
            key = comp[order] * (self.n_levels + 1) + self.level[order]
            starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            level_ptr = np.r_[starts, self.n].astype(np.int32)
            comp_of_group = comp[order][starts]
            cstart = np.flatnonzero(np.r_[True, comp_of_group[1:] != comp_of_group[:-1]])
            comp_ptr = np.r_[cstart, starts.size].astype(np.int32)
            self._schedule = (order, level_ptr, comp_ptr)
        return self._schedule
