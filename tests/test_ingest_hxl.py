"""HXL-tagged CSV importer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from corridors.domain import Category
from corridors.errors import InputError
from corridors.ingest import ImportBatch, parse_hxl
from corridors.ingest.hxl import HxlTag, parse_hxl_tag

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


@pytest.fixture(scope="module")
def batch() -> ImportBatch:
    return parse_hxl((FIXTURES / "hxl_shuffled.csv").read_bytes())


def test_rows_are_sorted(batch: ImportBatch) -> None:
    # Row 1 = text header, row 2 = hashtags, data from row 3.
    assert [p.row for p in batch.drafts] == [3, 4, 5, 9]
    assert [e.row for e in batch.rejected] == [6, 7]
    assert batch.duplicates_in_file == 1  # row 8 repeats event id H1
    reasons = {e.row: e.error for e in batch.rejected}
    assert "unknown event type 'alien'" in reasons[6]
    assert reasons[7].startswith("severity:")


def test_our_category_names_and_local_time(batch: ImportBatch) -> None:
    h1 = batch.drafts[0].draft
    assert h1.external_id == "hxl:H1"
    assert (h1.category, h1.severity) == (Category.armed_clash, 4)  # "Armed clash"
    # 08:30 without a zone on 1 May 2024 = Port-au-Prince daylight time (UTC-4).
    assert h1.occurred_at == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert (h1.location.lon, h1.location.lat, h1.uncertainty_m) == (-72.3381, 18.5392, 150)
    assert (h1.source, h1.description) == ("Test patrol", "Shots heard near the test market")


def test_acled_vocabulary_rows_are_not_copied(batch: ImportBatch) -> None:
    h2 = batch.drafts[1].draft
    assert (h2.category, h2.severity, h2.fatalities) == (Category.armed_clash, 5, 2)
    assert h2.occurred_at == datetime(2024, 5, 2, 16, tzinfo=UTC)  # date only: local noon
    assert h2.source == "ACLED-coded HXL"
    assert h2.description == "ACLED Battles/Armed clash, Delmas - Delmas 99, 2 fatalities"
    assert "Secret" not in h2.model_dump_json()


def test_explicit_severity_is_kept_and_zones_honoured(batch: ImportBatch) -> None:
    h3 = batch.drafts[2].draft
    assert (h3.category, h3.severity, h3.fatalities) == (Category.roadblock, 2, 6)
    assert h3.occurred_at == datetime(2024, 5, 3, 14, tzinfo=UTC)
    h6 = batch.drafts[3].draft
    assert (h6.category, h6.severity) == (Category.extortion_checkpoint, 3)
    assert h6.occurred_at == datetime(2024, 5, 4, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("#geo+lat", HxlTag("geo", frozenset({"lat"}))),
        ("#GEO +Lat", HxlTag("geo", frozenset({"lat"}))),
        (" #event +sub+ type ", HxlTag("event", frozenset({"sub", "type"}))),
        ("#severity", HxlTag("severity", frozenset())),
        ("geo+lat", None),
        ("#", None),
        ("#geo+", None),
    ],
)
def test_tag_parsing(text: str, tag: HxlTag | None) -> None:
    assert parse_hxl_tag(text) == tag


def test_hashtag_row_alone_and_fewest_extra_attributes_win() -> None:
    data = (
        b"#geo+lon,#date+occurred+approx,#date+occurred,#geo+lat,#event+type+sub,#event+type\n"
        b"-72.3,2024-05-01,2024-06-01,18.5,Armed clash,Riots\n"
    )
    result = parse_hxl(data)
    draft = result.drafts[0].draft
    assert result.drafts[0].row == 2
    assert draft.occurred_at == datetime(2024, 6, 1, 16, tzinfo=UTC)
    assert (draft.category, draft.severity) == (Category.riot, 3)


def test_sub_event_alone_is_enough() -> None:
    data = b"#date+occurred,#geo+lat,#geo+lon,#event+type+sub\n2024-05-01,18.5,-72.3,Grenade\n"
    assert parse_hxl(data).drafts[0].draft.category is Category.explosion


def test_identical_rows_without_id() -> None:
    row = "2024-05-01,18.5,-72.3,riot"
    data = f"#date+occurred,#geo+lat,#geo+lon,#event+type\n{row}\n{row}\n{row},\n".encode()
    result = parse_hxl(data)
    # Rows 2 and 3 are identical (a repeat); row 4 differs by a trailing empty cell only
    # in the file but is the same event coding: it gets its own numbered key.
    assert result.duplicates_in_file == 1
    keys = [p.draft.external_id for p in result.drafts]
    assert len(keys) == 2
    assert keys[0] is not None
    assert keys[0].startswith("hxl:")
    assert keys[1] == f"{keys[0]}#2"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"date,lat,lon\n2024-05-01,18.5,-72.3\n", "no HXL hashtag row"),
        (b"#date+occurred,#geo+lon,#event+type\n2024-05-01,-72.3,riot\n", "#geo+lat"),
        (b"#date+reported,#geo+lat,#geo+lon,#event+type\n2024-05-01,18.5,-72.3,riot\n", "#date"),
    ],
)
def test_unusable_hxl_files(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_hxl(data)
