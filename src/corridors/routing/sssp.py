"""One-to-all shortest-path trees with ``scipy.sparse.csgraph`` (alternatives, diagnosis).

The CCH answers point-to-point queries; alternatives need the whole forward tree from the
origin and backward tree to the destination within a cost bound, and the no-route
diagnosis needs reachability. Both run here on a node graph that keeps the cheapest of
parallel edges, with a virtual node standing for a point on an edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, dijkstra

from corridors.graph.model import RoadGraph
from corridors.routing.engine import EdgePosition, Piece

__all__ = ["Tree", "reachable_nodes", "tree_from", "tree_path", "tree_to"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: scipy drops explicit zeros in some code paths; zero weights become this, seconds.
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Tree:
    """A shortest-path tree rooted at a point on an edge (virtual node ``n``).

    ``dist[v]`` is the cost from the root to node ``v`` (or from ``v`` to the root for a
    backward tree), ``inf`` beyond the limit; ``pred[v]`` the next node towards the root
    (``-9999`` none); ``pred_edge[v]`` the edge used from ``pred[v]`` (forward) or to
    ``pred[v]`` (backward); ``root_piece[v]`` the edge fraction of the point for nodes
    reached directly from the root.
    """

    dist: FloatArray
    pred: IntArray
    pred_edge: IntArray
    backward: bool
    root_options: dict[int, tuple[int, float]]


def _options(graph: RoadGraph, at: EdgePosition) -> list[tuple[int, float]]:
    f = min(1.0, max(0.0, float(at.fraction)))
    out = [(int(at.edge), f)]
    rev = int(graph.edge_reverse[at.edge])
    if rev >= 0:
        out.append((rev, 1.0 - f))
    return out


def _tree(
    graph: RoadGraph,
    weights: FloatArray,
    root: EdgePosition,
    limit: float,
    backward: bool,
) -> Tree:
    n = graph.node_count
    ok = np.isfinite(weights)
    tail = graph.edge_tail.astype(np.int64)[ok]
    head = graph.edge_head.astype(np.int64)[ok]
    w = np.maximum(weights[ok], _EPS)
    eid = np.flatnonzero(ok)
    root_options: dict[int, tuple[int, float]] = {}
    extra_t: list[int] = []
    extra_h: list[int] = []
    extra_w: list[float] = []
    for e, f in _options(graph, root):
        if not np.isfinite(weights[e]):
            continue
        if backward:  # the root is a destination: reached from tail(e), f of the way
            node, cost = int(graph.edge_tail[e]), f * float(weights[e])
        else:  # the root is an origin: leaves to head(e)
            node, cost = int(graph.edge_head[e]), (1.0 - f) * float(weights[e])
        if node not in root_options or cost < extra_w[extra_t.index(node)]:
            if node in root_options:
                i = extra_t.index(node)
                extra_w[i] = max(cost, _EPS)
            else:
                extra_t.append(node)
                extra_h.append(n)
                extra_w.append(max(cost, _EPS))
            root_options[node] = (e, f)
    src = np.concatenate([head if backward else tail, np.full(len(extra_t), n)])
    dst = np.concatenate([tail if backward else head, np.asarray(extra_t, dtype=np.int64)])
    ww = np.concatenate([w, np.asarray(extra_w, dtype=np.float64)])
    ids = np.concatenate([eid, np.full(len(extra_t), -1)])
    # Keep the cheapest of parallel arcs: sort by (src, dst, weight), first of each pair.
    order = np.lexsort((ww, dst, src))
    src, dst, ww, ids = src[order], dst[order], ww[order], ids[order]
    first = np.ones(src.shape[0], dtype=np.bool_)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    src, dst, ww, ids = src[first], dst[first], ww[first], ids[first]
    mat = csr_matrix((ww, (src, dst)), shape=(n + 1, n + 1))
    dist, pred = dijkstra(mat, directed=True, indices=n, return_predecessors=True, limit=limit)
    dist = np.asarray(dist, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.int64)
    # Edge used between pred[v] and v (in search direction).
    key = src * (n + 1) + dst
    has = pred >= 0
    vs = np.flatnonzero(has)
    q = pred[vs] * (n + 1) + vs
    pos = np.searchsorted(key, q)
    pred_edge = np.full(n + 1, -1, dtype=np.int64)
    pred_edge[vs] = ids[pos]
    return Tree(dist[:n], pred[:n], pred_edge[:n], backward, root_options)


def tree_from(
    graph: RoadGraph, weights: FloatArray, origin: EdgePosition, *, limit: float = np.inf
) -> Tree:
    """Forward tree: cost from ``origin`` to every node within ``limit``."""
    return _tree(graph, weights, origin, limit, backward=False)


def tree_to(
    graph: RoadGraph, weights: FloatArray, destination: EdgePosition, *, limit: float = np.inf
) -> Tree:
    """Backward tree: cost from every node within ``limit`` to ``destination``."""
    return _tree(graph, weights, destination, limit, backward=True)


def tree_path(tree: Tree, node: int) -> tuple[list[int], list[Piece]] | None:
    """Nodes and pieces between the tree's root and ``node``, in travel order.

    Returns ``None`` when ``node`` is unreached. For a forward tree the pieces run root ->
    node (starting with the partial root edge); for a backward tree node -> root (ending
    with it).
    """
    if not np.isfinite(tree.dist[node]):
        return None
    nodes = [node]
    edges: list[int] = []
    v = node
    while True:
        p = int(tree.pred[v])
        if p < 0 or p >= tree.dist.shape[0]:
            break
        edges.append(int(tree.pred_edge[v]))
        nodes.append(p)
        v = p
    e, f = tree.root_options[v]
    if tree.backward:
        pieces = [Piece(x) for x in edges] + [Piece(e, 0.0, f)]
        return nodes, pieces
    nodes.reverse()
    edges.reverse()
    return nodes, [Piece(e, f, 1.0), *(Piece(x) for x in edges)]


def reachable_nodes(graph: RoadGraph, usable: BoolArray, start_nodes: list[int]) -> BoolArray:
    """Nodes reachable from any of ``start_nodes`` over ``usable`` edges."""
    n = graph.node_count
    tail = graph.edge_tail.astype(np.int64)[usable]
    head = graph.edge_head.astype(np.int64)[usable]
    src = np.concatenate([tail, np.full(len(start_nodes), n)])
    dst = np.concatenate([head, np.asarray(start_nodes, dtype=np.int64)])
    mat = csr_matrix((np.ones(src.shape[0]), (src, dst)), shape=(n + 1, n + 1))
    order = breadth_first_order(mat, n, directed=True, return_predecessors=False)
    seen = np.zeros(n + 1, dtype=np.bool_)
    seen[np.asarray(order, dtype=np.int64)] = True
    return seen[:n]
