"""Search threads keep their RoutingKit query objects; metric changes still go through."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pytest

from corridors.routing._toygraph import grid_graph
from corridors.routing.engine import CCHEngine, NetworkxEngine
from corridors.routing.search_pool import SEARCH_POOL, SearchPool, kept, on_search_thread


@dataclass(frozen=True)
class At:
    edge: int
    fraction: float


G = grid_graph(9, 9, seed=3)


def _engines(seed: int) -> tuple[CCHEngine, NetworkxEngine, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = G.edge_duration_s * rng.uniform(1.0, 3.0, G.edge_count)
    cch, ref = CCHEngine(G), NetworkxEngine(G)
    cch.set_weights("w", weights)
    ref.set_weights("w", weights)
    return cch, ref, weights


def _pairs(seed: int, n: int) -> list[tuple[At, At]]:
    rng = np.random.default_rng(seed)
    return [
        (At(int(a), float(f)), At(int(b), float(g)))
        for a, b, f, g in zip(
            rng.integers(0, G.edge_count, n),
            rng.integers(0, G.edge_count, n),
            rng.uniform(0, 1, n),
            rng.uniform(0, 1, n),
            strict=True,
        )
    ]


def _on_every_thread(pool: SearchPool, fn) -> list[object]:  # type: ignore[no-untyped-def]
    """``fn()`` on each of the pool's threads at once (each waits for the others)."""
    together = threading.Barrier(2, timeout=10)

    def task():  # type: ignore[no-untyped-def]
        together.wait()
        return fn()

    futures = [pool.submit(task) for _ in range(2)]
    return [f.result(timeout=20) for f in futures]


def _cost(path) -> float | None:  # type: ignore[no-untyped-def]
    return None if path is None else path.cost


def test_kept_objects_live_on_search_threads_only() -> None:
    pool = SearchPool(2, "test-keep")
    owner = object()
    assert kept(owner, object) is None  # not a search thread: the caller makes its own
    assert not on_search_thread()
    first = _on_every_thread(pool, lambda: kept(owner, object))
    again = _on_every_thread(pool, lambda: kept(owner, object))
    assert first[0] is not first[1]  # one per thread
    assert set(map(id, first)) == set(map(id, again))  # and kept from one task to the next
    assert pool.kept_count() == 2
    pool.evict(owner)
    assert pool.kept_count() == 0
    assert _on_every_thread(pool, on_search_thread) == [True, True]
    with pytest.raises(RuntimeError, match="cannot wait"):
        pool.submit(pool.evict, owner).result(timeout=10)


def test_metric_changes_go_through_while_search_threads_keep_query_objects() -> None:
    cch, ref, weights = _engines(1)
    pairs = _pairs(2, 20)
    before = SEARCH_POOL.kept_count()

    def check(w: np.ndarray) -> None:
        ref.set_weights("w", w)
        for o, d in pairs:
            on_pool = SEARCH_POOL.submit(cch.route, "w", o, d).result(timeout=20)
            assert _cost(on_pool) == pytest.approx(_cost(ref.route("w", o, d)), abs=0.05)

    check(weights)
    _on_every_thread(SEARCH_POOL, lambda: cch.route("w", *pairs[0]))
    assert SEARCH_POOL.kept_count() == before + 2  # both threads keep one for "w"
    # A partial update, a full one, per-edge updates and a query with forbidden edges,
    # each with query objects kept on both threads (the extension would panic).
    w = weights.copy()
    w[:2] *= 3.0  # under 1 % of the edges
    assert cch.set_weights("w", w).mode == "partial"
    check(w)
    w = weights * 2.0
    assert cch.set_weights("w", w).mode == "full"
    check(w)
    edges = np.arange(10, 20)
    w[edges] = np.inf
    cch.update_edges("w", edges, w[edges])
    check(w)
    _on_every_thread(SEARCH_POOL, lambda: cch.route("w", *pairs[0]))
    forbidden = np.zeros(G.edge_count, dtype=np.bool_)
    forbidden[cch.route("w", *pairs[1]).arrays.edges[1:-1]] = True  # type: ignore[union-attr]
    banned = w.copy()
    banned[forbidden] = np.inf
    ref.set_weights("banned", banned)
    got = cch.route("w", *pairs[1], forbidden=forbidden)
    assert _cost(got) == pytest.approx(_cost(ref.route("banned", *pairs[1])), abs=0.05)
    check(w)  # the metric is as it was
    # Dropping the metric lets the search threads' query objects go too.
    cch.drop("w")
    assert SEARCH_POOL.kept_count() == before
    assert "w" not in cch.keys


def test_no_metric_change_from_a_search_thread() -> None:
    cch, _, weights = _engines(3)
    with pytest.raises(RuntimeError, match="search thread"):
        SEARCH_POOL.submit(cch.set_weights, "w", weights * 2).result(timeout=20)
    forbidden = np.zeros(G.edge_count, dtype=np.bool_)
    o, d = _pairs(4, 1)[0]
    with pytest.raises(RuntimeError, match="search thread"):
        SEARCH_POOL.submit(lambda: cch.route("w", o, d, forbidden=forbidden)).result(timeout=20)
    cch.drop("w")


def test_searches_and_updates_at_once_neither_panic_nor_stall() -> None:
    cch, ref, weights = _engines(5)
    pairs = _pairs(6, 12)
    rng = np.random.default_rng(7)
    stop = threading.Event()
    errors: list[BaseException] = []
    answered = [0]

    def ask() -> None:
        while not stop.is_set():
            futures = [SEARCH_POOL.submit(cch.route, "w", o, d) for o, d in pairs]
            try:
                for future in futures:
                    future.result(timeout=20)
                    answered[0] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    w = weights.copy()
    for i in range(40):
        edges = rng.choice(G.edge_count, 8, replace=False)
        w[edges] = G.edge_duration_s[edges] * rng.uniform(1.0, 3.0, 8)
        if i % 10 == 9:
            cch.set_weights("w", w * 1.5)  # a full re-customisation now and then
            cch.set_weights("w", w)
        else:
            cch.update_edges("w", edges, w[edges])
    stop.set()
    asker.join(timeout=30)
    assert not asker.is_alive()
    assert not errors
    assert answered[0] > 0
    ref.set_weights("w", w)
    for o, d in pairs:
        got = SEARCH_POOL.submit(cch.route, "w", o, d).result(timeout=20)
        assert _cost(got) == pytest.approx(_cost(ref.route("w", o, d)), abs=0.05)
    cch.drop("w")


def test_via_costs_run_here_when_the_search_threads_are_busy() -> None:
    """The many-to-one a search thread has not started is cancelled and run by the caller,
    which holds the metric's lock: the answer comes without the busy threads."""
    cch, ref, _ = _engines(8)
    nodes = np.arange(G.node_count, dtype=np.int64)
    o, d = _pairs(9, 1)[0]
    release = threading.Event()
    busy = [SEARCH_POOL.submit(release.wait, 20) for _ in range(2)]
    try:
        with cch.searching("w") as search:
            to_nodes, from_nodes = search.via_costs(o, nodes, d, parallel=True)
        assert not any(future.done() for future in busy)
    finally:
        release.set()
    for future in busy:
        future.result(timeout=20)
    with cch.searching("w") as search:
        want = search.via_costs(o, nodes, d)
    np.testing.assert_array_equal(to_nodes, want[0])
    np.testing.assert_array_equal(from_nodes, want[1])
    checked = _check_against_reference(ref, o, to_nodes)
    assert checked > 0
    cch.drop("w")


def _check_against_reference(ref: NetworkxEngine, o: At, to_nodes: np.ndarray) -> int:
    """``to_nodes`` against the reference's cheapest arrival at each node (over its edges
    in), away from the origin's own edge (where a point and a node differ); how many."""
    checked = 0
    ends = {int(G.edge_tail[o.edge]), int(G.edge_head[o.edge])}
    for v in range(0, G.node_count, 7):
        if v in ends:
            continue
        arrivals = [ref.route("w", o, At(int(e), 1.0)) for e in np.flatnonzero(G.edge_head == v)]
        costs = [p.cost for p in arrivals if p is not None]
        assert to_nodes[v] == pytest.approx(min(costs) if costs else np.inf, abs=0.05)
        checked += 1
    return checked


def test_threaded_via_costs_and_updates_at_once_neither_panic_nor_stall() -> None:
    cch, ref, weights = _engines(10)
    nodes = np.arange(G.node_count, dtype=np.int64)
    pairs = _pairs(11, 6)
    rng = np.random.default_rng(12)
    stop = threading.Event()
    errors: list[BaseException] = []
    answered = [0]

    def ask() -> None:
        while not stop.is_set():
            try:
                for o, d in pairs:
                    with cch.searching("w") as search:
                        search.via_costs(o, nodes, d, parallel=True)
                    answered[0] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    askers = [threading.Thread(target=ask, daemon=True) for _ in range(2)]
    for asker in askers:
        asker.start()
    w = weights.copy()
    for _ in range(30):
        edges = rng.choice(G.edge_count, 8, replace=False)
        w[edges] = G.edge_duration_s[edges] * rng.uniform(1.0, 3.0, 8)
        cch.update_edges("w", edges, w[edges])
    stop.set()
    for asker in askers:
        asker.join(timeout=30)
        assert not asker.is_alive()
    assert not errors
    assert answered[0] > 0
    ref.set_weights("w", w)
    o, d = pairs[0]
    with cch.searching("w") as search:
        to_nodes, _ = search.via_costs(o, nodes, d, parallel=True)
    assert _check_against_reference(ref, o, to_nodes) > 0
    cch.drop("w")


def test_forbidden_edges_need_an_exclusive_search() -> None:
    cch, ref, weights = _engines(8)
    o, d = _pairs(9, 1)[0]
    path = cch.route("w", o, d)
    assert path is not None
    forbidden = np.zeros(G.edge_count, dtype=np.bool_)
    forbidden[path.arrays.edges] = True  # the path found: the ban must change the metric
    with cch.searching("w") as search, pytest.raises(RuntimeError, match="exclusive"):
        search.route(o, d, forbidden=forbidden)
    banned = weights.copy()
    banned[forbidden] = np.inf
    ref.set_weights("banned", banned)
    with cch.searching("w", exclusive=True) as search:
        got = search.route(o, d, forbidden=forbidden)
    assert _cost(got) == pytest.approx(_cost(ref.route("banned", o, d)), abs=0.05)
    cch.drop("w")
