"""The event log and the in-process event bus behind ``GET /v1/events`` and webhooks.

An event is written to the ``events`` table together with one outbox row per subscribed
webhook (``webhook_deliveries``), in the transaction of the change that caused it, so
server-sent-event replay (``Last-Event-ID``) and webhook deliveries survive a restart.
After the commit, :meth:`EventBus.notify` wakes the open SSE streams of this process and
the webhook dispatcher; streams also look at the table every few seconds, which picks up
events written by other processes sharing the database.

Event ids are the SSE ids. On PostgreSQL every event insert first takes a transaction-level
advisory lock, so ids commit in increasing order and a reader that has seen id N has seen
every committed id below it (SQLite has a single writer anyway).

Events
------
``report.created``
    A report was submitted through ``POST /v1/reports`` (imports do not emit one per row).
    The payload is the report as a viewer sees it: no ``source``, ``description``,
    ``created_by``, ``status_note`` or ``external_id``.
``corridor.status_changed``
    ``{corridor_id, name, from, to, at, reason, escort_recommendation, level}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from prometheus_client import Counter
from sqlalchemy.orm import Session

from corridors.domain import Role
from corridors.services.clock import Clock
from corridors.services.reports import redact
from corridors.store import Database
from corridors.store.models import EventRow, WebhookDeliveryRow
from corridors.store.repositories import (
    EventRepository,
    WebhookDeliveryRepository,
    WebhookRepository,
)

__all__ = [
    "CORRIDOR_STATUS_CHANGED",
    "KNOWN_EVENTS",
    "REPORT_CREATED",
    "Event",
    "EventBus",
    "Subscription",
]

log = logging.getLogger(__name__)

REPORT_CREATED = "report.created"
CORRIDOR_STATUS_CHANGED = "corridor.status_changed"
#: Every event type, the names webhooks subscribe to.
KNOWN_EVENTS: tuple[str, ...] = (CORRIDOR_STATUS_CHANGED, REPORT_CREATED)

EVENTS_PUBLISHED = Counter(
    "corridors_events_published_total", "Events written to the event log", ["type"]
)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event."""

    id: int
    type: str
    payload: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_row(cls, row: EventRow) -> Event:
        """The event of a stored row."""
        return cls(row.id, row.type, dict(row.payload), row.created_at)

    def document(self) -> dict[str, Any]:
        """``{id, type, created_at, data}``: the SSE ``data`` and the webhook body."""
        return {
            "id": self.id,
            "type": self.type,
            "created_at": _iso(self.created_at),
            "data": self.payload,
        }


class Subscription:
    """An asyncio-side wake-up for one SSE stream; made by :meth:`EventBus.subscribe`.

    Clear it, read the table, then :meth:`wait`: a notification arriving between the read
    and the wait is not lost (the flag stays set).
    """

    def __init__(self, bus: EventBus, loop: asyncio.AbstractEventLoop) -> None:
        self._bus = bus
        self._loop = loop
        self._flag = asyncio.Event()

    def _wake(self) -> None:
        # A closed loop raises RuntimeError: its stream is gone, nothing to wake.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._flag.set)

    def clear(self) -> None:
        """Forget earlier notifications (call before reading the table)."""
        self._flag.clear()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for a notification at most ``timeout_s`` seconds; True when woken."""
        try:
            await asyncio.wait_for(self._flag.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bus._unsubscribe(self)


class EventBus:
    """Writes events (with their webhook outbox rows) and wakes whoever waits for them.

    Parameters
    ----------
    db
        The database holding ``events`` and ``webhook_deliveries``.
    clock
        Source of "now" (aware UTC) for events published without ``at``.
    """

    def __init__(self, db: Database, *, clock: Clock) -> None:
        self.db = db
        self._clock = clock
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Callable[[], None]] = []
        self._closed = threading.Event()

    # -- writing --------------------------------------------------------------------------
    def emit(
        self, session: Session, type_: str, payload: Mapping[str, Any], *, at: datetime
    ) -> EventRow:
        """Stage an event and its webhook deliveries in the caller's transaction.

        Call :meth:`notify` once the transaction has committed.

        Parameters
        ----------
        session
            The caller's open session (its transaction also holds the change itself).
        type_
            One of :data:`KNOWN_EVENTS`.
        payload
            JSON-ready event data.
        at
            When the event happened (aware).
        """
        if type_ not in KNOWN_EVENTS:
            raise ValueError(f"unknown event type {type_!r}")
        row = EventRepository(session).append(type_, dict(payload), at=at)
        deliveries = WebhookDeliveryRepository(session)
        for webhook in WebhookRepository(session).active():
            if type_ in webhook.events:
                deliveries.add(
                    WebhookDeliveryRow(
                        id=str(uuid.uuid4()),
                        webhook_id=webhook.id,
                        event_id=row.id,
                        event_type=type_,
                        status="pending",
                        attempts=0,
                        next_attempt_at=at,
                        created_at=at,
                    )
                )
        session.flush()
        EVENTS_PUBLISHED.labels(type_).inc()
        return row

    def publish(
        self, type_: str, payload: Mapping[str, Any], *, at: datetime | None = None
    ) -> Event:
        """Write an event in a transaction of its own, then :meth:`notify`."""
        with self.db.session() as s:
            event = Event.from_row(self.emit(s, type_, payload, at=at or self._clock()))
        self.notify()
        return event

    def report_created(self, document: Mapping[str, Any]) -> Event | None:
        """Publish ``report.created`` for a stored report document (after its commit).

        The payload is what a viewer may see of the report. A failure is logged, never
        raised: the report is stored whatever happens to its notification.
        """
        payload = redact(dict(document), Role.viewer)
        try:
            return self.publish(REPORT_CREATED, payload)
        except Exception:
            log.exception("could not record report.created for report %s", document.get("id"))
            return None

    # -- waking ---------------------------------------------------------------------------
    def on_publish(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (from the publishing thread) after every :meth:`notify`."""
        self._listeners.append(listener)

    def notify(self) -> None:
        """Wake SSE streams and listeners: new events are committed."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription._wake()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("event listener failed")

    def subscribe(self) -> Subscription:
        """A wake-up for the calling coroutine's event loop (use as a context manager)."""
        subscription = Subscription(self, asyncio.get_running_loop())
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (streams end)."""
        return self._closed.is_set()

    def close(self) -> None:
        """End every open stream (at shutdown)."""
        self._closed.set()
        self.notify()

    # -- reading --------------------------------------------------------------------------
    def after(self, last_id: int, *, limit: int = 500, types: Sequence[str] = ()) -> list[Event]:
        """Stored events with ``id > last_id``, oldest first (replay)."""
        with self.db.session() as s:
            rows = EventRepository(s).after(last_id, limit=limit, types=types)
            return [Event.from_row(r) for r in rows]

    def last_id(self) -> int:
        """The newest event id (0 when there is none)."""
        with self.db.session() as s:
            return EventRepository(s).last_id()
