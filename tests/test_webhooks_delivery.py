"""Webhooks against a real HTTP receiver on 127.0.0.1, on SQLite and PostgreSQL.

The receiver checks signatures itself with :mod:`hmac` (not with the service's helper).
Deliveries are driven with ``dispatch_due()`` and the fake clock: no sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from conftest import TEST_NOW, FakeClock
from corridors.api.app import create_app
from corridors.domain import Role
from corridors.graph.model import RoadGraph
from corridors.services.keys import create_key
from test_corridors_api import CorridorApi, _midpoint, demo_graph, open_runtime

__all__ = ["demo_graph"]  # the module-scoped fixture, shared

SECRET = "s3cret-for-the-tests-0123456789"


@dataclass
class Receiver:
    """A local HTTP endpoint recording every POST; answers with ``statuses`` in turn."""

    statuses: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def verified(self, secret: str) -> list[bool]:
        out = []
        for r in self.requests:
            want = "sha256=" + hmac.new(secret.encode(), r["body"], hashlib.sha256).hexdigest()
            out.append(hmac.compare_digest(want, r["headers"].get("x-corridors-signature", "")))
        return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                rec.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                status = rec.statuses.pop(0) if rec.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


def _api(
    database_url: str, data_dir: Path, graph: RoadGraph, keys: dict[Role, str] | None
) -> CorridorApi:
    clock = FakeClock()
    runtime = open_runtime(database_url, data_dir, graph, clock)
    if keys is None:
        keys = {r: create_key(runtime.db, role=r, name=r.value, at=clock()).key for r in Role}
    client = TestClient(create_app(runtime=runtime))
    client.__enter__()
    return CorridorApi(client, runtime, clock, keys)


def _close(api: CorridorApi) -> None:
    api.client.__exit__(None, None, None)
    api.runtime.close()


@pytest.fixture
def wapi(database_url: str, tmp_path: Path, demo_graph: RoadGraph) -> Iterator[CorridorApi]:
    api = _api(database_url, tmp_path / "data", demo_graph, None)
    yield api
    _close(api)


def subscribe(api: CorridorApi, url: str, events: list[str], secret: str = SECRET) -> str:
    response = api.client.post(
        "/v1/webhooks",
        json={"url": url, "secret": secret, "events": events},
        headers=api.h(Role.admin),
    )
    assert response.status_code == 201, response.text
    document = response.json()
    assert "secret" not in document
    assert document["secret_hint"].endswith(secret[-4:])
    return str(document["id"])


def deliveries(api: CorridorApi, webhook_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=api.h(Role.admin))
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_status_change_gives_one_signed_delivery(wapi: CorridorApi, receiver: Receiver) -> None:
    webhook_id = subscribe(wapi, receiver.url, ["corridor.status_changed"])
    corridor = wapi.create(risk_aversion=0)
    lon, lat = _midpoint(corridor)
    for _ in range(3):
        wapi.report(lon, lat)
    wapi.runtime.risk.refresh_now()
    status = wapi.get(corridor["id"])["status"]
    assert status != "open"
    # Nothing is sent by the request or the refresh themselves: the dispatcher sends.
    assert receiver.requests == []
    assert wapi.runtime.webhooks.dispatch_due() == 1
    assert wapi.runtime.webhooks.dispatch_due() == 0
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert receiver.verified(SECRET) == [True]
    # A receiver holding another secret detects the forgery / misconfiguration.
    assert receiver.verified("another-secret-0123456789") == [False]
    headers = request["headers"]
    assert headers["x-corridors-event"] == "corridor.status_changed"
    assert headers["content-type"] == "application/json"
    assert abs(int(headers["x-corridors-timestamp"]) - TEST_NOW.timestamp()) < 2
    body = json.loads(request["body"])
    assert body["type"] == "corridor.status_changed"
    assert body["data"]["corridor_id"] == corridor["id"]
    assert (body["data"]["from"], body["data"]["to"]) == ("open", status)
    listed = deliveries(wapi, webhook_id)
    assert len(listed) == 1
    assert listed[0]["id"] == headers["x-corridors-delivery"]
    assert listed[0]["status"] == "delivered"
    assert listed[0]["attempts"] == 1
    assert listed[0]["status_code"] == 200
    assert listed[0]["event_id"] == body["id"]


def test_failing_receiver_gets_it_on_retry(wapi: CorridorApi, receiver: Receiver) -> None:
    receiver.statuses = [500]
    webhook_id = subscribe(wapi, receiver.url, ["report.created"])
    report = wapi.report(-72.33, 18.55)
    assert wapi.runtime.webhooks.dispatch_due() == 1
    first = deliveries(wapi, webhook_id)[0]
    assert first["status"] == "pending"
    assert (first["attempts"], first["status_code"], first["last_error"]) == (1, 500, "HTTP 500")
    wait_s = (_parse(first["next_attempt_at"]) - TEST_NOW).total_seconds()
    assert 5.0 <= wait_s <= 5.0 * 1.25 + 1e-6  # first backoff step, with jitter
    assert wapi.runtime.webhooks.dispatch_due() == 0  # not due yet
    wapi.clock.advance(seconds=7)
    assert wapi.runtime.webhooks.dispatch_due() == 1
    second = deliveries(wapi, webhook_id)[0]
    assert (second["status"], second["attempts"], second["status_code"]) == ("delivered", 2, 200)
    assert second["next_attempt_at"] is None
    assert len(receiver.requests) == 2
    # The same delivery, the same bytes and signature, both valid.
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    ids = {r["headers"]["x-corridors-delivery"] for r in receiver.requests}
    assert ids == {second["id"]}
    assert receiver.verified(SECRET) == [True, True]
    data = json.loads(receiver.requests[1]["body"])["data"]
    assert data["id"] == report["id"]
    # Viewers may subscribe to the same events: no source, description or author in them.
    assert not {"source", "description", "created_by"} & set(data)


def test_delivery_fails_after_the_last_attempt(wapi: CorridorApi, receiver: Receiver) -> None:
    receiver.statuses = [503] * 10
    webhook_id = subscribe(wapi, receiver.url, ["report.created"])
    wapi.report(-72.33, 18.55)
    for _ in range(6):
        assert wapi.runtime.webhooks.dispatch_due() == 1
        wapi.clock.advance(hours=2)
    assert wapi.runtime.webhooks.dispatch_due() == 0
    final = deliveries(wapi, webhook_id)[0]
    assert (final["status"], final["attempts"], final["status_code"]) == ("failed", 6, 503)
    assert len(receiver.requests) == 6


def test_unreachable_receiver_is_retried_with_the_error(wapi: CorridorApi) -> None:
    webhook_id = subscribe(wapi, "http://127.0.0.1:9/nothing-listens", ["report.created"])
    wapi.report(-72.33, 18.55)
    assert wapi.runtime.webhooks.dispatch_due() == 1
    pending = deliveries(wapi, webhook_id)[0]
    assert pending["status"] == "pending"
    assert pending["status_code"] is None
    assert pending["last_error"]


def test_pending_deliveries_survive_a_restart(
    database_url: str, tmp_path: Path, demo_graph: RoadGraph, receiver: Receiver
) -> None:
    first = _api(database_url, tmp_path / "data", demo_graph, None)
    webhook_id = subscribe(first, receiver.url, ["report.created"])
    first.report(-72.33, 18.55)
    keys = first.keys
    _close(first)  # stopped before any delivery
    assert receiver.requests == []
    second = _api(database_url, tmp_path / "data", demo_graph, keys)
    try:
        second.runtime.start()  # the dispatcher thread picks the pending row up
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(receiver.requests) == 1
        assert receiver.verified(SECRET) == [True]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if deliveries(second, webhook_id)[0]["status"] == "delivered":
                break
            time.sleep(0.05)
        assert deliveries(second, webhook_id)[0]["status"] == "delivered"
    finally:
        _close(second)


def test_secret_is_encrypted_at_rest_and_never_shown(wapi: CorridorApi) -> None:
    webhook_id = subscribe(wapi, "https://example.org/hook", ["report.created"])
    with wapi.runtime.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM webhooks")).mappings().all()
    assert len(rows) == 1
    assert all(SECRET not in str(v) for v in rows[0].values())
    assert rows[0]["secret_hint"] == SECRET[-4:]
    key_file = wapi.runtime.settings.data_dir / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert wapi.runtime.secret_box.decrypt(rows[0]["secret_encrypted"]) == SECRET
    listed = wapi.client.get("/v1/webhooks", headers=wapi.h(Role.admin)).json()["items"]
    assert [w["id"] for w in listed] == [webhook_id]
    assert SECRET not in json.dumps(listed)
    one = wapi.client.get(f"/v1/webhooks/{webhook_id}", headers=wapi.h(Role.admin))
    assert one.status_code == 200
    assert SECRET not in one.text


def test_deleted_webhook_gets_nothing_more(wapi: CorridorApi, receiver: Receiver) -> None:
    webhook_id = subscribe(wapi, receiver.url, ["report.created"])
    wapi.report(-72.33, 18.55)
    gone = wapi.client.delete(f"/v1/webhooks/{webhook_id}", headers=wapi.h(Role.admin))
    assert gone.status_code == 204
    wapi.report(-72.33, 18.55)
    assert wapi.runtime.webhooks.dispatch_due() == 0
    assert receiver.requests == []
    assert [d["status"] for d in deliveries(wapi, webhook_id)] == ["cancelled"]
    assert wapi.client.get("/v1/webhooks", headers=wapi.h(Role.admin)).json()["items"] == []
    again = wapi.client.delete(f"/v1/webhooks/{webhook_id}", headers=wapi.h(Role.admin))
    assert again.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.org/x", "secret": SECRET, "events": ["report.created"]},
        {"url": "example.org/x", "secret": SECRET, "events": ["report.created"]},
        {"url": "https://u:p@example.org/x", "secret": SECRET, "events": ["report.created"]},
        {"url": "https://example.org/x", "secret": "short", "events": ["report.created"]},
        {"url": "https://example.org/x", "secret": SECRET, "events": ["report.deleted"]},
        {"url": "https://example.org/x", "secret": SECRET, "events": []},
        {"url": "http://[::1/x", "secret": SECRET, "events": ["report.created"]},
        {"url": "https://example.org/\u0000", "secret": SECRET, "events": ["report.created"]},
        {"url": "https://example.org/x", "secret": SECRET + "\u0000", "events": ["report.created"]},
    ],
)
def test_bad_subscriptions_are_422(wapi: CorridorApi, body: dict[str, Any]) -> None:
    response = wapi.client.post("/v1/webhooks", json=body, headers=wapi.h(Role.admin))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def _parse(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))
