"""ACLED CSV exports -> report drafts.

Reads the CSV layout of ACLED exports: the standard one (``event_id_cnty, event_date,
year, time_precision, disorder_type, event_type, sub_event_type, actor1, ... location,
latitude, longitude, geo_precision, source, source_scale, notes, fatalities, tags,
timestamp``) and reduced variants such as the World Bank pull (a leading unnamed index
column, extra population columns, no ``event_id_cnty``/``geo_precision``/
``time_precision``). Column order does not matter; names are matched case-free.
Required: ``event_date, event_type, sub_event_type, latitude, longitude``.

Licence (ACLED Terms of Use): raw ACLED data must not leave the service. So ``notes``,
``source`` (the outlets), ``actor*`` and ``tags`` are NEVER copied into a report; the
description is a short summary derived from the coding (``"ACLED Battles/Armed clash,
Delmas - Delmas 30, 3 fatalities"``) and ``source`` is ``"ACLED"``.

Category and default severity (1 minor .. 5 extreme), keyed by event type and sub-event
type (case-free). Every ACLED event is imported (nothing is skipped), so an import
reconciles with the export: imported + duplicates + rejected = data rows. Non-security
strategic developments become ``other`` with severity 1; the risk model weights them
accordingly.

=========================== ==================================== =============== ===
event_type                  sub_event_type                       category        sev
=========================== ==================================== =============== ===
Battles                     Armed clash                          armed_clash     4
Battles                     Government regains territory         armed_clash     4
Battles                     Non-state actor overtakes territory  armed_clash     5
Explosions/Remote violence  Air/drone strike                     explosion       4
Explosions/Remote violence  Shelling/artillery/missile attack    explosion       4
Explosions/Remote violence  Remote explosive/landmine/IED        explosion       4
Explosions/Remote violence  Grenade                              explosion       4
Explosions/Remote violence  Suicide bomb                         explosion       5
Explosions/Remote violence  Chemical weapon                      explosion       5
Violence against civilians  Attack                               attack          4
Violence against civilians  Abduction/forced disappearance       abduction       4
Violence against civilians  Sexual violence                      sexual_violence 4
Riots                       Violent demonstration                riot            3
Riots                       Mob violence                         riot            3
Protests                    Peaceful protest                     protest         1
Protests                    Protest with intervention            protest         2
Protests                    Excessive force against protesters   protest         3
Strategic developments      Looting/property destruction         looting         2
Strategic developments      Headquarters or base established     other           2
Strategic developments      Non-violent transfer of territory    other           2
Strategic developments      Disrupted weapons use                other           2
Strategic developments      Arrests                              other           1
Strategic developments      Change to group/activity             other           1
Strategic developments      Agreement                            other           1
Strategic developments      Other                                other           1
=========================== ==================================== =============== ===

A sub-event type missing from the table falls back on its event type (Battles
armed_clash 4, Explosions/Remote violence explosion 4, Violence against civilians attack 4,
Riots riot 3, Protests protest 1, Strategic developments other 1); an unknown event type
rejects the row. Fatalities raise the default: +1 from 1 death, +2 from 5, capped at 5.

Location uncertainty ``uncertainty_m``, the larger of:

- the place coding: a neighbourhood (``"Commune - Neighbourhood"``, ACLED's
  Port-au-Prince coding since Sept. 2024, e.g. ``"Delmas - Delmas 30"``, one centroid per
  neighbourhood) 750 m; a town or commune (``"Delmas"``, or the pre-2024
  ``"Port-au-Prince - Delmas"`` whose second part is itself a commune) 3000 m;
- ``geo_precision``: 1 (the named place) adds nothing, 2 (near the place / part of a
  district) 5000 m, 3 (only the region is known) 20000 m.

Time: ``event_date`` is a day; it becomes 12:00 America/Port-au-Prince (local DST
applied), converted to UTC, so the timing error is at most 12 h either way. A
``time_precision`` of 2 (week) or 3 (month) is noted in the description.

Admiralty grading: source reliability B (usually reliable: a curated, multi-source
dataset), credibility 2 (probably true) for every row.

Deduplication key ``external_id``: ``"acled:" + event_id_cnty``; without that column,
``"acled:" + sha256(date|lat|lon|sub_event_type|actor1|actor2)[:16]`` (coordinates to
4 decimals, text case-folded). ACLED codes distinct events that share all of these (same
day, same neighbourhood centroid, same actors), so within a file the k-th such event gets
``"#k"`` appended (k >= 2) instead of being dropped; re-importing the same or a newer pull
yields the same keys. Within a file, a repeated ``event_id_cnty`` or a row identical to an
earlier one in every ACLED column counts as a duplicate (the first is kept).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from corridors.domain import Category
from corridors.errors import InputError
from corridors.ingest.batch import (
    BatchBuilder,
    ImportBatch,
    RowValueError,
    bump_severity,
    csv_records,
    decode_text,
    normalise_header,
    parse_count,
    parse_float,
    parse_local_date,
    stable_key,
)

__all__ = [
    "ACLED_CREDIBILITY",
    "ACLED_EVENT_TYPES",
    "ACLED_RELIABILITY",
    "ACLED_SUB_EVENTS",
    "AcledCoding",
    "acled_coding",
    "acled_uncertainty_m",
    "parse_acled",
]

ACLED_RELIABILITY = "B"
ACLED_CREDIBILITY = 2

NEIGHBOURHOOD_UNCERTAINTY_M = 750.0
TOWN_UNCERTAINTY_M = 3000.0
GEO_PRECISION_UNCERTAINTY_M = {1: 0.0, 2: 5000.0, 3: 20000.0}

REQUIRED_COLUMNS = ("event_date", "event_type", "sub_event_type", "latitude", "longitude")

#: Columns of the standard ACLED export (used to tell identical rows apart from
#: added columns such as a leading index).
STANDARD_COLUMNS = frozenset(
    {
        "event_id_cnty", "event_date", "year", "time_precision", "disorder_type",
        "event_type", "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2",
        "assoc_actor_2", "inter2", "interaction", "civilian_targeting", "iso", "region",
        "country", "admin1", "admin2", "admin3", "location", "latitude", "longitude",
        "geo_precision", "source", "source_scale", "notes", "fatalities", "tags", "timestamp",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AcledCoding:
    """Category and default severity (1..5, before fatalities) of an ACLED event type."""

    category: Category
    severity: int


def _c(category: Category, severity: int) -> AcledCoding:
    return AcledCoding(category, severity)


_BAT, _EXP, _VAC = "battles", "explosions/remote violence", "violence against civilians"
_RIO, _PRO, _STR = "riots", "protests", "strategic developments"

#: ``(event_type, sub_event_type)`` (lower case) -> coding. Mirrors the module docstring
#: and docs/ingest.md (a test keeps the three in step).
ACLED_SUB_EVENTS: dict[tuple[str, str], AcledCoding] = {
    (_BAT, "armed clash"): _c(Category.armed_clash, 4),
    (_BAT, "government regains territory"): _c(Category.armed_clash, 4),
    (_BAT, "non-state actor overtakes territory"): _c(Category.armed_clash, 5),
    (_EXP, "air/drone strike"): _c(Category.explosion, 4),
    (_EXP, "shelling/artillery/missile attack"): _c(Category.explosion, 4),
    (_EXP, "remote explosive/landmine/ied"): _c(Category.explosion, 4),
    (_EXP, "grenade"): _c(Category.explosion, 4),
    (_EXP, "suicide bomb"): _c(Category.explosion, 5),
    (_EXP, "chemical weapon"): _c(Category.explosion, 5),
    (_VAC, "attack"): _c(Category.attack, 4),
    (_VAC, "abduction/forced disappearance"): _c(Category.abduction, 4),
    (_VAC, "sexual violence"): _c(Category.sexual_violence, 4),
    (_RIO, "violent demonstration"): _c(Category.riot, 3),
    (_RIO, "mob violence"): _c(Category.riot, 3),
    (_PRO, "peaceful protest"): _c(Category.protest, 1),
    (_PRO, "protest with intervention"): _c(Category.protest, 2),
    (_PRO, "excessive force against protesters"): _c(Category.protest, 3),
    (_STR, "looting/property destruction"): _c(Category.looting, 2),
    (_STR, "headquarters or base established"): _c(Category.other, 2),
    (_STR, "non-violent transfer of territory"): _c(Category.other, 2),
    (_STR, "disrupted weapons use"): _c(Category.other, 2),
    (_STR, "arrests"): _c(Category.other, 1),
    (_STR, "change to group/activity"): _c(Category.other, 1),
    (_STR, "agreement"): _c(Category.other, 1),
    (_STR, "other"): _c(Category.other, 1),
}

#: Event type (lower case) -> coding when the sub-event type is missing or unknown.
ACLED_EVENT_TYPES: dict[str, AcledCoding] = {
    _BAT: _c(Category.armed_clash, 4),
    _EXP: _c(Category.explosion, 4),
    _VAC: _c(Category.attack, 4),
    _RIO: _c(Category.riot, 3),
    _PRO: _c(Category.protest, 1),
    _STR: _c(Category.other, 1),
}

# Sub-event names are unique across ACLED event types, so a sub-event alone identifies
# its coding (HXL files may carry only one of the two).
_BY_SUB_EVENT: dict[str, AcledCoding] = {sub: c for (_, sub), c in ACLED_SUB_EVENTS.items()}

# Communes of the Port-au-Prince area: a place name that is one of these is commune-level.
_COMMUNES = frozenset(
    {
        "portauprince",
        "delmas",
        "petionville",
        "tabarre",
        "citesoleil",
        "carrefour",
        "kenscoff",
        "gressier",
        "croixdesbouquets",
        "ganthier",
        "cabaret",
        "arcahaie",
        "leogane",
        "thomazeau",
        "cornillon",
        "fondsverrettes",
    }
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_TIME_PRECISION_NOTE = {"2": "date approximate (week)", "3": "date approximate (month)"}


def acled_coding(event_type: str, sub_event_type: str = "") -> AcledCoding | None:
    """Category and default severity of an ACLED event, or ``None`` if unknown.

    Either name may be empty; matching is case-free. See the module table.
    """
    ev = event_type.strip().lower()
    sub = sub_event_type.strip().lower()
    coding = ACLED_SUB_EVENTS.get((ev, sub))
    if coding is not None:
        return coding
    if ev in ACLED_EVENT_TYPES:
        return ACLED_EVENT_TYPES[ev]
    if not ev:
        return _BY_SUB_EVENT.get(sub)
    return None


def _place_key(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _NON_ALNUM.sub("", folded.lower())


def acled_uncertainty_m(location: str, geo_precision: int | None = None) -> float:
    """Location uncertainty radius in metres of an ACLED-coded place.

    Parameters
    ----------
    location
        ACLED ``location``; ``"Commune - Neighbourhood"`` is neighbourhood-level unless
        its second part is itself a commune.
    geo_precision
        ACLED ``geo_precision`` 1..3, or ``None`` when the column is absent.

    Returns
    -------
    float
        The larger of the place-coding and the geo-precision radius, m.
    """
    head, sep, tail = location.rpartition(" - ")
    neighbourhood = bool(sep and head.strip() and _place_key(tail) not in _COMMUNES)
    radius_m = NEIGHBOURHOOD_UNCERTAINTY_M if neighbourhood else TOWN_UNCERTAINTY_M
    if geo_precision is not None:
        radius_m = max(radius_m, GEO_PRECISION_UNCERTAINTY_M[geo_precision])
    return radius_m


def _geo_precision(value: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    try:
        number = int(float(text))
    except ValueError:
        number = 0
    if number not in GEO_PRECISION_UNCERTAINTY_M:
        raise RowValueError(f"geo_precision {text!r} is not 1, 2 or 3")
    return number


def acled_description(
    event_type: str, sub_event_type: str, location: str, fatalities: int, time_precision: str
) -> str:
    """The derived summary stored as description (never ACLED's own notes)."""
    kind = "/".join(p for p in (event_type.strip(), sub_event_type.strip()) if p)
    parts = [f"ACLED {kind}"]
    if location.strip():
        parts.append(location.strip())
    if fatalities:
        parts.append(f"{fatalities} fatalit{'y' if fatalities == 1 else 'ies'}")
    note = _TIME_PRECISION_NOTE.get(time_precision.strip())
    if note:
        parts.append(note)
    return ", ".join(parts)[:2000]


class _Columns:
    """Indexes of the columns an ACLED file offers (``-1``: absent)."""

    def __init__(self, header: list[str]) -> None:
        names = normalise_header(header)
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            shown = ", ".join(n for n in names[:12] if n) or "none"
            raise InputError(
                "not an ACLED CSV export: missing column(s) "
                f"{', '.join(missing)} (found: {shown}{', ...' if len(names) > 12 else ''})"
            )
        self.width = len(names)

        def index(name: str) -> int:
            return names.index(name) if name in names else -1

        self.event_id = index("event_id_cnty")
        self.date = index("event_date")
        self.time_precision = index("time_precision")
        self.event_type = index("event_type")
        self.sub_event_type = index("sub_event_type")
        self.actor1 = index("actor1")
        self.actor2 = index("actor2")
        self.location = index("location")
        self.lat = index("latitude")
        self.lon = index("longitude")
        self.geo_precision = index("geo_precision")
        self.fatalities = index("fatalities")
        self.identity = [i for i, n in enumerate(names) if n in STANDARD_COLUMNS]


def parse_acled(data: bytes) -> ImportBatch:
    """Parse an ACLED CSV export into report drafts.

    Parameters
    ----------
    data
        The file's bytes (UTF-8 with or without BOM, or Latin-1).

    Returns
    -------
    ImportBatch
        Drafts for the good rows (CSV record numbers, header = 1), a reason for each
        rejected row, and the count of in-file duplicates.

    Raises
    ------
    InputError
        Binary or empty file, or a required column is missing.
    """
    text = decode_text(data, what="ACLED")
    records = csv_records(text, what="ACLED")
    header = next(records, None)
    if header is None:
        raise InputError("the ACLED file has no header row")
    cols = _Columns(header[1])
    builder = BatchBuilder()
    for number, fields in _rows(records, cols, builder):
        builder.add(number, fields)
    return builder.batch


def _rows(
    records: Iterator[tuple[int, list[str]]], cols: _Columns, builder: BatchBuilder
) -> Iterator[tuple[int, dict[str, object]]]:
    seen_rows: set[tuple[str, ...]] = set()
    key_counts: dict[str, int] = {}
    for number, cells in records:
        if len(cells) != cols.width:
            builder.reject(
                number,
                f"row has {len(cells)} fields, the header has {cols.width} "
                "(unquoted delimiter or truncated line?)",
            )
            continue
        identity = tuple(cells[i] for i in cols.identity)
        if identity in seen_rows:
            builder.duplicate()
            continue
        seen_rows.add(identity)
        try:
            fields = _row_fields(cells, cols)
        except RowValueError as exc:
            builder.reject(number, str(exc))
            continue
        if cols.event_id < 0:
            # Same day/place/sub-event/actors is a distinct ACLED event, not a repeat:
            # number the repeats so each keeps a stable key of its own.
            key = str(fields["external_id"])
            seen = key_counts.get(key, 0) + 1
            key_counts[key] = seen
            if seen > 1:
                fields["external_id"] = f"{key}#{seen}"
        yield number, fields


def _cell(cells: list[str], index: int) -> str:
    return cells[index] if index >= 0 else ""


def _row_fields(cells: list[str], cols: _Columns) -> dict[str, object]:
    event_type = cells[cols.event_type].strip()
    sub_event_type = cells[cols.sub_event_type].strip()
    coding = acled_coding(event_type, sub_event_type)
    if coding is None:
        raise RowValueError(
            f"unknown ACLED event type {event_type!r} / sub-event type {sub_event_type!r}"
        )
    occurred_at = parse_local_date(cells[cols.date])
    lat = parse_float(cells[cols.lat], "latitude")
    lon = parse_float(cells[cols.lon], "longitude")
    fatalities = parse_count(_cell(cells, cols.fatalities), "fatalities")
    location = _cell(cells, cols.location).strip()
    uncertainty_m = acled_uncertainty_m(location, _geo_precision(_cell(cells, cols.geo_precision)))
    event_id = _cell(cells, cols.event_id).strip()
    if event_id:
        external_id = f"acled:{event_id}"
    elif cols.event_id >= 0:
        raise RowValueError("event_id_cnty is empty")
    else:
        external_id = "acled:" + stable_key(
            occurred_at.date().isoformat(),
            f"{lat:.4f}",
            f"{lon:.4f}",
            sub_event_type.casefold(),
            _cell(cells, cols.actor1).strip().casefold(),
            _cell(cells, cols.actor2).strip().casefold(),
        )
    return {
        "occurred_at": occurred_at,
        "location": {"lon": lon, "lat": lat},
        "uncertainty_m": uncertainty_m,
        "category": coding.category,
        "severity": bump_severity(coding.severity, fatalities),
        "fatalities": fatalities,
        "source": "ACLED",
        "source_reliability": ACLED_RELIABILITY,
        "credibility": ACLED_CREDIBILITY,
        "description": acled_description(
            event_type,
            sub_event_type,
            location,
            fatalities,
            _cell(cells, cols.time_precision),
        ),
        "external_id": external_id,
    }
