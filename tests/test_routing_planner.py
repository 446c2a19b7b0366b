"""plan_routes: legs, constraints, no-route diagnosis, alternatives and Pareto sets."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridors.errors import NoRouteError
from corridors.routing import planner
from corridors.routing._toygraph import graph_from_edges, grid_graph
from corridors.routing.costs import CostModel, edge_costs, edge_exposure
from corridors.routing.engine import NetworkxEngine
from corridors.routing.pareto import (
    TWIN_EXPOSURE_FLOOR,
    TWIN_SHARE,
    nearly_dominates,
    pareto_front,
)
from corridors.routing.planner import (
    RouteBlockedError,
    RoutingState,
    plan_routes,
)


@dataclass
class Risk:
    edge_risk_per_km: np.ndarray
    edge_blocked: np.ndarray

    def contributors(self, edge: int) -> list[tuple[str, float]]:
        return [(f"r{edge}", 1.0)] if self.edge_risk_per_km[edge] > 0 else []


@dataclass(frozen=True)
class Snap:
    edge: int
    fraction: float


GRID = grid_graph(12, 12, seed=5)


def _risk(graph, seed: int, share: float = 0.2) -> Risk:
    rng = np.random.default_rng(seed)
    r = np.where(rng.random(graph.edge_count) < share, rng.uniform(0.5, 8, graph.edge_count), 0)
    return Risk(r, np.zeros(graph.edge_count, dtype=bool))


def _corner_snaps(graph) -> tuple[Snap, Snap]:
    s = graph.node_lon[graph.edge_tail] + graph.node_lat[graph.edge_tail]
    return Snap(int(np.argmin(s)), 0.5), Snap(int(np.argmax(s)), 0.5)


@pytest.fixture(scope="module")
def state() -> RoutingState:
    return RoutingState(GRID, _risk(GRID, 1), high_risk_per_km=4.0)


def _reference_cost(graph, risk, alpha, a, b, forbidden=None) -> float | None:
    w = edge_costs(
        graph.edge_duration_s,
        edge_exposure(graph, risk.edge_risk_per_km),
        CostModel().exposure_weight_s(alpha),
        impassable_mask=risk.edge_blocked,
    )
    ref = NetworkxEngine(graph)
    ref.set_weights(0, w)
    path = ref.route(0, a, b, forbidden=forbidden)
    return None if path is None else path.cost


def test_recommended_matches_reference_and_waypoints(state) -> None:
    o, d = _corner_snaps(GRID)
    w = Snap(GRID.edge_count // 2, 0.25)
    plan = plan_routes(state, GRID, state.risk, o, d, [w], risk_aversion=0.8)
    assert plan.risk_aversion_level == 0.75
    best = plan.routes[0]
    want = _reference_cost(GRID, state.risk, 0.75, o, w) + _reference_cost(
        GRID, state.risk, 0.75, w, d
    )
    assert best.cost == pytest.approx(want, abs=0.01)
    pieces = best.summary.pieces
    for p, q in itertools.pairwise(pieces):
        assert GRID.edge_head[p.edge] == GRID.edge_tail[q.edge] or p.edge in (
            w.edge,
            GRID.edge_reverse[w.edge],
        )


def test_max_edge_risk_and_avoid(state) -> None:
    o, d = _corner_snaps(GRID)
    avoid = np.arange(0, GRID.edge_count, 7)
    avoid = avoid[(avoid != o.edge) & (avoid != d.edge)]
    plan = plan_routes(
        state, GRID, state.risk, o, d, risk_aversion=0.0, max_edge_risk=2.0, avoid_edges=avoid
    )
    used = np.array(plan.routes[0].summary.edges)
    assert (state.risk.edge_risk_per_km[used[1:-1]] <= 2.0).all()
    assert not np.isin(used, avoid).any()
    forbidden = state.risk.edge_risk_per_km > 2.0
    forbidden[avoid] = True
    want = _reference_cost(GRID, state.risk, 0.0, o, d, forbidden)
    assert plan.routes[0].cost == pytest.approx(want, abs=0.01)


def test_no_route_names_blocking_edges() -> None:
    # Two two-way streets joined by one bridge 1<->2; a no-go zone blocks the bridge.
    g = graph_from_edges(
        [0, 0.001, 0.002, 0.003], [18.5] * 4, [0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2], [10.0] * 6
    )
    bridge = np.flatnonzero((g.edge_tail == 1) & (g.edge_head == 2))
    blocked = np.zeros(g.edge_count, dtype=bool)
    blocked[bridge] = True
    blocked[g.edge_reverse[bridge]] = True
    risk = Risk(np.zeros(g.edge_count), blocked)
    st_ = RoutingState(g, risk)
    o = Snap(int(np.flatnonzero((g.edge_tail == 0) & (g.edge_head == 1))[0]), 0.5)
    d = Snap(int(np.flatnonzero((g.edge_tail == 2) & (g.edge_head == 3))[0]), 0.5)
    with pytest.raises(NoRouteError) as info:
        plan_routes(st_, g, risk, o, d)
    err = info.value
    assert isinstance(err, RouteBlockedError)
    assert err.diagnosis.exists_without_zones
    assert not err.diagnosis.exists_without_request
    assert int(bridge[0]) in err.diagnosis.blocking_edges.tolist()
    assert "no-go" in err.detail


def test_alternatives_are_admissible(state) -> None:
    o, d = _corner_snaps(GRID)
    plan = plan_routes(state, GRID, state.risk, o, d, risk_aversion=0.5, alternatives=3)
    best = plan.routes[0]
    alts = [r for r in plan.routes if r.label == "alternative"]
    assert alts, "a 12x12 grid has dissimilar near-shortest routes"
    best_len = {p.edge: GRID.edge_length_m[p.edge] * (p.end - p.start) for p in best.summary.pieces}
    for r in alts:
        assert r.cost <= 1.4 * best.cost + 1e-6
        shared = sum(
            min(best_len[p.edge], GRID.edge_length_m[p.edge] * (p.end - p.start))
            for p in r.summary.pieces
            if p.edge in best_len
        )
        assert shared / sum(best_len.values()) == pytest.approx(r.overlap, abs=1e-9)
        assert r.overlap <= 0.5
        pieces = r.summary.pieces
        for p, q in itertools.pairwise(pieces):
            assert GRID.edge_head[p.edge] == GRID.edge_tail[q.edge]
        heads = [int(GRID.edge_head[p.edge]) for p in pieces]
        assert len(set(heads)) == len(heads), "alternatives are simple paths"


def test_adhoc_risk_view_equals_fresh_state(state) -> None:
    o, d = _corner_snaps(GRID)
    other = _risk(GRID, 9)
    got = plan_routes(state, GRID, other, o, d, risk_aversion=1.0)
    fresh = RoutingState(GRID, other, engine=state.engine)
    want = plan_routes(fresh, GRID, other, o, d, risk_aversion=1.0)
    assert got.routes[0].cost == pytest.approx(want.routes[0].cost)
    state.refresh(state.risk)  # the shared engine is back on the module's risk field


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.05, 0.6))
def test_pareto_set_has_no_dominated_route(seed, share) -> None:
    g = grid_graph(8, 8, seed=seed % 7)
    risk = _risk(g, seed, share)
    st_ = RoutingState(g, risk)
    o, d = _corner_snaps(g)
    plan = plan_routes(st_, g, risk, o, d, risk_aversion=0.5, pareto=True, alternatives=1)
    pts = plan.pareto
    assert 1 <= len(pts) <= 5
    for a in pts:
        route = plan.routes[a.route_rank]
        assert (route.summary.duration_s, route.summary.exposure) == (a.duration_s, a.exposure)
        for b in pts:
            if a is not b:
                dominated = (
                    b.duration_s <= a.duration_s
                    and b.exposure <= a.exposure
                    and (b.duration_s < a.duration_s or b.exposure < a.exposure)
                )
                assert not dominated
    # The safest point is no worse in exposure than the route at risk_aversion 1, but for
    # the margin within which a point is that route's twin.
    safest = plan_routes(st_, g, risk, o, d, risk_aversion=1.0).routes[0].summary.exposure
    assert min(p.exposure for p in pts) <= safest * (1 + TWIN_SHARE) + TWIN_EXPOSURE_FLOOR


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.6), st.sampled_from([0.0, 0.5, 0.9, 1.0]))
def test_pareto_sweep_that_skips_levels_finds_the_exhaustive_front(seed, share, alpha) -> None:
    """Levels between two with the same path are skipped; the front is that of all levels."""
    g = grid_graph(8, 8, seed=seed % 7)
    risk = _risk(g, seed, share)
    st_ = RoutingState(g, risk)
    o, d = _corner_snaps(g)
    plan = plan_routes(st_, g, risk, o, d, risk_aversion=alpha, pareto=True)
    every = {}
    for lv in st_.cost_model.levels:
        s = plan_routes(st_, g, risk, o, d, risk_aversion=lv).routes[0].summary
        every[(round(s.duration_s, 6), round(s.exposure, 6))] = s
    front = {a for a in every if not any(b[0] <= a[0] and b[1] <= a[1] and b != a for b in every)}
    got = {(round(p.duration_s, 6), round(p.exposure, 6)) for p in plan.pareto}
    assert got <= front
    # What is left out is a twin of what is kept; what is kept is no faster point's twin,
    # but for the recommended route, always kept.
    assert all(any(nearly_dominates(b, a) for b in got) for a in front - got)
    rec = plan.routes[0].summary
    rec_point = (round(rec.duration_s, 6), round(rec.exposure, 6))
    assert rec_point not in front or rec_point in got
    for a in got - {rec_point}:
        assert not any(nearly_dominates(b, a) for b in got if b[0] < a[0] or b == rec_point)


def _assert_like_a_fresh_state(st_: RoutingState, risk: Risk) -> None:
    """``st_`` holds the metrics a state built on ``risk`` would, and routes optimally."""
    g = st_.graph
    fresh = RoutingState(g, risk)
    for level in st_.cost_model.levels:
        assert np.array_equal(st_.engine.weights(level), fresh.engine.weights(level))
    o, d = _corner_snaps(g)
    for alpha in (0.0, 0.5, 1.0):
        got = plan_routes(st_, g, risk, o, d, risk_aversion=alpha).routes[0].cost
        want = _reference_cost(g, risk, alpha, o, d)
        assert want is not None
        assert got == pytest.approx(want, rel=1e-6)


def test_refresh_with_few_changed_edges_equals_a_fresh_state() -> None:
    g = grid_graph(10, 10, seed=2)
    base = _risk(g, 3)
    st_ = RoutingState(g, base)
    bumped = base.edge_risk_per_km.copy()
    bumped[:1] += 6.0  # one edge: well under the partial-update share
    blocked = base.edge_blocked.copy()
    blocked[5] = True
    new = Risk(bumped, blocked)
    stats = st_.refresh(new)
    assert {s.mode for s in stats.values()} <= {"partial", "none"}
    assert stats[0.0].mode == "partial"  # only the blocking changes the fastest metric
    _assert_like_a_fresh_state(st_, new)


def test_large_graphs_get_fewer_levels() -> None:
    model = CostModel()
    assert model.for_graph(100_000).levels == model.levels
    assert model.for_graph(500_000).levels == (0.0, 0.5, 1.0)
    assert model.for_graph(1_000_000).levels == (0.5, 1.0)
    assert model.for_graph(1_000_000).quantise(0.0) == 0.5
    assert CostModel(levels_by_size=None).for_graph(10**7).levels == model.levels


def test_via_sample_is_inside_the_detour_ellipse_and_misses_none_when_small() -> None:
    from corridors.graph.node_index import NodeIndex
    from corridors.graph.synthetic import synthetic_city
    from corridors.routing import alternatives as alt

    g = synthetic_city(60, 60, seed=3)
    proj = g.projection
    x, y = proj.to_xy(g.node_lon, g.node_lat)
    rng = np.random.default_rng(7)
    pairs = [
        (Snap(int(rng.integers(g.edge_count)), 0.5), Snap(int(rng.integers(g.edge_count)), 0.5))
        for _ in range(5)
    ]
    pairs.append((Snap(100, 0.1), Snap(100, 0.9)))  # a short trip: every node in the ellipse
    small = 0
    for o, d in pairs:
        s, t = int(g.edge_head[o.edge]), int(g.edge_tail[d.edge])
        reach = 1.4 * max(float(np.hypot(x[t] - x[s], y[t] - y[s])), alt.MIN_SPAN_M)
        inside = set(
            np.flatnonzero(
                np.hypot(x - x[s], y - y[s]) + np.hypot(x - x[t], y - y[t]) <= reach
            ).tolist()
        )
        got = alt._via_sample(g, NodeIndex.of(g), o, d, 1.4)
        assert set(got.tolist()) <= inside
        if len(inside) <= alt.VIA_SAMPLE:
            small += 1
            assert set(got.tolist()) == inside
        else:
            assert alt.VIA_SAMPLE / 4 <= got.shape[0] <= 2 * alt.VIA_SAMPLE
    assert small >= 1


def test_via_node_at_a_dead_end_is_turning_back_and_one_on_a_detour_is_not() -> None:
    from corridors.routing import alternatives as alt
    from corridors.routing.engine import CCHEngine

    # 0 - 1 - 2 - 3 along a street, a dead end 1 - 4 and a detour 1 - 5 - 2; all two-way.
    pairs = [(0, 1), (1, 2), (2, 3), (1, 4), (1, 5), (5, 2)]
    tails = [a for a, b in pairs] + [b for a, b in pairs]
    heads = [b for a, b in pairs] + [a for a, b in pairs]
    lon = [-72.34, -72.339, -72.338, -72.337, -72.339, -72.3385]
    lat = [18.54, 18.54, 18.54, 18.54, 18.541, 18.5395]
    g = graph_from_edges(lon, lat, tails, heads, [10.0] * len(tails))
    engine = CCHEngine(g)
    engine.set_weights("w", g.edge_duration_s.copy())
    edge = {
        (int(a), int(b)): e for e, (a, b) in enumerate(zip(g.edge_tail, g.edge_head, strict=True))
    }
    o, d = Snap(edge[(0, 1)], 0.5), Snap(edge[(2, 3)], 0.5)
    via = np.array([4, 5], dtype=np.int64)
    with engine.searching("w") as search:
        to_via, from_via, turning = alt._via_costs(search, g, via, o, d, parallel=False)
    assert turning.tolist() == [True, False]
    np.testing.assert_allclose(to_via, [5 + 10, 5 + 10])
    np.testing.assert_allclose(from_via, [10 + 10 + 5, 10 + 5])


def test_via_nodes_turning_back_make_paths_that_turn_back() -> None:
    """Every node flagged turning back has a via path that leaves it along the edge it
    came in by (random weights: no ties); its costs match the networkx reference."""
    from corridors.routing import alternatives as alt
    from corridors.routing.engine import CCHEngine

    flagged = 0
    for seed in range(20):
        g = grid_graph(7, 7, seed=seed, missing_share=0.15)
        rng = np.random.default_rng(seed)
        weights = g.edge_duration_s * rng.uniform(0.5, 2.0, g.edge_count)
        engine, ref = CCHEngine(g), NetworkxEngine(g)
        engine.set_weights("w", weights)
        ref.set_weights("w", weights)
        o = Snap(int(rng.integers(g.edge_count)), 0.5)
        d = Snap(int(rng.integers(g.edge_count)), 0.5)
        via = np.arange(g.node_count, dtype=np.int64)
        with engine.searching("w") as search:
            to_via, from_via, turning = alt._via_costs(search, g, via, o, d, seed % 2 == 1)
        for v in np.flatnonzero(turning).tolist():
            flagged += 1
            path = engine.route_via("w", o, v, d)
            assert path is not None
            assert path.cost == pytest.approx(to_via[v] + from_via[v], abs=1e-2)
            pieces = path.pieces
            at = [i for i, p in enumerate(pieces[:-1]) if int(g.edge_head[p.edge]) == v]
            assert at, "the via path passes the via node"
            into, out = pieces[at[0]].edge, pieces[at[0] + 1].edge
            assert int(g.edge_reverse[into]) == out, f"seed {seed}, node {v}: turns back"
            first = ref.route("w", o, Snap(out, 0.0))
            assert first is not None
            assert first.cost == pytest.approx(to_via[v], abs=1e-2)
    assert flagged >= 10, "grids with missing blocks have dead ends"


def test_staged_refresh_keeps_live_metrics_until_commit_and_takes_in_changes() -> None:
    """A full refresh customises spare metrics while reports keep reaching the live ones;
    the commit brings the spares up to date, swaps them in, and routes equal a fresh state."""
    g = grid_graph(10, 10, seed=2)
    old = _risk(g, 3)
    st_ = RoutingState(g, old, staged_refresh=True)
    levels = st_.cost_model.levels
    live_before = {lv: st_.engine.weights(lv).copy() for lv in levels}
    decayed = Risk(old.edge_risk_per_km * 0.7, old.edge_blocked.copy())  # every edge changes
    staged = st_.stage(decayed)
    assert staged is not None
    for lv in levels:  # live metrics untouched by the staging
        assert np.array_equal(st_.engine.weights(lv), live_before[lv])
    # A report meanwhile reaches the live metrics by a partial update.
    reported = old.edge_risk_per_km.copy()
    reported[7] += 9.0
    assert st_.refresh(Risk(reported, old.edge_blocked.copy()))[0.5].mode == "partial"
    # The full refresh installs the decayed field with the report (and a no-go edge) in it.
    final_risk = decayed.edge_risk_per_km.copy()
    final_risk[7] += 9.0
    final_blocked = old.edge_blocked.copy()
    final_blocked[11] = True
    final = Risk(final_risk, final_blocked)
    stats = st_.commit(staged, final)
    assert stats[0.5].mode == "partial"
    assert st_.risk is final
    _assert_like_a_fresh_state(st_, final)
    # The next report updates the swapped-in metrics in place, by a partial update.
    again = final_risk.copy()
    again[3] += 2.0
    assert st_.refresh(Risk(again, final_blocked))[0.5].mode == "partial"
    assert np.array_equal(
        st_.engine.weights(0.5), RoutingState(g, Risk(again, final_blocked)).engine.weights(0.5)
    )


def test_large_graphs_refresh_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    g = grid_graph(6, 6, seed=2)
    assert g.node_count <= planner.STAGED_REFRESH_MAX_NODES
    assert RoutingState(g, _risk(g, 1)).staged_refresh
    monkeypatch.setattr(planner, "STAGED_REFRESH_MAX_NODES", g.node_count - 1)
    in_place = RoutingState(g, _risk(g, 1))
    assert not in_place.staged_refresh
    before = in_place.engine.weights(0.5).copy()
    assert in_place.stage(_risk(g, 2)) is None
    assert np.array_equal(in_place.engine.weights(0.5), before)


def test_pareto_front_keeps_the_first_of_routes_with_equal_figures() -> None:
    """Figures equal but for the last bits (sums over pieces in another order) are one
    point of the front, held by the earlier route (the recommended one)."""
    twins = [(136.70000000000002, 0.0), (136.7, 0.0), (119.3, 0.56)]
    assert pareto_front(["recommended", "alternative", "fast"], twins) == ["fast", "recommended"]
    assert pareto_front(["a", "b"], [(1.0, 2.0), (1.0 + 1e-6, 2.0)]) == ["a"]
    assert pareto_front(["a", "b"], [(1.0, 2.0), (1.1, 1.9)]) == ["a", "b"]


def test_pareto_front_leaves_out_twins_of_the_points_it_keeps() -> None:
    """A point at most 1 % slower and 1 % (plus 0.05) more exposed than a kept one adds
    nothing; a route the answer holds anyway (``keep``) stays on the front."""
    twins = [(100.0, 10.0), (100.5, 9.95)]
    assert pareto_front(["fast", "twin"], twins) == ["fast"]
    # A kept route's twins go too, faster or not; kept routes stay, twins or not.
    assert pareto_front(["fast", "twin"], twins, keep={1}) == ["twin"]
    assert pareto_front(["fast", "twin"], twins, keep={0, 1}) == ["fast", "twin"]
    # Fastest first: a slower, much safer point is a trade-off, not a twin.
    assert pareto_front(["fast", "safer"], [(100.0, 10.0), (101.0, 9.5)]) == ["fast", "safer"]
    # Far slower for 0.5 % less exposure: nearly dominated, left out.
    assert pareto_front(["fast", "slow"], [(100.0, 10.0), (130.0, 9.95)]) == ["fast"]
    # Near-zero exposures are not told apart (the floor), larger ones are.
    assert pareto_front(["a", "b"], [(100.0, 0.04), (120.0, 0.0)]) == ["a"]
    assert pareto_front(["a", "b"], [(100.0, 0.2), (120.0, 0.0)]) == ["a", "b"]
    assert nearly_dominates((100.0, 10.0), (100.5, 9.95))
    assert not nearly_dominates((100.0, 10.0), (98.0, 9.0))


class _Inline:
    """An executor that runs each task at once in the caller's thread."""

    def submit(self, fn, *args):  # type: ignore[no-untyped-def]
        from concurrent.futures import Future

        future: Future[object] = Future()
        future.set_result(fn(*args))
        return future


def test_request_and_end_levels_are_searched_together_on_the_search_threads(
    state, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from corridors.routing.search_pool import SEARCH_POOL

    state = RoutingState(
        GRID, state.risk, high_risk_per_km=4.0, engine=state.engine, search_ahead=True
    )
    o, d = _corner_snaps(GRID)
    levels = state.cost_model.levels
    threads: dict[float, str] = {}
    both_started = threading.Barrier(2, timeout=10)  # the first two searches submitted
    inner = planner._route_legs

    def spy(st, risk_view, key, points, forbidden):  # type: ignore[no-untyped-def]
        threads[key] = threading.current_thread().name
        if key in (0.5, levels[0]):
            both_started.wait()  # each waits until the other one runs: side by side
        return inner(st, risk_view, key, points, forbidden)

    monkeypatch.setattr(planner, "_route_legs", spy)
    plan = plan_routes(state, GRID, state.risk, o, d, risk_aversion=0.5, pareto=True)
    for level in (0.5, levels[0]):
        assert threads[level].startswith("corridors-search")
    assert threads[0.5] != threads[levels[0]]
    # The third waits for a free search thread, or is searched here if none took it yet.
    assert levels[-1] in threads
    # The search threads keep their query objects: each makes at most one per level.
    import routingkit_cch as rk

    from corridors.routing import engine as engine_module

    made: list[str] = []  # the search thread that made each query object
    searched: list[str] = []  # the search thread of each search
    real = rk.CCHQuery

    def counting(metric):  # type: ignore[no-untyped-def]
        if threading.current_thread().name.startswith("corridors-search"):
            made.append(threading.current_thread().name)
        return real(metric)

    def on_pool(st, risk_view, key, points, forbidden):  # type: ignore[no-untyped-def]
        if threading.current_thread().name.startswith("corridors-search"):
            searched.append(threading.current_thread().name)
        return inner(st, risk_view, key, points, forbidden)

    monkeypatch.setattr(planner, "_route_legs", on_pool)
    monkeypatch.setattr(engine_module.rk, "CCHQuery", counting)
    for _ in range(6):
        plan_routes(state, GRID, state.risk, o, d, risk_aversion=0.5, pareto=True)
    assert len(searched) >= 6
    assert len(made) <= 2 * 3 < len(searched)  # two threads, three levels
    monkeypatch.setattr(engine_module.rk, "CCHQuery", real)
    monkeypatch.setattr(planner, "_route_legs", inner)
    # The same plan as searching every level in turn, in this thread ...
    monkeypatch.setattr(planner, "SEARCH_POOL", _Inline())
    again = plan_routes(state, GRID, state.risk, o, d, risk_aversion=0.5, pareto=True)
    assert [r.summary.path.key for r in plan.routes] == [r.summary.path.key for r in again.routes]
    assert plan.pareto == again.pareto
    # ... and as when the pool is too busy to start them: they are searched here instead.
    monkeypatch.setattr(planner, "SEARCH_POOL", _Busy())
    busy: list[planner.RoutePlan] = []
    worker = threading.Thread(
        target=lambda: busy.append(
            plan_routes(state, GRID, state.risk, o, d, risk_aversion=0.5, pareto=True)
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=10)
    assert busy, "the plan waited for searches that never start"
    assert [r.summary.path.key for r in busy[0].routes] == [r.summary.path.key for r in plan.routes]
    # An ad-hoc view: its metrics are dropped only once the sweep's searches are done, and
    # the search threads let go of their query objects for them.
    adhoc = _risk(GRID, 7)
    monkeypatch.setattr(planner, "SEARCH_POOL", SEARCH_POOL)
    kept_before = SEARCH_POOL.kept_count()
    got = plan_routes(state, GRID, adhoc, o, d, risk_aversion=0.5, pareto=True)
    assert not [k for k in state.engine.keys if isinstance(k, tuple)]
    assert SEARCH_POOL.kept_count() == kept_before
    assert got.routes[0].cost == pytest.approx(_reference_cost(GRID, adhoc, 0.5, o, d), abs=0.01)


def test_sweep_stays_on_the_request_thread_where_queries_are_quick(
    state, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    o, d = _corner_snaps(GRID)
    inline = RoutingState(
        GRID, state.risk, high_risk_per_km=4.0, engine=state.engine, search_ahead=False
    )
    ahead = RoutingState(
        GRID, state.risk, high_risk_per_km=4.0, engine=state.engine, search_ahead=True
    )
    threads: dict[float, str] = {}
    inner = planner._route_legs

    def spy(st, risk_view, key, points, forbidden):  # type: ignore[no-untyped-def]
        threads[key] = threading.current_thread().name
        return inner(st, risk_view, key, points, forbidden)

    monkeypatch.setattr(planner, "_route_legs", spy)
    plan = plan_routes(inline, GRID, inline.risk, o, d, risk_aversion=0.5, pareto=True)
    levels = inline.cost_model.levels
    assert {levels[0], levels[-1], 0.5} <= set(threads)
    assert threading.current_thread().name in set(threads.values())
    assert not [name for name in threads.values() if name.startswith("corridors-search")]
    # The same plan as with the end levels searched beside it.
    again = plan_routes(ahead, GRID, ahead.risk, o, d, risk_aversion=0.5, pareto=True)
    assert [r.summary.path.key for r in plan.routes] == [r.summary.path.key for r in again.routes]
    assert plan.pareto == again.pareto


def test_search_ahead_follows_the_measured_query_time(
    state, monkeypatch: pytest.MonkeyPatch
) -> None:
    took = state.engine.typical_query_s(0.5)
    assert 0.0 < took < 0.1  # a 12 x 12 grid
    monkeypatch.setattr(planner, "SEARCH_AHEAD_FROM_S", took / 100)
    assert RoutingState(GRID, state.risk, engine=state.engine).search_ahead
    monkeypatch.setattr(planner, "SEARCH_AHEAD_FROM_S", took * 100)
    assert not RoutingState(GRID, state.risk, engine=state.engine).search_ahead


class _Busy:
    """An executor that runs the first task at once (the request's own level, waited for)
    and never starts the others (every worker busy elsewhere)."""

    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, fn, *args):  # type: ignore[no-untyped-def]
        from concurrent.futures import Future

        self.submitted += 1
        return _Inline().submit(fn, *args) if self.submitted == 1 else Future()
