"""Building the road graph from small hand-made OSM files with known answers."""

from __future__ import annotations

import bz2
import gzip
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from corridors.errors import GraphBuildError
from corridors.graph.build import build_graph_from_file, to_networkx
from corridors.graph.checks import graph_problems
from corridors.graph.geo import haversine_m
from corridors.graph.model import RoadGraph

BUILT_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LON0, LAT0, STEP = -72.33, 18.54, 0.001

# A two-way residential square 1-2-3-4 (unit = STEP degrees); 5 is the centre, 6-12 spare.
NODES: dict[int, tuple[float, float]] = {
    1: (0.0, 0.0),
    2: (1.0, 0.0),
    3: (1.0, 1.0),
    4: (0.0, 1.0),
    5: (0.5, 0.5),
    6: (2.0, 0.0),
    7: (0.25, 0.25),
    8: (0.75, 0.75),
}
RING = [
    (101, [1, 2], {"highway": "residential", "name": "Rue Un"}),
    (102, [2, 3], {"highway": "residential", "name": "Rue Deux"}),
    (103, [3, 4], {"highway": "residential"}),
    (104, [4, 1], {"highway": "residential"}),
]

Way = tuple[int, Sequence[int], Mapping[str, str]]


def lonlat(node: int) -> tuple[float, float]:
    x, y = NODES[node]
    return LON0 + x * STEP, LAT0 + y * STEP


def osm_xml(
    ways: Sequence[Way],
    *,
    node_tags: Mapping[int, Mapping[str, str]] | None = None,
    timestamps: Mapping[int, str] | None = None,
) -> str:
    """OSM XML with every node of NODES and the given ways."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node in sorted(NODES):
        lon, lat = lonlat(node)
        stamp = (timestamps or {}).get(node)
        meta = f' version="1" timestamp="{stamp}"' if stamp else ""
        tags = (node_tags or {}).get(node, {})
        body = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append(f'<node id="{node}" lat="{lat:.7f}" lon="{lon:.7f}"{meta}>{body}</node>')
    for way_id, refs, tags in ways:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        body = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append(f'<way id="{way_id}" version="1">{nds}{body}</way>')
    lines.append("</osm>")
    return "\n".join(lines)


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., RoadGraph]:
    def _build(
        ways: Sequence[Way],
        *,
        include_tracks: bool = False,
        node_tags: Mapping[int, Mapping[str, str]] | None = None,
        timestamps: Mapping[int, str] | None = None,
        with_ring: bool = True,
    ) -> RoadGraph:
        path = tmp_path / "test.osm"
        all_ways = [*RING, *ways] if with_ring else list(ways)
        path.write_text(osm_xml(all_ways, node_tags=node_tags, timestamps=timestamps))
        graph = build_graph_from_file(path, include_tracks=include_tracks, built_at=BUILT_AT)
        assert graph_problems(graph) == []
        return graph

    return _build


def osm_edges(graph: RoadGraph) -> dict[tuple[int, int], list[int]]:
    """(tail OSM id, head OSM id) -> edge indexes."""
    result: dict[tuple[int, int], list[int]] = {}
    for e in range(graph.edge_count):
        key = (
            int(graph.node_osm_id[graph.edge_tail[e]]),
            int(graph.node_osm_id[graph.edge_head[e]]),
        )
        result.setdefault(key, []).append(e)
    return result


def path_length_m(nodes: Sequence[int]) -> float:
    return sum(haversine_m(*lonlat(a), *lonlat(b)) for a, b in itertools.pairwise(nodes))


def test_ring_alone_is_eight_directed_edges(build: Callable[..., RoadGraph]) -> None:
    graph = build([])
    assert graph.node_count == 4
    assert sorted(osm_edges(graph)) == sorted(
        [(1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3), (4, 1), (1, 4)]
    )
    e = osm_edges(graph)[(1, 2)][0]
    assert graph.street(e) == "Rue Un"
    assert graph.street(osm_edges(graph)[(3, 4)][0]) == "unnamed residential"
    assert graph.edge_length_m[e] == pytest.approx(path_length_m([1, 2]), rel=1e-9)
    assert graph.edge_duration_s[e] == pytest.approx(path_length_m([1, 2]) / (20 / 3.6))
    assert graph.meta.built_at == BUILT_AT
    assert graph.meta.bbox == pytest.approx((*lonlat(1), *lonlat(3)))
    assert graph.meta.osm_timestamp is None
    assert (graph.meta.dropped_nodes, graph.meta.dropped_edges) == (0, 0)


def test_chain_is_simplified_into_one_edge_with_geometry(
    build: Callable[..., RoadGraph],
) -> None:
    graph = build([(201, [1, 7, 5, 8, 3], {"highway": "tertiary"})])
    edges = osm_edges(graph)
    assert graph.node_count == 4  # 7, 5, 8 are shape points
    (fwd,) = edges[(1, 3)]
    (bwd,) = edges[(3, 1)]
    assert graph.edge_reverse[fwd] == bwd
    expected_fwd = [lonlat(n) for n in (1, 7, 5, 8, 3)]
    np.testing.assert_allclose(graph.edge_coords(fwd), expected_fwd, atol=1e-7)
    np.testing.assert_allclose(graph.edge_coords(bwd), expected_fwd[::-1], atol=1e-7)
    expected = path_length_m([1, 7, 5, 8, 3])
    assert graph.edge_length_m[fwd] == pytest.approx(expected, rel=1e-9)
    assert graph.edge_duration_s[fwd] == pytest.approx(expected / (30 / 3.6), rel=1e-9)
    assert int(graph.edge_osm_way_id[fwd]) == 201


@pytest.mark.parametrize(
    ("tags", "forward", "backward"),
    [
        ({"oneway": "yes"}, True, False),
        ({"oneway": "true"}, True, False),
        ({"oneway": "1"}, True, False),
        ({"oneway": "-1"}, False, True),
        ({"oneway": "no"}, True, True),
        ({"junction": "roundabout"}, True, False),
        ({"highway": "motorway"}, True, False),
        ({"highway": "motorway", "oneway": "no"}, True, True),
        ({}, True, True),
    ],
)
def test_oneway_rules(
    build: Callable[..., RoadGraph], tags: dict[str, str], forward: bool, backward: bool
) -> None:
    graph = build([(201, [1, 5, 3], {"highway": "secondary", **tags})])
    edges = osm_edges(graph)
    assert ((1, 3) in edges) is forward
    assert ((3, 1) in edges) is backward
    if forward != backward:
        (e,) = edges[(1, 3)] if forward else edges[(3, 1)]
        assert graph.edge_reverse[e] == -1


@pytest.mark.parametrize(
    ("tags", "kept"),
    [
        ({"highway": "footway"}, False),
        ({"highway": "path"}, False),
        ({"highway": "cycleway"}, False),
        ({"highway": "steps"}, False),
        ({"highway": "pedestrian"}, False),
        ({"highway": "service"}, True),
        ({"highway": "service", "service": "parking_aisle"}, False),
        ({"highway": "service", "service": "driveway"}, False),
        ({"highway": "service", "service": "alley"}, True),
        ({"highway": "residential", "access": "private"}, False),
        ({"highway": "residential", "access": "no"}, False),
        ({"highway": "residential", "motor_vehicle": "no"}, False),
        ({"highway": "residential", "motor_vehicle": "private"}, False),
        ({"highway": "residential", "access": "no", "motor_vehicle": "yes"}, True),
        ({"highway": "residential", "access": "private", "motorcar": "yes"}, True),
        ({"highway": "residential", "access": "destination"}, True),
        ({"highway": "residential", "area": "yes"}, False),
        ({"highway": "construction"}, False),
        ({"highway": "proposed"}, False),
        ({"highway": "primary_link"}, True),
        ({"highway": "living_street"}, True),
        ({"highway": "unclassified"}, True),
        ({"highway": "track"}, False),
        ({"building": "yes"}, False),
    ],
)
def test_way_filter(build: Callable[..., RoadGraph], tags: dict[str, str], kept: bool) -> None:
    graph = build([(201, [1, 5, 3], tags)])
    edges = osm_edges(graph)
    assert ((1, 3) in edges) is kept
    assert graph.node_count == 4
    assert graph.edge_count == (10 if kept else 8)


def test_track_needs_the_flag(build: Callable[..., RoadGraph]) -> None:
    track = [(201, [1, 5, 3], {"highway": "track", "surface": "dirt"})]
    assert (1, 3) not in osm_edges(build(track))
    graph = build(track, include_tracks=True)
    (e,) = osm_edges(graph)[(1, 3)]
    assert graph.strings[graph.edge_highway[e]] == "track"
    # track 10 km/h, dirt surface x0.6
    expected = path_length_m([1, 5, 3]) / (10 * 0.6 / 3.6)
    assert graph.edge_duration_s[e] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("node_tags", "kept"),
    [
        ({"barrier": "bollard"}, False),
        ({"barrier": "block"}, False),
        ({"barrier": "jersey_barrier"}, False),
        ({"barrier": "gate", "access": "private"}, False),
        ({"barrier": "gate", "locked": "yes"}, False),
        ({"barrier": "gate"}, True),
        ({"barrier": "lift_gate"}, True),
        ({"barrier": "toll_booth"}, True),
        ({"barrier": "cattle_grid"}, True),
        ({"barrier": "bollard", "motor_vehicle": "yes"}, True),
        ({"highway": "traffic_signals"}, True),
    ],
)
def test_barriers(build: Callable[..., RoadGraph], node_tags: dict[str, str], kept: bool) -> None:
    graph = build([(201, [1, 5, 3], {"highway": "residential"})], node_tags={5: node_tags})
    edges = osm_edges(graph)
    assert ((1, 3) in edges) is kept
    assert ((3, 1) in edges) is kept
    lon5, lat5 = lonlat(5)
    near5 = np.isclose(graph.geometry_lon, lon5, atol=1e-7) & np.isclose(
        graph.geometry_lat, lat5, atol=1e-7
    )
    assert bool(near5.any()) is kept


def test_barrier_splits_the_way_and_leaves_the_rest(build: Callable[..., RoadGraph]) -> None:
    # 1-7-5-8-3 with a bollard at 5: the pieces 1-7 and 8-3 remain as dead-end stubs
    graph = build(
        [(201, [1, 7, 5, 8, 3], {"highway": "residential"})],
        node_tags={5: {"barrier": "bollard"}},
    )
    edges = osm_edges(graph)
    assert {(1, 7), (7, 1), (8, 3), (3, 8)} <= set(edges)
    assert not any(5 in pair for pair in edges)


@pytest.mark.parametrize(
    ("tags", "speed_kph"),
    [
        ({"highway": "primary"}, 45.0),
        ({"highway": "primary", "maxspeed": "30"}, 30.0),
        ({"highway": "primary", "maxspeed": "20 mph"}, 20 * 1.609344),
        ({"highway": "primary", "maxspeed": "100"}, 45.0),
        ({"highway": "residential", "maxspeed": "50 km/h"}, 20.0),
        ({"highway": "residential", "surface": "unpaved"}, 20.0 * 0.6),
        ({"highway": "residential", "surface": "gravel"}, 20.0 * 0.6),
        ({"highway": "residential", "surface": "asphalt"}, 20.0),
        ({"highway": "motorway", "oneway": "no"}, 80.0),
        ({"highway": "service"}, 10.0),
        ({"highway": "primary", "maxspeed": "30", "surface": "dirt"}, 30.0 * 0.6),
    ],
)
def test_durations(build: Callable[..., RoadGraph], tags: dict[str, str], speed_kph: float) -> None:
    graph = build([(201, [1, 5, 3], tags)])
    (e,) = osm_edges(graph)[(1, 3)]
    expected = path_length_m([1, 5, 3]) / (speed_kph / 3.6)
    assert graph.edge_duration_s[e] == pytest.approx(expected, rel=1e-9)
    maxspeed = graph.edge_maxspeed_kph[e]
    assert math.isnan(maxspeed) if "maxspeed" not in tags else maxspeed > 0


def test_kept_tags(build: Callable[..., RoadGraph]) -> None:
    tags = {
        "highway": "primary",
        "name": "Route de Delmas",
        "ref": "RN1",
        "surface": "asphalt",
        "maxspeed": "40",
        "bridge": "yes",
    }
    graph = build([(201, [1, 5, 3], tags)])
    (e,) = osm_edges(graph)[(1, 3)]
    s = graph.strings
    assert (s[graph.edge_name[e]], s[graph.edge_ref[e]]) == ("Route de Delmas", "RN1")
    assert (s[graph.edge_highway[e]], s[graph.edge_surface[e]]) == ("primary", "asphalt")
    assert graph.edge_maxspeed_kph[e] == 40.0
    assert bool(graph.edge_bridge[e])
    (ring,) = osm_edges(graph)[(1, 2)]
    assert not bool(graph.edge_bridge[ring])
    assert s[graph.edge_ref[ring]] == ""


def test_largest_scc_is_kept_and_drop_reported(build: Callable[..., RoadGraph]) -> None:
    # a one-way spur 2 -> 6 cannot be left again, and a footway does not help
    graph = build(
        [
            (201, [2, 6], {"highway": "residential", "oneway": "yes"}),
            (202, [6, 1], {"highway": "footway"}),
        ]
    )
    assert 6 not in graph.node_osm_id.tolist()
    assert (graph.meta.dropped_nodes, graph.meta.dropped_edges) == (1, 1)
    assert nx.number_strongly_connected_components(to_networkx(graph)) == 1


def test_newest_timestamp(build: Callable[..., RoadGraph]) -> None:
    stamps = {1: "2020-01-01T00:00:00Z", 6: "2023-05-06T07:08:09Z", 3: "2021-01-01T00:00:00Z"}
    graph = build([], timestamps=stamps)
    # node 6 is not on any kept way, but it is the newest object in the file
    assert graph.meta.osm_timestamp == datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_compressed_xml_gives_the_same_graph(tmp_path: Path) -> None:
    text = osm_xml([*RING, (201, [1, 7, 5, 8, 3], {"highway": "tertiary", "oneway": "yes"})])
    plain = tmp_path / "x.osm"
    plain.write_text(text)
    (tmp_path / "x.osm.bz2").write_bytes(bz2.compress(text.encode()))
    (tmp_path / "x.osm.gz").write_bytes(gzip.compress(text.encode()))
    graphs = [
        build_graph_from_file(tmp_path / name, built_at=BUILT_AT)
        for name in ("x.osm", "x.osm.bz2", "x.osm.gz")
    ]
    for other in graphs[1:]:
        assert np.array_equal(other.edge_tail, graphs[0].edge_tail)
        assert np.array_equal(other.edge_head, graphs[0].edge_head)
        assert np.array_equal(other.geometry_lon, graphs[0].geometry_lon)
        assert other.strings == graphs[0].strings


def test_to_networkx_matches_arrays(build: Callable[..., RoadGraph]) -> None:
    graph = build([(201, [1, 5, 3], {"highway": "primary", "oneway": "yes"})])
    nxg = to_networkx(graph)
    assert nxg.number_of_nodes() == graph.node_count
    assert nxg.number_of_edges() == graph.edge_count
    for u, v, key, data in nxg.edges(keys=True, data=True):
        assert data["edge"] == key
        assert (graph.edge_tail[key], graph.edge_head[key]) == (u, v)
        assert data["length_m"] == graph.edge_length_m[key]
        assert data["duration_s"] == graph.edge_duration_s[key]


# ----------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GraphBuildError, match="no such OSM file"):
        build_graph_from_file(tmp_path / "nope.osm", built_at=BUILT_AT)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.osm.pbf"
    path.write_bytes(b"")
    with pytest.raises(GraphBuildError, match="empty"):
        build_graph_from_file(path, built_at=BUILT_AT)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.osm", b"this is not OpenStreetMap data\n"),
        ("page.osm", b"<html><body>Not found</body></html>"),
        ("bad.osm.pbf", b"\x00\x00\x00\x0dnot a pbf header at all"),
        ("bad.osm.bz2", b"BZh91AY&SY garbage"),
    ],
)
def test_not_osm(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(GraphBuildError) as info:
        build_graph_from_file(path, built_at=BUILT_AT)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_xml(tmp_path: Path) -> None:
    text = osm_xml(RING)
    path = tmp_path / "cut.osm"
    path.write_text(text[: len(text) * 2 // 3])
    with pytest.raises(GraphBuildError, match="truncated or corrupt"):
        build_graph_from_file(path, built_at=BUILT_AT)


def test_truncated_bz2(tmp_path: Path) -> None:
    data = bz2.compress(osm_xml(RING * 50).encode())
    path = tmp_path / "cut.osm.bz2"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphBuildError, match="truncated or corrupt"):
        build_graph_from_file(path, built_at=BUILT_AT)


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "roads.geojson"
    path.write_text("{}")
    with pytest.raises(GraphBuildError, match="unknown OSM file type"):
        build_graph_from_file(path, built_at=BUILT_AT)


def test_no_drivable_road(build: Callable[..., RoadGraph]) -> None:
    with pytest.raises(GraphBuildError, match="no drivable road"):
        build([(201, [1, 2, 3], {"highway": "footway"})], with_ring=False)


def test_only_one_way_dead_ends(build: Callable[..., RoadGraph]) -> None:
    with pytest.raises(GraphBuildError, match="connected both ways"):
        build([(201, [1, 2, 3], {"highway": "primary", "oneway": "yes"})], with_ring=False)


def test_osm_file_without_objects(tmp_path: Path) -> None:
    path = tmp_path / "hollow.osm"
    path.write_text('<?xml version="1.0"?><osm version="0.6"></osm>')
    with pytest.raises(GraphBuildError, match="no OSM objects"):
        build_graph_from_file(path, built_at=BUILT_AT)
