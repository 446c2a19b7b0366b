"""Benchmark the risk refresh: full ``RiskEngine.compute`` and incremental adds.

Usage::

    python bench/risk_refresh.py                      # 1k, 10k, 100k reports
    python bench/risk_refresh.py --sizes 1000 10000 --baseline-max 10000

Graph: ``synthetic_city(175, 175)`` (~104k directed edges, ~60k segments). Two report layouts:

* ``random``: every report at its own random point over the graph's bounding box;
* ``clustered``: reports at 300 distinct points (like ACLED's neighbourhood centroids: 2,819
  Port-au-Prince events at 222 points), each point with a fixed location uncertainty.

Categories follow a realistic mix (clashes, attacks, abductions, roadblocks, ...), ages are
random over the past week. Each measurement runs in its own subprocess, so its peak RSS
(whole process, incl. Python and the graph) belongs to that job alone; "delta MB" is the
peak minus the RSS just before the refresh. "add ms" is the median time of
``RiskEngine.updated(field, add=[one report])``. The baseline is the pre-grouping engine:
one report at a time, a dual-tree query per batch of reports, a report x segment sparse
matrix (kept here only, for comparison). Prints a markdown table. ``--acute-only`` measures
the model without its chronic term (each violent report then has one kernel instead of two).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

AT = datetime(2025, 6, 1, 14, 0, tzinfo=UTC)
CLUSTER_POINTS = 300
#: (category, share of reports); uncertainty of random reports drawn from UNCERTAINTY_M.
MIX = (
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
UNCERTAINTY_M = (0.0, 0.0, 50.0, 100.0, 200.0)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _incidents(
    n: int, layout: str, bbox: tuple[float, float, float, float], seed: int
) -> list[Any]:
    from corridors.domain import Category, Incident, ReportStatus

    rng = np.random.default_rng(seed)
    lon0, lat0, lon1, lat1 = bbox
    cats = [Category(name) for name, _ in MIX]
    share = np.array([s for _, s in MIX])
    cat = rng.choice(len(cats), size=n, p=share / share.sum())
    if layout == "random":
        lon = rng.uniform(lon0, lon1, n)
        lat = rng.uniform(lat0, lat1, n)
        unc = rng.choice(UNCERTAINTY_M, size=n)
    else:
        # Points in the middle half of the city, where incidents concentrate.
        plon = rng.uniform(lon0 + (lon1 - lon0) / 4, lon1 - (lon1 - lon0) / 4, CLUSTER_POINTS)
        plat = rng.uniform(lat0 + (lat1 - lat0) / 4, lat1 - (lat1 - lat0) / 4, CLUSTER_POINTS)
        punc = rng.choice([0.0, 750.0], size=CLUSTER_POINTS, p=[0.2, 0.8])
        point = rng.integers(0, CLUSTER_POINTS, n)
        lon, lat, unc = plon[point], plat[point], punc[point]
    age_h = rng.uniform(0, 7 * 24, n)
    sev = rng.integers(1, 6, n)
    return [
        Incident(
            id=f"r{k}",
            occurred_at=AT - timedelta(hours=float(age_h[k])),
            lon=float(lon[k]),
            lat=float(lat[k]),
            category=cats[int(cat[k])],
            severity=int(sev[k]),
            uncertainty_m=float(unc[k]),
            source_reliability="B",
            credibility=2,
            status=ReportStatus.verified,
        )
        for k in range(n)
    ]


# ---------------------------------------------------------------------------------------------
# Baseline: the per-report engine this one replaced (kept here only, for comparison)
# ---------------------------------------------------------------------------------------------


def _baseline_compute(engine: Any, tree: Any, incidents: list[Any]) -> FloatArray:
    """Risk per km of every segment, one report at a time through a report x segment matrix."""
    import scipy.sparse as sp
    from scipy.spatial import cKDTree
    from scipy.special import ndtr

    reports = engine._reports(incidents, AT)
    n = reports.weight.shape[0]
    support = engine._support(reports.sigma_m)
    order = np.argsort(support, kind="stable")
    sorted_support = support[order]
    rows_out: list[IntArray] = []
    segs_out: list[IntArray] = []
    vals_out: list[FloatArray] = []
    lo = 0
    while lo < n:
        hi = int(np.searchsorted(sorted_support, sorted_support[lo] * 1.15, side="right"))
        hi = max(lo + 1, min(hi, lo + 256))
        batch = order[lo:hi]
        lo = hi
        radius = float(support[batch].max()) + engine._piece_half
        points = np.column_stack([reports.x_m[batch], reports.y_m[batch]])
        pairs = cKDTree(points).sparse_distance_matrix(tree, radius, output_type="ndarray")
        near = pairs["v"] <= support[batch[pairs["i"]]] + engine._piece_len[pairs["j"]] / 2
        pairs = pairs[near]
        row = batch[np.asarray(pairs["i"], dtype=np.int64)]
        piece = np.asarray(pairs["j"], dtype=np.int64)
        # Closed-form Gaussian integral along each (report, piece) pair.
        ux, uy = engine._piece_ux[piece], engine._piece_uy[piece]
        vx = reports.x_m[row] - engine._piece_x0[piece]
        vy = reports.y_m[row] - engine._piece_y0[piece]
        along = vx * ux + vy * uy
        perp2 = np.maximum(vx * vx + vy * vy - along * along, 0.0)
        reach = support[row]
        chord2 = reach * reach - perp2
        pos = np.flatnonzero(chord2 > 0)
        along, perp2, chord2 = along[pos], perp2[pos], chord2[pos]
        half_chord = np.sqrt(chord2)
        a = np.maximum(-along, -half_chord)
        b = np.minimum(engine._piece_len[piece[pos]] - along, half_chord)
        keep = b > a
        pos, a, b, perp2 = pos[keep], a[keep], b[keep], perp2[keep]
        r = row[pos]
        inv_sigma = 1.0 / reports.sigma_m[r]
        integral = (ndtr(b * inv_sigma) - ndtr(a * inv_sigma)) * np.exp(
            -0.5 * perp2 * inv_sigma * inv_sigma
        )
        integral = np.maximum(integral, 0.0) * reports.weight[r]
        integral *= engine._seg_inv_km[engine._piece_seg[piece[pos]]]
        block = sp.coo_matrix(
            (integral, (pairs["i"][pos], engine._piece_seg[piece[pos]])),
            shape=(batch.shape[0], engine.segment_count),
        ).tocsr()
        block.sum_duplicates()
        rows_out.append(np.repeat(batch, np.diff(block.indptr)).astype(np.int64))
        segs_out.append(block.indices.astype(np.int64))
        vals_out.append(block.data.astype(np.float64))
    matrix = sp.csc_matrix(
        (np.concatenate(vals_out), (np.concatenate(rows_out), np.concatenate(segs_out))),
        shape=(n, engine.segment_count),
    )
    return np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()


# ---------------------------------------------------------------------------------------------
# One measurement (child process)
# ---------------------------------------------------------------------------------------------


def _child(size: int, layout: str, method: str, acute_only: bool = False) -> dict[str, Any]:
    from dataclasses import replace

    from scipy.spatial import cKDTree

    from corridors.config import SHIPPED_DATA_DIR
    from corridors.graph.synthetic import synthetic_city
    from corridors.risk.config import load_risk_model
    from corridors.risk.engine import RiskEngine

    graph = synthetic_city(175, 175, seed=1)
    config = load_risk_model(SHIPPED_DATA_DIR / "risk-model.toml")
    if acute_only:  # the model without its chronic term (as before 2026-11-3)
        config = config.model_copy(
            update={"chronic": config.chronic.model_copy(update={"weight": 0.0})}
        )
    engine = RiskEngine(graph, config)
    incidents = _incidents(size, layout, graph.meta.bbox, seed=size)
    points = len({(i.lon, i.lat) for i in incidents})
    out: dict[str, Any] = {"edges": graph.edge_count, "points": points}
    if method == "baseline":
        mid = np.column_stack(
            [
                engine._piece_x0 + engine._piece_ux * engine._piece_len / 2,
                engine._piece_y0 + engine._piece_uy * engine._piece_len / 2,
            ]
        )
        tree = cKDTree(mid)
        before = _rss_mb()
        start = time.perf_counter()
        risk = _baseline_compute(engine, tree, incidents)
        out["s"] = time.perf_counter() - start
        # Same answer as the engine (checked outside the timing).
        new = engine.compute(incidents, at=AT).segment_risk_per_km
        out["max_rel_diff"] = float(
            np.max(np.abs(new - risk) / np.maximum(np.abs(risk), 1e-300), initial=0.0)
        )
    else:
        before = _rss_mb()
        start = time.perf_counter()
        field = engine.compute(incidents, at=AT)
        out["s"] = time.perf_counter() - start
        out["groups"] = field._contributions.groups.count
        out["considered"] = field.reports_considered
        times = []
        for k in range(21):
            extra = replace(incidents[(k * 7919) % size], id=f"new{k}")
            t0 = time.perf_counter()
            engine.updated(field, add=[extra])
            times.append(time.perf_counter() - t0)
        out["add_ms"] = statistics.median(times) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["peak_mb"] = peak
    out["delta_mb"] = max(0.0, peak - before)
    return out


def _run(size: int, layout: str, method: str, acute_only: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(size), layout, method]
    if acute_only:
        cmd.append("--acute-only")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--layouts", nargs="+", default=["random", "clustered"])
    parser.add_argument(
        "--baseline-max", type=int, default=100000, help="largest size run with the baseline"
    )
    parser.add_argument(
        "--acute-only", action="store_true", help="the model without its chronic term"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        size, layout, method = args.child
        print(json.dumps(_child(int(size), layout, method, args.acute_only)))
        return 0
    print(
        "| layout | reports | distinct points | groups | full compute s | peak MB (delta) "
        "| add ms | baseline s | baseline peak MB (delta) | speed-up | max rel diff |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for layout in args.layouts:
        for size in args.sizes:
            new = _run(size, layout, "engine", args.acute_only)
            row = (
                f"| {layout} | {size:,} | {new['points']:,} | {new['groups']:,} | {new['s']:.3f} "
                f"| {new['peak_mb']:.0f} ({new['delta_mb']:.0f}) | {new['add_ms']:.2f} "
            )
            if size <= args.baseline_max:
                old = _run(size, layout, "baseline", args.acute_only)
                row += (
                    f"| {old['s']:.3f} | {old['peak_mb']:.0f} ({old['delta_mb']:.0f}) "
                    f"| {old['s'] / new['s']:.1f}x | {old['max_rel_diff']:.1e} |"
                )
            else:
                row += "| - | - | - | - |"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
