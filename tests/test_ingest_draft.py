"""ReportDraft validation and the context checks (service area, future)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from corridors.domain import Category
from corridors.errors import InputError, OutsideServiceAreaError
from corridors.ingest import ReportDraft, check_report_context

BODY: dict[str, Any] = {
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


def body(**changes: Any) -> dict[str, Any]:
    return {**BODY, **changes}


def error_locs(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


def test_contract_example_is_valid() -> None:
    draft = ReportDraft.model_validate(body())
    assert draft.category is Category.armed_clash
    assert draft.occurred_at == datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    assert (draft.location.lon, draft.location.lat) == (-72.3381, 18.5392)
    assert draft.external_id is None


def test_minimal_body_takes_defaults() -> None:
    draft = ReportDraft.model_validate(
        {
            "occurred_at": "2026-11-24T10:30:00Z",
            "location": {"lon": 0, "lat": 0},
            "category": "other",
            "severity": 1,
        }
    )
    assert (draft.uncertainty_m, draft.fatalities, draft.source, draft.expires_at) == (
        0.0,
        0,
        None,
        None,
    )


def test_offset_times_are_normalised_to_utc() -> None:
    draft = ReportDraft.model_validate(
        body(occurred_at="2026-11-24T05:30:00-05:00", expires_at="2026-11-25T12:00:00+02:00")
    )
    assert draft.occurred_at.utcoffset() == timedelta(0)
    assert draft.occurred_at == datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    assert draft.expires_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"occurred_at": "2026-11-24T10:30:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"location": {"lon": -181, "lat": 18.5}}, "location.lon"),
        ({"location": {"lon": -72.3, "lat": 90.5}}, "location.lat"),
        ({"location": {"lon": float("nan"), "lat": 18.5}}, "location.lon"),
        ({"location": {"lon": -72.3}}, "location.lat"),
        ({"location": {"lon": -72.3, "lat": 18.5, "alt": 3}}, "location.alt"),
        ({"uncertainty_m": -1}, "uncertainty_m"),
        ({"uncertainty_m": 50_001}, "uncertainty_m"),
        ({"category": "gunfight"}, "category"),
        ({"severity": 0}, "severity"),
        ({"severity": 6}, "severity"),
        ({"fatalities": -1}, "fatalities"),
        ({"fatalities": 10_001}, "fatalities"),
        ({"source": "x" * 201}, "source"),
        ({"source_reliability": "G"}, "source_reliability"),
        ({"credibility": 0}, "credibility"),
        ({"credibility": 7}, "credibility"),
        ({"description": "x" * 2001}, "description"),
        ({"expires_at": "2026-11-25T10:30:00"}, "expires_at"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_out_of_range_values_are_rejected(changes: dict[str, Any], loc: str) -> None:
    with pytest.raises(ValidationError) as info:
        ReportDraft.model_validate(body(**changes))
    assert loc in error_locs(info.value)


def test_range_limits_are_inclusive() -> None:
    draft = ReportDraft.model_validate(
        body(
            location={"lon": 180, "lat": -90},
            uncertainty_m=50_000,
            severity=5,
            fatalities=10_000,
            credibility=6,
            source_reliability="F",
            description="x" * 2000,
            source="y" * 200,
        )
    )
    assert draft.uncertainty_m == 50_000


@pytest.mark.parametrize("expires_at", ["2026-11-24T10:30:00Z", "2026-11-24T10:29:59Z"])
def test_expiry_must_follow_occurrence(expires_at: str) -> None:
    with pytest.raises(ValidationError, match="expires_at must be after occurred_at"):
        ReportDraft.model_validate(body(expires_at=expires_at))


def test_reliability_letter_is_case_free_and_blank_text_is_none() -> None:
    draft = ReportDraft.model_validate(body(source_reliability=" b ", source="  ", description=""))
    assert draft.source_reliability == "B"
    assert draft.source is None
    assert draft.description is None


def test_schema_documents_fields_and_hides_external_id_examples() -> None:
    schema = ReportDraft.model_json_schema()
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    for name in ("occurred_at", "location", "uncertainty_m", "category", "severity"):
        assert props[name].get("description"), name
    assert props["severity"]["examples"] == [4]
    assert "examples" not in props["external_id"]
    assert schema["examples"][0]["category"] == "armed_clash"
    assert "external_id" not in schema["examples"][0]


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def inside(lon: float, lat: float) -> bool:
    return -72.45 <= lon <= -72.20 and 18.45 <= lat <= 18.65


def test_context_accepts_a_report_in_area_and_not_ahead() -> None:
    draft = ReportDraft.model_validate(body(occurred_at="2026-11-24T12:04:59Z"))
    check_report_context(draft, now=NOW, area_contains=inside)


def test_context_allows_exactly_five_minutes_ahead() -> None:
    draft = ReportDraft.model_validate(body(occurred_at="2026-11-24T12:05:00Z"))
    check_report_context(draft, now=NOW, area_contains=inside)


def test_context_rejects_future_reports() -> None:
    draft = ReportDraft.model_validate(body(occurred_at="2026-11-24T12:05:01Z"))
    with pytest.raises(InputError, match="in the future") as info:
        check_report_context(draft, now=NOW, area_contains=inside)
    assert not isinstance(info.value, OutsideServiceAreaError)
    assert info.value.errors == [{"loc": ["occurred_at"], "msg": "in the future"}]


def test_context_compares_instants_not_wall_clocks() -> None:
    # 07:04 at UTC-5 is 12:04 UTC: fine. 08:00 at UTC-5 is 13:00 UTC: an hour ahead.
    est = timezone(timedelta(hours=-5))
    ok = ReportDraft.model_validate(body(occurred_at="2026-11-24T07:04:00-05:00"))
    check_report_context(ok, now=NOW.astimezone(est), area_contains=inside)
    late = ReportDraft.model_validate(body(occurred_at="2026-11-24T08:00:00-05:00"))
    with pytest.raises(InputError, match="60 min in the future"):
        check_report_context(late, now=NOW, area_contains=inside)


def test_context_rejects_points_outside_the_service_area() -> None:
    seen: list[tuple[float, float]] = []

    def area(lon: float, lat: float) -> bool:
        seen.append((lon, lat))
        return inside(lon, lat)

    draft = ReportDraft.model_validate(body(location={"lon": -72.0, "lat": 18.5}))
    with pytest.raises(OutsideServiceAreaError, match="outside the service area"):
        check_report_context(draft, now=NOW, area_contains=area)
    assert seen == [(-72.0, 18.5)]


def test_context_needs_an_aware_now() -> None:
    draft = ReportDraft.model_validate(body())
    with pytest.raises(ValueError, match="timezone-aware"):
        check_report_context(draft, now=datetime(2026, 11, 24, 12), area_contains=inside)
