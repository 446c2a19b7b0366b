"""Named corridors: create (analyst), list and read (viewer), archive (analyst).

A corridor's ``status`` (open, caution, restricted, closed) follows reports, zones and
time by itself; see :mod:`corridors.services.corridors` for the rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from corridors.api.auth import AnalystWriteDep, ViewerDep, error_responses
from corridors.api.deps import RuntimeDep
from corridors.api.fast_json import FastJSONResponse
from corridors.api.route_schemas import ConvoyIn, EscortOut, LonLatIn, RiskOut, RouteOut
from corridors.api.routers.routes import routes_document
from corridors.domain import Role
from corridors.services import corridors as svc

__all__ = ["corridor_document", "router"]

router = APIRouter(prefix="/v1/corridors", tags=["corridors"])


class CorridorIn(BaseModel):
    """A corridor to watch: the trip convoys make every day."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Airport - Port"])
    origin: LonLatIn
    destination: LonLatIn
    waypoints: list[LonLatIn] = Field(default_factory=list, max_length=20)
    convoy: ConvoyIn = Field(default_factory=ConvoyIn)
    risk_aversion: float = Field(0.5, ge=0, le=1, description="0 fastest .. 1 safest.")


class StatusChangeOut(BaseModel):
    """One entry of a corridor's status history (newest first)."""

    status: Literal["open", "caution", "restricted", "closed"]
    previous_status: str | None = Field(description="(addition) null for the first entry.")
    at: datetime
    reason: str


class CorridorOut(BaseModel):
    """A corridor with its current route, risk, escort requirement and status."""

    id: str
    name: str
    status: Literal["open", "caution", "restricted", "closed"]
    status_reason: str = Field(description="(addition) Why the corridor has this status.")
    status_changed_at: datetime
    route: RouteOut | None = Field(
        description="The recommended route; null when closed for want of any route."
    )
    risk: RiskOut | None
    escort: EscortOut | None
    history: list[StatusChangeOut]
    evaluated_at: datetime = Field(description="(addition) Instant of the risk picture used.")
    origin: LonLatIn
    destination: LonLatIn
    waypoints: list[LonLatIn]
    convoy: ConvoyIn
    risk_aversion: float
    created_at: datetime
    created_by: str | None = Field(None, description="*analyst* Name of the creating key.")


class CorridorList(BaseModel):
    """Every live corridor, oldest first."""

    items: list[CorridorOut]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def corridor_document(runtime: Any, view: svc.CorridorView, role: Role) -> dict[str, Any]:
    """The JSON document of a corridor (``created_by`` for analysts and above only; its
    route's coordinates a numpy array, as in the routes document)."""
    row, evaluation = view.row, view.evaluation
    route: dict[str, Any] | None = None
    if evaluation.result is not None:
        route = routes_document(runtime, evaluation.result)["routes"][0]
    document: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "status_reason": row.status_reason,
        "status_changed_at": _iso(row.status_changed_at),
        "route": route,
        "risk": route["risk"] if route else None,
        "escort": route["escort"] if route else None,
        "history": [
            {
                "status": h.status,
                "previous_status": h.previous_status,
                "at": _iso(h.at),
                "reason": h.reason,
            }
            for h in view.history
        ],
        "evaluated_at": _iso(evaluation.evaluated_at),
        "origin": {"lon": row.origin_lon, "lat": row.origin_lat},
        "destination": {"lon": row.destination_lon, "lat": row.destination_lat},
        "waypoints": [{"lon": p[0], "lat": p[1]} for p in row.waypoints],
        "convoy": dict(row.convoy),
        "risk_aversion": row.risk_aversion,
        "created_at": _iso(row.created_at),
    }
    if role.includes(Role.analyst):
        document["created_by"] = row.created_by
    return document


@router.post(
    "",
    status_code=201,
    response_model=CorridorOut,
    summary="Create a corridor (analyst)",
    responses=error_responses(401, 403, 422, 429),
)
def create_corridor(
    body: CorridorIn, runtime: RuntimeDep, principal: AnalystWriteDep
) -> FastJSONResponse:
    """Create a corridor, evaluated at once. A point farther than `CORRIDORS_MAX_SNAP_M`
    from a road is a 422; a trip with no route at all is created `closed`."""
    view = svc.create_corridor(
        runtime,
        name=body.name,
        origin=body.origin.pair(),
        destination=body.destination.pair(),
        waypoints=[w.pair() for w in body.waypoints],
        convoy=body.convoy.domain(),
        risk_aversion=body.risk_aversion,
        actor=principal,
    )
    return FastJSONResponse(
        corridor_document(runtime, view, principal.role),
        status_code=201,
        headers={"Location": f"/v1/corridors/{view.row.id}"},
    )


@router.get(
    "",
    response_model=CorridorList,
    summary="List corridors (viewer)",
    responses=error_responses(401, 403),
)
def list_corridors(runtime: RuntimeDep, principal: ViewerDep) -> FastJSONResponse:
    """Every corridor not archived, with its status, route, risk and escort."""
    views = svc.list_corridors(runtime)
    return FastJSONResponse(
        {"items": [corridor_document(runtime, v, principal.role) for v in views]}
    )


@router.get(
    "/{corridor_id}",
    response_model=CorridorOut,
    summary="Read a corridor (viewer)",
    responses=error_responses(401, 403, 404),
)
def get_corridor(corridor_id: str, runtime: RuntimeDep, principal: ViewerDep) -> FastJSONResponse:
    """A corridor with its status history, newest first."""
    return FastJSONResponse(
        corridor_document(runtime, svc.get_corridor(runtime, corridor_id), principal.role)
    )


class ArchivedOut(BaseModel):
    """An archived corridor."""

    id: str
    archived: bool


@router.delete(
    "/{corridor_id}",
    response_model=ArchivedOut,
    summary="Archive a corridor (analyst)",
    responses=error_responses(401, 403, 404, 429),
)
def archive_corridor(
    corridor_id: str, runtime: RuntimeDep, principal: AnalystWriteDep
) -> ArchivedOut:
    """Stop watching the corridor; it disappears from the list, its history is kept."""
    svc.archive_corridor(runtime, corridor_id, actor=principal)
    return ArchivedOut(id=corridor_id, archived=True)
