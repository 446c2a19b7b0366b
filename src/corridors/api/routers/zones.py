"""No-go and caution zones: create, list, read, end."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from corridors.api.auth import AnalystWriteDep, ViewerDep, error_responses
from corridors.api.deps import RuntimeDep
from corridors.domain import Role, ZoneKind
from corridors.services import zones as svc
from corridors.services.zones import PolygonGeometry, ZoneDraft

__all__ = ["router"]

router = APIRouter(prefix="/v1/zones", tags=["zones"])

GEOJSON = "application/geo+json"


class ZoneOut(BaseModel):
    """A stored zone."""

    id: str
    name: str
    kind: ZoneKind
    geometry: PolygonGeometry
    valid_from: datetime | None = Field(description="In force from, ISO 8601 UTC.")
    valid_until: datetime | None = Field(description="In force until (exclusive); null: open.")
    multiplier: float = Field(description="Risk multiplier inside (caution zones).")
    active: bool = Field(description="In force now.")
    created_at: datetime
    created_by: str | None = Field(None, description="*analyst* Name of the creating key.")
    ended_at: datetime | None = Field(description="When it was ended with DELETE.")


class ZoneList(BaseModel):
    """Zones, oldest first."""

    items: list[ZoneOut]


def _view(document: dict[str, Any], role: Role) -> dict[str, Any]:
    if role.includes(Role.analyst):
        return document
    return {k: v for k, v in document.items() if k != "created_by"}


def _feature(document: dict[str, Any]) -> dict[str, Any]:
    properties = {k: v for k, v in document.items() if k != "geometry"}
    return {
        "type": "Feature",
        "id": document["id"],
        "geometry": document["geometry"],
        "properties": properties,
    }


@router.post(
    "",
    status_code=201,
    response_model=ZoneOut,
    summary="Create a zone (analyst)",
    responses=error_responses(401, 403, 422, 429),
)
def create_zone(draft: ZoneDraft, runtime: RuntimeDep, principal: AnalystWriteDep) -> JSONResponse:
    """Store a no-go or caution zone; the geometry must be a valid polygon in the service area."""
    document = svc.create_zone(
        runtime.db, draft, actor=principal, at=runtime.now(), area_contains=runtime.area_contains
    )
    runtime.zones_changed()
    return JSONResponse(
        document, status_code=201, headers={"Location": f"/v1/zones/{document['id']}"}
    )


@router.get(
    "",
    response_model=ZoneList,
    summary="List zones (viewer)",
    responses={
        200: {
            "description": "With `Accept: application/geo+json`: a FeatureCollection.",
            "content": {GEOJSON: {"schema": {"type": "object"}}},
        },
        **error_responses(401, 403),
    },
)
def list_zones(
    request: Request,
    runtime: RuntimeDep,
    principal: ViewerDep,
    include_ended: Annotated[
        bool, Query(description="Also zones that were ended or have expired.")
    ] = False,
) -> JSONResponse:
    """Zones in force now or scheduled later; all of them with ``include_ended=true``."""
    items = [
        _view(d, principal.role)
        for d in svc.list_zones(runtime.db, at=runtime.now(), include_ended=include_ended)
    ]
    if GEOJSON in request.headers.get("accept", ""):
        return JSONResponse(
            {"type": "FeatureCollection", "features": [_feature(d) for d in items]},
            media_type=GEOJSON,
        )
    return JSONResponse({"items": items})


@router.get(
    "/{zone_id}",
    response_model=ZoneOut,
    summary="Read one zone (viewer)",
    responses=error_responses(401, 403, 404),
)
def get_zone(zone_id: str, runtime: RuntimeDep, principal: ViewerDep) -> JSONResponse:
    """One zone, ended or not."""
    return JSONResponse(_view(svc.get_zone(runtime.db, zone_id, at=runtime.now()), principal.role))


@router.delete(
    "/{zone_id}",
    response_model=ZoneOut,
    summary="End a zone (analyst)",
    responses=error_responses(401, 403, 404, 429),
)
def end_zone(zone_id: str, runtime: RuntimeDep, principal: AnalystWriteDep) -> JSONResponse:
    """End the zone now. The zone is kept (with ``ended_at``) so past days replay as they were."""
    document = svc.end_zone(runtime.db, zone_id, actor=principal, at=runtime.now())
    runtime.zones_changed()
    return JSONResponse(document)
