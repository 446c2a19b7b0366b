"""Checks of the embedded demo network ``data/port-au-prince-demo.osm``.

The file is read with the standard library only (no project graph builder), so these tests
say whether the shipped data is sound, independently of the code that turns it into a graph.
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from corridors.config import SHIPPED_DATA_DIR
from corridors.graph.geo import haversine_m

DEMO_PATH = SHIPPED_DATA_DIR / "port-au-prince-demo.osm"

#: Port-au-Prince bounding box (lon/lat, degrees) every node must fall in.
BBOX = (-72.45, 18.45, -72.20, 18.65)

#: highway values a convoy may drive on (tracks only on request, so not here).
DRIVABLE_HIGHWAYS = frozenset(
    {
        "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
        "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
        "residential", "living_street", "road", "service",
    }
)  # fmt: skip
NO_ACCESS = frozenset({"private", "no"})
NO_SERVICE = frozenset({"parking_aisle", "parking", "driveway", "emergency_access"})

REQUIRED_NAMES = (
    "Boulevard Toussaint Louverture",
    "Route de Delmas",
    "Autoroute de Delmas",
    "Route des Frères",
    "Boulevard Jean-Jacques Dessalines",
    "Grand Rue",
    "Boulevard La Saline",
    "Avenue John Brown",
    "Lalue",
    "Avenue Martin Luther King",
    "Route de Kenscoff",
    "Route de Tabarre",
    "Route de Bourdon",
    "Route de Carrefour",
    "Route Nationale 1",
    "Boulevard Harry Truman",
    "Rue Panaméricaine",
)
REQUIRED_REFS = ("RN1", "RN2", "RN3", "RN8")

#: name -> (lon, lat), degrees; a drivable node must lie within LANDMARK_RADIUS_M.
LANDMARKS = {
    "port": (-72.350, 18.553),
    "airport": (-72.2925, 18.5800),
    "Pétion-Ville": (-72.285, 18.512),
    "Carrefour": (-72.40, 18.535),
    "Cité Soleil": (-72.333, 18.580),
    "Croix-des-Bouquets": (-72.225, 18.578),
}
LANDMARK_RADIUS_M = 400.0


@dataclass(frozen=True)
class Way:
    """One OSM way: id, node refs in order, tags."""

    id: int
    refs: tuple[int, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class OsmDoc:
    """What the tests need from an OSM XML file."""

    root: ET.Element
    text: str
    nodes: dict[int, tuple[float, float]]  # id -> (lon, lat)
    ways: tuple[Way, ...]


def parse_osm(text: str) -> OsmDoc:
    """Parse OSM XML text into nodes (lon, lat in degrees) and ways."""
    root = ET.fromstring(text)
    nodes = {
        int(n.attrib["id"]): (float(n.attrib["lon"]), float(n.attrib["lat"]))
        for n in root.iter("node")
    }
    ways = tuple(
        Way(
            id=int(w.attrib["id"]),
            refs=tuple(int(nd.attrib["ref"]) for nd in w.iter("nd")),
            tags={t.attrib["k"]: t.attrib["v"] for t in w.iter("tag")},
        )
        for w in root.iter("way")
    )
    return OsmDoc(root=root, text=text, nodes=nodes, ways=ways)


def is_drivable(tags: dict[str, str]) -> bool:
    """Whether a convoy may use a way with these tags."""
    return (
        tags.get("highway") in DRIVABLE_HIGHWAYS
        and tags.get("access") not in NO_ACCESS
        and tags.get("service") not in NO_SERVICE
        and tags.get("area") != "yes"
    )


def drive_digraph(doc: OsmDoc) -> nx.DiGraph:
    """Directed graph of the drivable ways, honouring oneway and roundabouts."""
    g = nx.DiGraph()
    for way in doc.ways:
        if not is_drivable(way.tags):
            continue
        oneway = way.tags.get("oneway", "no")
        if way.tags.get("junction") in ("roundabout", "circular") and oneway == "no":
            oneway = "yes"
        for a, b in itertools.pairwise(way.refs):
            if oneway in ("yes", "true", "1"):
                g.add_edge(a, b)
            elif oneway == "-1":
                g.add_edge(b, a)
            else:
                g.add_edge(a, b)
                g.add_edge(b, a)
    return g


def _segments_cross(
    p: tuple[float, float], q: tuple[float, float], r: tuple[float, float], s: tuple[float, float]
) -> bool:
    """Whether closed segments pq and rs touch (planar, any units)."""

    def orient(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    def on_seg(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> bool:
        in_x = min(a[0], b[0]) <= c[0] <= max(a[0], b[0])
        return in_x and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    d1, d2 = orient(r, s, p), orient(r, s, q)
    d3, d4 = orient(p, q, r), orient(p, q, s)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True
    return (
        (d1 == 0 and on_seg(r, s, p))
        or (d2 == 0 and on_seg(r, s, q))
        or (d3 == 0 and on_seg(p, q, r))
        or (d4 == 0 and on_seg(p, q, s))
    )


@pytest.fixture(scope="module")
def doc() -> OsmDoc:
    return parse_osm(Path(DEMO_PATH).read_text(encoding="utf-8"))


# --- the helpers themselves can say "broken" ------------------------------------------

_TINY = """<osm version="0.6">
  <node id="1" lat="18.54" lon="-72.34"/><node id="2" lat="18.54" lon="-72.33"/>
  <node id="3" lat="18.55" lon="-72.33"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/>{extra}</way>
  <way id="11"><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
</osm>"""


@pytest.mark.parametrize(
    ("extra", "connected"),
    [
        ("", True),
        ('<tag k="oneway" v="yes"/>', False),
        ('<tag k="oneway" v="-1"/>', False),
        ('<tag k="junction" v="roundabout"/>', False),
        ('<tag k="oneway" v="no"/>', True),
    ],
)
def test_drive_digraph_honours_oneway(extra: str, connected: bool) -> None:
    g = drive_digraph(parse_osm(_TINY.format(extra=extra)))
    assert nx.is_strongly_connected(g) is connected


def test_segments_cross_helper() -> None:
    assert _segments_cross((0, 0), (2, 2), (0, 2), (2, 0))
    assert not _segments_cross((0, 0), (1, 1), (2, 0), (3, 1))
    assert _segments_cross((0, 0), (2, 0), (1, 0), (1, 5))  # T-junction touches


# --- the file ---------------------------------------------------------------------


def test_header_says_demo_only_and_attribution(doc: OsmDoc) -> None:
    head = doc.text[: doc.text.index("<osm ")]
    assert "<!--" in head
    assert "NOT FOR NAVIGATION" in head.upper()
    assert "approximate" in head.lower()
    assert "not derived from OpenStreetMap data" in " ".join(head.split())
    assert doc.root.tag == "osm"
    assert doc.root.attrib["version"] == "0.6"
    assert doc.root.attrib["generator"] == "corridors demo (hand-made)"


def test_bounds_cover_every_node(doc: OsmDoc) -> None:
    bounds = doc.root.find("bounds")
    assert bounds is not None
    b = {k: float(v) for k, v in bounds.attrib.items()}
    for lon, lat in doc.nodes.values():
        assert b["minlon"] <= lon <= b["maxlon"]
        assert b["minlat"] <= lat <= b["maxlat"]


def test_ids_versions_and_timestamps(doc: OsmDoc) -> None:
    elements = [*doc.root.iter("node"), *doc.root.iter("way")]
    for kind in ("node", "way"):
        ids = [int(e.attrib["id"]) for e in doc.root.iter(kind)]
        assert len(ids) == len(set(ids)), f"duplicate {kind} ids"
        assert min(ids) > 0
    stamps = set()
    for e in elements:
        assert e.attrib["version"] == "1"
        stamps.add(datetime.fromisoformat(e.attrib["timestamp"].replace("Z", "+00:00")))
    assert max(stamps) == datetime.fromisoformat("2026-11-01T00:00:00+00:00")


def test_node_count(doc: OsmDoc) -> None:
    assert len(doc.nodes) >= 300


def test_every_way_reference_exists(doc: OsmDoc) -> None:
    for way in doc.ways:
        assert len(way.refs) >= 2, way.id
        missing = [r for r in way.refs if r not in doc.nodes]
        assert not missing, (way.id, missing)


def test_nodes_inside_port_au_prince(doc: OsmDoc) -> None:
    lonlat = np.array(list(doc.nodes.values()))
    assert (lonlat[:, 0] >= BBOX[0]).all()
    assert (lonlat[:, 0] <= BBOX[2]).all()
    assert (lonlat[:, 1] >= BBOX[1]).all()
    assert (lonlat[:, 1] <= BBOX[3]).all()


def test_no_overlapping_duplicate_nodes(doc: OsmDoc) -> None:
    # Two node ids at (almost) the same place would be a junction the ways do not share.
    lonlat = np.array(list(doc.nodes.values()))
    x = np.radians(lonlat[:, 0]) * math.cos(math.radians(18.55)) * 6_371_008.8
    y = np.radians(lonlat[:, 1]) * 6_371_008.8
    closest_m = math.inf
    for i in range(len(x) - 1):
        closest_m = min(closest_m, float(np.hypot(x[i + 1 :] - x[i], y[i + 1 :] - y[i]).min()))
    assert closest_m > 5.0


def test_required_names_and_refs_on_drivable_ways(doc: OsmDoc) -> None:
    names: set[str] = set()
    refs: set[str] = set()
    for way in doc.ways:
        if is_drivable(way.tags):
            names.update(way.tags[k] for k in ("name", "alt_name") if k in way.tags)
            refs.update(way.tags.get("ref", "").split(";"))
    assert set(REQUIRED_NAMES) <= names, set(REQUIRED_NAMES) - names
    assert set(REQUIRED_REFS) <= refs, set(REQUIRED_REFS) - refs


def test_highway_tags_are_plausible(doc: OsmDoc) -> None:
    highways = [w for w in doc.ways if "highway" in w.tags]
    surfaces = {w.tags.get("surface") for w in highways}
    assert "asphalt" in surfaces
    assert surfaces & {"unpaved", "dirt", "gravel", "ground", "compacted"}
    for way in highways:
        if "maxspeed" in way.tags:
            assert 10 <= int(way.tags["maxspeed"]) <= 130
        assert way.tags.get("oneway", "no") in ("yes", "no", "-1")
        minor = way.tags["highway"] in ("service", "residential")
        if is_drivable(way.tags) and not minor and "junction" not in way.tags:
            assert way.tags.get("name"), f"way {way.id} ({way.tags['highway']}) has no name"


def test_landmarks_reached_by_drivable_nodes(doc: OsmDoc) -> None:
    g = drive_digraph(doc)
    for label, (lon, lat) in LANDMARKS.items():
        nearest_m = min(haversine_m(lon, lat, *doc.nodes[n]) for n in g.nodes)
        assert nearest_m <= LANDMARK_RADIUS_M, (label, nearest_m)


def test_drivable_network_strongly_connected(doc: OsmDoc) -> None:
    g = drive_digraph(doc)
    assert g.number_of_nodes() >= 300
    assert nx.is_strongly_connected(g), [len(c) for c in nx.strongly_connected_components(g)]


def test_ways_a_convoy_graph_must_drop_are_present(doc: OsmDoc) -> None:
    def has(pred: dict[str, str]) -> bool:
        return any(all(w.tags.get(k) == v for k, v in pred.items()) for w in doc.ways)

    must_drop = [
        {"highway": "footway"},
        {"highway": "steps"},
        {"building": "yes"},
        {"highway": "service", "service": "parking_aisle"},
        {"highway": "residential", "access": "private"},
        {"highway": "track"},
    ]
    for pred in must_drop:
        assert has(pred), pred
    dropped = [w for w in doc.ways if not is_drivable(w.tags)]
    assert len(dropped) >= len(must_drop)
    building = next(w for w in doc.ways if w.tags.get("building") == "yes")
    assert building.refs[0] == building.refs[-1], "building polygon must be closed"


def test_oneway_and_roundabout_present(doc: OsmDoc) -> None:
    # The demo exercises the builder's direction handling, while staying strongly connected.
    assert any(w.tags.get("oneway") == "yes" for w in doc.ways if is_drivable(w.tags))
    assert any(w.tags.get("junction") == "roundabout" for w in doc.ways)


def test_drivable_ways_only_cross_at_shared_nodes(doc: OsmDoc) -> None:
    lat0 = math.radians(18.55)
    xy = {i: (lon * math.cos(lat0), lat) for i, (lon, lat) in doc.nodes.items()}
    segments = [
        (a, b)
        for w in doc.ways
        if is_drivable(w.tags) and w.tags.get("bridge") != "yes"
        for a, b in itertools.pairwise(w.refs)
    ]
    bad = [
        (s, t)
        for s, t in itertools.combinations(segments, 2)
        if not set(s) & set(t) and _segments_cross(xy[s[0]], xy[s[1]], xy[t[0]], xy[t[1]])
    ]
    assert not bad
