"""RiskState refreshes, on both engines: an incremental refresh (reports or zones changed)
equals a full compute of the store, metrics included, and reads only what changed; a report
committed late is not missed; a full refresh lets incremental refreshes through while it
computes and takes in what they applied; later departures derived from the base field equal
a full compute at that instant; changes read after the base instant count as of it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy.orm import Session

from conftest import incident_row, store_incidents
from corridors.config import SHIPPED_DATA_DIR
from corridors.domain import Category, Incident, ReportStatus, Zone, ZoneKind
from corridors.graph.model import RoadGraph
from corridors.graph.synthetic import synthetic_city
from corridors.ingest import FUTURE_TOLERANCE
from corridors.risk.config import load_risk_model
from corridors.risk.engine import RiskEngine, RiskField
from corridors.services import risk_state
from corridors.services.reports import incidents_for_risk
from corridors.services.risk_state import RiskState
from corridors.services.zones import active_zones
from corridors.store import Database, ReportRepository, ZoneRepository, ZoneRow
from corridors.store.changes import ChangeHorizon

CFG = load_risk_model(SHIPPED_DATA_DIR / "risk-model.toml")
# 14:00 UTC: daytime in Port-au-Prince.
AT = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = AT

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def graph() -> RoadGraph:
    return synthetic_city(12, 12, seed=3)


@pytest.fixture
def db(database: Database) -> Database:
    """A migrated, empty database on each engine (conftest)."""
    return database


def _bounds(graph: RoadGraph) -> tuple[float, float, float, float]:
    return (
        float(graph.node_lon.min()),
        float(graph.node_lat.min()),
        float(graph.node_lon.max()),
        float(graph.node_lat.max()),
    )


def _incidents(graph: RoadGraph, n: int, seed: int, prefix: str = "r") -> list[Incident]:
    """Reports of every category over the past two days: many pass their maximum age
    within a day (roadblocks, riots) and some expire."""
    rng = np.random.default_rng(seed)
    lon0, lat0, lon1, lat1 = _bounds(graph)
    cats = list(Category)
    return [
        Incident(
            id=f"{prefix}{k}",
            occurred_at=AT - timedelta(hours=float(rng.uniform(0.5, 48.0))),
            lon=float(rng.uniform(lon0, lon1)),
            lat=float(rng.uniform(lat0, lat1)),
            category=cats[k % len(cats)],
            severity=int(rng.integers(1, 6)),
            uncertainty_m=float(rng.choice([0.0, 150.0])),
            fatalities=int(rng.integers(0, 3)),
            source_reliability="B",
            credibility=2,
            expires_at=AT + timedelta(hours=float(rng.uniform(1, 20))) if k % 7 == 0 else None,
            status=ReportStatus.verified if k % 2 else ReportStatus.active,
        )
        for k in range(n)
    ]


def _store(db: Database, incidents: list[Incident]) -> None:
    store_incidents(db, incidents, stored_at=AT)


def _set_status(db: Database, report_id: str, status: ReportStatus) -> None:
    with db.session() as s:
        ReportRepository(s).set_status(report_id, status, None, at=AT)
        s.commit()


def _add_zone(db: Database, graph: RoadGraph, zone_id: str, kind: str, **kw: object) -> None:
    lon0, lat0, lon1, lat1 = _bounds(graph)
    dx, dy = lon1 - lon0, lat1 - lat0
    shape = (
        box(lon0 + 0.6 * dx, lat0 + 0.6 * dy, lon0 + 0.8 * dx, lat0 + 0.8 * dy)
        if kind == "no_go"
        else box(lon0 + 0.1 * dx, lat0 + 0.1 * dy, lon0 + 0.5 * dx, lat0 + 0.4 * dy)
    )
    with db.session() as s:
        ZoneRepository(s).add(
            ZoneRow(
                id=zone_id,
                name=zone_id,
                kind=kind,
                geometry=shapely.to_geojson(shape),
                multiplier=2.5 if kind == "caution" else 1.0,
                created_at=AT,
                created_by="test",
                **kw,
            )
        )
        s.commit()


def _end_zone(db: Database, zone_id: str, at: datetime) -> None:
    with db.session() as s:
        ZoneRepository(s).end(zone_id, at=at)
        s.commit()


_REFERENCE: dict[int, RiskEngine] = {}


def _reference(graph: RoadGraph) -> RiskEngine:
    """An engine of its own for reference computes (the state's engine is watched)."""
    return _REFERENCE.setdefault(id(graph), RiskEngine(graph, CFG))


def _full(state: RiskState, at: datetime) -> RiskField:
    """A full compute of what the store holds, at ``at``."""
    incidents = incidents_for_risk(state.db, at + 2 * FUTURE_TOLERANCE)
    return _reference(state.graph).compute(incidents, active_zones(state.db, at), at=at)


def _assert_same(got: RiskField, want: RiskField, rtol: float = 1e-9) -> None:
    np.testing.assert_allclose(
        got.segment_risk_per_km, want.segment_risk_per_km, rtol=rtol, atol=1e-9
    )
    np.testing.assert_allclose(got.edge_risk_per_km, want.edge_risk_per_km, rtol=rtol, atol=1e-9)
    np.testing.assert_array_equal(got.edge_blocked, want.edge_blocked)
    assert got.computed_at == want.computed_at
    assert got.report_ids == want.report_ids
    assert got.reports_considered == want.reports_considered
    assert [got.zone_of(e) for e in range(0, got.edge_blocked.shape[0], 7)] == [
        want.zone_of(e) for e in range(0, want.edge_blocked.shape[0], 7)
    ]


def _assert_metrics_match(state: RiskState, field: RiskField) -> None:
    """Every routing metric holds the weights of ``field``."""
    routing = state.routing
    for level in routing.cost_model.levels:
        np.testing.assert_allclose(
            routing.engine.weights(level), routing.level_weights(field, level), rtol=1e-9
        )


def _counting(monkeypatch: pytest.MonkeyPatch, state: RiskState) -> dict[str, int]:
    """Count full computes, full refreshes and incremental refreshes of ``state``."""
    calls = {"compute": 0, "refresh_now": 0, "apply_changes": 0}
    for obj, name in (
        (state.engine, "compute"),
        (state, "refresh_now"),
        (state, "apply_changes"),
    ):
        inner = getattr(obj, name)

        def wrapper(
            *args: object, _inner: object = inner, _name: str = name, **kw: object
        ) -> object:
            calls[_name] += 1
            return _inner(*args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(obj, name, wrapper)
    return calls


def test_incremental_refresh_equals_a_full_compute(
    graph: RoadGraph, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    incidents = _incidents(graph, 80, 1)
    _store(db, incidents)
    _add_zone(db, graph, "old-caution", "caution")
    state = RiskState(graph, db, CFG, clock=Clock(), refresh_interval_s=3600.0)
    calls = _counting(monkeypatch, state)
    base = state.field
    # New reports, a verified one, a retracted one, a new no-go zone, an ended zone.
    _store(db, _incidents(graph, 4, 2, prefix="new"))
    _set_status(db, "r2", ReportStatus.verified)
    _set_status(db, "r4", ReportStatus.retracted)
    _add_zone(db, graph, "nogo", "no_go")
    _end_zone(db, "old-caution", AT)
    field = state.apply_changes()
    assert calls == {"compute": 0, "refresh_now": 0, "apply_changes": 1}
    assert field is not base
    assert field.edge_blocked.any()
    assert "new0" in field.report_ids
    assert "r4" not in field.report_ids
    _assert_same(field, _full(state, AT))
    _assert_metrics_match(state, field)
    # Nothing new: the same field, metrics untouched.
    assert state.apply_changes() is field
    # More changes on top: still measured from the base.
    _set_status(db, "new1", ReportStatus.retracted)
    _set_status(db, "r4", ReportStatus.active)
    _end_zone(db, "nogo", AT)
    field = state.apply_changes()
    assert calls["compute"] == 0
    assert not field.edge_blocked.any()
    _assert_same(field, _full(state, AT))
    _assert_metrics_match(state, field)


def test_later_departures_derive_from_the_base_and_equal_a_full_compute(
    graph: RoadGraph, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(db, _incidents(graph, 80, 3))
    state = RiskState(graph, db, CFG, clock=Clock(), refresh_interval_s=3600.0)
    _store(db, _incidents(graph, 3, 4, prefix="new"))
    _set_status(db, "r5", ReportStatus.retracted)
    _add_zone(db, graph, "nogo", "no_go")
    state.apply_changes()
    calls = _counting(monkeypatch, state)
    for hours in (1.0, 6.0, 13.0, 30.0):
        at = AT + timedelta(hours=hours)
        field = state.field_at(at)
        assert field.computed_at == at
        assert state.field_at(at) is field  # cached
        # Reports passed their maximum age or expired meanwhile: no fallback compute.
        assert calls["compute"] == 0
        _assert_same(field, _full(state, at), rtol=1e-5)
    assert field.reports_considered < state.field.reports_considered - 10
    # A zone stored since, starting later: on the derived fields from its start.
    _add_zone(db, graph, "later", "caution", valid_from=AT + timedelta(hours=8))
    state.apply_changes()
    for hours in (7.0, 9.0):
        at = AT + timedelta(hours=hours)
        _assert_same(state.field_at(at), _full(state, at), rtol=1e-5)
    assert calls["compute"] == 0
    # An earlier instant: a full compute.
    at = AT - timedelta(hours=2)
    _assert_same(state.field_at(at), _full(state, at))
    assert calls["compute"] == 1


def test_changes_read_after_the_base_instant_count_as_of_it(
    graph: RoadGraph, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(db, _incidents(graph, 40, 5))
    clock = Clock()
    state = RiskState(graph, db, CFG, clock=clock, refresh_interval_s=3600.0)
    calls = _counting(monkeypatch, state)
    clock.now = AT + timedelta(minutes=2)
    fresh = _incidents(graph, 1, 6, prefix="fresh")[0]
    fresh = replace(fresh, occurred_at=AT + timedelta(minutes=1), expires_at=None)
    _store(db, [fresh])
    _add_zone(db, graph, "nogo", "no_go", valid_from=AT + timedelta(minutes=1))
    field = state.apply_changes()
    assert calls["refresh_now"] == 0
    # Still the base instant, with the report as if it had occurred then and the zone on.
    assert field.computed_at == AT
    assert "fresh0" in field.report_ids
    assert field.edge_blocked.any()
    incidents = incidents_for_risk(db, AT + timedelta(minutes=20))
    as_of = [replace(i, occurred_at=AT) if i.id == "fresh0" else i for i in incidents]
    zones = [replace(z, valid_from=None) for z in active_zones(db, clock.now)]
    _assert_same(field, _reference(graph).compute(as_of, zones, at=AT))
    _assert_metrics_match(state, field)
    # The current field serves "now" (no ad-hoc field, no ad-hoc metrics).
    assert state.field_at(clock.now) is field
    # Later departures are exact: the report at its real age.
    at = AT + timedelta(hours=2)
    _assert_same(state.field_at(at), _full(state, at), rtol=1e-5)
    # Five minutes on, time decay is due: a full refresh at the current time.
    clock.now = AT + timedelta(minutes=6)
    assert calls["compute"] == 0
    field = state.apply_changes()
    assert calls["compute"] == 1
    assert field.computed_at == clock.now
    _assert_same(field, _full(state, clock.now))


def test_many_changes_fall_back_to_a_full_refresh(
    graph: RoadGraph, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(db, _incidents(graph, 20, 7))
    state = RiskState(graph, db, CFG, clock=Clock(), refresh_interval_s=3600.0)
    calls = _counting(monkeypatch, state)
    monkeypatch.setattr(risk_state, "_MAX_CHANGED_REPORTS", 2)
    _store(db, _incidents(graph, 3, 8, prefix="new"))
    field = state.apply_changes()
    assert calls["compute"] == 1
    _assert_same(field, _full(state, AT))
    _assert_metrics_match(state, field)


@contextmanager
def _running_after_a_new_report(
    graph: RoadGraph,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    refresh_interval_s: float,
    timeout_s: float,
) -> Iterator[tuple[RiskState, dict[str, int]]]:
    """A RiskState over 20 stored reports, its background threads running, once a new
    report ``new0`` stored after the start is in its field; stopped on leaving. Yields
    the state and its call counts (:func:`_counting`)."""
    _store(db, _incidents(graph, 20, seed))
    state = RiskState(graph, db, CFG, clock=Clock(), refresh_interval_s=refresh_interval_s)
    calls = _counting(monkeypatch, state)
    state.start()
    try:
        _store(db, _incidents(graph, 1, seed + 1, prefix="new"))
        state.changed("reports")
        assert state.wait_fresh(timeout_s=timeout_s)
        assert "new0" in state.field.report_ids
        yield state, calls
    finally:
        state.stop()


def test_background_refresh_is_incremental_on_changes(
    graph: RoadGraph, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _running_after_a_new_report(graph, db, monkeypatch, 9, 3600.0, 30) as (state, calls):
        assert calls["apply_changes"] == 1
        assert calls["refresh_now"] == 0
    _assert_same(state.field, _full(state, AT))


def test_incremental_refresh_reads_only_what_changed(
    graph: RoadGraph, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(db, _incidents(graph, 30, 15))
    state = RiskState(graph, db, CFG, clock=Clock(), refresh_interval_s=3600.0)
    full_reads: list[object] = []
    changed: list[str] = []
    read_all, read_since = ReportRepository.active_incidents, ReportRepository.changed_since

    def counted_all(self: ReportRepository, at: datetime | None) -> list[Incident]:
        full_reads.append(at)
        return read_all(self, at)

    def counted_since(self: ReportRepository, horizon: ChangeHorizon) -> list[Incident]:
        found = read_since(self, horizon)
        changed.extend(i.id for i in found)
        return found

    monkeypatch.setattr(ReportRepository, "active_incidents", counted_all)
    monkeypatch.setattr(ReportRepository, "changed_since", counted_since)
    _store(db, _incidents(graph, 2, 16, prefix="new"))
    _set_status(db, "r1", ReportStatus.retracted)
    field = state.apply_changes()
    assert full_reads == []
    assert sorted(changed) == ["new0", "new1", "r1"]
    assert "new0" in field.report_ids
    assert "r1" not in field.report_ids
    _assert_same(field, _full(state, AT))  # (a full read of its own)
    full_reads.clear()
    state.refresh_now()
    assert len(full_reads) == 1


def test_a_report_committed_late_is_not_missed(graph: RoadGraph, db: Database) -> None:
    """A report written before an incremental refresh and committed after it (on
    PostgreSQL while a later writer committed first) is taken in by the next one."""
    _store(db, _incidents(graph, 20, 11))
    state = RiskState(graph, db, CFG, clock=Clock(), refresh_interval_s=3600.0)
    late = Session(db.engine)
    try:
        ReportRepository(late).add(
            incident_row(_incidents(graph, 1, 17, prefix="late")[0], stored_at=AT)
        )
        if not db.is_sqlite:  # SQLite: the late writer holds the only write lock
            _store(db, _incidents(graph, 1, 18, prefix="early"))
        field = state.apply_changes()
        assert "late0" not in field.report_ids
        assert db.is_sqlite or "early0" in field.report_ids
        late.commit()
    finally:
        late.close()
    field = state.apply_changes()
    assert "late0" in field.report_ids
    _assert_same(field, _full(state, AT))
    _assert_metrics_match(state, field)


def test_a_full_refresh_lets_incremental_refreshes_through(
    graph: RoadGraph, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a full refresh reads and computes, changes are applied to the current field;
    the full refresh then installs a field with every change stored until then."""
    _store(db, _incidents(graph, 40, 12))
    state = RiskState(graph, db, CFG, clock=Clock(), refresh_interval_s=3600.0)
    computing, release = threading.Event(), threading.Event()
    compute = state.engine.compute

    def held(*args: object, **kw: object) -> RiskField:
        field = compute(*args, **kw)  # type: ignore[arg-type]
        if threading.current_thread().name == "full-refresh":
            computing.set()
            assert release.wait(120)
        return field

    monkeypatch.setattr(state.engine, "compute", held)
    result: dict[str, RiskField] = {}
    full = threading.Thread(
        target=lambda: result.setdefault("field", state.refresh_now()), name="full-refresh"
    )
    full.start()
    try:
        assert computing.wait(120)
        _store(db, _incidents(graph, 2, 13, prefix="during"))
        _set_status(db, "r3", ReportStatus.retracted)
        incremental = threading.Thread(target=state.apply_changes)
        incremental.start()
        incremental.join(60)
        assert not incremental.is_alive(), "the incremental refresh waited for the full one"
        assert "during0" in state.field.report_ids
        assert "r3" not in state.field.report_ids
        _assert_same(state.field, _full(state, AT))
        _assert_metrics_match(state, state.field)
        # Stored after that, before the full refresh installs its field: taken in too.
        _store(db, _incidents(graph, 1, 14, prefix="late"))
        _add_zone(db, graph, "nogo", "no_go")
    finally:
        release.set()
        full.join(120)
    field = result["field"]
    assert field is state.field
    assert {"during0", "during1", "late0"} <= field.report_ids
    assert "r3" not in field.report_ids
    assert field.edge_blocked.any()
    _assert_same(field, _full(state, AT))
    _assert_metrics_match(state, field)


@pytest.mark.parametrize("staged", [True, False])
def test_reports_reach_routes_while_a_full_refresh_customises(
    graph: RoadGraph, db: Database, monkeypatch: pytest.MonkeyPatch, staged: bool
) -> None:
    """Staged (small graphs): while the full refresh customises the spare metrics, a new
    report and a retraction reach the live metrics at once. In place (large graphs) the
    incremental refresh waits for it. Either way the full refresh then installs a field
    and metrics with every change."""
    _store(db, _incidents(graph, 40, 21))
    clock = Clock()
    state = RiskState(graph, db, CFG, clock=clock, refresh_interval_s=3600.0)
    state.routing.staged_refresh = staged
    clock.now = AT + timedelta(minutes=1)  # decay: the full refresh changes every weight
    customising, release = threading.Event(), threading.Event()
    engine = state.routing.engine
    set_weights = engine.set_weights

    def held(key: object, weights: np.ndarray) -> object:
        stats = set_weights(key, weights)
        if threading.current_thread().name == "full-refresh":
            customising.set()
            assert release.wait(120)
        return stats

    monkeypatch.setattr(engine, "set_weights", held)
    result: dict[str, RiskField] = {}
    full = threading.Thread(
        target=lambda: result.setdefault("field", state.refresh_now()), name="full-refresh"
    )
    full.start()
    incremental = threading.Thread(target=state.apply_changes)
    try:
        assert customising.wait(120)
        _store(db, _incidents(graph, 1, 22, prefix="during"))
        _set_status(db, "r5", ReportStatus.retracted)
        incremental.start()
        incremental.join(0.5 if not staged else 60)
        if staged:
            assert not incremental.is_alive(), "the report waited for the full refresh"
            assert "during0" in state.field.report_ids
            assert "r5" not in state.field.report_ids
            _assert_metrics_match(state, state.field)
        else:
            assert incremental.is_alive()
    finally:
        release.set()
        full.join(120)
        incremental.join(60)
    assert not full.is_alive()
    assert "during0" in state.field.report_ids
    assert "r5" not in state.field.report_ids
    _assert_same(state.field, _full(state, clock.now))
    _assert_metrics_match(state, state.field)


def test_background_full_refreshes_run_beside_incremental_ones(
    graph: RoadGraph, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _running_after_a_new_report(graph, db, monkeypatch, 19, 0.05, 60) as (state, calls):
        deadline = time.monotonic() + 60
        while calls["refresh_now"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert calls["refresh_now"] >= 2
    assert calls["apply_changes"] >= 1
    _assert_same(state.field, _full(state, AT))
    _assert_metrics_match(state, state.field)


def test_zones_compare_by_content(graph: RoadGraph) -> None:
    """Zones compare by content: a zone whose geometry or validity changed is a change."""
    lon0, lat0, lon1, lat1 = _bounds(graph)
    a = Zone("z", "z", ZoneKind.caution, box(lon0, lat0, lon1, lat1))
    assert risk_state._zone_keys([a]) == risk_state._zone_keys([replace(a)])
    assert risk_state._zone_keys([a]) != risk_state._zone_keys(
        [replace(a, geometry=box(lon0, lat0, lon1, lat0 + (lat1 - lat0) / 2))]
    )
    assert risk_state._zone_keys([a]) != risk_state._zone_keys([replace(a, valid_until=AT)])


def test_field_caches_are_bounded_by_bytes_on_large_graphs() -> None:
    from corridors.services.risk_state import field_cache_size

    assert field_cache_size(33_406) == 32  # a 10k-node city: the count bound
    big = field_cache_size(3_368_949)  # 1M nodes: ~80 MB a field
    assert 8 <= big <= 16
    assert big * 3_368_949 * 24 <= 1024 * 2**20
