"""Named corridors over HTTP on the demo network, on SQLite and PostgreSQL.

The expected status is recomputed independently from ``POST /v1/routes`` (same trip) with
the rule of the contract, then compared with what the corridor says by itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import TEST_NOW, FakeClock, report_body, square_ring
from corridors.api.app import create_app
from corridors.config import SHIPPED_DATA_DIR, Settings
from corridors.domain import Role
from corridors.graph.build import build_graph_from_file
from corridors.graph.model import RoadGraph
from corridors.services.keys import create_key
from corridors.services.runtime import Runtime
from corridors.store import Database

AIRPORT = {"lon": -72.2925, "lat": 18.5800}
PORT = {"lon": -72.3480, "lat": 18.5560}


class CorridorApi:
    """A demo-network app with a key per role and helpers."""

    def __init__(
        self,
        client: TestClient,
        runtime: Runtime,
        clock: FakeClock,
        keys: dict[Role, str],
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.clock = clock
        self.keys = keys

    def h(self, role: Role = Role.viewer) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}

    def create(self, **body: Any) -> dict[str, Any]:
        payload = {"name": "Airport - Port", "origin": AIRPORT, "destination": PORT, **body}
        response = self.client.post("/v1/corridors", json=payload, headers=self.h(Role.analyst))
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def get(self, corridor_id: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/corridors/{corridor_id}", headers=self.h())
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def report(self, lon: float, lat: float, **overrides: Any) -> dict[str, Any]:
        body = report_body(
            location={"lon": lon, "lat": lat},
            uncertainty_m=0,
            severity=5,
            fatalities=3,
            occurred_at=(TEST_NOW - timedelta(hours=1)).isoformat(),
        )
        body.update(overrides)
        response = self.client.post("/v1/reports", json=body, headers=self.h(Role.reporter))
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def retract(self, report_id: str) -> None:
        response = self.client.patch(
            f"/v1/reports/{report_id}",
            json={"status": "retracted", "note": "false alarm"},
            headers=self.h(Role.analyst),
        )
        assert response.status_code == 200, response.text

    def events(self, type_: str | None = None) -> list[Any]:
        return [e for e in self.runtime.events.after(0) if type_ is None or e.type == type_]


def expected_status(route_doc: dict[str, Any]) -> str:
    """The contract's rule, applied to a ``POST /v1/routes`` response (no caution zones)."""
    route = route_doc["routes"][0]
    recommendation = route["escort"]["recommendation"]
    if recommendation == "do_not_travel":
        return "closed"
    if recommendation in ("police_escort", "armed_escort"):
        return "restricted"
    if route["risk"]["level"] != "low" or route["risk"]["hotspots"]:
        return "caution"
    return "open"


@pytest.fixture(scope="module")
def demo_graph() -> RoadGraph:
    return build_graph_from_file(
        SHIPPED_DATA_DIR / "port-au-prince-demo.osm", built_at=TEST_NOW, demo=True
    )


def open_runtime(database_url: str, data_dir: Path, graph: RoadGraph, clock: FakeClock) -> Runtime:
    """A runtime on the demo graph (as a second process would open one)."""
    settings = Settings(data_dir=data_dir, database_url=database_url, write_rate_per_minute=10**6)
    db = Database(database_url)
    db.migrate()
    return Runtime(settings, db, graph, clock=clock)


@pytest.fixture
def capi(database_url: str, tmp_path: Path, demo_graph: RoadGraph) -> Iterator[CorridorApi]:
    clock = FakeClock()
    runtime = open_runtime(database_url, tmp_path / "data", demo_graph, clock)
    keys = {
        role: create_key(runtime.db, role=role, name=role.value, at=clock()).key for role in Role
    }
    with TestClient(create_app(runtime=runtime)) as client:
        yield CorridorApi(client, runtime, clock, keys)
    runtime.close()


def _midpoint(document: dict[str, Any]) -> tuple[float, float]:
    coords = document["route"]["geometry"]["coordinates"]
    lon, lat = coords[len(coords) // 2]
    return float(lon), float(lat)


def test_new_corridor_is_open_with_the_route_of_v1_routes(capi: CorridorApi) -> None:
    corridor = capi.create(risk_aversion=0.3, convoy={"vehicles": 2})
    routes = capi.client.post(
        "/v1/routes",
        json={
            "origin": AIRPORT,
            "destination": PORT,
            "risk_aversion": 0.3,
            "convoy": {"vehicles": 2},
        },
        headers=capi.h(),
    ).json()
    assert corridor["status"] == expected_status(routes) == "open"
    assert corridor["route"]["geometry"] == routes["routes"][0]["geometry"]
    assert corridor["route"]["distance_m"] == routes["routes"][0]["distance_m"]
    assert corridor["risk"] == corridor["route"]["risk"]
    assert corridor["escort"]["recommendation"] == "none"
    assert [h["status"] for h in corridor["history"]] == ["open"]
    assert corridor["history"][0]["previous_status"] is None
    assert corridor["created_by"] == "analyst"
    viewer_view = capi.get(corridor["id"])
    assert "created_by" not in viewer_view
    listed = capi.client.get("/v1/corridors", headers=capi.h()).json()["items"]
    assert [c["id"] for c in listed] == [corridor["id"]]
    # No status change, no event.
    assert capi.events("corridor.status_changed") == []


def test_a_report_on_the_route_changes_the_status_by_itself(capi: CorridorApi) -> None:
    corridor = capi.create(risk_aversion=0)
    lon, lat = _midpoint(corridor)
    created = [capi.report(lon, lat)["id"] for _ in range(3)]
    capi.runtime.risk.refresh_now()  # what the background thread does after the POSTs
    after = capi.get(corridor["id"])
    routes = capi.client.post(
        "/v1/routes",
        json={"origin": AIRPORT, "destination": PORT, "risk_aversion": 0},
        headers=capi.h(),
    ).json()
    want = expected_status(routes)
    assert want != "open"
    assert after["status"] == want
    assert [h["status"] for h in after["history"]] == [want, "open"]
    assert after["history"][0]["previous_status"] == "open"
    assert after["status_changed_at"] == TEST_NOW.isoformat().replace("+00:00", "Z")
    hotspot_reports = {r for h in after["risk"]["hotspots"] for r in h["reports"]}
    assert hotspot_reports <= set(created)
    changes = capi.events("corridor.status_changed")
    assert len(changes) == 1
    payload = changes[0].payload
    assert payload["corridor_id"] == corridor["id"]
    assert (payload["from"], payload["to"]) == ("open", want)
    assert payload["escort_recommendation"] == after["escort"]["recommendation"]
    assert payload["reason"] == after["history"][0]["reason"]
    # A refresh with nothing new changes nothing.
    capi.runtime.risk.refresh_now()
    assert len(capi.events("corridor.status_changed")) == 1
    # Retracting the reports opens it again.
    for report_id in created:
        capi.retract(report_id)
    capi.runtime.risk.refresh_now()
    reopened = capi.get(corridor["id"])
    assert reopened["status"] == "open"
    assert [h["status"] for h in reopened["history"]] == ["open", want, "open"]
    assert len(capi.events("corridor.status_changed")) == 2


def test_no_go_zone_closes_the_corridor_and_ending_it_reopens(capi: CorridorApi) -> None:
    corridor = capi.create()
    lon, lat, d = PORT["lon"], PORT["lat"], 0.02
    ring = square_ring(lon, lat, d)
    zone = capi.client.post(
        "/v1/zones",
        json={
            "name": "blockade",
            "kind": "no_go",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        },
        headers=capi.h(Role.analyst),
    )
    assert zone.status_code == 201, zone.text
    capi.runtime.risk.refresh_now()
    closed = capi.get(corridor["id"])
    assert closed["status"] == "closed"
    assert closed["route"] is None
    assert closed["escort"] is None
    assert zone.json()["id"] in closed["status_reason"]
    capi.clock.advance(minutes=1)
    ended = capi.client.delete(f"/v1/zones/{zone.json()['id']}", headers=capi.h(Role.analyst))
    assert ended.status_code == 200
    capi.runtime.risk.refresh_now()
    assert capi.get(corridor["id"])["status"] == "open"


def test_caution_zone_on_the_route_is_caution(capi: CorridorApi) -> None:
    corridor = capi.create(risk_aversion=0)
    lon, lat = _midpoint(corridor)
    d = 0.003
    ring = square_ring(lon, lat, d)
    zone = capi.client.post(
        "/v1/zones",
        json={
            "name": "market",
            "kind": "caution",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        },
        headers=capi.h(Role.analyst),
    ).json()
    capi.runtime.risk.refresh_now()
    after = capi.get(corridor["id"])
    assert after["status"] == "caution"
    assert zone["id"] in after["status_reason"]


def test_far_point_is_422_and_archive_hides_the_corridor(capi: CorridorApi) -> None:
    far = capi.client.post(
        "/v1/corridors",
        json={"name": "x", "origin": {"lon": -72.60, "lat": 18.30}, "destination": PORT},
        headers=capi.h(Role.analyst),
    )
    assert far.status_code == 422
    assert far.json()["type"].endswith("too-far-from-road")
    bad = capi.client.post(
        "/v1/corridors",
        json={"name": "", "origin": AIRPORT, "destination": PORT},
        headers=capi.h(Role.analyst),
    )
    assert bad.status_code == 422
    nul = capi.client.post(
        "/v1/corridors",
        json={"name": "a\u0000b", "origin": AIRPORT, "destination": PORT},
        headers=capi.h(Role.analyst),
    )
    assert nul.status_code == 422
    assert capi.client.get("/v1/corridors/a%00b", headers=capi.h()).status_code == 404
    corridor = capi.create()
    gone = capi.client.delete(f"/v1/corridors/{corridor['id']}", headers=capi.h(Role.analyst))
    assert gone.status_code == 200
    assert capi.client.get(f"/v1/corridors/{corridor['id']}", headers=capi.h()).status_code == 404
    assert capi.client.get("/v1/corridors", headers=capi.h()).json()["items"] == []
    again = capi.client.delete(f"/v1/corridors/{corridor['id']}", headers=capi.h(Role.analyst))
    assert again.status_code == 404


def test_two_processes_record_a_change_once(
    capi: CorridorApi, database_url: str, tmp_path: Path, demo_graph: RoadGraph
) -> None:
    corridor = capi.create(risk_aversion=0)
    lon, lat = _midpoint(corridor)
    for _ in range(3):
        capi.report(lon, lat)
    other = open_runtime(database_url, tmp_path / "data", demo_graph, capi.clock)
    try:
        other.risk.refresh_now()
        capi.runtime.risk.refresh_now()
    finally:
        other.close()
    history = capi.get(corridor["id"])["history"]
    assert len(history) == 2
    assert len(capi.events("corridor.status_changed")) == 1


def test_reevaluation_of_many_corridors_is_cheap(capi: CorridorApi) -> None:
    import time

    for i in range(20):
        capi.create(name=f"c{i}", risk_aversion=i / 20)
    started = time.perf_counter()
    capi.runtime.risk.refresh_now()
    elapsed_s = time.perf_counter() - started
    assert elapsed_s < 2.0, elapsed_s  # ~20 x a few ms on the demo network
