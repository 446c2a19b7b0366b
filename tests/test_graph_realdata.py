"""Build every real OSM extract in ../shared/data/osm and check structural facts.

Each extract is built once per module (fixture); the whole module runs in a few seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import pytest

from corridors.graph.build import build_graph_from_file, to_networkx
from corridors.graph.checks import graph_problems
from corridors.graph.model import RoadGraph

pytestmark = pytest.mark.realdata

OSM_DIR = Path(__file__).parents[2] / "shared" / "data" / "osm"
DEMO_FILE = Path(__file__).parents[1] / "data" / "port-au-prince-demo.osm"
BUILT_AT = datetime(2025, 3, 1, tzinfo=UTC)

# From ../shared/data/SOURCES.md: edges of osmnx's own "drive" graph and of the
# "drive (post)" graph (every drivable class incl. service, before any SCC), and the
# newest object timestamp (date).
REFERENCE: dict[str, tuple[int, int, str]] = {
    "graphhopper-andorra": (2377, 3026, "2013-05-28"),
    "graphhopper-monaco": (666, 1293, "2012-07-06"),
    "graphhopper-moscow": (319, 1625, "2013-11-09"),
    "graphhopper-north-bayreuth": (1466, 2738, "2014-11-04"),
    "osmnx-West-Oakland": (55, 76, "2016-07-12"),
    "osmnx-aguascalientes": (1461, 1787, "2026-05-12"),
    "osrm-backend-monaco": (2543, 4896, "2016-03-04"),
    "valhalla-liechtenstein-latest": (3525, 8599, "2015-07-27"),
    "valhalla-baltimore": (5512, 14396, "2015-02-27"),
}
NOT_DRIVABLE = {"footway", "path", "cycleway", "steps", "pedestrian", "bridleway", "track"}


def _files() -> list[Path]:
    if not OSM_DIR.is_dir():
        return []
    return sorted([*OSM_DIR.glob("*.osm.bz2"), *OSM_DIR.glob("*.osm.pbf")])


def _stem(path: Path) -> str:
    return path.name.removesuffix(".osm.bz2").removesuffix(".osm.pbf")


FILES = _files()
_GRAPHS: dict[Path, RoadGraph] = {}


def _graph(path: Path) -> RoadGraph:
    if path not in _GRAPHS:
        _GRAPHS[path] = build_graph_from_file(path, built_at=BUILT_AT)
    return _GRAPHS[path]


@pytest.fixture(scope="module", autouse=True)
def _require_data() -> None:
    if not FILES:
        pytest.skip(f"no OSM extracts in {OSM_DIR}")


def _oneway_way_ids(path: Path) -> set[int]:
    """Ways tagged oneway=yes, read independently of the code under test."""
    ids: set[int] = set()
    for obj in osmium.FileProcessor(str(path), osmium.osm.WAY):
        if obj.tags.get("oneway") in ("yes", "true", "1") and "highway" in obj.tags:
            ids.add(obj.id)
    return ids


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_extract_builds_into_a_sane_convoy_graph(path: Path) -> None:
    graph = _graph(path)
    assert graph_problems(graph) == []
    classes = {graph.strings[c] for c in np.unique(graph.edge_highway).tolist()}
    assert not classes & NOT_DRIVABLE, classes
    drive_osmnx, drive_post, newest = REFERENCE[_stem(path)]
    assert 0.5 * drive_osmnx <= graph.edge_count <= 1.5 * drive_post
    assert graph.meta.osm_timestamp is not None
    assert graph.meta.osm_timestamp.date().isoformat() == newest
    assert graph.meta.built_at == BUILT_AT
    assert graph.meta.dropped_edges >= 0


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_extract_is_one_strongly_connected_component(path: Path) -> None:
    assert nx.number_strongly_connected_components(to_networkx(_graph(path))) == 1


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_street_keys_label_every_edge_by_name_else_ref_else_class(path: Path) -> None:
    graph = _graph(path)
    edges = np.arange(graph.edge_count)
    keys = graph.street_keys(edges)
    for edge, key in zip(edges.tolist(), keys.tolist(), strict=True):
        name = graph.strings[int(graph.edge_name[edge])]
        ref = graph.strings[int(graph.edge_ref[edge])]
        expected = name or ref or f"unnamed {graph.strings[int(graph.edge_highway[edge])]}"
        assert graph.street_label(key) == graph.street(edge) == expected
    # Negative keys are exactly the edges with neither a name nor a ref.
    unnamed = (graph.edge_name == 0) & (graph.edge_ref == 0)
    np.testing.assert_array_equal(keys < 0, unnamed)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_oneway_streets_are_one_way(path: Path) -> None:
    graph = _graph(path)
    oneway = _oneway_way_ids(path)
    on_oneway = np.isin(graph.edge_osm_way_id, np.array(sorted(oneway), dtype=np.int64))
    if not on_oneway.any():
        pytest.skip("no oneway=yes street survives in this extract")
    assert np.all(graph.edge_reverse[on_oneway] == -1)
    # and no edge runs back along the same geometry (a oneway roundabout may well have
    # two edges A->B and B->A, but along different halves)
    shapes = {tuple(graph.edge_coords(e)) for e in np.flatnonzero(on_oneway).tolist()}
    all_shapes = {tuple(graph.edge_coords(e)) for e in range(graph.edge_count)}
    assert not any(shape[::-1] in all_shapes for shape in shapes)


def test_some_extracts_have_one_way_streets() -> None:
    path = OSM_DIR / "osrm-backend-monaco.osm.pbf"
    if not path.exists():
        pytest.skip("osrm-backend-monaco absent")
    graph = _graph(path)
    oneway = np.array(sorted(_oneway_way_ids(path)), dtype=np.int64)
    assert int(np.isin(graph.edge_osm_way_id, oneway).sum()) > 100


PAIRED = sorted(
    {_stem(p) for p in FILES if p.name.endswith(".pbf")}
    & {_stem(p) for p in FILES if p.name.endswith(".bz2")}
)


@pytest.mark.parametrize("stem", PAIRED)
def test_pbf_and_bz2_give_the_same_graph(stem: str) -> None:
    a = _graph(OSM_DIR / f"{stem}.osm.pbf")
    b = _graph(OSM_DIR / f"{stem}.osm.bz2")
    for name in (
        "node_osm_id",
        "node_lon",
        "node_lat",
        "edge_offsets",
        "edge_tail",
        "edge_head",
        "edge_length_m",
        "edge_duration_s",
        "edge_osm_way_id",
        "edge_reverse",
        "geometry_offsets",
        "geometry_lon",
        "geometry_lat",
    ):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert [a.street(e) for e in range(a.edge_count)] == [b.street(e) for e in range(b.edge_count)]
    assert a.meta.osm_timestamp == b.meta.osm_timestamp


def test_demo_network() -> None:
    if not DEMO_FILE.exists():
        pytest.skip("demo file not written yet")
    graph = build_graph_from_file(DEMO_FILE, built_at=BUILT_AT, demo=True)
    assert graph.meta.demo
    assert graph_problems(graph) == []
    assert nx.number_strongly_connected_components(to_networkx(graph)) == 1
    names = {graph.strings[c] for c in np.unique(graph.edge_name).tolist()}
    assert {"Boulevard Toussaint Louverture", "Route de Delmas"} <= names
    vertices = np.unique(np.column_stack([graph.geometry_lon, graph.geometry_lat]), axis=0)
    assert vertices.shape[0] >= 300
    min_lon, min_lat, max_lon, max_lat = graph.meta.bbox
    assert -72.6 < min_lon < max_lon < -72.1
    assert 18.3 < min_lat < max_lat < 18.8
