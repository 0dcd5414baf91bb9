"""Topology rules (docs/network.md#topology-rules) on small synthetic networks with hand-known answers."""

import logging
import time

import numpy as np
import pytest

from dhbv.errors import NetworkTopologyError
from dhbv.network import accumulate_upstream, topology_from_table, strahler_order, topology_from_coo

# A hand-drawn network (COMID -> NextDownID):
#   10 ─┐
#   20 ─┴─> 30 ─┐
#           40 ─┴─> 50 ──> 0        second basin: 5 -> 6 -> 999 (999 not in the domain)
#   60 ───────────> 50
SMALL = {10: 30, 20: 30, 30: 50, 40: 50, 60: 50, 50: 0, 5: 6, 6: 999}


def _small(rows=None):
    comid = np.array(list(SMALL.keys()))
    nd = np.array(list(SMALL.values()))
    if rows is not None:
        comid, nd = comid[rows], nd[rows]
    return comid, nd


def test_small_network_order_levels_and_coo():
    t = topology_from_table(*_small())
    # level-major, ties by COMID: level 0 = {5,10,20,40,60}, level 1 = {6,30}, level 2 = {50}
    assert t.comid.tolist() == [5, 10, 20, 40, 60, 6, 30, 50]
    assert t.level.tolist() == [0, 0, 0, 0, 0, 1, 1, 2]
    assert t.n_levels == 3
    idx = {c: i for i, c in enumerate(t.comid.tolist())}
    edges = {(int(t.comid[c]), int(t.comid[r])) for r, c in zip(t.indices_0, t.indices_1)}
    assert edges == {(u, d) for u, d in SMALL.items() if d in SMALL}
    assert np.all(t.indices_0 > t.indices_1)
    assert t.indices_0.dtype == np.int32 and t.indices_1.dtype == np.int32
    # CSR: upstream of 50 are 30, 40, 60; of 30 are 10, 20
    i50 = idx[50]
    assert t.indices[t.indptr[i50]:t.indptr[i50 + 1]].tolist() == sorted([idx[30], idx[40], idx[60]])
    assert sorted(t.outlets.tolist()) == [6, 50]
    assert t.n_edges == t.n - int(t.is_outlet.sum())
    assert t.downstream[idx[6]] == -1 and t.next_down[idx[6]] == 999  # outlet of the domain
    assert t.downstream[idx[10]] == idx[30]
    assert int(t.is_headwater.sum()) == 5


def test_order_is_independent_of_input_row_order():
    ref = topology_from_table(*_small())
    rng = np.random.default_rng(3)
    for _ in range(5):
        t = topology_from_table(*_small(rng.permutation(len(SMALL))))
        assert np.array_equal(t.comid, ref.comid)
        assert np.array_equal(t.indices_0, ref.indices_0)
        assert np.array_equal(t.indices_1, ref.indices_1)


def test_strahler_and_accumulation():
    t = topology_from_table(*_small())
    st = dict(zip(t.comid.tolist(), strahler_order(t).tolist()))
    # 10,20 (1,1) -> 30 = 2; 30(2), 40(1), 60(1) -> 50 = 2; 5 -> 6 = 1
    assert st == {10: 1, 20: 1, 30: 2, 40: 1, 60: 1, 50: 2, 5: 1, 6: 1}
    area = dict(zip(t.comid.tolist(), accumulate_upstream(t, np.ones(t.n)).tolist()))
    assert area == {10: 1, 20: 1, 30: 3, 40: 1, 60: 1, 50: 6, 5: 1, 6: 2}


def test_duplicate_comid_is_an_error():
    with pytest.raises(NetworkTopologyError, match=r"riv\.shp: duplicate COMIDs 30"):
        topology_from_table([10, 30, 30], [30, 0, 0], source="riv.shp")


def test_cycle_error_lists_the_cycle():
    comid = [1, 2, 3, 4, 7]
    nd = [2, 3, 1, 3, 0]  # 1 -> 2 -> 3 -> 1, 4 drains into the cycle
    with pytest.raises(NetworkTopologyError, match=r"1 cycle.*\[1 -> 2 -> 3 -> 1\]"):
        topology_from_table(comid, nd, source="riv.shp")


def test_self_loop_is_a_cycle():
    with pytest.raises(NetworkTopologyError, match=r"\[8 -> 8\]"):
        topology_from_table([8, 9], [8, 0])


def test_cycle_drop_policy(caplog):
    comid = [1, 2, 3, 4, 5, 7]
    nd = [2, 3, 1, 3, 4, 0]  # 5 -> 4 -> (cycle 1,2,3); 7 independent
    with caplog.at_level(logging.WARNING):
        t = topology_from_table(comid, nd, cycle_policy="drop")
    assert sorted(t.comid.tolist()) == [4, 5, 7]
    assert t.dropped_cycles == [[1, 2, 3]]
    assert "dropped 3 reaches" in caplog.text
    # 4 drained into the cycle: it is now an outlet, 5 still drains to 4
    d = dict(zip(t.comid.tolist(), t.downstream.tolist()))
    assert d[4] == -1 and t.comid[d[5]] == 4
    assert t.n_edges == t.n - int(t.is_outlet.sum()) == 1


def test_up_lists_must_agree_with_nextdownid():
    comid = [1, 2, 3]
    nd = [3, 3, 0]
    up = [[0, 0, 0, 0], [0, 0, 0, 0], [1, 2, 0, 0]]
    t = topology_from_table(comid, nd, up)
    assert t.n_edges == 2 and t.n_nextdown_only_edges == 0
    # reach 1 has NextDownID 3 but is listed as upstream of 2 -> two downstream reaches
    bad = [[0, 0, 0, 0], [1, 0, 0, 0], [1, 2, 0, 0]]
    with pytest.raises(NetworkTopologyError, match=r"riv.shp: reach COMID 1 is listed in up1..up4 of both"):
        topology_from_table(comid, nd, bad, source="riv.shp")
    bad2 = [[0, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0]]
    with pytest.raises(NetworkTopologyError, match=r"more than one downstream reach: 1 \(NextDownID 3"):
        topology_from_table(comid, nd, bad2, source="riv.shp")


def test_upstream_outside_domain_and_nextdown_only_edges():
    # 2 lists 77 (outside the domain) and omits 1 although 1 drains to 2
    t = topology_from_table([1, 2], [2, 0], [[0] * 4, [77, 0, 0, 0]])
    assert t.n_external_upstream == 1
    assert t.n_nextdown_only_edges == 1 and t.n_edges == 1


def test_topology_from_coo_rejects_bad_adjacency():
    with pytest.raises(NetworkTopologyError, match="not strictly lower triangular"):
        topology_from_coo([1, 2, 3], [0, 2], [1, 1])
    with pytest.raises(NetworkTopologyError, match="more than one downstream"):
        topology_from_coo([1, 2, 3], [1, 2], [0, 0])


def _random_tree(n, rng, n_outlets=3, window=50):
    """Random dendritic tree: node i drains to a node j < i (within ``window``), ≤ 4 upstream."""
    parent = np.full(n, -1)
    indeg = np.zeros(n, int)
    for i in range(n_outlets, n):
        while True:
            j = int(rng.integers(max(0, i - window), i))
            if indeg[j] < 4:
                break
        parent[i] = j
        indeg[j] += 1
    ids = rng.choice(np.arange(10_000, 10_000 + 20 * n), size=n, replace=False)
    nd = np.where(parent >= 0, ids[np.maximum(parent, 0)], 0)
    return ids, nd, parent


def _naive_levels(parent):
    n = parent.size
    ups = [[] for _ in range(n)]
    for i, p in enumerate(parent):
        if p >= 0:
            ups[p].append(i)
    level = np.zeros(n, int)
    strahler = np.ones(n, int)
    for i in range(n - 1, -1, -1):  # children have larger ids than parents
        if ups[i]:
            level[i] = 1 + max(level[u] for u in ups[i])
            so = [strahler[u] for u in ups[i]]
            strahler[i] = max(so) + 1 if so.count(max(so)) >= 2 else max(so)
    return level, strahler


def test_levels_and_strahler_match_a_naive_recursion():
    rng = np.random.default_rng(11)
    ids, nd, parent = _random_tree(3000, rng)
    t = topology_from_table(ids, nd)
    level, strahler = _naive_levels(parent)
    pos = {c: i for i, c in enumerate(ids.tolist())}
    rows = np.array([pos[c] for c in t.comid.tolist()])
    assert np.array_equal(t.level, level[rows])
    assert np.array_equal(strahler_order(t), strahler[rows])
    # order: levels non-decreasing, COMID increasing inside each level
    assert np.all(np.diff(t.level) >= 0)
    same = np.diff(t.level) == 0
    assert np.all(np.diff(t.comid)[same] > 0)
    assert np.all(t.indices_0 > t.indices_1)
    assert t.n_edges == t.n - 3
    assert np.diff(t.indptr).max() <= 4


def test_non_level_sorted_order_accumulates_correctly():
    # a valid topological order that is not level-sorted (like DDR/rustworkx orders)
    order = [1, 2, 3, 4, 5]  # 1 -> 2 -> 5, 3 -> 4 -> 5  (1 and 3 level 0, 2 and 4 level 1)
    t = topology_from_coo(order, [1, 4, 3, 4], [0, 1, 2, 3])
    assert t.level.tolist() == [0, 1, 0, 1, 2] and not t.is_level_sorted
    assert accumulate_upstream(t, np.ones(5)).tolist() == [1, 2, 1, 2, 5]
    assert strahler_order(t).tolist() == [1, 1, 1, 1, 2]


def test_50k_reaches_build_quickly():
    rng = np.random.default_rng(5)
    ids, nd, _ = _random_tree(50_000, rng, n_outlets=20, window=40)
    t0 = time.perf_counter()
    t = topology_from_table(ids, nd)
    strahler_order(t)
    accumulate_upstream(t, np.ones(t.n))
    elapsed = time.perf_counter() - t0
    assert t.n_levels > 1000  # deep main stems, as in MERIT
    assert elapsed < 20.0
