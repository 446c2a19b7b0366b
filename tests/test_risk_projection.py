"""Risk field projection to a later instant: equal to a full compute there (reports passing
their maximum age or expiring in between included), and refused when an input changes in
between (a later report, a zone starting or ending); RiskState.field_at uses it for later
departures."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import box

from conftest import incident_row
from corridors.config import SHIPPED_DATA_DIR
from corridors.domain import Category, Incident, ReportStatus, Zone, ZoneKind
from corridors.graph.model import RoadGraph
from corridors.graph.synthetic import synthetic_city
from corridors.risk.config import load_risk_model
from corridors.risk.engine import RiskEngine, RiskField
from corridors.services.risk_state import RiskState
from corridors.store import Database

CFG = load_risk_model(SHIPPED_DATA_DIR / "risk-model.toml")
# 14:00 UTC = 09:00/10:00 in Port-au-Prince: daytime; +13 h is night there.
AT = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
#: Offsets the projections are checked at (the last two are at night in Port-au-Prince).
OFFSETS = [timedelta(minutes=30), timedelta(hours=3.5), timedelta(hours=13), timedelta(hours=20)]
#: No report may reach its maximum age within this after AT in the random sets.
SPAN = timedelta(hours=21)


@pytest.fixture(scope="module")
def graph() -> RoadGraph:
    return synthetic_city(12, 12, seed=3)


@pytest.fixture(scope="module")
def engine(graph: RoadGraph) -> RiskEngine:
    return RiskEngine(graph, CFG)


def _bounds(graph: RoadGraph) -> tuple[float, float, float, float]:
    return (
        float(graph.node_lon.min()),
        float(graph.node_lat.min()),
        float(graph.node_lon.max()),
        float(graph.node_lat.max()),
    )


def _random_incidents(
    graph: RoadGraph, n: int, seed: int, *, ending: bool = False
) -> list[Incident]:
    """Reports of every category, none expiring or reaching its maximum age within SPAN
    (with ``ending``: many do, and some expire)."""
    rng = np.random.default_rng(seed)
    lon0, lat0, lon1, lat1 = _bounds(graph)
    cats = list(Category)
    span_h = SPAN.total_seconds() / 3600.0
    out = []
    for k in range(n):
        cat = cats[k % len(cats)]
        max_age_h = CFG.max_age_half_lives * CFG.categories[cat].half_life_h
        if ending:
            age_h = rng.uniform(max(0.0, max_age_h - 2 * span_h), max_age_h)
        else:
            age_h = rng.uniform(0.0, max_age_h - span_h)
        expires_at = None
        if ending and k % 5 == 0:
            expires_at = AT + timedelta(hours=float(rng.uniform(0.1, span_h)))
        # Some reports share a place (grouped kernels of different decay classes).
        place = int(rng.integers(0, 15)) if k % 3 == 0 else None
        lon: float
        lat: float
        if place is not None:
            lon = lon0 + (lon1 - lon0) * (0.1 + 0.05 * place)
            lat = lat0 + (lat1 - lat0) * (0.2 + 0.04 * place)
        else:
            lon, lat = float(rng.uniform(lon0, lon1)), float(rng.uniform(lat0, lat1))
        out.append(
            Incident(
                id=f"r{k}",
                occurred_at=AT - timedelta(hours=float(age_h)),
                lon=float(lon),
                lat=float(lat),
                category=cat,
                severity=int(rng.integers(1, 6)),
                uncertainty_m=float(rng.choice([0.0, 150.0, 750.0])),
                fatalities=int(rng.integers(0, 4)),
                source_reliability="B",
                credibility=2,
                expires_at=expires_at,
                status=ReportStatus.verified if k % 2 else ReportStatus.active,
            )
        )
    return out


def _zones(graph: RoadGraph) -> list[Zone]:
    lon0, lat0, lon1, lat1 = _bounds(graph)
    dx, dy = lon1 - lon0, lat1 - lat0
    return [
        Zone(
            "caution",
            "caution",
            ZoneKind.caution,
            box(lon0 + 0.1 * dx, lat0 + 0.1 * dy, lon0 + 0.6 * dx, lat0 + 0.5 * dy),
            multiplier=2.5,
            valid_from=AT - timedelta(days=1),
            valid_until=AT + timedelta(days=3),
        ),
        Zone(
            "nogo",
            "nogo",
            ZoneKind.no_go,
            box(lon0 + 0.7 * dx, lat0 + 0.7 * dy, lon0 + 0.9 * dx, lat0 + 0.9 * dy),
        ),
    ]


def _assert_close(projected: RiskField, full: RiskField) -> None:
    np.testing.assert_allclose(
        projected.edge_risk_per_km, full.edge_risk_per_km, rtol=1e-5, atol=1e-9
    )
    np.testing.assert_allclose(
        projected.segment_risk_per_km, full.segment_risk_per_km, rtol=1e-5, atol=1e-9
    )
    np.testing.assert_array_equal(projected.edge_blocked, full.edge_blocked)
    np.testing.assert_array_equal(projected.edge_zone, full.edge_zone)
    assert projected.computed_at == full.computed_at
    assert projected.night_factor == full.night_factor
    assert projected.reports_considered == full.reports_considered
    assert projected.report_ids == full.report_ids


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("with_zones", [False, True])
def test_projection_equals_full_compute(
    graph: RoadGraph, engine: RiskEngine, seed: int, with_zones: bool
) -> None:
    incidents = _random_incidents(graph, 300, seed)
    zones = _zones(graph) if with_zones else []
    field = engine.compute(incidents, zones, at=AT)
    assert field.night_factor == 1.0
    assert field.segment_risk_per_km.max() > 1.0  # a non-trivial field
    for offset in OFFSETS:
        at = AT + offset
        assert field.can_project(at)
        projected = field.projected(at)
        full = engine.compute(incidents, zones, at=at)
        _assert_close(projected, full)
        if with_zones:
            assert projected.edge_blocked.any()
    night = field.projected(AT + timedelta(hours=13))
    assert night.night_factor == CFG.night.factor > 1.0
    # A projection of a projection is a projection of the original.
    twice = field.projected(AT + timedelta(hours=3)).projected(AT + timedelta(hours=20))
    _assert_close(twice, engine.compute(incidents, zones, at=AT + timedelta(hours=20)))


def test_fields_hold_edge_sized_zone_arrays_only_for_caution_zones_and_share_them(
    graph: RoadGraph, engine: RiskEngine
) -> None:
    """Memory: at 1M nodes an edge-sized float array is 21 MB, and a request may derive a
    field for each departure time it tries."""
    incidents = _random_incidents(graph, 60, 4)
    plain = engine.compute(incidents, at=AT)
    assert plain._zone_multiplier is None
    assert plain._zone_floor is None
    nogo_only = engine.compute(incidents, _zones(graph)[1:], at=AT)
    assert nogo_only.edge_blocked.any()
    assert nogo_only._zone_multiplier is None
    zoned = engine.compute(incidents, _zones(graph), at=AT)
    assert zoned._zone_multiplier is not None
    assert zoned._zone_floor is not None
    for derived in (
        zoned.projected(AT + timedelta(hours=13)),  # night: the factor is a scalar
        engine.updated(zoned, remove=["r1", "r2"]),
    ):
        assert derived._zone_multiplier is zoned._zone_multiplier
        assert derived._zone_floor is zoned._zone_floor
    # A projection makes its edges' risk only when read whole; a few edges read alone
    # give the same figures.
    night = zoned.projected(AT + timedelta(hours=13))
    some = np.arange(0, graph.edge_count, 7)
    partial = night.edge_risk_of(some)
    assert night._edge_risk is None
    updated = engine.updated(night, remove=["r3"])
    assert updated._edge_risk is None
    np.testing.assert_array_equal(partial, night.edge_risk_per_km[some])
    assert night._edge_risk is not None
    full = engine.compute(
        [i for i in incidents if i.id != "r3"], _zones(graph), at=night.computed_at
    )
    _assert_close(updated, full)
    # The caution zone still acts: risk is higher inside it than without zones.
    caution = zoned._zone_multiplier > 1.0
    assert (zoned.edge_risk_per_km[caution] > plain.edge_risk_per_km[caution]).all()


def test_projected_explanations_match_full_compute(graph: RoadGraph, engine: RiskEngine) -> None:
    incidents = _random_incidents(graph, 120, 5)
    at = AT + timedelta(hours=16)
    projected = engine.compute(incidents, at=AT).projected(at)
    full = engine.compute(incidents, at=at)
    edges = np.flatnonzero(full.edge_risk_per_km > 0.5)[:40]
    assert edges.shape[0] > 5
    for a, b in zip(
        projected.contributors_many(edges, top=5), full.contributors_many(edges, top=5), strict=True
    ):
        assert [rid for rid, _ in a] == [rid for rid, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-9)


@pytest.mark.parametrize("seed", [3, 4])
def test_projection_across_maximum_ages_and_expiries_equals_full_compute(
    graph: RoadGraph, engine: RiskEngine, seed: int
) -> None:
    incidents = _random_incidents(graph, 300, seed, ending=True)
    zones = _zones(graph)
    field = engine.compute(incidents, zones, at=AT)
    assert field.projectable_until is not None
    assert field.projectable_until > AT + SPAN
    for offset in OFFSETS:
        at = AT + offset
        projected = field.projected(at)
        full = engine.compute(incidents, zones, at=at)
        _assert_close(projected, full)
        assert projected.reports_considered < field.reports_considered
        edges = np.flatnonzero(full.edge_risk_per_km > 0.2)[:60]
        for a, b in zip(
            projected.contributors_many(edges, top=4),
            full.contributors_many(edges, top=4),
            strict=True,
        ):
            assert [rid for rid, _ in a] == [rid for rid, _ in b]
            np.testing.assert_allclose([v for _, v in a], [v for _, v in b], rtol=1e-9)
    # A projection of a projection is a projection of the original.
    twice = field.projected(AT + timedelta(hours=3)).projected(AT + timedelta(hours=20))
    _assert_close(twice, engine.compute(incidents, zones, at=AT + timedelta(hours=20)))


def test_updates_to_a_projection_equal_full_compute(graph: RoadGraph, engine: RiskEngine) -> None:
    """A projected field (some kernels ended) updated with added, replaced and removed
    reports equals a full compute of the changed set; so does the base field updated."""
    incidents = _random_incidents(graph, 200, 8, ending=True)
    at = AT + timedelta(hours=13)
    field = engine.compute(incidents, at=AT)
    projected = field.projected(at)
    # Reports whose acute term ended by `at` but whose chronic term still counts.
    partial = [
        i
        for i in incidents
        if i.category in CFG.chronic.categories
        and i.id in projected.report_ids
        and engine.report_weights([i], at=at, term="acute")[0] == 0
        and engine.report_weights([i], at=AT, term="acute")[0] > 0
    ]
    assert partial
    ended = [i for i in incidents if i.id in field.report_ids - projected.report_ids]
    assert ended
    new = _random_incidents(graph, 6, 9)
    new = [replace(i, id=f"new{k}", occurred_at=AT - timedelta(hours=1)) for k, i in enumerate(new)]
    removed = {partial[0].id, ended[0].id, incidents[2].id}
    changed = next(
        replace(i, severity=5, status=ReportStatus.verified)
        for i in incidents
        if i.id in projected.report_ids and i.id not in removed
    )
    after = [changed if i.id == changed.id else i for i in incidents if i.id not in removed] + new
    for base, instant in ((field, AT), (projected, at)):
        updated = engine.updated(base, add=[*new, changed], remove=removed)
        full = engine.compute(after, at=instant)
        np.testing.assert_allclose(
            updated.segment_risk_per_km, full.segment_risk_per_km, rtol=1e-5, atol=1e-9
        )
        assert updated.reports_considered == full.reports_considered
        assert updated.report_ids == full.report_ids


def test_projectable_until_is_the_first_occurrence_or_zone_change(
    graph: RoadGraph, engine: RiskEngine
) -> None:
    lon0, lat0, lon1, lat1 = _bounds(graph)
    mid = ((lon0 + lon1) / 2, (lat0 + lat1) / 2)

    def report(rid: str, cat: Category, age: timedelta, **kw: object) -> Incident:
        return Incident(
            id=rid,
            occurred_at=AT - age,
            lon=mid[0],
            lat=mid[1],
            category=cat,
            severity=3,
            **kw,  # type: ignore[arg-type]
        )

    # A roadblock 10 h old ends at 5 half-lives of 6 h = 30 h, 20 h from now; an armed clash
    # a day old has a long way to go (its chronic term: 5 x 180 days). The projection
    # drops the roadblock at its maximum age, as a full compute does.
    roadblock = report("rb", Category.roadblock, timedelta(hours=10))
    clash = report("ac", Category.armed_clash, timedelta(days=1))
    # Where only the roadblock reached, nothing is left: exactly zero, not rounding residue.
    ending = replace(roadblock, id="far", lon=lon0, lat=lat0)
    young = replace(roadblock, id="young", lon=lon1, lat=lat1, occurred_at=AT)
    field = engine.compute([ending, young], at=AT)
    gone = field.projected(AT + timedelta(hours=21)).segment_risk_per_km
    full = engine.compute([ending, young], at=AT + timedelta(hours=21)).segment_risk_per_km
    alone = (full == 0) & (field.segment_risk_per_km > 0)
    assert alone.any()
    np.testing.assert_array_equal(gone[alone], 0.0)
    field = engine.compute([roadblock, clash], at=AT)
    assert field.projectable_until == datetime.max.replace(tzinfo=UTC)
    assert not field.can_project(AT - timedelta(minutes=1))
    for at, ids in (
        (AT + timedelta(hours=20), {"rb", "ac"}),  # at the maximum age: still counts
        (AT + timedelta(hours=20, seconds=1), {"ac"}),
    ):
        projected = field.projected(at)
        assert projected.report_ids == ids
        _assert_close(projected, engine.compute([roadblock, clash], at=at))

    # An expiry in between: dropped from the projection at the expiry instant.
    expiring = report(
        "ex", Category.armed_clash, timedelta(hours=1), expires_at=AT + timedelta(hours=2)
    )
    field = engine.compute([clash, expiring], at=AT)
    assert field.can_project(AT + timedelta(hours=3))
    for at, count in (
        (AT + timedelta(hours=2) - timedelta(seconds=1), 2),
        (AT + timedelta(hours=2), 1),
    ):
        projected = field.projected(at)
        assert projected.reports_considered == count
        _assert_close(projected, engine.compute([clash, expiring], at=at))

    # A report dated after `at`, and a zone ending: the earliest wins.
    future = report("fu", Category.riot, -timedelta(hours=5))
    zone = Zone(
        "z",
        "z",
        ZoneKind.caution,
        box(lon0, lat0, lon1, lat1),
        valid_until=AT + timedelta(hours=7),
    )
    field = engine.compute([clash, future], [zone], at=AT)
    assert field.projectable_until == AT + timedelta(hours=5)
    assert not field.can_project(AT + timedelta(hours=5))
    with pytest.raises(ValueError, match="cannot be projected"):
        field.projected(AT + timedelta(hours=6))
    field = engine.compute([clash], [zone], at=AT)
    assert field.projectable_until == AT + timedelta(hours=7)
    # Nothing ever changes: any later instant.
    assert engine.compute([], at=AT).can_project(AT + timedelta(days=1000))


def test_incrementally_updated_field_is_not_projected(graph: RoadGraph, engine: RiskEngine) -> None:
    incidents = _random_incidents(graph, 30, 7)
    field = engine.compute(incidents[:20], at=AT)
    updated = engine.updated(field, add=incidents[20:])
    assert updated.projectable_until is None
    assert not updated.can_project(AT + timedelta(hours=1))
    with pytest.raises(ValueError, match="cannot be projected"):
        updated.projected(AT + timedelta(hours=1))


# ---------------------------------------------------------------------------------------------
# RiskState.field_at
# ---------------------------------------------------------------------------------------------


def _count_projections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the calls of :meth:`RiskField.projected` from now on (in ``[0]``)."""
    calls = [0]
    real = RiskField.projected

    def counting(self: RiskField, at: datetime) -> RiskField:
        calls[0] += 1
        return real(self, at)

    monkeypatch.setattr(RiskField, "projected", counting)
    return calls


def test_field_at_projects_a_later_departure_and_falls_back_on_a_zone_start(
    graph: RoadGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corridors.store import ReportRepository, ZoneRepository, ZoneRow

    db = Database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    db.migrate()
    incidents = _random_incidents(graph, 60, 11)
    expiring = Incident(
        id="x",
        occurred_at=AT - timedelta(hours=1),
        lon=incidents[0].lon,
        lat=incidents[0].lat,
        category=Category.sniper_fire,
        severity=4,
        expires_at=AT + timedelta(hours=6),
    )
    zone = _zones(graph)[1]
    with db.session() as s:
        repo = ReportRepository(s)
        for incident in [*incidents, expiring]:
            repo.add(incident_row(incident, stored_at=AT))
        ZoneRepository(s).add(
            ZoneRow(
                id="later",
                name="later",
                kind=zone.kind.value,
                geometry=shapely.to_geojson(zone.geometry),
                valid_from=AT + timedelta(hours=10),
                multiplier=1.0,
                created_at=AT,
                created_by="test",
            )
        )
        s.commit()
    state = RiskState(graph, db, CFG, clock=lambda: AT, refresh_interval_s=3600.0)
    projections = _count_projections(monkeypatch)
    try:
        # Before the expiry: a projection, equal to a full compute, cached.
        at = AT + timedelta(hours=4)
        field = state.field_at(at)
        assert projections[0] == 1
        full = state.engine.compute([*incidents, expiring], at=at)
        _assert_close(field, full)
        assert state.field_at(at) is field
        assert projections[0] == 1
        # After the expiry: still a projection, without the expired report.
        at = AT + timedelta(hours=7)
        field = state.field_at(at)
        assert projections[0] == 2
        assert "x" not in field.report_ids
        _assert_close(field, state.engine.compute(incidents, at=at))
        # After the zone starts: a full compute, with the zone.
        at = AT + timedelta(hours=11)
        field = state.field_at(at)
        assert projections[0] == 2
        assert field.edge_blocked.any()
        later = replace(zone, valid_from=AT + timedelta(hours=10))
        np.testing.assert_allclose(
            field.edge_risk_per_km,
            state.engine.compute(incidents, [later], at=at).edge_risk_per_km,
            rtol=1e-9,
        )
    finally:
        db.dispose()


def test_fields_derived_for_departures_are_let_go_at_the_next_refresh(
    graph: RoadGraph, tmp_path: Path
) -> None:
    import gc
    import weakref

    from corridors.store import ReportRepository

    db = Database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    db.migrate()
    with db.session() as s:
        for incident in _random_incidents(graph, 40, 12):
            ReportRepository(s).add(incident_row(incident, stored_at=AT))
        s.commit()
    state = RiskState(graph, db, CFG, clock=lambda: AT, refresh_interval_s=3600.0)
    try:
        at = AT + timedelta(hours=4)
        derived = weakref.ref(state.field_at(at))
        gc.collect()
        assert derived() is not None  # cached for the next request trying that departure
        assert state.field_at(at) is derived()
        state.refresh_now()
        gc.collect()
        assert derived() is None  # not held until the next request for a departure
        assert state.field_at(at) is not None
    finally:
        db.dispose()


def test_a_change_reuses_the_base_projections_until_a_full_refresh(
    graph: RoadGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report stored after the full refresh changes the fields derived for later
    departures without projecting the base again; they equal a full compute with it. A
    full refresh projects its own base, and caches none while it runs."""
    from corridors.store import ReportRepository

    db = Database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    db.migrate()
    incidents = _random_incidents(graph, 40, 13)
    with db.session() as s:
        for incident in incidents:
            ReportRepository(s).add(incident_row(incident, stored_at=AT))
        s.commit()
    state = RiskState(graph, db, CFG, clock=lambda: AT, refresh_interval_s=3600.0)
    projections = _count_projections(monkeypatch)
    try:
        at = AT + timedelta(hours=4)
        before = state.field_at(at)
        assert projections[0] == 1
        added = []
        for k in range(2):
            new = replace(incidents[k], id=f"new-{k}", occurred_at=AT - timedelta(minutes=5))
            added.append(new)
            with db.session() as s:
                ReportRepository(s).add(incident_row(new, stored_at=AT))
                s.commit()
            state.apply_changes()
            field = state.field_at(at)
            assert projections[0] == 1, "the base's projection is reused"
            assert field is not before
            assert f"new-{k}" in field.report_ids
            _assert_close(field, state.engine.compute([*incidents, *added], at=at))
        # A full refresh: the new base is projected, nothing cached while it ran.
        real_full = state._full_picture
        during: list[int] = []

        def full_picture(now: datetime):  # type: ignore[no-untyped-def]
            state.field_at(AT + timedelta(hours=2))
            during.append(len(state._projected))
            return real_full(now)

        monkeypatch.setattr(state, "_full_picture", full_picture)
        state.refresh_now()
        assert during == [0]
        calls = projections[0]
        field = state.field_at(at)
        assert projections[0] == calls + 1
        _assert_close(field, state.engine.compute([*incidents, *added], at=at))
    finally:
        db.dispose()
