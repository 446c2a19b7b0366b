"""One entry point for route planning: :func:`plan_routes` on a :class:`RoutingState`.

:class:`RoutingState` owns the CCH of one graph and one customised metric per risk-aversion
level (:data:`corridors.routing.costs.LEVELS`; fewer on large graphs, see
:meth:`corridors.routing.costs.CostModel.for_graph`), all built from the current risk snapshot;
:meth:`RoutingState.refresh` re-customises them when the risk field changes (partial
updates when few edges changed); for a full refresh, :meth:`RoutingState.stage`
customises spare metrics beside the live ones and :meth:`RoutingState.commit` swaps them
in. A request is answered on the metric of the level nearest its ``risk_aversion``; its
own impassable edges (``avoid_edges``, ``max_edge_risk``) are applied per query (see
:meth:`corridors.routing.engine.CCHEngine.route`). A request whose risk view is not the
state's current snapshot (e.g. ``depart_at`` in the past) gets ad-hoc metrics, customised
for it and dropped after it (~0.2 s per level per 360k arcs).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Hashable, Iterator, Sequence
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from corridors.errors import NoRouteError
from corridors.graph.model import RoadGraph
from corridors.routing.alternatives import find_alternatives, overlap
from corridors.routing.costs import CostModel, edge_costs, edge_exposure, impassable
from corridors.routing.engine import (
    PARTIAL_UPDATE_MAX_SHARE,
    CCHEngine,
    EdgePath,
    EdgePosition,
    PathArrays,
    UpdateStats,
)
from corridors.routing.pareto import pareto_front
from corridors.routing.search_pool import SEARCH_POOL
from corridors.routing.sssp import reachable_nodes
from corridors.routing.summary import (
    RiskView,
    RouteSummary,
    duration_and_exposure,
    summarise_many,
)

__all__ = [
    "SEARCH_AHEAD_FROM_S",
    "STAGED_REFRESH_MAX_NODES",
    "NoRouteDiagnosis",
    "ParetoPoint",
    "PlannedRoute",
    "RiskSnapshot",
    "RouteBlockedError",
    "RoutePlan",
    "RoutingState",
    "SnapLike",
    "plan_routes",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class SnapLike(Protocol):
    """The fields of a snapped point routing uses (``graph.snap.Snap`` has them)."""

    @property
    def edge(self) -> int:
        """Edge index."""
        ...

    @property
    def fraction(self) -> float:
        """Position along the edge, 0 at its tail, 1 at its head."""
        ...


@dataclass(frozen=True, slots=True)
class NoRouteDiagnosis:
    """Why a leg has no route, for the caller to name the zone that blocks it.

    ``blocking_edges`` are impassable edges leaving the part of the network reachable from
    the leg's start (plus impassable start/end edges): map them to the no-go zones or avoid
    polygons that contain them. ``exists_without_zones`` says a route exists when no-go
    zones are ignored (request constraints kept); ``exists_without_request`` the reverse;
    ``exists_without_any`` whether the points are connected at all.
    """

    leg: int
    blocking_edges: IntArray
    exists_without_zones: bool
    exists_without_request: bool
    exists_without_any: bool


class RouteBlockedError(NoRouteError):
    """No route under the constraints; ``diagnosis`` says what blocks it."""

    def __init__(self, detail: str, *, diagnosis: NoRouteDiagnosis) -> None:
        super().__init__(detail)
        self.diagnosis = diagnosis


@dataclass(frozen=True, slots=True)
class PlannedRoute:
    """One route of a plan.

    ``label`` is ``recommended``, ``alternative`` or ``pareto``; ``overlap`` the share of
    the recommended route's length this route shares (1.0 for the recommended route);
    ``risk_aversion`` the level whose metric found it; ``cost`` its cost there
    (seconds-equivalent).
    """

    rank: int
    label: str
    summary: RouteSummary
    overlap: float
    risk_aversion: float
    cost: float


@dataclass(frozen=True, slots=True)
class ParetoPoint:
    """A non-dominated route: its duration (s), exposure (risk x km) and rank in ``routes``."""

    duration_s: float
    exposure: float
    route_rank: int


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Routes (recommended first) and, when asked, the Pareto set (fastest first)."""

    routes: list[PlannedRoute]
    pareto: list[ParetoPoint] = field(default_factory=list)
    risk_aversion_level: float = 0.0


#: Graphs up to this many nodes keep a spare metric per level for full refreshes (see
#: :meth:`RoutingState.stage`): ~30 MB per level per 100k nodes (177 MB for the 6 levels
#: at 100k), ~360 MB per level at 1M; beyond, the memory budget wins and a full refresh
#: re-customises in place.
STAGED_REFRESH_MAX_NODES = 200_000
#: A request searches its own level and its Pareto sweep's end levels together on the
#: search threads (:data:`corridors.routing.search_pool.SEARCH_POOL`, which keep their
#: query objects) when a query on the graph typically takes at least this long, s
#: (:meth:`CCHEngine.typical_query_s`, a fresh query object each, measured when the
#: state is made). Below it the hand-over costs more than the overlap saves. On a 2-core
#: AMD EPYC, the same requests with and without the pool (then searching only the end
#: levels there, without kept query objects), interleaved in one process (10k reports),
#: took 0.55 ms more with it on a 100k-node district city (0.3 ms a query, measured so),
#: 0.15 ms less on a 100k-node grid (0.8 ms) and 0.46 ms less on a 1M-node district city
#: (1.6-2.0 ms).
SEARCH_AHEAD_FROM_S = 0.6e-3


def _spare(level: float) -> Hashable:
    """Engine key of the spare metric of ``level``."""
    return ("spare", level)


@dataclass(frozen=True, slots=True, eq=False)
class RiskSnapshot:
    """A risk view with copies of its per-edge arrays, to compare the next one with.

    :meth:`RoutingState.stage` returns the one its spare metrics were customised for.
    """

    risk: RiskView
    risk_per_km: npt.NDArray[np.float64]
    blocked: BoolArray

    @classmethod
    def of(cls, risk: RiskView, edge_count: int) -> RiskSnapshot:
        """Copy the arrays of ``risk`` (a graph of ``edge_count`` edges)."""
        risk_per_km = np.array(risk.edge_risk_per_km, dtype=np.float64, copy=True)
        blocked = np.array(risk.edge_blocked, dtype=np.bool_, copy=True)
        if risk_per_km.shape != (edge_count,) or blocked.shape != (edge_count,):
            raise ValueError(f"risk arrays must have {edge_count} entries")
        return cls(risk, risk_per_km, blocked)

    def changed(self, other: RiskSnapshot) -> IntArray:
        """Edges whose risk or blocking differs in ``other``."""
        old, new = self.risk_per_km, other.risk_per_km
        same = (old == new) | (np.isnan(old) & np.isnan(new))
        same &= self.blocked == other.blocked
        return np.flatnonzero(~same)


class RoutingState:
    """The CCH of one graph and its per-level metrics for the current risk snapshot.

    Parameters
    ----------
    graph
        The road graph.
    risk
        The current risk snapshot.
    cost_model
        How exposure trades against time.
    high_risk_per_km
        Threshold, risk per km, for hotspots and high-risk distance.
    engine
        A prebuilt engine for ``graph`` (building one takes ~3 s per 100k nodes).
    staged_refresh
        Keep a spare metric per level so that a full refresh is customised beside the
        live metrics (:meth:`stage`, :meth:`commit`) instead of in place; default: on
        graphs of at most :data:`STAGED_REFRESH_MAX_NODES` nodes.
    search_ahead
        Search a request's own level and Pareto end levels together on the search
        threads; default: when a query typically takes at least
        :data:`SEARCH_AHEAD_FROM_S` (measured here, once the metrics are customised).
    """

    def __init__(
        self,
        graph: RoadGraph,
        risk: RiskView,
        *,
        cost_model: CostModel | None = None,
        high_risk_per_km: float = 1.0,
        engine: CCHEngine | None = None,
        staged_refresh: bool | None = None,
        search_ahead: bool | None = None,
    ) -> None:
        self.graph = graph
        self.cost_model = (cost_model or CostModel()).for_graph(graph.node_count)
        self.high_risk_per_km = high_risk_per_km
        self.engine = engine or CCHEngine(graph)
        if staged_refresh is None:
            staged_refresh = graph.node_count <= STAGED_REFRESH_MAX_NODES
        self.staged_refresh = staged_refresh
        self._adhoc_lock = threading.Lock()
        self._refresh_lock = threading.Lock()  # the live metrics change
        self._stage_lock = threading.Lock()  # the spare metrics change
        self._current: RiskSnapshot | None = None
        self._versions: dict[float, int | None] = {}
        self.risk = risk
        self.refresh(risk)
        if search_ahead is None:
            balanced = self.cost_model.quantise(0.5)
            search_ahead = self.engine.typical_query_s(balanced) >= SEARCH_AHEAD_FROM_S
        self.search_ahead = search_ahead

    def refresh(self, risk: RiskView) -> dict[float, UpdateStats]:
        """Make ``risk`` the current snapshot and update every level's metric in place.

        The edges whose risk or blocking changed since the previous snapshot are found
        once; when they are few (a new or retracted report), each level recomputes and
        updates only their weights (:meth:`CCHEngine.update_edges`), otherwise its whole
        weight vector (:meth:`CCHEngine.set_weights`, which compares every weight). A
        level whose metric someone else changed meanwhile (a shared engine) is rewritten.
        Queries on a level wait while its metric is re-customised.

        Returns
        -------
        dict
            Level -> how its metric was updated (mode, changed arcs, seconds).
        """
        target = RiskSnapshot.of(risk, self.graph.edge_count)
        with self._refresh_lock:
            stats = {
                level: self._update(level, level, self._current, target, own=True)
                for level in self.cost_model.levels
            }
            self._install(target)
        return stats

    def stage(self, risk: RiskView) -> RiskSnapshot | None:
        """Customise spare metrics for ``risk``, leaving the live ones in service.

        For a full refresh (time decay changes every weight): the spare metrics are
        re-customised here, outside the lock :meth:`refresh` takes, so that new or
        retracted reports keep reaching the live metrics meanwhile; :meth:`commit` then
        brings the spares up to date and swaps them in. ``None`` (nothing staged) when
        this state re-customises in place (``staged_refresh`` off: large graphs, where a
        spare metric per level would cost hundreds of MB).
        """
        if not self.staged_refresh:
            return None
        staged = RiskSnapshot.of(risk, self.graph.edge_count)
        with self._stage_lock:
            for level in self.cost_model.levels:
                weights = self._weights_of(staged, level)
                self.engine.set_weights(_spare(level), weights)
                del weights
        return staged

    def commit(self, staged: RiskSnapshot, risk: RiskView) -> dict[float, UpdateStats]:
        """Make ``risk`` current on the spare metrics :meth:`stage` made for ``staged``.

        Each spare gets the few changes between ``staged`` and ``risk`` (reports stored
        while it was customised), then takes the place of the live metric, which becomes
        the spare of the next full refresh.

        Returns
        -------
        dict
            Level -> how its spare metric was brought from ``staged`` to ``risk``.
        """
        target = RiskSnapshot.of(risk, self.graph.edge_count)
        with self._refresh_lock, self._stage_lock:
            stats: dict[float, UpdateStats] = {}
            for level in self.cost_model.levels:
                stats[level] = self._update(_spare(level), level, staged, target, own=False)
                self.engine.swap(level, _spare(level))
            self._install(target)
        return stats

    def _update(
        self,
        key: Hashable,
        level: float,
        current: RiskSnapshot | None,
        target: RiskSnapshot,
        *,
        own: bool,
    ) -> UpdateStats:
        """Bring metric ``key`` of ``level``, which reflects ``current``, to ``target``.

        Only the changed edges are rewritten when they are few and, with ``own``, nobody
        else changed the metric since this state last wrote it; else every weight.
        """
        changed = None if current is None else current.changed(target)
        m = self.graph.edge_count
        few = changed is not None and changed.size <= PARTIAL_UPDATE_MAX_SHARE * m
        if own:
            few = few and self._versions.get(level, -1) == self.engine.version(level)
        if few and changed is not None:
            values = self._weights_of(target, level, changed)
            return self.engine.update_edges(key, changed, values)
        del changed  # up to an index per edge, not needed for a full rewrite
        weights = self._weights_of(target, level)
        return self.engine.set_weights(key, weights)

    def _weights_of(
        self, snapshot: RiskSnapshot, level: float, edges: IntArray | None = None
    ) -> npt.NDArray[np.float64]:
        return _level_weights(
            self.graph, self.cost_model, snapshot.risk_per_km, snapshot.blocked, level, edges
        )

    def _install(self, target: RiskSnapshot) -> None:
        """Record ``target`` as what every live metric reflects (refresh lock held)."""
        for level in self.cost_model.levels:
            self._versions[level] = self.engine.version(level)
        self._current = target
        self.risk = target.risk

    def level_weights(self, risk: RiskView, level: float) -> npt.NDArray[np.float64]:
        """Float edge costs (seconds-equivalent) at a risk-aversion level."""
        return _level_weights(
            self.graph,
            self.cost_model,
            np.asarray(risk.edge_risk_per_km, dtype=np.float64),
            np.asarray(risk.edge_blocked, dtype=np.bool_),
            level,
        )


def _level_weights(
    graph: RoadGraph,
    model: CostModel,
    risk_per_km: npt.NDArray[np.float64],
    blocked: BoolArray,
    level: float,
    edges: IntArray | None = None,
) -> npt.NDArray[np.float64]:
    """Float costs at ``level`` of every edge, or of ``edges`` only (a partial update)."""
    pick = slice(None) if edges is None else edges
    return edge_costs(
        graph.edge_duration_s[pick],
        edge_exposure(graph, risk_per_km, edges),
        model.exposure_weight_s(level),
        impassable_mask=blocked[pick],
    )


def plan_routes(
    state: RoutingState,
    graph: RoadGraph,
    risk_view: RiskView,
    origin: SnapLike,
    destination: SnapLike,
    waypoints: Sequence[SnapLike] = (),
    *,
    risk_aversion: float = 0.5,
    alternatives: int = 0,
    avoid_edges: IntArray | None = None,
    max_edge_risk: float | None = None,
    pareto: bool = False,
    depart_at: datetime | None = None,
) -> RoutePlan:
    """Plan the recommended route, alternatives and Pareto set between snapped points.

    Parameters
    ----------
    state
        Engine and metrics for ``graph`` (current risk snapshot).
    graph
        The road graph (the one ``state`` was built on).
    risk_view
        Risk as of the departure; when it is not ``state.risk``, ad-hoc metrics are built.
    origin, destination, waypoints
        Snapped points; the route visits the waypoints in order (legs concatenated).
    risk_aversion
        0 fastest .. 1 safest; rounded to the nearest level of ``state.cost_model``.
    alternatives
        How many dissimilar alternatives to add (only without waypoints).
    avoid_edges
        Edges the request avoids (inside ``avoid.polygons``).
    max_edge_risk
        Edges with a higher risk per km are impassable.
    pareto
        Also return the non-dominated duration-versus-exposure routes (at most 5).
    depart_at
        Recorded in each route's risk profile.

    Returns
    -------
    RoutePlan

    Raises
    ------
    RouteBlockedError
        (a :class:`corridors.errors.NoRouteError`) when a leg has no route; its
        ``diagnosis`` gives the blocking edges.
    ValueError
        When ``risk_aversion`` is outside [0, 1].
    """
    if graph is not state.graph:
        raise ValueError("graph is not the graph the routing state was built on")
    model = state.cost_model
    level = model.quantise(risk_aversion)
    forbidden: BoolArray | None = None
    if max_edge_risk is not None or (avoid_edges is not None and len(avoid_edges)):
        forbidden = impassable(
            graph.edge_count,
            risk_per_km=risk_view.edge_risk_per_km,
            max_edge_risk=max_edge_risk,
            avoid_edges=avoid_edges,
        )
    points: list[SnapLike] = [origin, *waypoints, destination]
    adhoc = risk_view is not state.risk
    lock = state._adhoc_lock if adhoc else _NO_LOCK
    with lock:
        keys: dict[float, Hashable] = {}

        def key_for(lv: float) -> Hashable:
            if lv not in keys:
                if adhoc:
                    keys[lv] = ("adhoc", lv)
                    state.engine.set_weights(keys[lv], state.level_weights(risk_view, lv))
                else:
                    keys[lv] = lv
            return keys[lv]

        try:
            return _plan(
                state,
                risk_view,
                points,
                key_for,
                level,
                forbidden,
                alternatives=alternatives,
                pareto=pareto,
                depart_at=depart_at,
            )
        finally:
            if adhoc:
                for k in keys.values():
                    state.engine.drop(k)


class _NullLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NullLock()


def _route_legs(
    state: RoutingState,
    risk_view: RiskView,
    key: Hashable,
    points: Sequence[SnapLike],
    forbidden: BoolArray | None,
) -> EdgePath:
    legs: list[EdgePath] = []
    for leg, (a, b) in enumerate(itertools.pairwise(points)):
        path = state.engine.route(key, a, b, forbidden=forbidden)
        if path is None:
            raise _blocked(state, risk_view, leg, a, b, forbidden)
        legs.append(path)
    if len(legs) == 1:
        return legs[0]
    arrays = PathArrays.concat([path.arrays for path in legs])
    return EdgePath(arrays, sum(path.cost for path in legs))


def _plan(
    state: RoutingState,
    risk_view: RiskView,
    points: Sequence[SnapLike],
    key_for: _KeyFor,
    level: float,
    forbidden: BoolArray | None,
    *,
    alternatives: int,
    pareto: bool,
    depart_at: datetime | None,
) -> RoutePlan:
    graph = state.graph
    levels = state.cost_model.levels
    # On graphs where a query is slow, the request's level and the Pareto sweep's end
    # levels (always searched) are searched together on the search threads, which keep
    # their query objects (RoutingKit queries release the GIL). Not with forbidden edges:
    # those change the metric for the query's time.
    pooled = state.search_ahead and forbidden is None
    ahead_levels = [level, levels[0], levels[-1]] if pareto else [level]
    with _searched_ahead(
        state, risk_view, points, key_for, list(dict.fromkeys(ahead_levels)) if pooled else []
    ) as ahead:
        key = key_for(level)
        # Submitted first, the request's own level is waited for: a search thread keeps
        # the query objects that would be made here.
        best = _searched(state, risk_view, points, key_for, level, forbidden, ahead, wait=True)
        # The routes found, summarised together at the end (one pass for all of them).
        found = [_Found("recommended", best, 1.0, level)]
        if alternatives > 0 and len(points) == 2:
            for alt in find_alternatives(
                state.engine,
                key,
                best,
                points[0],
                points[1],
                alternatives,
                forbidden=forbidden,
                parallel=state.search_ahead,
            ):
                found.append(_Found("alternative", alt.path, alt.overlap, level))
        points_out: list[ParetoPoint] = []
        if pareto:
            # Candidates are compared on their figures; only new members of the front become
            # routes. Paths are told apart by their arrays' bytes (hashing long tuples of
            # pieces cost more).
            candidates: list[tuple[EdgePath, float, float, float]] = [
                (f.path, f.risk_aversion, *duration_and_exposure(graph, risk_view, f.path.arrays))
                for f in found
            ]
            rank_of = {f.path.arrays.key: rank for rank, f in enumerate(found)}
            seen = set(rank_of)
            # The cost is linear in lambda, so a path optimal at two levels is optimal at
            # every level between them: the end levels first, then a level only when the
            # paths at its nearest known neighbours differ.
            path_at: dict[float, bytes] = {level: best.arrays.key}
            for lv in [levels[0], levels[-1], *levels[1:-1]]:
                if lv in path_at:
                    continue
                below = [k for k in path_at if k < lv]
                above = [k for k in path_at if k > lv]
                if below and above and path_at[max(below)] == path_at[min(above)]:
                    path_at[lv] = path_at[max(below)]
                    continue
                path = _searched(state, risk_view, points, key_for, lv, forbidden, ahead)
                arrays = path.arrays
                path_at[lv] = arrays.key
                if arrays.key in seen:
                    continue
                seen.add(arrays.key)
                figures = duration_and_exposure(graph, risk_view, arrays)
                candidates.append((path, lv, *figures))
            objectives = [(c[2], c[3]) for c in candidates]
            front = pareto_front(list(range(len(candidates))), objectives, keep=range(len(found)))
            for i in front:
                path, lv, duration_s, exposure = candidates[i]
                arrays = path.arrays
                rank = rank_of.get(arrays.key)
                if rank is None:
                    rank = rank_of[arrays.key] = len(found)
                    found.append(_Found("pareto", path, overlap(graph, arrays, best.arrays), lv))
                points_out.append(ParetoPoint(duration_s, exposure, rank))
    summaries = summarise_many(
        graph,
        risk_view,
        [f.path.arrays for f in found],
        high_risk_per_km=state.high_risk_per_km,
        depart_at=depart_at,
    )
    routes = [
        PlannedRoute(rank, f.label, summary, f.overlap, f.risk_aversion, f.path.cost)
        for rank, (f, summary) in enumerate(zip(found, summaries, strict=True))
    ]
    return RoutePlan(routes, points_out, level)


@dataclass(frozen=True, slots=True)
class _Found:
    """A route of the plan before its summary: its label, path, overlap with the
    recommended route and the level whose metric found it."""

    label: str
    path: EdgePath
    overlap: float
    risk_aversion: float


def _searched(
    state: RoutingState,
    risk_view: RiskView,
    points: Sequence[SnapLike],
    key_for: _KeyFor,
    level: float,
    forbidden: BoolArray | None,
    ahead: dict[float, Future[EdgePath]],
    *,
    wait: bool = False,
) -> EdgePath:
    """The path at ``level``: searched ahead when it was and has started (or, with
    ``wait``, once it has), else here (a search the busy pool has not started is
    cancelled)."""
    if level in ahead and (wait or not ahead[level].cancel()):
        return ahead[level].result()
    return _route_legs(state, risk_view, key_for(level), points, forbidden)


@contextmanager
def _searched_ahead(
    state: RoutingState,
    risk_view: RiskView,
    points: Sequence[SnapLike],
    key_for: _KeyFor,
    levels: Sequence[float],
) -> Iterator[dict[float, Future[EdgePath]]]:
    """The paths at ``levels`` (no forbidden edges), searched on the search threads
    meanwhile; waited for on leaving (the caller may drop the metrics after)."""
    ahead = {
        lv: SEARCH_POOL.submit(_route_legs, state, risk_view, key_for(lv), points, None)
        for lv in levels
    }
    try:
        yield ahead
    finally:
        # A search not started yet never will be once cancelled; a started one is waited for.
        wait([future for future in ahead.values() if not future.cancel()])


class _KeyFor(Protocol):
    def __call__(self, lv: float, /) -> Hashable: ...


def _blocked(
    state: RoutingState,
    risk_view: RiskView,
    leg: int,
    a: EdgePosition,
    b: EdgePosition,
    forbidden: BoolArray | None,
) -> RouteBlockedError:
    graph = state.graph
    zones = np.asarray(risk_view.edge_blocked, dtype=np.bool_)
    request = forbidden if forbidden is not None else np.zeros(graph.edge_count, np.bool_)

    def ends(p: EdgePosition) -> list[int]:
        out = [int(p.edge)]
        rev = int(graph.edge_reverse[p.edge])
        if rev >= 0:
            out.append(rev)
        return out

    a_edges, b_edges = ends(a), ends(b)

    def exists(bad: BoolArray) -> bool:
        starts = [int(graph.edge_head[e]) for e in a_edges if not bad[e]]
        goals = [int(graph.edge_tail[e]) for e in b_edges if not bad[e]]
        if not starts or not goals:
            return False
        # Same-edge case: both points on one passable edge (direction ignored here).
        if set(a_edges) & set(b_edges) - {e for e in a_edges if bad[e]}:
            return True
        seen = reachable_nodes(graph, ~bad, starts)
        return bool(seen[goals].any())

    bad_all = zones | request
    starts = [int(graph.edge_head[e]) for e in a_edges if not bad_all[e]]
    seen = (
        reachable_nodes(graph, ~bad_all, starts) if starts else np.zeros(graph.node_count, np.bool_)
    )
    frontier = np.flatnonzero(bad_all & seen[graph.edge_tail])
    end_edges = [e for e in (*a_edges, *b_edges) if bad_all[e]]
    blocking = np.unique(np.concatenate([frontier, np.asarray(end_edges, dtype=np.int64)]))
    diag = NoRouteDiagnosis(
        leg=leg,
        blocking_edges=blocking.astype(np.int64),
        exists_without_zones=exists(request),
        exists_without_request=exists(zones),
        exists_without_any=exists(np.zeros(graph.edge_count, np.bool_)),
    )
    if not diag.exists_without_any:
        detail = "the points are not connected by the road network"
    elif diag.exists_without_zones and not diag.exists_without_request:
        detail = "every route crosses a no-go zone"
    elif diag.exists_without_request and not diag.exists_without_zones:
        detail = "every route crosses an avoided area or exceeds max_edge_risk"
    else:
        detail = "no route avoids both the no-go zones and the request's constraints"
    return RouteBlockedError(detail, diagnosis=diag)
