"""Dissimilar alternative routes by the via-node method.

For a via node ``v`` the candidate is ``shortest(s, v) + shortest(v, t)``, read from a
forward tree from ``s`` and a backward tree to ``t`` (``scipy`` Dijkstra bounded by the
stretch limit, see :mod:`corridors.routing.sssp`). Candidates are tried cheapest first and
admitted when (Abraham et al., "Alternative routes in road networks", 2013):

- bounded stretch: cost <= ``max_stretch`` x the best cost (default 1.4);
- limited sharing: the length shared with the recommended route and with every alternative
  already admitted is at most ``max_overlap`` (default 0.5) of that route's length;
- local optimality (T-test): the sub-path from ``T/2`` before ``v`` to ``T/2`` after it,
  ``T = local_share`` x best cost (default 0.25), is itself a shortest path (checked with a
  CCH query, within 1 % or one unit of integer rounding). With request-only impassable
  edges the check uses the unrestricted metric, which can only reject more candidates.

Each admitted route reports its overlap with the recommended route (shared length /
recommended length).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from corridors.graph.model import RoadGraph
from corridors.routing.engine import CCHEngine, EdgePath, EdgePosition, Piece, path_cost
from corridors.routing.sssp import tree_from, tree_path, tree_to
from corridors.routing.summary import PathArrays

__all__ = ["Alternative", "find_alternatives", "overlap"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Via candidates examined at most (cheapest first).
MAX_CANDIDATES = 300


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
    weights = engine.weights(key).copy()
    if forbidden is not None:
        weights[forbidden] = np.inf
    limit = max_stretch * best.cost * (1 + 1e-9)
    fwd = tree_from(graph, weights, origin, limit=limit)
    bwd = tree_to(graph, weights, destination, limit=limit)
    total = fwd.dist + bwd.dist
    cand = np.flatnonzero(total <= limit)
    cand = cand[np.argsort(total[cand], kind="stable")]
    on_route: set[int] = {int(graph.edge_tail[p.edge]) for p in best.pieces}
    on_route |= {int(graph.edge_head[p.edge]) for p in best.pieces}
    admitted: list[Alternative] = []
    admitted_arrays: list[PathArrays] = []
    best_arrays = PathArrays.of(best.pieces)
    used: set[int] = set(on_route)
    examined = 0
    t_half = local_share * best.cost / 2
    for v in cand.tolist():
        if len(admitted) >= count or examined >= MAX_CANDIDATES:
            break
        if v in used:
            continue
        examined += 1
        head_part = tree_path(fwd, v)
        tail_part = tree_path(bwd, v)
        if head_part is None or tail_part is None:
            continue
        nodes_a, pieces_a = head_part
        nodes_b, pieces_b = tail_part
        pieces = (*pieces_a, *pieces_b)
        nodes = nodes_a + nodes_b[1:]
        used.update(nodes)
        if len(set(nodes)) != len(nodes):  # not simple: s-v and v-t paths cross
            continue
        pieces = tuple(p for p in pieces if p.end > p.start) or pieces[:1]
        cost = path_cost(weights, pieces)
        if cost > limit:
            continue
        arrays = PathArrays.of(pieces)
        ov = overlap(graph, arrays, best_arrays)
        if ov > max_overlap:
            continue
        if any(overlap(graph, arrays, other) > max_overlap for other in admitted_arrays):
            continue
        if not _locally_optimal(engine, key, nodes, v, t_half):
            continue
        admitted.append(Alternative(EdgePath(pieces, cost), ov))
        admitted_arrays.append(arrays)
    admitted.sort(key=lambda a: a.path.cost)
    return admitted


def _locally_optimal(
    engine: CCHEngine,
    key: Hashable,
    nodes: list[int],
    via: int,
    t_half: float,
) -> bool:
    """T-test around ``via`` on the node sequence of a via path."""
    i = nodes.index(via)
    along = _along(engine, key, nodes)
    x = i
    while x > 0 and along[i] - along[x] < t_half:
        x -= 1
    y = i
    while y < len(nodes) - 1 and along[y] - along[i] < t_half:
        y += 1
    if x == y:
        return True
    sub = along[y] - along[x]
    d = engine.node_distance(key, nodes[x], nodes[y])
    return d is not None and sub <= d * 1.01 + 2.0 / engine.scale(key)


def _along(engine: CCHEngine, key: Hashable, nodes: list[int]) -> list[float]:
    graph = engine.graph
    w = engine.weights(key)
    out = [0.0]
    for a, b in itertools.pairwise(nodes):
        lo, hi = int(graph.edge_offsets[a]), int(graph.edge_offsets[a + 1])
        heads = graph.edge_head[lo:hi]
        cost = float(np.min(w[lo:hi][heads == b])) if np.any(heads == b) else np.inf
        out.append(out[-1] + cost)
    return out
