"""``GET /v1/risk``: the risk layer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from corridors.api.auth import ViewerDep, error_responses
from corridors.api.deps import RuntimeDep
from corridors.api.formats import GEOJSON
from corridors.graph.geo import parse_bbox
from corridors.risk.layer import risk_feature_collection

__all__ = ["router"]

router = APIRouter(tags=["risk"])


@router.get(
    "/v1/risk",
    summary="Risk layer: road segments with risk above zero",
    responses={
        200: {"content": {GEOJSON: {"schema": {"type": "object"}}}},
        **error_responses(401, 403, 422),
    },
)
def get_risk(
    runtime: RuntimeDep,
    _: ViewerDep,
    bbox: Annotated[
        str | None,
        Query(description="minlon,minlat,maxlon,maxlat", examples=["-72.36,18.53,-72.32,18.56"]),
    ] = None,
    at: Annotated[
        AwareDatetime | None, Query(description="Instant (default now): replay a past day.")
    ] = None,
) -> JSONResponse:
    """A GeoJSON FeatureCollection of road segments with risk > 0: `risk` (per km), `level`,
    `street` and `reports` (ids of the top contributors). Both directions of a two-way
    street are one feature."""
    field = runtime.risk.field_at(at)
    collection: dict[str, Any] = risk_feature_collection(
        runtime.graph, field, bbox=parse_bbox(bbox)
    )
    collection["computed_at"] = field.computed_at.isoformat()
    collection["reports_considered"] = field.reports_considered
    return JSONResponse(collection, media_type=GEOJSON)
