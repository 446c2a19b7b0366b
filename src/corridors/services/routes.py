"""Route planning and escort assessment: the use cases behind ``/v1/routes``,
``/v1/escort-assessments`` and ``corridors route``.

Snaps the points, takes the risk field as of the departure, plans routes on the routing
metrics, then runs the escort policy on each route with the two searches it asks for:
a safer route within a detour budget (taken from the plan's Pareto and alternative
routes) and the same route at other departure times (re-measured on the risk field of
that time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from shapely.geometry.base import BaseGeometry

from corridors.domain import Convoy, Hotspot, RiskLevel, RouteRiskProfile
from corridors.errors import InputError, NoRouteError, SnapError
from corridors.escort import EscortAssessment, assess, route_level
from corridors.graph.geo import polyline_legs_m
from corridors.graph.snap import Snap
from corridors.risk.engine import RiskField
from corridors.risk.zones import edges_intersecting
from corridors.routing import PlannedRoute, RouteBlockedError, RoutePlan, plan_routes
from corridors.routing.engine import PathArrays, Piece
from corridors.routing.summary import RouteSummary, measure, summarise
from corridors.services.runtime import Runtime

__all__ = [
    "AssessedRoute",
    "RoutesResult",
    "assess_geometry",
    "assess_stored_route",
    "plan",
]

_MAX_DRAWN_VERTICES = 200
#: Departure times the escort policy tries hours away share risk fields at this resolution.
_DEPARTURE_QUANTUM = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class _Unexplained:
    """A risk field without its report explanations: the escort policy's departure-time
    search needs the figures only, and explaining every hotspot is the costly part."""

    field: RiskField

    @property
    def edge_risk_per_km(self) -> npt.NDArray[np.float64]:
        return self.field.edge_risk_per_km

    def edge_risk_of(self, edges: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return self.field.edge_risk_of(edges)

    @property
    def edge_blocked(self) -> npt.NDArray[np.bool_]:
        return self.field.edge_blocked

    def contributors(self, edge: int) -> Sequence[tuple[str, float]]:
        return ()


@dataclass(frozen=True, slots=True)
class AssessedRoute:
    """One planned route with its level and escort assessment."""

    id: str
    planned: PlannedRoute
    level: RiskLevel
    assessment: EscortAssessment

    @property
    def summary(self) -> RouteSummary:
        """The route's measures (distance, duration, exposure, hotspots, steps, geometry)."""
        return self.planned.summary


@dataclass(frozen=True, slots=True)
class RoutesResult:
    """The answer to a route request."""

    routes: list[AssessedRoute]
    plan: RoutePlan
    field: RiskField
    depart_at: datetime
    origin_snap: Snap
    destination_snap: Snap


def _snap(runtime: Runtime, lon: float, lat: float, what: str) -> Snap:
    try:
        return runtime.snapper.snap(lon, lat, max_distance_m=runtime.settings.max_snap_m)
    except SnapError as exc:
        raise SnapError(f"{what}: {exc.detail}", distance_m=exc.distance_m) from exc


def _avoid_edges(runtime: Runtime, polygons: Sequence[BaseGeometry]) -> np.ndarray | None:
    if not polygons:
        return None
    index = runtime.risk.engine.edge_index
    found = [edges_intersecting(index, polygon) for polygon in polygons]
    return np.unique(np.concatenate(found)).astype(np.int64)


def _no_route(exc: RouteBlockedError, field: RiskField, *, constrained: bool) -> NoRouteError:
    diagnosis = exc.diagnosis
    zones = field.blocking_zone_ids(diagnosis.blocking_edges)
    if diagnosis.exists_without_zones and zones:
        detail = "No route: every way is blocked by no-go zone(s) " + ", ".join(zones) + "."
    elif constrained and diagnosis.exists_without_request:
        detail = "No route avoids the requested polygons and max_edge_risk; relax them."
    elif not diagnosis.exists_without_any:
        detail = "No route: the points are not connected by drivable roads."
    else:
        detail = "No route satisfies the constraints."
        zones = zones or []
    return NoRouteError(detail, blocking_zones=zones)


def _profile(profile: RouteRiskProfile, path: PathArrays, field: RiskField) -> RouteRiskProfile:
    """``profile`` (measured on ``field``) with its ends marked as in risk also when they
    lie in a caution zone; it marks the high-risk ones itself."""
    starts = profile.starts_in_risk or bool(field.edge_zone[path.edges[0]] >= 0)
    ends = profile.ends_in_risk or bool(field.edge_zone[path.edges[-1]] >= 0)
    if starts == profile.starts_in_risk and ends == profile.ends_in_risk:
        return profile
    return replace(profile, starts_in_risk=starts, ends_in_risk=ends)


def _points_at(
    lonlat_deg: npt.NDArray[np.float64],
) -> Callable[[Sequence[float]], list[tuple[float, float]]]:
    """``distances_m -> [(lon, lat), ...]`` along a polyline (escort hand-over points),
    interpolated linearly between vertices; distances outside the line are clamped to it.

    The cumulative distances are measured on the first call: most routes need no
    hand-over point.
    """
    cumulative_m: list[npt.NDArray[np.float64]] = []

    def points_at(distances_m: Sequence[float]) -> list[tuple[float, float]]:
        if not cumulative_m:
            legs_m = polyline_legs_m(lonlat_deg[:, 0], lonlat_deg[:, 1])
            cumulative_m.append(np.concatenate([[0.0], np.cumsum(legs_m)]))
        at = cumulative_m[0]
        d = np.asarray(distances_m, dtype=np.float64)
        lon = np.interp(d, at, lonlat_deg[:, 0]).tolist()
        lat = np.interp(d, at, lonlat_deg[:, 1]).tolist()
        return list(zip(lon, lat, strict=True))

    return points_at


def _departure_fields(runtime: Runtime) -> Callable[[datetime], RiskField]:
    """``at -> risk field`` for the departure times the escort policy tries, each looked up
    once: the routes of one request try the same times."""
    found: dict[datetime, RiskField] = {}

    def field_at(at: datetime) -> RiskField:
        field = found.get(at)
        if field is None:
            field = found[at] = runtime.risk.field_at(at, quantum=_DEPARTURE_QUANTUM)
        return field

    return field_at


def _assess(
    runtime: Runtime,
    summary: RouteSummary,
    field: RiskField,
    convoy: Convoy,
    *,
    candidates: Sequence[RouteSummary],
    departure_field: Callable[[datetime], RiskField],
) -> tuple[RiskLevel, EscortAssessment]:
    policy = runtime.escort_policy
    high = runtime.risk.routing.high_risk_per_km
    profile = _profile(summary.profile, summary.path, field)

    def find_safer_route(budget_fraction: float) -> RouteRiskProfile | None:
        limit_s = summary.duration_s * (1.0 + budget_fraction)
        safer = [c for c in candidates if c.duration_s <= limit_s and c.exposure < summary.exposure]
        if not safer:
            return None
        best = min(safer, key=lambda c: (c.exposure, c.duration_s))
        return _profile(best.profile, best.path, field)

    # A convoy cannot leave in the past: no earlier than the requested departure or now.
    earliest = min(summary.profile.depart_at or runtime.now(), runtime.now())

    def try_departure(at: datetime) -> RouteRiskProfile | None:
        if at < earliest:
            return None
        other = departure_field(at)
        again = measure(
            runtime.graph,
            _Unexplained(other),
            summary.path,
            high_risk_per_km=high,
            depart_at=at,
            with_hotspots=False,
        )
        return _profile(again, summary.path, other)

    def departure_hotspots(at: datetime) -> tuple[Hotspot, ...]:
        other = departure_field(at)
        return measure(
            runtime.graph, _Unexplained(other), summary.path, high_risk_per_km=high, depart_at=at
        ).hotspots

    assessment = assess(
        profile,
        convoy,
        policy,
        find_safer_route=find_safer_route,
        try_departure=try_departure,
        departure_hotspots=departure_hotspots,
        points_at=_points_at(summary.lonlat_deg),
    )
    return route_level(profile, convoy, policy), assessment


def plan(
    runtime: Runtime,
    *,
    origin: tuple[float, float],
    destination: tuple[float, float],
    waypoints: Sequence[tuple[float, float]] = (),
    depart_at: datetime | None = None,
    risk_aversion: float = 0.5,
    alternatives: int = 0,
    avoid_polygons: Sequence[BaseGeometry] = (),
    max_edge_risk: float | None = None,
    convoy: Convoy | None = None,
) -> RoutesResult:
    """Plan least-risk routes with their escort assessments.

    Parameters
    ----------
    origin, destination, waypoints
        ``(lon, lat)`` points, degrees.
    depart_at
        Departure (aware); risk counts the reports that had occurred by then. None: now.
    risk_aversion
        0 fastest .. 1 safest.
    alternatives
        Dissimilar alternatives wanted besides the recommended route.
    avoid_polygons
        Areas the route must not enter.
    max_edge_risk
        Segments riskier than this (per km) are not used.
    convoy
        The convoy (impact side of the escort matrix); default one food truck.

    Raises
    ------
    SnapError
        A point is farther than ``CORRIDORS_MAX_SNAP_M`` from any road.
    NoRouteError
        No route under the constraints (``blocking_zones`` names the no-go zones).
    """
    convoy = convoy or Convoy()
    at = depart_at or runtime.now()
    o = _snap(runtime, *origin, "origin")
    d = _snap(runtime, *destination, "destination")
    wps = [_snap(runtime, *p, f"waypoint {i}") for i, p in enumerate(waypoints)]
    field = runtime.risk.field_at(at)
    avoid = _avoid_edges(runtime, avoid_polygons)
    try:
        route_plan = plan_routes(
            runtime.risk.routing,
            runtime.graph,
            field,
            o,
            d,
            wps,
            risk_aversion=risk_aversion,
            alternatives=alternatives,
            avoid_edges=avoid,
            max_edge_risk=max_edge_risk,
            pareto=True,
            depart_at=at,
        )
    except RouteBlockedError as exc:
        constrained = avoid is not None or max_edge_risk is not None
        raise _no_route(exc, field, constrained=constrained) from exc
    candidates = [r.summary for r in route_plan.routes]
    departure_field = _departure_fields(runtime)
    assessed: list[AssessedRoute] = []
    for planned in route_plan.routes:
        level, assessment = _assess(
            runtime,
            planned.summary,
            field,
            convoy,
            candidates=candidates,
            departure_field=departure_field,
        )
        route_id = runtime.route_memory.remember(planned.summary.path, at)
        assessed.append(AssessedRoute(route_id, planned, level, assessment))
    return RoutesResult(assessed, route_plan, field, at, o, d)


def _assess_pieces(
    runtime: Runtime,
    pieces: Sequence[Piece] | PathArrays,
    *,
    convoy: Convoy,
    depart_at: datetime,
) -> tuple[RouteSummary, RiskLevel, EscortAssessment]:
    field = runtime.risk.field_at(depart_at)
    summary = summarise(
        runtime.graph,
        field,
        pieces,
        high_risk_per_km=runtime.risk.routing.high_risk_per_km,
        depart_at=depart_at,
    )
    level, assessment = _assess(
        runtime, summary, field, convoy, candidates=(), departure_field=_departure_fields(runtime)
    )
    return summary, level, assessment


def assess_stored_route(
    runtime: Runtime, route_id: str, *, convoy: Convoy, depart_at: datetime | None
) -> tuple[RouteSummary, RiskLevel, EscortAssessment]:
    """Escort assessment of a route handed out earlier by :func:`plan` (by its id)."""
    stored = runtime.route_memory.get(route_id)
    return _assess_pieces(
        runtime, stored.pieces(), convoy=convoy, depart_at=depart_at or stored.depart_at
    )


def assess_geometry(
    runtime: Runtime,
    coordinates: Sequence[Sequence[float]],
    *,
    convoy: Convoy,
    depart_at: datetime | None,
) -> tuple[RouteSummary, RiskLevel, EscortAssessment]:
    """Escort assessment of a route drawn or agreed elsewhere (a LineString).

    The line is matched to the road network by routing the fastest way through its
    vertices in order (at most 200; longer lines are thinned evenly), so a line drawn
    along roads is reproduced; each vertex must lie within ``CORRIDORS_MAX_SNAP_M`` of a
    road.
    """
    if len(coordinates) < 2:
        raise InputError("geometry: a LineString needs at least two positions")
    points = [(float(c[0]), float(c[1])) for c in coordinates]
    if len(points) > _MAX_DRAWN_VERTICES:
        keep = np.linspace(0, len(points) - 1, _MAX_DRAWN_VERTICES).round().astype(int)
        points = [points[i] for i in keep]
    at = depart_at or runtime.now()
    snaps = [
        _snap(runtime, lon, lat, f"geometry position {i}") for i, (lon, lat) in enumerate(points)
    ]
    field = runtime.risk.field_at(at)
    try:
        route_plan = plan_routes(
            runtime.risk.routing,
            runtime.graph,
            field,
            snaps[0],
            snaps[-1],
            snaps[1:-1],
            risk_aversion=0.0,
            depart_at=at,
        )
    except RouteBlockedError as exc:
        raise _no_route(exc, field, constrained=False) from exc
    return _assess_pieces(runtime, route_plan.routes[0].summary.path, convoy=convoy, depart_at=at)
