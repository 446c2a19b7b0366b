"""Change notifications between service processes sharing one database (scale-out).

Every process holds the road graph and its own risk field in memory. When one process
commits a change to reports or zones (or writes events), the others must refresh too:

PostgreSQL
    After the commit the writer sends ``NOTIFY corridors_changes, '<kind>:<origin>'``
    (:meth:`PostgresNotifier.broadcast`; ``kind`` is ``reports``, ``zones`` or ``events``,
    ``origin`` the sending process's token). Each process keeps one dedicated psycopg 3
    connection (autocommit, outside the SQLAlchemy pool) that ``LISTEN``\\ s on the channel
    in a background thread and hands every kind to the runtime's local change handling;
    its own notifications are skipped. A dropped connection is reopened with exponential
    backoff and, once back, every kind is handed over once (whatever happened meanwhile
    was missed). An operator may send ``NOTIFY corridors_changes, 'reports'`` by hand after
    editing the tables in SQL.
SQLite
    Several processes may share one file (``uvicorn --workers``). A background thread
    polls ``PRAGMA data_version`` on a dedicated connection every
    :data:`SQLITE_POLL_S` seconds (it changes when any other connection commits) and,
    when it moved, compares a cheap signature of ``reports``, ``zones`` and ``events``
    (highest change stamp of reports and zones, which every write raises:
    :mod:`corridors.store.changes`; newest event id) to tell which kinds changed. Writes
    of the polling process itself are seen too: the risk refresh is coalesced and
    idempotent, so this costs at most one extra refresh.
    :meth:`SqlitePoller.broadcast` does nothing. An in-memory database is one process by
    definition: :class:`NullNotifier`.

The handler runs in the notifier's thread and must return quickly (the runtime's handler
only flags the risk state and wakes event streams). Changes made while a process's
notifications were not flowing are still caught by the periodic risk refresh
(``risk_refresh_s``) and by the event streams' table polling.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from corridors.store import Database

__all__ = [
    "CHANNEL",
    "KINDS",
    "SQLITE_POLL_S",
    "ChangeHandler",
    "ChangeNotifier",
    "NullNotifier",
    "PostgresNotifier",
    "SqlitePoller",
    "make_notifier",
    "parse_payload",
]

log = logging.getLogger(__name__)

#: The PostgreSQL notification channel.
CHANNEL = "corridors_changes"
#: What may change: stored reports, stored zones, the event log.
KINDS: tuple[str, ...] = ("reports", "zones", "events")
#: SQLite: period of the ``PRAGMA data_version`` poll, seconds.
SQLITE_POLL_S = 0.5

#: ``handler(kind)``: apply a change made elsewhere, locally, without broadcasting it.
ChangeHandler = Callable[[str], None]


class ChangeNotifier(Protocol):
    """What the runtime needs from a notifier."""

    def broadcast(self, kind: str) -> None:
        """Tell the other processes that ``kind`` changed (call after the commit)."""

    def start(self) -> None:
        """Start receiving the other processes' changes."""

    def close(self) -> None:
        """Stop receiving; later broadcasts do nothing."""


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown change kind {kind!r}; use one of {', '.join(KINDS)}")


def parse_payload(payload: str) -> tuple[str, str | None] | None:
    """``(kind, origin)`` of a notification payload, or None when it names no known kind.

    Parameters
    ----------
    payload
        ``"<kind>"`` (sent by hand) or ``"<kind>:<origin>"`` (sent by a process).
    """
    kind, sep, origin = payload.strip().partition(":")
    if kind not in KINDS:
        return None
    return kind, (origin if sep and origin else None)


class NullNotifier:
    """A notifier for a database only one process can use (in-memory SQLite)."""

    def broadcast(self, kind: str) -> None:
        """Do nothing (no other process)."""
        _check_kind(kind)

    def start(self) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


class PostgresNotifier:
    """``NOTIFY`` after writes, one ``LISTEN`` thread per process.

    Parameters
    ----------
    db
        A PostgreSQL database.
    handler
        Called as ``handler(kind)`` from the listener thread for every change another
        process announced.
    wait_s
        Longest wait for a notification before the thread looks at its stop flag,
        seconds (bounds :meth:`close`).
    ping_s
        An idle connection is checked with ``SELECT 1`` this often, seconds (a peer that
        vanished without closing the socket is noticed).
    reconnect_min_s, reconnect_max_s
        Backoff between reconnection attempts: doubles from the first to the second,
        seconds.
    """

    def __init__(
        self,
        db: Database,
        handler: ChangeHandler,
        *,
        wait_s: float = 0.5,
        ping_s: float = 30.0,
        reconnect_min_s: float = 0.2,
        reconnect_max_s: float = 10.0,
    ) -> None:
        if db.is_sqlite:
            raise ValueError("PostgresNotifier needs a PostgreSQL database")
        self.db = db
        self.handler = handler
        self.wait_s = wait_s
        self.ping_s = ping_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        #: This process's token in payloads, to skip its own notifications.
        self.origin = uuid.uuid4().hex[:16]
        self._wake_channel = f"{CHANNEL}_wake_{self.origin}"
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._conn_lock = threading.Lock()
        #: Times the listener connection was (re)opened; for tests and logs.
        self.connects = 0

    # -- sending --------------------------------------------------------------------------
    def broadcast(self, kind: str) -> None:
        """Send ``NOTIFY corridors_changes, '<kind>:<origin>'`` (after the commit).

        Does nothing from the listener thread (a change relayed locally is not sent
        again) or after :meth:`close`. A failure is logged, never raised: the change is
        committed, and the others catch up at their next periodic refresh.

        Raises
        ------
        ValueError
            ``kind`` is not one of :data:`KINDS`.
        """
        _check_kind(kind)
        if self._stop.is_set() or threading.current_thread() is self._thread:
            return
        try:
            with self.db.engine.connect() as conn:
                conn.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": CHANNEL, "payload": f"{kind}:{self.origin}"},
                )
                conn.commit()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not notify other processes of a %s change: %s", kind, exc)

    # -- receiving ------------------------------------------------------------------------
    @property
    def listening(self) -> bool:
        """True while the listener connection is open and ``LISTEN`` is active."""
        return self._listening.is_set()

    def start(self, *, ready_timeout_s: float = 5.0) -> None:
        """Start the listener thread; wait until it listens (at most ``ready_timeout_s``).

        Waiting means a change committed by another process after :meth:`start` returned
        is not missed. When the database does not answer in time the thread keeps trying
        in the background.
        """
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="corridors-change-listener", daemon=True
        )
        self._thread.start()
        if not self._listening.wait(ready_timeout_s):
            log.warning("change listener not connected after %.1f s; retrying", ready_timeout_s)

    def close(self) -> None:
        """Stop the listener thread and close its connection."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            if self._listening.is_set():
                self._wake_listener()
            thread.join(timeout=self.wait_s + 10)

    def _wake_listener(self) -> None:
        # A notification on this process's own channel ends the listener's wait at once.
        try:
            with self.db.engine.connect() as conn:
                conn.execute(text(f"NOTIFY {self._wake_channel}"))
                conn.commit()
        except (SQLAlchemyError, OSError) as exc:  # it stops after wait_s anyway
            log.debug("could not wake the change listener: %s", exc)

    def _connect(self) -> psycopg.Connection[Any]:
        # The dialect's own translation of the URL: what SQLAlchemy would pass to psycopg.
        cargs, cparams = self.db.engine.dialect.create_connect_args(self.db.engine.url)
        params = dict(cparams)
        params["autocommit"] = True
        conn: psycopg.Connection[Any] = psycopg.connect(*cargs, **params)
        try:
            conn.execute(f"LISTEN {CHANNEL}")
            conn.execute(f"LISTEN {self._wake_channel}")
        except BaseException:
            conn.close()
            raise
        return conn

    def backend_pid(self) -> int | None:
        """The listener connection's server process id (None when not connected)."""
        with self._conn_lock:
            return None if self._conn is None else int(self._conn.info.backend_pid)

    def _run(self) -> None:
        delay_s = self.reconnect_min_s
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except psycopg.Error as exc:
                log.warning("change listener: cannot connect (%s); retry in %.1f s", exc, delay_s)
                self._stop.wait(delay_s)
                delay_s = min(delay_s * 2, self.reconnect_max_s)
                continue
            with self._conn_lock:
                self._conn = conn
            self.connects += 1
            self._listening.set()
            if self.connects > 1:
                log.info("change listener reconnected; refreshing everything once")
                self._deliver(KINDS)
            try:
                self._listen(conn)
                delay_s = self.reconnect_min_s  # a clean stop or a drop after a good run
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("change listener: connection lost (%s); reconnecting", exc)
            finally:
                self._listening.clear()
                with self._conn_lock:
                    self._conn = None
                with contextlib.suppress(psycopg.Error):  # already broken
                    conn.close()
            if not self._stop.is_set():
                self._stop.wait(delay_s)
                delay_s = min(delay_s * 2, self.reconnect_max_s)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        last_seen = time.monotonic()
        while not self._stop.is_set():
            # Yields notifications as they arrive for up to wait_s, then ends.
            for notify in conn.notifies(timeout=self.wait_s):
                last_seen = time.monotonic()
                if notify.channel != CHANNEL:  # the wake channel: see the stop flag
                    break
                parsed = parse_payload(notify.payload)
                if parsed is None:
                    log.warning("change listener: ignoring payload %r", notify.payload)
                elif parsed[1] != self.origin:
                    self._deliver((parsed[0],))
                if self._stop.is_set():
                    return
            if time.monotonic() - last_seen >= self.ping_s:
                conn.execute("SELECT 1")
                last_seen = time.monotonic()

    def _deliver(self, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            try:
                self.handler(kind)
            except Exception:  # the listener must survive a handler's failure
                log.exception("change handler failed for %s", kind)


class SqlitePoller:
    """Notices commits by other connections to a SQLite file (``PRAGMA data_version``).

    Parameters
    ----------
    db
        A file-backed SQLite database.
    handler
        Called as ``handler(kind)`` from the poller thread for every kind whose signature
        changed.
    poll_s
        Poll period, seconds.
    """

    #: One row: a fingerprint of each kind (index lookups; on SQLite every insert or update
    #: of a report or zone raises its table's highest stamp).
    _SIGNATURE_SQL = (
        "SELECT (SELECT max(change_seq) FROM reports), (SELECT max(change_seq) FROM zones),"
        " (SELECT max(id) FROM events)"
    )

    def __init__(
        self, db: Database, handler: ChangeHandler, *, poll_s: float = SQLITE_POLL_S
    ) -> None:
        database = db.url.database
        if not db.is_sqlite or not database or database == ":memory:":
            raise ValueError("SqlitePoller needs a file-backed SQLite database")
        self.path = database
        self.handler = handler
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._signature: dict[str, tuple[Any, ...]] = {}

    def broadcast(self, kind: str) -> None:
        """Do nothing: the other processes see the commit through ``data_version``."""
        _check_kind(kind)

    def start(self) -> None:
        """Take the current version and signatures, then poll in a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        try:
            conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
            conn.isolation_level = None  # autocommit: no read transaction held open
            self._conn = conn
            self._version = self._data_version(conn)
            self._signature = self._signatures(conn)
        except sqlite3.Error as exc:
            log.warning("change poller: cannot open %s (%s); not polling", self.path, exc)
            self._conn = None
            return
        self._thread = threading.Thread(
            target=self._run, name="corridors-change-poller", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop polling and close the connection."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.poll_s + 10)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @staticmethod
    def _data_version(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA data_version").fetchone()[0])

    def _signatures(self, conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
        row = conn.execute(self._SIGNATURE_SQL).fetchone()
        return {"reports": (row[0],), "zones": (row[1],), "events": (row[2],)}

    def poll_once(self) -> list[str]:
        """Look once; hand the changed kinds to the handler and return them."""
        conn = self._conn
        if conn is None:
            return []
        version = self._data_version(conn)
        if version == self._version:
            return []
        self._version = version
        signature = self._signatures(conn)
        changed = [k for k in KINDS if signature[k] != self._signature.get(k)]
        self._signature = signature
        for kind in changed:
            try:
                self.handler(kind)
            except Exception:  # the poller must survive a handler's failure
                log.exception("change handler failed for %s", kind)
        return changed

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll_once()
            except sqlite3.Error as exc:  # e.g. a table missing during a migration
                log.warning("change poller: %s", exc)


def make_notifier(db: Database, handler: ChangeHandler) -> ChangeNotifier:
    """The notifier for ``db``'s engine.

    Parameters
    ----------
    db
        The service's database.
    handler
        ``handler(kind)``: apply a change another process made (kind in :data:`KINDS`),
        without broadcasting it again.

    Returns
    -------
    ChangeNotifier
        :class:`PostgresNotifier`, :class:`SqlitePoller` for a SQLite file, or
        :class:`NullNotifier` for in-memory SQLite.
    """
    if not db.is_sqlite:
        return PostgresNotifier(db, handler)
    database = db.url.database
    if not database or database == ":memory:":
        return NullNotifier()
    return SqlitePoller(db, handler)
