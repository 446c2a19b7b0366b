"""CCH engine against the networkx reference on random and hand-made graphs."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corridors.routing._toygraph import graph_from_edges, grid_graph
from corridors.routing.engine import (
    INF_WEIGHT,
    CCHEngine,
    EdgePath,
    NetworkxEngine,
    PathArrays,
    integer_weights,
)


@dataclass(frozen=True)
class At:
    edge: int
    fraction: float


def _check_path(graph, weights, path: EdgePath, origin: At, destination: At) -> None:
    """Pieces are consecutive, start/end at the points and their weights sum to the cost."""
    pieces = path.pieces
    for a, b in itertools.pairwise(pieces):
        assert graph.edge_head[a.edge] == graph.edge_tail[b.edge]
        assert a.end == 1.0
        assert b.start == 0.0
    assert _where(graph, pieces[0].edge, pieces[0].start) & _where_point(graph, origin)
    assert _where(graph, pieces[-1].edge, pieces[-1].end) & _where_point(graph, destination)
    total = sum(weights[p.edge] * (p.end - p.start) for p in pieces)
    assert total == pytest.approx(path.cost, abs=1e-9)
    # The arrays the engine keeps are the pieces.
    arrays, direct = path.arrays, PathArrays.of(pieces)
    assert arrays.key == direct.key


def _where(graph, edge: int, fraction: float) -> set[object]:
    """Names of a location: the node when at an edge end, else (edge, fraction) pairs."""
    if fraction == 0.0:
        return {("node", int(graph.edge_tail[edge]))}
    if fraction == 1.0:
        return {("node", int(graph.edge_head[edge]))}
    out: set[object] = {(edge, fraction)}
    rev = int(graph.edge_reverse[edge])
    if rev >= 0:
        out.add((rev, 1.0 - fraction))
    return out


def _where_point(graph, at: At) -> set[object]:
    return _where(graph, at.edge, at.fraction)


@st.composite
def random_case(draw):
    n = draw(st.integers(2, 10))
    m = draw(st.integers(1, 30))
    tails = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    heads = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    w = draw(st.lists(st.integers(0, 50), min_size=m, max_size=m))
    blocked = draw(st.lists(st.booleans(), min_size=m, max_size=m))
    fr = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])
    o = At(draw(st.integers(0, m - 1)), draw(fr))
    d = At(draw(st.integers(0, m - 1)), draw(fr))
    lon = draw(st.lists(st.floats(-72.4, -72.2), min_size=n, max_size=n))
    lat = draw(st.lists(st.floats(18.5, 18.6), min_size=n, max_size=n))
    g = graph_from_edges(lon, lat, tails, heads, w)
    weights = g.edge_duration_s.copy()
    weights[np.asarray(blocked)[np.argsort(np.asarray(tails), kind="stable")]] = np.inf
    return g, weights, o, d


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_cch_cost_equals_networkx_dijkstra(case) -> None:
    g, weights, o, d = case
    cch, ref = CCHEngine(g), NetworkxEngine(g)
    cch.set_weights("w", weights)
    ref.set_weights("w", weights)
    got, want = cch.route("w", o, d), ref.route("w", o, d)
    assert (got is None) == (want is None)
    if got is not None and want is not None:
        assert got.cost == pytest.approx(want.cost, abs=1e-9)
        _check_path(g, weights, got, o, d)
        _check_path(g, weights, want, o, d)


@settings(max_examples=60, deadline=None)
@given(random_case(), st.lists(st.booleans(), min_size=30, max_size=30))
def test_forbidden_edges_match_reference(case, ban) -> None:
    g, weights, o, d = case
    forbidden = np.asarray(ban[: g.edge_count], dtype=np.bool_)
    cch, ref = CCHEngine(g), NetworkxEngine(g)
    cch.set_weights(1, weights)
    ref.set_weights(1, weights)
    got = cch.route(1, o, d, forbidden=forbidden)
    want = ref.route(1, o, d, forbidden=forbidden)
    assert (got is None) == (want is None)
    if got is not None and want is not None:
        assert got.cost == pytest.approx(want.cost, abs=1e-9)
        assert not any(forbidden[p.edge] for p in got.pieces)
    # The temporary ban is reverted: the unconstrained answer is unchanged afterwards.
    again, plain = cch.route(1, o, d), ref.route(1, o, d)
    assert (again is None) == (plain is None)
    if again is not None and plain is not None:
        assert again.cost == pytest.approx(plain.cost, abs=1e-9)


def _node_as_point(graph, weights, node: int, *, arriving: bool) -> At | None:
    """``node`` as a point: the end of a passable edge into it (to leave from it) or the
    start of one out of it (to arrive at it)."""
    if arriving:
        out = np.flatnonzero((graph.edge_tail == node) & np.isfinite(weights))
        return At(int(out[0]), 0.0) if out.size else None
    into = np.flatnonzero((graph.edge_head == node) & np.isfinite(weights))
    return At(int(into[0]), 1.0) if into.size else None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_one_to_many_distances_and_via_routes_match_reference(case) -> None:
    g, weights, o, d = case
    cch, ref = CCHEngine(g), NetworkxEngine(g)
    cch.set_weights("w", weights)
    ref.set_weights("w", weights)
    nodes = np.arange(g.node_count, dtype=np.int64)
    with cch.searching("w") as search:
        from_o, to_d = search.via_costs(o, nodes, d)
        # The many-to-one on a search thread meanwhile gives the same costs.
        pooled = search.via_costs(o, nodes, d, parallel=True)
    np.testing.assert_array_equal(pooled[0], from_o)
    np.testing.assert_array_equal(pooled[1], to_d)
    # A point at an edge's end is on that edge (it may leave only along it), so the
    # nodes of the two end edges are left out: there a node and a point differ.
    ends = {int(g.edge_tail[e]) for e in (o.edge, d.edge)} | {
        int(g.edge_head[e]) for e in (o.edge, d.edge)
    }
    for v in nodes.tolist():
        to_v = _node_as_point(g, weights, v, arriving=True)
        from_v = _node_as_point(g, weights, v, arriving=False)
        if to_v is None or from_v is None or v in ends:
            continue
        first, second = ref.route("w", o, to_v), ref.route("w", from_v, d)
        assert from_o[v] == (pytest.approx(first.cost, abs=1e-6) if first else np.inf)
        assert to_d[v] == (pytest.approx(second.cost, abs=1e-6) if second else np.inf)
        via = cch.route_via("w", o, v, d)
        assert (via is None) == (first is None or second is None)
        if via is not None and first is not None and second is not None:
            assert via.cost == pytest.approx(first.cost + second.cost, abs=1e-6)
            assert v in {int(g.edge_head[p.edge]) for p in via.pieces} | {
                int(g.edge_tail[p.edge]) for p in via.pieces
            }
            for a, b in itertools.pairwise(via.pieces):
                assert g.edge_head[a.edge] == g.edge_tail[b.edge]


def test_grid_against_networkx_and_updates() -> None:
    g = grid_graph(15, 15, seed=7)
    rng = np.random.default_rng(1)
    cch, ref = CCHEngine(g), NetworkxEngine(g)
    w = g.edge_duration_s.copy()
    cch.set_weights("a", w)
    ref.set_weights("a", w)
    # A small change goes through the partial updater, a large one re-customises.
    w2 = w.copy()
    w2[:2] = np.inf
    assert cch.set_weights("a", w2).mode == "partial"
    w3 = w2 * rng.uniform(1, 3, w2.shape[0])
    assert cch.set_weights("a", w3).mode == "full"
    ref.set_weights("a", w3)
    for _ in range(30):
        o = At(int(rng.integers(g.edge_count)), float(rng.uniform()))
        d = At(int(rng.integers(g.edge_count)), float(rng.uniform()))
        got, want = cch.route("a", o, d), ref.route("a", o, d)
        assert (got is None) == (want is None)
        if got is not None and want is not None:
            # Integer rounding at 1 ms per unit: at most a few ms per edge.
            assert got.cost == pytest.approx(want.cost, abs=0.001 * len(got.pieces) + 1e-6)


def test_same_edge_points() -> None:
    # 0 -> 1 -> 2 one way, 100 s each; and a two-way edge 2 <-> 3.
    g = graph_from_edges(
        [0, 0.001, 0.002, 0.003], [0] * 4, [0, 1, 2, 3], [1, 2, 3, 2], [100.0, 100.0, 40.0, 40.0]
    )
    e = CCHEngine(g)
    e.set_weights(0, g.edge_duration_s)
    ahead = e.route(0, At(0, 0.2), At(0, 0.7))
    assert ahead is not None
    assert ahead.cost == pytest.approx(50.0)
    assert len(ahead.pieces) == 1
    # Behind on a one-way edge with no way round: no route.
    assert e.route(0, At(0, 0.7), At(0, 0.2)) is None
    # Behind on a two-way edge: take the reverse edge.
    back = e.route(0, At(2, 0.75), At(2, 0.25))
    assert back is not None
    assert back.cost == pytest.approx(20.0)
    assert back.pieces[0].edge == int(g.edge_reverse[2])


def test_integer_weights_never_overflow() -> None:
    w = np.array([1e12, 5.0, np.inf, 0.0])
    ints, scale = integer_weights(w, node_count=5)
    assert ints[2] == INF_WEIGHT
    finite = ints[ints < INF_WEIGHT]
    assert finite.sum() < INF_WEIGHT
    assert scale <= 1e-3
    small, s = integer_weights(np.array([1.5, 2.25]), node_count=3)
    assert s == 1000.0
    assert small.tolist() == [1500, 2250]
    with pytest.raises(ValueError, match=">= 0"):
        integer_weights(np.array([-1.0]), node_count=2)


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"


def _compare_on(graph, pairs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = graph.edge_duration_s * rng.uniform(1.0, 3.0, graph.edge_count)  # risk-like weights
    cch, ref = CCHEngine(graph), NetworkxEngine(graph)
    cch.set_weights(0, w)
    ref.set_weights(0, w)
    for _ in range(pairs):
        o = At(int(rng.integers(graph.edge_count)), float(rng.uniform()))
        d = At(int(rng.integers(graph.edge_count)), float(rng.uniform()))
        got, want = cch.route(0, o, d), ref.route(0, o, d)
        assert (got is None) == (want is None)
        if got is not None and want is not None:
            assert got.cost == pytest.approx(want.cost, abs=0.001 * len(got.pieces) + 1e-6)
            _check_path(graph, w, got, o, d)


def test_synthetic_city_against_networkx() -> None:
    synthetic = pytest.importorskip("corridors.graph.synthetic")
    _compare_on(synthetic.synthetic_city(20, 20, seed=2), pairs=20, seed=4)


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["graphhopper-monaco.osm.pbf", "osmnx-aguascalientes.osm.pbf"])
def test_real_extract_against_networkx(name: str) -> None:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} absent")
    build = pytest.importorskip("corridors.graph.build")
    graph = build.build_graph_from_file(path, built_at=datetime(2026, 1, 1, tzinfo=UTC))
    _compare_on(graph, pairs=15, seed=5)


def test_update_edges_matches_a_fresh_metric() -> None:
    g = grid_graph(12, 12, seed=3)
    rng = np.random.default_rng(5)
    w = g.edge_duration_s.copy()
    cch, ref = CCHEngine(g), NetworkxEngine(g)
    cch.set_weights("a", w)
    version = cch.version("a")
    # Unchanged values are not an update.
    assert cch.update_edges("a", np.array([0, 1]), w[[0, 1]]).mode == "none"
    assert cch.version("a") == version
    edges = rng.choice(g.edge_count, 3, replace=False)
    values = np.array([np.inf, 5 * w[edges[1]], 0.1 * w[edges[2]]])
    assert cch.update_edges("a", edges, values).mode == "partial"
    assert cch.version("a") != version
    w2 = w.copy()
    w2[edges] = values
    assert np.array_equal(cch.weights("a"), w2)
    ref.set_weights("a", w2)
    for _ in range(30):
        o = At(int(rng.integers(g.edge_count)), float(rng.uniform()))
        d = At(int(rng.integers(g.edge_count)), float(rng.uniform()))
        got, want = cch.route("a", o, d), ref.route("a", o, d)
        assert (got is None) == (want is None)
        if got is not None and want is not None:
            assert got.cost == pytest.approx(want.cost, rel=1e-6, abs=1e-3)
    with pytest.raises(ValueError, match=">= 0"):
        cch.update_edges("a", np.array([0]), np.array([-1.0]))


def test_engines_on_one_graph_share_the_cch() -> None:
    g = grid_graph(6, 6, seed=1)
    a, b = CCHEngine(g), CCHEngine(g)
    assert a._cch is b._cch
    assert CCHEngine(grid_graph(6, 6, seed=1))._cch is not a._cch


def test_customising_one_metric_leaves_queries_on_others_running() -> None:
    """Each metric has its own lock: while one is held (as by a re-customisation), a
    query on another metric completes; a query on the held one waits for it."""
    g = grid_graph(8, 8, seed=4)
    engine = CCHEngine(g)
    engine.set_weights("busy", g.edge_duration_s)
    engine.set_weights("free", g.edge_duration_s * 2)
    o, d = At(0, 0.5), At(g.edge_count - 1, 0.5)
    done: dict[str, EdgePath | None] = {}
    with engine._holding("busy"):
        free = threading.Thread(target=lambda: done.setdefault("free", engine.route("free", o, d)))
        busy = threading.Thread(target=lambda: done.setdefault("busy", engine.route("busy", o, d)))
        free.start()
        busy.start()
        free.join(30)
        assert not free.is_alive(), "a query waited for another metric's lock"
        busy.join(0.2)
        assert busy.is_alive()
        assert "busy" not in done
    busy.join(30)
    assert done["free"] is not None
    assert done["busy"] is not None
    assert done["free"].cost == pytest.approx(2 * done["busy"].cost)


def test_swap_exchanges_metrics_for_later_queries() -> None:
    g = grid_graph(8, 8, seed=4)
    engine = CCHEngine(g)
    slow = g.edge_duration_s * 3
    engine.set_weights("live", g.edge_duration_s)
    engine.set_weights("spare", slow)
    o, d = At(0, 0.5), At(g.edge_count - 1, 0.5)
    before = engine.route("live", o, d)
    engine.swap("live", "spare")
    after = engine.route("live", o, d)
    assert before is not None
    assert after is not None
    assert after.cost == pytest.approx(3 * before.cost)
    assert np.array_equal(engine.weights("live"), slow)
    assert np.array_equal(engine.weights("spare"), g.edge_duration_s)
    # The metrics keep working after the swap: updates reach the swapped-in one.
    w = slow.copy()
    w[: g.edge_count // 2] *= 2
    engine.set_weights("live", w)
    assert np.array_equal(engine.weights("live"), w)


def test_a_search_session_answers_as_single_queries_with_bans_between() -> None:
    """One session's shared query object gives what single queries give, also when a
    query in the middle bans edges (a partial update: with a query object alive the
    extension would panic) and after it (the ban is reverted)."""
    g = grid_graph(12, 12, seed=4)
    rng = np.random.default_rng(5)
    cch, ref = CCHEngine(g), NetworkxEngine(g)
    w = g.edge_duration_s.copy()
    cch.set_weights("s", w)
    ref.set_weights("s", w)
    pairs = [
        (At(int(a), float(f)), At(int(b), float(h)))
        for a, b, f, h in zip(
            rng.integers(g.edge_count, size=12),
            rng.integers(g.edge_count, size=12),
            rng.uniform(size=12),
            rng.uniform(size=12),
            strict=True,
        )
    ]
    nodes = rng.integers(g.node_count, size=(12, 2)).tolist()
    singles = [cch.route("s", o, d) for o, d in pairs]
    node_costs = [cch.node_distance("s", a, b) for a, b in nodes]
    forbidden = np.zeros(g.edge_count, dtype=np.bool_)
    banned_once = False
    with cch.searching("s", exclusive=True) as search:
        for (o, d), single, (a, b), cost in zip(pairs, singles, nodes, node_costs, strict=True):
            if not banned_once and single is not None and len(single.arrays.edges) > 2:
                banned_once = True  # ban the middle of the route just found
                forbidden[single.arrays.edges[len(single.arrays.edges) // 2]] = True
                banned = search.route(o, d, forbidden=forbidden)
                want = ref.route("s", o, d, forbidden=forbidden)
                assert banned is not None
                assert want is not None
                assert banned.cost == pytest.approx(want.cost, abs=1e-6)
                assert banned.cost >= single.cost
                assert not forbidden[banned.arrays.edges].any()
            got = search.route(o, d)
            assert (got is None) == (single is None)
            if got is not None and single is not None:
                assert got.arrays.key == single.arrays.key
                assert got.cost == single.cost
            assert search.node_distance(a, b) == cost
    assert banned_once
