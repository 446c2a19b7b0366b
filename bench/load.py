"""Load benchmark: ``POST /v1/routes`` at concurrency 16 with 1 and 2 workers, reports arriving.

Run ``.venv/bin/python bench/load.py`` (``--duration-s 20 --concurrency 16
--reports-per-s 5``; ``--workers 1 2``). Loopback only; nothing leaves the machine.

For each worker count the service is started as a real server:
``python -m uvicorn corridors.api.app:create_app --factory --workers N`` on 127.0.0.1 (the
same app ``corridors serve`` runs; ``--factory`` lets uvicorn's worker processes each call
``create_app()``, so each worker holds its own graph and risk state). All workers share
one PostgreSQL database, created fresh for the run from ``--postgres`` (default
``CORRIDORS_TEST_POSTGRES_URL`` or ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
and dropped afterwards; ``--sqlite`` uses a SQLite file in a temporary directory instead.
Keys are made in the database before the start; the write rate limit is lifted.

The load generator is one asyncio loop with ``httpx.AsyncClient``: ``--concurrency``
tasks each send ``POST /v1/routes`` back to back between random pairs of road vertices of
the served network (``GET /v1/graph/network``, seeded), ``alternatives=2``, for
``--duration-s`` seconds after a ``--warmup-s`` warm-up (or until ``--max-routes``); one
more task posts an incident report every ``1 / --reports-per-s`` seconds near a random
vertex, so risk keeps changing under the load. Client and server share the machine's
cores, so figures are a floor.

Prints a markdown table: routes/s, p50/p99 route latency, errors, reports accepted and the
reports' p50 latency, per worker count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from corridors.domain import Role
from corridors.services.keys import create_key
from corridors.store import Database

DEFAULT_POSTGRES = os.environ.get(
    "CORRIDORS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CATEGORIES = ("armed_clash", "roadblock", "attack", "extortion_checkpoint", "looting")


@dataclass
class Result:
    """Figures of one configuration."""

    workers: int
    duration_s: float
    route_latencies_s: list[float] = field(default_factory=list)
    route_errors: int = 0
    report_latencies_s: list[float] = field(default_factory=list)
    report_errors: int = 0

    @property
    def routes_per_s(self) -> float:
        """Successful routes per second over the measured window."""
        return len(self.route_latencies_s) / self.duration_s if self.duration_s else 0.0


def _ms(values: list[float], q: float) -> str:
    return f"{1000 * float(np.percentile(values, q)):.1f}" if values else "-"


# --- database and server ----------------------------------------------------------------


@contextmanager
def fresh_postgres(base_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on ``base_url``'s server, dropped afterwards."""
    base = make_url(base_url)
    name = f"corridors_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_keys(database_url: str) -> dict[Role, str]:
    """Migrate the database and make a viewer and a reporter key."""
    db = Database(database_url)
    db.migrate()
    now = datetime.now(UTC)
    keys = {
        role: create_key(
            db, role=role, name=f"load-{role.value}-{uuid.uuid4().hex[:6]}", at=now
        ).key
        for role in (Role.viewer, Role.reporter)
    }
    db.dispose()
    return keys


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_server(
    *,
    workers: int,
    database_url: str,
    data_dir: Path,
    osm_file: Path | None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """``uvicorn corridors.api.app:create_app --factory --workers N`` on a loopback port
    (``extra_env``: more environment, e.g. ``PYTHONPATH`` to serve another checkout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDORS_")}
    env.update(
        CORRIDORS_DATA_DIR=str(data_dir),
        CORRIDORS_DATABASE_URL=database_url,
        CORRIDORS_WRITE_RATE_PER_MINUTE="1000000",
    )
    if osm_file is not None:
        env["CORRIDORS_OSM_FILE"] = str(osm_file)
    env.update(extra_env or {})
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "corridors.api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    log = data_dir / f"uvicorn-{workers}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log, workers=workers)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, *, workers: int) -> None:
    """Wait until ``/readyz`` answers ok from every worker (a few answers in a row)."""
    deadline = time.monotonic() + 120
    ok_in_a_row = 0
    while ok_in_a_row < 4 * workers:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not become ready:\n{log.read_text()}")
        try:
            ok = httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            ok = False
        ok_in_a_row = ok_in_a_row + 1 if ok else 0
        time.sleep(0.05 if ok else 0.2)
    time.sleep(0.5)  # the last worker's lifespan may still be finishing


# --- load ---------------------------------------------------------------------------------


def _vertices(url: str, key: str) -> list[tuple[float, float]]:
    response = httpx.get(f"{url}/v1/graph/network", headers={"X-API-Key": key}, timeout=30)
    response.raise_for_status()
    found = {
        (float(c[0]), float(c[1]))
        for feature in response.json()["features"]
        for c in feature["geometry"]["coordinates"]
    }
    return sorted(found)


async def _load(
    url: str,
    keys: dict[Role, str],
    vertices: list[tuple[float, float]],
    *,
    workers: int,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    max_routes: int,
    reports_per_s: float,
    seed: int,
) -> Result:
    rng = random.Random(seed)
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + duration_s
    result = Result(workers=workers, duration_s=0.0)
    limits = httpx.Limits(
        max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2
    )

    def point() -> dict[str, float]:
        lon, lat = rng.choice(vertices)
        return {"lon": lon, "lat": lat}

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def routes() -> None:
            viewer = {"X-API-Key": keys[Role.viewer]}
            while (now := time.perf_counter()) < stop_at and (
                len(result.route_latencies_s) < max_routes
            ):
                origin, destination = point(), point()
                while destination == origin:
                    destination = point()
                body = {
                    "origin": origin,
                    "destination": destination,
                    "risk_aversion": rng.choice((0.2, 0.5, 0.8)),
                    "alternatives": 2,
                }
                t0 = time.perf_counter()
                try:
                    response = await client.post("/v1/routes", json=body, headers=viewer)
                    ok = response.status_code in (200, 422)  # 422: no route / too far
                except httpx.HTTPError:
                    ok = False
                t1 = time.perf_counter()
                if now >= measure_from:
                    if ok:
                        result.route_latencies_s.append(t1 - t0)
                    else:
                        result.route_errors += 1

        async def reports() -> None:
            if reports_per_s <= 0:
                return
            reporter = {"X-API-Key": keys[Role.reporter]}
            period_s = 1.0 / reports_per_s
            n = 0
            next_at = time.perf_counter()
            while time.perf_counter() < stop_at:
                lon, lat = rng.choice(vertices)
                body = {
                    "occurred_at": (datetime.now(UTC) - timedelta(minutes=10)).isoformat(),
                    "location": {"lon": lon + rng.uniform(-3e-4, 3e-4), "lat": lat},
                    "uncertainty_m": 200,
                    "category": rng.choice(CATEGORIES),
                    "severity": rng.randint(1, 5),
                    "description": f"load benchmark report {n}",
                }
                n += 1
                t0 = time.perf_counter()
                try:
                    response = await client.post("/v1/reports", json=body, headers=reporter)
                    ok = response.status_code == 201
                except httpx.HTTPError:
                    ok = False
                if ok:
                    result.report_latencies_s.append(time.perf_counter() - t0)
                else:
                    result.report_errors += 1
                next_at += period_s
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

        await asyncio.gather(reports(), *(routes() for _ in range(concurrency)))
    result.duration_s = min(time.perf_counter(), stop_at) - measure_from
    return result


def run_configuration(args: argparse.Namespace, workers: int, database_url: str) -> Result:
    """Start a server with ``workers`` processes on ``database_url`` and load it."""
    keys = make_keys(database_url)
    with (
        tempfile.TemporaryDirectory(prefix="corridors-load-") as tmp,
        uvicorn_server(
            workers=workers, database_url=database_url, data_dir=Path(tmp), osm_file=args.osm_file
        ) as url,
    ):
        vertices = _vertices(url, keys[Role.viewer])
        return asyncio.run(
            _load(
                url,
                keys,
                vertices,
                workers=workers,
                concurrency=args.concurrency,
                duration_s=args.duration_s,
                warmup_s=args.warmup_s,
                max_routes=args.max_routes,
                reports_per_s=args.reports_per_s,
                seed=args.seed,
            )
        )


def table(results: list[Result], *, concurrency: int, store: str) -> str:
    """The markdown table of the results."""
    lines = [
        f"POST /v1/routes, concurrency {concurrency}, {store}, reports arriving in the background",
        "",
        "| workers | routes | routes/s | p50 ms | p99 ms | errors | reports | report p50 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.workers} | {len(r.route_latencies_s)} | {r.routes_per_s:.1f} "
            f"| {_ms(r.route_latencies_s, 50)} | {_ms(r.route_latencies_s, 99)} "
            f"| {r.route_errors + r.report_errors} | {len(r.report_latencies_s)} "
            f"| {_ms(r.report_latencies_s, 50)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--max-routes", type=int, default=100_000)
    parser.add_argument("--reports-per-s", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--osm-file", type=Path, default=None, help="default: demo network")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server URL (admin)")
    where.add_argument("--sqlite", action="store_true", help="SQLite file instead")
    args = parser.parse_args(argv)

    results: list[Result] = []
    for workers in args.workers:
        with ExitStack() as stack:
            if args.sqlite:
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="corridors-db-"))
                database_url = f"sqlite:///{Path(tmp) / 'corridors.sqlite3'}"
            else:
                database_url = stack.enter_context(fresh_postgres(args.postgres))
            result = run_configuration(args, workers, database_url)
        results.append(result)
        print(
            f"{workers} worker(s): {result.routes_per_s:.1f} routes/s, "
            f"p50 {_ms(result.route_latencies_s, 50)} ms",
            file=sys.stderr,
        )
    store = "SQLite" if args.sqlite else "one PostgreSQL database"
    print(table(results, concurrency=args.concurrency, store=store))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
