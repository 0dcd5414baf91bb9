"""Synthetic dendritic MERIT-like networks for speed tests of the router.

MERIT-Basins reaches run from confluence to confluence, so (like the Juniata sample: 107
headwaters, 106 binary confluences) every non-headwater reach has two upstream reaches. The
generator builds one main stem of ``n_stem`` reaches; each stem reach except the top one
receives one tributary, a random full binary tree (recursive uniform split of its size, i.e.
depth O(log size)) whose size is drawn from a heavy-tailed distribution. The number of
topological levels is then about ``n_stem`` plus the depth of the tributaries. Reaches are
returned level-sorted (headwaters first, as ``dhbv.network.topology_from_table`` orders them).
Lengths and slopes are log-normal around the Juniata medians (6.4 km, 0.003); slopes are
floored at 1e-3 as the router does.
"""

from __future__ import annotations

import numpy as np

from dhbv.network.topology import _levels

from .graph import RoutingGraph


def _tributary_sizes(rng, n_trib: int, total: int) -> np.ndarray:
    """Odd sizes ≥ 1, heavy-tailed (Pareto), summing to ``total`` (total ≡ n_trib mod 2)."""
    w = rng.pareto(1.2, n_trib) + 1.0
    half = np.floor(w / w.sum() * (total - n_trib) / 2).astype(np.int64)
    rest = (total - n_trib) // 2 - half.sum()
    half[rng.choice(n_trib, int(rest), replace=False)] += 1  # rest < n_trib
    return 2 * half + 1


def _full_binary_tree(rng, size: int, root: int, down: np.ndarray, next_id: int) -> int:
    """Attach a random full binary tree of ``size`` reaches draining to ``root``'s downstream
    (``down[root]`` already set); ids from ``next_id``. Returns the next free id."""
    stack = [(root, size)]
    while stack:
        node, s = stack.pop()
        if s == 1:
            continue
        left = 2 * int(rng.integers(0, (s - 1) // 2)) + 1  # odd, in [1, s − 2]
        for sub in (left, s - 1 - left):
            down[next_id] = node
            stack.append((next_id, sub))
            next_id += 1
    return next_id


def synthetic_network(n_reaches: int = 180_000, n_stem: int = 3_000, seed: int = 0):
    """(RoutingGraph, level count): a dendritic tree of about ``n_reaches`` reaches."""
    rng = np.random.default_rng(seed)
    n_trib = n_stem - 1
    total = n_reaches - n_stem
    total -= (total - n_trib) % 2
    n = n_stem + total
    down = np.full(n, -1, np.int64)
    down[1:n_stem] = np.arange(n_stem - 1)  # stem: reach 0 is the outlet
    next_id = n_stem
    for stem, size in zip(range(n_stem - 1), _tributary_sizes(rng, n_trib, total)):
        down[next_id] = stem
        next_id = _full_binary_tree(rng, int(size), next_id, down, next_id + 1)
    level = _levels(down)
    order = np.lexsort((np.arange(n), level))
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)
    down_sorted = np.where(down[order] >= 0, pos[np.maximum(down[order], 0)], -1)
    length = np.clip(rng.lognormal(np.log(6400.0), 0.8, n), 90.0, 40_000.0)
    slope = np.maximum(rng.lognormal(np.log(0.003), 1.2, n), 1e-3)
    return RoutingGraph(down_sorted, length, slope), int(level.max()) + 1


def synthetic_lateral(n_records: int, n: int, seed: int = 1, dtype=np.float32) -> np.ndarray:
    """Positive lateral inflow [records, n] (m³/s): per-reach log-normal mean, daily noise."""
    rng = np.random.default_rng(seed)
    mean = rng.lognormal(np.log(0.35), 1.0, n)
    return (mean * rng.lognormal(0.0, 0.5, (n_records, n))).astype(dtype)
