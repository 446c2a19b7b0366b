"""The incident-report input model: the body of ``POST /v1/reports``.

:class:`ReportDraft` checks everything that can be judged from the report alone (ranges,
vocabularies, aware times, ``expires_at`` after ``occurred_at``). What needs the loaded
graph or the clock is judged by :func:`check_report_context`, which takes both as
arguments so the core never reads the clock.

Times are normalised to aware UTC datetimes; coordinates are WGS84 degrees.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from corridors.domain import Category
from corridors.errors import InputError, OutsideServiceAreaError

__all__ = [
    "FUTURE_TOLERANCE",
    "MAX_FATALITIES",
    "MAX_UNCERTAINTY_M",
    "LonLat",
    "ReportDraft",
    "SourceReliability",
    "check_report_context",
]

#: How far in the future ``occurred_at`` may lie (clock skew between reporter and server).
FUTURE_TOLERANCE = timedelta(minutes=5)
#: Largest accepted location uncertainty radius, m.
MAX_UNCERTAINTY_M = 50_000.0
#: Largest accepted fatality count of one report.
MAX_FATALITIES = 10_000

#: Admiralty-code source reliability: A completely reliable .. E unreliable, F cannot be judged.
SourceReliability = Literal["A", "B", "C", "D", "E", "F"]


class LonLat(BaseModel):
    """A WGS84 point, longitude and latitude in degrees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lon: float = Field(
        ge=-180.0,
        le=180.0,
        allow_inf_nan=False,
        description="Longitude, degrees east (WGS84).",
        examples=[-72.3381],
    )
    lat: float = Field(
        ge=-90.0,
        le=90.0,
        allow_inf_nan=False,
        description="Latitude, degrees north (WGS84).",
        examples=[18.5392],
    )


class ReportDraft(BaseModel):
    """One incident report as submitted, before it is stored.

    Validation errors are pydantic ``ValidationError`` (a ``ValueError``); the API maps them
    to 422. Datetimes must carry a zone and come out as UTC.
    """

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "occurred_at": "2026-11-24T10:30:00Z",
                    "location": {"lon": -72.3381, "lat": 18.5392},
                    "uncertainty_m": 150,
                    "category": "armed_clash",
                    "severity": 4,
                    "fatalities": 0,
                    "source": "HNP radio",
                    "source_reliability": "B",
                    "credibility": 2,
                    "description": "Exchange of fire near Portail Léogâne",
                    "expires_at": None,
                }
            ]
        },
    )

    occurred_at: AwareDatetime = Field(
        description="When the incident happened, ISO 8601 with a zone (stored as UTC). "
        "At most 5 minutes in the future.",
        examples=["2026-11-24T10:30:00Z"],
    )
    location: LonLat = Field(
        description="Where it happened (WGS84); must lie in the service area.",
        examples=[{"lon": -72.3381, "lat": 18.5392}],
    )
    uncertainty_m: float = Field(
        default=0.0,
        ge=0.0,
        le=MAX_UNCERTAINTY_M,
        allow_inf_nan=False,
        description="Radius within which the true location lies, metres (0..50000).",
        examples=[150],
    )
    category: Category = Field(
        description="Incident category.",
        examples=["armed_clash"],
    )
    severity: int = Field(
        ge=1,
        le=5,
        description="1 (minor) .. 5 (extreme).",
        examples=[4],
    )
    fatalities: int = Field(
        default=0,
        ge=0,
        le=MAX_FATALITIES,
        description="Reported deaths (0..10000).",
        examples=[0],
    )
    source: str | None = Field(
        default=None,
        max_length=200,
        description="Who reported it (shown to analysts and above only).",
        examples=["HNP radio"],
    )
    source_reliability: SourceReliability | None = Field(
        default=None,
        description="Admiralty code source reliability: A (completely reliable) .. "
        "E (unreliable), F (cannot be judged).",
        examples=["B"],
    )
    credibility: int | None = Field(
        default=None,
        ge=1,
        le=6,
        description="Admiralty code information credibility: 1 (confirmed) .. "
        "5 (improbable), 6 (cannot be judged).",
        examples=[2],
    )
    description: str | None = Field(
        default=None,
        max_length=2000,
        description="Free text (shown to analysts and above only).",
        examples=["Exchange of fire near Portail Léogâne"],
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the report stops counting, ISO 8601 with a zone; after occurred_at. "
        "Null: the risk model's decay decides.",
        examples=[None],
    )
    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Deduplication key of a data feed (e.g. 'acled:HTI12345'); a report "
        "with a key already stored is skipped as a duplicate.",
    )

    @field_validator("source_reliability", mode="before")
    @classmethod
    def _upper_reliability(cls, value: object) -> object:
        # Letters are case-free in the Admiralty code; accept "b" as "B".
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("occurred_at", "expires_at")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @field_validator("source", "description")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _expiry_after_occurrence(self) -> ReportDraft:
        if self.expires_at is not None and self.expires_at <= self.occurred_at:
            raise ValueError("expires_at must be after occurred_at")
        return self


def check_report_context(
    draft: ReportDraft,
    *,
    now: datetime,
    area_contains: Callable[[float, float], bool],
) -> None:
    """Check what a draft alone cannot tell: service area and time.

    Parameters
    ----------
    draft
        A validated report.
    now
        The current time, timezone-aware (passed in; the core never reads the clock).
    area_contains
        ``area_contains(lon, lat)`` (degrees) is true inside the service area, i.e. the
        loaded graph's bbox widened by the service margin.

    Raises
    ------
    OutsideServiceAreaError
        The location lies outside the service area.
    InputError
        ``occurred_at`` lies more than :data:`FUTURE_TOLERANCE` (5 min) after ``now``.
    ValueError
        ``now`` is naive (a programming error, not the caller's).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    lon, lat = draft.location.lon, draft.location.lat
    if not area_contains(lon, lat):
        raise OutsideServiceAreaError(
            f"location ({lon:.5f}, {lat:.5f}) lies outside the service area",
            errors=[{"loc": ["location"], "msg": "outside the service area"}],
        )
    if draft.occurred_at > now + FUTURE_TOLERANCE:
        ahead_s = (draft.occurred_at - now).total_seconds()
        raise InputError(
            f"occurred_at {draft.occurred_at.isoformat()} is {ahead_s / 60:.0f} min in the "
            f"future (at most {FUTURE_TOLERANCE.total_seconds() / 60:.0f} min allowed)",
            errors=[{"loc": ["occurred_at"], "msg": "in the future"}],
        )
