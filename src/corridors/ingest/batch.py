"""What every importer returns, and the plumbing they share.

An import never fails as a whole because of a bad row: good rows become
:class:`ParsedRow` s, bad ones :class:`RowError` s with a reason, repeats of a row already
seen in the same file are counted in ``duplicates_in_file``. Only a file that cannot be
read at all (binary, not CSV/JSON, required columns missing) raises
:class:`~corridors.errors.InputError`.

Row numbers are what a person sees in a spreadsheet: CSV record numbers counted from 1,
the header being row 1 (a quoted field spanning several lines is still one row).
GeoJSON rows are feature indexes, counted from 0 as in ``features[0]``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from corridors.errors import InputError
from corridors.ingest.draft import ReportDraft

__all__ = [
    "LOCAL_TZ",
    "ImportBatch",
    "ParsedRow",
    "RowError",
]

#: Time zone of dates given without a time, and of times given without a zone, in CSV
#: files (ACLED, HXL): the service's city, Port-au-Prince (UTC-5, UTC-4 in summer).
LOCAL_TZ = ZoneInfo("America/Port-au-Prince")
#: Local time of day given to a date-only event: the middle of the day, so the timing
#: error is at most 12 h either way.
DATE_ONLY_LOCAL_TIME = time(12, 0)

_BINARY_SNIFF_BYTES = 8192
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (or an .xlsx workbook); export or unzip it to CSV first",
    b"\x1f\x8b": "gzip-compressed; decompress it first",
    b"%PDF": "a PDF document",
}


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A row that became a valid report draft; ``row`` as defined in the module docs."""

    row: int
    draft: ReportDraft


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row and the reason, one sentence."""

    row: int
    error: str


@dataclass(slots=True)
class ImportBatch:
    """Result of parsing one import file."""

    drafts: list[ParsedRow] = field(default_factory=list)
    rejected: list[RowError] = field(default_factory=list)
    duplicates_in_file: int = 0

    @property
    def rows_read(self) -> int:
        """Data rows seen: parsed + rejected + duplicates."""
        return len(self.drafts) + len(self.rejected) + self.duplicates_in_file


class BatchBuilder:
    """Collects rows into an :class:`ImportBatch`, deduplicating on ``external_id``."""

    def __init__(self) -> None:
        self.batch = ImportBatch()
        self._seen: set[str] = set()

    def add(self, row: int, fields: dict[str, object]) -> None:
        """Validate ``fields`` as a draft; file it as parsed, rejected or duplicate."""
        try:
            draft = ReportDraft.model_validate(fields)
        except ValidationError as exc:
            self.reject(row, format_validation_error(exc))
            return
        key = draft.external_id
        if key is not None:
            if key in self._seen:
                self.batch.duplicates_in_file += 1
                return
            self._seen.add(key)
        self.batch.drafts.append(ParsedRow(row, draft))

    def reject(self, row: int, error: str) -> None:
        """Record a bad row."""
        self.batch.rejected.append(RowError(row, error))

    def duplicate(self) -> None:
        """Count a row that repeats an earlier one."""
        self.batch.duplicates_in_file += 1


class RowValueError(ValueError):
    """A cell that cannot be converted; the message is the row's rejection reason."""


def format_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field and why, e.g. ``severity: Input should be ...``."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def decode_text(data: bytes, *, what: str) -> str:
    """Decode an uploaded file: UTF-8 (with or without BOM), else Latin-1.

    Raises
    ------
    InputError
        The file is empty or binary (NUL bytes, a known archive/document signature).
    """
    if not data.strip():
        raise InputError(f"the {what} file is empty")
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            raise InputError(f"the {what} file is {kind}, not a text file")
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        raise InputError(f"the {what} file is binary (NUL bytes), not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on Windows still writes CP-1252/Latin-1 CSV; Latin-1 decodes any byte.
        return data.decode("latin-1")


def csv_records(text: str, *, what: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(row_number, cells)`` of a CSV text, row 1 being the first record.

    The delimiter (comma, semicolon or tab) is taken from the first line. Blank records
    are skipped but still counted, as a spreadsheet shows them.

    Raises
    ------
    InputError
        The CSV is malformed beyond reading (e.g. an unterminated quote at the end).
    """
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        for number, cells in enumerate(reader, start=1):
            if cells and any(c.strip() for c in cells):
                yield number, cells
    except csv.Error as exc:
        raise InputError(f"the {what} file is not readable CSV: {exc}") from exc


def normalise_header(cells: Sequence[str]) -> list[str]:
    """Header cells stripped and lower-cased."""
    return [c.strip().lower() for c in cells]


_DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y", "%d %b %Y", "%d-%b-%Y", "%Y/%m/%d")


@lru_cache(maxsize=4096)
def parse_local_date(value: str) -> datetime:
    """Parse an event date or date-time of a CSV file to an aware UTC datetime.

    A date alone (``2024-01-18``, ``18 January 2024``) means 12:00 in :data:`LOCAL_TZ`;
    an ISO date-time without zone is taken as local time there; with a zone it is kept.

    Raises
    ------
    RowValueError
        The value is none of these forms.
    """
    text = value.strip()
    if not text:
        raise RowValueError("date is empty")
    for fmt in _DATE_FORMATS:
        try:
            day = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        return _local_noon(day)
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        raise RowValueError(
            f"date {text!r} is not understood (use YYYY-MM-DD or an ISO 8601 date-time)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.astimezone(UTC)


def _local_noon(day: date) -> datetime:
    return datetime.combine(day, DATE_ONLY_LOCAL_TIME, tzinfo=LOCAL_TZ).astimezone(UTC)


def parse_float(value: str, name: str) -> float:
    """A decimal number cell (comma decimal separator accepted)."""
    text = value.strip()
    if not text:
        raise RowValueError(f"{name} is empty")
    try:
        return float(text.replace(",", "."))
    except ValueError:
        raise RowValueError(f"{name} {text!r} is not a number") from None


def parse_count(value: str, name: str) -> int:
    """A non-negative whole-number cell; empty means 0."""
    text = value.strip()
    if not text:
        return 0
    try:
        number = float(text)
    except ValueError:
        raise RowValueError(f"{name} {text!r} is not a whole number") from None
    if not number.is_integer():
        raise RowValueError(f"{name} {text!r} is not a whole number")
    return int(number)


def stable_key(*parts: str) -> str:
    """First 16 hex digits of the SHA-256 of the parts joined by a unit separator."""
    joined = "\x1f".join(parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def bump_severity(base: int, fatalities: int) -> int:
    """Default severity raised by deaths: +1 from 1 death, +2 from 5; at most 5."""
    if fatalities >= 5:
        base += 2
    elif fatalities >= 1:
        base += 1
    return min(base, 5)
