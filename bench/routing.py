"""Routing core benchmark: CCH queries vs the osmnx baseline, customisation, memory.

Run ``.venv/bin/python bench/routing.py`` (add ``--quick`` for small graphs only). Each
graph is benchmarked in its own subprocess so peak memory (``ru_maxrss``) is per graph:

- the real extract ``../shared/data/osm/valhalla-baltimore.osm.pbf`` (skipped when absent),
- synthetic cities of ~100k and ~1M nodes (``corridors.graph.synthetic.synthetic_city``).

Per graph: build time, CCH order+contraction time, customisation of the 6 risk-aversion
metrics, a partial update of a few hundred arcs (a new report), core query p50/p95 (CCH,
point-on-edge to point-on-edge, as the planner calls it), ``plan_routes`` p50 (recommended
route with its summary), and the baseline ``osmnx.routing.shortest_path`` (networkx
Dijkstra on a MultiDiGraph) on the same graph and weights; speedup = baseline p50 / core
p50. Peak memory is read before the networkx baseline graph is built (the service never
builds it); the baseline is skipped at 1M nodes unless ``--baseline-1m``.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import resource
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from corridors.graph.model import RoadGraph
from corridors.routing.costs import CostModel
from corridors.routing.engine import CCHEngine
from corridors.routing.planner import RoutingState, plan_routes

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

REAL = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "osm" / "valhalla-baltimore.osm.pbf"
)
AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Risk:
    edge_risk_per_km: FloatArray
    edge_blocked: BoolArray

    def contributors(self, edge: int) -> list[tuple[str, float]]:
        return [("bench", 1.0)] if self.edge_risk_per_km[edge] > 0 else []


@dataclass(frozen=True)
class _Snap:
    edge: int
    fraction: float


def _risk_field(graph: RoadGraph, seed: int, blobs: int = 200) -> _Risk:
    """Risk per km from random Gaussian blobs (300 m wide) over the graph."""
    rng = np.random.default_rng(seed)
    proj = graph.projection
    x, y = proj.to_xy(graph.node_lon[graph.edge_tail], graph.node_lat[graph.edge_tail])
    risk = np.zeros(graph.edge_count)
    centres = rng.integers(0, graph.edge_count, blobs)
    for c in centres.tolist():
        d2 = (x - x[c]) ** 2 + (y - y[c]) ** 2
        near = d2 < (900.0**2)
        risk[near] += rng.uniform(1, 5) * np.exp(-d2[near] / (2 * 300.0**2))
    return _Risk(risk, np.zeros(graph.edge_count, dtype=np.bool_))


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _load(name: str) -> RoadGraph:
    if name == "real":
        from corridors.graph.build import build_graph_from_file

        return build_graph_from_file(REAL, built_at=AT)
    from corridors.graph.synthetic import synthetic_city

    side = {"100k": 316, "1M": 1000, "10k": 100}[name]
    return synthetic_city(side, side, seed=1)


def _bench_one(name: str, queries: int, baseline_queries: int, baseline: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"graph": name}
    t0 = time.perf_counter()
    graph = _load(name)
    out["build_s"] = time.perf_counter() - t0
    out["nodes"], out["edges"] = graph.node_count, graph.edge_count
    risk = _risk_field(graph, 7)
    t0 = time.perf_counter()
    engine = CCHEngine(graph)
    out["cch_build_s"] = time.perf_counter() - t0
    model = CostModel()
    t0 = time.perf_counter()
    state = RoutingState(graph, risk, cost_model=model, high_risk_per_km=2.0, engine=engine)
    out["customise_all_s"] = time.perf_counter() - t0
    out["customise_one_s"] = out["customise_all_s"] / len(model.levels)
    # A new report: raise risk on ~300 clustered edges -> partial updates on every level.
    rng = np.random.default_rng(3)
    proj = graph.projection
    x, y = proj.to_xy(graph.node_lon[graph.edge_tail], graph.node_lat[graph.edge_tail])
    c = int(rng.integers(graph.edge_count))
    near = np.argsort((x - x[c]) ** 2 + (y - y[c]) ** 2)[:300]
    bumped = risk.edge_risk_per_km.copy()
    bumped[near] += 3.0
    t0 = time.perf_counter()
    stats = state.refresh(_Risk(bumped, risk.edge_blocked))
    out["refresh_300_edges_s"] = time.perf_counter() - t0
    out["refresh_mode"] = ",".join(sorted({s.mode for s in stats.values()}))

    pairs = [
        (
            _Snap(int(rng.integers(graph.edge_count)), float(rng.uniform())),
            _Snap(int(rng.integers(graph.edge_count)), float(rng.uniform())),
        )
        for _ in range(queries)
    ]
    core: list[float] = []
    for o, d in pairs:
        t0 = time.perf_counter()
        engine.route(0.5, o, d)
        core.append(time.perf_counter() - t0)
    out["core_p50_ms"] = _pct(core, 50) * 1e3
    out["core_p95_ms"] = _pct(core, 95) * 1e3
    plan: list[float] = []
    for o, d in pairs[: max(1, queries // 5)]:
        t0 = time.perf_counter()
        try:
            plan_routes(state, graph, state.risk, o, d, risk_aversion=0.5, depart_at=AT)
        except ValueError:
            continue
        plan.append(time.perf_counter() - t0)
    out["plan_p50_ms"] = _pct(plan, 50) * 1e3 if plan else float("nan")
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    if baseline:
        import osmnx as ox

        from corridors.graph.build import to_networkx

        g = to_networkx(graph)
        w = engine.weights(0.5)
        for _u, _v, k, data in g.edges(keys=True, data=True):
            data["cost"] = float(w[k])
        base: list[float] = []
        cch_nodes: list[float] = []
        agree = 0
        for o, _d in pairs[:baseline_queries]:
            s = int(graph.edge_head[o.edge])
            t = int(graph.edge_tail[_d.edge])
            t0 = time.perf_counter()
            route = ox.routing.shortest_path(g, s, t, weight="cost")
            base.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            dist = engine.node_distance(0.5, s, t)
            cch_nodes.append(time.perf_counter() - t0)
            if route is not None and dist is not None:
                cost = sum(min(float(w[k]) for k in g[a][b]) for a, b in itertools.pairwise(route))
                agree += abs(cost - dist) <= 1e-3 * max(1, len(route))
            else:
                agree += route is None and dist is None
        out["baseline_p50_ms"] = _pct(base, 50) * 1e3
        out["cch_node_p50_ms"] = _pct(cch_nodes, 50) * 1e3
        out["speedup"] = out["baseline_p50_ms"] / out["core_p50_ms"]
        out["baseline_agree"] = f"{agree}/{len(base)}"
    return out


def _worker(args: tuple[str, int, int, bool], queue: Any) -> None:
    queue.put(_bench_one(*args))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10k-node synthetic graph only")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--baseline-queries", type=int, default=20)
    p.add_argument("--baseline-1m", action="store_true")
    a = p.parse_args(argv)
    names = ["10k"] if a.quick else (["real"] if REAL.exists() else []) + ["100k", "1M"]
    rows = []
    ctx = mp.get_context("spawn")
    for name in names:
        queue = ctx.Queue()
        baseline = name != "1M" or a.baseline_1m
        proc = ctx.Process(
            target=_worker, args=((name, a.queries, a.baseline_queries, baseline), queue)
        )
        proc.start()
        rows.append(queue.get())
        proc.join()
        print(f"done {name}: {rows[-1]}", file=sys.stderr, flush=True)
    cols = [
        ("graph", "graph", "{}"),
        ("nodes", "nodes", "{:,}"),
        ("edges", "edges", "{:,}"),
        ("cch_build_s", "CCH build s", "{:.1f}"),
        ("customise_one_s", "customise 1 metric s", "{:.2f}"),
        ("refresh_300_edges_s", "refresh 300 edges x6 s", "{:.3f}"),
        ("core_p50_ms", "core p50 ms", "{:.3f}"),
        ("core_p95_ms", "core p95 ms", "{:.3f}"),
        ("plan_p50_ms", "plan_routes p50 ms", "{:.2f}"),
        ("baseline_p50_ms", "osmnx p50 ms", "{:.1f}"),
        ("speedup", "speedup", "{:.0f}x"),
        ("baseline_agree", "same cost", "{}"),
        ("peak_mb", "peak MB", "{:.0f}"),
    ]
    print("| " + " | ".join(c[1] for c in cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = [fmt.format(r[k]) if k in r else "-" for k, _, fmt in cols]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
