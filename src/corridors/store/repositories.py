"""Repositories: typed queries over one :class:`~sqlalchemy.orm.Session`.

Each repository wraps the session of the caller's transaction
(``with db.session() as s: ReportRepository(s).add(...)``), so a write and its audit row
commit or roll back together. Repositories never commit.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import shapely
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from corridors.domain import Category, Incident, ReportStatus, Zone, ZoneKind
from corridors.errors import InputError, NotFoundError
from corridors.store.changes import ChangeHorizon, change_horizon
from corridors.store.cursor import decode_cursor, encode_cursor
from corridors.store.models import ApiKeyRow, AuditRow, IdempotencyRow, ReportRow, ZoneRow

__all__ = [
    "AuditRepository",
    "IdempotencyRepository",
    "KeyCredentials",
    "KeyReader",
    "KeyRepository",
    "Page",
    "ReportFilter",
    "ReportRepository",
    "ZoneRepository",
]

#: Rows per INSERT statement / IN list in bulk operations (well under SQLite's
#: 32,766 bound-parameter limit at ~19 columns per row).
CHUNK_ROWS = 500

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results and the cursor of the next one (``None`` at the end)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ReportFilter:
    """Filters of the report list; every given filter must match.

    ``bbox`` is ``(min_lon, min_lat, max_lon, max_lat)`` in degrees; ``since``/``until``
    bound ``occurred_at`` (inclusive/exclusive); empty tuples mean any category/status.
    """

    bbox: tuple[float, float, float, float] | None = None
    since: datetime | None = None
    until: datetime | None = None
    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()


def _iso(value: datetime) -> str:
    return value.isoformat()


class ReportRepository:
    """Incident reports. Never deleted: status moves active -> verified -> retracted."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ReportRow) -> ReportRow:
        """Stage one report for insertion (flushed at commit, or now with ``flush``)."""
        self.session.add(row)
        self.session.flush()
        return row

    def add_many(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert many reports given as column dicts, in chunks (executemany).

        Returns
        -------
        int
            Rows inserted.
        """
        for start in range(0, len(rows), CHUNK_ROWS):
            self.session.execute(insert(ReportRow), list(rows[start : start + CHUNK_ROWS]))
        return len(rows)

    def get(self, report_id: str) -> ReportRow | None:
        """The report with this id, or ``None``."""
        return self.session.get(ReportRow, report_id)

    def require(self, report_id: str) -> ReportRow:
        """The report with this id.

        Raises
        ------
        NotFoundError
            No such report.
        """
        row = self.get(report_id)
        if row is None:
            raise NotFoundError(f"report {report_id} not found")
        return row

    def existing_external_ids(self, external_ids: Iterable[str]) -> set[str]:
        """The subset of ``external_ids`` already stored."""
        wanted = list(dict.fromkeys(external_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), CHUNK_ROWS):
            chunk = wanted[start : start + CHUNK_ROWS]
            found.update(
                x
                for x in self.session.scalars(
                    select(ReportRow.external_id).where(ReportRow.external_id.in_(chunk))
                )
                if x is not None
            )
        return found

    def list(
        self, filters: ReportFilter, *, cursor: str | None = None, limit: int = 100
    ) -> Page[ReportRow]:
        """Reports matching ``filters``, newest ``occurred_at`` first (ties by id).

        Parameters
        ----------
        filters
            What to match.
        cursor
            ``next_cursor`` of the previous page, or ``None`` for the first page.
        limit
            Page size (>= 1).

        Raises
        ------
        InputError
            A cursor this service did not issue.
        """
        stmt = select(ReportRow)
        if filters.bbox is not None:
            min_lon, min_lat, max_lon, max_lat = filters.bbox
            stmt = stmt.where(
                ReportRow.lon >= min_lon,
                ReportRow.lon <= max_lon,
                ReportRow.lat >= min_lat,
                ReportRow.lat <= max_lat,
            )
        if filters.since is not None:
            stmt = stmt.where(ReportRow.occurred_at >= filters.since)
        if filters.until is not None:
            stmt = stmt.where(ReportRow.occurred_at < filters.until)
        if filters.categories:
            stmt = stmt.where(ReportRow.category.in_(filters.categories))
        if filters.statuses:
            stmt = stmt.where(ReportRow.status.in_(filters.statuses))
        if cursor:
            pos = decode_cursor(cursor, keys=("o", "i"))
            try:
                after = datetime.fromisoformat(str(pos["o"]))
            except ValueError as exc:
                raise InputError("cursor: not a cursor issued by this service") from exc
            last_id = str(pos["i"])
            stmt = stmt.where(
                or_(
                    ReportRow.occurred_at < after,
                    and_(ReportRow.occurred_at == after, ReportRow.id < last_id),
                )
            )
        stmt = stmt.order_by(ReportRow.occurred_at.desc(), ReportRow.id.desc()).limit(limit + 1)
        rows = list(self.session.scalars(stmt))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor({"o": _iso(last.occurred_at), "i": last.id})
        return Page(rows, next_cursor)

    def set_status(
        self, report_id: str, status: ReportStatus, note: str | None, *, at: datetime
    ) -> ReportRow:
        """Change a report's status and note.

        Raises
        ------
        NotFoundError
            No such report.
        """
        row = self.require(report_id)
        row.status = status.value
        row.status_note = note
        row.updated_at = at
        self.session.flush()
        return row

    def count(self) -> int:
        """Number of stored reports (all statuses)."""
        return int(self.session.scalar(select(func.count()).select_from(ReportRow)) or 0)

    def active_incidents(self, at: datetime | None) -> builtins.list[Incident]:
        """Every non-retracted report that had occurred by ``at`` (None: any date)."""
        stmt = select(*_INCIDENT_COLUMNS).where(ReportRow.status != ReportStatus.retracted.value)
        if at is not None:
            stmt = stmt.where(ReportRow.occurred_at <= at)
        stmt = stmt.order_by(ReportRow.occurred_at, ReportRow.id)
        return [_incident(r) for r in self.session.execute(stmt)]

    def change_horizon(self) -> ChangeHorizon:
        """Where the next :meth:`changed_since` starts (see :mod:`corridors.store.changes`)."""
        return change_horizon(self.session, ReportRow.change_seq)

    def changed_since(self, horizon: ChangeHorizon) -> builtins.list[Incident]:
        """Reports inserted or updated since ``horizon`` was taken, retracted ones included.

        May also return a report committed between the horizon and the read it was taken
        for (never misses one); ordered by id.
        """
        unseen = horizon.unseen(ReportRow.change_seq)
        stmt = select(*_INCIDENT_COLUMNS).where(unseen).order_by(ReportRow.id)
        return [_incident(r) for r in self.session.execute(stmt)]


_INCIDENT_COLUMNS = (
    ReportRow.id,
    ReportRow.occurred_at,
    ReportRow.lon,
    ReportRow.lat,
    ReportRow.category,
    ReportRow.severity,
    ReportRow.uncertainty_m,
    ReportRow.fatalities,
    ReportRow.source_reliability,
    ReportRow.credibility,
    ReportRow.expires_at,
    ReportRow.status,
)


def _incident(r: Any) -> Incident:
    """The domain incident of a row of :data:`_INCIDENT_COLUMNS`."""
    return Incident(
        id=r.id,
        occurred_at=r.occurred_at,
        lon=r.lon,
        lat=r.lat,
        category=Category(r.category),
        severity=r.severity,
        uncertainty_m=r.uncertainty_m,
        fatalities=r.fatalities,
        source_reliability=r.source_reliability,
        credibility=r.credibility,
        expires_at=r.expires_at,
        status=ReportStatus(r.status),
    )


def zone_to_domain(row: ZoneRow) -> Zone:
    """The domain :class:`~corridors.domain.Zone` of a stored zone."""
    return Zone(
        id=row.id,
        name=row.name,
        kind=ZoneKind(row.kind),
        geometry=shapely.from_geojson(row.geometry),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        multiplier=row.multiplier,
    )


class ZoneRepository:
    """No-go and caution zones. Ending a zone keeps the row (history stays replayable)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ZoneRow) -> ZoneRow:
        """Insert a zone."""
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, zone_id: str) -> ZoneRow | None:
        """The zone with this id, or ``None``."""
        return self.session.get(ZoneRow, zone_id)

    def require(self, zone_id: str) -> ZoneRow:
        """The zone with this id.

        Raises
        ------
        NotFoundError
            No such zone.
        """
        row = self.get(zone_id)
        if row is None:
            raise NotFoundError(f"zone {zone_id} not found")
        return row

    def _in_force(self, at: datetime) -> Any:
        return and_(
            or_(ZoneRow.valid_from.is_(None), ZoneRow.valid_from <= at),
            or_(ZoneRow.valid_until.is_(None), ZoneRow.valid_until > at),
        )

    def list(self, *, at: datetime, include_ended: bool = False) -> list[ZoneRow]:
        """Zones in force at ``at`` or starting later (all zones with ``include_ended``).

        Ordered by creation time, oldest first.
        """
        stmt = select(ZoneRow)
        if not include_ended:
            stmt = stmt.where(
                ZoneRow.ended_at.is_(None),
                or_(ZoneRow.valid_until.is_(None), ZoneRow.valid_until > at),
            )
        return list(self.session.scalars(stmt.order_by(ZoneRow.created_at, ZoneRow.id)))

    def active(self, at: datetime) -> builtins.list[ZoneRow]:
        """Zones in force at ``at`` (``valid_from <= at < valid_until``)."""
        stmt = select(ZoneRow).where(self._in_force(at)).order_by(ZoneRow.created_at, ZoneRow.id)
        return list(self.session.scalars(stmt))

    def end(self, zone_id: str, *, at: datetime) -> ZoneRow:
        """End a zone at ``at``: ``ended_at = at`` and ``valid_until`` no later than ``at``.

        Raises
        ------
        NotFoundError
            No such zone.
        """
        row = self.require(zone_id)
        row.ended_at = at
        if row.valid_until is None or row.valid_until > at:
            row.valid_until = at
        self.session.flush()
        return row

    def change_horizon(self) -> ChangeHorizon:
        """Where the next :meth:`changed_since` starts (see :mod:`corridors.store.changes`)."""
        return change_horizon(self.session, ZoneRow.change_seq)

    def changed_since(self, horizon: ChangeHorizon) -> builtins.list[ZoneRow]:
        """Zones created or changed (ended) since ``horizon`` was taken.

        May also return a zone committed between the horizon and the read it was taken for
        (never misses one); ordered by id.
        """
        stmt = select(ZoneRow).where(horizon.unseen(ZoneRow.change_seq)).order_by(ZoneRow.id)
        return list(self.session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class KeyCredentials:
    """What checking a presented key needs of its row."""

    id: str
    name: str
    role: str
    key_hash: str
    revoked_at: datetime | None
    last_used_at: datetime | None


#: The statement of :meth:`KeyReader.by_prefix`, built once: a statement built per call
#: costs more than the query (construction, then matching its columns to the cached one).
_KEYS_BY_PREFIX = select(
    ApiKeyRow.id,
    ApiKeyRow.name,
    ApiKeyRow.role,
    ApiKeyRow.key_hash,
    ApiKeyRow.revoked_at,
    ApiKeyRow.last_used_at,
).where(ApiKeyRow.key_prefix == bindparam("prefix"))


class KeyReader:
    """The key lookup of every request, on a plain connection (:meth:`Database.reading`)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def by_prefix(self, prefix: str) -> builtins.list[KeyCredentials]:
        """Keys whose public prefix is ``prefix`` (normally one)."""
        rows = self.connection.execute(_KEYS_BY_PREFIX, {"prefix": prefix})
        return [KeyCredentials(*row) for row in rows]


class KeyRepository:
    """API keys (hashes only)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ApiKeyRow) -> ApiKeyRow:
        """Insert a key."""
        self.session.add(row)
        self.session.flush()
        return row

    def by_name_or_id(self, name_or_id: str) -> ApiKeyRow | None:
        """The key with this name or id, or ``None``."""
        return self.session.scalars(
            select(ApiKeyRow).where(or_(ApiKeyRow.name == name_or_id, ApiKeyRow.id == name_or_id))
        ).first()

    def name_taken(self, name: str) -> bool:
        """True when a key (revoked or not) already has this name."""
        return self.session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.name == name)) is not None

    def list(self) -> list[ApiKeyRow]:
        """All keys, oldest first."""
        return list(self.session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))

    def touch(self, key_id: str, *, at: datetime) -> None:
        """Record a use of the key."""
        self.session.execute(
            update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=at)
        )


class AuditRepository:
    """Append-only log of writes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self,
        *,
        at: datetime,
        key_name: str,
        action: str,
        object_type: str,
        object_id: str | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Add one entry to the log (in the caller's transaction)."""
        self.session.add(
            AuditRow(
                at=at,
                key_name=key_name,
                action=action,
                object_type=object_type,
                object_id=object_id,
                detail=detail,
            )
        )

    def list(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        action: str | None = None,
        key_name: str | None = None,
        since: datetime | None = None,
    ) -> Page[AuditRow]:
        """Entries, newest first.

        Raises
        ------
        InputError
            A cursor this service did not issue.
        """
        stmt = select(AuditRow)
        if action:
            stmt = stmt.where(AuditRow.action == action)
        if key_name:
            stmt = stmt.where(AuditRow.key_name == key_name)
        if since is not None:
            stmt = stmt.where(AuditRow.at >= since)
        if cursor:
            pos = decode_cursor(cursor, keys=("a",))
            try:
                before = int(pos["a"])
            except (TypeError, ValueError) as exc:
                raise InputError("cursor: not a cursor issued by this service") from exc
            stmt = stmt.where(AuditRow.id < before)
        rows = list(self.session.scalars(stmt.order_by(AuditRow.id.desc()).limit(limit + 1)))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor({"a": rows[-1].id})
        return Page(rows, next_cursor)


class IdempotencyRepository:
    """First responses to ``Idempotency-Key`` headers, unique per (API key, key)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, api_key_id: str, key: str) -> IdempotencyRow | None:
        """The stored response for this key, or ``None``."""
        return self.session.scalars(
            select(IdempotencyRow).where(
                IdempotencyRow.api_key_id == api_key_id, IdempotencyRow.key == key
            )
        ).first()

    def add(self, row: IdempotencyRow) -> IdempotencyRow:
        """Insert a record; a concurrent duplicate raises ``IntegrityError`` at flush."""
        self.session.add(row)
        self.session.flush()
        return row


# --- Corridors, events and webhooks -----------------------------------------------------

from corridors.store.models import (  # noqa: E402
    CorridorRow,
    CorridorStatusRow,
    EventRow,
    WebhookDeliveryRow,
    WebhookRow,
)

__all__ += [
    "CorridorRepository",
    "EventRepository",
    "WebhookDeliveryRepository",
    "WebhookRepository",
]

#: PostgreSQL advisory lock held by every transaction that inserts an event, so event ids
#: commit in increasing order and a reader that has seen id N has seen every id below N.
EVENTS_LOCK = 0x636F7265  # "core"


class CorridorRepository:
    """Named corridors and their status history."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: CorridorRow) -> CorridorRow:
        """Insert a corridor."""
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, corridor_id: str) -> CorridorRow | None:
        """The corridor with this id (archived or not), or ``None``."""
        return self.session.get(CorridorRow, corridor_id)

    def require(self, corridor_id: str) -> CorridorRow:
        """The live (not archived) corridor with this id.

        Raises
        ------
        NotFoundError
            No such corridor, or it is archived.
        """
        row = self.get(corridor_id)
        if row is None or row.archived_at is not None:
            raise NotFoundError(f"corridor {corridor_id} not found")
        return row

    def live(self) -> builtins.list[CorridorRow]:
        """Every corridor not archived, oldest first."""
        stmt = (
            select(CorridorRow)
            .where(CorridorRow.archived_at.is_(None))
            .order_by(CorridorRow.created_at, CorridorRow.id)
        )
        return list(self.session.scalars(stmt))

    def history(
        self, corridor_ids: Sequence[str], *, limit: int = 50
    ) -> dict[str, builtins.list[CorridorStatusRow]]:
        """The latest ``limit`` status changes of each corridor, newest first."""
        found: dict[str, builtins.list[CorridorStatusRow]] = {c: [] for c in corridor_ids}
        if not corridor_ids:
            return found
        stmt = (
            select(CorridorStatusRow)
            .where(CorridorStatusRow.corridor_id.in_(list(corridor_ids)))
            .order_by(CorridorStatusRow.corridor_id, CorridorStatusRow.id.desc())
        )
        for row in self.session.scalars(stmt):
            rows = found[row.corridor_id]
            if len(rows) < limit:
                rows.append(row)
        return found

    def change_status(
        self,
        corridor_id: str,
        *,
        expected: str,
        status: str,
        reason: str,
        at: datetime,
    ) -> bool:
        """Move a corridor from ``expected`` to ``status`` and append a history row.

        Compare-and-set: nothing happens (returns False) when the corridor is archived, its
        status is no longer ``expected`` or it changed after ``at`` (another process with a
        fresher risk picture got there first).
        """
        result = self.session.execute(
            update(CorridorRow)
            .where(
                CorridorRow.id == corridor_id,
                CorridorRow.status == expected,
                CorridorRow.archived_at.is_(None),
                CorridorRow.status_changed_at <= at,
            )
            .values(status=status, status_reason=reason, status_changed_at=at)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        self.add_history(corridor_id, previous=expected, status=status, reason=reason, at=at)
        return True

    def set_reason(self, corridor_id: str, *, status: str, reason: str) -> None:
        """Update the reason of an unchanged status (no history row: nothing changed state)."""
        self.session.execute(
            update(CorridorRow)
            .where(CorridorRow.id == corridor_id, CorridorRow.status == status)
            .values(status_reason=reason)
            .execution_options(synchronize_session=False)
        )

    def add_history(
        self, corridor_id: str, *, previous: str | None, status: str, reason: str, at: datetime
    ) -> None:
        """Append one status-history row."""
        self.session.add(
            CorridorStatusRow(
                corridor_id=corridor_id,
                previous_status=previous,
                status=status,
                reason=reason,
                at=at,
            )
        )
        self.session.flush()


class EventRepository:
    """The append-only event log behind ``GET /v1/events`` and webhook deliveries."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self) -> None:
        """Take :data:`EVENTS_LOCK` until the transaction ends (PostgreSQL; no-op on SQLite).

        Transactions that insert an event take it before any other lock, so they never
        deadlock on it.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(select(func.pg_advisory_xact_lock(EVENTS_LOCK)))

    def append(self, type_: str, payload: dict[str, Any], *, at: datetime) -> EventRow:
        """Insert an event, holding :data:`EVENTS_LOCK` (ids commit in order)."""
        self.lock()
        row = EventRow(type=type_, payload=payload, created_at=at)
        self.session.add(row)
        self.session.flush()
        return row

    def after(
        self, last_id: int, *, limit: int = 500, types: Sequence[str] = ()
    ) -> builtins.list[EventRow]:
        """Events with ``id > last_id``, oldest first (at most ``limit``)."""
        stmt = select(EventRow).where(EventRow.id > last_id)
        if types:
            stmt = stmt.where(EventRow.type.in_(list(types)))
        return list(self.session.scalars(stmt.order_by(EventRow.id).limit(limit)))

    def last_id(self) -> int:
        """The highest event id, 0 when there is none."""
        return int(self.session.scalar(select(func.max(EventRow.id))) or 0)

    def get(self, event_id: int) -> EventRow | None:
        """The event with this id, or ``None``."""
        return self.session.get(EventRow, event_id)


class WebhookRepository:
    """Webhook subscriptions. Deleting one keeps the row (its deliveries stay listed)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: WebhookRow) -> WebhookRow:
        """Insert a webhook."""
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, webhook_id: str) -> WebhookRow | None:
        """The webhook with this id (deleted or not), or ``None``."""
        return self.session.get(WebhookRow, webhook_id)

    def active(self) -> builtins.list[WebhookRow]:
        """Webhooks not deleted, oldest first."""
        stmt = (
            select(WebhookRow)
            .where(WebhookRow.deleted_at.is_(None))
            .order_by(WebhookRow.created_at, WebhookRow.id)
        )
        return list(self.session.scalars(stmt))


class WebhookDeliveryRepository:
    """The delivery outbox."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: WebhookDeliveryRow) -> None:
        """Stage one delivery."""
        self.session.add(row)

    def claim_due(
        self, *, at: datetime, lease_until: datetime, limit: int
    ) -> builtins.list[WebhookDeliveryRow]:
        """Take up to ``limit`` pending deliveries due by ``at`` and lease them.

        The lease moves ``next_attempt_at`` to ``lease_until``, so if this process dies
        mid-delivery the row becomes due again then (at-least-once). On PostgreSQL the
        rows are picked with ``FOR UPDATE SKIP LOCKED``: concurrent dispatchers in other
        processes take other rows instead of waiting.
        """
        stmt = (
            select(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.status == "pending",
                WebhookDeliveryRow.next_attempt_at <= at,
            )
            .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(self.session.scalars(stmt))
        for row in rows:
            row.next_attempt_at = lease_until
        self.session.flush()
        return rows

    def get(self, delivery_id: str) -> WebhookDeliveryRow | None:
        """The delivery with this id, or ``None``."""
        return self.session.get(WebhookDeliveryRow, delivery_id)

    def cancel_pending(self, webhook_id: str) -> int:
        """Cancel a webhook's pending deliveries; returns how many."""
        result = self.session.execute(
            update(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.webhook_id == webhook_id,
                WebhookDeliveryRow.status == "pending",
            )
            .values(status="cancelled", next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def list(
        self,
        webhook_id: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        status: str | None = None,
    ) -> Page[WebhookDeliveryRow]:
        """A webhook's deliveries, newest first.

        Raises
        ------
        InputError
            A cursor this service did not issue.
        """
        stmt = select(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == webhook_id)
        if status:
            stmt = stmt.where(WebhookDeliveryRow.status == status)
        if cursor:
            pos = decode_cursor(cursor, keys=("c", "i"))
            try:
                after = datetime.fromisoformat(str(pos["c"]))
            except ValueError as exc:
                raise InputError("cursor: not a cursor issued by this service") from exc
            last_id = str(pos["i"])
            stmt = stmt.where(
                or_(
                    WebhookDeliveryRow.created_at < after,
                    and_(WebhookDeliveryRow.created_at == after, WebhookDeliveryRow.id < last_id),
                )
            )
        stmt = stmt.order_by(
            WebhookDeliveryRow.created_at.desc(), WebhookDeliveryRow.id.desc()
        ).limit(limit + 1)
        rows = builtins.list(self.session.scalars(stmt))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor({"c": _iso(rows[-1].created_at), "i": rows[-1].id})
        return Page(rows, next_cursor)
