"""Change stamps on both engines: every write to reports and zones is read back by
``changed_since`` from a horizon taken before it, a row committed late included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from conftest import report_values
from corridors.domain import ReportStatus
from corridors.store import Database, ReportRepository, ReportRow, ZoneRepository, ZoneRow
from corridors.store.changes import ChangeHorizon

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _report(report_id: str) -> dict[str, Any]:
    return report_values(T0, id=report_id, occurred_at=T0 - timedelta(hours=1))


def _zone(zone_id: str) -> ZoneRow:
    return ZoneRow(
        id=zone_id,
        name=zone_id,
        kind="no_go",
        geometry=shapely.to_geojson(box(-72.34, 18.53, -72.32, 18.55)),
        multiplier=1.0,
        created_at=T0,
        created_by="tester",
    )


def _report_horizon(db: Database) -> ChangeHorizon:
    with db.session() as s:
        return ReportRepository(s).change_horizon()


def _reports_since(db: Database, horizon: ChangeHorizon) -> dict[str, str]:
    """Id -> status of the reports ``changed_since(horizon)``."""
    with db.session() as s:
        return {i.id: i.status.value for i in ReportRepository(s).changed_since(horizon)}


def _zones_since(db: Database, horizon: ChangeHorizon) -> dict[str, bool]:
    """Id -> ended of the zones ``changed_since(horizon)``."""
    with db.session() as s:
        return {z.id: z.ended_at is not None for z in ZoneRepository(s).changed_since(horizon)}


def test_every_report_write_is_read_back(database: Database) -> None:
    h0 = _report_horizon(database)
    with database.session() as s:
        ReportRepository(s).add(ReportRow(**_report("one")))
    h1 = _report_horizon(database)
    assert _reports_since(database, h0) == {"one": "active"}
    with database.session() as s:
        ReportRepository(s).add_many([_report(f"bulk{k}") for k in range(3)])
    h2 = _report_horizon(database)
    assert {"bulk0", "bulk1", "bulk2"} <= _reports_since(database, h1).keys()
    with database.session() as s:
        ReportRepository(s).set_status("bulk1", ReportStatus.retracted, None, at=T0)
    h3 = _report_horizon(database)
    assert _reports_since(database, h2)["bulk1"] == "retracted"
    # A change typed by hand in SQL is stamped too (a trigger, not the repository).
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE reports SET severity = 5 WHERE id = 'one'"))
    assert _reports_since(database, h3) == {"one": "active"}
    assert _reports_since(database, h1).keys() == {"bulk0", "bulk1", "bulk2", "one"}
    assert _reports_since(database, _report_horizon(database)) == {}
    assert len(_reports_since(database, ChangeHorizon(0))) == 4


def test_every_zone_write_is_read_back(database: Database) -> None:
    with database.session() as s:
        h0 = ZoneRepository(s).change_horizon()
        ZoneRepository(s).add(_zone("z1"))
    with database.session() as s:
        h1 = ZoneRepository(s).change_horizon()
    assert _zones_since(database, h0) == {"z1": False}
    with database.session() as s:
        ZoneRepository(s).end("z1", at=T0)
    assert _zones_since(database, h1) == {"z1": True}


def test_a_row_committed_late_is_read_next_time(database: Database) -> None:
    """A transaction that wrote before a read but commits after it is read the next time,
    even when a transaction that started later committed before the read (PostgreSQL
    hands out stamps at a transaction's first write, not at its commit)."""
    h0 = _report_horizon(database)
    late = Session(database.engine)
    try:
        ReportRepository(late).add(ReportRow(**_report("late")))  # flushed, not committed
        if not database.is_sqlite:  # SQLite: the late writer holds the only write lock
            with database.session() as s:
                ReportRepository(s).add(ReportRow(**_report("early")))
        with database.session() as s:
            reports = ReportRepository(s)
            h1 = reports.change_horizon()
            first = {i.id for i in reports.changed_since(h0)}
        late.commit()
    finally:
        late.close()
    assert "late" not in first
    assert database.is_sqlite or "early" in first
    assert "late" in _reports_since(database, h1)


# PostgreSQL only: on SQLite the open transaction would hold the only write lock.
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_transaction_left_open_brings_nothing_back(database: Database) -> None:
    """A transaction open meanwhile (here writing a zone) does not make later reads return
    reports seen already; its own rows come once it commits."""
    idle = Session(database.engine)
    try:
        ZoneRepository(idle).add(_zone("slow"))  # flushed, not committed
        with database.session() as s:
            ReportRepository(s).add(ReportRow(**_report("seen")))
        h1 = _report_horizon(database)
        with database.session() as s:
            zone_horizon = ZoneRepository(s).change_horizon()
        assert _reports_since(database, h1) == {}
        idle.commit()
    finally:
        idle.close()
    assert _reports_since(database, h1) == {}
    assert _zones_since(database, zone_horizon) == {"slow": False}


def test_rows_stored_before_the_migration_are_read_in_full_only(tmp_path: Path) -> None:
    """Upgrading keeps the rows (stamp 0: a full read takes them); writes after it are
    stamped."""
    db = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        db.migrate("0002")
        columns = ", ".join(_report("old"))
        values = ", ".join(f":{k}" for k in _report("old"))
        old = {
            k: (v.replace(tzinfo=None) if isinstance(v, datetime) else v)
            for k, v in _report("old").items()
        }
        with db.engine.begin() as conn:
            conn.execute(text(f"INSERT INTO reports ({columns}) VALUES ({values})"), old)
        db.migrate()
        h0 = _report_horizon(db)
        assert _reports_since(db, h0) == {}
        with db.session() as s:
            assert [i.id for i in ReportRepository(s).active_incidents(None)] == ["old"]
            ReportRepository(s).set_status("old", ReportStatus.verified, None, at=T0)
        assert _reports_since(db, h0) == {"old": "verified"}
    finally:
        db.dispose()
