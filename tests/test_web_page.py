"""The planner map page, its assets and ``GET /v1/graph/network``, through a TestClient."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import TEST_NOW
from corridors.api.app import create_app
from corridors.config import Settings
from corridors.domain import Role
from corridors.graph.model import GraphMeta, RoadGraph
from corridors.services.graphs import load_serving_graph
from corridors.services.keys import create_key
from corridors.services.runtime import Runtime
from corridors.store import Database
from corridors.web import page as web_page
from corridors.web.network import network_feature_collection, street_edges

BASE = "http://testserver/map"
#: The XML namespace of SVG files: an identifier, never fetched.
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@dataclass
class Served:
    client: TestClient
    graph: RoadGraph
    viewer: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app on the embedded demo network, SQLite, with one viewer key."""
    data_dir = tmp_path_factory.mktemp("web")
    settings = Settings(data_dir=data_dir)
    graph = load_serving_graph(settings, now=TEST_NOW)
    db = Database(settings.resolved_database_url)
    db.migrate()
    viewer = create_key(db, role=Role.viewer, name="viewer", at=TEST_NOW).key
    runtime = Runtime(settings, db, graph, clock=lambda: TEST_NOW)
    with TestClient(create_app(runtime=runtime)) as client:
        yield Served(client, graph, viewer)
    runtime.close()


class _Refs(HTMLParser):
    """Collect the URLs an HTML page makes the browser fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src"}
        name = wanted.get(tag)
        for key, value in attrs:
            if key == name and value:
                self.urls.append(value)


def page_refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return parser.urls


def test_map_page_is_html_referencing_only_same_origin_assets(served: Served) -> None:
    response = served.client.get("/map")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    refs = page_refs(response.text)
    # The page's own script and style, Leaflet's stylesheet and the icon, no more, no less.
    assert len(refs) == 4
    for ref in refs:
        absolute = urljoin(BASE, ref)
        assert urlsplit(absolute).netloc == "testserver", ref
        asset = served.client.get(urlsplit(absolute).path)
        assert asset.status_code == 200, ref


def test_page_has_the_controls_the_planner_needs(served: Served) -> None:
    html = served.client.get("/map").text
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    assert {
        "map",
        "api-key",
        "origin",
        "destination",
        "risk-aversion",
        "vehicles",
        "vehicle-class",
        "cargo",
        "armored",
        "depart-at",
        "route-button",
        "reset-button",
        "escort-panel",
        "report-form",
        "report-category",
        "report-severity",
    } <= ids
    # Every form control has a label pointing at it (accessibility).
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    wrapped = set(re.findall(r'<label class="check"><input[^>]*\bid="([^"]+)"', html))
    controls = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html))
    assert controls - labelled - wrapped == set()


def test_leaflet_is_served_from_the_npm_installation(served: Served) -> None:
    dist = web_page.LEAFLET_DIST
    assert (dist / "leaflet-src.esm.js").is_file(), (
        "Leaflet is not installed: run `npm ci` in src/corridors/web"
    )
    js = served.client.get("/map/vendor/leaflet/leaflet-src.esm.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert js.content == (dist / "leaflet-src.esm.js").read_bytes()
    css = served.client.get("/map/vendor/leaflet/leaflet.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    # Images the stylesheet points at resolve through the same route.
    for image in re.findall(r"url\((images/[^)]+)\)", css.text):
        assert served.client.get(f"/map/vendor/leaflet/{image}").status_code == 200, image


def test_module_imports_resolve(served: Served) -> None:
    checked = 0
    for script in ("map.js", "api.js"):
        url = f"/map/static/{script}"
        source = served.client.get(url).text
        for spec in re.findall(r'^import .* from "([^"]+)";$', source, flags=re.MULTILINE):
            assert spec.startswith("."), spec  # relative, hence same origin
            target = urlsplit(urljoin(f"http://testserver{url}", spec)).path
            response = served.client.get(target)
            assert response.status_code == 200, spec
            assert "javascript" in response.headers["content-type"]
            checked += 1
    assert checked == 2


def test_no_external_urls_in_page_or_own_assets(served: Served) -> None:
    texts = {"/map": served.client.get("/map").text}
    for path in sorted(web_page.STATIC_DIR.rglob("*")):
        if path.is_file() and path.name != "index.html":
            rel = path.relative_to(web_page.STATIC_DIR).as_posix()
            response = served.client.get(f"/map/static/{rel}")
            assert response.status_code == 200, rel
            texts[rel] = response.text
    assert {"map.js", "api.js", "map.css"} <= set(texts)
    for name, text in texts.items():
        found = list(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}\S*", text, flags=re.I))
        found = [u for u in found if not u.startswith(SVG_NAMESPACE)]
        assert found == [], name


@pytest.mark.parametrize(
    "path",
    [
        "/map/static/../page.py",
        "/map/static/%2e%2e/page.py",
        "/map/static/..%2fpage.py",
        "/map/static/nothing.js",
        "/map/static/index.html",
        "/map/vendor/leaflet/../../../package.json",
        "/map/vendor/leaflet/%2e%2e/package.json",
        "/map/vendor/leaflet/.hidden.js",
    ],
)
def test_assets_do_not_escape_their_folders(served: Served, path: str) -> None:
    response = served.client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def _undirected_key(graph: RoadGraph, edge: int) -> tuple[tuple[float, float], ...]:
    """An edge's geometry in a direction-free form: a two-way pair shares it."""
    coords = tuple(graph.edge_coords(edge))
    return min(coords, coords[::-1])


def test_network_has_one_feature_per_street(served: Served) -> None:
    graph = served.graph
    response = served.client.get("/v1/graph/network", headers={"X-API-Key": served.viewer})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    doc = response.json()
    assert doc["type"] == "FeatureCollection"
    # Street count computed from geometry alone (not from edge_reverse).
    streets = {_undirected_key(graph, e) for e in range(graph.edge_count)}
    assert len(doc["features"]) == len(streets)
    assert len(doc["features"]) < graph.edge_count  # the demo has two-way streets
    seen = set()
    for feature in doc["features"]:
        edge = feature["id"]
        assert feature["geometry"]["type"] == "LineString"
        coords = [tuple(c) for c in feature["geometry"]["coordinates"]]
        expected = graph.edge_coords(edge)
        assert len(coords) == len(expected)
        assert np.allclose(coords, expected, atol=1e-6)
        assert feature["properties"]["street"] == graph.street(edge)
        assert feature["properties"]["highway"] == graph.strings[int(graph.edge_highway[edge])]
        seen.add(_undirected_key(graph, edge))
    assert seen == streets


def test_network_needs_a_key(served: Served) -> None:
    response = served.client.get("/v1/graph/network")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_network_is_gzipped_and_revalidates(served: Served) -> None:
    headers = {"X-API-Key": served.viewer, "Accept-Encoding": "gzip"}
    with served.client.stream("GET", "/v1/graph/network", headers=headers) as response:
        raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        etag = response.headers["etag"]
    plain = served.client.get(
        "/v1/graph/network", headers={"X-API-Key": served.viewer, "Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(raw) == plain.content
    again = served.client.get(
        "/v1/graph/network", headers={"X-API-Key": served.viewer, "If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""


def test_network_documented_in_openapi(served: Served) -> None:
    spec = served.client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/graph/network"]["get"]
    assert "graph" in operation["tags"]
    assert "application/geo+json" in operation["responses"]["200"]["content"]
    assert {"401", "403"} <= set(operation["responses"])
    assert operation.get("security")  # the X-API-Key scheme
    assert "/map/static/{path}" not in spec["paths"]


def _graph(edges: list[tuple[int, int]], reverse: list[int]) -> RoadGraph:
    """A graph on three nodes with straight edges; ``edges`` are (tail, head) sorted by tail."""
    lon = np.array([-72.30, -72.29, -72.28])
    lat = np.array([18.50, 18.51, 18.50])
    tails = np.array([t for t, _ in edges], dtype=np.int32)
    heads = np.array([h for _, h in edges], dtype=np.int32)
    m = len(edges)
    offsets = np.searchsorted(tails, np.arange(4)).astype(np.int64)
    return RoadGraph(
        meta=GraphMeta(
            source="t", osm_timestamp=None, built_at=TEST_NOW, bbox=(-72.3, 18.5, -72.28, 18.51)
        ),
        node_osm_id=np.array([1, 2, 3], dtype=np.int64),
        node_lon=lon,
        node_lat=lat,
        edge_offsets=offsets,
        edge_tail=tails,
        edge_head=heads,
        edge_length_m=np.full(m, 1000.0),
        edge_duration_s=np.full(m, 100.0),
        edge_osm_way_id=np.arange(m, dtype=np.int64),
        edge_name=np.array([1 if t + h == 1 else 0 for t, h in edges], dtype=np.int32),
        edge_ref=np.zeros(m, dtype=np.int32),
        edge_highway=np.full(m, 2, dtype=np.int32),
        edge_surface=np.zeros(m, dtype=np.int32),
        edge_maxspeed_kph=np.full(m, np.nan),
        edge_bridge=np.zeros(m, dtype=bool),
        edge_reverse=np.array(reverse, dtype=np.int64),
        geometry_offsets=np.arange(0, 2 * m + 1, 2, dtype=np.int64),
        geometry_lon=np.array([lon[i] for t, h in edges for i in (t, h)]),
        geometry_lat=np.array([lat[i] for t, h in edges for i in (t, h)]),
        strings=("", "Rue A", "residential"),
    )


def test_two_way_pair_is_one_feature_and_one_way_its_own() -> None:
    # 0<->1 two-way (edges 0 and 1), 1->2 one-way (edge 2).
    graph = _graph([(0, 1), (1, 0), (1, 2)], reverse=[1, 0, -1])
    assert street_edges(graph) == [0, 2]
    doc = network_feature_collection(graph)
    assert [f["properties"]["oneway"] for f in doc["features"]] == [False, True]
    assert [f["properties"]["street"] for f in doc["features"]] == [
        "Rue A",
        "unnamed residential",
    ]
    assert doc["features"][1]["geometry"]["coordinates"] == [[-72.29, 18.51], [-72.28, 18.5]]
    assert doc["features"][0]["properties"]["length_m"] == 1000.0


def test_network_payload_is_built_once_per_graph() -> None:
    graph = _graph([(0, 1), (1, 0)], reverse=[1, 0])
    first = web_page.network_payload(graph)
    assert web_page.network_payload(graph) is first
    assert first.features == 1
    other = _graph([(0, 1), (1, 2)], reverse=[-1, -1])
    assert web_page.network_payload(other).features == 2


def test_page_says_how_to_install_leaflet_when_missing(
    served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(web_page, "LEAFLET_DIST", tmp_path / "absent")
    html = served.client.get("/map").text
    assert "npm ci" in html
    response = served.client.get("/map/vendor/leaflet/leaflet.css")
    assert response.status_code == 404
    assert "npm ci" in response.json()["detail"]
