"""``GET /v1/events``: live events, ``Last-Event-ID`` replay, heartbeats, shutdown."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from conftest import Api, report_body
from corridors.api.routers import events as events_router
from corridors.domain import Role


@pytest.fixture
def api(make_api: Callable[..., Api], database_url: str) -> Api:
    return make_api(database_url)


@pytest.fixture(autouse=True)
def _quick_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_router, "HEARTBEAT_S", 0.2)
    monkeypatch.setattr(events_router, "POLL_S", 0.1)


def read_messages(
    response: httpx.Response, *, want: int, timeout_s: float = 10.0
) -> Iterator[dict[str, Any]]:
    """Parse SSE messages (id/event/data and comments) until ``want`` events came."""
    deadline = time.monotonic() + timeout_s
    message: dict[str, Any] = {}
    got = 0
    for line in response.iter_lines():
        assert time.monotonic() < deadline, "no event in time"
        if line == "":
            if message:
                yield message
                if "data" in message:
                    got += 1
                    if got == want:
                        return
            message = {}
            continue
        if line.startswith(":"):
            message.setdefault("comments", []).append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        message[name] = value.lstrip(" ")


def events_only(messages: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if "data" in m]


def post_report(api: Api, **overrides: Any) -> dict[str, Any]:
    response = api.client.post(
        "/v1/reports", json=report_body(**overrides), headers=api.headers(Role.reporter)
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_stream_delivers_a_new_report(api: Api) -> None:
    with api.client.stream("GET", "/v1/events", headers=api.headers(Role.viewer)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        # Published from another thread while the stream waits.
        timer = threading.Timer(0.3, post_report, args=(api,))
        timer.start()
        messages = list(read_messages(response, want=1))
        timer.join()
    received = events_only(iter(messages))
    assert len(received) == 1
    event = received[0]
    assert event["event"] == "report.created"
    body = json.loads(event["data"])
    assert int(event["id"]) == body["id"]
    stored = api.runtime.events.after(0)
    assert [e.id for e in stored] == [body["id"]]
    assert body["data"]["category"] == "armed_clash"
    assert not {"source", "description", "created_by"} & set(body["data"])
    # Heartbeat comments were sent while waiting.
    assert any("keep-alive" in m.get("comments", []) for m in messages)


def test_last_event_id_replays_from_the_log(api: Api) -> None:
    ids = [post_report(api, severity=s)["id"] for s in (1, 2, 3)]
    events = api.runtime.events.after(0)
    assert [e.payload["id"] for e in events] == ids
    first = events[0].id
    headers = api.headers(Role.viewer, **{"Last-Event-ID": str(first)})
    with api.client.stream("GET", "/v1/events", headers=headers) as response:
        replayed = events_only(read_messages(response, want=2))
    assert [int(m["id"]) for m in replayed] == [e.id for e in events[1:]]
    assert [json.loads(m["data"])["data"]["id"] for m in replayed] == ids[1:]
    # The query parameter does the same; a type filter that matches nothing waits quietly.
    with api.client.stream(
        "GET",
        f"/v1/events?last_event_id={first - 1 if first else 0}",
        headers=api.headers(Role.viewer),
    ) as response:
        assert [int(m["id"]) for m in events_only(read_messages(response, want=3))] == [
            e.id for e in events
        ]


def test_without_last_event_id_only_new_events_come(api: Api) -> None:
    post_report(api)
    with api.client.stream("GET", "/v1/events", headers=api.headers(Role.viewer)) as response:
        timer = threading.Timer(0.3, post_report, args=(api,), kwargs={"severity": 2})
        timer.start()
        received = events_only(read_messages(response, want=1))
        timer.join()
    assert json.loads(received[0]["data"])["data"]["severity"] == 2


def test_stream_ends_on_shutdown(api: Api) -> None:
    with api.client.stream("GET", "/v1/events", headers=api.headers(Role.viewer)) as response:
        timer = threading.Timer(0.3, api.runtime.events.close)
        timer.start()
        started = time.monotonic()
        lines = list(response.iter_lines())  # returns once the server ends the stream
        timer.join()
    assert time.monotonic() - started < 5
    assert lines[0].startswith("retry:")


@pytest.mark.parametrize(
    ("params", "headers"),
    [({"types": "report.deleted"}, {}), ({}, {"Last-Event-ID": "abc"})],
)
def test_bad_stream_requests_are_422(
    api: Api, params: dict[str, str], headers: dict[str, str]
) -> None:
    response = api.client.get(
        "/v1/events", params=params, headers=api.headers(Role.viewer, **headers)
    )
    assert response.status_code == 422
