"""POST /v1/routes, POST /v1/escort-assessments and GET /v1/risk on the demo network."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import TEST_NOW, FakeClock, report_body, square_ring
from corridors.api.app import create_app
from corridors.api.route_schemas import RoutesResponse
from corridors.config import SHIPPED_DATA_DIR, Settings
from corridors.domain import Role
from corridors.graph.build import build_graph_from_file
from corridors.graph.geo import haversine_m
from corridors.services.keys import create_key
from corridors.services.runtime import Runtime
from corridors.store import Database

AIRPORT = {"lon": -72.2925, "lat": 18.5800}
PORT = {"lon": -72.3480, "lat": 18.5560}


class RouteApi:
    def __init__(
        self, client: TestClient, runtime: Runtime, clock: FakeClock, keys: dict[Role, str]
    ):
        self.client = client
        self.runtime = runtime
        self.clock = clock
        self.keys = keys

    def h(self, role: Role = Role.viewer, **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role], **extra}

    def route(self, **body: Any) -> Any:
        payload = {"origin": AIRPORT, "destination": PORT, **body}
        return self.client.post("/v1/routes", json=payload, headers=self.h())

    def report(self, **overrides: Any) -> dict[str, Any]:
        response = self.client.post(
            "/v1/reports", json=report_body(**overrides), headers=self.h(Role.reporter)
        )
        assert response.status_code == 201, response.text
        self.runtime.risk.refresh_now()
        return response.json()  # type: ignore[no-any-return]

    def retract(self, report_id: str) -> None:
        response = self.client.patch(
            f"/v1/reports/{report_id}",
            json={"status": "retracted", "note": "test"},
            headers=self.h(Role.analyst),
        )
        assert response.status_code == 200, response.text
        self.runtime.risk.refresh_now()


@pytest.fixture(scope="module")
def demo_graph() -> Any:
    return build_graph_from_file(
        SHIPPED_DATA_DIR / "port-au-prince-demo.osm", built_at=TEST_NOW, demo=True
    )


@pytest.fixture
def api(tmp_path: Path, demo_graph: Any) -> Iterator[RouteApi]:
    settings = Settings(data_dir=tmp_path, write_rate_per_minute=100_000)
    db = Database(settings.resolved_database_url)
    db.migrate()
    clock = FakeClock()
    runtime = Runtime(settings, db, demo_graph, clock=clock)
    keys = {role: create_key(db, role=role, name=role.value, at=clock()).key for role in Role}
    with TestClient(create_app(runtime=runtime)) as client:
        yield RouteApi(client, runtime, clock, keys)
    runtime.close()


def _midpoint(route: dict[str, Any]) -> tuple[float, float]:
    coords = route["geometry"]["coordinates"]
    lon, lat = coords[len(coords) // 2]
    return lon, lat


def _assert_matches_schema(doc: dict[str, Any]) -> None:
    """The hand-built document is exactly what the declared response model would emit."""
    assert RoutesResponse.model_validate(doc).model_dump(mode="json") == doc


def test_route_document_is_consistent(api: RouteApi) -> None:
    response = api.route(alternatives=2)
    assert response.status_code == 200, response.text
    doc = response.json()
    _assert_matches_schema(doc)
    assert doc["graph"]["demo"] is True
    assert doc["risk_snapshot"]["reports_considered"] == 0
    first = doc["routes"][0]
    assert first["rank"] == 0
    assert first["label"] == "recommended"
    # Steps add up to the route; the geometry starts and ends at the snapped points.
    assert math.isclose(
        sum(s["distance_m"] for s in first["steps"]), first["distance_m"], rel_tol=0.01
    )
    assert math.isclose(
        sum(s["duration_s"] for s in first["steps"]), first["duration_s"], rel_tol=0.01
    )
    coords = first["geometry"]["coordinates"]
    length = sum(haversine_m(*a, *b) for a, b in itertools.pairwise(coords))
    assert math.isclose(length, first["distance_m"], rel_tol=0.02)
    assert haversine_m(*coords[0], AIRPORT["lon"], AIRPORT["lat"]) < 500
    assert haversine_m(*coords[-1], PORT["lon"], PORT["lat"]) < 500
    assert first["risk"]["level"] == "low"
    assert first["escort"]["recommendation"] == "none"
    assert first["escort"]["policy_version"]
    # Alternatives are distinct routes and no faster than the recommended one at aversion 0.5.
    geometries = {tuple(map(tuple, r["geometry"]["coordinates"])) for r in doc["routes"]}
    assert len(geometries) == len(doc["routes"])
    assert doc["pareto"]
    assert all(0 <= p["route_rank"] < len(doc["routes"]) for p in doc["pareto"])


def test_report_on_the_route_shows_as_hotspot_and_aversion_trades_time(api: RouteApi) -> None:
    fastest = api.route(risk_aversion=0).json()["routes"][0]
    lon, lat = _midpoint(fastest)
    high_per_km = api.runtime.risk.config.levels.high
    created: list[str] = []
    # Severe reports at one spot until its road is at the high-risk level (a hotspot).
    while True:
        created.append(
            api.report(
                location={"lon": lon, "lat": lat},
                uncertainty_m=0,
                severity=5,
                fatalities=3,
                occurred_at=(TEST_NOW - timedelta(hours=2)).isoformat(),
            )["id"]
        )
        risky = api.route(risk_aversion=0).json()["routes"][0]
        if risky["risk"]["max_edge_risk"] >= high_per_km or len(created) == 10:
            break
    assert risky["risk"]["exposure"] > 0
    assert risky["risk"]["max_edge_risk"] >= high_per_km
    hotspot_reports = {r for h in risky["risk"]["hotspots"] for r in h["reports"]}
    assert hotspot_reports
    assert hotspot_reports <= set(created)
    assert risky["risk"]["high_risk_distance_m"] > 0
    safest = api.route(risk_aversion=1).json()["routes"][0]
    assert safest["risk"]["exposure"] <= risky["risk"]["exposure"]
    assert safest["duration_s"] >= risky["duration_s"]
    # The risk layer names the reports too.
    layer = api.client.get("/v1/risk", headers=api.h()).json()
    assert layer["type"] == "FeatureCollection"
    assert any(set(f["properties"]["reports"]) & set(created) for f in layer["features"])
    # Retracting them takes the risk away again.
    for report_id in created:
        api.retract(report_id)
    assert api.route(risk_aversion=0).json()["routes"][0]["risk"]["exposure"] == 0


def test_depart_at_replays_the_past(api: RouteApi) -> None:
    lon, lat = _midpoint(api.route().json()["routes"][0])
    api.report(
        location={"lon": lon, "lat": lat}, occurred_at=(TEST_NOW - timedelta(hours=1)).isoformat()
    )
    now = api.route().json()
    before = api.route(depart_at=(TEST_NOW - timedelta(days=1)).isoformat()).json()
    assert now["routes"][0]["risk"]["exposure"] > 0
    assert before["routes"][0]["risk"]["exposure"] == 0
    assert before["risk_snapshot"]["reports_considered"] == 0


def _report_clashes_along_the_fastest_route(api: RouteApi) -> None:
    """Severe armed clashes an hour ago at a dozen points of the fastest route."""
    route = api.route(risk_aversion=0).json()["routes"][0]
    coords = route["geometry"]["coordinates"]
    for lon, lat in coords[:: max(1, len(coords) // 12)]:
        api.report(
            location={"lon": lon, "lat": lat},
            uncertainty_m=0,
            severity=5,
            fatalities=10,
            category="armed_clash",
            occurred_at=(TEST_NOW - timedelta(hours=1)).isoformat(),
        )


def test_severe_reports_escalate_the_escort(api: RouteApi) -> None:
    _report_clashes_along_the_fastest_route(api)
    doc = api.route(risk_aversion=0, convoy={"vehicles": 6, "cargo": "cash"}).json()
    _assert_matches_schema(doc)
    escort = doc["routes"][0]["escort"]
    assert doc["routes"][0]["risk"]["level"] in {"high", "very_high", "unacceptable"}
    assert escort["recommendation"] != "none"
    assert escort["rationale"]
    # Last resort: something other than an escort was looked at first.
    kinds = [a["kind"] for a in escort["alternatives_considered"]]
    assert kinds
    shifts = [a for a in escort["alternatives_considered"] if a["kind"] == "departure_shift"]
    assert shifts
    assert all(a["depart_at"].endswith("Z") for a in shifts)
    assert kinds[0] in {"safer_route", "departure_shift"}


def test_far_point_is_422_with_distance(api: RouteApi) -> None:
    response = api.client.post(
        "/v1/routes",
        json={"origin": {"lon": -72.60, "lat": 18.30}, "destination": PORT},
        headers=api.h(),
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"].endswith("too-far-from-road")
    assert body["distance_m"] > 500
    assert "origin" in body["detail"]


def test_no_go_zone_around_destination_is_no_route(api: RouteApi) -> None:
    lon, lat = PORT["lon"], PORT["lat"]
    d = 0.02
    ring = square_ring(lon, lat, d)
    created = api.client.post(
        "/v1/zones",
        json={
            "name": "port blockade",
            "kind": "no_go",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        },
        headers=api.h(Role.analyst),
    )
    assert created.status_code == 201, created.text
    api.runtime.risk.refresh_now()
    response = api.route()
    assert response.status_code == 422
    body = response.json()
    assert body["type"].endswith("no-route")
    assert created.json()["id"] in body["blocking_zones"]


def test_origin_in_a_caution_zone_is_said_without_any_report(api: RouteApi) -> None:
    """Aid must reach sites in hot neighbourhoods: a caution zone around the origin marks
    the route's start as in risk, though no road of it is high-risk, and the answer says
    so."""
    said = "The origin itself lies in a risky area"

    def rationale() -> list[str]:
        response = api.route()
        assert response.status_code == 200, response.text
        return response.json()["routes"][0]["escort"]["rationale"]  # type: ignore[no-any-return]

    assert not any(said in line for line in rationale())
    created = api.client.post(
        "/v1/zones",
        json={
            "name": "airport approach",
            "kind": "caution",
            "multiplier": 2.0,
            "geometry": {
                "type": "Polygon",
                "coordinates": [square_ring(AIRPORT["lon"], AIRPORT["lat"], 0.003)],
            },
        },
        headers=api.h(Role.analyst),
    )
    assert created.status_code == 201, created.text
    api.runtime.risk.refresh_now()
    assert any(said in line for line in rationale())
    # The zone's own floor of risk stays under the high-risk threshold: it is the zone.
    first = api.route().json()["routes"][0]
    assert first["risk"]["max_edge_risk"] < api.runtime.risk.routing.high_risk_per_km


def test_avoid_polygon_changes_the_route(api: RouteApi) -> None:
    first = api.route().json()["routes"][0]
    lon, lat = _midpoint(first)
    d = 0.002
    ring = square_ring(lon, lat, d)
    response = api.route(avoid={"polygons": {"type": "Polygon", "coordinates": [ring]}})
    if response.status_code == 422:  # the demo may have no way around: then it must say so
        assert response.json()["type"].endswith("no-route")
        return
    other = response.json()["routes"][0]
    assert other["geometry"] != first["geometry"]
    assert other["duration_s"] >= first["duration_s"]


def test_geojson_and_gpx_renderings(api: RouteApi) -> None:
    body = {"origin": AIRPORT, "destination": PORT, "alternatives": 1}
    geo = api.client.post("/v1/routes", json=body, headers=api.h(accept="application/geo+json"))
    assert geo.headers["content-type"].startswith("application/geo+json")
    collection = geo.json()
    assert collection["type"] == "FeatureCollection"
    assert collection["features"][0]["geometry"]["type"] == "LineString"
    gpx = api.client.post("/v1/routes", json=body, headers=api.h(accept="application/gpx+xml"))
    assert gpx.headers["content-type"].startswith("application/gpx+xml")
    root = ET.fromstring(gpx.text)
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    tracks = root.findall("g:trk", ns)
    assert len(tracks) == len(collection["features"])
    points = tracks[0].findall("g:trkseg/g:trkpt", ns)
    assert len(points) == len(collection["features"][0]["geometry"]["coordinates"])


def test_escort_assessment_by_route_id_and_geometry(api: RouteApi) -> None:
    route = api.route().json()["routes"][0]
    by_id = api.client.post(
        "/v1/escort-assessments",
        json={"route_id": route["id"], "convoy": {"vehicles": 2}},
        headers=api.h(),
    )
    assert by_id.status_code == 200, by_id.text
    assert math.isclose(by_id.json()["distance_m"], route["distance_m"], rel_tol=1e-6)
    drawn = api.client.post(
        "/v1/escort-assessments",
        json={"geometry": route["geometry"], "convoy": {"vehicles": 2}},
        headers=api.h(),
    )
    assert drawn.status_code == 200, drawn.text
    assert math.isclose(drawn.json()["distance_m"], route["distance_m"], rel_tol=0.05)
    assert set(drawn.json()["escort"]) >= {"recommendation", "rationale", "policy_version"}
    missing = api.client.post(
        "/v1/escort-assessments", json={"route_id": "rt_nope"}, headers=api.h()
    )
    assert missing.status_code == 404
    neither = api.client.post("/v1/escort-assessments", json={"convoy": {}}, headers=api.h())
    assert neither.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"origin": AIRPORT},
        {"origin": AIRPORT, "destination": PORT, "risk_aversion": 1.5},
        {"origin": AIRPORT, "destination": {"lon": 200, "lat": 0}},
        {"origin": AIRPORT, "destination": PORT, "depart_at": "2026-11-24T14:00:00"},
        {"origin": AIRPORT, "destination": PORT, "convoy": {"cargo": "gold"}},
        {"origin": AIRPORT, "destination": PORT, "unknown": 1},
    ],
)
def test_bad_route_requests_are_422(api: RouteApi, body: dict[str, Any]) -> None:
    response = api.client.post("/v1/routes", json=body, headers=api.h())
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]


def test_routes_need_a_key(api: RouteApi) -> None:
    response = api.client.post("/v1/routes", json={"origin": AIRPORT, "destination": PORT})
    assert response.status_code == 401


def test_bad_risk_bbox_is_422(api: RouteApi) -> None:
    response = api.client.get("/v1/risk", params={"bbox": "1,2,3"}, headers=api.h())
    assert response.status_code == 422


def test_background_refresh_picks_up_a_new_report_quickly(api: RouteApi) -> None:
    api.runtime.start()
    lon, lat = _midpoint(api.route().json()["routes"][0])
    response = api.client.post(
        "/v1/reports",
        json=report_body(
            location={"lon": lon, "lat": lat},
            occurred_at=(TEST_NOW - timedelta(minutes=5)).isoformat(),
        ),
        headers=api.h(Role.reporter),
    )
    assert response.status_code == 201
    assert api.runtime.risk.wait_fresh(timeout_s=2.0)
    assert api.route().json()["routes"][0]["risk"]["exposure"] > 0


def test_a_request_looks_up_each_departure_time_once(
    api: RouteApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The routes of one request try the same departure times: one risk field lookup each."""
    _report_clashes_along_the_fastest_route(api)
    looked_up: list[Any] = []
    field_at = api.runtime.risk.field_at

    def spy(at: Any, *, quantum: timedelta | None = None) -> Any:
        if quantum is not None:
            looked_up.append(at)
        return field_at(at, quantum=quantum)

    monkeypatch.setattr(api.runtime.risk, "field_at", spy)
    doc = api.route(risk_aversion=0, alternatives=2, convoy={"vehicles": 6, "cargo": "cash"}).json()
    _assert_matches_schema(doc)
    shifted = [
        r
        for r in doc["routes"]
        if any(a["kind"] == "departure_shift" for a in r["escort"]["alternatives_considered"])
    ]
    assert len(shifted) >= 2  # several routes tried other departure times
    assert looked_up
    assert len(looked_up) == len(set(looked_up))
