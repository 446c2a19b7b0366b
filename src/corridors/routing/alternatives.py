"""Dissimilar alternative routes by the via-node method, on the CCH.

For a via node ``v`` the candidate is ``shortest(s, v) + shortest(v, t)``. Via nodes are
sampled over the region a detour can reach (the node nearest the centre of each cell of a
grid over the ellipse with the end points as foci, from the graph's
:class:`~corridors.graph.node_index.NodeIndex`), their costs ``d(s, v) + d(v, t)`` come
from one CCH one-to-many and one many-to-one search (on two threads where a search is
slow), and the cheapest are built with two CCH queries each, on one query object, and
admitted when (Abraham et al., "Alternative routes in road networks", 2013):

- bounded stretch: cost <= ``max_stretch`` x the best cost (default 1.4);
- limited sharing: the length shared with the recommended route and with every alternative
  already admitted is at most ``max_overlap`` (default 0.5) of that route's length;
- local optimality (T-test): the sub-path from ``T/2`` before ``v`` to ``T/2`` after it,
  ``T = local_share`` x best cost (default 0.25), is itself a shortest path (checked with a
  CCH query, within 1 % or one unit of integer rounding). With request-only impassable
  edges the check uses the unrestricted metric, which can only reject more candidates;
- simple: the path does not visit a node twice.

Via nodes where the via path would turn straight back (a dead end, a side street: reached
along ``u -> v`` and left along ``v -> u``) are known from the same two searches, with the
via nodes' neighbours as extra rows, and are never built: on the 1M-node district city
with 10k reports they were 88 % of the candidates rejected as not simple (6 of ~25 built a
request, two CCH queries each). With request-only impassable edges this check, like the
costs, uses the unrestricted metric.

The longer half of a candidate (by ``d(s, v)`` against ``d(v, t)``) is built first: what it
shares with the recommended route or an admitted alternative the whole path shares too, so
when that is already too much the other half is never built (on the 100k-node district
city with 10k reports, 34 halves built a request for 24 candidates tried, instead of 48).
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
from corridors.graph.node_index import NodeIndex, farther_than
from corridors.routing.engine import (
    CCHEngine,
    EdgePath,
    EdgePosition,
    MetricSearch,
    PathArrays,
    Piece,
    joined,
)

__all__ = ["Alternative", "find_alternatives", "overlap"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Via nodes sampled per request (about one per grid cell over the detour ellipse).
VIA_SAMPLE = 400
#: Nodes in the circle about a trip up to which its ellipse is searched for every node.
SMALL_CIRCLE_NODES = 4 * VIA_SAMPLE
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


def _metres(graph: RoadGraph, path: PathArrays) -> FloatArray:
    """Metres travelled on each piece of ``path``."""
    return np.asarray(graph.edge_length_m[path.edges] * path.length_shares, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Reference:
    """A route others are compared with: its distinct edges (sorted), the metres it
    travels on each and their total."""

    edges: IntArray
    metres: FloatArray
    total_m: float

    @classmethod
    def of(cls, graph: RoadGraph, path: PathArrays) -> _Reference:
        edges, inverse = np.unique(path.edges, return_inverse=True)
        metres = np.bincount(inverse, weights=_metres(graph, path))
        return cls(edges, np.asarray(metres, dtype=np.float64), float(metres.sum()))

    def share_in(self, edges: IntArray, metres: FloatArray) -> float:
        """Share of this route's length that a path of pieces on ``edges``, ``metres``
        long each, also travels (same directed edges). Counted piece by piece: a path
        travelling an edge twice (no shortest path does, nor a simple one) could count
        it twice."""
        at = np.minimum(np.searchsorted(self.edges, edges), self.edges.shape[0] - 1)
        same = self.edges[at] == edges
        if self.total_m <= 0:
            return 1.0 if same.any() else 0.0
        shared_m = float(np.minimum(metres[same], self.metres[at[same]]).sum())
        return min(shared_m / self.total_m, 1.0)


def overlap(
    graph: RoadGraph,
    route: tuple[Piece, ...] | PathArrays,
    reference: tuple[Piece, ...] | PathArrays,
) -> float:
    """Share of ``reference``'s length that ``route`` also travels (same directed edges)."""
    arrays = _as_arrays(route)
    shared = _Reference.of(graph, _as_arrays(reference))
    return shared.share_in(arrays.edges, _metres(graph, arrays))


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
    parallel: bool = False,
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
    parallel
        Search the costs to and from the via nodes on two threads (where a search is slow).

    Returns
    -------
    list of Alternative
        Cheapest first; possibly fewer than ``count`` (or none).
    """
    if count <= 0 or best.cost <= 0:
        return []
    graph = engine.graph
    index = NodeIndex.of(graph)
    best_arrays = best.arrays
    used = set(graph.edge_tail[best_arrays.edges].tolist())
    used |= set(graph.edge_head[best_arrays.edges].tolist())
    via = _via_sample(graph, index, origin, destination, max_stretch)
    via = via[_away_from(graph, index, via, best_arrays)]
    limit = max_stretch * best.cost * (1 + 1e-9)
    # Sharing is measured against the recommended route and every admitted alternative.
    references = [_Reference.of(graph, best_arrays)]
    admitted: list[Alternative] = []
    t_half = local_share * best.cost / 2
    tries = 0
    with engine.searching(key, exclusive=forbidden is not None) as search:
        to_via, from_via, turning = _via_costs(search, graph, via, origin, destination, parallel)
        total = to_via + from_via
        keep = np.flatnonzero((total <= limit) & ~turning)
        keep = keep[np.argsort(total[keep], kind="stable")]
        for v, to_v, from_v in zip(
            via[keep].tolist(), to_via[keep].tolist(), from_via[keep].tolist(), strict=True
        ):
            if len(admitted) >= count or tries >= MAX_TRIES:
                break
            if v in used:
                continue
            tries += 1
            # The longer half first: what a half shares, the whole path shares too, so a
            # half that shares too much rejects the path before the other half is built.
            head_first = to_v >= from_v
            first = (
                search.route(origin, v, forbidden=forbidden)
                if head_first
                else search.route(v, destination, forbidden=forbidden)
            )
            if first is None:
                continue
            used.update(graph.edge_head[first.arrays.edges].tolist())
            half_edges, half_m = first.arrays.edges, _metres(graph, first.arrays)
            if any(r.share_in(half_edges, half_m) > max_overlap for r in references):
                continue
            second = (
                search.route(v, destination, forbidden=forbidden)
                if head_first
                else search.route(origin, v, forbidden=forbidden)
            )
            if second is None:
                continue
            path = joined(first, second) if head_first else joined(second, first)
            if path.cost > limit:
                continue
            arrays = path.arrays
            heads = graph.edge_head[arrays.edges]
            used.update(heads.tolist())
            if np.unique(heads).shape[0] != heads.shape[0]:  # not simple
                continue
            metres = _metres(graph, arrays)
            shares = [r.share_in(arrays.edges, metres) for r in references]
            if max(shares) > max_overlap:
                continue
            if not _locally_optimal(search, graph, arrays, v, t_half):
                continue
            admitted.append(Alternative(path, shares[0]))
            references.append(_Reference.of(graph, arrays))
    admitted.sort(key=lambda a: a.path.cost)
    return admitted


def _via_costs(
    search: MetricSearch,
    graph: RoadGraph,
    via: IntArray,
    origin: EdgePosition,
    destination: EdgePosition,
    parallel: bool,
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Cost from ``origin`` to each via node, from it to ``destination``, and whether the
    via path turns straight back there.

    A via node on a dead end or a side street is reached along an edge ``u -> v`` and left
    along ``v -> u``: that path is never simple. The neighbours ``u`` across two-way edges
    are searched with the via nodes (the same two searches, a few more rows), and a via
    node is turning back when, for one of them, ``u -> v`` ends a cheapest path to it and
    ``v -> u`` starts a cheapest path from it (integer costs, compared exactly).
    """
    offsets = graph.edge_offsets
    starts = offsets[via]
    counts = offsets[via + 1] - starts
    owner = np.repeat(np.arange(via.shape[0]), counts)
    out = np.arange(owner.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    out += np.repeat(starts, counts)
    back = graph.edge_reverse[out]
    two_way = back >= 0
    owner, out, back = owner[two_way], out[two_way], back[two_way]
    neighbour = graph.edge_head[out].astype(np.int64)
    nodes = np.unique(np.concatenate([via, neighbour]))
    to_nodes, from_nodes = search.via_costs(origin, nodes, destination, parallel=parallel)
    at_via, at_neighbour = np.searchsorted(nodes, via), np.searchsorted(nodes, neighbour)
    to_via, from_via = to_nodes[at_via], from_nodes[at_via]
    # In RoutingKit's integer units: its distances are exact sums of its rounded weights.
    scale, weights = search.scale, search.weights
    with np.errstate(invalid="ignore"):
        arrives = np.rint((to_nodes[at_neighbour] - to_via[owner]) * scale) + np.rint(
            weights[back] * scale
        )
        leaves = np.rint((from_nodes[at_neighbour] - from_via[owner]) * scale) + np.rint(
            weights[out] * scale
        )
    turns = (arrives == 0) & (leaves == 0)
    turning = np.zeros(via.shape[0], dtype=np.bool_)
    turning[owner[turns]] = True
    return to_via, from_via, turning


def _via_sample(
    graph: RoadGraph,
    index: NodeIndex,
    origin: EdgePosition,
    destination: EdgePosition,
    max_stretch: float,
) -> IntArray:
    """Via-node candidates inside the detour ellipse: all of them when the circle about the
    trip holds at most :data:`SMALL_CIRCLE_NODES` nodes and the ellipse at most
    :data:`VIA_SAMPLE`; else the node nearest the centre of each cell of a grid over it."""
    xy = index.xy_m
    sx, sy = xy[int(graph.edge_head[origin.edge])].tolist()
    tx, ty = xy[int(graph.edge_tail[destination.edge])].tolist()
    reach_m = max_stretch * max(float(np.hypot(tx - sx, ty - sy)), MIN_SPAN_M)
    # The ellipse lies in the circle of radius reach/2 about the midpoint.
    mx, my, half = (sx + tx) / 2, (sy + ty) / 2, reach_m / 2

    def inside(nodes: IntArray) -> IntArray:
        x, y = xy[nodes, 0], xy[nodes, 1]
        near = np.hypot(x - sx, y - sy) + np.hypot(x - tx, y - ty) <= reach_m
        return np.asarray(nodes[near], dtype=np.int64)

    if index.count_within(mx, my, half) <= SMALL_CIRCLE_NODES:
        nodes = inside(index.within(mx, my, half))
        if nodes.shape[0] <= VIA_SAMPLE:
            return nodes
    side = math.isqrt(VIA_SAMPLE)
    cell_m = reach_m / side
    offsets_m = (np.arange(side) + 0.5) * cell_m - half
    cx, cy = np.meshgrid(mx + offsets_m, my + offsets_m)
    # A node counts for a cell when it lies within the circle through the cell's corners.
    nodes = index.nearest(np.column_stack([cx.ravel(), cy.ravel()]), cell_m / math.sqrt(2))
    nodes = nodes[nodes >= 0]
    _, first = np.unique(nodes, return_index=True)
    return inside(nodes[np.sort(first)])


def _away_from(graph: RoadGraph, index: NodeIndex, nodes: IntArray, route: PathArrays) -> BoolArray:
    """Nodes farther from ``route``'s nodes than :data:`MIN_OFFSET_SHARE` of its span (the
    distance between its ends).

    A via node next to the recommended route yields a route sharing most of it; skipping
    those saves building paths the overlap test would reject.
    """
    xy = index.xy_m
    start = int(graph.edge_tail[route.edges[0]])
    on_route = np.unique(np.append(graph.edge_head[route.edges], start))
    (ax, ay), (bx, by) = xy[start], xy[int(graph.edge_head[route.edges[-1]])]
    span_m = math.hypot(float(bx - ax), float(by - ay))
    return farther_than(xy[nodes], xy[on_route], MIN_OFFSET_SHARE * span_m)


def _locally_optimal(
    search: MetricSearch, graph: RoadGraph, path: PathArrays, via: int, t_half: float
) -> bool:
    """T-test around ``via``: the stretch of ``t_half`` either side is a shortest path."""
    heads = graph.edge_head[path.edges]
    at_via = np.flatnonzero(heads == via)
    if at_via.size == 0:
        return True
    # along[k] = cost from the route start to the head of piece k.
    along = np.cumsum(search.weights[path.edges] * path.length_shares)
    i = int(at_via[0])
    x = int(np.searchsorted(along, along[i] - t_half, side="right")) - 1
    y = int(np.searchsorted(along, along[i] + t_half, side="left"))
    x, y = max(x, 0), min(y, heads.shape[0] - 1)
    if x >= y:
        return True
    sub = float(along[y] - along[x])
    d = search.node_distance(int(heads[x]), int(heads[y]))
    return d is not None and sub <= d * 1.01 + 2.0 / search.scale
