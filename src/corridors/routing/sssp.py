"""Reachability over usable edges with ``scipy.sparse.csgraph`` (no-route diagnosis).

The CCH answers cost queries; the no-route diagnosis asks which nodes can be reached at
all when some edges are blocked, one breadth-first search over the usable edges.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from corridors.graph.model import RoadGraph

__all__ = ["reachable_nodes"]

BoolArray = npt.NDArray[np.bool_]


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
