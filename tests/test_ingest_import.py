"""parse_import: format dispatch, unreadable files, and the real ACLED file."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from corridors.domain import Category
from corridors.errors import InputError
from corridors.ingest import IMPORT_FORMATS, parse_import

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
SHARED_DATA = Path(__file__).parents[2] / "shared" / "data"


@pytest.mark.parametrize(
    ("fmt", "name", "parsed"),
    [
        ("acled", "acled_standard.csv", 7),
        ("ACLED", "acled_worldbank.csv", 4),
        (" hxl ", "hxl_shuffled.csv", 4),
        ("geojson", "reports.geojson", 2),
    ],
)
def test_dispatch(fmt: str, name: str, parsed: int) -> None:
    assert len(parse_import((FIXTURES / name).read_bytes(), fmt).drafts) == parsed


def test_formats() -> None:
    assert IMPORT_FORMATS == ("acled", "hxl", "geojson")


def test_unknown_format() -> None:
    with pytest.raises(InputError, match="unknown import format 'xlsx'"):
        parse_import(b"a,b\n", "xlsx")


@pytest.mark.parametrize("fmt", IMPORT_FORMATS)
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"  \n\r\n", "is empty"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"%PDF-1.7\n", "PDF"),
        (b"event_date,latitude\x00\x00\x01\x02", "binary"),
    ],
)
def test_unreadable_files(fmt: str, data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_import(data, fmt)


@pytest.mark.parametrize(
    "data",
    [
        (FIXTURES / "reports.geojson").read_bytes(),  # JSON is not CSV
        (FIXTURES / "hxl_shuffled.csv").read_bytes(),  # other CSV columns
        b"just some text\nwithout columns\n",
    ],
)
def test_acled_needs_its_columns(data: bytes) -> None:
    with pytest.raises(InputError, match="not an ACLED CSV export: missing column"):
        parse_import(data, "acled")


def test_missing_columns_are_named() -> None:
    with pytest.raises(InputError) as info:
        parse_import(b"event_date,event_type,latitude\n2024-01-01,Battles,18.5\n", "acled")
    assert "sub_event_type, longitude" in info.value.detail


def test_csv_given_as_geojson() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        parse_import((FIXTURES / "acled_standard.csv").read_bytes(), "geojson")


# --- real data ------------------------------------------------------------------------

PAP_FILE = SHARED_DATA / "acled_port-au-prince_2024-2025_events.csv"
HAITI_2023_FILE = SHARED_DATA / "acled_haiti_2023-01_2023-09_events.csv"


@pytest.mark.realdata
@pytest.mark.skipif(not PAP_FILE.exists(), reason="shared ACLED data not present")
def test_real_port_au_prince_file() -> None:
    data = PAP_FILE.read_bytes()
    started = time.perf_counter()
    batch = parse_import(data, "acled")
    elapsed_s = time.perf_counter() - started
    assert elapsed_s < 1.0

    # Figures from ../shared/data/SOURCES.md (counted there from the raw event types).
    assert len(batch.drafts) == 2819
    assert batch.rejected == []
    assert batch.duplicates_in_file == 0
    drafts = [p.draft for p in batch.drafts]
    assert len({d.external_id for d in drafts}) == 2819
    categories = Counter(d.category for d in drafts)
    assert categories[Category.armed_clash] == 807  # Battles
    assert categories[Category.explosion] == 75  # Explosions/Remote violence
    assert categories[Category.riot] == 139  # Riots
    assert categories[Category.protest] == 152  # Protests
    violence = Category.attack, Category.abduction, Category.sexual_violence
    assert sum(categories[c] for c in violence) == 690  # Violence against civilians
    assert categories[Category.looting] + categories[Category.other] == 956  # Strategic dev.
    assert sum(d.fatalities for d in drafts) == 3150
    assert all(-72.4484 <= d.location.lon <= -72.2211 for d in drafts)
    assert all(18.4507 <= d.location.lat <= 18.6408 for d in drafts)
    first, last = min(d.occurred_at for d in drafts), max(d.occurred_at for d in drafts)
    assert datetime(2024, 1, 1, tzinfo=UTC) < first
    assert last < datetime(2026, 1, 1, tzinfo=UTC)
    assert {d.uncertainty_m for d in drafts} <= {750.0, 3000.0}
    assert all(d.description and d.description.startswith("ACLED ") for d in drafts)


@pytest.mark.realdata
@pytest.mark.skipif(not HAITI_2023_FILE.exists(), reason="shared ACLED data not present")
def test_real_standard_layout_file() -> None:
    batch = parse_import(HAITI_2023_FILE.read_bytes(), "acled")
    assert (len(batch.drafts), len(batch.rejected), batch.duplicates_in_file) == (696, 0, 0)
    assert all(str(p.draft.external_id).startswith("acled:HTI") for p in batch.drafts)
    # geo_precision 1: 635, 2: 56, 3: 5 (SOURCES.md); all places commune-level or coarser.
    radii = Counter(p.draft.uncertainty_m for p in batch.drafts)
    assert radii == {3000.0: 635, 5000.0: 56, 20000.0: 5}
