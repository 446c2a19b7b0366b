"""Concurrent retries of one submission create exactly one report (live server, both engines)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn

from conftest import FakeClock, report_body, tiny_graph
from corridors.api.app import create_app
from corridors.config import Settings
from corridors.domain import Role
from corridors.services.keys import create_key
from corridors.services.runtime import Runtime
from corridors.store import Database, ReportRepository

THREADS = 8


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str, Database]]:
    """A uvicorn server on a free port; yields (base_url, reporter_key, database)."""
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    db = Database(database_url)
    db.migrate()
    clock = FakeClock()
    key = create_key(db, role=Role.reporter, name="reporter", at=clock()).key
    runtime = Runtime(settings, db, tiny_graph(), clock=clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime=runtime), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", key, db
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        runtime.close()


def test_concurrent_retries_create_one_report(live_server: tuple[str, str, Database]) -> None:
    base_url, key, db = live_server
    barrier = threading.Barrier(THREADS)
    headers = {"X-API-Key": key, "Idempotency-Key": "convoy-42-submission"}

    def submit(_: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            barrier.wait()
            return client.post("/v1/reports", json=report_body(), headers=headers)

    with ThreadPoolExecutor(THREADS) as pool:
        responses = list(pool.map(submit, range(THREADS)))

    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * (THREADS - 1) + [201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    with db.session() as s:
        assert ReportRepository(s).count() == 1
