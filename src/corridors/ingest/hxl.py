"""HXL-tagged CSV -> report drafts.

An HXL file (https://hxlstandard.org) is a CSV whose columns are identified by a row of
hashtags (``#geo+lat``) under, or instead of, the text header. The hashtag row is the
first of the first 25 rows in which every non-empty cell starts with ``#``. A column
matches a tag spec when its hashtag is the same and it carries every attribute of the
spec, in any order and case (``#GEO +Lat`` matches ``#geo+lat``); among several matches the
left-most with the fewest extra attributes wins, and some specs exclude attributes
(``#event+type`` does not take ``#event+type+sub``).

================= ============================================== ==========================
field             tags (first found wins)                        notes
================= ============================================== ==========================
occurred_at       #date+occurred, #date+start, #date             required; see below
location.lat      #geo+lat                                       required, degrees
location.lon      #geo+lon                                       required, degrees
category          #event+type (not +sub), #event+category,       required; our category
                  #event+type+sub                                names or ACLED types
severity          #severity                                      1..5; default by type
fatalities        #affected+killed                               empty = 0
uncertainty_m     #geo+uncertainty, #geo+precision               metres / ACLED code 1..3
source            #meta+source                                   <= 200 characters
source_reliab.    #meta+reliability                              A..F
credibility       #meta+credibility                              1..6
description       #description                                   <= 2000 characters
expires_at        #date+expires, #date+end                       optional
external_id       #event+id, #event+code                         ``"hxl:" + value``
location name     #loc+name                                      ACLED rows: description
================= ============================================== ==========================

The event type is first read as one of our categories (``armed_clash``, ``Armed clash``,
``armed-clash`` all match), else as an ACLED event and/or sub-event type (table in
:mod:`corridors.ingest.acled`). Without a ``#severity`` the default severity is the
ACLED table's, or :data:`CATEGORY_DEFAULT_SEVERITY` for our categories, raised by
fatalities (+1 from 1 death, +2 from 5, at most 5); an explicit severity is kept as given.

Dates follow the CSV rules of :func:`corridors.ingest.batch.parse_local_date`: a date alone
is 12:00 America/Port-au-Prince, a date-time without a zone is local time there.

Rows coded in ACLED's vocabulary may be ACLED data (ACLED publishes HXL files on HDX),
which must not leave the service raw: their ``#description`` and ``#meta+source`` are
not copied; the description is derived from the coding as for ACLED CSV and the source
is ``"ACLED-coded HXL"``.

Without an id column the deduplication key is ``"hxl:" + sha256(date|lat|lon|type|
subtype|source)[:16]``, the k-th repeat within a file getting ``"#k"``; a row identical
in every cell to an earlier one, or a repeated id, counts as a duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from corridors.domain import Category
from corridors.errors import InputError
from corridors.ingest.acled import acled_coding, acled_description
from corridors.ingest.batch import (
    BatchBuilder,
    ImportBatch,
    RowValueError,
    bump_severity,
    csv_records,
    decode_text,
    parse_count,
    parse_float,
    parse_local_date,
    stable_key,
)

__all__ = ["CATEGORY_DEFAULT_SEVERITY", "HxlTag", "parse_hxl", "parse_hxl_tag"]

#: Default severity (before fatalities) of a report given in our own category names.
CATEGORY_DEFAULT_SEVERITY: dict[Category, int] = {
    Category.armed_clash: 4,
    Category.attack: 4,
    Category.abduction: 4,
    Category.sexual_violence: 4,
    Category.looting: 2,
    Category.arson: 3,
    Category.explosion: 4,
    Category.roadblock: 3,
    Category.extortion_checkpoint: 3,
    Category.sniper_fire: 4,
    Category.riot: 3,
    Category.protest: 1,
    Category.other: 1,
}

#: ACLED ``geo_precision`` code -> uncertainty radius, m (a ``#geo+precision`` column).
_GEO_PRECISION_M = {1: 3000.0, 2: 5000.0, 3: 20000.0}
_HASHTAG_ROW_SEARCH = 25
_TAG = re.compile(r"^#([a-z][a-z0-9_]*)((?:\s*\+\s*[a-z][a-z0-9_]*)*)\s*$")
_NAME_SEPARATORS = re.compile(r"[\s\-]+")


@dataclass(frozen=True, slots=True)
class HxlTag:
    """A parsed HXL column spec: hashtag and attributes, lower case."""

    hashtag: str
    attributes: frozenset[str]


def parse_hxl_tag(text: str) -> HxlTag | None:
    """Parse ``"#geo +lat"`` into ``HxlTag("geo", {"lat"})``; ``None`` if not a tag."""
    match = _TAG.match(text.strip().lower())
    if match is None:
        return None
    attrs = frozenset(a.strip() for a in match.group(2).split("+") if a.strip())
    return HxlTag(match.group(1), attrs)


@dataclass(frozen=True, slots=True)
class _Spec:
    hashtag: str
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()


def _spec(tag: str, exclude: str = "") -> _Spec:
    parsed = parse_hxl_tag(tag)
    assert parsed is not None, tag
    return _Spec(parsed.hashtag, parsed.attributes, frozenset(exclude.split()))


_SPECS: dict[str, tuple[_Spec, ...]] = {
    "occurred_at": (
        _spec("#date+occurred"),
        _spec("#date+start"),
        _spec("#date", "expires end reported year precision timestamp"),
    ),
    "lat": (_spec("#geo+lat"),),
    "lon": (_spec("#geo+lon"),),
    "event_type": (_spec("#event+type", "sub"), _spec("#event+category")),
    "sub_event_type": (_spec("#event+type+sub"),),
    "severity": (_spec("#severity"),),
    "fatalities": (_spec("#affected+killed"),),
    "uncertainty_m": (_spec("#geo+uncertainty"),),
    "geo_precision": (_spec("#geo+precision"),),
    "source": (_spec("#meta+source"),),
    "source_reliability": (_spec("#meta+reliability"),),
    "credibility": (_spec("#meta+credibility"),),
    "description": (_spec("#description"),),
    "expires_at": (_spec("#date+expires"), _spec("#date+end")),
    "external_id": (_spec("#event+id"), _spec("#event+code")),
    "location_name": (_spec("#loc+name"),),
}


def _find_column(tags: Sequence[HxlTag | None], specs: tuple[_Spec, ...]) -> int:
    for spec in specs:
        best, best_extra = -1, 1 << 30
        for i, tag in enumerate(tags):
            if (
                tag is None
                or tag.hashtag != spec.hashtag
                or not spec.include <= tag.attributes
                or spec.exclude & tag.attributes
            ):
                continue
            extra = len(tag.attributes - spec.include)
            if extra < best_extra:
                best, best_extra = i, extra
        if best >= 0:
            return best
    return -1


def _is_hashtag_row(cells: list[str]) -> bool:
    filled = [c.strip() for c in cells if c.strip()]
    return bool(filled) and all(c.startswith("#") for c in filled)


def _category_name(value: str) -> Category | None:
    key = _NAME_SEPARATORS.sub("_", value.strip().lower())
    try:
        return Category(key)
    except ValueError:
        return None


def parse_hxl(data: bytes) -> ImportBatch:
    """Parse an HXL-tagged CSV into report drafts.

    Parameters
    ----------
    data
        The file's bytes (UTF-8 with or without BOM, or Latin-1).

    Returns
    -------
    ImportBatch
        Drafts for the good rows (CSV record numbers, first row = 1), a reason for each
        rejected row, and the count of in-file duplicates.

    Raises
    ------
    InputError
        Binary or empty file, no hashtag row, or a required tag missing.
    """
    text = decode_text(data, what="HXL")
    records = csv_records(text, what="HXL")
    tags: list[HxlTag | None] | None = None
    for number, cells in records:
        if number > _HASHTAG_ROW_SEARCH:
            break
        if _is_hashtag_row(cells):
            tags = [parse_hxl_tag(c) if c.strip() else None for c in cells]
            break
    if tags is None:
        raise InputError(
            f"no HXL hashtag row (a row of tags like #date+occurred, #geo+lat) in the first "
            f"{_HASHTAG_ROW_SEARCH} rows"
        )
    cols = {name: _find_column(tags, specs) for name, specs in _SPECS.items()}
    missing = [
        spec_text
        for name, spec_text in (
            ("occurred_at", "#date+occurred"),
            ("lat", "#geo+lat"),
            ("lon", "#geo+lon"),
            ("event_type", "#event+type"),
        )
        if cols[name] < 0 and not (name == "event_type" and cols["sub_event_type"] >= 0)
    ]
    if missing:
        raise InputError(f"HXL file lacks required tag(s): {', '.join(missing)}")

    builder = BatchBuilder()
    seen_rows: set[tuple[str, ...]] = set()
    key_counts: dict[str, int] = {}
    for number, cells in records:
        row_key = tuple(c.strip() for c in cells)
        if row_key in seen_rows:
            builder.duplicate()
            continue
        seen_rows.add(row_key)
        try:
            fields = _row_fields(cells, cols)
        except RowValueError as exc:
            builder.reject(number, str(exc))
            continue
        key = str(fields["external_id"])
        if cols["external_id"] < 0:
            seen = key_counts.get(key, 0) + 1
            key_counts[key] = seen
            if seen > 1:
                fields["external_id"] = f"{key}#{seen}"
        builder.add(number, fields)
    return builder.batch


def _row_fields(cells: list[str], cols: dict[str, int]) -> dict[str, object]:
    def cell(name: str) -> str:
        i = cols[name]
        return cells[i].strip() if 0 <= i < len(cells) else ""

    event_type, sub_event_type = cell("event_type"), cell("sub_event_type")
    category = _category_name(event_type) if event_type else None
    acled_vocab = category is None
    if category is None:
        coding = acled_coding(event_type, sub_event_type)
        if coding is None:
            shown = event_type or sub_event_type
            raise RowValueError(
                f"unknown event type {shown!r} (expected a category such as armed_clash, "
                "or an ACLED event type such as Battles)"
            )
        category, default_severity = coding.category, coding.severity
    else:
        default_severity = CATEGORY_DEFAULT_SEVERITY[category]

    occurred_at = parse_local_date(cell("occurred_at"))
    lat = parse_float(cell("lat"), "#geo+lat")
    lon = parse_float(cell("lon"), "#geo+lon")
    fatalities = parse_count(cell("fatalities"), "#affected+killed")
    severity_text = cell("severity")
    if severity_text:
        severity: object = severity_text
    else:
        severity = bump_severity(default_severity, fatalities)

    fields: dict[str, object] = {
        "occurred_at": occurred_at,
        "location": {"lon": lon, "lat": lat},
        "category": category,
        "severity": severity,
        "fatalities": fatalities,
    }
    if cell("uncertainty_m"):
        fields["uncertainty_m"] = parse_float(cell("uncertainty_m"), "#geo+uncertainty")
    elif cell("geo_precision"):
        code = cell("geo_precision")
        radius_m = _GEO_PRECISION_M.get(int(code) if code.isdigit() else 0)
        if radius_m is None:
            raise RowValueError(f"#geo+precision {code!r} is not 1, 2 or 3")
        fields["uncertainty_m"] = radius_m
    if acled_vocab:
        fields["source"] = "ACLED-coded HXL"
        fields["description"] = acled_description(
            event_type, sub_event_type, cell("location_name"), fatalities, ""
        )
    else:
        for name in ("source", "description"):
            if cell(name):
                fields[name] = cell(name)
    for name in ("source_reliability", "credibility"):
        if cell(name):
            fields[name] = cell(name)
    if cell("expires_at"):
        fields["expires_at"] = parse_local_date(cell("expires_at"))

    if cell("external_id"):
        fields["external_id"] = f"hxl:{cell('external_id')}"
    else:
        fields["external_id"] = "hxl:" + stable_key(
            occurred_at.isoformat(),
            f"{lat:.4f}",
            f"{lon:.4f}",
            event_type.casefold(),
            sub_event_type.casefold(),
            cell("source").casefold(),
        )
    return fields
