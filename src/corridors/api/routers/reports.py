"""Incident reports: create (idempotent), list, read, verify/retract, bulk import.

Viewers and reporters see reports without ``source``, ``description``, ``created_by``,
``status_note`` and ``external_id``; analysts and admins see everything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from corridors.api.auth import (
    AnalystWriteDep,
    ReporterWriteDep,
    ViewerDep,
    error_responses,
)
from corridors.api.deps import RuntimeDep
from corridors.domain import Category, ReportStatus, Role
from corridors.errors import InputError, PayloadTooLargeError
from corridors.ingest import LonLat, ReportDraft
from corridors.services import reports as svc
from corridors.store import ReportFilter

__all__ = ["router"]

router = APIRouter(prefix="/v1/reports", tags=["reports"])

GEOJSON = "application/geo+json"


class ReportOut(BaseModel):
    """A stored report. Fields marked *analyst* are absent for viewers and reporters."""

    id: str = Field(description="Report id (uuid4).")
    occurred_at: datetime = Field(description="When it happened, ISO 8601 UTC.")
    location: LonLat
    uncertainty_m: float = Field(description="Location uncertainty radius, m.")
    category: Category
    severity: int = Field(ge=1, le=5)
    fatalities: int
    source_reliability: str | None = Field(None, description="Admiralty A..F.")
    credibility: int | None = Field(None, description="Admiralty 1..6.")
    expires_at: datetime | None = None
    status: ReportStatus
    created_at: datetime
    updated_at: datetime
    source: str | None = Field(None, description="*analyst* Who reported it.")
    description: str | None = Field(None, description="*analyst* Free text.")
    created_by: str | None = Field(None, description="*analyst* Name of the submitting key.")
    status_note: str | None = Field(None, description="*analyst* Note of the last status change.")
    external_id: str | None = Field(None, description="*analyst* Feed id (e.g. ACLED event).")


class ReportPage(BaseModel):
    """One page of reports, newest ``occurred_at`` first."""

    items: list[ReportOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class StatusChange(BaseModel):
    """Verify or retract a report. A retraction is final."""

    status: Literal["verified", "retracted"]
    note: str | None = Field(None, max_length=2000, description="Why (analysts only see it).")


class ImportRejection(BaseModel):
    """A refused row of an import file."""

    row: int = Field(description="CSV record number (header = 1) or GeoJSON feature index.")
    error: str


class ImportResult(BaseModel):
    """Outcome of an import."""

    imported: int = Field(description="Reports stored.")
    duplicates: int = Field(description="Rows already stored or repeated in the file.")
    rejected: list[ImportRejection]


def _view(document: dict[str, Any], role: Role) -> dict[str, Any]:
    return svc.redact(document, role)


def _wants_geojson(request: Request) -> bool:
    return GEOJSON in request.headers.get("accept", "")


def _feature(document: dict[str, Any]) -> dict[str, Any]:
    location = document["location"]
    properties = {k: v for k, v in document.items() if k != "location"}
    return {
        "type": "Feature",
        "id": document["id"],
        "geometry": {"type": "Point", "coordinates": [location["lon"], location["lat"]]},
        "properties": properties,
    }


def _parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None or not value.strip():
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4:
        raise InputError("bbox: give min_lon,min_lat,max_lon,max_lat in degrees")
    min_lon, min_lat, max_lon, max_lat = parts
    if not (min_lon <= max_lon and min_lat <= max_lat):
        raise InputError("bbox: min_lon must be <= max_lon and min_lat <= max_lat")
    return min_lon, min_lat, max_lon, max_lat


def _parse_list(
    value: str | None, allowed: type[Category] | type[ReportStatus], name: str
) -> tuple[str, ...]:
    if not value:
        return ()
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    known = {m.value for m in allowed}
    unknown = [v for v in items if v not in known]
    if unknown:
        raise InputError(
            f"{name}: unknown value {unknown[0]!r}; use one of {', '.join(sorted(known))}"
        )
    return items


_GEOJSON_DOC = {
    "description": "With `Accept: application/geo+json`: a FeatureCollection of Points.",
    "content": {GEOJSON: {"schema": {"type": "object"}}},
}


@router.post(
    "",
    status_code=201,
    response_model=ReportOut,
    summary="Submit a report (reporter)",
    responses={
        200: {"model": ReportOut, "description": "Replay of an earlier Idempotency-Key"},
        **error_responses(401, 403, 409, 413, 422, 429),
    },
)
def create_report(
    draft: ReportDraft,
    runtime: RuntimeDep,
    principal: ReporterWriteDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            description="Retries with the same key and body return the first result (200); "
            "with another body, 409.",
        ),
    ] = None,
) -> JSONResponse:
    """Store a report: 201 with the stored report, or 200 when replaying a key."""
    result = svc.create_report(
        runtime.db,
        draft,
        actor=principal,
        at=runtime.now(),
        area_contains=runtime.area_contains,
        idempotency_key=idempotency_key,
    )
    if result.created:
        runtime.reports_changed()
        runtime.events.report_created(result.document)
    document = result.document
    return JSONResponse(
        document,
        status_code=201 if result.created else 200,
        headers={"Location": f"/v1/reports/{document['id']}"},
    )


@router.get(
    "",
    response_model=ReportPage,
    summary="List reports (viewer)",
    responses={200: _GEOJSON_DOC, **error_responses(401, 403, 422)},
)
def list_reports(
    request: Request,
    runtime: RuntimeDep,
    principal: ViewerDep,
    bbox: Annotated[
        str | None, Query(description="min_lon,min_lat,max_lon,max_lat (degrees)")
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="occurred_at >= since")] = None,
    until: Annotated[AwareDatetime | None, Query(description="occurred_at < until")] = None,
    category: Annotated[str | None, Query(description="Comma-separated categories")] = None,
    status: Annotated[
        str | None, Query(description="Comma-separated: active, verified, retracted")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> JSONResponse:
    """Reports matching every filter, newest first, one page at a time."""
    filters = ReportFilter(
        bbox=_parse_bbox(bbox),
        since=since,
        until=until,
        categories=_parse_list(category, Category, "category"),
        statuses=_parse_list(status, ReportStatus, "status"),
    )
    page = svc.list_reports(runtime.db, filters, cursor=cursor, limit=limit)
    items = [_view(d, principal.role) for d in page.items]
    if _wants_geojson(request):
        return JSONResponse(
            {
                "type": "FeatureCollection",
                "features": [_feature(d) for d in items],
                "next_cursor": page.next_cursor,
            },
            media_type=GEOJSON,
        )
    return JSONResponse({"items": items, "next_cursor": page.next_cursor})


@router.get(
    "/{report_id}",
    response_model=ReportOut,
    summary="Read one report (viewer)",
    responses={
        200: {"description": "The report; a GeoJSON Feature with Accept: application/geo+json"},
        **error_responses(401, 403, 404),
    },
)
def get_report(
    report_id: str, request: Request, runtime: RuntimeDep, principal: ViewerDep
) -> JSONResponse:
    """One report."""
    document = _view(svc.get_report(runtime.db, report_id), principal.role)
    if _wants_geojson(request):
        return JSONResponse(_feature(document), media_type=GEOJSON)
    return JSONResponse(document)


@router.patch(
    "/{report_id}",
    response_model=ReportOut,
    summary="Verify or retract a report (analyst)",
    responses=error_responses(401, 403, 404, 409, 422, 429),
)
def change_status(
    report_id: str, change: StatusChange, runtime: RuntimeDep, principal: AnalystWriteDep
) -> JSONResponse:
    """Set ``status`` to verified or retracted; a retracted report stays retracted (409)."""
    document = svc.set_report_status(
        runtime.db,
        report_id,
        change.status,
        note=change.note,
        actor=principal,
        at=runtime.now(),
    )
    runtime.reports_changed()
    return JSONResponse(document)


async def _read_capped(request: Request, limit_bytes: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit_bytes:
        raise PayloadTooLargeError(
            f"the import file is larger than the limit of {limit_bytes} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLargeError(
                f"the import file is larger than the limit of {limit_bytes} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/import",
    response_model=ImportResult,
    summary="Import a file of reports (analyst)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The raw file: ACLED CSV export, HXL-tagged CSV or a GeoJSON "
            "FeatureCollection.",
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                GEOJSON: {"schema": {"type": "object"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
    responses=error_responses(401, 403, 413, 422, 429),
)
async def import_reports(
    request: Request,
    runtime: RuntimeDep,
    principal: AnalystWriteDep,
    fmt: Annotated[
        Literal["acled", "hxl", "geojson"], Query(alias="format", description="File format")
    ],
) -> ImportResult:
    """Store a file's new valid rows; list every bad row with its reason."""
    data = await _read_capped(request, runtime.settings.max_import_bytes)
    summary = await run_in_threadpool(
        svc.import_reports,
        runtime.db,
        data,
        fmt,
        actor=principal.name,
        at=runtime.now(),
        area_contains=runtime.area_contains,
    )
    if summary.imported:
        await run_in_threadpool(runtime.reports_changed)
    return ImportResult.model_validate(summary.as_dict())
