"""ACLED CSV importer: both column layouts, mapping table, dedup, uncertainty, time."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from corridors.domain import Category
from corridors.ingest import ImportBatch, ReportDraft, parse_acled
from corridors.ingest import acled as acled_module
from corridors.ingest.acled import ACLED_EVENT_TYPES, ACLED_SUB_EVENTS, acled_uncertainty_m

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
DOCS = Path(__file__).parents[1] / "docs" / "ingest.md"

# The World Bank pull's reduced layout: leading unnamed index, no id/precision columns.
WB_HEADER = [
    "", "event_date", "year", "event_type", "sub_event_type", "actor1", "actor2",
    "interaction", "iso", "region", "country", "admin1", "admin2", "admin3", "location",
    "latitude", "longitude", "source", "notes", "fatalities", "timestamp", "population_1km",
    "population_2km", "population_5km", "population_best", "nrEvents", "category",
]  # fmt: skip


def wb_csv(*rows: dict[str, str]) -> bytes:
    """An invented file in the World Bank layout; unspecified cells are plausible fillers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(WB_HEADER)
    for i, row in enumerate(rows):
        cells = {
            "": str(i),
            "event_date": "2024-02-01",
            "event_type": "Battles",
            "sub_event_type": "Armed clash",
            "actor1": "Gang: Test Alpha",
            "location": "Delmas - Test Corner",
            "latitude": "18.5500",
            "longitude": "-72.3000",
            "notes": "INVENTED NOTE",
            "source": "Invented Gazette",
            "fatalities": "0",
            **row,
        }
        writer.writerow([cells.get(c, "") for c in WB_HEADER])
    return out.getvalue().encode()


def only_draft(batch: ImportBatch) -> ReportDraft:
    assert batch.rejected == []
    assert len(batch.drafts) == 1
    return batch.drafts[0].draft


def utc(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# --- standard layout ------------------------------------------------------------------


@pytest.fixture(scope="module")
def standard() -> ImportBatch:
    return parse_acled((FIXTURES / "acled_standard.csv").read_bytes())


def test_standard_layout_sorts_rows(standard: ImportBatch) -> None:
    assert [p.row for p in standard.drafts] == [2, 3, 4, 8, 9, 11, 12]
    assert [e.row for e in standard.rejected] == [5, 7, 10, 13, 14]
    assert standard.duplicates_in_file == 1
    assert standard.rows_read == 13


def test_standard_layout_rejection_reasons(standard: ImportBatch) -> None:
    reasons = {e.row: e.error for e in standard.rejected}
    assert "latitude 'abc' is not a number" in reasons[5]
    assert "unknown ACLED event type 'Alien invasion'" in reasons[7]
    assert "row has 7 fields, the header has 31" in reasons[10]
    assert "date '2023-02-30' is not understood" in reasons[13]
    assert reasons[14].startswith("location.lat:")


def test_standard_layout_values(standard: ImportBatch) -> None:
    by_id = {p.draft.external_id: p.draft for p in standard.drafts}
    first = by_id["acled:XYZ1"]
    # 5 March 2023: Haiti on standard time (UTC-5), noon local = 17:00 UTC.
    assert first.occurred_at == utc(2023, 3, 5, 17)
    assert (first.category, first.severity, first.fatalities) == (Category.armed_clash, 4, 0)
    assert first.uncertainty_m == 3000  # "Port-au-Prince - Delmas": commune-level coding
    assert (first.location.lon, first.location.lat) == (-72.3, 18.54)
    assert (first.source, first.source_reliability, first.credibility) == ("ACLED", "B", 2)
    # The duplicate XYZ1 row (fatalities 9) did not replace the first one.
    assert first.fatalities == 0

    second = by_id["acled:XYZ2"]  # "5 March 2023" date format, geo_precision 2, 1 death
    assert second.occurred_at == utc(2023, 3, 5, 17)
    assert (second.category, second.severity) == (Category.abduction, 5)
    assert second.uncertainty_m == 5000
    assert second.description is not None
    assert "date approximate (week)" in second.description
    assert "1 fatality" in second.description

    assert (by_id["acled:XYZ3"].category, by_id["acled:XYZ3"].severity) == (Category.protest, 1)
    riot = by_id["acled:XYZ7"]  # mob violence 3, +2 for 5 deaths, geo_precision 3
    assert (riot.category, riot.severity, riot.uncertainty_m) == (Category.riot, 5, 20000)
    assert by_id["acled:XYZ8"].severity == 5  # 4 + 2 capped at 5
    assert (by_id["acled:XYZ10"].category, by_id["acled:XYZ10"].severity) == (Category.other, 1)
    assert by_id["acled:XYZ11"].category is Category.looting


def test_raw_acled_text_never_copied(standard: ImportBatch) -> None:
    for parsed in standard.drafts:
        dumped = parsed.draft.model_dump_json()
        for raw in ("INVENTED NOTE", "Invented Gazette", "Test Alpha", "National"):
            assert raw not in dumped
        assert parsed.draft.description is not None
        assert parsed.draft.description.startswith("ACLED ")


def test_description_is_derived_from_the_coding(standard: ImportBatch) -> None:
    by_id = {p.draft.external_id: p.draft for p in standard.drafts}
    expected = "ACLED Battles/Armed clash, Port-au-Prince, 7 fatalities"
    assert by_id["acled:XYZ8"].description == expected


# --- World Bank layout ----------------------------------------------------------------


@pytest.fixture(scope="module")
def worldbank() -> ImportBatch:
    return parse_acled((FIXTURES / "acled_worldbank.csv").read_bytes())


def expected_key(*parts: str) -> str:
    return "acled:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def test_worldbank_layout(worldbank: ImportBatch) -> None:
    assert [p.row for p in worldbank.drafts] == [2, 3, 5, 7]
    assert [e.row for e in worldbank.rejected] == [6]
    assert "longitude is empty" in worldbank.rejected[0].error
    # Row 4 repeats row 2 in every ACLED column (only the added index differs).
    assert worldbank.duplicates_in_file == 1

    clash, _, drone, protest = (p.draft for p in worldbank.drafts)
    # 10 July 2024: Haiti on daylight time (UTC-4), noon local = 16:00 UTC.
    assert clash.occurred_at == utc(2024, 7, 10, 16)
    assert (clash.category, clash.severity, clash.fatalities) == (Category.armed_clash, 5, 3)
    assert clash.uncertainty_m == 750  # "Delmas - Delmas 99": neighbourhood centroid
    assert drone.occurred_at == utc(2024, 1, 18, 17)
    assert (drone.category, drone.severity, drone.uncertainty_m) == (Category.explosion, 4, 750)
    assert (protest.category, protest.severity, protest.uncertainty_m) == (
        Category.protest,
        2,
        3000,
    )


def test_worldbank_keys_without_event_id(worldbank: ImportBatch) -> None:
    clash, clash2, drone, _ = (p.draft for p in worldbank.drafts)
    key = expected_key(
        "2024-07-10", "18.5501", "-72.3102", "armed clash", "gang: test alpha", "police test unit"
    )
    assert clash.external_id == key
    # A distinct event sharing date, place, sub-event and actors keeps its own key.
    assert (clash2.severity, clash2.external_id) == (4, key + "#2")
    assert drone.external_id == expected_key(
        "2024-01-18", "18.5444", "-72.3333", "air/drone strike", "test task force", ""
    )


def test_keys_are_stable_across_imports_and_formatting() -> None:
    a = only_draft(parse_acled(wb_csv({"latitude": "18.55", "actor1": "GANG: TEST ALPHA "})))
    b = only_draft(parse_acled(wb_csv({"latitude": "18.5500", "notes": "other text"})))
    assert a.external_id == b.external_id


def test_repeated_event_id_is_a_duplicate_and_first_wins() -> None:
    text = (FIXTURES / "acled_standard.csv").read_text()
    header, first = text.splitlines()[:2]
    again = first.replace(",0,,1700000000", ",4,,1700000099")
    batch = parse_acled(f"{header}\n{first}\n{again}\n".encode())
    assert batch.duplicates_in_file == 1
    assert only_draft(batch).fatalities == 0


def test_empty_event_id_rejects_the_row_when_the_column_exists() -> None:
    text = (FIXTURES / "acled_standard.csv").read_text()
    header, first = text.splitlines()[:2]
    batch = parse_acled(f"{header}\n{first.replace('XYZ1,', ',', 1)}\n".encode())
    assert [e.error for e in batch.rejected] == ["event_id_cnty is empty"]


# --- mapping table --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "sub_event_type", "fatalities", "category", "severity"),
    [
        ("Battles", "Armed clash", "0", Category.armed_clash, 4),
        ("Battles", "Armed clash", "1", Category.armed_clash, 5),
        ("Battles", "Non-state actor overtakes territory", "0", Category.armed_clash, 5),
        ("Violence against civilians", "Attack", "0", Category.attack, 4),
        (
            "Violence against civilians",
            "Abduction/forced disappearance",
            "0",
            Category.abduction,
            4,
        ),
        ("Violence against civilians", "Sexual violence", "0", Category.sexual_violence, 4),
        ("Explosions/Remote violence", "Air/drone strike", "0", Category.explosion, 4),
        ("Riots", "Violent demonstration", "0", Category.riot, 3),
        ("Riots", "Mob violence", "4", Category.riot, 4),  # 1..4 deaths: +1
        ("Riots", "Mob violence", "5", Category.riot, 5),  # 5+ deaths: +2
        ("Protests", "Peaceful protest", "0", Category.protest, 1),
        ("Protests", "Peaceful protest", "1", Category.protest, 2),
        ("Protests", "Peaceful protest", "4", Category.protest, 2),
        ("Protests", "Peaceful protest", "5", Category.protest, 3),
        ("Protests", "Peaceful protest", "250", Category.protest, 3),
        ("Protests", "Excessive force against protesters", "0", Category.protest, 3),
        ("Strategic developments", "Looting/property destruction", "0", Category.looting, 2),
        ("Strategic developments", "Looting/property destruction", "5", Category.looting, 4),
        ("Strategic developments", "Arrests", "0", Category.other, 1),
        ("Strategic developments", "Disrupted weapons use", "0", Category.other, 2),
        ("Strategic developments", "Other", "0", Category.other, 1),
        ("Battles", "Armed clash", "30", Category.armed_clash, 5),  # cap
        ("BATTLES", "armed CLASH", "", Category.armed_clash, 4),  # case-free, empty = 0
        ("Battles", "Some future sub-event", "0", Category.armed_clash, 4),  # type fallback
        ("Riots", "", "0", Category.riot, 3),
    ],
)
def test_mapping_and_fatality_boost(
    event_type: str, sub_event_type: str, fatalities: str, category: Category, severity: int
) -> None:
    draft = only_draft(
        parse_acled(
            wb_csv(
                {
                    "event_type": event_type,
                    "sub_event_type": sub_event_type,
                    "fatalities": fatalities,
                }
            )
        )
    )
    assert (draft.category, draft.severity) == (category, severity)


@pytest.mark.parametrize("fatalities", ["-1", "2.5", "many"])
def test_bad_fatalities_reject_the_row(fatalities: str) -> None:
    batch = parse_acled(wb_csv({"fatalities": fatalities}))
    assert len(batch.rejected) == 1
    assert "fatalities" in batch.rejected[0].error


def _table_rows(text: str) -> dict[tuple[str, str], tuple[str, int]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[3].isdigit():
            rows[(cells[0].lower(), cells[1].lower())] = (cells[2], int(cells[3]))
    return rows


def test_docs_table_matches_the_code() -> None:
    documented = _table_rows(DOCS.read_text(encoding="utf-8"))
    coded = {k: (v.category.value, v.severity) for k, v in ACLED_SUB_EVENTS.items()}
    assert documented == coded
    fallback = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2].isdigit() and cells[0].lower() in ACLED_EVENT_TYPES:
            fallback[cells[0].lower()] = (cells[1], int(cells[2]))
    assert fallback == {k: (v.category.value, v.severity) for k, v in ACLED_EVENT_TYPES.items()}


def test_module_docstring_table_matches_the_code() -> None:
    doc = acled_module.__doc__ or ""
    rows = {}
    for line in doc.splitlines():
        m = re.match(r"^(\S.*?)\s{2,}(\S.*?)\s{2,}([a-z_]+)\s+(\d)$", line)
        if m:
            rows[(m[1].lower(), m[2].lower())] = (m[3], int(m[4]))
    assert rows == {k: (v.category.value, v.severity) for k, v in ACLED_SUB_EVENTS.items()}


# --- uncertainty ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "geo_precision", "radius_m"),
    [
        ("Delmas - Delmas 30", None, 750),
        ("Port-au-Prince - Solino", None, 750),
        ("Petion Ville - Thomassin", 1, 750),
        ("Port-au-Prince - Delmas", None, 3000),  # pre-2024: city - commune
        ("Port-au-Prince - Pétion-Ville", 1, 3000),
        ("Port-au-Prince - Cite Soleil", 1, 3000),
        ("Delmas", None, 3000),
        ("Port-au-Prince", 1, 3000),
        ("Delmas - Delmas 30", 2, 5000),
        ("Delmas", 3, 20000),
        ("", None, 3000),
    ],
)
def test_uncertainty_from_coding(location: str, geo_precision: int | None, radius_m: float) -> None:
    assert acled_uncertainty_m(location, geo_precision) == radius_m


def test_unknown_geo_precision_rejects_the_row() -> None:
    text = (FIXTURES / "acled_standard.csv").read_text()
    header, first = text.splitlines()[:2]
    bad = first.replace(",18.5400,-72.3000,1,", ",18.5400,-72.3000,7,")
    batch = parse_acled(f"{header}\n{bad}\n".encode())
    assert batch.rejected[0].error == "geo_precision '7' is not 1, 2 or 3"


# --- encodings and dialects -----------------------------------------------------------


def test_bom_latin1_and_semicolons() -> None:
    data = wb_csv({"location": "Pétion-Ville - Test Morne"})
    bom = parse_acled(b"\xef\xbb\xbf" + data)
    assert only_draft(bom).description == "ACLED Battles/Armed clash, Pétion-Ville - Test Morne"
    latin1 = parse_acled(data.decode().encode("latin-1"))
    assert only_draft(latin1).description == only_draft(bom).description
    semicolons = data.decode().replace(",", ";").encode()
    assert only_draft(parse_acled(semicolons)).category is Category.armed_clash
    crlf = data.decode().replace("\n", "\r\n").encode()
    assert only_draft(parse_acled(crlf)).uncertainty_m == 750


def test_header_names_are_case_free_and_blank_lines_count() -> None:
    text = wb_csv({}, {"event_type": "Riots", "sub_event_type": "Mob violence"}).decode()
    header, row1, row2 = text.splitlines()
    batch = parse_acled(f"{header.upper()}\n\n{row1}\n\n{row2}\n".encode())
    assert [p.row for p in batch.drafts] == [3, 5]
