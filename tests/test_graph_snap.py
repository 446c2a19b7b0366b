"""Snapping to the nearest road segment, checked against a brute-force shapely search."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from corridors.errors import SnapError
from corridors.graph.geo import haversine_m
from corridors.graph.model import RoadGraph
from corridors.graph.snap import EdgeSnapper, service_area_contains
from corridors.graph.synthetic import synthetic_city

GRAPH = synthetic_city(7, 9, seed=11, spacing_m=150.0)
# long blocks: segments much longer than the index's pieces
LONG = synthetic_city(4, 4, seed=5, spacing_m=2500.0, oneway_fraction=0.0)
SNAPPERS = {
    (id(GRAPH), 50.0): EdgeSnapper(GRAPH),
    (id(GRAPH), 7.0): EdgeSnapper(GRAPH, piece_m=7.0),
    (id(LONG), 50.0): EdgeSnapper(LONG),
    (id(LONG), 5000.0): EdgeSnapper(LONG, piece_m=5000.0),
    # grid cells much smaller and much larger than the pieces
    (id(GRAPH), -1.0): EdgeSnapper(GRAPH, cell_m=3.0),
    (id(GRAPH), -2.0): EdgeSnapper(GRAPH, cell_m=5000.0),
}


def brute_force(graph: RoadGraph, lon: float, lat: float) -> tuple[float, list[shapely.LineString]]:
    """Smallest distance to any edge, metres, with shapely in the graph's projection."""
    proj = graph.projection
    px, py = proj.to_xy(lon, lat)
    point = shapely.Point(float(px), float(py))
    lines = []
    for e in range(graph.edge_count):
        coords = np.array(graph.edge_coords(e))
        x, y = proj.to_xy(coords[:, 0], coords[:, 1])
        lines.append(shapely.LineString(np.column_stack([x, y])))
    distances = shapely.distance(np.array(lines), point)
    return float(distances.min()), lines


def bbox_points(graph: RoadGraph, margin: float) -> st.SearchStrategy[tuple[float, float]]:
    min_lon, min_lat, max_lon, max_lat = graph.meta.bbox
    return st.tuples(
        st.floats(min_lon - margin, max_lon + margin),
        st.floats(min_lat - margin, max_lat + margin),
    )


def check_against_brute_force(graph: RoadGraph, piece_m: float, lon: float, lat: float) -> None:
    snapper = SNAPPERS[(id(graph), piece_m)]
    result = snapper.nearest(lon, lat)
    expected, lines = brute_force(graph, lon, lat)
    assert result.distance_m == pytest.approx(expected, abs=1e-6)
    # the snapped point lies on the returned edge at the returned fraction
    line = lines[result.edge]
    on_line = line.interpolate(result.fraction, normalized=True)
    sx, sy = graph.projection.to_xy(result.lon, result.lat)
    assert math.hypot(float(sx) - on_line.x, float(sy) - on_line.y) < 1e-6
    # and the reported distance is the real distance to that point (independent formula)
    assert haversine_m(lon, lat, result.lon, result.lat) == pytest.approx(
        result.distance_m, rel=2e-3, abs=1e-6
    )


@settings(max_examples=150, deadline=None)
@given(point=bbox_points(GRAPH, 0.004), piece_m=st.sampled_from([50.0, 7.0, -1.0, -2.0]))
def test_snap_matches_brute_force(point: tuple[float, float], piece_m: float) -> None:
    check_against_brute_force(GRAPH, piece_m, *point)


@settings(max_examples=100, deadline=None)
@given(point=bbox_points(LONG, 0.02), piece_m=st.sampled_from([50.0, 5000.0]))
def test_snap_matches_brute_force_on_long_segments(
    point: tuple[float, float], piece_m: float
) -> None:
    check_against_brute_force(LONG, piece_m, *point)


def test_snap_on_a_node_is_at_an_edge_end() -> None:
    snapper = SNAPPERS[(id(GRAPH), 50.0)]
    node = 5
    lon, lat = float(GRAPH.node_lon[node]), float(GRAPH.node_lat[node])
    result = snapper.snap(lon, lat, max_distance_m=1)
    assert result.distance_m == pytest.approx(0.0, abs=1e-6)
    at_head = result.fraction > 0.5
    end = GRAPH.edge_head[result.edge] if at_head else GRAPH.edge_tail[result.edge]
    assert end == node
    assert result.fraction == (1.0 if at_head else 0.0)
    assert isinstance(result.fraction, float)


def test_snap_returns_the_canonical_direction() -> None:
    snapper = SNAPPERS[(id(GRAPH), 50.0)]
    two_way = int(np.flatnonzero(GRAPH.edge_reverse >= 0)[3])
    coords = GRAPH.edge_coords(two_way)
    mid_lon = (coords[0][0] + coords[1][0]) / 2
    mid_lat = (coords[0][1] + coords[1][1]) / 2
    result = snapper.snap(mid_lon, mid_lat, max_distance_m=1)
    assert result.edge == min(two_way, int(GRAPH.edge_reverse[two_way]))


def test_too_far_raises_with_the_distance() -> None:
    snapper = SNAPPERS[(id(GRAPH), 50.0)]
    min_lon, min_lat, _, max_lat = GRAPH.meta.bbox
    lon = min_lon - 0.01  # ~1.05 km west of the westernmost vertex
    lat = (min_lat + max_lat) / 2
    expected, _ = brute_force(GRAPH, lon, lat)
    assert expected > 1000
    with pytest.raises(SnapError) as info:
        snapper.snap(lon, lat, max_distance_m=500)
    assert info.value.distance_m == pytest.approx(expected, abs=1e-6)
    assert f"{expected:.0f} m" in info.value.detail
    assert snapper.snap(lon, lat, max_distance_m=expected + 1).distance_m == pytest.approx(expected)


def test_service_area() -> None:
    min_lon, min_lat, max_lon, max_lat = GRAPH.meta.bbox
    mid_lat = (min_lat + max_lat) / 2
    assert service_area_contains(GRAPH, (min_lon + max_lon) / 2, mid_lat, 0)
    # 1 km west of the box: in with a 2 km margin, out with a 500 m one
    lon = min_lon - 1000 / (111_195 * math.cos(math.radians(mid_lat)))
    assert service_area_contains(GRAPH, lon, mid_lat, 2000)
    assert not service_area_contains(GRAPH, lon, mid_lat, 500)
    lat = max_lat + 1000 / 111_195
    assert service_area_contains(GRAPH, min_lon, lat, 1100)
    assert not service_area_contains(GRAPH, min_lon, lat, 900)


def test_polyline_legs_match_the_scalar_formula() -> None:
    from corridors.graph.geo import haversine_m, polyline_legs_m

    rng = np.random.default_rng(4)
    lon = rng.uniform(-72.4, -72.2, 50)
    lat = rng.uniform(18.4, 18.6, 50)
    lon[7], lat[7] = lon[6], lat[6]  # a repeated vertex: a leg of 0 m
    got = polyline_legs_m(lon, lat)
    want = [haversine_m(*args) for args in zip(lon[:-1], lat[:-1], lon[1:], lat[1:], strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[6] == 0.0
    assert polyline_legs_m(lon[:1], lat[:1]).shape == (0,)


def test_index_is_small_and_covers_every_canonical_segment() -> None:
    snapper = SNAPPERS[(id(GRAPH), 50.0)]
    canonical = (GRAPH.edge_reverse < 0) | (np.arange(GRAPH.edge_count) < GRAPH.edge_reverse)
    segments = np.diff(GRAPH.geometry_offsets)[canonical] - 1
    assert snapper.segment_count == int(segments.sum())
    assert snapper.piece_count >= snapper.segment_count
    # a few bytes per piece: no coordinates are copied out of the graph
    assert snapper.nbytes <= 8 * snapper.piece_count + 8 * 4_000_000


def test_far_point_is_snapped_exactly() -> None:
    snapper = SNAPPERS[(id(GRAPH), 50.0)]
    _, min_lat, max_lon, _ = GRAPH.meta.bbox
    lon, lat = max_lon + 0.3, min_lat - 0.2  # ~40 km outside the grid
    expected, _ = brute_force(GRAPH, lon, lat)
    assert snapper.nearest(lon, lat).distance_m == pytest.approx(expected, abs=1e-6)
