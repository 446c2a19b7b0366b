"""No-go and caution zones: create, list, end, and the zones in force for the risk model.

A zone's geometry is a GeoJSON Polygon or MultiPolygon (RFC 7946, ``[lon, lat]``), checked
with shapely: parseable, valid (no self-intersection), non-empty and inside the service
area. Ending a zone keeps its row and sets ``valid_until``, so a replay of an earlier day
still sees it. Callers with a runtime call ``runtime.zones_changed()`` after a write.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import shapely
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from corridors.domain import Zone, ZoneKind
from corridors.errors import InputError
from corridors.services.keys import Principal
from corridors.store import AuditRepository, Database, ZoneRepository, ZoneRow, zone_to_domain

__all__ = [
    "DEFAULT_CAUTION_MULTIPLIER",
    "PolygonGeometry",
    "ZoneDraft",
    "active_zones",
    "create_zone",
    "end_zone",
    "get_zone",
    "list_zones",
    "parse_zone_geometry",
    "zone_document",
]

#: Risk multiplier of a caution zone when none is given.
DEFAULT_CAUTION_MULTIPLIER = 2.0
#: Largest accepted multiplier.
MAX_MULTIPLIER = 100.0

AreaContains = Callable[[float, float], bool]


class PolygonGeometry(BaseModel):
    """A GeoJSON Polygon or MultiPolygon, coordinates ``[lon, lat]`` in degrees."""

    model_config = ConfigDict(extra="allow")

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(
        description="Polygon: list of linear rings; MultiPolygon: list of polygons.",
        examples=[
            [
                [
                    [-72.345, 18.540],
                    [-72.335, 18.540],
                    [-72.335, 18.548],
                    [-72.345, 18.548],
                    [-72.345, 18.540],
                ]
            ]
        ],
    )


class ZoneDraft(BaseModel):
    """The body of ``POST /v1/zones``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, examples=["Portail Léogâne"])
    kind: ZoneKind = Field(
        description="no_go: never crossed; caution: risk multiplied inside.",
        examples=["no_go"],
    )
    geometry: PolygonGeometry
    valid_from: AwareDatetime | None = Field(
        default=None, description="Start of validity (default: now), ISO 8601 with a zone."
    )
    valid_until: AwareDatetime | None = Field(
        default=None, description="End of validity (default: until ended), ISO 8601."
    )
    multiplier: float | None = Field(
        default=None,
        ge=1.0,
        le=MAX_MULTIPLIER,
        allow_inf_nan=False,
        description="Risk multiplier inside a caution zone (1..100, default 2); "
        "ignored for no-go zones.",
        examples=[2.0],
    )

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _window(self) -> ZoneDraft:
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_until <= self.valid_from
        ):
            raise ValueError("valid_until must be after valid_from")
        return self


def parse_zone_geometry(geojson: dict[str, Any], *, area_contains: AreaContains) -> BaseGeometry:
    """Turn a GeoJSON Polygon/MultiPolygon into a checked shapely geometry.

    Parameters
    ----------
    geojson
        The ``geometry`` object.
    area_contains
        ``area_contains(lon, lat)``; every vertex must be inside the service area.

    Raises
    ------
    InputError
        Not a Polygon/MultiPolygon, malformed coordinates, empty, invalid (e.g. a
        self-intersecting ring) or outside the service area.
    """
    try:
        geometry = shape(geojson)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise InputError(f"geometry: malformed GeoJSON ({exc})") from None
    except shapely.errors.ShapelyError as exc:
        raise InputError(f"geometry: malformed GeoJSON ({exc})") from None
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise InputError("geometry: must be a Polygon or MultiPolygon")
    if geometry.is_empty:
        raise InputError("geometry: the polygon is empty")
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        raise InputError(f"geometry: invalid polygon ({reason})")
    if geometry.area == 0.0:
        raise InputError("geometry: the polygon has no area")
    coords = shapely.get_coordinates(geometry)
    if not all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in coords):
        raise InputError("geometry: coordinates must be [lon, lat] in degrees")
    outside = [(x, y) for x, y in coords if not area_contains(float(x), float(y))]
    if outside:
        x, y = outside[0]
        raise InputError(
            f"geometry: vertex ({x:.5f}, {y:.5f}) lies outside the service area",
            errors=[{"loc": ["geometry"], "msg": "outside the service area"}],
        )
    return geometry


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def zone_document(row: ZoneRow, *, at: datetime) -> dict[str, Any]:
    """JSON-ready document of a stored zone; ``active`` says whether it is in force at ``at``."""
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "geometry": json.loads(row.geometry),
        "valid_from": _iso(row.valid_from),
        "valid_until": _iso(row.valid_until),
        "multiplier": row.multiplier,
        "active": zone_to_domain(row).active_at(at),
        "created_at": _iso(row.created_at),
        "created_by": row.created_by,
        "ended_at": _iso(row.ended_at),
    }


def create_zone(
    db: Database,
    draft: ZoneDraft,
    *,
    actor: Principal,
    at: datetime,
    area_contains: AreaContains,
) -> dict[str, Any]:
    """Store a zone (valid from ``at`` unless ``valid_from`` says otherwise).

    Raises
    ------
    InputError
        Bad geometry (see :func:`parse_zone_geometry`) or a window already over.
    """
    geometry = parse_zone_geometry(draft.geometry.model_dump(), area_contains=area_contains)
    if draft.valid_until is not None and draft.valid_until <= at:
        raise InputError("valid_until: lies in the past; the zone would never be in force")
    if draft.kind is ZoneKind.caution:
        multiplier = draft.multiplier or DEFAULT_CAUTION_MULTIPLIER
    else:
        multiplier = draft.multiplier or 1.0
    with db.session() as s:
        row = ZoneRepository(s).add(
            ZoneRow(
                id=str(uuid.uuid4()),
                name=draft.name,
                kind=draft.kind.value,
                geometry=shapely.to_geojson(geometry),
                valid_from=draft.valid_from or at,
                valid_until=draft.valid_until,
                multiplier=multiplier,
                created_at=at,
                created_by=actor.name,
            )
        )
        AuditRepository(s).append(
            at=at,
            key_name=actor.name,
            action="zone.create",
            object_type="zone",
            object_id=row.id,
            detail={"name": row.name, "kind": row.kind},
        )
        return zone_document(row, at=at)


def list_zones(db: Database, *, at: datetime, include_ended: bool = False) -> list[dict[str, Any]]:
    """Zones in force at ``at`` or scheduled later; every zone with ``include_ended``."""
    with db.session() as s:
        return [
            zone_document(r, at=at)
            for r in ZoneRepository(s).list(at=at, include_ended=include_ended)
        ]


def get_zone(db: Database, zone_id: str, *, at: datetime) -> dict[str, Any]:
    """One zone's document.

    Raises
    ------
    NotFoundError
        No such zone.
    """
    with db.session() as s:
        return zone_document(ZoneRepository(s).require(zone_id), at=at)


def end_zone(db: Database, zone_id: str, *, actor: Principal, at: datetime) -> dict[str, Any]:
    """End a zone now; the row is kept. Ending an ended zone changes nothing.

    Raises
    ------
    NotFoundError
        No such zone.
    """
    with db.session() as s:
        zones = ZoneRepository(s)
        row = zones.require(zone_id)
        if row.ended_at is None:
            row = zones.end(zone_id, at=at)
            AuditRepository(s).append(
                at=at,
                key_name=actor.name,
                action="zone.end",
                object_type="zone",
                object_id=zone_id,
                detail={"name": row.name},
            )
        return zone_document(row, at=at)


def active_zones(db: Database, at: datetime) -> list[Zone]:
    """Zones in force at ``at`` as domain objects, for the risk model and routing."""
    with db.session() as s:
        return [zone_to_domain(r) for r in ZoneRepository(s).active(at)]
