"""The database handle: engine, sessions, health check and migrations.

SQLite (the default, a file in the data dir) is opened in WAL mode with foreign keys on
and a busy timeout, so the API's worker threads and a CLI import can share the file.
PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://user@host/db``).
Migrations are Alembic scripts shipped inside the package (``store/migrations``); no
``alembic.ini`` is needed at run time, the configuration is built here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

__all__ = ["MIGRATIONS_DIR", "Database"]

log = logging.getLogger(__name__)

#: Alembic script directory inside the package.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: How long a SQLite writer waits for the lock before failing, ms.
SQLITE_BUSY_TIMEOUT_MS = 15_000

# Arbitrary constant: the PostgreSQL advisory lock that serialises concurrent migrations
# (several workers starting at once).
_PG_MIGRATION_LOCK = 0x636F7272  # "corr"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # WAL makes NORMAL durable against application crashes; only an OS crash can
        # lose the last transactions.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Statement journals (every write to a table with a trigger: reports, zones) and
        # sort spills in memory, not in temporary files (bulk inserts ran 2x slower).
        cursor.execute("PRAGMA temp_store=MEMORY")
    finally:
        cursor.close()


class Database:
    """Engine and session factory for one database URL.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///path/file.sqlite3`` or
        ``postgresql+psycopg://user@host:5432/db``. The parent folder of a SQLite file is
        created if missing.
    echo
        Log every SQL statement (debugging).
    """

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url: URL = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            }
            database = self.url.database
            if not database or database == ":memory:":
                # One shared connection, or every session would see its own empty database.
                kwargs["poolclass"] = StaticPool
            else:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_on_connect)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True for SQLite URLs."""
        return self.url.get_backend_name() == "sqlite"

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A pooled connection for reads that need no ORM session: no unit of work and no
        commit (rolled back on leaving). The key lookup of every request takes ~75 us on
        it against ~350 us in a session (SQLite file)."""
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        Yields
        ------
        Session
            Objects stay readable after the commit (``expire_on_commit=False``).
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("database ping failed: %s", exc)
            return False
        return True

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (Alembic), creating tables on first use.

        Safe to call at every start: an up-to-date schema is left alone. On PostgreSQL an
        advisory lock serialises workers migrating at the same time.
        """
        alembic_log = logging.getLogger("alembic")
        if alembic_log.getEffectiveLevel() < logging.WARNING:
            # Alembic narrates every plugin at INFO; only its warnings are worth showing.
            alembic_log.setLevel(logging.WARNING)
        from alembic import command

        cfg = _alembic_config()
        with self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    @staticmethod
    def head_revision() -> str:
        """The newest migration the code ships."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        assert head is not None
        return head

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at, or ``None`` before any migration."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown, and in tests)."""
        self.engine.dispose()


def _alembic_config() -> Config:
    """Alembic's configuration, built in code (no alembic.ini at run time)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg
