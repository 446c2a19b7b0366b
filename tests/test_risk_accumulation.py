"""Lean accumulation and build of the risk engine: bit for bit what whole-array (dense)
computations give, whatever the block, chunk and thread counts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from corridors.config import SHIPPED_DATA_DIR
from corridors.domain import Category, Incident
from corridors.graph.model import RoadGraph
from corridors.graph.synthetic import synthetic_city
from corridors.risk import engine as engine_module
from corridors.risk.config import load_risk_model
from corridors.risk.engine import RiskEngine

CFG = load_risk_model(SHIPPED_DATA_DIR / "risk-model.toml")
AT = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
GRAPH = synthetic_city(14, 16, seed=4, spacing_m=120.0)
_CATS = (Category.armed_clash, Category.roadblock, Category.abduction, Category.looting)


def _incidents(graph: RoadGraph, n: int, seed: int) -> list[Incident]:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = graph.meta.bbox
    # A few shared points (groups of several reports, several decay classes) and spread ones.
    shared = rng.uniform((x0, y0), (x1, y1), (5, 2))
    out = []
    for k in range(n):
        lon, lat = shared[k % 5] if k % 3 == 0 else rng.uniform((x0, y0), (x1, y1))
        out.append(
            Incident(
                id=f"r{k}",
                occurred_at=AT - timedelta(hours=float(rng.uniform(0, 200))),
                lon=float(lon),
                lat=float(lat),
                category=_CATS[k % len(_CATS)],
                severity=int(rng.integers(1, 6)),
                uncertainty_m=float(rng.choice([0.0, 100.0, 400.0])),
            )
        )
    return out


def _dense_group_values(
    engine: RiskEngine, incidents: list[Incident]
) -> tuple[np.ndarray, np.ndarray]:
    """Segment and per-class risk as one dense array per chunk and per block (the former
    implementation, serial): per chunk ``bincount(minlength=segments)``, added in order."""
    reports = engine._reports(incidents, AT)
    c = engine._contributions_from(reports)
    g, weight = c.groups, c.group_weight()
    s_count = engine.segment_count
    assert c.decay_class is not None
    classes, local = np.unique(c.decay_class, return_inverse=True)
    k_count = classes.shape[0]
    # Per group and class: the summed weight of its live entries.
    gc = np.zeros((g.count, k_count))
    np.add.at(gc, (g.group_of, local.ravel()), c.live_weight())
    radius = g.support_m + engine._piece_half + engine_module._EPS_M
    size = max(64, min(engine_module._GROUP_BLOCK, -(-g.count // (4 * engine.workers))))
    total = np.zeros(s_count)
    class_total = np.zeros((k_count, s_count))
    for lo in range(0, g.count, size):
        sl = slice(lo, lo + size)
        x, y, sigma, support = g.x_m[sl], g.y_m[sl], g.sigma_m[sl], g.support_m[sl]
        sums = np.zeros(s_count)
        class_sums = np.zeros((k_count, s_count))
        for point, piece in engine._candidates(x, y, radius[sl]):
            value = engine._unit_values(x, y, sigma, support, point, piece)
            seg = engine._piece_seg[piece]
            for k in range(k_count):
                w = gc[lo + point, k]
                has = w != 0
                class_sums[k] += np.bincount(
                    seg[has], weights=value[has] * w[has], minlength=s_count
                )
            sums += np.bincount(seg, weights=value * weight[sl][point], minlength=s_count)
        total += sums
        class_total += class_sums
    inv_km = engine._seg_inv_km
    return total * inv_km, (class_total * inv_km).astype(np.float32)


@pytest.mark.parametrize(("chunk", "block"), [(97, 7), (1 << 16, 4096), (5000, 64)])
def test_sparse_sums_equal_dense_sums_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, chunk: int, block: int
) -> None:
    monkeypatch.setattr(engine_module, "_CHUNK_PAIRS", chunk)
    monkeypatch.setattr(engine_module, "_GROUP_BLOCK", block)
    incidents = _incidents(GRAPH, 600, seed=chunk)
    reference: tuple[np.ndarray, np.ndarray] | None = None
    for workers in (1, 2, 3):
        engine = RiskEngine(GRAPH, CFG, workers=workers)
        field = engine.compute(incidents, at=AT)
        want = _dense_group_values(engine, incidents)
        assert field._class_risk is not None
        assert field.segment_risk_per_km.tobytes() == want[0].tobytes()
        assert field._class_risk.tobytes() == want[1].tobytes()
        # A group with several classes (acute and chronic at one point) was exercised.
        assert field._class_risk.shape[0] >= 4
        if block == 7:  # same block size for every worker count: the same bits
            reference = reference or (want[0], want[1])
            assert want[0].tobytes() == reference[0].tobytes()


def test_sum_by_key_equals_bincount_on_both_paths() -> None:
    rng = np.random.default_rng(5)
    for spread in (50, 10**9):  # a short window, then keys too far apart for one
        keys = rng.integers(0, spread, 3000).astype(np.int64) + 7
        values = rng.exponential(1.0, 3000)
        values[::10] = 0.0
        got_keys, got_sums = engine_module._sum_by_key(keys, values)
        distinct, inverse = np.unique(keys, return_inverse=True)
        dense = np.bincount(inverse, weights=values)
        assert got_keys.tolist() == distinct[dense != 0].tolist()
        assert got_sums.tobytes() == dense[dense != 0].tobytes()
    empty_keys, empty_sums = engine_module._sum_by_key(np.zeros(0, dtype=np.int64), np.zeros(0))
    assert empty_keys.shape == empty_sums.shape == (0,)


def test_chunked_stable_positions_equal_a_stable_argsort() -> None:
    rng = np.random.default_rng(8)
    key = rng.integers(0, 40, 1000)
    counts = np.bincount(key, minlength=40)
    free = np.concatenate([[0], np.cumsum(counts)])[:-1].astype(np.int64)
    at = np.concatenate(
        [engine_module._stable_positions(key[lo : lo + 77], free) for lo in range(0, 1000, 77)]
    )
    order = np.empty(1000, dtype=np.int64)
    order[at] = np.arange(1000)
    assert order.tolist() == np.argsort(key, kind="stable").tolist()


def _whole_array_pieces(engine: RiskEngine) -> dict[str, np.ndarray]:
    """The pieces and grid built on whole arrays (the former implementation)."""
    g = engine.graph
    offsets = np.asarray(g.geometry_offsets, dtype=np.int64)
    x, y = engine.projection.to_xy(g.geometry_lon, g.geometry_lat)
    vertex_edge = np.repeat(np.arange(g.edge_count), np.diff(offsets))
    reverse = np.asarray(g.edge_reverse)
    canon = np.where(
        reverse >= 0, np.minimum(np.arange(g.edge_count), reverse), np.arange(g.edge_count)
    )
    segment_edge, edge_segment = np.unique(canon, return_inverse=True)
    seg_of_canon = np.full(g.edge_count, -1)
    seg_of_canon[segment_edge] = np.arange(segment_edge.shape[0])
    start = np.flatnonzero(vertex_edge[:-1] == vertex_edge[1:])
    seg = seg_of_canon[vertex_edge[start]]
    start, seg = start[seg >= 0], seg[seg >= 0]
    x0, y0 = x[start], y[start]
    dx, dy = x[start + 1] - x0, y[start + 1] - y0
    length = np.hypot(dx, dy)
    seg_length = np.bincount(seg, weights=length, minlength=segment_edge.shape[0])
    keep = length > 0
    x0, y0, dx, dy, length, seg = (a[keep] for a in (x0, y0, dx, dy, length, seg))
    n = np.maximum(1, np.ceil(length / engine.max_piece_m)).astype(np.int64)
    owner = np.repeat(np.arange(length.shape[0]), n)
    k = np.arange(owner.shape[0]) - np.repeat(np.cumsum(n) - n, n)
    f0, f1 = k / n[owner], (k + 1) / n[owner]
    px0, py0 = x0[owner] + dx[owner] * f0, y0[owner] + dy[owner] * f0
    plen = length[owner] * (f1 - f0)
    ux, uy = dx[owner] / length[owner], dy[owner] / length[owner]
    mid_x, mid_y = px0 + ux * plen / 2, py0 + uy * plen / 2
    gx, gy = mid_x.min(), mid_y.min()
    width, height = mid_x.max() - gx, mid_y.max() - gy
    cell = max(engine_module._CELL_M, math.sqrt(width * height / engine_module._MAX_CELLS))
    cols, rows = int(width // cell) + 1, int(height // cell) + 1
    code = np.minimum((mid_y - gy) // cell, rows - 1).astype(np.int64) * cols + np.minimum(
        (mid_x - gx) // cell, cols - 1
    ).astype(np.int64)
    order = np.argsort(code, kind="stable")
    piece_seg = seg[owner][order]
    return {
        "edge_segment": edge_segment.ravel(),
        "segment_edge": segment_edge,
        "segment_length_m": seg_length,
        "_piece_x0": px0[order],
        "_piece_y0": py0[order],
        "_piece_len": plen[order],
        "_piece_ux": ux[order],
        "_piece_uy": uy[order],
        "_piece_seg": piece_seg,
        "_cell_ptr": np.concatenate([[0], np.cumsum(np.bincount(code, minlength=rows * cols))]),
        "_seg_pieces": np.argsort(piece_seg, kind="stable"),
        "_seg_piece_ptr": np.concatenate(
            [[0], np.cumsum(np.bincount(piece_seg, minlength=segment_edge.shape[0]))]
        ),
    }


@pytest.mark.parametrize(("edges", "pieces"), [(1 << 16, 1 << 18), (37, 101), (1, 3)])
def test_block_build_equals_whole_array_build(
    monkeypatch: pytest.MonkeyPatch, edges: int, pieces: int
) -> None:
    monkeypatch.setattr(engine_module, "_BUILD_EDGES", edges)
    monkeypatch.setattr(engine_module, "_BUILD_PIECES", pieces)
    engine = RiskEngine(GRAPH, CFG, max_piece_m=70.0)  # several pieces for long segments
    want = _whole_array_pieces(engine)
    assert engine._piece_len.shape[0] > engine.segment_count
    for name, value in want.items():
        got = getattr(engine, name)
        assert got.tolist() == value.tolist(), name
    assert got.dtype == np.int32  # indexes are stored as int32
    edges_of = engine._edges_of_segments(np.arange(engine.segment_count))
    assert sorted(edges_of.tolist()) == list(range(GRAPH.edge_count))
    assert (
        engine.edge_segment[edges_of].tolist()
        == np.concatenate(
            [np.arange(engine.segment_count), engine.edge_segment[edges_of[engine.segment_count :]]]
        ).tolist()
    )
