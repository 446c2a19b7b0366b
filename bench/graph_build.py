"""Benchmark the road-graph build: real extracts, the naive osmnx baseline, synthetic cities.

Usage::

    python bench/graph_build.py            # all extracts in ../shared/data/osm + synthetic
    python bench/graph_build.py --no-baseline --sizes 175 500 1000

Every measurement runs in its own subprocess, so peak RSS (``os.wait4`` rusage of that
child, whole process incl. Python start and imports) belongs to that job alone. "build s"
is the wall time of the build call inside the child (imports excluded). The baseline is
``osmnx.graph_from_xml`` on the same ``.osm.bz2`` (osmnx reads XML only) - the naive path
that turns every way of the file into an edge. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OSM_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
BUILT_AT = datetime(2025, 1, 1, tzinfo=UTC)


def _child(kind: str, arg: str) -> dict[str, Any]:
    """Run one measurement in this process; return its figures."""
    if kind == "build":
        from corridors.graph.build import build_graph_from_file

        start = time.perf_counter()
        graph = build_graph_from_file(arg, built_at=BUILT_AT)
        elapsed = time.perf_counter() - start
        return {"s": elapsed, "nodes": graph.node_count, "edges": graph.edge_count}
    if kind == "osmnx":
        import osmnx

        start = time.perf_counter()
        nxg = osmnx.graph_from_xml(arg, simplify=True, retain_all=False)
        elapsed = time.perf_counter() - start
        return {"s": elapsed, "nodes": nxg.number_of_nodes(), "edges": nxg.number_of_edges()}
    if kind == "synthetic":
        from corridors.graph.cache import load_graph, save_graph
        from corridors.graph.snap import EdgeSnapper
        from corridors.graph.synthetic import synthetic_city

        size = int(arg)
        start = time.perf_counter()
        graph = synthetic_city(size, size, seed=1)
        elapsed = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "graph.npz"
            save_start = time.perf_counter()
            save_graph(graph, path)
            save_s = time.perf_counter() - save_start
            loads = []
            for _ in range(5):
                load_start = time.perf_counter()
                load_graph(path)
                loads.append(time.perf_counter() - load_start)
            cache_mb = path.stat().st_size / 1e6
        index_start = time.perf_counter()
        snapper = EdgeSnapper(graph)
        index_s = time.perf_counter() - index_start
        min_lon, min_lat, max_lon, max_lat = graph.meta.bbox
        queries = 1000
        query_start = time.perf_counter()
        for i in range(queries):
            f = (i * 0.6180339887) % 1.0
            snapper.nearest(
                min_lon + f * (max_lon - min_lon), min_lat + (1 - f) * (max_lat - min_lat)
            )
        query_ms = (time.perf_counter() - query_start) / queries * 1000
        return {
            "s": elapsed,
            "nodes": graph.node_count,
            "edges": graph.edge_count,
            "save_s": save_s,
            "load_s": min(loads),
            "cache_mb": cache_mb,
            "index_s": index_s,
            "snap_ms": query_ms,
        }
    raise SystemExit(f"unknown job {kind}")


def _run(kind: str, arg: str) -> dict[str, Any]:
    """Run one job in a subprocess; add its peak RSS (MB) from wait4."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, arg],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def main() -> None:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ARG"), help=argparse.SUPPRESS)
    parser.add_argument("--no-baseline", action="store_true", help="skip osmnx.graph_from_xml")
    parser.add_argument("--sizes", nargs="*", type=int, default=[175, 500])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return

    print("| input | nodes / edges | build s | peak RSS MB | osmnx graph_from_xml n / e | s | MB |")
    print("|---|---|---|---|---|---|---|")
    files = sorted([*OSM_DIR.glob("*.osm.pbf"), *OSM_DIR.glob("*.osm.bz2")])
    for path in files:
        ours = _run("build", str(path))
        base = (
            _run("osmnx", str(path))
            if path.name.endswith(".bz2") and not args.no_baseline
            else None
        )
        cells = [
            path.name,
            f"{ours.get('nodes', '?'):,} / {ours.get('edges', '?'):,}" if "s" in ours else "error",
            f"{ours['s']:.2f}" if "s" in ours else "",
            f"{ours['rss_mb']:.0f}" if "rss_mb" in ours else "",
        ]
        if base and "s" in base:
            cells += [f"{base['nodes']:,} / {base['edges']:,}", f"{base['s']:.2f}"]
            cells.append(f"{base['rss_mb']:.0f}")
        else:
            cells += ["-", "-", "-"]
        print("| " + " | ".join(cells) + " |", flush=True)

    print()
    print(
        "| synthetic city | nodes / edges | build s | peak RSS MB | cache MB | save s "
        "| cache load s | snap index s | snap query ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        r = _run("synthetic", str(size))
        if "s" not in r:
            print(f"| {size} x {size} | {r.get('error')} |")
            continue
        print(
            f"| {size} x {size} | {r['nodes']:,} / {r['edges']:,} | {r['s']:.2f} "
            f"| {r['rss_mb']:.0f} | {r['cache_mb']:.1f} | {r['save_s']:.3f} | {r['load_s']:.3f} "
            f"| {r['index_s']:.2f} | {r['snap_ms']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
