"""How hard is a road network for the CCH? Real OSM extracts against the synthetic cities.

Run ``.venv/bin/python bench/city_shape.py``. For each real extract in
``../shared/data/osm/*.pbf`` (built as the service builds them) and for the two synthetic
layouts at the size of the largest extract and at ~20k nodes, it prints:

- directed edges per node (after the build's chain simplification);
- the elimination width of the service's contraction order
  (:func:`corridors.graph.order.contraction_order`): the most higher-ranked neighbours any
  node has when it is contracted, fill-in included. It bounds the treewidth and is the size
  of the largest clique the CCH customises, so it drives query, customisation and memory
  costs; ``width / sqrt(n)`` compares graphs of different sizes;
- CCH arcs per input edge (upward arcs of the elimination, fill-in included);
- CCH customisation time per input edge and query p50 (random node pairs).

The synthetic benchmark city (:func:`corridors.graph.synthetic.district_city`) is meant to
match the hardest real extract; the uninterrupted grid shows the worst case.
"""

from __future__ import annotations

import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import routingkit_cch as rk

from corridors.graph.build import build_graph_from_file
from corridors.graph.model import RoadGraph
from corridors.graph.order import contraction_order
from corridors.graph.synthetic import DISTRICT_CITY_NODES_PER_SIDE2, district_city, synthetic_city

OSM_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
NOW = datetime(2026, 11, 24, tzinfo=UTC)
QUERIES = 300


def elimination(graph: RoadGraph, order: np.ndarray) -> tuple[int, int]:
    """``(width, upward arcs)`` of eliminating ``graph`` (undirected) in ``order``."""
    rank = np.empty(graph.node_count, dtype=np.int64)
    rank[order] = np.arange(graph.node_count)
    neighbours: list[set[int]] = [set() for _ in range(graph.node_count)]
    for a, b in zip(graph.edge_tail.tolist(), graph.edge_head.tolist(), strict=True):
        if a != b:
            neighbours[a].add(b)
            neighbours[b].add(a)
    width = arcs = 0
    for v in order.tolist():
        up = [u for u in neighbours[v] if rank[u] > rank[v]]
        width, arcs = max(width, len(up)), arcs + len(up)
        for u in up:
            neighbours[u].update(up)
            neighbours[u].discard(u)
        neighbours[v] = set()
    return width, arcs


def measure(name: str, graph: RoadGraph) -> str:
    """One markdown row of figures for ``graph``."""
    order = contraction_order(graph)
    width, arcs = elimination(graph, order)
    tail = np.ascontiguousarray(graph.edge_tail, dtype=np.uint32)
    head = np.ascontiguousarray(graph.edge_head, dtype=np.uint32)
    cch = rk.CCH(order, tail, head, False)  # type: ignore[arg-type]
    weights = np.maximum(1, np.rint(graph.edge_length_m * 10)).astype(np.uint32)
    t0 = time.perf_counter()
    metric = rk.CCHMetric(cch, weights)  # type: ignore[arg-type]
    customise_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    times: list[float] = []
    for s, t in rng.integers(0, graph.node_count, (QUERIES, 2)).tolist():
        t0 = time.perf_counter()
        query = rk.CCHQuery(metric)
        result = query.run(s, t)
        _ = result.distance
        del result, query  # a result must be dropped before the next query
        times.append(time.perf_counter() - t0)
    n, m = graph.node_count, graph.edge_count
    return (
        f"| {name} | {n:,} | {m / n:.2f} | {width} | {width / math.sqrt(n):.2f} "
        f"| {arcs / m:.2f} | {customise_s / m * 1e6:.2f} | {np.median(times) * 1e6:.0f} |"
    )


def main() -> int:
    """Print the comparison table."""
    started = time.perf_counter()
    print(
        "| graph | nodes | edges / node | elimination width | width / sqrt(n) "
        "| CCH arcs / edge | customise us / edge | query p50 us |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    extracts = sorted(OSM_DIR.glob("*.pbf"))
    if not extracts:
        print(f"no real extracts in {OSM_DIR}", file=sys.stderr)
    largest = 0
    for path in extracts:
        graph = build_graph_from_file(path, built_at=NOW)
        largest = max(largest, graph.node_count)
        print(measure(f"real: {path.stem}", graph), flush=True)
    for nodes in sorted({largest or 5_000, 20_000}):
        side = round(math.sqrt(nodes / DISTRICT_CITY_NODES_PER_SIDE2))
        print(measure(f"district city {side} x {side}", district_city(side, seed=1)), flush=True)
        side = round(math.sqrt(nodes))
        grid = synthetic_city(side, side, seed=1)
        print(measure(f"uninterrupted grid {side} x {side}", grid), flush=True)
    print(f"\nTotal {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
