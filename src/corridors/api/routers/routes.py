"""``POST /v1/routes`` and ``POST /v1/escort-assessments``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Header
from fastapi.responses import Response
from shapely.geometry.base import BaseGeometry

from corridors.api.auth import ViewerDep, error_responses
from corridors.api.deps import RuntimeDep
from corridors.api.fast_json import FastJSONResponse
from corridors.api.formats import GEOJSON, GPX, routes_to_feature_collection, routes_to_gpx
from corridors.api.route_schemas import (
    EscortAssessmentRequest,
    EscortAssessmentResponse,
    EscortOut,
    RiskOut,
    RouteRequest,
    RoutesResponse,
)
from corridors.domain import RiskLevel
from corridors.errors import InputError
from corridors.escort import AlternativeConsidered, EscortAssessment
from corridors.routing.summary import RouteSteps, RouteSummary
from corridors.services import routes as svc
from corridors.services.zones import PolygonGeometry, parse_zone_geometry

__all__ = ["router"]

router = APIRouter(tags=["routes"])


def _r(value: float, ndigits: int = 1) -> float:
    return round(float(value), ndigits)


def risk_document(
    summary: RouteSummary, level: RiskLevel, assessment: EscortAssessment
) -> dict[str, Any]:
    """The ``risk`` object of a route."""
    return {
        "exposure": _r(summary.exposure, 4),
        "max_edge_risk": _r(summary.max_edge_risk_per_km, 4),
        "level": level.value,
        "high_risk_distance_m": _r(summary.high_risk_distance_m),
        "hotspots": [
            {
                "from_m": round(h.from_m, 1),
                "to_m": round(h.to_m, 1),
                "risk": round(h.risk_per_km, 4),
                "street": h.street,
                "reports": list(h.report_ids),
            }
            for h in summary.hotspots
        ],
        "likelihood": assessment.likelihood,
        "impact": assessment.impact,
        "starts_in_risk": summary.profile.starts_in_risk,
        "ends_in_risk": summary.profile.ends_in_risk,
    }


def json_time(at: datetime | None) -> str | None:
    """A datetime as the API writes it (RFC 3339, ``Z`` for UTC, as pydantic does)."""
    if at is None:
        return None
    text = at.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _considered(a: AlternativeConsidered) -> dict[str, Any]:
    return {
        "kind": a.kind,
        "accepted": a.accepted,
        "reason": a.reason,
        "depart_at": json_time(a.depart_at),
        "shift_s": a.shift_s,
        "distance_m": a.distance_m,
        "duration_s": a.duration_s,
        "extra_duration_fraction": a.extra_duration_fraction,
        "exposure": a.exposure,
        "max_risk_per_km": a.max_risk_per_km,
        "likelihood": a.likelihood,
        "level": None if a.level is None else a.level.value,
    }


def escort_document(assessment: EscortAssessment) -> dict[str, Any]:
    """The ``escort`` object of a route."""
    requirement = assessment.requirement
    return {
        "recommendation": requirement.recommendation.value,
        "escort_vehicles": requirement.escort_vehicles,
        "armored_required": requirement.armored_required,
        "daylight_only": requirement.daylight_only,
        "segments": [
            {
                "from_m": _r(s.from_m),
                "to_m": _r(s.to_m),
                "start": list(s.start),
                "end": list(s.end),
                "streets": list(s.streets),
                "reports": list(s.report_ids),
                "risk": _r(s.risk_per_km, 4),
                "why": s.why,
            }
            for s in requirement.segments
        ],
        "rationale": list(requirement.rationale),
        "alternatives_considered": [_considered(a) for a in requirement.alternatives_considered],
        "policy_version": requirement.policy_version,
        "recommended": assessment.recommended,
        "recommended_depart_at": json_time(assessment.recommended_depart_at),
    }


def _line(summary: RouteSummary) -> dict[str, Any]:
    """The route's GeoJSON LineString, its coordinates a ``(n, 2)`` array rounded to 1e-7
    degrees (~1 cm): :func:`corridors.api.fast_json.dumps` writes it (a long answer has
    thousands of points, and a Python float each cost more than writing them)."""
    return {"type": "LineString", "coordinates": np.round(summary.lonlat_deg, 7)}


def _steps(steps: RouteSteps) -> list[dict[str, Any]]:
    # Rounded as arrays: a long route has hundreds of steps.
    return [
        {"street": street, "distance_m": d, "duration_s": t, "risk": r}
        for street, d, t, r in zip(
            steps.street,
            np.round(steps.distance_m, 1).tolist(),
            np.round(steps.duration_s, 1).tolist(),
            np.round(steps.risk_per_km, 4).tolist(),
            strict=True,
        )
    ]


def routes_document(runtime: Any, result: svc.RoutesResult) -> dict[str, Any]:
    """The routes document of the contract (also printed by ``corridors route``).

    Built JSON-ready, field by field as :class:`RoutesResponse` declares them (a test
    checks it against the schema): validating a document of thousands of coordinates
    with pydantic cost more than planning the routes. Each geometry's coordinates are a
    numpy array: render the document with :func:`corridors.api.fast_json.dumps`.
    """
    routes = []
    for assessed in result.routes:
        summary = assessed.summary
        routes.append(
            {
                "id": assessed.id,
                "rank": assessed.planned.rank,
                "label": assessed.planned.label,
                "distance_m": _r(summary.distance_m),
                "duration_s": _r(summary.duration_s),
                "risk": risk_document(summary, assessed.level, assessed.assessment),
                "escort": escort_document(assessed.assessment),
                "geometry": _line(summary),
                "steps": _steps(summary.steps),
                "overlap": round(assessed.planned.overlap, 3),
            }
        )
    return {
        "routes": routes,
        "pareto": [
            {
                "duration_s": _r(p.duration_s),
                "exposure": _r(p.exposure, 4),
                "route_rank": p.route_rank,
            }
            for p in result.plan.pareto
        ],
        "risk_snapshot": {
            "computed_at": json_time(result.field.computed_at),
            "reports_considered": result.field.reports_considered,
            "model_version": result.field.config_version,
        },
        "graph": {"source": runtime.graph.meta.source, "demo": runtime.graph.meta.demo},
    }


def _avoid_polygon(i: int, polygon: PolygonGeometry) -> BaseGeometry:
    """A checked shapely polygon; malformed GeoJSON is a 422, never a 500."""
    try:
        return parse_zone_geometry(polygon.model_dump(), area_contains=lambda _x, _y: True)
    except InputError as exc:
        reason = exc.detail.removeprefix("geometry: ")
        raise InputError(
            f"avoid.polygons[{i}]: {reason}",
            errors=[{"loc": ["body", "avoid", "polygons", i], "msg": reason}],
        ) from None


def plan_request(runtime: Any, body: RouteRequest) -> svc.RoutesResult:
    """Run a :class:`RouteRequest` through the planning use case."""
    return svc.plan(
        runtime,
        origin=body.origin.pair(),
        destination=body.destination.pair(),
        waypoints=[w.pair() for w in body.waypoints],
        depart_at=body.depart_at,
        risk_aversion=body.risk_aversion,
        alternatives=body.alternatives,
        avoid_polygons=[_avoid_polygon(i, p) for i, p in enumerate(body.avoid.polygon_list())],
        max_edge_risk=body.avoid.max_edge_risk,
        convoy=body.convoy.domain(),
    )


@router.post(
    "/v1/routes",
    summary="Least-risk routes with escort requirements",
    response_model=RoutesResponse,
    responses={
        200: {
            "content": {
                GEOJSON: {"schema": {"type": "object"}},
                GPX: {"schema": {"type": "string"}},
            },
            "description": "Routes, recommended first. `Accept: application/geo+json` gives a "
            "FeatureCollection, `Accept: application/gpx+xml` GPX 1.1.",
        },
        **error_responses(401, 403, 422),
    },
)
def post_routes(
    body: RouteRequest,
    runtime: RuntimeDep,
    _: ViewerDep,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Plan routes for a convoy.

    Risk is evaluated as of `depart_at` (default now). Each route carries its risk
    (exposure, hotspots and the reports behind them) and an escort requirement that
    considers safer routes and departure times before any escort. A point farther than
    `CORRIDORS_MAX_SNAP_M` from a road is a 422; no route at all is a 422 whose `type`
    ends in `no-route` and whose `blocking_zones` names the no-go zones in the way.
    """
    document = routes_document(runtime, plan_request(runtime, body))
    wanted = (accept or "").lower()
    if GPX in wanted:
        return Response(routes_to_gpx(document), media_type=GPX)
    if GEOJSON in wanted:
        return FastJSONResponse(routes_to_feature_collection(document), media_type=GEOJSON)
    return FastJSONResponse(document)


@router.post(
    "/v1/escort-assessments",
    summary="Escort requirement for a given route",
    response_model=EscortAssessmentResponse,
    responses=error_responses(401, 403, 404, 422),
)
def post_escort_assessment(
    body: EscortAssessmentRequest, runtime: RuntimeDep, _: ViewerDep
) -> EscortAssessmentResponse:
    """Assess a route planned earlier (`route_id` from POST /v1/routes) or drawn or agreed
    elsewhere (`geometry`, a LineString matched to the road network) for a convoy."""
    convoy = body.convoy.domain()
    if body.route_id is not None:
        summary, level, assessment = svc.assess_stored_route(
            runtime, body.route_id, convoy=convoy, depart_at=body.depart_at
        )
    else:
        assert body.geometry is not None
        summary, level, assessment = svc.assess_geometry(
            runtime, body.geometry.coordinates, convoy=convoy, depart_at=body.depart_at
        )
    return EscortAssessmentResponse(
        risk=RiskOut.model_validate(risk_document(summary, level, assessment)),
        escort=EscortOut.model_validate(escort_document(assessment)),
        distance_m=_r(summary.distance_m),
        duration_s=_r(summary.duration_s),
        geometry={"type": "LineString", "coordinates": _line(summary)["coordinates"].tolist()},
    )
