"""The online fetch (osmnx -> Nominatim/Overpass), run end to end on recorded responses.

The HTTP layer under osmnx is replaced by a fake: ``requests.get``/``requests.post``
answer from ``tests/fixtures/osm/`` and DNS is pinned, so nothing leaves the machine.
The recorded Overpass answer holds the drivable ways of the West Oakland extract, so
the fetched graph must equal the graph built from that extract file directly.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
import requests

from corridors.errors import GraphBuildError
from corridors.graph.build import build_graph_from_file, fetch_graph
from corridors.graph.checks import graph_problems
from corridors.graph.model import RoadGraph

FIXTURES = Path(__file__).parent / "fixtures" / "osm"
EXTRACT = Path(__file__).parents[2] / "shared" / "data" / "osm" / "osmnx-West-Oakland.osm.bz2"
BUILT_AT = datetime(2025, 3, 1, tzinfo=UTC)
PLACE = "West Oakland, Oakland, California"
OVERPASS_STATUS = (
    "Connected as: 3232235777\n"
    "Current time: 2025-03-01T12:00:00Z\n"
    "Announced endpoint: none\n"
    "Rate limit: 2\n"
    "2 slots available now.\n"
    "Currently running queries (pid, space limit, time limit, start time):\n"
)


def _response(url: str, body: str | bytes, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = "OK" if status == 200 else "Error"
    response.url = url
    response._content = body.encode("utf-8") if isinstance(body, str) else body
    response.encoding = "utf-8"
    response.headers["Content-Type"] = "application/json"
    return response


@dataclass
class FakeOSM:
    """Answers osmnx's requests from the recorded files and logs them."""

    overpass: dict[str, Any]
    nominatim: list[dict[str, Any]]
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    overpass_status: int = 200

    def get(self, url: str, params: Any = None, **_: Any) -> requests.Response:
        self.calls.append(("GET", url, dict(params or {})))
        parsed = urlparse(url)
        if parsed.netloc == "nominatim.openstreetmap.org" and parsed.path == "/search":
            assert params["q"] == PLACE
            assert params["polygon_geojson"] == 1
            return _response(url, json.dumps(self.nominatim))
        if parsed.path.endswith("/api/status"):
            return _response(url, OVERPASS_STATUS)
        raise AssertionError(f"unexpected GET {url}")

    def post(self, url: str, data: Any = None, **_: Any) -> requests.Response:
        self.calls.append(("POST", url, dict(data or {})))
        assert url == "https://overpass-api.de/api/interpreter"
        query = data["data"]
        assert '["highway"~"^(' in query
        assert "[out:json]" in query
        if self.overpass_status != 200:
            return _response(url, b"<html>server error</html>", self.overpass_status)
        return _response(url, json.dumps(self.overpass))


@pytest.fixture
def fake_osm(monkeypatch: pytest.MonkeyPatch) -> FakeOSM:
    fake = FakeOSM(
        overpass=json.loads((FIXTURES / "overpass_west_oakland.json").read_text()),
        nominatim=json.loads((FIXTURES / "nominatim_west_oakland.json").read_text()),
    )
    monkeypatch.setattr(requests, "get", fake.get)
    monkeypatch.setattr(requests, "post", fake.post)
    monkeypatch.setattr(requests, "request", None)  # anything else must not go out
    # osmnx pins DNS (gethostbyname + a patched getaddrinfo): fake the first, restore the second
    monkeypatch.setattr(socket, "gethostbyname", lambda host: "192.0.2.10")
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # Nominatim's 1 s courtesy pause
    return fake


def _same_graph(a: RoadGraph, b: RoadGraph) -> None:
    for name in (
        "node_osm_id",
        "edge_offsets",
        "edge_tail",
        "edge_head",
        "edge_osm_way_id",
        "edge_reverse",
        "geometry_offsets",
    ):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("node_lon", "node_lat", "edge_length_m", "edge_duration_s", "geometry_lon"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-6)
    assert [a.street(e) for e in range(a.edge_count)] == [b.street(e) for e in range(b.edge_count)]


def test_fetch_place_end_to_end(fake_osm: FakeOSM) -> None:
    graph = fetch_graph(place=PLACE, built_at=BUILT_AT)
    assert graph_problems(graph) == []
    methods = [(method, urlparse(url).netloc) for method, url, _ in fake_osm.calls]
    assert ("GET", "nominatim.openstreetmap.org") in methods
    assert ("POST", "overpass-api.de") in methods
    assert graph.meta.source == f"osmnx:place={PLACE}"
    assert graph.meta.osm_timestamp == datetime(2016, 7, 13, tzinfo=UTC)
    assert graph.meta.built_at == BUILT_AT
    assert not graph.meta.demo
    assert graph.node_count > 10
    assert "7th Street" in graph.strings


def test_fetch_bbox_end_to_end(fake_osm: FakeOSM) -> None:
    graph = fetch_graph(bbox=(-122.3095, 37.8030, -122.2895, 37.8185), built_at=BUILT_AT)
    assert graph_problems(graph) == []
    assert [m for m, _, _ in fake_osm.calls].count("POST") == 1
    assert not any("nominatim" in url for _, url, _ in fake_osm.calls)
    assert graph.meta.source.startswith("osmnx:bbox=-122.309500,37.803000")
    _same_graph(graph, fetch_graph(place=PLACE, built_at=BUILT_AT))


@pytest.mark.realdata
def test_fetch_equals_building_the_original_extract(fake_osm: FakeOSM) -> None:
    """The recorded answer holds the extract's drivable ways: both paths, one graph."""
    if not EXTRACT.exists():
        pytest.skip(f"{EXTRACT} absent")
    fetched = fetch_graph(place=PLACE, built_at=BUILT_AT)
    _same_graph(fetched, build_graph_from_file(EXTRACT, built_at=BUILT_AT))


def test_fetch_applies_the_tag_rules(fake_osm: FakeOSM) -> None:
    """Edit the recorded answer: a private way, a reversed one-way and a bollard."""
    elements = fake_osm.overpass["elements"]
    ways = [e for e in elements if e["type"] == "way"]
    baseline = fetch_graph(place=PLACE, built_at=BUILT_AT)
    used = set(baseline.edge_osm_way_id.tolist())
    private, reversed_way = [w for w in ways if w["id"] in used][:2]
    private["tags"]["access"] = "private"
    reversed_way["tags"]["oneway"] = "-1"
    graph = fetch_graph(place=PLACE, built_at=BUILT_AT)
    assert private["id"] not in set(graph.edge_osm_way_id.tolist())
    on_reversed = np.flatnonzero(graph.edge_osm_way_id == reversed_way["id"])
    assert on_reversed.size > 0
    assert np.all(graph.edge_reverse[on_reversed] == -1)
    # travel runs against the node order: from the way's last node towards its first
    first, last = reversed_way["nodes"][0], reversed_way["nodes"][-1]
    tails = set(graph.node_osm_id[graph.edge_tail[on_reversed]].tolist())
    heads = set(graph.node_osm_id[graph.edge_head[on_reversed]].tolist())
    assert first not in tails
    assert last not in heads


def test_fetch_without_track_flag_asks_for_no_tracks(fake_osm: FakeOSM) -> None:
    fetch_graph(place=PLACE, built_at=BUILT_AT)
    query = next(data["data"] for method, _, data in fake_osm.calls if method == "POST")
    assert "track" not in query
    fake_osm.calls.clear()
    fetch_graph(place=PLACE, built_at=BUILT_AT, include_tracks=True)
    query = next(data["data"] for method, _, data in fake_osm.calls if method == "POST")
    assert "|track|" in query or "|track)" in query


def test_fetch_server_error_is_a_graph_build_error(fake_osm: FakeOSM) -> None:
    fake_osm.overpass_status = 500
    with pytest.raises(GraphBuildError, match=r"fetching .* failed"):
        fetch_graph(place=PLACE, built_at=BUILT_AT)


def test_fetch_empty_answer(fake_osm: FakeOSM) -> None:
    fake_osm.overpass["elements"] = []
    with pytest.raises(GraphBuildError):
        fetch_graph(place=PLACE, built_at=BUILT_AT)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"place": PLACE, "bbox": (0.0, 0.0, 1.0, 1.0)}, {"bbox": (1.0, 0.0, 0.0, 1.0)}],
)
def test_fetch_bad_arguments(fake_osm: FakeOSM, kwargs: dict[str, Any]) -> None:
    with pytest.raises(GraphBuildError):
        fetch_graph(built_at=BUILT_AT, **kwargs)
    assert fake_osm.calls == []


def test_fetch_restores_osmnx_settings(fake_osm: FakeOSM) -> None:
    import osmnx

    before = (osmnx.settings.all_oneway, osmnx.settings.use_cache, osmnx.settings.cache_folder)
    fetch_graph(place=PLACE, built_at=BUILT_AT)
    after = (osmnx.settings.all_oneway, osmnx.settings.use_cache, osmnx.settings.cache_folder)
    assert after == before
