"""Service endpoints, error mapping and middleware, on the embedded demo network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corridors.api.app import create_app
from corridors.config import Settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("svc")
    settings = Settings(data_dir=data_dir, max_body_bytes=2_000)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_reports_graph_and_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"graph": "ok", "database": "ok"}


def test_graph_document_says_demo(client: TestClient) -> None:
    doc = client.get("/v1/graph").json()
    assert doc["demo"] is True
    assert doc["nodes"] >= 40
    assert doc["edges"] >= doc["nodes"]
    min_lon, min_lat, max_lon, max_lat = doc["bbox"]
    # The demo covers Port-au-Prince: from Carrefour in the west to Croix-des-Bouquets.
    assert min_lon < -72.38
    assert max_lon > -72.24
    assert 18.45 < min_lat < 18.53 < max_lat < 18.65
    assert set(doc) >= {"source", "osm_timestamp", "built_at", "bbox", "nodes", "edges", "demo"}


def test_unknown_path_is_problem_json(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 404
    assert set(body) >= {"type", "title", "status", "detail"}


def test_oversized_body_is_413_problem(client: TestClient) -> None:
    response = client.post(
        "/v1/reports", content=b"x" * 5_000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "2000 bytes" in response.json()["detail"]


def test_security_headers_present(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_cors_closed_by_default(client: TestClient) -> None:
    response = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_metrics_count_requests(client: TestClient) -> None:
    client.get("/healthz")
    text = client.get("/metrics").text
    assert 'corridors_http_requests_total{method="GET",route="/healthz",status="200"}' in text


def test_openapi_documents_contract_paths(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/healthz", "/readyz", "/v1/graph"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_readyz_is_503_when_database_unreachable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with TestClient(create_app(settings)) as test_client:
        test_client.app.state.runtime.db.dispose()  # type: ignore[attr-defined]
        test_client.app.state.runtime.db.ping = lambda: False  # type: ignore[attr-defined]
        response = test_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable"


def test_tune_for_serving_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    import gc

    from corridors.api.gc_tuning import YOUNG_THRESHOLD, tune_for_serving

    before = gc.get_threshold()
    try:
        tune_for_serving()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
