"""Least-risk routing: costs, CCH engine, alternatives, Pareto sets and route summaries.

Entry point: :func:`plan_routes` on a :class:`RoutingState` (see ``routing.planner``).
"""

from corridors.routing.costs import LEVELS, CostModel
from corridors.routing.engine import CCHEngine, EdgePath, NetworkxEngine, Piece
from corridors.routing.planner import (
    NoRouteDiagnosis,
    ParetoPoint,
    PlannedRoute,
    RiskSnapshot,
    RouteBlockedError,
    RoutePlan,
    RoutingState,
    SnapLike,
    plan_routes,
)
from corridors.routing.summary import RiskView, RouteStep, RouteSummary

__all__ = [
    "LEVELS",
    "CCHEngine",
    "CostModel",
    "EdgePath",
    "NetworkxEngine",
    "NoRouteDiagnosis",
    "ParetoPoint",
    "Piece",
    "PlannedRoute",
    "RiskSnapshot",
    "RiskView",
    "RouteBlockedError",
    "RoutePlan",
    "RouteStep",
    "RouteSummary",
    "RoutingState",
    "SnapLike",
    "plan_routes",
]
