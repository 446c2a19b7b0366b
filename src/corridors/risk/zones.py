"""Which road edges a polygon touches: no-go and caution zones, per-request avoid polygons.

Index. A uniform grid of rectangular cells over the graph's extent, in WGS84 degrees, lists
per cell the directed edges whose geometry may pass through it: every straight segment of
an edge is cut into pieces spanning at most half a cell in each axis, and the edge is
listed in every cell that a piece's bounding box (widened by :data:`_SLACK_DEG`) overlaps.
Only ``(cell, edge)`` pairs are kept, each once: an ``int32`` edge per pair sorted by cell,
plus a pointer per cell (25 MB at 1M nodes, built in ~1.8 s with a ~55 MB peak, where an
STRtree of shapely LineStrings took 1.1 GB and peaked at 1.4 GB).

Exactness. An edge that intersects a geometry shares a point with the geometry's bounding
box, and that point lies in a piece's (widened) box, hence in a cell listed for the edge
and overlapped by the geometry's box (the cell of a coordinate is monotone in it). A query
therefore gathers the edges of the cells the geometry's bounding box overlaps, then keeps
those whose LineString intersects the geometry (shapely, with the geometry prepared, as an
STRtree query with ``predicate="intersects"`` does; an edge with a vertex inside the
geometry needs no LineString). The local projection is affine in longitude/latitude, so
"intersects" in degrees is the same predicate as in metres.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from corridors.graph.geo import EARTH_RADIUS_M
from corridors.graph.model import RoadGraph

__all__ = ["EdgeIndex", "HasEdgeIndex", "edge_index_of", "edges_intersecting"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: Edge indexes (int32 when they fit).
EdgeArray = npt.NDArray[np.signedinteger[Any]]

#: Default side of a grid cell, m (at the graph's mid latitude).
CELL_M = 200.0
#: Most cells in the grid (a larger area gets larger cells): bounds the cell table.
MAX_CELLS = 4_000_000
#: Edges whose pieces are laid out per block while building (bounds the temporaries).
_BUILD_EDGES = 1 << 16
#: Candidate edges tested against a geometry per batch (bounds the shapely temporaries).
_TEST_EDGES = 1 << 15
#: Widening of every piece's bounding box, degrees (~0.1 mm): floating-point rounding of
#: the piece ends must never drop a cell the segment passes through.
_SLACK_DEG = 1e-9


class EdgeIndex:
    """A grid of cells listing the directed edges whose geometry may pass through each.

    Parameters
    ----------
    graph
        The road graph (edge geometry in lon/lat degrees).
    cell_m
        Side of a grid cell, metres; widened when the graph's extent would need more than
        :data:`MAX_CELLS` cells. Any value of at least 1 m gives exact answers (a
        speed/memory trade-off).
    """

    def __init__(self, graph: RoadGraph, *, cell_m: float = CELL_M) -> None:
        if not cell_m >= 1.0:  # a piece's widened box must stay within two cells per axis
            raise ValueError("cell_m must be at least 1 m")
        self.graph = graph
        lon, lat = graph.geometry_lon, graph.geometry_lat
        if lon.size:
            self._lon0, lon1 = float(lon.min()), float(lon.max())
            self._lat0, lat1 = float(lat.min()), float(lat.max())
        else:
            self._lon0 = lon1 = self._lat0 = lat1 = 0.0
        cell_lat = math.degrees(cell_m / EARTH_RADIUS_M)
        mid_lat = math.radians(min(89.0, abs(self._lat0 + lat1) / 2))
        cell_lon = cell_lat / math.cos(mid_lat)
        cells = ((lon1 - self._lon0) / cell_lon + 1) * ((lat1 - self._lat0) / cell_lat + 1)
        widen = max(1.0, math.sqrt(cells / MAX_CELLS))
        self._cell_lon, self._cell_lat = cell_lon * widen, cell_lat * widen
        self._cols = int((lon1 - self._lon0) // self._cell_lon) + 1
        self._rows = int((lat1 - self._lat0) // self._cell_lat) + 1
        m = graph.edge_count
        spans = [(lo, min(m, lo + _BUILD_EDGES)) for lo in range(0, m, _BUILD_EDGES)]
        # Two passes over blocks of edges (recomputing their keys is cheaper than keeping
        # them): pairs per cell, then a counting sort (edges ascend from block to block).
        counts = np.zeros(self._rows * self._cols, dtype=np.int64)
        for lo, hi in spans:
            counts += np.bincount(self._block_keys(lo, hi) // m, minlength=counts.shape[0])
        ptr = np.concatenate([[0], np.cumsum(counts)])
        del counts
        total = int(ptr[-1])
        #: Per (cell, edge) pair, sorted by cell then edge: the edge.
        self._edges: EdgeArray = np.empty(total, dtype=np.int32 if m < 2**31 else np.int64)
        free = ptr[:-1].copy()
        for lo, hi in spans:
            keys = self._block_keys(lo, hi)
            cell = keys // m
            rank = np.arange(cell.shape[0]) - np.searchsorted(cell, cell, side="left")
            self._edges[free[cell] + rank] = keys % m
            free += np.bincount(cell, minlength=free.shape[0])
        del free
        #: Edges of cell ``c`` are ``_edges[_cell_ptr[c]:_cell_ptr[c + 1]]``.
        self._cell_ptr = ptr.astype(np.int32 if total < 2**31 else np.int64)

    def _block_keys(self, lo: int, hi: int) -> IntArray:
        """Sorted distinct ``cell * edge_count + edge`` of the cells edges ``lo:hi`` reach."""
        g = self.graph
        m = g.edge_count
        offsets = np.asarray(g.geometry_offsets[lo : hi + 1], dtype=np.int64)
        v0, v1 = int(offsets[0]), int(offsets[-1])
        vertex_edge = np.repeat(np.arange(lo, hi, dtype=np.int64), np.diff(offsets))
        # Segments: consecutive vertices of the same edge.
        start = np.flatnonzero(vertex_edge[:-1] == vertex_edge[1:])
        edge = vertex_edge[start]
        del vertex_edge
        lon = g.geometry_lon[v0:v1]
        lat = g.geometry_lat[v0:v1]
        x0, y0 = lon[start], lat[start]
        dx, dy = lon[start + 1] - x0, lat[start + 1] - y0
        del start
        # Pieces spanning at most half a cell per axis.
        steps = np.maximum(np.abs(dx) / (self._cell_lon / 2), np.abs(dy) / (self._cell_lat / 2))
        pieces = np.maximum(1, np.ceil(steps)).astype(np.int64)
        owner = np.repeat(np.arange(pieces.shape[0], dtype=np.int64), pieces)
        k = np.arange(owner.shape[0], dtype=np.int64) - np.repeat(
            np.cumsum(pieces) - pieces, pieces
        )
        t0 = k / pieces[owner]
        t1 = (k + 1) / pieces[owner]
        del k
        col0, col1 = self._span(
            x0[owner], dx[owner], t0, t1, self._lon0, self._cell_lon, self._cols
        )
        row0, row1 = self._span(
            y0[owner], dy[owner], t0, t1, self._lat0, self._cell_lat, self._rows
        )
        del t0, t1
        piece_edge = edge[owner]
        del owner
        # A widened piece box overlaps two columns and two rows at most.
        keys = [(row0 * self._cols + col0) * m + piece_edge]
        wide, tall = col1 != col0, row1 != row0
        for extra, row, col in ((wide, row0, col1), (tall, row1, col0), (wide & tall, row1, col1)):
            keys.append((row[extra] * self._cols + col[extra]) * m + piece_edge[extra])
        return _sorted_unique(np.concatenate(keys))

    @staticmethod
    def _span(
        start: FloatArray,
        delta: FloatArray,
        t0: FloatArray,
        t1: FloatArray,
        origin: float,
        cell: float,
        count: int,
    ) -> tuple[IntArray, IntArray]:
        """First and last cell (clipped to the grid) of the pieces ``start + [t0, t1] delta``,
        widened by :data:`_SLACK_DEG`."""
        a = start + t0 * delta
        b = start + t1 * delta
        lo = np.minimum(a, b)
        lo -= _SLACK_DEG + origin
        np.maximum(a, b, out=b)
        b -= origin - _SLACK_DEG
        # floor(v / cell) may differ from the queries' ``//`` by rounding, far below the slack.
        lo /= cell
        b /= cell
        first = np.clip(np.floor(lo, out=lo), 0, count - 1).astype(np.int64)
        last = np.clip(np.floor(b, out=b), 0, count - 1).astype(np.int64)
        return first, last

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (the graph's own arrays excluded)."""
        return int(self._edges.nbytes + self._cell_ptr.nbytes)

    def candidates(self, bounds: tuple[float, float, float, float]) -> IntArray:
        """Sorted edges listed in the cells a bounding box overlaps.

        Parameters
        ----------
        bounds
            ``(min_lon, min_lat, max_lon, max_lat)``, degrees.

        Returns
        -------
        IntArray
            A superset of the edges whose geometry meets the box (empty for a box off the
            grid or with NaN bounds).
        """
        min_lon, min_lat, max_lon, max_lat = bounds
        if not (min_lon <= max_lon and min_lat <= max_lat) or self.graph.edge_count == 0:
            return np.zeros(0, dtype=np.int64)
        c0 = max(0, int((min_lon - self._lon0) // self._cell_lon))
        c1 = min(self._cols - 1, int((max_lon - self._lon0) // self._cell_lon))
        r0 = max(0, int((min_lat - self._lat0) // self._cell_lat))
        r1 = min(self._rows - 1, int((max_lat - self._lat0) // self._cell_lat))
        if c0 > c1 or r0 > r1:
            return np.zeros(0, dtype=np.int64)
        rows = np.arange(r0, r1 + 1, dtype=np.int64) * self._cols
        lo = self._cell_ptr[rows + c0].astype(np.int64)
        hi = self._cell_ptr[rows + c1 + 1].astype(np.int64)
        counts = hi - lo
        total = int(counts.sum())
        m = self.graph.edge_count
        if total > m // 8:
            # A large box: mark edges row by row rather than sort ``total`` entries.
            listed = np.zeros(m, dtype=bool)
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                listed[self._edges[a:b]] = True
            return np.flatnonzero(listed).astype(np.int64)
        idx = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total)
        return _sorted_unique(self._edges[idx].astype(np.int64))

    def query(self, geometry: BaseGeometry) -> IntArray:
        """Sorted indexes of the edges that intersect ``geometry`` (lon/lat)."""
        if shapely.is_empty(geometry):
            return np.zeros(0, dtype=np.int64)
        candidates = self.candidates(tuple(shapely.bounds(geometry).tolist()))
        if candidates.shape[0] == 0:
            return candidates
        # A private copy, prepared as an STRtree query prepares it (the caller's object stays
        # untouched: several threads may query with the same geometry).
        prepared = shapely.from_wkb(shapely.to_wkb(geometry))
        shapely.prepare(prepared)
        g = self.graph
        hits: list[IntArray] = []
        for lo in range(0, candidates.shape[0], _TEST_EDGES):
            batch = candidates[lo : lo + _TEST_EDGES]
            starts = np.asarray(g.geometry_offsets[batch], dtype=np.int64)
            counts = np.asarray(g.geometry_offsets[batch + 1], dtype=np.int64) - starts
            vertex = np.repeat(starts - (np.cumsum(counts) - counts), counts)
            vertex += np.arange(vertex.shape[0])
            lon, lat = g.geometry_lon[vertex], g.geometry_lat[vertex]
            del vertex
            # An edge with a vertex inside the geometry intersects it; test the others whole.
            inside = shapely.contains_xy(prepared, lon, lat)
            owner = np.repeat(np.arange(batch.shape[0], dtype=np.int64), counts)
            sure = np.bincount(owner, weights=inside, minlength=batch.shape[0]) > 0
            rest = ~sure[owner]
            # LineStrings numbered 0.. over the undecided edges only.
            line_of = np.cumsum(~sure) - 1
            coords = np.column_stack([lon[rest], lat[rest]])
            lines = shapely.linestrings(coords, indices=line_of[owner[rest]])
            found = sure.copy()
            found[~sure] = shapely.intersects(prepared, lines)
            hits.append(batch[found])
        return np.concatenate(hits)

    def query_many(self, geometries: Sequence[BaseGeometry]) -> tuple[IntArray, IntArray]:
        """All ``(geometry index, edge index)`` pairs that intersect, as two arrays.

        Pairs are ordered by geometry index, then by edge index.
        """
        found = [self.query(geometry) for geometry in geometries]
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy()
        which = np.repeat(
            np.arange(len(found), dtype=np.int64), [edges.shape[0] for edges in found]
        )
        return which, np.concatenate(found)


def _sorted_unique(values: IntArray) -> IntArray:
    """Sorted distinct values (sorts ``values`` in place; faster than ``np.unique`` here)."""
    values.sort()
    keep = np.ones(values.shape[0], dtype=bool)
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


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
