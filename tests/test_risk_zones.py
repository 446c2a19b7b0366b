"""Edge index of zones and avoid polygons: the same edges as a brute-force shapely test and as
an STRtree query, for random polygons (holes, multipolygons, touching roads), any cell size."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from corridors.graph.model import RoadGraph
from corridors.graph.synthetic import synthetic_city
from corridors.risk import layer as layer_module
from corridors.risk.zones import EdgeIndex, edge_index_of, edges_intersecting

CITY = synthetic_city(9, 11, seed=7, spacing_m=110.0)
#: Long blocks: segments cross many cells of a fine grid.
SPARSE = synthetic_city(4, 5, seed=5, spacing_m=2500.0, oneway_fraction=0.0)


def _lines(graph: RoadGraph) -> np.ndarray:
    counts = np.diff(graph.geometry_offsets)
    coords = np.column_stack([graph.geometry_lon, graph.geometry_lat])
    owner = np.repeat(np.arange(graph.edge_count), counts)
    return np.asarray(shapely.linestrings(coords, indices=owner), dtype=object)


def _brute_force(lines: np.ndarray, geometry: BaseGeometry) -> list[int]:
    return np.flatnonzero(shapely.intersects(geometry, lines)).tolist()


def _bbox(graph: RoadGraph) -> tuple[float, float, float, float]:
    lon, lat = graph.geometry_lon, graph.geometry_lat
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def _random_polygon(rng: np.random.Generator, graph: RoadGraph) -> BaseGeometry:
    """A random star-shaped polygon, sometimes with a hole, sometimes several (multi)."""
    x0, y0, x1, y1 = _bbox(graph)
    span = max(x1 - x0, y1 - y0)

    def star() -> Polygon:
        cx = rng.uniform(x0 - 0.1 * span, x1 + 0.1 * span)
        cy = rng.uniform(y0 - 0.1 * span, y1 + 0.1 * span)
        size = span * 10 ** rng.uniform(-3, 0)
        k = int(rng.integers(3, 12))
        angle = np.sort(rng.uniform(0, 2 * np.pi, k))
        radius = size * rng.uniform(0.3, 1.0, k)
        shell = np.column_stack([cx + radius * np.cos(angle), cy + radius * np.sin(angle)])
        if rng.random() < 0.3:
            inner = 0.25 * min(radius)
            hole = [
                (cx + inner * np.cos(a), cy + inner * np.sin(a))
                for a in np.linspace(0, 2 * np.pi, 7)[:-1]
            ]
            return Polygon(shell, [hole])
        return Polygon(shell)

    shape = rng.random()
    if shape < 0.25:
        parts = [star() for _ in range(int(rng.integers(2, 4)))]
        merged = shapely.union_all([p.buffer(0) for p in parts])
        return merged if not merged.is_empty else parts[0]
    if shape < 0.35:
        return MultiPolygon([star(), star()])  # possibly overlapping parts: still valid input
    return star()


def _touching(rng: np.random.Generator, graph: RoadGraph) -> list[BaseGeometry]:
    """Boxes and shapes whose boundary passes exactly through road vertices."""
    out: list[BaseGeometry] = []
    x0, y0, x1, y1 = _bbox(graph)
    d = (x1 - x0) / 50
    for v in rng.integers(0, graph.geometry_lon.shape[0], 12).tolist():
        lon, lat = float(graph.geometry_lon[v]), float(graph.geometry_lat[v])
        out.append(box(lon, lat, lon + d, lat + d))  # corner on the vertex
        out.append(box(lon - d, lat - d / 3, lon, lat + d / 3))  # side through the vertex
        out.append(box(lon + 1e-12, lat, lon + d, lat + d))  # just off it
        out.append(Point(lon, lat))
    for e in rng.integers(0, graph.edge_count, 6).tolist():
        a, b = int(graph.geometry_offsets[e]), int(graph.geometry_offsets[e + 1])
        xs, ys = graph.geometry_lon[a:b], graph.geometry_lat[a:b]
        # A triangle with one side along the edge's first segment.
        p, q = (float(xs[0]), float(ys[0])), (float(xs[1]), float(ys[1]))
        out.append(Polygon([p, q, (q[0] + d, q[1] - d)]))
        out.append(LineString([p, q]))
    # Boxes sharing the grid's extreme coordinates, and one just outside.
    out.append(box(x0 - d, y0 - d, x0, y0 + d))
    out.append(box(x1, y1 - d, x1 + d, y1 + d))
    out.append(box(x1 + 1e-9, y0, x1 + d, y1))
    out.append(box(x0, y0, x1, y1))
    out.append(box(x0 - d, y0 - d, x1 + d, y1 + d))  # every vertex strictly inside
    return out


@pytest.mark.parametrize(
    ("graph", "cell_m"),
    [(CITY, 200.0), (CITY, 30.0), (CITY, 1e6), (SPARSE, 200.0), (SPARSE, 1000.0)],
)
def test_same_edges_as_brute_force_and_strtree(graph: RoadGraph, cell_m: float) -> None:
    rng = np.random.default_rng(int(cell_m) + graph.edge_count)
    lines = _lines(graph)
    tree = shapely.STRtree(lines)
    index = EdgeIndex(graph, cell_m=cell_m)
    geometries = [_random_polygon(rng, graph) for _ in range(150)] + _touching(rng, graph)
    hits = 0
    for geometry in geometries:
        expected = _brute_force(lines, geometry)
        got = index.query(geometry)
        assert got.dtype == np.int64
        assert got.tolist() == expected, geometry.wkt
        old = np.unique(tree.query(geometry, predicate="intersects")).tolist()
        assert got.tolist() == old
        hits += len(expected) > 0
    assert hits > len(geometries) // 4  # the polygons do reach roads


def test_query_many_matches_strtree_pairs() -> None:
    rng = np.random.default_rng(3)
    lines = _lines(CITY)
    geometries = [_random_polygon(rng, CITY) for _ in range(40)]
    index = EdgeIndex(CITY)
    which, edges = index.query_many(geometries)
    old_which, old_edges = shapely.STRtree(lines).query(
        np.asarray(geometries, dtype=object), predicate="intersects"
    )
    assert np.all(np.diff(which) >= 0)
    assert np.all(np.diff(old_which) >= 0)  # the order zone codes rely on: by geometry
    assert sorted(zip(which.tolist(), edges.tolist(), strict=True)) == sorted(
        zip(old_which.tolist(), old_edges.tolist(), strict=True)
    )
    empty = index.query_many([])
    assert empty[0].shape == empty[1].shape == (0,)


def test_empty_and_far_geometries_hit_nothing() -> None:
    index = EdgeIndex(CITY)
    assert index.query(Polygon()).tolist() == []
    assert index.query(box(10.0, 10.0, 11.0, 11.0)).tolist() == []
    x0, y0, _, y1 = _bbox(CITY)
    assert index.query(box(x0 - 1.0, y0 - 1.0, x0 - 0.5, y1)).tolist() == []
    with pytest.raises(ValueError, match="cell_m"):
        EdgeIndex(CITY, cell_m=0.0)


def test_caller_geometry_is_not_prepared_and_index_is_shared() -> None:
    polygon = box(*_bbox(CITY))
    assert edges_intersecting(CITY, polygon).shape[0] == CITY.edge_count
    assert not shapely.is_prepared(polygon)
    assert edge_index_of(CITY) is edge_index_of(CITY)
    assert edge_index_of(edge_index_of(CITY)) is edge_index_of(CITY)


def test_index_is_a_few_bytes_per_edge() -> None:
    index = EdgeIndex(CITY)
    # One int32 per (cell, edge) pair: blocks are shorter than a cell, so ~1-2 cells per edge.
    assert index.nbytes < 4 * 3 * CITY.edge_count + 4 * (index._rows * index._cols + 1)


@pytest.mark.parametrize("cell_m", [7.0, 30.0])
def test_every_vertex_finds_all_its_edges(cell_m: float) -> None:
    # Vertices close to cell borders: a segment ending there is listed in both cells.
    lines = _lines(CITY)
    index = EdgeIndex(CITY, cell_m=cell_m)
    points = np.asarray(shapely.points(CITY.geometry_lon, CITY.geometry_lat), dtype=object)
    for point in points.tolist():
        assert index.query(point).tolist() == _brute_force(lines, point)


def test_layer_bbox_filter_equals_whole_graph_extents(monkeypatch: pytest.MonkeyPatch) -> None:
    offsets = CITY.geometry_offsets[:-1]
    lo_lon = np.minimum.reduceat(CITY.geometry_lon, offsets)
    hi_lon = np.maximum.reduceat(CITY.geometry_lon, offsets)
    lo_lat = np.minimum.reduceat(CITY.geometry_lat, offsets)
    hi_lat = np.maximum.reduceat(CITY.geometry_lat, offsets)
    monkeypatch.setattr(layer_module, "_BBOX_EDGES", 7)
    rng = np.random.default_rng(9)
    x0, y0, x1, y1 = _bbox(CITY)
    for _ in range(30):
        a, b = sorted(rng.uniform(x0, x1, 2).tolist())
        c, d = sorted(rng.uniform(y0, y1, 2).tolist())
        want = np.flatnonzero((lo_lon <= b) & (hi_lon >= a) & (lo_lat <= d) & (hi_lat >= c))
        assert layer_module._edges_in_bbox(CITY, (a, c, b, d)).tolist() == want.tolist()
