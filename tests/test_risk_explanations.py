"""Explanations computed ahead (risk.explanations): the table answers as on-demand
explanation does, is shared with the fields derived at the same instant except where their
reports changed (a retracted report never shows), is dropped by a projection; a full
refresh explains its field before installing it, and the service's full-refresh thread
explains any field installed unexplained (start-up, a change that had to compute in full)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from shapely.geometry import box

from conftest import store_incidents
from corridors.config import SHIPPED_DATA_DIR
from corridors.domain import Category, Incident, ReportStatus, Zone, ZoneKind
from corridors.graph.model import RoadGraph
from corridors.risk import engine as engine_module
from corridors.risk.config import load_risk_model
from corridors.risk.engine import RiskEngine, RiskField
from corridors.risk.explanations import Contributors, Explained, ExplanationTable
from corridors.services.risk_state import RiskState
from corridors.store import Database, ReportRepository

CFG = load_risk_model(SHIPPED_DATA_DIR / "risk-model.toml")
AT = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
_CATS = [Category.armed_clash, Category.roadblock, Category.abduction, Category.looting]


@pytest.fixture(scope="module")
def engine(small_city: RoadGraph) -> RiskEngine:
    return RiskEngine(small_city, CFG)


def _incidents(graph: RoadGraph, n: int, seed: int, prefix: str = "r") -> list[Incident]:
    rng = np.random.default_rng(seed)
    nodes = rng.integers(0, graph.node_count, n)
    return [
        Incident(
            id=f"{prefix}{k}",
            occurred_at=AT - timedelta(hours=float(rng.uniform(0, 30))),
            lon=float(graph.node_lon[node] + rng.normal(0, 3e-4)),
            lat=float(graph.node_lat[node] + rng.normal(0, 3e-4)),
            category=_CATS[k % len(_CATS)],
            severity=int(rng.integers(2, 6)),
            source_reliability="A",
            credibility=1,
            status=ReportStatus.verified,
        )
        for k, node in enumerate(nodes.tolist())
    ]


def _assert_same_explanations(got: RiskField, want: RiskField, top: int = 3) -> None:
    edges = np.arange(got.edge_risk_per_km.shape[0])
    got_all, want_all = got.contributors_many(edges, top), want.contributors_many(edges, top)
    for a, b in zip(got_all, want_all, strict=True):
        assert [rid for rid, _ in a] == [rid for rid, _ in b]
        assert [s for _, s in a] == pytest.approx([s for _, s in b], rel=1e-9)


def _no_on_demand(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("explained on demand")

    monkeypatch.setattr(RiskEngine, "_explain", refuse)


def _hot_edges(field: RiskField) -> np.ndarray:
    return np.flatnonzero(field.edge_risk_per_km >= field.levels.high)


def test_warmed_table_answers_like_on_demand_explanation(
    small_city: RoadGraph, engine: RiskEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    incidents = _incidents(small_city, 20, 1)
    cold = engine.compute(incidents, at=AT)
    warm = engine.compute(incidents, at=AT)
    hot = _hot_edges(warm)
    assert 0 < hot.shape[0] < small_city.edge_count  # some edges high, some not
    count = warm.warm_explanations()
    assert count == np.unique(warm.edge_segment[hot]).shape[0]
    assert warm.warm_explanations() == 0  # once per field
    table = warm.explanation_table
    assert table is not None
    assert table.nbytes > 0
    _no_on_demand(monkeypatch)
    hot_answers = warm.contributors_many(hot)  # from the table
    with pytest.raises(AssertionError, match="on demand"):
        warm.contributors(int(np.flatnonzero(warm.edge_risk_per_km < warm.levels.high)[0]))
    monkeypatch.undo()
    assert hot_answers == cold.contributors_many(hot)
    for top in (1, 2, 3, 4):  # 4: more than the table holds, explained on demand
        _assert_same_explanations(warm, cold, top)


def test_derived_fields_share_the_table_except_where_reports_changed(
    small_city: RoadGraph, engine: RiskEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    incidents = _incidents(small_city, 20, 2)
    base = engine.compute(incidents, at=AT)
    assert base.warm_explanations() > 0
    hot = _hot_edges(base)
    # The strongest report of a hot edge is retracted, a new one lands elsewhere.
    victim = base.contributors(int(hot[0]))[0][0]
    added = _incidents(small_city, 1, 9, prefix="new")
    derived = engine.updated(base, add=added, remove=[victim])
    assert derived.explanation_table is base.explanation_table
    assert derived.warm_explanations() == 0  # derived fields use their base's table
    reference = engine.compute([i for i in incidents if i.id != victim] + added, at=AT)  # no table
    _assert_same_explanations(derived, reference)
    edges = np.arange(small_city.edge_count)
    assert all(victim not in dict(e) for e in derived.contributors_many(edges))
    # Zones change no explanation (shares are of the risk before zones): still the table.
    caution = Zone(
        id="z", name="z", kind=ZoneKind.caution, geometry=box(-180, -90, 180, 90), multiplier=2.0
    )
    zoned = engine.with_zones(base, [caution])
    assert zoned.explanation_table is base.explanation_table
    _no_on_demand(monkeypatch)
    assert zoned.contributors_many(hot) == base.contributors_many(hot)


def test_a_projection_starts_without_a_table(small_city: RoadGraph, engine: RiskEngine) -> None:
    base = engine.compute(_incidents(small_city, 20, 3), at=AT)
    base.warm_explanations()
    later = base.projected(AT + timedelta(hours=2))
    assert later.explanation_table is None
    assert later.warm_explanations() > 0
    assert later.explanation_table is not base.explanation_table


def _lookup(table: ExplanationTable, segments: np.ndarray, top: int, usable=None) -> list:
    """The table's entries as one list per segment, None where it does not answer."""
    found, known = table.entries(segments, top, usable)
    answers = iter(known.lists())
    return [next(answers) if f else None for f in found.tolist()]


def test_table_lookup() -> None:
    names = ("a", "b", "c", "d", "e", "unused")
    explained = Explained(
        np.array([2, 0, 3]), np.array([0, 1, 2, 3, 4]), np.array([0.6, 0.4, 0.5, 0.3, 0.2])
    )
    table = ExplanationTable.build(3, np.array([2, 5, 9]), explained, names)
    got = _lookup(table, np.array([9, 3, 2, 5, 10, 9]), 2)
    assert got == [[("c", 0.5), ("d", 0.3)], None, [("a", 0.6), ("b", 0.4)], [], None, got[0]]
    assert _lookup(table, np.array([2]), 4) == [None]  # more than it holds
    assert _lookup(table, np.array([2, 5, 9]), 3) == explained.lists(names.__getitem__)
    usable = np.array([True, False, True])  # a segment reports changed since: not answered
    assert _lookup(table, np.array([2, 5, 9]), 3, usable) == [
        [("a", 0.6), ("b", 0.4)],
        None,
        [("c", 0.5), ("d", 0.3), ("e", 0.2)],
    ]
    empty = ExplanationTable.build(3, np.zeros(0, dtype=np.int64), Explained.empty(0), ())
    assert _lookup(empty, np.array([0, 1]), 3) == [None, None]


def test_table_ranks_its_names_by_id() -> None:
    """Entries are grouped and ordered as integers (route hotspots): ``rank`` must order
    the names as their ids sort, whatever order the reports were stored in."""
    names = ("r10", "r2", "b", "a", "r1")
    table = ExplanationTable.build(3, np.array([0]), Explained.empty(1), names)
    assert [names[i] for i in np.argsort(table.rank)] == sorted(names)
    _, known = table.entries(np.array([0]), 3)
    assert known.rank is table.rank
    assert known.names is names


def test_contributors_of_ids_merge_a_report_named_twice() -> None:
    known = Contributors.of_ids(np.array([2, 1]), ["b", "a", "b"], np.array([0.5, 0.2, 0.7]))
    assert known.report.tolist() == [1, 0, 1]  # one name per report
    assert known.ids == ["b", "a", "b"]
    assert known.lists() == [[("b", 0.5), ("a", 0.2)], [("b", 0.7)]]
    assert [known.names[i] for i in np.argsort(known.rank)] == ["a", "b"]


def test_explained_runs_concatenate() -> None:
    first = Explained(np.array([1, 0]), np.array([4]), np.array([1.0]))
    second = Explained(np.array([2]), np.array([1, 0]), np.array([0.7, 0.3]))
    both = Explained.concat([first, Explained.empty(1), second])
    assert both.lists("abcde".__getitem__) == [[("e", 1.0)], [], [], [("b", 0.7), ("a", 0.3)]]
    assert Explained.concat([]).lists(str) == []


def test_ties_are_ordered_by_report_id() -> None:
    seg = np.array([0, 0, 0, 1, 1, 1, 1])
    value = np.array([5.0, 2.0, 2.0, 3.0, 3.0, 3.0, 1.0])
    report = np.array([7, 3, 1, 2, 0, 5, 4])
    names = ["r9", "r1", "r0", "r5", "r2", "r3", "r6", "r4"]  # index -> id
    engine_module._ties_by_id(seg, report, value, names.__getitem__)
    assert [names[r] for r in report] == ["r4", "r1", "r5", "r0", "r3", "r9", "r2"]


def test_the_service_warms_the_new_base_and_never_shows_a_retracted_report(
    small_city: RoadGraph, database: Database
) -> None:
    store_incidents(database, _incidents(small_city, 20, 4), stored_at=AT)
    state = RiskState(small_city, database, CFG, clock=lambda: AT, refresh_interval_s=3600.0)
    assert state.field.explanation_table is None
    state.start()  # the full-refresh thread explains the base before waiting
    try:
        deadline = time.monotonic() + 30
        while state.field.explanation_table is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert state.field.explanation_table is not None
        assert state.warm_explanations() == 0
        hot = _hot_edges(state.field)
        victim = state.field.contributors(int(hot[0]))[0][0]
        with database.session() as s:
            ReportRepository(s).set_status(victim, ReportStatus.retracted, None, at=AT)
            s.commit()
        state.changed("reports")
        assert state.wait_fresh(timeout_s=30)
        field = state.field
        assert field.explanation_table is not None  # shared with the base
        assert victim not in field.report_ids
        edges = np.arange(small_city.edge_count)
        assert all(victim not in dict(e) for e in field.contributors_many(edges))
    finally:
        state.stop()


def test_a_full_refresh_installs_its_field_explained(
    small_city: RoadGraph, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_incidents(database, _incidents(small_city, 20, 6), stored_at=AT)
    now = [AT]
    state = RiskState(small_city, database, CFG, clock=lambda: now[0], refresh_interval_s=3600.0)
    installed: list[RiskField] = []
    state.add_listener(installed.append)
    now[0] = AT + timedelta(minutes=1)
    field = state.refresh_now()
    assert installed == [field]
    assert field.explanation_table is not None  # explained before any request could see it
    _no_on_demand(monkeypatch)
    hot = _hot_edges(field)
    assert hot.size
    assert all(field.contributors_many(hot))
    # An incremental refresh falling back to a full one installs sooner, unexplained.
    assert state.refresh_now(explain=False).explanation_table is None


def test_the_service_explains_the_field_an_incremental_refresh_computed_in_full(
    small_city: RoadGraph, database: Database
) -> None:
    store_incidents(database, _incidents(small_city, 20, 7), stored_at=AT)
    now = [AT]
    state = RiskState(small_city, database, CFG, clock=lambda: now[0], refresh_interval_s=3600.0)
    state.start()
    try:
        deadline = time.monotonic() + 30
        while state.field.explanation_table is None and time.monotonic() < deadline:
            time.sleep(0.02)
        first = state.field
        assert first.explanation_table is not None
        now[0] = AT + timedelta(minutes=10)  # the base is too old for a change: full compute
        store_incidents(database, _incidents(small_city, 1, 8, prefix="late"), stored_at=now[0])
        state.changed("reports")
        assert state.wait_fresh(timeout_s=30)
        assert state.field is not first
        assert "late0" in state.field.report_ids
        while state.field.explanation_table is None and time.monotonic() < deadline:
            time.sleep(0.02)  # the full-refresh thread, woken by the change, explains it
        assert state.field.explanation_table is not None
    finally:
        state.stop()


def test_a_cancelled_warm_up_leaves_the_field_to_be_warmed_again(
    small_city: RoadGraph, engine: RiskEngine
) -> None:
    field = engine.compute(_incidents(small_city, 20, 5), at=AT)
    assert field.warm_explanations(cancelled=lambda: True) == 0
    assert field.explanation_table is None
    assert field.warm_explanations() > 0
    assert field.explanation_table is not None
