"""Security properties named in ``docs/SECURITY.md``: no stack traces to clients, no keys or
secrets in logs, CORS closed unless configured, security headers on every kind of response.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import Api, report_body
from corridors.api.app import create_app
from corridors.domain import Role

MakeApi = Callable[..., Api]

#: Security headers every response must carry (see api/middleware.py).
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
MARKER = "s3cr3t-internal-detail-4f1c"


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'security.sqlite3'}"


def _explode(*_: Any, **__: Any) -> Any:
    raise RuntimeError(f"boom at /srv/corridors/secret.py with {MARKER}")


def test_unhandled_error_has_no_stack_trace(
    make_api: MakeApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = make_api(_sqlite(tmp_path))
    monkeypatch.setattr("corridors.api.routers.service.graph_document", _explode)
    caplog.set_level(logging.ERROR)
    app = create_app(runtime=api.runtime)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/graph")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail"}
    assert body["status"] == 500
    for leak in (MARKER, "Traceback", "RuntimeError", "secret.py", 'File "'):
        assert leak not in response.text
    # The operator gets the traceback in the log instead.
    assert MARKER in caplog.text
    assert "Traceback" in caplog.text


def test_keys_and_secrets_never_in_logs(
    database_url: str, make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = make_api(database_url)
    admin = api.headers(Role.admin)
    made = api.client.post(
        "/v1/keys", json={"role": "reporter", "name": "field-team"}, headers=admin
    )
    assert made.status_code == 201, made.text
    new_key = made.json()["key"]
    secret_part = new_key.split("_", 2)[2]  # cor_<prefix>_<secret>
    assert len(secret_part) >= 20

    # Use it, fail with a wrong secret behind the same prefix, and with a missing key.
    posted = api.client.post("/v1/reports", json=report_body(), headers={"X-API-Key": new_key})
    assert posted.status_code == 201, posted.text
    forged = new_key[: -len(secret_part)] + "x" * len(secret_part)
    assert api.client.get("/v1/reports", headers={"X-API-Key": forged}).status_code == 401
    assert api.client.get("/v1/reports").status_code == 401

    webhook_secret = "whsec-never-logged-0123456789abcdef"
    paths = api.client.get("/openapi.json").json()["paths"]
    if "post" in paths.get("/v1/webhooks", {}):
        hook = api.client.post(
            "/v1/webhooks",
            json={
                "url": "http://127.0.0.1:9/hook",
                "secret": webhook_secret,
                "events": ["report.created"],
            },
            headers=admin,
        )
        assert hook.status_code == 201, hook.text
        assert webhook_secret not in hook.text
        again = api.client.post("/v1/reports", json=report_body(), headers={"X-API-Key": new_key})
        assert again.status_code == 201

    audit = api.client.get("/v1/audit", headers=admin)
    assert audit.status_code == 200
    assert caplog.records, "nothing was logged at all: the check would be vacuous"
    stored = [*(api.keys.values()), new_key, secret_part, webhook_secret]
    for secret in stored:
        assert secret not in caplog.text
        assert secret not in audit.text
    assert forged not in caplog.text
    listed = api.client.get("/v1/keys", headers=admin).text
    assert new_key not in listed
    assert secret_part not in listed


def test_cors_is_closed_by_default_even_for_preflight(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(_sqlite(tmp_path))
    response = api.client.options(
        "/v1/routes",
        headers={
            "Origin": "https://planner.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-API-Key, Content-Type",
        },
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_only_the_configured_origins(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(_sqlite(tmp_path), cors_origins=["https://planner.example"])
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-API-Key, Content-Type",
    }
    allowed = api.client.options(
        "/v1/routes", headers={"Origin": "https://planner.example", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://planner.example"
    assert "x-api-key" in allowed.headers["access-control-allow-headers"].lower()
    other = api.client.options(
        "/v1/routes", headers={"Origin": "https://evil.example", **preflight}
    )
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"
    simple = api.client.get(
        "/v1/reports", headers={"Origin": "https://evil.example", **api.headers(Role.viewer)}
    )
    assert "access-control-allow-origin" not in simple.headers


def test_security_headers_on_every_kind_of_response(
    make_api: MakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(_sqlite(tmp_path), max_body_bytes=2_000)
    viewer = api.headers(Role.viewer)
    responses = {
        200: api.client.get("/healthz"),
        401: api.client.get("/v1/reports"),
        403: api.client.post("/v1/zones", json={}, headers=viewer),
        404: api.client.get("/v1/reports/no-such-id", headers=viewer),
        413: api.client.post(
            "/v1/reports",
            content=b"x" * 5_000,
            headers={"Content-Type": "application/json", **api.headers(Role.reporter)},
        ),
        422: api.client.post("/v1/routes", json={"origin": "here"}, headers=viewer),
    }
    monkeypatch.setattr("corridors.api.routers.service.graph_document", _explode)
    with TestClient(create_app(runtime=api.runtime), raise_server_exceptions=False) as client:
        responses[500] = client.get("/v1/graph")
    for status, response in responses.items():
        assert response.status_code == status, response.text
        for name, value in HEADERS.items():
            assert response.headers.get(name) == value, (status, name)


def test_security_doc_names_only_real_tests() -> None:
    """Every ``file::test`` that ``docs/SECURITY.md`` cites exists in ``tests/``."""
    tests_dir = Path(__file__).resolve().parent
    doc = (tests_dir.parent / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"`(test_\w+\.py)::(test_\w+)`", doc))
    assert len(cited) >= 30
    missing = [
        f"{file}::{name}"
        for file, name in sorted(cited)
        if not (tests_dir / file).is_file()
        or not re.search(
            rf"^(async )?def {name}\(", (tests_dir / file).read_text(encoding="utf-8"), re.M
        )
    ]
    assert not missing
