"""Shared pytest fixtures.

Databases: ``database_url`` / ``database`` are parametrized over SQLite (a file in
``tmp_path``) and PostgreSQL (``CORRIDORS_TEST_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). For PostgreSQL a fresh database
``corridors_test_<random>`` is created once per session (a fresh schema when the role may
not create databases) and dropped at the end; tables are emptied before each test. The
PostgreSQL cases are skipped, with the reason, only when the server is unreachable.

API: ``make_api`` builds an app on a tiny road graph, a fixed clock and one key per role.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from corridors.config import Settings
from corridors.domain import Incident, ReportStatus, Role
from corridors.graph.model import GraphMeta, RoadGraph
from corridors.graph.synthetic import synthetic_city
from corridors.store import Database, ReportRepository, ReportRow
from corridors.store.models import Base

POSTGRES_URL_ENV = "CORRIDORS_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

#: The tiny test graph's bbox (min_lon, min_lat, max_lon, max_lat): Port-au-Prince.
TEST_BBOX = (-72.45, 18.45, -72.20, 18.65)
#: The fixed "now" of API tests.
TEST_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


# --- PostgreSQL -------------------------------------------------------------------------


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """Create a migrated PostgreSQL database (or schema) and drop it afterwards.

    Skips the test when the server is unreachable.
    """
    base = make_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL))
    name = f"corridors_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name)
        mode = "database"
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable at {base.render_as_string()}: {exc.orig}")
    except ProgrammingError:
        # No CREATEDB privilege: a fresh schema in the given database instead.
        admin.dispose()
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        url = base.update_query_dict({"options": f"-csearch_path={name}"})
        mode = "schema"
    db = Database(url)
    db.migrate()
    db.dispose()
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if mode == "database":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database for this session (skip if unreachable)."""
    with fresh_postgres() as url:
        yield url


def empty_postgres(url: str) -> None:
    """Delete every row of every table (between tests sharing the session database)."""
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with the schema in place and no rows, on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'corridors.sqlite3'}"
        db = Database(url)
        db.migrate()
        db.dispose()
        return url
    url = str(request.getfixturevalue("postgres_url"))
    empty_postgres(url)
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated, empty :class:`Database` on each engine."""
    db = Database(database_url)
    yield db
    db.dispose()


# --- API ----------------------------------------------------------------------------------


def tiny_graph() -> RoadGraph:
    """Two nodes at opposite corners of :data:`TEST_BBOX`, one two-way street between."""
    min_lon, min_lat, max_lon, max_lat = TEST_BBOX
    f64, i64, i32 = np.float64, np.int64, np.int32
    return RoadGraph(
        meta=GraphMeta(
            source="test", osm_timestamp=None, built_at=TEST_NOW, bbox=TEST_BBOX, demo=True
        ),
        node_osm_id=np.array([1, 2], dtype=i64),
        node_lon=np.array([min_lon, max_lon], dtype=f64),
        node_lat=np.array([min_lat, max_lat], dtype=f64),
        edge_offsets=np.array([0, 1, 2], dtype=i64),
        edge_tail=np.array([0, 1], dtype=i32),
        edge_head=np.array([1, 0], dtype=i32),
        edge_length_m=np.array([34_000.0, 34_000.0], dtype=f64),
        edge_duration_s=np.array([3_000.0, 3_000.0], dtype=f64),
        edge_osm_way_id=np.array([10, 10], dtype=i64),
        edge_name=np.array([1, 1], dtype=i32),
        edge_ref=np.array([0, 0], dtype=i32),
        edge_highway=np.array([2, 2], dtype=i32),
        edge_surface=np.array([0, 0], dtype=i32),
        edge_maxspeed_kph=np.array([np.nan, np.nan], dtype=f64),
        edge_bridge=np.array([False, False]),
        edge_reverse=np.array([1, 0], dtype=i64),
        geometry_offsets=np.array([0, 2, 4], dtype=i64),
        geometry_lon=np.array([min_lon, max_lon, max_lon, min_lon], dtype=f64),
        geometry_lat=np.array([min_lat, max_lat, max_lat, min_lat], dtype=f64),
        strings=("", "Route de Test", "primary"),
    )


@dataclass
class FakeClock:
    """A settable clock for the runtime."""

    now: datetime = TEST_NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Api:
    """A running test app: client, runtime, clock, and a key per role."""

    client: TestClient
    runtime: Any
    clock: FakeClock
    keys: dict[Role, str]
    changes: list[str] = field(default_factory=list)

    def headers(self, role: Role | None, **extra: str) -> dict[str, str]:
        """Headers authenticating as ``role`` (none when ``role`` is None)."""
        headers = dict(extra)
        if role is not None:
            headers["X-API-Key"] = self.keys[role]
        return headers


def start_api(
    database_url: str,
    data_dir: Path,
    *,
    keys: dict[Role, str] | None = None,
    **overrides: Any,
) -> tuple[Api, Callable[[], None]]:
    """Start an app on ``database_url`` with the tiny graph; return it and its closer.

    Keys (one per role, named after it) are created unless ``keys`` passes earlier ones.
    ``overrides`` are :class:`Settings` fields.
    """
    from corridors.api.app import create_app
    from corridors.services.keys import create_key
    from corridors.services.runtime import Runtime

    overrides.setdefault("write_rate_per_minute", 100_000)
    settings = Settings(data_dir=data_dir, database_url=database_url, **overrides)
    clock = FakeClock()
    db = Database(database_url)
    db.migrate()
    runtime = Runtime(settings, db, tiny_graph(), clock=clock)
    if keys is None:
        keys = {role: create_key(db, role=role, name=role.value, at=clock()).key for role in Role}
    api = Api(TestClient(create_app(runtime=runtime)), runtime, clock, keys)
    runtime.on_change(api.changes.append)
    api.client.__enter__()

    def close() -> None:
        api.client.__exit__(None, None, None)
        runtime.close()

    return api, close


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Factory: ``make_api(database_url, keys=None, **settings)`` -> a started :class:`Api`.

    Every app made here is shut down at the end of the test.
    """
    closers: list[Callable[[], None]] = []

    def make(database_url: str, **kwargs: Any) -> Api:
        api, close = start_api(database_url, tmp_path / "data", **kwargs)
        closers.append(close)
        return api

    yield make
    for close in reversed(closers):
        close()


@pytest.fixture(scope="module", params=ENGINES)
def module_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """One started :class:`Api` per engine shared by a module's tests (state accumulates).

    On PostgreSQL it gets a database of its own, so function-scoped tests emptying the
    session database cannot pull its keys away.
    """
    data_dir = tmp_path_factory.mktemp("api")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{data_dir / 'corridors.sqlite3'}"
        else:
            url = stack.enter_context(fresh_postgres())
        started, close = start_api(url, data_dir)
        stack.callback(close)
        yield started


def report_body(**overrides: Any) -> dict[str, Any]:
    """A valid ``POST /v1/reports`` body (the contract's example), with overrides."""
    body: dict[str, Any] = {
        "occurred_at": "2026-11-24T10:30:00Z",
        "location": {"lon": -72.3381, "lat": 18.5392},
        "uncertainty_m": 150,
        "category": "armed_clash",
        "severity": 4,
        "fatalities": 0,
        "source": "HNP radio",
        "source_reliability": "B",
        "credibility": 2,
        "description": "Exchange of fire near Portail Léogâne",
        "expires_at": None,
    }
    body.update(overrides)
    return body


#: The column order of a standard ACLED export (for invented test files).
ACLED_HEADER = [
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "civilian_targeting",
    "iso",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "tags",
    "timestamp",
]


def square_ring(lon: float, lat: float, half_side_deg: float) -> list[list[float]]:
    """A closed GeoJSON ring: the square of half side ``half_side_deg`` around a point."""
    d = half_side_deg
    return [
        [lon - d, lat - d],
        [lon + d, lat - d],
        [lon + d, lat + d],
        [lon - d, lat + d],
        [lon - d, lat - d],
    ]


@pytest.fixture(scope="module")
def small_city() -> RoadGraph:
    """A 12 x 12 synthetic city (seed 3), built once per test module."""
    return synthetic_city(12, 12, seed=3)


def store_incidents(db: Database, incidents: Iterable[Incident], *, stored_at: datetime) -> None:
    """Store risk-engine incidents as report rows filed and last changed at ``stored_at``."""
    with db.session() as s:
        repo = ReportRepository(s)
        for i in incidents:
            repo.add(incident_row(i, stored_at=stored_at))
        s.commit()


def incident_row(incident: Incident, *, stored_at: datetime) -> ReportRow:
    """The store row of a risk-engine incident (filed and last changed at ``stored_at``)."""
    return ReportRow(
        id=incident.id,
        occurred_at=incident.occurred_at,
        lon=incident.lon,
        lat=incident.lat,
        uncertainty_m=incident.uncertainty_m,
        category=incident.category.value,
        severity=incident.severity,
        fatalities=incident.fatalities,
        source_reliability=incident.source_reliability,
        credibility=incident.credibility,
        expires_at=incident.expires_at,
        status=ReportStatus(incident.status).value,
        created_at=stored_at,
        created_by="test",
        updated_at=stored_at,
    )


def report_values(at: datetime, **overrides: Any) -> dict[str, Any]:
    """Column values of a plain stored report (occurred, filed and changed at ``at``)."""
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "external_id": None,
        "occurred_at": at,
        "lon": -72.33,
        "lat": 18.54,
        "uncertainty_m": 100.0,
        "category": "armed_clash",
        "severity": 3,
        "fatalities": 0,
        "source": "test",
        "source_reliability": None,
        "credibility": None,
        "description": None,
        "expires_at": None,
        "status": "active",
        "status_note": None,
        "created_at": at,
        "created_by": "tester",
        "updated_at": at,
    }
    values.update(overrides)
    return values
