"""Which road edges a polygon touches: no-go and caution zones, per-request avoid polygons.

Edges are indexed once per graph as shapely LineStrings (WGS84 degrees) in an STRtree; the
local projection is affine in longitude/latitude, so "intersects" in degrees is the same
predicate as in metres.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from corridors.graph.model import RoadGraph

__all__ = ["EdgeIndex", "HasEdgeIndex", "edge_index_of", "edges_intersecting"]

IntArray = npt.NDArray[np.int64]


class EdgeIndex:
    """An STRtree over every directed edge's geometry of one graph.

    Parameters
    ----------
    graph
        The road graph; ``lines[e]`` is edge ``e``'s LineString (lon/lat degrees).
    """

    def __init__(self, graph: RoadGraph) -> None:
        self.graph = graph
        counts = np.diff(graph.geometry_offsets)
        coords = np.column_stack([graph.geometry_lon, graph.geometry_lat])
        indices = np.repeat(np.arange(graph.edge_count, dtype=np.int64), counts)
        self.lines: npt.NDArray[np.object_] = np.asarray(
            shapely.linestrings(coords, indices=indices), dtype=object
        )
        self.tree = shapely.STRtree(self.lines)

    def query(self, geometry: BaseGeometry) -> IntArray:
        """Sorted indexes of the edges that intersect ``geometry`` (lon/lat)."""
        hits = self.tree.query(geometry, predicate="intersects")
        return np.unique(np.asarray(hits, dtype=np.int64))

    def query_many(self, geometries: Sequence[BaseGeometry]) -> tuple[IntArray, IntArray]:
        """All ``(geometry index, edge index)`` pairs that intersect, as two arrays."""
        if not geometries:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy()
        pairs = self.tree.query(np.asarray(geometries, dtype=object), predicate="intersects")
        return pairs[0].astype(np.int64), pairs[1].astype(np.int64)


@runtime_checkable
class HasEdgeIndex(Protocol):
    """Anything that carries an :class:`EdgeIndex` (e.g. a ``RiskEngine``)."""

    @property
    def edge_index(self) -> EdgeIndex:
        """The graph's edge index."""
        ...


_INDEXES: weakref.WeakKeyDictionary[RoadGraph, EdgeIndex] = weakref.WeakKeyDictionary()


def edge_index_of(source: RoadGraph | EdgeIndex | HasEdgeIndex) -> EdgeIndex:
    """The edge index of a graph (built once and cached per graph object), engine or index."""
    if isinstance(source, EdgeIndex):
        return source
    if isinstance(source, RoadGraph):
        index = _INDEXES.get(source)
        if index is None:
            index = EdgeIndex(source)
            _INDEXES[source] = index
        return index
    return source.edge_index


def edges_intersecting(
    source: RoadGraph | EdgeIndex | HasEdgeIndex, geometry: BaseGeometry
) -> IntArray:
    """Indexes of the directed edges whose geometry intersects ``geometry``.

    Parameters
    ----------
    source
        A ``RoadGraph``, a ``RiskEngine`` (reuses its index) or an :class:`EdgeIndex`.
    geometry
        Polygon, MultiPolygon or any shapely geometry in WGS84 lon/lat degrees. Touching the
        boundary counts as intersecting.

    Returns
    -------
    IntArray
        Sorted, unique edge indexes (both directions of a two-way street when it crosses).
    """
    return edge_index_of(source).query(geometry)
