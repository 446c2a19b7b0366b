"""Dissimilar alternative routes by the via-node method, on the CCH.

For a via node ``v`` the candidate is ``shortest(s, v) + shortest(v, t)``. Via nodes are
sampled over the region a detour can reach (one node per cell of a grid over the ellipse
with the end points as foci), their costs ``d(s, v) + d(v, t)`` come from one CCH
one-to-many and one many-to-one search, and the cheapest are built with two CCH queries
each and admitted when (Abraham et al., "Alternative routes in road networks", 2013):

- bounded stretch: cost <= ``max_stretch`` x the best cost (default 1.4);
- limited sharing: the length shared with the recommended route and with every alternative
  already admitted is at most ``max_overlap`` (default 0.5) of that route's length;
- local optimality (T-test): the sub-path from ``T/2`` before ``v`` to ``T/2`` after it,
  ``T = local_share`` x best cost (default 0.25), is itself a shortest path (checked with a
  CCH query, within 1 % or one unit of integer rounding). With request-only impassable
  edges the check uses the unrestricted metric, which can only reject more candidates;
- simple: the path does not visit a node twice.

Each admitted route reports its overlap with the recommended route (shared length /
recommended length). Sampling trades completeness for speed: the exact method examines
every node within the stretch bound from two full Dijkstra trees (~280 ms per request at
100k nodes, ~2.4 s at 1M, measured before this version); the sample covers the region
evenly, so the dissimilar corridors it finds are the ones a planner would look for.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from corridors.graph.model import RoadGraph
from corridors.routing.engine import CCHEngine, EdgePath, EdgePosition, PathArrays, Piece

__all__ = ["Alternative", "find_alternatives", "overlap"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Via nodes sampled per request (about one per grid cell over the detour ellipse).
VIA_SAMPLE = 400
#: Via paths built and tested at most (cheapest first).
MAX_TRIES = 30
#: Via nodes closer to the recommended route than this share of its span are skipped.
MIN_OFFSET_SHARE = 0.1
#: The ellipse spans at least this much, metres, around nearby end points.
MIN_SPAN_M = 500.0


@dataclass(frozen=True, slots=True)
class Alternative:
    """An admitted alternative: its path and overlap with the recommended route (0..1)."""

    path: EdgePath
    overlap: float


def _edge_lengths(graph: RoadGraph, path: PathArrays) -> tuple[IntArray, FloatArray]:
    """Distinct edges of a path (sorted) and the metres travelled on each."""
    edges, inverse = np.unique(path.edges, return_inverse=True)
    metres = np.bincount(inverse, weights=graph.edge_length_m[path.edges] * path.length_shares)
    return edges, np.asarray(metres, dtype=np.float64)


def overlap(
    graph: RoadGraph,
    route: tuple[Piece, ...] | PathArrays,
    reference: tuple[Piece, ...] | PathArrays,
) -> float:
    """Share of ``reference``'s length that ``route`` also travels (same directed edges)."""
    a_edges, a_m = _edge_lengths(graph, _as_arrays(route))
    b_edges, b_m = _edge_lengths(graph, _as_arrays(reference))
    _, ia, ib = np.intersect1d(a_edges, b_edges, assume_unique=True, return_indices=True)
    total = float(b_m.sum())
    if total <= 0:
        return 1.0 if ia.size else 0.0
    return float(np.minimum(a_m[ia], b_m[ib]).sum()) / total


def _as_arrays(path: tuple[Piece, ...] | PathArrays) -> PathArrays:
    return path if isinstance(path, PathArrays) else PathArrays.of(path)


def find_alternatives(
    engine: CCHEngine,
    key: Hashable,
    best: EdgePath,
    origin: EdgePosition,
    destination: EdgePosition,
    count: int,
    *,
    forbidden: BoolArray | None = None,
    max_stretch: float = 1.4,
    max_overlap: float = 0.5,
    local_share: float = 0.25,
) -> list[Alternative]:
    """Up to ``count`` admissible alternatives to ``best`` (see the module docstring).

    Parameters
    ----------
    engine, key
        The CCH engine and the metric the best route was found on.
    best
        The recommended route.
    origin, destination
        The points ``best`` joins.
    count
        How many alternatives at most.
    forbidden
        Request-only impassable edges.
    max_stretch, max_overlap, local_share
        Admissibility thresholds.

    Returns
    -------
    list of Alternative
        Cheapest first; possibly fewer than ``count`` (or none).
    """
    if count <= 0 or best.cost <= 0:
        return []
    graph = engine.graph
    best_arrays = best.arrays
    used = set(graph.edge_tail[best_arrays.edges].tolist())
    used |= set(graph.edge_head[best_arrays.edges].tolist())
    via = _via_sample(graph, origin, destination, max_stretch)
    via = via[_away_from(graph, via, best_arrays)]
    limit = max_stretch * best.cost * (1 + 1e-9)
    total = engine.distances_from(key, origin, via) + engine.distances_to(key, via, destination)
    keep = total <= limit
    via = via[keep][np.argsort(total[keep], kind="stable")]
    admitted: list[Alternative] = []
    admitted_arrays: list[PathArrays] = []
    t_half = local_share * best.cost / 2
    tries = 0
    for v in via.tolist():
        if len(admitted) >= count or tries >= MAX_TRIES:
            break
        if v in used:
            continue
        tries += 1
        path = engine.route_via(key, origin, v, destination, forbidden=forbidden)
        if path is None or path.cost > limit:
            continue
        arrays = path.arrays
        heads = graph.edge_head[arrays.edges]
        used.update(heads.tolist())
        if np.unique(heads).shape[0] != heads.shape[0]:  # not simple
            continue
        ov = overlap(graph, arrays, best_arrays)
        if ov > max_overlap:
            continue
        if any(overlap(graph, arrays, other) > max_overlap for other in admitted_arrays):
            continue
        if not _locally_optimal(engine, key, arrays, v, t_half):
            continue
        admitted.append(Alternative(path, ov))
        admitted_arrays.append(arrays)
    admitted.sort(key=lambda a: a.path.cost)
    return admitted


def _via_sample(
    graph: RoadGraph, origin: EdgePosition, destination: EdgePosition, max_stretch: float
) -> IntArray:
    """Via-node candidates: one node per cell of a grid over the detour ellipse."""
    proj = graph.projection
    sx, sy = proj.to_xy(
        graph.node_lon[graph.edge_head[origin.edge]], graph.node_lat[graph.edge_head[origin.edge]]
    )
    tx, ty = proj.to_xy(
        graph.node_lon[graph.edge_tail[destination.edge]],
        graph.node_lat[graph.edge_tail[destination.edge]],
    )
    reach_m = max_stretch * max(float(np.hypot(tx - sx, ty - sy)), MIN_SPAN_M)
    # The ellipse lies in the circle of radius reach/2 about the midpoint: compare degrees
    # first, project only the nodes in that square.
    mx, my, half = (sx + tx) / 2, (sy + ty) / 2, reach_m / 2
    (lon_lo, lon_hi), (lat_lo, lat_hi) = proj.to_lonlat(
        np.array([mx - half, mx + half]), np.array([my - half, my + half])
    )
    lon, lat = graph.node_lon, graph.node_lat
    near = np.flatnonzero((lon >= lon_lo) & (lon <= lon_hi) & (lat >= lat_lo) & (lat <= lat_hi))
    x, y = proj.to_xy(lon[near], lat[near])
    inside = np.hypot(x - sx, y - sy) + np.hypot(x - tx, y - ty) <= reach_m
    nodes = near[inside]
    if nodes.shape[0] <= VIA_SAMPLE:
        return np.asarray(nodes, dtype=np.int64)
    cell_m = reach_m / math.sqrt(VIA_SAMPLE)
    cx = np.floor(x[inside] / cell_m).astype(np.int64)
    cy = np.floor(y[inside] / cell_m).astype(np.int64)
    _, first = np.unique(cx * 1_000_003 + cy, return_index=True)
    return np.asarray(nodes[np.sort(first)], dtype=np.int64)


def _away_from(graph: RoadGraph, nodes: IntArray, route: PathArrays) -> BoolArray:
    """Nodes farther from ``route``'s nodes than :data:`MIN_OFFSET_SHARE` of its span.

    A via node next to the recommended route yields a route sharing most of it; skipping
    those saves building paths the overlap test would reject.
    """
    proj = graph.projection
    on_route = np.unique(graph.edge_head[route.edges])
    rx, ry = proj.to_xy(graph.node_lon[on_route], graph.node_lat[on_route])
    span_m = float(np.hypot(rx[-1] - rx[0], ry[-1] - ry[0])) if rx.size else 0.0
    x, y = proj.to_xy(graph.node_lon[nodes], graph.node_lat[nodes])
    step = max(1, rx.shape[0] // 200)  # enough route nodes to measure offsets
    gap_m = np.full(nodes.shape[0], np.inf)
    for px, py in zip(rx[::step].tolist(), ry[::step].tolist(), strict=True):
        np.minimum(gap_m, np.hypot(x - px, y - py), out=gap_m)
    return np.asarray(gap_m > MIN_OFFSET_SHARE * span_m, dtype=np.bool_)


def _locally_optimal(
    engine: CCHEngine, key: Hashable, path: PathArrays, via: int, t_half: float
) -> bool:
    """T-test around ``via``: the stretch of ``t_half`` either side is a shortest path."""
    graph = engine.graph
    heads = graph.edge_head[path.edges]
    at_via = np.flatnonzero(heads == via)
    if at_via.size == 0:
        return True
    # along[k] = cost from the route start to the head of piece k.
    along = np.cumsum(engine.weights(key)[path.edges] * path.length_shares)
    i = int(at_via[0])
    x = int(np.searchsorted(along, along[i] - t_half, side="right")) - 1
    y = int(np.searchsorted(along, along[i] + t_half, side="left"))
    x, y = max(x, 0), min(y, heads.shape[0] - 1)
    if x >= y:
        return True
    sub = float(along[y] - along[x])
    d = engine.node_distance(key, int(heads[x]), int(heads[y]))
    return d is not None and sub <= d * 1.01 + 2.0 / engine.scale(key)
