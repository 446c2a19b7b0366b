"""Crash safety: ``kill -9`` the server in the middle of writes, restart, check the data.

A real ``corridors serve`` process (demo network, data directory in ``tmp_path``) is
killed with SIGKILL

- in the middle of a burst of concurrent ``POST /v1/reports`` (SQLite and PostgreSQL):
  after a restart on the same data, every report acknowledged with 201 is there with
  exactly the fields that were sent;
- in the middle of ``POST /v1/reports/import`` of an invented ACLED-layout CSV of a few
  thousand rows (SQLite): the import is one transaction, so after a restart either all
  of its rows and its audit entry are stored, or none.

Both times the SQLite file passes ``PRAGMA integrity_check`` and every stored report
reads back through the API (nothing half-written). Bounded: each scenario kills and
restarts one server, well under 60 s.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ACLED_HEADER, fresh_postgres
from corridors.domain import Role
from corridors.services.keys import create_key
from corridors.store import Database

#: Runs the ``corridors`` console script in this interpreter.
_CLI = "import sys; from corridors.cli import main; sys.argv[0] = 'corridors'; main()"

#: Inside the demo network's service area (the contract's example report).
CENTRE_LON, CENTRE_LAT = -72.3381, 18.5392
BURST_THREADS = 8
#: Acknowledged reports to wait for before the kill.
BURST_ACKS_BEFORE_KILL = 60
IMPORT_ROWS = 4000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A ``corridors serve`` subprocess on a loopback port."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def kill9(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no rollback."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def serve(data_dir: Path, database_url: str | None, *, name: str) -> Iterator[Server]:
    """Start ``corridors serve`` on ``data_dir`` and wait for ``/readyz``; stop it after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDORS_")}
    env.update(
        CORRIDORS_DATA_DIR=str(data_dir),
        CORRIDORS_WRITE_RATE_PER_MINUTE="1000000",
        CORRIDORS_LOG_LEVEL="warning",
    )
    if database_url:
        env["CORRIDORS_DATABASE_URL"] = database_url
    port = _free_port()
    log = data_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _CLI, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited early:\n{log.read_text()}")
            try:
                if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not become ready:\n{log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def make_keys(database_url: str) -> dict[Role, str]:
    """A migrated database with a reporter and an analyst key."""
    db = Database(database_url)
    db.migrate()
    now = datetime.now(UTC)
    keys = {
        role: create_key(db, role=role, name=f"crash-{role.value}", at=now).key
        for role in (Role.reporter, Role.analyst)
    }
    db.dispose()
    return keys


def sqlite_integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file (recovers the WAL as a new opener)."""
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def report_body(n: int, occurred_at: datetime) -> dict[str, Any]:
    """A distinct, valid report: its description and position identify it."""
    return {
        "occurred_at": occurred_at.isoformat(),
        "location": {
            "lon": CENTRE_LON + (n % 50) * 1e-4,
            "lat": CENTRE_LAT + (n // 50 % 50) * 1e-5,
        },
        "uncertainty_m": 100 + n % 400,
        "category": "roadblock",
        "severity": 1 + n % 5,
        "fatalities": n % 3,
        "description": f"crash-safety burst report {n}",
    }


def read_all_reports(server: Server, key: str) -> list[dict[str, Any]]:
    """Every stored report, through the cursor pages of ``GET /v1/reports``."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=30) as client:
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            response = client.get("/v1/reports", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items


# --- A burst of report submissions --------------------------------------------------------


@dataclass
class Burst:
    sent: dict[str, dict[str, Any]]  # acknowledged id -> body sent
    attempted: int


def fire_burst(server: Server, key: str) -> Burst:
    """Submit reports from several threads; SIGKILL the server once enough were acked."""
    acked: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    counter = iter(range(1_000_000))
    enough = threading.Event()
    killed = threading.Event()
    occurred_at = datetime.now(UTC) - timedelta(hours=1)
    attempted = 0

    def worker() -> None:
        nonlocal attempted
        with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=10) as client:
            while not killed.is_set():
                with lock:
                    n = next(counter)
                    attempted += 1
                body = report_body(n, occurred_at)
                try:
                    response = client.post("/v1/reports", json=body)
                except httpx.HTTPError:
                    if killed.is_set():
                        return
                    raise
                assert response.status_code == 201, response.text
                with lock:
                    acked[response.json()["id"]] = body
                    if len(acked) >= BURST_ACKS_BEFORE_KILL:
                        enough.set()

    with ThreadPoolExecutor(BURST_THREADS) as pool:
        futures = [pool.submit(worker) for _ in range(BURST_THREADS)]
        assert enough.wait(timeout=30), "the burst never reached its quota"
        killed.set()
        server.kill9()  # requests are still in flight on the other threads
        for future in futures:
            future.result(timeout=30)
    with lock:
        return Burst(dict(acked), attempted)


ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_acknowledged_report_survives_kill_9(engine: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        database_url = (
            stack.enter_context(fresh_postgres())
            if engine == "postgresql"
            else f"sqlite:///{tmp_path / 'corridors.sqlite3'}"
        )
        keys = make_keys(database_url)
        # Not the managed DATA_DIR default: passing the URL exercises the same path both ways.
        with serve(tmp_path, database_url, name="first") as first:
            burst = fire_burst(first, keys[Role.reporter])
        assert first.process.returncode == -signal.SIGKILL
        print(f"{engine}: {len(burst.sent)} acknowledged of {burst.attempted} sent at the kill")
        # More attempted than acknowledged: the kill landed with requests in flight.
        assert len(burst.sent) >= BURST_ACKS_BEFORE_KILL
        assert burst.attempted > len(burst.sent)

        if engine == "sqlite":
            assert sqlite_integrity(tmp_path / "corridors.sqlite3") == "ok"

        with serve(tmp_path, database_url, name="second") as second:
            headers = {"X-API-Key": keys[Role.analyst]}
            with httpx.Client(base_url=second.url, headers=headers, timeout=10) as client:
                for report_id, body in burst.sent.items():
                    response = client.get(f"/v1/reports/{report_id}")
                    assert response.status_code == 200, f"acknowledged {report_id} lost"
                    stored = response.json()
                    for field in ("category", "severity", "fatalities", "description"):
                        assert stored[field] == body[field], (report_id, field)
                    assert stored["location"] == pytest.approx(body["location"])
                    assert stored["uncertainty_m"] == pytest.approx(body["uncertainty_m"])
                    assert stored["status"] == "active"
                # Every row that made it (acknowledged or not) reads back whole.
                stored_all = read_all_reports(second, keys[Role.analyst])
                assert set(burst.sent) <= {r["id"] for r in stored_all}
                assert len(stored_all) <= burst.attempted
                assert all(r["description"].startswith("crash-safety burst") for r in stored_all)
                # And the restarted service takes writes again.
                again = client.post(
                    "/v1/reports",
                    json=report_body(999_999, datetime.now(UTC) - timedelta(minutes=5)),
                    headers={"X-API-Key": keys[Role.reporter]},
                )
                assert again.status_code == 201, again.text

        if engine == "sqlite":
            assert sqlite_integrity(tmp_path / "corridors.sqlite3") == "ok"


# --- An import ----------------------------------------------------------------------------


def invented_acled_csv(rows: int) -> bytes:
    """An ACLED-layout export of ``rows`` INVENTED events around Port-au-Prince."""
    kinds = [
        ("Political violence", "Battles", "Armed clash"),
        ("Political violence", "Violence against civilians", "Abduction/forced disappearance"),
        ("Demonstrations", "Protests", "Peaceful protest"),
        ("Political violence", "Riots", "Mob violence"),
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ACLED_HEADER)
    writer.writeheader()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(rows):
        disorder, event_type, sub_event = kinds[i % len(kinds)]
        day = start + timedelta(days=i % 600)
        writer.writerow(
            {
                "event_id_cnty": f"CRASHTEST{i}",
                "event_date": day.strftime("%Y-%m-%d"),
                "year": day.year,
                "time_precision": 1,
                "disorder_type": disorder,
                "event_type": event_type,
                "sub_event_type": sub_event,
                "actor1": "Gang: Invented Test Group",
                "inter1": 3,
                "inter2": 0,
                "interaction": 30,
                "iso": 332,
                "region": "Caribbean",
                "country": "Haiti",
                "admin1": "Ouest",
                "admin2": "Port-au-Prince",
                "location": "Port-au-Prince - Test Quarter",
                "latitude": f"{CENTRE_LAT + (i % 40 - 20) * 5e-4:.4f}",
                "longitude": f"{CENTRE_LON + (i // 40 % 40 - 20) * 5e-4:.4f}",
                "geo_precision": 1,
                "source": "Invented Gazette",
                "source_scale": "National",
                "notes": "INVENTED NOTE TEXT",
                "fatalities": i % 4,
                "timestamp": 1_700_000_000,
            }
        )
    return out.getvalue().encode()


def _wal_size(db_path: Path) -> int:
    wal = db_path.with_name(db_path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_an_import_killed_midway_is_all_or_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "corridors.sqlite3"
    database_url = f"sqlite:///{db_path}"
    keys = make_keys(database_url)
    data = invented_acled_csv(IMPORT_ROWS)
    outcome: dict[str, Any] = {}

    def run_import(server: Server) -> None:
        try:
            response = httpx.post(
                f"{server.url}/v1/reports/import",
                params={"format": "acled"},
                content=data,
                headers={"X-API-Key": keys[Role.analyst], "Content-Type": "text/csv"},
                timeout=60,
            )
            outcome["status"] = response.status_code
            outcome["body"] = response.json()
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    with serve(tmp_path, database_url, name="first") as first:
        baseline = _wal_size(db_path)
        thread = threading.Thread(target=run_import, args=(first,))
        thread.start()
        # Kill as soon as the import's transaction starts writing (the WAL grows).
        deadline = time.monotonic() + 30
        while _wal_size(db_path) <= baseline and thread.is_alive():
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.002)
        first.kill9()
        thread.join(timeout=30)

    assert "error" in outcome, f"the import finished before the kill: {outcome}"
    assert sqlite_integrity(db_path) == "ok"

    with serve(tmp_path, database_url, name="second") as second:
        stored = read_all_reports(second, keys[Role.analyst])
    conn = sqlite3.connect(db_path)
    try:
        imported = conn.execute(
            "SELECT count(*) FROM reports WHERE external_id LIKE 'acled:CRASHTEST%'"
        ).fetchone()[0]
        audits = conn.execute(
            "SELECT count(*) FROM audit_log WHERE object_type = 'report' AND action LIKE '%import%'"
        ).fetchone()[0]
    finally:
        conn.close()
    print(f"import killed mid-way: {imported} of {IMPORT_ROWS} rows stored")
    assert imported in (0, IMPORT_ROWS), f"half an import survived: {imported} rows"
    assert audits == (1 if imported else 0)
    assert len(stored) == imported  # and whatever is stored reads back through the API
