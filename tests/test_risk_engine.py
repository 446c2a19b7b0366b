"""Risk engine: known answers by hand (quadrature of the kernel), decay, filters, zones, night,
explanation, and incremental updates equal to a full recompute."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from shapely.geometry import Polygon, box

from corridors.config import SHIPPED_DATA_DIR
from corridors.domain import Category, Incident, ReportStatus, Zone, ZoneKind
from corridors.errors import InputError
from corridors.graph.geo import LocalProjection
from corridors.graph.model import GraphMeta, RoadGraph
from corridors.risk import engine as engine_module
from corridors.risk.config import KernelParams, NightParams, load_risk_model
from corridors.risk.engine import RiskEngine, RiskField
from corridors.risk.layer import risk_feature_collection, risk_features
from corridors.risk.zones import edges_intersecting

CFG = load_risk_model(SHIPPED_DATA_DIR / "risk-model.toml")
#: The shipped model without its chronic term: the known answers of the acute term.
ACUTE = CFG.model_copy(update={"chronic": CFG.chronic.model_copy(update={"weight": 0.0})})
LON0, LAT0 = -72.335, 18.54
# 14:00 UTC = 09:00/10:00 in Port-au-Prince: daytime.
AT = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
_PLACE = LocalProjection(LON0, LAT0)


# ---------------------------------------------------------------------------------------------
# Hand-made graphs
# ---------------------------------------------------------------------------------------------


def make_graph(
    nodes_xy: Sequence[tuple[float, float]],
    streets: Sequence[tuple[int, int]],
    *,
    bends: dict[int, list[tuple[float, float]]] | None = None,
    one_way: Sequence[int] = (),
) -> RoadGraph:
    """A RoadGraph from node positions in metres around Port-au-Prince and street end pairs.

    Every street is two-way (two edges) unless its index is in ``one_way``; ``bends[i]`` adds
    interior vertices (metres) to street ``i``. Street ``i`` is named ``"street i"``.
    """
    bends = bends or {}
    xy = np.asarray(nodes_xy, dtype=float)
    lon, lat = _PLACE.to_lonlat(xy[:, 0], xy[:, 1])
    raw: list[tuple[int, int, int, list[tuple[float, float]]]] = []
    for i, (u, v) in enumerate(streets):
        inner = bends.get(i, [])
        pts = [tuple(xy[u]), *inner, tuple(xy[v])]
        raw.append((u, v, i, pts))
        if i not in one_way:
            raw.append((v, u, i, pts[::-1]))
    raw.sort(key=lambda r: r[0])
    m, n = len(raw), len(nodes_xy)
    offsets = np.zeros(n + 1, dtype=np.int64)
    for u, *_ in raw:
        offsets[u + 1] += 1
    offsets = np.cumsum(offsets)
    reverse = np.full(m, -1, dtype=np.int64)
    index = {(u, v, s): k for k, (u, v, s, _) in enumerate(raw)}
    for k, (u, v, s, _) in enumerate(raw):
        reverse[k] = index.get((v, u, s), -1)
    geo_off = [0]
    glon: list[float] = []
    glat: list[float] = []
    length = np.zeros(m)
    for k, (*_, pts) in enumerate(raw):
        p = np.asarray(pts, dtype=float)
        gl, ga = _PLACE.to_lonlat(p[:, 0], p[:, 1])
        glon.extend(gl.tolist())
        glat.extend(ga.tolist())
        geo_off.append(len(glon))
        length[k] = float(np.hypot(*np.diff(p, axis=0).T).sum())
    strings = ("", "residential", *[f"street {i}" for i in range(len(streets))])
    meta = GraphMeta(
        source="test",
        osm_timestamp=None,
        built_at=AT,
        bbox=(float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())),
    )
    return RoadGraph(
        meta=meta,
        node_osm_id=np.arange(1, n + 1, dtype=np.int64),
        node_lon=np.asarray(lon, dtype=float),
        node_lat=np.asarray(lat, dtype=float),
        edge_offsets=offsets,
        edge_tail=np.array([r[0] for r in raw], dtype=np.int32),
        edge_head=np.array([r[1] for r in raw], dtype=np.int32),
        edge_length_m=length,
        edge_duration_s=length / 10.0,
        edge_osm_way_id=np.array([r[2] + 1 for r in raw], dtype=np.int64),
        edge_name=np.array([r[2] + 2 for r in raw], dtype=np.int32),
        edge_ref=np.zeros(m, dtype=np.int32),
        edge_highway=np.ones(m, dtype=np.int32),
        edge_surface=np.zeros(m, dtype=np.int32),
        edge_maxspeed_kph=np.full(m, np.nan),
        edge_bridge=np.zeros(m, dtype=bool),
        edge_reverse=reverse,
        geometry_offsets=np.asarray(geo_off, dtype=np.int64),
        geometry_lon=np.asarray(glon, dtype=float),
        geometry_lat=np.asarray(glat, dtype=float),
        strings=strings,
    )


def grid_graph(size: int = 4, spacing_m: float = 200.0) -> RoadGraph:
    nodes = [(c * spacing_m, r * spacing_m) for r in range(size) for c in range(size)]
    streets = []
    for r in range(size):
        for c in range(size):
            k = r * size + c
            if c + 1 < size:
                streets.append((k, k + 1))
            if r + 1 < size:
                streets.append((k, k + size))
    return make_graph(nodes, streets)


def edges_of_street(graph: RoadGraph, street: int) -> list[int]:
    return [e for e in range(graph.edge_count) if int(graph.edge_name[e]) == street + 2]


def incident(
    rid: str,
    x_m: float,
    y_m: float,
    *,
    graph: RoadGraph,
    category: Category = Category.armed_clash,
    age: timedelta = timedelta(0),
    **kw: object,
) -> Incident:
    del graph  # positions are in the frame the graph's nodes were placed in
    lon, lat = _PLACE.to_lonlat(x_m, y_m)
    fields: dict[str, object] = {
        "severity": 3,
        "source_reliability": "A",
        "credibility": 1,
        "status": ReportStatus.verified,
    }
    fields.update(kw)
    return Incident(
        id=rid,
        occurred_at=AT - age,
        lon=float(lon),
        lat=float(lat),
        category=category,
        **fields,  # type: ignore[arg-type]
    )


def edge_xy(graph: RoadGraph, edge: int) -> np.ndarray:
    s, t = int(graph.geometry_offsets[edge]), int(graph.geometry_offsets[edge + 1])
    x, y = graph.projection.to_xy(graph.geometry_lon[s:t], graph.geometry_lat[s:t])
    return np.column_stack([x, y])


def hand_risk_per_km(
    poly: np.ndarray, px: float, py: float, weight: float, sigma: float, reach: float, shape: str
) -> float:
    """1000 x weight x (kernel integrated along the polyline) / length, by quadrature."""

    def density(d2: float) -> float:
        if d2 > reach * reach:
            return 0.0
        if shape == "gaussian":
            return math.exp(-d2 / (2 * sigma * sigma)) / (math.sqrt(2 * math.pi) * sigma)
        h = reach
        return 0.75 / h * (1 - d2 / (h * h))

    total = 0.0
    length = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(poly):
        seg = math.hypot(x1 - x0, y1 - y0)
        length += seg

        def along(
            t: float, x0: float = x0, y0: float = y0, x1: float = x1, y1: float = y1
        ) -> float:
            x = x0 + (x1 - x0) * t
            y = y0 + (y1 - y0) * t
            return density((x - px) ** 2 + (y - py) ** 2)

        # Break points where the segment crosses the kernel's cut-off circle (a jump).
        dx, dy, fx, fy = x1 - x0, y1 - y0, x0 - px, y0 - py
        qa, qb, qc = dx * dx + dy * dy, 2 * (fx * dx + fy * dy), fx * fx + fy * fy - reach**2
        disc = qb * qb - 4 * qa * qc
        breaks = [0.5]
        if disc > 0:
            roots = [(-qb - math.sqrt(disc)) / (2 * qa), (-qb + math.sqrt(disc)) / (2 * qa)]
            breaks += [r for r in roots if 0 < r < 1]
        value, _ = quad(along, 0.0, 1.0, limit=200, points=breaks, epsabs=1e-13, epsrel=1e-11)
        total += value * seg
    return 1000.0 * weight * total / length


# ---------------------------------------------------------------------------------------------
# Known answers
# ---------------------------------------------------------------------------------------------


def test_single_incident_beside_straight_street_matches_hand_formula() -> None:
    g = make_graph([(-400.0, 0.0), (400.0, 0.0)], [(0, 1)])
    engine = RiskEngine(g, ACUTE)
    # An armed clash 150 m north of the street, 100 m east of its middle, 2 dead, B2, active.
    inc = incident(
        "r1", 100.0, 150.0, graph=g, fatalities=2, source_reliability="B", credibility=2,
        status=ReportStatus.active, severity=4, uncertainty_m=200.0,
    )  # fmt: skip
    field = engine.compute([inc], at=AT)
    weight = 1.0 * 1.6 * (1 + 0.3 * math.log(3)) * 0.9 * 0.85 * 0.7  # from the toml by hand
    assert engine.report_weights([inc], at=AT)[0] == pytest.approx(weight)
    sigma = math.hypot(300.0, 0.5 * 200.0)
    px, py = g.projection.to_xy(inc.lon, inc.lat)
    expected = hand_risk_per_km(
        edge_xy(g, 0), float(px), float(py), weight, sigma, 3 * sigma, "gaussian"
    )
    assert expected > 0
    assert field.edge_risk_per_km[0] == pytest.approx(expected, rel=1e-6)
    assert field.edge_risk_per_km[1] == pytest.approx(expected, rel=1e-6)  # other direction
    assert field.reports_considered == 1
    assert field.config_version == CFG.version
    assert field.computed_at == AT


def test_straight_line_through_incident_collects_its_weight() -> None:
    # A 4 km street through the point: exposure (risk x km) = weight (mass within 3 sigma).
    g = make_graph([(-2000.0, 0.0), (2000.0, 0.0)], [(0, 1)])
    field = RiskEngine(g, ACUTE).compute([incident("r", 0.0, 0.0, graph=g)], at=AT)
    exposure = field.edge_risk_per_km[0] * 4.0
    assert exposure == pytest.approx(math.erf(3 / math.sqrt(2)), rel=1e-9)


def test_bent_street_and_long_pieces() -> None:
    g = make_graph(
        [(-300.0, 0.0), (300.0, 100.0)], [(0, 1)], bends={0: [(0.0, -50.0), (120.0, 60.0)]}
    )
    inc = incident("r", 20.0, 10.0, graph=g, category=Category.roadblock, uncertainty_m=30.0)
    sigma = math.hypot(60.0, 15.0)
    for piece in (7.0, 500.0):  # results do not depend on how edges are cut
        field = RiskEngine(g, CFG, max_piece_m=piece).compute([inc], at=AT)
        px, py = g.projection.to_xy(inc.lon, inc.lat)
        expected = hand_risk_per_km(
            edge_xy(g, 0), float(px), float(py), 0.8, sigma, 3 * sigma, "gaussian"
        )
        assert field.edge_risk_per_km[0] == pytest.approx(expected, rel=1e-6)


def test_epanechnikov_kernel_matches_hand_formula() -> None:
    cfg = ACUTE.model_copy(update={"kernel": KernelParams(shape="epanechnikov")})
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    inc = incident("r", 50.0, 200.0, graph=g)
    field = RiskEngine(g, cfg).compute([inc], at=AT)
    px, py = g.projection.to_xy(inc.lon, inc.lat)
    expected = hand_risk_per_km(
        edge_xy(g, 0), float(px), float(py), 1.0, 300.0, math.sqrt(5) * 300.0, "epanechnikov"
    )
    assert field.edge_risk_per_km[0] == pytest.approx(expected, rel=1e-6)


def test_beyond_cutoff_is_zero() -> None:
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    far = incident("far", 0.0, 3 * 300.0 + 1.0, graph=g)
    near = incident("near", 0.0, 3 * 300.0 - 5.0, graph=g)
    engine = RiskEngine(g, CFG)
    assert engine.compute([far], at=AT).edge_risk_per_km[0] == 0.0
    assert engine.compute([near], at=AT).edge_risk_per_km[0] > 0.0


# ---------------------------------------------------------------------------------------------
# Time: decay, replay, filters
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", [Category.roadblock, Category.armed_clash, Category.abduction])
def test_weight_halves_at_half_life(category: Category) -> None:
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    engine = RiskEngine(g, ACUTE)
    half = timedelta(hours=CFG.categories[category].half_life_h)
    fresh = incident("a", 0.0, 20.0, graph=g, category=category)
    old = incident("b", 0.0, 20.0, graph=g, category=category, age=half)
    older = incident("c", 0.0, 20.0, graph=g, category=category, age=2 * half)
    w = engine.report_weights([fresh, old, older], at=AT)
    assert w[1] == pytest.approx(w[0] / 2)
    assert w[2] == pytest.approx(w[0] / 4)
    r0 = engine.compute([fresh], at=AT).edge_risk_per_km[0]
    r1 = engine.compute([old], at=AT).edge_risk_per_km[0]
    assert r1 == pytest.approx(r0 / 2)


def test_reports_that_do_not_count_are_ignored() -> None:
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    engine = RiskEngine(g, ACUTE)
    limit = CFG.max_age_half_lives * CFG.categories[Category.armed_clash].half_life_h
    ignored = [
        incident("retracted", 0, 0, graph=g, status=ReportStatus.retracted),
        incident("future", 0, 0, graph=g, age=-timedelta(minutes=1)),
        incident("expired", 0, 0, graph=g, expires_at=AT),
        incident("too-old", 0, 0, graph=g, age=timedelta(hours=limit + 1)),
        incident("vague", 0, 0, graph=g, uncertainty_m=CFG.max_uncertainty_m + 1),
    ]
    field = engine.compute(ignored, at=AT)
    assert field.reports_considered == 0
    assert not field.edge_risk_per_km.any()
    counted = [
        incident("not-yet-expired", 0, 0, graph=g, expires_at=AT + timedelta(seconds=1)),
        incident("just-now", 0, 0, graph=g, age=timedelta(0)),
        incident("old-but-in", 0, 0, graph=g, age=timedelta(hours=limit - 1)),
    ]
    assert engine.compute(counted, at=AT).reports_considered == 3


def test_replay_of_a_past_day_ignores_later_reports() -> None:
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    engine = RiskEngine(g, CFG)
    early = incident("early", 0, 0, graph=g, age=timedelta(hours=30))
    late = incident("late", 0, 0, graph=g, age=timedelta(hours=2))
    past = AT - timedelta(hours=24)
    replay = engine.compute([early, late], at=past)
    alone = engine.compute([early], at=past)
    assert replay.reports_considered == 1
    assert replay.edge_risk_per_km[0] == alone.edge_risk_per_km[0]
    assert engine.compute([early, late], at=AT).reports_considered == 2


def test_naive_time_is_rejected() -> None:
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    with pytest.raises(InputError):
        RiskEngine(g, CFG).compute([], at=datetime(2026, 1, 1))


# ---------------------------------------------------------------------------------------------
# Zones and night
# ---------------------------------------------------------------------------------------------


def _box_m(g: RoadGraph, x0: float, y0: float, x1: float, y1: float) -> Polygon:
    del g
    lon0, lat0 = _PLACE.to_lonlat(x0, y0)
    lon1, lat1 = _PLACE.to_lonlat(x1, y1)
    return box(float(lon0), float(lat0), float(lon1), float(lat1))


def test_no_go_zone_blocks_exactly_the_crossing_edges() -> None:
    g = grid_graph(4, 200.0)
    # Street 0 runs (0,0)-(200,0); a box around its middle touches nothing else.
    zone = Zone("z-nogo", "bridge", ZoneKind.no_go, _box_m(g, 90, -20, 110, 20))
    engine = RiskEngine(g, CFG)
    field = engine.compute([], [zone], at=AT)
    expected = sorted(edges_of_street(g, 0))
    assert len(expected) == 2
    assert np.flatnonzero(field.edge_blocked).tolist() == expected
    assert edges_intersecting(engine, zone.geometry).tolist() == expected
    assert edges_intersecting(g, zone.geometry).tolist() == expected
    assert field.zone_of(expected[0]) == "z-nogo"
    assert field.blocking_zone_ids() == ["z-nogo"]
    assert field.zone_of(int(np.flatnonzero(~field.edge_blocked)[0])) is None
    # A box around an intersection blocks the four streets meeting there (node (200, 200)).
    hub = Zone("z-hub", "hub", ZoneKind.no_go, _box_m(g, 190, 190, 210, 210))
    blocked = np.flatnonzero(engine.compute([], [hub], at=AT).edge_blocked)
    ends = {(int(g.edge_tail[e]), int(g.edge_head[e])) for e in blocked}
    assert all(5 in pair for pair in ends)
    assert len(blocked) == 8


def test_zone_validity_window() -> None:
    g = grid_graph(3, 200.0)
    geometry = _box_m(g, 90, -20, 110, 20)
    engine = RiskEngine(g, CFG)
    ended = Zone("old", "old", ZoneKind.no_go, geometry, valid_until=AT)
    future = Zone("new", "new", ZoneKind.no_go, geometry, valid_from=AT + timedelta(hours=1))
    assert not engine.compute([], [ended, future], at=AT).edge_blocked.any()
    assert engine.compute([], [future], at=AT + timedelta(hours=2)).edge_blocked.any()


def test_caution_zone_multiplies_and_floors() -> None:
    g = grid_graph(3, 200.0)
    engine = RiskEngine(g, CFG)
    inc = incident("r", 100.0, 30.0, graph=g)
    base = engine.compute([inc], at=AT)
    street0 = edges_of_street(g, 0)
    zone = Zone("c1", "market", ZoneKind.caution, _box_m(g, 90, -20, 110, 20), multiplier=3.0)
    field = engine.compute([inc], [zone], at=AT)
    inside = np.zeros(g.edge_count, dtype=bool)
    inside[street0] = True
    assert base.edge_risk_per_km[street0[0]] > CFG.zones.caution_floor_per_km
    np.testing.assert_allclose(field.edge_risk_per_km[inside], 3.0 * base.edge_risk_per_km[inside])
    np.testing.assert_array_equal(field.edge_risk_per_km[~inside], base.edge_risk_per_km[~inside])
    assert field.zone_of(street0[0]) == "c1"
    assert not field.edge_blocked.any()
    # No multiplier given (1.0): the default; a quiet area gets the floor.
    quiet = Zone("c2", "quiet", ZoneKind.caution, _box_m(g, 390, 290, 410, 310))
    only = engine.compute([], [quiet], at=AT)
    hit = only.edge_risk_per_km > 0
    assert hit.sum() == 2
    np.testing.assert_allclose(
        only.edge_risk_per_km[hit],
        CFG.zones.caution_floor_per_km * CFG.zones.caution_default_multiplier,
    )
    # Zones can be swapped without recomputing reports.
    swapped = engine.with_zones(base, [zone])
    np.testing.assert_allclose(swapped.edge_risk_per_km, field.edge_risk_per_km)


def test_night_factor() -> None:
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    engine = RiskEngine(g, CFG)
    # 03:00 UTC = 22:00 or 23:00 in Port-au-Prince (UTC-5/-4): night.
    night_at = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    day_at = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    inc = incident("r", 0, 0, graph=g, age=AT - datetime(2026, 11, 23, 0, 0, tzinfo=UTC))
    night = engine.compute([inc], at=night_at)
    # Same age at both instants: shift the report with the clock.
    inc_day = replace(inc, occurred_at=inc.occurred_at - (night_at - day_at))
    day = engine.compute([inc_day], at=day_at)
    assert night.night_factor == CFG.night.factor
    assert day.night_factor == 1.0
    assert night.edge_risk_per_km[0] == pytest.approx(CFG.night.factor * day.edge_risk_per_km[0])
    off = CFG.model_copy(update={"night": NightParams(enabled=False, factor=1.5)})
    assert RiskEngine(g, off).compute([inc], at=night_at).night_factor == 1.0


def test_night_window_wraps_midnight() -> None:
    night = NightParams(enabled=True, start_hour=18, end_hour=6, factor=2.0)
    local = datetime(2026, 6, 1, 17, 59, tzinfo=UTC) + timedelta(hours=4)  # EDT = UTC-4
    assert not night.is_night(local)
    assert night.is_night(local + timedelta(minutes=1))
    assert night.is_night(datetime(2026, 6, 1, 9, 59, tzinfo=UTC))  # 05:59 local
    assert not night.is_night(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))  # 06:00 local


# ---------------------------------------------------------------------------------------------
# Explanation and layer
# ---------------------------------------------------------------------------------------------


def test_contributors_order_and_shares() -> None:
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    engine = RiskEngine(g, CFG)
    incs = [
        incident("far", 0.0, 400.0, graph=g),
        incident("near", 0.0, 10.0, graph=g),
        incident("mid", 0.0, 200.0, graph=g),
        incident("weak", 0.0, 10.0, graph=g, severity=2),
    ]
    alone = {i.id: engine.compute([i], at=AT).edge_risk_per_km[0] for i in incs}
    total = sum(alone.values())
    field = engine.compute(incs, at=AT)
    assert field.edge_risk_per_km[0] == pytest.approx(total)
    top = field.contributors(0, top=3)
    assert [rid for rid, _ in top] == ["near", "mid", "weak"]
    for rid, share in top:
        assert share == pytest.approx(alone[rid] / total)
    assert sum(s for _, s in field.contributors(1, top=10)) == pytest.approx(1.0)
    assert field.report_ids == {"far", "near", "mid", "weak"}


def test_risk_layer_merges_directions_and_filters_bbox() -> None:
    g = make_graph(
        [(0.0, 0.0), (300.0, 0.0), (3000.0, 0.0), (3300.0, 0.0)], [(0, 1), (2, 3)], one_way=[1]
    )
    engine = RiskEngine(g, CFG)
    incs = [incident("west", 150.0, 0.0, graph=g), incident("east", 3150.0, 0.0, graph=g)]
    zone = Zone("c", "c", ZoneKind.caution, _box_m(g, 0, -5, 10, 5), multiplier=2.0)
    field = engine.compute(incs, [zone], at=AT)
    feats = risk_features(g, field)
    assert len(feats) == 2  # two-way street merged, one-way street once
    by_street = {f["properties"]["street"]: f for f in feats}
    west = by_street["street 0"]["properties"]
    west_edges = edges_of_street(g, 0)
    assert west["risk"] == pytest.approx(max(field.edge_risk_per_km[west_edges]), abs=1e-3)
    assert west["reports"] == ["west"]
    assert west["level"] == field.level_of(west["risk"]).value
    geometry = by_street["street 1"]["geometry"]
    assert geometry["type"] == "LineString"
    assert len(geometry["coordinates"]) == 2
    lon_mid, _ = _PLACE.to_lonlat(1500.0, 0.0)
    lat_lo, lat_hi = g.meta.bbox[1] - 0.01, g.meta.bbox[3] + 0.01
    west_only = risk_features(
        g, field, bbox=(g.meta.bbox[0] - 0.01, lat_lo, float(lon_mid), lat_hi)
    )
    assert [f["properties"]["street"] for f in west_only] == ["street 0"]
    collection = risk_feature_collection(g, field)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == 2
    assert risk_features(g, engine.compute([], at=AT)) == []


# ---------------------------------------------------------------------------------------------
# Incremental updates
# ---------------------------------------------------------------------------------------------

_GRID = grid_graph(5, 150.0)
_ENGINE = RiskEngine(_GRID, CFG)
_CATS = list(Category)


@st.composite
def _incidents(draw: st.DrawFn, rid: str) -> Incident:
    return incident(
        rid,
        draw(st.floats(-200, 800)),
        draw(st.floats(-200, 800)),
        graph=_GRID,
        category=draw(st.sampled_from(_CATS)),
        # Fresh (both terms), and old enough for the chronic term only (shipped: acute terms
        # end within 5 x 12 weeks, chronic ones within 5 x 180 days).
        age=timedelta(hours=draw(st.one_of(st.floats(-5, 200), st.floats(1000, 22000)))),
        severity=draw(st.integers(1, 5)),
        uncertainty_m=draw(st.sampled_from([0.0, 80.0, 400.0])),
        status=draw(st.sampled_from(list(ReportStatus))),
    )


def _assert_same(a: RiskField, b: RiskField) -> None:
    np.testing.assert_allclose(a.edge_risk_per_km, b.edge_risk_per_km, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(a.edge_risk_per_km == 0, b.edge_risk_per_km == 0)
    assert a.reports_considered == b.reports_considered
    assert a.report_ids == b.report_ids
    for edge in range(0, _GRID.edge_count, 7):
        ca, cb = dict(a.contributors(edge, top=50)), dict(b.contributors(edge, top=50))
        assert ca.keys() == cb.keys()
        for rid, share in ca.items():
            assert share == pytest.approx(cb[rid], rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    base=st.lists(st.integers(0, 10**6), min_size=0, max_size=12, unique=True).flatmap(
        lambda ids: st.tuples(*[_incidents(f"b{i}") for i in ids])
    ),
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(0, 30)),
            st.tuples(st.just("remove"), st.integers(0, 30)),
        ),
        max_size=12,
    ),
    pool=st.lists(_incidents("x"), min_size=31, max_size=31),
    tiny_buffer=st.booleans(),
)
def test_incremental_equals_full_recompute(
    base: tuple[Incident, ...],
    ops: list[tuple[str, int]],
    pool: list[Incident],
    tiny_buffer: bool,
) -> None:
    saved = engine_module._MAX_EXTRA
    engine_module._MAX_EXTRA = 2 if tiny_buffer else saved  # exercise matrix rebuilds
    try:
        _run_ops(base, ops, pool)
    finally:
        engine_module._MAX_EXTRA = saved


def _run_ops(base: tuple[Incident, ...], ops: list[tuple[str, int]], pool: list[Incident]) -> None:
    zone = Zone("c", "c", ZoneKind.caution, _box_m(_GRID, 100, 100, 400, 200), multiplier=2.5)
    current = {i.id: i for i in base}
    field = _ENGINE.compute(list(current.values()), [zone], at=AT)
    ids_in_pool = [f"p{k}" for k in range(len(pool))]
    for op, k in ops:
        if op == "add":
            new = replace(pool[k], id=ids_in_pool[k % 8])  # reuse ids: replacements happen
            current[new.id] = new
            field = _ENGINE.updated(field, add=[new])
        else:
            known = list(current) or ["none"]
            target = ids_in_pool[k % 8] if k % 2 else known[k % len(known)]
            current.pop(target, None)
            field = _ENGINE.updated(field, remove=[target])
    _assert_same(field, _ENGINE.compute(list(current.values()), [zone], at=AT))


def test_incremental_retraction_by_upsert() -> None:
    inc = incident("r", 300.0, 300.0, graph=_GRID)
    field = _ENGINE.compute([inc], at=AT)
    assert field.edge_risk_per_km.max() > 0
    gone = _ENGINE.updated(field, add=[replace(inc, status=ReportStatus.retracted)])
    assert gone.reports_considered == 0
    assert not gone.edge_risk_per_km.any()
    assert field.reports_considered == 1  # the old snapshot is untouched


# ---------------------------------------------------------------------------------------------
# Grouped refresh: same answers as report by report, whatever the chunking and threads
# ---------------------------------------------------------------------------------------------


def test_many_reports_match_hand_quadrature() -> None:
    # Reports share points (grouped) and differ in category/uncertainty (widths) at a point.
    g = grid_graph(4, 200.0)
    rng = np.random.default_rng(5)
    points = rng.uniform(-100.0, 700.0, size=(6, 2))
    cats = [Category.armed_clash, Category.roadblock, Category.abduction]
    incs = [
        incident(
            f"r{k}", *points[k % 6], graph=g, category=cats[k % 3],
            uncertainty_m=[0.0, 120.0][k % 2], age=timedelta(hours=float(k)), severity=1 + k % 5,
        )
        for k in range(30)
    ]  # fmt: skip
    engine = RiskEngine(g, ACUTE)
    field = engine.compute(incs, at=AT)
    weights = engine.report_weights(incs, at=AT)
    for edge in range(0, g.edge_count, 5):
        expected = 0.0
        for inc, w in zip(incs, weights, strict=True):
            sigma = math.hypot(CFG.categories[inc.category].sigma_m, 0.5 * inc.uncertainty_m)
            px, py = g.projection.to_xy(inc.lon, inc.lat)
            expected += hand_risk_per_km(
                edge_xy(g, edge), float(px), float(py), float(w), sigma, 3 * sigma, "gaussian"
            )
        assert field.edge_risk_per_km[edge] == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_reports_at_one_point_share_a_kernel_and_are_each_explained() -> None:
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    engine = RiskEngine(g, CFG)
    a = incident("a", 30.0, 40.0, graph=g)
    b = incident("b", 30.0, 40.0, graph=g, severity=5)
    c = incident("c", 30.0, 40.0, graph=g, category=Category.roadblock)  # same point, narrower
    alone = {i.id: engine.compute([i], at=AT).edge_risk_per_km[0] for i in (a, b, c)}
    field = engine.compute([a, b, c], at=AT)
    total = sum(alone.values())
    assert field.edge_risk_per_km[0] == pytest.approx(total, rel=1e-12)
    shares = dict(field.contributors(0, top=5))
    assert shares.keys() == {"a", "b", "c"}
    for rid, value in alone.items():
        assert shares[rid] == pytest.approx(value / total, rel=1e-9)
    assert field.contributors(0, top=1) == [max(shares.items(), key=lambda kv: kv[1])]


def test_chunking_and_threads_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    g = grid_graph(6, 150.0)
    rng = np.random.default_rng(11)
    incs = [
        incident(f"r{k}", *rng.uniform(-200.0, 900.0, 2), graph=g, category=_CATS[k % len(_CATS)])
        for k in range(200)
    ]
    reference = RiskEngine(g, CFG, workers=1).compute(incs, at=AT)
    monkeypatch.setattr(engine_module, "_CHUNK_PAIRS", 97)
    monkeypatch.setattr(engine_module, "_GROUP_BLOCK", 7)
    monkeypatch.setattr(engine_module, "_EXPLAIN_BATCH", 5)
    monkeypatch.setattr(engine_module, "_EXPLAIN_FIRST", 2)
    monkeypatch.setattr(engine_module, "_EXPLAIN_PAIRS", 40)
    for workers in (1, 2):
        field = RiskEngine(g, CFG, workers=workers).compute(incs, at=AT)
        np.testing.assert_allclose(
            field.edge_risk_per_km, reference.edge_risk_per_km, rtol=1e-12, atol=0
        )
        edges = np.arange(g.edge_count)
        for edge, got in zip(edges, field.contributors_many(edges, top=4), strict=True):
            want = reference.contributors(int(edge), top=4)
            assert [rid for rid, _ in got] == [rid for rid, _ in want]
            assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-9)
    with pytest.raises(ValueError, match="workers"):
        RiskEngine(g, CFG, workers=0)


@settings(max_examples=60, deadline=None)
@given(
    runs=st.lists(
        st.lists(st.sampled_from([0.5, 1.0, 1.0, 2.0, 3.0, 3.0, 7.0]), min_size=1, max_size=9),
        min_size=1,
        max_size=6,
    ),
    top=st.integers(1, 4),
)
def test_top_of_runs_takes_the_top_values_and_their_ties(runs: list[list[float]], top: int) -> None:
    keys = np.repeat(np.arange(len(runs)) * 3, [len(r) for r in runs])  # sorted, with gaps
    values = np.array([v for r in runs for v in r])
    picked = engine_module._top_of_runs(keys, values, top)
    at = 0
    for run in runs:
        cut = sorted(run, reverse=True)[min(top, len(run)) - 1]  # the top-th largest
        assert picked[at : at + len(run)].tolist() == [v >= cut for v in run]
        at += len(run)


def test_point_index_pairs_are_the_points_within_reach_plus_margin() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0.0, 1000.0, 300), rng.uniform(0.0, 1000.0, 300)
    reach = rng.choice([40.0, 45.0, 120.0, 300.0], 300)
    qx, qy = rng.uniform(0.0, 1000.0, 50), rng.uniform(0.0, 1000.0, 50)
    q, p = engine_module._PointIndex(x, y, reach).pairs(qx, qy, 10.0)
    got = set(zip(q.tolist(), p.tolist(), strict=True))
    assert len(got) == q.shape[0]  # no pair twice
    dist = np.hypot(qx[:, None] - x[None, :], qy[:, None] - y[None, :])
    near = np.nonzero(dist <= reach[None, :] + 10.0)
    must = {(int(i), int(j)) for i, j in zip(*near, strict=True)}
    assert must <= got  # every point within its own reach + margin ...
    for i, j in got - must:  # ... and others only within their class's widest reach + margin
        assert dist[i, j] <= reach[j] * engine_module._CLASS_RATIO + 10.0 + 1e-6


def test_explanation_batches_shrink_where_reports_crowd(monkeypatch: pytest.MonkeyPatch) -> None:
    g = grid_graph(8, 150.0)
    rng = np.random.default_rng(3)
    crowd = [incident(f"c{k}", *rng.normal(150.0, 40.0, 2), graph=g) for k in range(150)]
    sparse = [incident(f"s{k}", *rng.uniform(0.0, 1050.0, 2), graph=g) for k in range(10)]
    field = RiskEngine(g, CFG).compute(crowd + sparse, at=AT)
    reference = RiskEngine(g, CFG).compute(crowd + sparse, at=AT)
    monkeypatch.setattr(engine_module, "_EXPLAIN_PAIRS", 2000)
    batches: list[tuple[int, int]] = []  # (segments, pairs)
    inner = RiskEngine._explain

    def spy(self: RiskEngine, c: Any, segments: np.ndarray, top: int, pairs: list[int]) -> Any:
        out = inner(self, c, segments, top, pairs)
        batches.append((int(segments.shape[0]), sum(pairs)))
        return out

    monkeypatch.setattr(RiskEngine, "_explain", spy)
    edges = np.arange(g.edge_count)
    got = field.contributors_many(edges)
    monkeypatch.undo()
    assert got == reference.contributors_many(edges)
    assert batches[0][0] == engine_module._EXPLAIN_FIRST
    # Each batch after the first is sized from the previous one's pairs per segment.
    for (n0, p0), (n1, _) in itertools.pairwise(batches):
        assert n1 <= max(1, int(2000 / max(p0, 1) * n0))
    assert len({n for n, _ in batches}) > 1
