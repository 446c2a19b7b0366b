"""The contraction order of a graph's nodes, computed once and kept with the graph cache.

A Customizable Contraction Hierarchy (``routing.engine``) contracts nodes in a nested
dissection order; RoutingKit's inertial flow computes one from the node coordinates in
~9 s per 100k nodes (~90 s at 1M nodes), the slowest step of a service start. The order
depends only on the topology and the coordinates, so the graph cache stores it
(:func:`corridors.graph.cache.save_graph`) and :func:`corridors.graph.cache.load_graph`
hands it back here (:func:`remember_order`): an engine built on a loaded graph skips it.

Any permutation gives correct routes (only the hierarchy's size and speed depend on the
order), so an order is checked to be a permutation of the graph's nodes and nothing more.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import numpy.typing as npt
import routingkit_cch as rk

from corridors.graph.model import RoadGraph

__all__ = ["contraction_order", "is_permutation", "remember_order"]

UInt32Array = npt.NDArray[np.uint32]

_ORDERS: weakref.WeakKeyDictionary[RoadGraph, UInt32Array] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def is_permutation(order: npt.NDArray[np.integer], node_count: int) -> bool:
    """Whether ``order`` lists every node ``0..node_count-1`` exactly once."""
    if order.ndim != 1 or order.shape[0] != node_count:
        return False
    if node_count == 0:
        return True
    if int(order.min()) < 0 or int(order.max()) >= node_count:
        return False
    seen = np.zeros(node_count, dtype=np.bool_)
    seen[order] = True
    return bool(seen.all())


def remember_order(graph: RoadGraph, order: npt.NDArray[np.integer]) -> None:
    """Keep ``order`` as the contraction order of ``graph`` (this object only).

    Raises
    ------
    ValueError
        When ``order`` is not a permutation of the graph's nodes.
    """
    if not is_permutation(order, graph.node_count):
        raise ValueError(f"the contraction order is not a permutation of {graph.node_count} nodes")
    kept = np.ascontiguousarray(order, dtype=np.uint32)
    kept.flags.writeable = False
    with _LOCK:
        _ORDERS[graph] = kept


def contraction_order(graph: RoadGraph) -> UInt32Array:
    """The node contraction order of ``graph``: the remembered one, else inertial flow.

    A computed order is remembered for this graph object. The returned array is
    read-only.
    """
    with _LOCK:
        known = _ORDERS.get(graph)
    if known is not None:
        return known
    order = rk.compute_order_inertial(
        graph.node_count,
        np.ascontiguousarray(graph.edge_tail, dtype=np.uint32),  # type: ignore[arg-type]
        np.ascontiguousarray(graph.edge_head, dtype=np.uint32),  # type: ignore[arg-type]
        graph.node_lat,  # type: ignore[arg-type]
        graph.node_lon,  # type: ignore[arg-type]
    )
    computed = np.asarray(order, dtype=np.uint32)
    del order
    remember_order(graph, computed)
    with _LOCK:
        return _ORDERS[graph]
