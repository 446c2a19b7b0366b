"""The durable store on both engines: migrations, UTC round trips, queries, pagination."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import inspect, text

from conftest import report_values
from corridors.domain import Category, ReportStatus, ZoneKind
from corridors.errors import InputError, NotFoundError
from corridors.store import (
    AuditRepository,
    Database,
    ReportFilter,
    ReportRepository,
    ReportRow,
    ZoneRepository,
    ZoneRow,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _report(**kw: Any) -> dict[str, Any]:
    return report_values(T0, **kw)


def test_migrate_creates_every_table_and_is_repeatable(database: Database) -> None:
    database.migrate()  # second run: nothing to do, no error
    names = set(inspect(database.engine).get_table_names())
    assert {"reports", "zones", "api_keys", "audit_log", "idempotency_keys"} <= names
    assert database.current_revision() == database.head_revision()
    assert database.ping()


def test_sqlite_pragmas(tmp_path: Any) -> None:
    db = Database(f"sqlite:///{tmp_path / 'sub' / 'x.sqlite3'}")  # parent folder created
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert (conn.execute(text("PRAGMA busy_timeout")).scalar() or 0) >= 1000
    db.dispose()


def test_ping_false_when_unreachable(tmp_path: Any) -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    assert db.ping() is False
    db.dispose()


def test_datetimes_come_back_aware_utc(database: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2025, 3, 1, 14, 30, 15, 123456, tzinfo=plus_two)
    row_id = str(uuid.uuid4())
    with database.session() as s:
        ReportRepository(s).add(ReportRow(**_report(id=row_id, occurred_at=local)))
    with database.session() as s:
        row = ReportRepository(s).require(row_id)
        assert row.occurred_at.tzinfo is not None
        assert row.occurred_at.utcoffset() == timedelta(0)
        assert row.occurred_at == datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def test_naive_datetime_is_refused(database: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), database.session() as s:
        ReportRepository(s).add(ReportRow(**_report(occurred_at=datetime(2025, 1, 1))))


def test_failed_transaction_leaves_nothing(database: Database) -> None:
    def failing_write() -> None:
        with database.session() as s:
            ReportRepository(s).add(ReportRow(**_report()))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_write()
    with database.session() as s:
        assert ReportRepository(s).count() == 0


def test_cursor_pages_cover_everything_once_in_order(database: Database) -> None:
    # 23 reports on 5 distinct times: ties must still page without loss or repeats.
    rows = [_report(occurred_at=T0 - timedelta(hours=i % 5)) for i in range(23)]
    with database.session() as s:
        ReportRepository(s).add_many(rows)
    expected = sorted(rows, key=lambda r: (r["occurred_at"], r["id"]), reverse=True)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        with database.session() as s:
            page = ReportRepository(s).list(ReportFilter(), cursor=cursor, limit=4)
        seen += [r.id for r in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [r["id"] for r in expected]
    assert pages == 6  # ceil(23 / 4)


def test_bad_cursor_is_input_error(database: Database) -> None:
    with database.session() as s, pytest.raises(InputError, match="cursor"):
        ReportRepository(s).list(ReportFilter(), cursor="not-a-cursor!!")


def test_filters(database: Database) -> None:
    rows = [
        _report(lon=-72.30, lat=18.55, category="riot", occurred_at=T0),
        _report(lon=-72.40, lat=18.50, category="riot", occurred_at=T0 - timedelta(days=2)),
        _report(lon=-72.30, lat=18.55, category="arson", occurred_at=T0 - timedelta(days=1)),
        _report(lon=-72.31, lat=18.56, category="arson", status="retracted", occurred_at=T0),
    ]
    with database.session() as s:
        ReportRepository(s).add_many(rows)

    def ids(f: ReportFilter) -> set[str]:
        with database.session() as s:
            return {r.id for r in ReportRepository(s).list(f, limit=100).items}

    assert ids(ReportFilter(bbox=(-72.35, 18.52, -72.25, 18.60))) == {
        rows[0]["id"],
        rows[2]["id"],
        rows[3]["id"],
    }
    assert ids(ReportFilter(categories=("riot",))) == {rows[0]["id"], rows[1]["id"]}
    assert ids(ReportFilter(statuses=("retracted",))) == {rows[3]["id"]}
    window = ReportFilter(since=T0 - timedelta(days=1), until=T0)  # until is exclusive
    assert ids(window) == {rows[2]["id"]}


def test_external_ids_and_incidents(database: Database) -> None:
    rows = [
        _report(external_id="acled:1", occurred_at=T0 - timedelta(days=3)),
        _report(external_id="acled:2", occurred_at=T0 + timedelta(days=3)),
        _report(external_id=None, status="retracted", occurred_at=T0 - timedelta(days=1)),
        _report(external_id=None, status="verified", category="sniper_fire"),
    ]
    with database.session() as s:
        repo = ReportRepository(s)
        repo.add_many(rows)
        assert repo.existing_external_ids(["acled:1", "acled:9", "acled:2"]) == {
            "acled:1",
            "acled:2",
        }
    with database.session() as s:
        incidents = ReportRepository(s).active_incidents(T0)
    # Only what had occurred by T0 and is not retracted.
    assert {i.id for i in incidents} == {rows[0]["id"], rows[3]["id"]}
    sniper = next(i for i in incidents if i.id == rows[3]["id"])
    assert sniper.category is Category.sniper_fire
    assert sniper.status is ReportStatus.verified
    assert sniper.occurred_at == T0


def test_set_status_and_missing_report(database: Database) -> None:
    row = _report()
    with database.session() as s:
        ReportRepository(s).add_many([row])
    later = T0 + timedelta(hours=1)
    with database.session() as s:
        ReportRepository(s).set_status(row["id"], ReportStatus.verified, "seen", at=later)
    with database.session() as s:
        got = ReportRepository(s).require(row["id"])
        assert (got.status, got.status_note, got.updated_at) == ("verified", "seen", later)
        with pytest.raises(NotFoundError):
            ReportRepository(s).require("nope")


def test_zone_end_keeps_history(database: Database) -> None:
    square = (
        '{"type":"Polygon","coordinates":[[[-72.34,18.54],[-72.33,18.54],'
        "[-72.33,18.55],[-72.34,18.55],[-72.34,18.54]]]}"
    )
    with database.session() as s:
        ZoneRepository(s).add(
            ZoneRow(
                id="z1",
                name="Test",
                kind="no_go",
                geometry=square,
                valid_from=T0,
                valid_until=None,
                multiplier=1.0,
                created_at=T0,
                created_by="a",
            )
        )
    end = T0 + timedelta(days=1)
    with database.session() as s:
        ZoneRepository(s).end("z1", at=end)
    with database.session() as s:
        zones = ZoneRepository(s)
        assert [z.id for z in zones.active(T0 + timedelta(hours=1))] == ["z1"]
        assert zones.active(end) == []
        assert zones.active(T0 - timedelta(seconds=1)) == []
        assert zones.list(at=end) == []
        assert [z.id for z in zones.list(at=end, include_ended=True)] == ["z1"]
        assert zones.require("z1").ended_at == end


def test_audit_pages_newest_first(database: Database) -> None:
    with database.session() as s:
        audit = AuditRepository(s)
        for i in range(5):
            audit.append(
                at=T0 + timedelta(minutes=i),
                key_name="k",
                action="zone.create" if i % 2 else "report.create",
                object_type="x",
                object_id=str(i),
                detail={"i": i},
            )
    with database.session() as s:
        first = AuditRepository(s).list(limit=2)
        second = AuditRepository(s).list(limit=2, cursor=first.next_cursor)
        zones_only = AuditRepository(s).list(action="zone.create")
    assert [r.object_id for r in first.items] == ["4", "3"]
    assert [r.object_id for r in second.items] == ["2", "1"]
    assert [r.detail for r in zones_only.items] == [{"i": 3}, {"i": 1}]
    assert ZoneKind("no_go") is ZoneKind.no_go
