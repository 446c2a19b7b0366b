"""Routing benchmark: core queries vs osmnx, POST /v1/routes end to end, refresh, memory.

Run ``.venv/bin/python bench/routing.py`` (``--quick`` for a 10k-node city and fewer
reports). Graphs:

- the real extract ``../shared/data/osm/valhalla-baltimore.osm.pbf`` (skipped when absent),
- synthetic cities of ~100k and ~1M nodes (``corridors.graph.synthetic.district_city``:
  districts that meet along few streets, calibrated on the real extract; see
  ``bench/city_shape.py``),
- the same sizes as uninterrupted grids (``100k-grid``, ``1M-grid``;
  ``corridors.graph.synthetic.synthetic_city``), the worst case for a CCH: a grid ``k``
  streets wide needs ``k`` nodes to cut it in two.

Each graph is built once in a throw-away subprocess and saved as a graph cache (``.npz``),
then benchmarked in a fresh subprocess that loads it, as the service does, so peak memory
(``ru_maxrss``) belongs to that graph alone. In that process:

1. the CCH (node order + contraction) is built and timed;
2. a :class:`~corridors.services.runtime.Runtime` is made around the graph, a temporary
   SQLite database and a fixed clock (it reuses the CCH; its own risk-aversion metrics are
   customised), with the real FastAPI app (``create_app``) served by ``uvicorn`` in a
   thread of the same process on a loopback port; every request goes over HTTP
   (``httpx``, one kept-alive connection), as a client's does;
3. risk refresh: 1k, 10k then 100k random reports are bulk-inserted through the store and
   :meth:`RiskState.refresh_now` is timed (``explain=False``: the explaining is timed
   apart, in 5), split into the risk field compute (``RiskEngine.compute``) and the
   routing metric update (``RoutingState.stage`` + ``commit``: spare metrics, or
   ``refresh`` in place on large graphs);
4. report-to-route (after the 10k refresh, its explanations and its end-to-end
   measurements, or ``--r2r-at``; background refresher started):
   time from a ``POST /v1/reports`` returning 201 to a ``POST /v1/routes`` answer that
   reflects it (exposure up on a route through the report), i.e. ``wait_fresh`` + route;
   with ``--r2r-during-full`` each report is posted at a random moment of a full refresh
   (``refresh_now`` started just before, in another thread);
5. ``POST /v1/routes`` end to end p50/p95 between random points of the graph, after each
   refresh (1k, 10k, 100k reports stored: more reports make more hotspots to explain and
   more escort work): the refresh installs its field unexplained (``explain=False``) and
   ``alternatives=0`` is measured first ("cold", as after start-up or a change that had to
   compute in full: hotspots explained on demand), then the high-risk segments are
   explained ahead (``RiskState.warm_explanations``, timed, as a full refresh does before
   it installs its field) and ``alternatives=0`` and ``alternatives=2`` are measured warm;
   at the report-to-route count, the same random pairs are also sent, interleaved, over
   HTTP and through the in-process ``TestClient`` (what earlier runs measured with), to
   give what the transport adds;
6. core query p50/p95: ``CCHEngine.route`` point-on-edge to point-on-edge on the balanced
   (0.5) metric, as the planner calls it (once, after the last refresh);
7. peak RSS (read here, before the baseline graph is built: the service never builds it);
8. baseline: ``osmnx.routing.shortest_path`` (networkx Dijkstra on a MultiDiGraph) on the
   same graph and weights, node to node; speedup = baseline p50 / CCH node-to-node p50.
   Skipped at 1M nodes unless ``--baseline-1m``.

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import resource
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REAL = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "osm" / "valhalla-baltimore.osm.pbf"
)
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
#: Reports inserted per transaction (the rows as dicts would weigh on the peak RSS).
_INSERT_CHUNK = 10_000
#: Intersections a side: district cities (~0.91 of them in the graph) and grids.
SIDES = {"10k": 105, "100k": 332, "1M": 1050, "100k-grid": 316, "1M-grid": 1000}
CATEGORIES = (
    ("armed_clash", 0.30),
    ("attack", 0.25),
    ("abduction", 0.10),
    ("looting", 0.08),
    ("arson", 0.07),
    ("roadblock", 0.08),
    ("extortion_checkpoint", 0.04),
    ("riot", 0.04),
    ("protest", 0.04),
)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prepare(name: str, path: str) -> None:
    """Build graph ``name`` and save it as a cache file (in a throw-away process)."""
    from corridors.graph.cache import save_graph

    if name == "real":
        from corridors.graph.build import build_graph_from_file

        graph = build_graph_from_file(REAL, built_at=NOW)
    elif name.endswith("-grid"):
        from corridors.graph.synthetic import synthetic_city

        graph = synthetic_city(SIDES[name], SIDES[name], seed=1)
    else:
        from corridors.graph.synthetic import district_city

        graph = district_city(SIDES[name], seed=1)
    save_graph(graph, Path(path))


def _report_rows(
    graph: Any, count: int, rng: np.random.Generator, created: datetime
) -> list[dict[str, Any]]:
    """``count`` random active reports at graph nodes (jittered), over the past week."""
    nodes = rng.integers(0, graph.node_count, count)
    lon = graph.node_lon[nodes] + rng.normal(0, 2e-4, count)
    lat = graph.node_lat[nodes] + rng.normal(0, 2e-4, count)
    cats = rng.choice(
        [c for c, _ in CATEGORIES], count, p=np.array([p for _, p in CATEGORIES]) / 1.0
    )
    ages_s = rng.uniform(0, 7 * 86400, count)
    unc = rng.choice([0.0, 0.0, 50.0, 100.0, 200.0], count)
    sev = rng.integers(1, 6, count)
    fat = rng.poisson(0.5, count)
    return [
        {
            "id": str(uuid.uuid4()),
            "external_id": None,
            "occurred_at": created - timedelta(seconds=float(ages_s[i])),
            "lon": float(lon[i]),
            "lat": float(lat[i]),
            "uncertainty_m": float(unc[i]),
            "category": str(cats[i]),
            "severity": int(sev[i]),
            "fatalities": int(fat[i]),
            "source": "bench",
            "source_reliability": "B",
            "credibility": 2,
            "description": None,
            "expires_at": None,
            "status": "active",
            "status_note": None,
            "created_at": created,
            "created_by": "bench",
            "updated_at": created,
        }
        for i in range(count)
    ]


def _point(graph: Any, edge: int, fraction: float = 0.5) -> dict[str, float]:
    """A point on ``edge`` (between its end nodes), as the API takes it."""
    a, b = int(graph.edge_tail[edge]), int(graph.edge_head[edge])
    lon = graph.node_lon[a] + fraction * (graph.node_lon[b] - graph.node_lon[a])
    lat = graph.node_lat[a] + fraction * (graph.node_lat[b] - graph.node_lat[a])
    return {"lon": float(lon), "lat": float(lat)}


def _timed_wrap(obj: Any, name: str, sink: list[float]) -> None:
    """Replace ``obj.name`` by a wrapper appending each call's seconds to ``sink``."""
    inner: Callable[..., Any] = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - t0)

    setattr(obj, name, wrapper)


@contextmanager
def _served(app: Any) -> Iterator[str]:
    """``app`` served by ``uvicorn`` in a thread of this process; yields its base URL.

    The server runs as ``corridors serve`` runs it (one process, its event loop and
    thread pool), on a socket bound here to a free loopback port.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, proxy_headers=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _bench_one(name: str, path: str, opts: dict[str, Any]) -> dict[str, Any]:
    import httpx
    from fastapi.testclient import TestClient

    from corridors.api.app import create_app
    from corridors.api.gc_tuning import tune_for_serving
    from corridors.config import Settings
    from corridors.domain import Role
    from corridors.graph.cache import load_graph
    from corridors.routing.engine import CCHEngine
    from corridors.services.keys import create_key
    from corridors.services.runtime import Runtime
    from corridors.store import Database, ReportRepository

    out: dict[str, Any] = {"graph": name}
    rng = np.random.default_rng(3)
    t0 = time.perf_counter()
    graph = load_graph(Path(path))
    out["load_s"] = time.perf_counter() - t0
    out["nodes"], out["edges"] = graph.node_count, graph.edge_count
    out["rss_graph_mb"] = _rss_mb()
    t0 = time.perf_counter()
    CCHEngine(graph)  # builds and caches the CCH of this graph object (the runtime reuses it)
    out["cch_build_s"] = time.perf_counter() - t0

    tmp = tempfile.TemporaryDirectory()
    settings = Settings(data_dir=Path(tmp.name), write_rate_per_minute=10**6)
    db = Database(settings.resolved_database_url)
    db.migrate()
    t0 = time.perf_counter()
    runtime = Runtime(settings, db, graph, clock=lambda: NOW)
    out["start_s"] = time.perf_counter() - t0
    routing = runtime.risk.routing
    out["levels"] = len(routing.cost_model.levels)
    out["rss_start_mb"] = _rss_mb()
    compute_s: list[float] = []
    routing_s: list[float] = []  # in place: incremental refreshes (and full ones on 1M)
    staged_s: list[float] = []  # a full refresh's spare metrics: stage + commit
    _timed_wrap(runtime.risk.engine, "compute", compute_s)
    _timed_wrap(routing, "refresh", routing_s)
    _timed_wrap(routing, "stage", staged_s)
    _timed_wrap(routing, "commit", staged_s)
    viewer = create_key(db, role=Role.viewer, name="bench-viewer", at=NOW).key
    reporter = create_key(db, role=Role.reporter, name="bench-reporter", at=NOW).key
    stack = ExitStack()
    base_url = stack.enter_context(_served(create_app(runtime=runtime)))
    client = stack.enter_context(httpx.Client(base_url=base_url, timeout=120))
    # Earlier runs measured through the in-process test client: kept for one comparison.
    test_client = stack.enter_context(TestClient(create_app(runtime=runtime)))
    tune_for_serving()  # as the app's lifespan does when it opens its own runtime

    def route_with(via: Any) -> Callable[..., Any]:
        def route(o: dict[str, float], d: dict[str, float], **body: Any) -> Any:
            return via.post(
                "/v1/routes",
                json={"origin": o, "destination": d, **body},
                headers={"X-API-Key": viewer},
            )

        return route

    route = route_with(client)

    # -- risk refresh for growing report counts; report-to-route after the second -------
    stored = 0
    out["refresh"] = {}
    out["e2e"] = {}
    out["explained"], out["explain_s"], out["explain_mb"] = {}, {}, {}
    for target in opts["report_counts"]:
        for chunk in range(stored, target, _INSERT_CHUNK):  # the bench's rows: not the service's
            rows = _report_rows(graph, min(_INSERT_CHUNK, target - chunk), rng, NOW)
            with db.session() as s:
                ReportRepository(s).add_many(rows)
            del rows
        stored = target
        compute_s.clear()
        routing_s.clear()
        staged_s.clear()
        t0 = time.perf_counter()
        field = runtime.risk.refresh_now(explain=False)  # explained below, timed apart
        total = time.perf_counter() - t0
        metrics_s = sum(routing_s) + sum(staged_s)
        out["refresh"][target] = (total, compute_s[-1], metrics_s, field.reports_considered)
        print(f"  {name}: refresh {target} reports {total:.2f}s", file=sys.stderr, flush=True)
        # -- end to end, at this many stored reports ---------------------------------
        # "cold": a field installed unexplained (start-up, or a change that had to compute
        # in full), hotspots explained on demand; then the high-risk segments are explained
        # ahead (as a full refresh does before it installs its field) and the rest is
        # measured warm, the steady state.
        out["e2e"][("cold", target)] = _e2e(graph, route, rng, 0, opts["e2e"])
        t0 = time.perf_counter()
        out["explained"][target] = runtime.risk.warm_explanations()
        out["explain_s"][target] = time.perf_counter() - t0
        table = runtime.risk.field.explanation_table
        out["explain_mb"][target] = 0.0 if table is None else table.nbytes / 2**20
        for alts, n in ((0, opts["e2e"]), (2, opts["e2e_alt"])):
            out["e2e"][(alts, target)] = _e2e(graph, route, rng, alts, n)
        if target == opts["r2r_at"]:  # last: its reports and full refreshes change the field
            out["transport"] = _transport(graph, route, route_with(test_client), rng, opts["e2e"])
            r2r_from = len(routing_s)
            r2r = _report_to_route(graph, runtime, client, route, reporter, rng, opts, total)
            out["r2r"], out["r2r_fresh"] = [t for t, _ in r2r], [f for _, f in r2r]
            out["r2r_routing_s"] = _pct(routing_s[r2r_from:], 50)

    # -- core queries on the balanced metric (risk weights of the last refresh) ------------
    engine = routing.engine
    level = routing.cost_model.quantise(0.5)
    pairs = [
        (_Snap(int(rng.integers(graph.edge_count)), float(rng.uniform())),
         _Snap(int(rng.integers(graph.edge_count)), float(rng.uniform())))
        for _ in range(opts["queries"])
    ]  # fmt: skip
    core: list[float] = []
    for so, sd in pairs:
        t0 = time.perf_counter()
        engine.route(level, so, sd)
        core.append(time.perf_counter() - t0)
    out["core_p50_ms"] = _pct(core, 50) * 1e3
    out["core_p95_ms"] = _pct(core, 95) * 1e3

    out["rss_end_mb"] = _rss_mb()
    out["peak_mb"] = _peak_mb()
    stack.close()
    runtime.close()

    if opts["baseline"]:
        out.update(_baseline(graph, engine, level, pairs[: opts["baseline_queries"]]))
    tmp.cleanup()
    return out


def _e2e(
    graph: Any, route: Callable[..., Any], rng: np.random.Generator, alts: int, n: int
) -> tuple[float, float, int, int]:
    """``POST /v1/routes`` between ``n`` random points: p50 ms, p95 ms, answered, refused."""
    lat_s: list[float] = []
    bad = 0
    for _ in range(n):
        o = _point(graph, int(rng.integers(graph.edge_count)), float(rng.uniform()))
        d = _point(graph, int(rng.integers(graph.edge_count)), float(rng.uniform()))
        t0 = time.perf_counter()
        response = route(o, d, alternatives=alts)
        dt = time.perf_counter() - t0
        if response.status_code == 200:
            lat_s.append(dt)
        else:
            bad += 1
    return _pct(lat_s, 50) * 1e3, _pct(lat_s, 95) * 1e3, len(lat_s), bad


def _transport(
    graph: Any,
    over_http: Callable[..., Any],
    in_process: Callable[..., Any],
    rng: np.random.Generator,
    n: int,
) -> tuple[float, float, float, int]:
    """The same ``n`` random pairs over HTTP and through the test client, interleaved
    (which goes first alternates): p50 ms of each and the median paired difference."""
    http_s: list[float] = []
    test_s: list[float] = []
    for i in range(n):
        o = _point(graph, int(rng.integers(graph.edge_count)), float(rng.uniform()))
        d = _point(graph, int(rng.integers(graph.edge_count)), float(rng.uniform()))
        took: dict[int, tuple[float, int]] = {}
        for way in (i % 2, 1 - i % 2):
            t0 = time.perf_counter()
            status = (over_http, in_process)[way](o, d, alternatives=0).status_code
            took[way] = (time.perf_counter() - t0, status)
        if took[0][1] == 200 and took[1][1] == 200:
            http_s.append(took[0][0])
            test_s.append(took[1][0])
    paired = [t - h for h, t in zip(http_s, test_s, strict=True)]
    return _pct(http_s, 50) * 1e3, _pct(test_s, 50) * 1e3, _pct(paired, 50) * 1e3, len(paired)


class _Snap:
    __slots__ = ("edge", "fraction")

    def __init__(self, edge: int, fraction: float) -> None:
        self.edge = edge
        self.fraction = fraction


def _report_to_route(
    graph: Any,
    runtime: Any,
    client: Any,
    route: Callable[..., Any],
    reporter: str,
    rng: np.random.Generator,
    opts: dict[str, Any],
    full_s: float,
) -> list[tuple[float, float]]:
    """``(to route, to fresh)`` seconds from a report's 201, per trial (background refresh).

    "to fresh" is until ``wait_fresh`` returns (the risk field and metrics include it), "to
    route" until a ``POST /v1/routes`` answer shows it (exposure up on a route through it).
    With ``opts["r2r_during_full"]`` a full refresh (``full_s`` long when alone) is started
    before each report, which is posted a random part of ``full_s`` later.
    """
    runtime.start()
    out: list[tuple[float, float]] = []
    trials = 0
    while len(out) < opts["r2r_trials"] and trials < 3 * opts["r2r_trials"]:
        trials += 1
        o = _point(graph, int(rng.integers(graph.edge_count)))
        d = _point(graph, int(rng.integers(graph.edge_count)))
        before = route(o, d, risk_aversion=0)
        if before.status_code != 200:
            continue
        first = before.json()["routes"][0]
        coords = first["geometry"]["coordinates"]
        lon, lat = coords[len(coords) // 2]
        body = {
            "occurred_at": (NOW - timedelta(minutes=30)).isoformat(),
            "location": {"lon": lon, "lat": lat},
            "uncertainty_m": 0,
            "category": "armed_clash",
            "severity": 5,
            "fatalities": 3,
            "source": "bench",
            "source_reliability": "A",
            "credibility": 1,
        }
        full = threading.Thread(target=runtime.risk.refresh_now)
        if opts["r2r_during_full"]:
            full.start()
            time.sleep(float(rng.uniform(0.0, full_s)))
        posted = client.post("/v1/reports", json=body, headers={"X-API-Key": reporter})
        t0 = time.perf_counter()
        if posted.status_code != 201:
            raise RuntimeError(f"report rejected: {posted.status_code} {posted.text}")
        runtime.risk.wait_fresh(timeout_s=120)
        fresh = time.perf_counter() - t0
        after = route(o, d, risk_aversion=0)
        dt = time.perf_counter() - t0
        if after.status_code == 200:
            exposure = after.json()["routes"][0]["risk"]["exposure"]
            if exposure > first["risk"]["exposure"]:
                out.append((dt, fresh))
        if full.is_alive():
            full.join()
    runtime.risk.stop()
    return out


def _baseline(graph: Any, engine: Any, level: float, pairs: list[Any]) -> dict[str, Any]:
    import osmnx as ox

    from corridors.graph.build import to_networkx

    g = to_networkx(graph)
    w = engine.weights(level)
    for _u, _v, k, data in g.edges(keys=True, data=True):
        data["cost"] = float(w[k])
    unit = 1.0 / engine.scale(level)  # integer rounding: at most half a unit per edge
    base: list[float] = []
    cch_nodes: list[float] = []
    agree = 0
    for o, d in pairs:
        s = int(graph.edge_head[o.edge])
        t = int(graph.edge_tail[d.edge])
        t0 = time.perf_counter()
        path = ox.routing.shortest_path(g, s, t, weight="cost")
        base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        dist = engine.node_distance(level, s, t)
        cch_nodes.append(time.perf_counter() - t0)
        if path is not None and dist is not None:
            cost = sum(min(float(w[k]) for k in g[a][b]) for a, b in itertools.pairwise(path))
            agree += abs(cost - dist) <= unit * max(1, len(path)) + 1e-9 * cost
        else:
            agree += path is None and dist is None
    return {
        "baseline_p50_ms": _pct(base, 50) * 1e3,
        "cch_node_p50_ms": _pct(cch_nodes, 50) * 1e3,
        "speedup": _pct(base, 50) / _pct(cch_nodes, 50),
        "baseline_agree": f"{agree}/{len(base)}",
    }


def _worker(args: tuple[str, str, dict[str, Any]], queue: Any) -> None:
    try:
        queue.put(_bench_one(*args))
    except BaseException as exc:
        queue.put({"graph": args[0], "error": repr(exc)})
        raise


def _run(ctx: Any, target: Callable[..., None], args: tuple[Any, ...]) -> None:
    proc = ctx.Process(target=target, args=args)
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"{target.__name__}{args[:1]} failed with exit code {proc.exitcode}")


def _refresh_cell(count: int, i: int) -> Callable[[dict[str, Any]], str]:
    def cell(r: dict[str, Any]) -> str:
        got = r.get("refresh", {}).get(count)
        return _fmt(None if got is None else got[i], "{:.2f}")

    return cell


def _explain_cell(count: int) -> Callable[[dict[str, Any]], str]:
    def cell(r: dict[str, Any]) -> str:
        n = r.get("explained", {}).get(count)
        if n is None:
            return "-"
        return f"{n:,} / {r['explain_s'][count]:.2f} / {r['explain_mb'][count]:.1f}"

    return cell


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return fmt.format(value)


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, Callable[[Any], str]]]) -> str:
    lines = ["| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(c[1](r) for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print markdown tables."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a 10k-node city, fewer reports/queries")
    p.add_argument("--graphs", nargs="*", help="subset of: " + " ".join(["real", *SIDES]))
    p.add_argument("--baseline-1m", action="store_true", help="run the osmnx baseline at 1M")
    p.add_argument("--r2r-at", type=int, default=10_000, help="reports stored for report-to-route")
    p.add_argument(
        "--r2r-during-full",
        action="store_true",
        help="post each report-to-route report while a full refresh runs",
    )
    a = p.parse_args(argv)
    if a.graphs:
        names = a.graphs
    elif a.quick:
        names = ["10k"]
    else:
        names = (["real"] if REAL.exists() else []) + ["100k", "1M", "100k-grid", "1M-grid"]
    if "real" in names and not REAL.exists():
        print(f"skipping the real extract: {REAL} not found", file=sys.stderr)
        names.remove("real")
    base_opts: dict[str, Any] = {
        "report_counts": [1000, 10_000] if a.quick else [1000, 10_000, 100_000],
        "r2r_at": a.r2r_at,
        "r2r_during_full": a.r2r_during_full,
        "r2r_trials": 3 if a.quick else 5,
        "e2e": 50 if a.quick else 200,
        "e2e_alt": 20 if a.quick else 50,
        "queries": 200 if a.quick else 500,
        "baseline_queries": 10 if a.quick else 20,
    }
    ctx = mp.get_context("spawn")
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path = str(Path(tmp) / f"{name}.npz")
            t0 = time.perf_counter()
            _run(ctx, _prepare, (name, path))
            prep_s = time.perf_counter() - t0
            opts = dict(base_opts)
            large = name.startswith("1M")
            opts["baseline"] = not large or a.baseline_1m
            if large:
                opts["queries"] = min(opts["queries"], 200)
                opts["e2e"] = min(opts["e2e"], 100)
                opts["e2e_alt"] = min(opts["e2e_alt"], 20)
            queue = ctx.Queue()
            proc = ctx.Process(target=_worker, args=((name, path, opts), queue))
            proc.start()
            row = queue.get()
            proc.join()
            row["build_s"] = prep_s
            row["baseline_run"] = opts["baseline"]
            rows.append(row)
            print(f"done {name} in {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    if any("error" in r for r in rows):
        for r in rows:
            if "error" in r:
                print(f"{r['graph']}: {r['error']}", file=sys.stderr)
        rows = [r for r in rows if "error" not in r]

    def get(key: str, fmt: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: _fmt(r.get(key), fmt)

    print("\n### Core queries and baseline\n")
    print(
        _table(
            rows,
            [
                ("graph", get("graph", "{}")),
                ("nodes", get("nodes", "{:,}")),
                ("edges", get("edges", "{:,}")),
                ("CCH build s", get("cch_build_s", "{:.1f}")),
                ("levels", get("levels", "{}")),
                ("core p50 ms", get("core_p50_ms", "{:.3f}")),
                ("core p95 ms", get("core_p95_ms", "{:.3f}")),
                ("CCH node p50 ms", get("cch_node_p50_ms", "{:.3f}")),
                (
                    "osmnx p50 ms",
                    lambda r: (
                        _fmt(r.get("baseline_p50_ms"), "{:.1f}")
                        if r["baseline_run"]
                        else "skipped (--baseline-1m)"
                    ),
                ),
                ("speedup", get("speedup", "{:.0f}x")),
                ("same cost", get("baseline_agree", "{}")),
            ],
        )
    )
    counts = sorted({c for r in rows for c in r.get("refresh", {})})

    def e2e(alts: int | str, count: int) -> Callable[[dict[str, Any]], str]:
        def cell(r: dict[str, Any]) -> str:
            got = r.get("e2e", {}).get((alts, count))
            return "-" if got is None else f"{got[0]:.1f} / {got[1]:.1f}"

        return cell

    print("\n### POST /v1/routes end to end over HTTP, p50 / p95 ms, by reports stored\n")
    print(
        _table(
            rows,
            [("graph", get("graph", "{}"))]
            + [(f"alt=0 cold, {c:,} reports", e2e("cold", c)) for c in counts]
            + [(f"alt=0, {c:,} reports", e2e(0, c)) for c in counts]
            + [(f"alt=2, {c:,} reports", e2e(2, c)) for c in counts],
        )
    )
    print(f"\n### Over HTTP against the in-process test client, alt=0, {a.r2r_at:,} reports\n")

    def transport(i: int, fmt: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: _fmt(r["transport"][i], fmt) if "transport" in r else "-"

    print(
        _table(
            rows,
            [
                ("graph", get("graph", "{}")),
                ("HTTP p50 ms", transport(0, "{:.1f}")),
                ("test client p50 ms", transport(1, "{:.1f}")),
                ("paired median, test client - HTTP, ms", transport(2, "{:+.1f}")),
                ("pairs", transport(3, "{}")),
            ],
        )
    )
    print("\n### Hotspot explanations computed ahead (after each full refresh)\n")
    print(
        _table(
            rows,
            [("graph", get("graph", "{}"))]
            + [(f"{c:,} reports: segments / s / MB", _explain_cell(c)) for c in counts],
        )
    )
    print("\n### Report-to-route and memory\n")
    print(
        _table(
            rows,
            [
                ("graph", get("graph", "{}")),
                ("report-to-route p50 s", lambda r: _fmt(_pct(r.get("r2r", []), 50), "{:.2f}")),
                ("report-to-route max s", lambda r: _fmt(max(r.get("r2r") or [np.nan]), "{:.2f}")),
                (
                    "of which refresh p50 s",
                    lambda r: _fmt(_pct(r.get("r2r_fresh", []), 50), "{:.2f}"),
                ),
                ("service start s", get("start_s", "{:.1f}")),
                ("RSS graph MB", get("rss_graph_mb", "{:.0f}")),
                ("RSS started MB", get("rss_start_mb", "{:.0f}")),
                ("peak RSS MB", get("peak_mb", "{:.0f}")),
            ],
        )
    )
    print("\n### Risk refresh (RiskState.refresh_now: compute + routing metrics)\n")
    cols: list[tuple[str, Callable[[dict[str, Any]], str]]] = [("graph", get("graph", "{}"))]
    for c in counts:
        for i, label in ((0, "total"), (1, "compute"), (2, "routing")):
            cols.append((f"{c:,} reports {label} s", _refresh_cell(c, i)))
    print(_table(rows, cols))
    print(
        "\nreport-to-route: with "
        f"{base_opts['r2r_at']:,} reports stored, background refresher on, fixed clock"
        + (", each report posted during a full refresh; " if a.r2r_during_full else "; ")
        + "e2e and core queries: random points on the graph (non-200 answers excluded: "
        + ", ".join(f"{r['graph']} {sum(v[3] for v in r.get('e2e', {}).values())}" for r in rows)
        + "). osmnx baseline at 1M: "
        + ("run" if a.baseline_1m else "skipped by default (--baseline-1m)")
        + f". Total bench time {time.perf_counter() - started:.0f} s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
