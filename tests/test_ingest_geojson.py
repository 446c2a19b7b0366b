"""GeoJSON FeatureCollection importer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from corridors.domain import Category
from corridors.errors import InputError
from corridors.ingest import ImportBatch, parse_geojson

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


@pytest.fixture(scope="module")
def batch() -> ImportBatch:
    return parse_geojson((FIXTURES / "reports.geojson").read_bytes())


def test_good_and_bad_features(batch: ImportBatch) -> None:
    assert [p.row for p in batch.drafts] == [0, 4]
    assert [e.row for e in batch.rejected] == [1, 2, 3, 6, 7]
    assert batch.duplicates_in_file == 1  # feature 5 repeats id "p-1"
    reasons = {e.row: e.error for e in batch.rejected}
    assert reasons[1] == "geometry must be a Point, got 'LineString'"
    assert reasons[2].startswith("occurred_at:")
    assert "severty: unknown field" in reasons[3]
    assert "severity: Field required" in reasons[3]
    assert reasons[6].startswith("location.lon:")
    assert "expires_at must be after occurred_at" in reasons[7]


def test_values_and_keys(batch: ImportBatch) -> None:
    first, exported = (p.draft for p in batch.drafts)
    assert first.external_id == "geojson:p-1"
    assert (first.location.lon, first.location.lat) == (-72.3381, 18.5392)
    assert (first.category, first.severity, first.uncertainty_m) == (Category.roadblock, 3, 100)
    # Output-only properties (id, status, created_*) are ignored on re-import.
    assert exported.external_id == "x:1"
    assert exported.occurred_at == datetime(2024, 5, 1, 16, tzinfo=UTC)
    assert (exported.category, exported.severity, exported.fatalities) == (
        Category.sniper_fire,
        5,
        1,
    )
    assert (exported.source_reliability, exported.credibility) == ("C", 3)


def fc(*features: object) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


GOOD_PROPS = {"occurred_at": "2024-05-01T10:30:00Z", "category": "riot", "severity": 3}


@pytest.mark.parametrize(
    ("feature", "reason"),
    [
        ("not a feature", "not a GeoJSON Feature"),
        ({"type": "Feature", "geometry": None, "properties": GOOD_PROPS}, "got None"),
        (
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1]}},
            "[lon, lat]",
        ),
        (
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": ["a", 1]}},
            "[lon, lat]",
        ),
        (
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}},
            "occurred_at: Field required",
        ),
        (
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [1, 2]},
                "properties": {**GOOD_PROPS, "location": {"lon": 1, "lat": 2}},
            },
            "location comes from the geometry",
        ),
        (
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [1, 2]},
                "properties": {**GOOD_PROPS, "category": "gunfight"},
            },
            "category:",
        ),
    ],
)
def test_bad_features(feature: object, reason: str) -> None:
    result = parse_geojson(fc(feature))
    assert result.drafts == []
    assert len(result.rejected) == 1
    assert reason in result.rejected[0].error


def test_altitude_is_ignored() -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-72.3, 18.5, 40.0]},
        "properties": GOOD_PROPS,
    }
    draft = parse_geojson(fc(feature)).drafts[0].draft
    assert (draft.location.lon, draft.location.lat, draft.external_id) == (-72.3, 18.5, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"type": "Feature", "geometry": null}', "expected a GeoJSON FeatureCollection"),
        (b"[1, 2]", "got 'list'"),
        (b'{"type": "FeatureCollection"}', "no 'features' list"),
    ],
)
def test_unusable_geojson(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_geojson(data)
