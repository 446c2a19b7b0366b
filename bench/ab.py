"""A/B benchmark: ``POST /v1/routes`` of this checkout against another git ref, interleaved.

Run ``.venv/bin/python bench/ab.py --against REF`` (``--graph 100k --reports 10000
--rounds 3 --requests 300 --alternatives 0``). Loopback only; nothing leaves the machine.

Latencies on a shared machine drift by half within an hour, so two builds are only
compared side by side: ``REF`` is checked out in a temporary git worktree and each build
is served by its own ``uvicorn`` process (one worker, its own SQLite database), both on
the same graph cache, a district city built once here (``corridors.graph.synthetic``).
Both get the same ``--reports`` random reports of the past day, imported through
``POST /v1/reports/import?format=geojson``, so each build stores and explains them with
its own code. After ``--warmup-s`` of requests to each (the import's full refresh
explains its hot segments meanwhile), every round sends the same random pairs of
vertices to both servers, one request each, alternating which goes first, so both see
the machine at the same moments.

Prints per round the p50 of each build and the median of the paired differences, then
the whole run. The reference build runs on this checkout's virtual environment
(``PYTHONPATH`` to its ``src``): the two must share their dependencies and the graph
cache format.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from corridors.graph.cache import load_graph, save_graph
from corridors.graph.model import RoadGraph
from corridors.graph.synthetic import district_city
from load import uvicorn_server
from routing import SIDES

ROOT = Path(__file__).resolve().parents[1]
#: The district cities of ``bench/routing.py`` (its grids are not district cities).
CITIES = sorted(name for name in SIDES if not name.endswith("-grid"))
_CLI = "from corridors.cli import main; main()"
CATEGORIES = ("armed_clash", "attack", "abduction", "looting", "roadblock", "riot")


@contextmanager
def worktree(ref: str, where: Path) -> Iterator[Path]:
    """``ref`` checked out (detached) at ``where``; removed afterwards."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), ref],
        check=True,
        capture_output=True,
    )
    try:
        yield where
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False
        )


def make_key(src: Path, database_url: str, data_dir: Path, role: str) -> str:
    """A key made by the build at ``src`` (its own migrations, its own CLI)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDORS_")}
    env.update(
        PYTHONPATH=str(src), CORRIDORS_DATABASE_URL=database_url, CORRIDORS_DATA_DIR=str(data_dir)
    )
    done = subprocess.run(
        [sys.executable, "-c", _CLI, "keys", "create", "--role", role],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


def reports_geojson(graph: RoadGraph, count: int, seed: int, now: datetime) -> bytes:
    """``count`` random reports of the past day near random vertices, as GeoJSON."""
    rng = np.random.default_rng(seed)
    nodes = rng.integers(0, graph.node_count, count)
    lon = graph.node_lon[nodes] + rng.normal(0, 2e-4, count)
    lat = graph.node_lat[nodes] + rng.normal(0, 2e-4, count)
    ages_s = rng.uniform(60, 86_400, count)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]},
            "properties": {
                "occurred_at": (now - timedelta(seconds=float(ages_s[i]))).isoformat(),
                "category": CATEGORIES[int(rng.integers(len(CATEGORIES)))],
                "severity": int(rng.integers(1, 6)),
                "uncertainty_m": float(rng.choice([0.0, 50.0, 200.0])),
                "source": "bench-ab",
                "external_id": f"ab-{i}",
            },
        }
        for i in range(count)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def serve(
    stack: ExitStack, name: str, src: Path, tmp: Path, graph_cache: Path, reports: bytes
) -> tuple[str, str]:
    """Start the build at ``src`` on ``graph_cache`` with ``reports`` imported: its URL and
    a viewer key."""
    data_dir = tmp / name
    data_dir.mkdir()
    database_url = f"sqlite:///{data_dir / 'corridors.sqlite3'}"
    analyst = make_key(src, database_url, data_dir, "analyst")
    viewer = make_key(src, database_url, data_dir, "viewer")
    url = stack.enter_context(
        uvicorn_server(
            workers=1,
            database_url=database_url,
            data_dir=data_dir,
            osm_file=None,
            extra_env={"PYTHONPATH": str(src), "CORRIDORS_GRAPH_CACHE": str(graph_cache)},
        )
    )
    response = httpx.post(
        f"{url}/v1/reports/import",
        params={"format": "geojson"},
        content=reports,
        headers={"X-API-Key": analyst, "Content-Type": "application/geo+json"},
        timeout=600,
    )
    response.raise_for_status()
    imported = response.json()["imported"]
    print(f"{name}: {url}, {imported} reports imported", file=sys.stderr)
    return url, viewer


def _pairs(graph: RoadGraph, count: int, rng: random.Random) -> list[dict[str, object]]:
    def point() -> dict[str, float]:
        node = rng.randrange(graph.node_count)
        return {"lon": float(graph.node_lon[node]), "lat": float(graph.node_lat[node])}

    return [{"origin": point(), "destination": point()} for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--against", required=True, help="git ref to compare with")
    parser.add_argument("--graph", choices=CITIES, default="100k")
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300, help="pairs per round")
    parser.add_argument("--alternatives", type=int, default=0)
    parser.add_argument("--warmup-s", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    latency_s: dict[str, list[float]] = {"ref": [], "this": []}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="corridors-ab-")))
        ref_src = stack.enter_context(worktree(args.against, tmp / "ref-checkout")) / "src"
        graph_cache = tmp / "graph.npz"
        save_graph(district_city(SIDES[args.graph], seed=1), graph_cache)
        graph = load_graph(graph_cache)
        reports = reports_geojson(graph, args.reports, args.seed, datetime.now(UTC))
        servers = {
            "ref": serve(stack, "ref", ref_src, tmp, graph_cache, reports),
            "this": serve(stack, "this", ROOT / "src", tmp, graph_cache, reports),
        }
        client = stack.enter_context(httpx.Client(timeout=60))

        def route(side: str, body: dict[str, object]) -> float:
            url, key = servers[side]
            body = {**body, "alternatives": args.alternatives}
            t0 = time.perf_counter()
            response = client.post(f"{url}/v1/routes", json=body, headers={"X-API-Key": key})
            elapsed = time.perf_counter() - t0
            response.raise_for_status()
            return elapsed

        warm_until = time.monotonic() + args.warmup_s
        while time.monotonic() < warm_until:
            for body in _pairs(graph, 10, rng):
                for side in servers:
                    route(side, body)

        print(
            f"POST /v1/routes, {args.graph} district city, {args.reports:,} reports, "
            f"alternatives={args.alternatives}: this checkout against {args.against}\n"
        )
        print("| round | pairs | ref p50 ms | this p50 ms | paired median (this - ref) ms |")
        print("|---:|---:|---:|---:|---:|")
        for k in range(args.rounds):
            start = len(latency_s["ref"])
            for i, body in enumerate(_pairs(graph, args.requests, rng)):
                order = ("ref", "this") if i % 2 == 0 else ("this", "ref")
                for side in order:
                    latency_s[side].append(route(side, body))
            print(_row(str(k + 1), latency_s["ref"][start:], latency_s["this"][start:]))
    print(_row("all", latency_s["ref"], latency_s["this"], share_faster=True))
    return 0


def _row(label: str, ref_s: list[float], this_s: list[float], *, share_faster: bool = False) -> str:
    """A table row: pairs, each build's p50 and the paired median difference, ms."""
    ref, new = np.array(ref_s) * 1e3, np.array(this_s) * 1e3
    diff = f"{np.median(new - ref):+.2f}"
    if share_faster:
        diff += f" ({float(np.mean(new < ref)) * 100:.0f} % of pairs faster here)"
    return f"| {label} | {ref.shape[0]} | {np.median(ref):.2f} | {np.median(new):.2f} | {diff} |"


if __name__ == "__main__":
    raise SystemExit(main())
