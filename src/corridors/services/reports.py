"""Incident-report use cases shared by the HTTP API and the command line.

Create (with idempotency), read, list, verify/retract and bulk import. Every write
appends an audit row in the same transaction. Callers that hold a
:class:`~corridors.services.runtime.Runtime` call ``runtime.reports_changed()`` after a
write returns (the write is committed by then).

Reports are returned as JSON-ready *documents* (dicts, times as ISO 8601 UTC strings):
the same shape is stored as the first response of an ``Idempotency-Key`` and served by
the API, minus :data:`RESTRICTED_FIELDS` for callers below analyst.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from corridors.domain import Incident, ReportStatus, Role
from corridors.errors import ConflictError, InputError
from corridors.ingest import ReportDraft, RowError, check_report_context, parse_import
from corridors.services.keys import Principal
from corridors.store import (
    AuditRepository,
    Database,
    IdempotencyRepository,
    IdempotencyRow,
    Page,
    ReportFilter,
    ReportRepository,
    ReportRow,
)

__all__ = [
    "RESTRICTED_FIELDS",
    "CreateResult",
    "ImportFormat",
    "ImportSummary",
    "ProgressCallback",
    "create_report",
    "get_report",
    "import_reports",
    "incidents_for_risk",
    "list_reports",
    "redact",
    "report_document",
    "set_report_status",
]

#: Fields shown only to analysts and above: who reported, free text, notes, feed ids.
RESTRICTED_FIELDS = frozenset({"source", "description", "created_by", "status_note", "external_id"})

ImportFormat = Literal["acled", "hxl", "geojson"]
#: ``progress(done, total)`` during an import's insert phase, in rows.
ProgressCallback = Callable[[int, int], None]
AreaContains = Callable[[float, float], bool]

#: Rows inserted per statement during imports.
IMPORT_CHUNK_ROWS = 500


@dataclass(frozen=True, slots=True)
class CreateResult:
    """A created (or replayed) report: its document and whether it was new (201/200)."""

    document: dict[str, Any]
    created: bool


@dataclass(slots=True)
class ImportSummary:
    """Outcome of one import: rows stored, rows skipped as already known, rows refused."""

    imported: int = 0
    duplicates: int = 0
    rejected: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The contract's ``{imported, duplicates, rejected: [{row, error}]}``."""
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": [{"row": r.row, "error": r.error} for r in self.rejected],
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def report_document(row: ReportRow) -> dict[str, Any]:
    """The full JSON-ready document of a stored report (times ISO 8601 UTC, ``Z``)."""
    return {
        "id": row.id,
        "external_id": row.external_id,
        "occurred_at": _iso(row.occurred_at),
        "location": {"lon": row.lon, "lat": row.lat},
        "uncertainty_m": row.uncertainty_m,
        "category": row.category,
        "severity": row.severity,
        "fatalities": row.fatalities,
        "source": row.source,
        "source_reliability": row.source_reliability,
        "credibility": row.credibility,
        "description": row.description,
        "expires_at": _iso(row.expires_at),
        "status": row.status,
        "status_note": row.status_note,
        "created_at": _iso(row.created_at),
        "created_by": row.created_by,
        "updated_at": _iso(row.updated_at),
    }


def redact(document: dict[str, Any], role: Role) -> dict[str, Any]:
    """Drop :data:`RESTRICTED_FIELDS` unless ``role`` is analyst or above."""
    if role.includes(Role.analyst):
        return document
    return {k: v for k, v in document.items() if k not in RESTRICTED_FIELDS}


def _row_values(draft: ReportDraft, *, report_id: str, actor: str, at: datetime) -> dict[str, Any]:
    return {
        "id": report_id,
        "external_id": draft.external_id,
        "occurred_at": draft.occurred_at,
        "lon": draft.location.lon,
        "lat": draft.location.lat,
        "uncertainty_m": draft.uncertainty_m,
        "category": draft.category.value,
        "severity": draft.severity,
        "fatalities": draft.fatalities,
        "source": draft.source,
        "source_reliability": draft.source_reliability,
        "credibility": draft.credibility,
        "description": draft.description,
        "expires_at": draft.expires_at,
        "status": ReportStatus.active.value,
        "status_note": None,
        "created_at": at,
        "created_by": actor,
        "updated_at": at,
    }


def _request_hash(draft: ReportDraft) -> str:
    canonical = json.dumps(draft.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _replay(row: IdempotencyRow, request_hash: str) -> CreateResult:
    if row.request_hash != request_hash:
        raise ConflictError(
            "this Idempotency-Key was already used with a different request body; "
            "use a new key for a new report"
        )
    document: dict[str, Any] = json.loads(row.response_body)
    return CreateResult(document=document, created=False)


def create_report(
    db: Database,
    draft: ReportDraft,
    *,
    actor: Principal,
    at: datetime,
    area_contains: AreaContains,
    idempotency_key: str | None = None,
) -> CreateResult:
    """Validate and store one report, at most once per ``idempotency_key``.

    The idempotency record, the report and the audit row are written in one transaction;
    the unique (key, Idempotency-Key) constraint lets exactly one of several concurrent
    retries commit, and the others return its result.

    Parameters
    ----------
    db
        The database.
    draft
        The validated body.
    actor
        The authenticated caller (its name becomes ``created_by``).
    at
        Now (aware): ``created_at`` and the reference of the 5-minute future check.
    area_contains
        ``area_contains(lon, lat)`` for the service area.
    idempotency_key
        The ``Idempotency-Key`` header, if any (1..200 characters).

    Returns
    -------
    CreateResult
        ``created`` is false when an earlier identical request is replayed.

    Raises
    ------
    InputError
        Outside the service area, too far in the future, or a malformed idempotency key.
    ConflictError
        The idempotency key was used with another body, or ``external_id`` is taken.
    """
    request_hash = _request_hash(draft)
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()
        if not 1 <= len(idempotency_key) <= 200:
            raise InputError("Idempotency-Key must be 1 to 200 characters")
        with db.session() as s:
            earlier = IdempotencyRepository(s).get(actor.id, idempotency_key)
            if earlier is not None:
                return _replay(earlier, request_hash)
    check_report_context(draft, now=at, area_contains=area_contains)
    report_id = str(uuid.uuid4())
    try:
        with db.session() as s:
            if idempotency_key is not None:
                # Claim the key first: a concurrent twin blocks or fails right here.
                placeholder = IdempotencyRow(
                    api_key_id=actor.id,
                    key=idempotency_key,
                    request_hash=request_hash,
                    status_code=201,
                    response_body="{}",
                    created_at=at,
                )
                IdempotencyRepository(s).add(placeholder)
            row = ReportRepository(s).add(
                ReportRow(**_row_values(draft, report_id=report_id, actor=actor.name, at=at))
            )
            document = report_document(row)
            if idempotency_key is not None:
                placeholder.response_body = json.dumps(document)
            AuditRepository(s).append(
                at=at,
                key_name=actor.name,
                action="report.create",
                object_type="report",
                object_id=report_id,
                detail={"category": row.category, "idempotency_key": idempotency_key},
            )
    except IntegrityError:
        if idempotency_key is not None:
            with db.session() as s:
                earlier = IdempotencyRepository(s).get(actor.id, idempotency_key)
                if earlier is not None:
                    return _replay(earlier, request_hash)
        raise ConflictError(
            f"a report with external_id {draft.external_id!r} already exists"
        ) from None
    return CreateResult(document=document, created=True)


def get_report(db: Database, report_id: str) -> dict[str, Any]:
    """The document of one report.

    Raises
    ------
    NotFoundError
        No such report.
    """
    with db.session() as s:
        return report_document(ReportRepository(s).require(report_id))


def list_reports(
    db: Database, filters: ReportFilter, *, cursor: str | None = None, limit: int = 100
) -> Page[dict[str, Any]]:
    """One page of report documents, newest ``occurred_at`` first.

    Raises
    ------
    InputError
        A cursor this service did not issue.
    """
    with db.session() as s:
        page = ReportRepository(s).list(filters, cursor=cursor, limit=limit)
        return Page([report_document(r) for r in page.items], page.next_cursor)


def set_report_status(
    db: Database,
    report_id: str,
    status: ReportStatus | str,
    *,
    note: str | None,
    actor: Principal,
    at: datetime,
) -> dict[str, Any]:
    """Verify or retract a report. Retraction is final.

    Raises
    ------
    InputError
        ``status`` is not verified or retracted.
    NotFoundError
        No such report.
    ConflictError
        The report is retracted already.
    """
    try:
        new = ReportStatus(status)
    except ValueError:
        new = ReportStatus.active  # refused just below
    if new not in (ReportStatus.verified, ReportStatus.retracted):
        raise InputError("status: must be 'verified' or 'retracted'")
    with db.session() as s:
        reports = ReportRepository(s)
        row = reports.require(report_id)
        old = row.status
        if old == ReportStatus.retracted.value:
            raise ConflictError(f"report {report_id} is retracted; a retraction is final")
        row = reports.set_status(report_id, new, note, at=at)
        AuditRepository(s).append(
            at=at,
            key_name=actor.name,
            action=f"report.{'verify' if new is ReportStatus.verified else 'retract'}",
            object_type="report",
            object_id=report_id,
            detail={"from": old, "to": new.value, "note": note},
        )
        return report_document(row)


def import_reports(
    db: Database,
    data: bytes,
    fmt: ImportFormat | str,
    *,
    actor: str,
    at: datetime,
    area_contains: AreaContains,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Parse an import file and store its new, valid reports.

    Bad rows (unparsable, out of range, outside the service area, in the future) are
    listed with their reason; rows whose ``external_id`` is already stored, or repeated in
    the file, count as duplicates. Inserts are batched (:data:`IMPORT_CHUNK_ROWS` rows per
    statement) in one transaction, with one audit row for the whole import.

    Parameters
    ----------
    db
        The database.
    data
        The raw file.
    fmt
        ``acled``, ``hxl`` or ``geojson``.
    actor
        Key name recorded as ``created_by`` and in the audit log.
    at
        Now (aware).
    area_contains
        ``area_contains(lon, lat)`` for the service area.
    progress
        Called as ``progress(done, total)`` while rows are inserted.

    Raises
    ------
    InputError
        Unknown format, or a file that cannot be read at all.
    ConflictError
        Another import stored the same reports at the same moment twice in a row.
    """
    if fmt not in ("acled", "hxl", "geojson"):
        raise InputError(f"format {fmt!r}: use acled, hxl or geojson")
    batch = parse_import(data, fmt)
    summary = ImportSummary(duplicates=batch.duplicates_in_file, rejected=list(batch.rejected))
    valid: list[ReportDraft] = []
    for parsed in batch.drafts:
        try:
            check_report_context(parsed.draft, now=at, area_contains=area_contains)
        except InputError as exc:
            summary.rejected.append(RowError(parsed.row, exc.detail))
            continue
        valid.append(parsed.draft)
    summary.rejected.sort(key=lambda r: r.row)
    for attempt in range(2):
        try:
            imported, known = _insert_new(
                db, valid, fmt=str(fmt), summary=summary, actor=actor, at=at, progress=progress
            )
        except IntegrityError:
            # A concurrent import stored some of the same external ids: look again.
            if attempt == 1:
                raise ConflictError(
                    "another import of the same reports is running; retry shortly"
                ) from None
            continue
        summary.imported = imported
        summary.duplicates += known
        break
    return summary


def _insert_new(
    db: Database,
    drafts: list[ReportDraft],
    *,
    fmt: str,
    summary: ImportSummary,
    actor: str,
    at: datetime,
    progress: ProgressCallback | None,
) -> tuple[int, int]:
    with db.session() as s:
        reports = ReportRepository(s)
        known = reports.existing_external_ids(d.external_id for d in drafts if d.external_id)
        rows = [
            _row_values(d, report_id=str(uuid.uuid4()), actor=actor, at=at)
            for d in drafts
            if d.external_id is None or d.external_id not in known
        ]
        duplicates = len(drafts) - len(rows)
        if progress is not None:
            progress(0, len(rows))
        for start in range(0, len(rows), IMPORT_CHUNK_ROWS):
            chunk = rows[start : start + IMPORT_CHUNK_ROWS]
            reports.add_many(chunk)
            if progress is not None:
                progress(start + len(chunk), len(rows))
        AuditRepository(s).append(
            at=at,
            key_name=actor,
            action="report.import",
            object_type="report_import",
            object_id=None,
            detail={
                "format": fmt,
                "imported": len(rows),
                "duplicates": summary.duplicates + duplicates,
                "rejected": len(summary.rejected),
            },
        )
        return len(rows), duplicates


def incidents_for_risk(db: Database, at: datetime) -> list[Incident]:
    """Every non-retracted report that had occurred by ``at``, for the risk model."""
    with db.session() as s:
        return ReportRepository(s).active_incidents(at)
