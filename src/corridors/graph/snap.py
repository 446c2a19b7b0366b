"""Snap a point to the nearest road segment, exactly, with a uniform grid of segment pieces.

Index. Every straight segment (between consecutive vertices of an edge's geometry) is cut
into pieces of at most ``piece_m`` metres, for indexing only, and each piece is bucketed by
its midpoint in a uniform grid of square cells. The index keeps only, per piece, the
geometry vertex its segment starts at (``int32``, sorted by cell) and, per cell, where its
pieces start: a few bytes per piece (~30 MB at 1M nodes, where a k-d tree of piece
midpoints with stored segment coordinates took ~500 MB). Segment coordinates are projected
from ``graph.geometry_lon``/``geometry_lat`` when a query needs them.

Exactness. Any point of a segment lies within ``h`` = half the longest piece of some piece
midpoint, so every segment at distance ``<= d`` from the query has a piece in the cells
within ``d + h`` of it. A query gathers the pieces of the cells around the point within a
radius ``r``, measures the exact point-to-segment distance ``d`` of their segments, and is
done when ``d + h <= r``; otherwise it widens ``r`` to ``d + h`` (or doubles it while no
piece was found) and gathers again.

Distances are metres in the graph's local equirectangular projection. Only one direction
of each two-way street is indexed (the lower edge index); the other is
``graph.edge_reverse[edge]``, whose fraction is ``1 - fraction``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from corridors.errors import SnapError
from corridors.graph.geo import EARTH_RADIUS_M
from corridors.graph.model import RoadGraph

__all__ = ["EdgeSnapper", "Snap", "service_area_contains"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Geometry vertex indexes (int32 when they fit).
VertexArray = npt.NDArray[np.signedinteger[Any]]

#: Most cells in the grid (a larger area gets larger cells): bounds the cell table.
MAX_CELLS = 4_000_000
#: Segments whose pieces are laid out per block while building (bounds the temporaries).
_BUILD_BLOCK = 1 << 20
#: Relative and absolute slack on search radii: floating-point rounding must never drop a
#: segment that could be the nearest.
_REL_EPS = 1e-9
_ABS_EPS_M = 1e-6


@dataclass(frozen=True, slots=True)
class Snap:
    """A point snapped onto a directed edge.

    ``fraction`` is the position along the edge's geometry by length (0 at the tail,
    1 at the head); ``distance_m`` the distance from the query point; ``lon``/``lat``
    the snapped point.
    """

    edge: int
    fraction: float
    distance_m: float
    lon: float
    lat: float


class EdgeSnapper:
    """Nearest-segment index over a graph's edge geometry; build once, query often.

    Parameters
    ----------
    graph
        The road graph.
    piece_m
        Longest indexed piece of a segment, metres (a speed/memory trade-off; any value
        gives exact answers).
    cell_m
        Side of a grid cell, metres (default ``2 * piece_m``); widened when the graph's
        extent would need more than :data:`MAX_CELLS` cells. Any value gives exact answers.
    """

    def __init__(
        self, graph: RoadGraph, *, piece_m: float = 50.0, cell_m: float | None = None
    ) -> None:
        if piece_m <= 0 or (cell_m is not None and cell_m <= 0):
            raise ValueError("piece_m and cell_m must be positive")
        self.graph = graph
        self._projection = graph.projection
        offsets = np.asarray(graph.geometry_offsets, dtype=np.int64)
        m = graph.edge_count
        reverse = np.asarray(graph.edge_reverse, dtype=np.int64)
        canonical = np.flatnonzero((reverse < 0) | (np.arange(m) < reverse))
        per_edge = offsets[canonical + 1] - offsets[canonical] - 1
        # First geometry vertex of every segment of a canonical edge, in edge order.
        seg_count = int(per_edge.sum())
        first = np.repeat(offsets[canonical] - (np.cumsum(per_edge) - per_edge), per_edge)
        seg_start: IntArray = first + np.arange(seg_count, dtype=np.int64)
        del first, per_edge, canonical, reverse
        self._seg_count = seg_count
        self._build_grid(seg_start, piece_m, cell_m)

    def _segment_xy(self, start: VertexArray) -> tuple[FloatArray, ...]:
        """``x0, y0, dx, dy`` of the segments starting at geometry vertices ``start``."""
        g = self.graph
        x0, y0 = self._projection.to_xy(g.geometry_lon[start], g.geometry_lat[start])
        x1, y1 = self._projection.to_xy(g.geometry_lon[start + 1], g.geometry_lat[start + 1])
        return x0, y0, x1 - x0, y1 - y0

    def _build_grid(self, seg_start: IntArray, piece_m: float, cell_m: float | None) -> None:
        """Cut segments into pieces, bucket them by midpoint cell, keep vertex per piece."""
        g = self.graph
        x, y = (np.zeros(2), np.zeros(2))
        if g.geometry_lon.size:
            x, y = self._projection.to_xy(
                np.array([g.geometry_lon.min(), g.geometry_lon.max()]),
                np.array([g.geometry_lat.min(), g.geometry_lat.max()]),
            )
        self._x_min, self._y_min = float(x[0]), float(y[0])
        width, height = float(x[1] - x[0]), float(y[1] - y[0])
        cell = 2.0 * piece_m if cell_m is None else float(cell_m)
        cell = max(cell, math.sqrt(width * height / MAX_CELLS))
        self._cell_m = cell
        self._cols = int(width // cell) + 1
        self._rows = int(height // cell) + 1
        small = seg_start.size == 0 or int(seg_start[-1]) < 2**31
        codes: list[npt.NDArray[np.int32]] = []
        vertices: list[VertexArray] = []
        longest = 0.0
        for lo in range(0, seg_start.shape[0], _BUILD_BLOCK):
            start = seg_start[lo : lo + _BUILD_BLOCK]
            x0, y0, dx, dy = self._segment_xy(start)
            length = np.hypot(dx, dy)
            pieces = np.maximum(1, np.ceil(length / piece_m)).astype(np.int64)
            if length.size:
                longest = max(longest, float((length / pieces).max()))
            owner = np.repeat(np.arange(start.shape[0], dtype=np.int64), pieces)
            k = np.arange(owner.shape[0], dtype=np.int64) - np.repeat(
                np.cumsum(pieces) - pieces, pieces
            )
            t = (k + 0.5) / pieces[owner]
            del k
            mid_x, mid_y = x0[owner] + t * dx[owner], y0[owner] + t * dy[owner]
            codes.append(self._cell_of(mid_x, mid_y).astype(np.int32))
            vertex = start[owner]
            vertices.append(vertex.astype(np.int32) if small else vertex)
        code = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int32)
        del codes
        order = np.argsort(code, kind="stable")
        #: Per piece, sorted by cell: the geometry vertex its segment starts at.
        self._piece_vertex: VertexArray = (
            np.concatenate(vertices)[order] if vertices else seg_start[:0].astype(np.int32)
        )
        del vertices, order
        counts = np.bincount(code, minlength=self._rows * self._cols)
        ptr_type = np.int32 if code.shape[0] < 2**31 else np.int64
        #: Pieces of cell ``c`` are ``_piece_vertex[_cell_ptr[c]:_cell_ptr[c + 1]]``.
        self._cell_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(ptr_type)
        self._half_piece_m = longest / 2

    def _cell_of(self, x: FloatArray, y: FloatArray) -> npt.NDArray[np.int64]:
        col = np.clip((x - self._x_min) // self._cell_m, 0, self._cols - 1).astype(np.int64)
        row = np.clip((y - self._y_min) // self._cell_m, 0, self._rows - 1).astype(np.int64)
        return row * self._cols + col

    @property
    def segment_count(self) -> int:
        """Number of indexed segments."""
        return self._seg_count

    @property
    def piece_count(self) -> int:
        """Number of indexed pieces (segments cut to at most ``piece_m``)."""
        return int(self._piece_vertex.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (the graph's own arrays excluded)."""
        return int(self._piece_vertex.nbytes + self._cell_ptr.nbytes)

    def _gather(self, px: float, py: float, radius: float) -> VertexArray:
        """Distinct segment start vertices with a piece in a cell within ``radius``."""
        c0 = max(0, int((px - radius - self._x_min) // self._cell_m))
        c1 = min(self._cols - 1, int((px + radius - self._x_min) // self._cell_m))
        r0 = max(0, int((py - radius - self._y_min) // self._cell_m))
        r1 = min(self._rows - 1, int((py + radius - self._y_min) // self._cell_m))
        if c0 > c1 or r0 > r1:
            return self._piece_vertex[:0]
        rows = np.arange(r0, r1 + 1, dtype=np.int64) * self._cols
        lo = self._cell_ptr[rows + c0].astype(np.int64)
        hi = self._cell_ptr[rows + c1 + 1].astype(np.int64)
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            return self._piece_vertex[:0]
        idx = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total)
        return np.unique(self._piece_vertex[idx])

    def _outside_m(self, px: float, py: float) -> float:
        """Distance from the point to the grid's rectangle (0 inside)."""
        x_max = self._x_min + self._cols * self._cell_m
        y_max = self._y_min + self._rows * self._cell_m
        ox = max(self._x_min - px, 0.0, px - x_max)
        oy = max(self._y_min - py, 0.0, py - y_max)
        return math.hypot(ox, oy)

    @staticmethod
    def _distances(
        px: float, py: float, x0: FloatArray, y0: FloatArray, dx: FloatArray, dy: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Exact distance from the point to each segment, and the segment parameter t."""
        length2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            t = ((px - x0) * dx + (py - y0) * dy) / length2
        t = np.where(length2 > 0, np.clip(t, 0.0, 1.0), 0.0)
        qx = x0 + t * dx
        qy = y0 + t * dy
        return np.hypot(px - qx, py - qy), t

    def nearest(self, lon: float, lat: float) -> Snap:
        """The nearest point on any road, whatever the distance.

        Parameters
        ----------
        lon, lat
            The query point, degrees.

        Returns
        -------
        Snap
            Ties go to the lowest edge index.

        Raises
        ------
        SnapError
            The graph has no segment.
        """
        if self._seg_count == 0:
            raise SnapError("the road graph has no segment to snap to", distance_m=math.inf)
        px_arr, py_arr = self._projection.to_xy(lon, lat)
        px, py = float(px_arr), float(py_arr)
        h = self._half_piece_m
        radius = self._outside_m(px, py) + max(self._cell_m / 2, h)
        reach = math.hypot(self._cols, self._rows) * self._cell_m + self._outside_m(px, py)
        while True:
            starts = self._gather(px, py, radius)
            if starts.size:
                dist, t = self._distances(px, py, *self._segment_xy(starts))
                needed = (float(dist.min()) + h) * (1 + _REL_EPS) + _ABS_EPS_M
                if needed <= radius or radius >= reach:
                    break
                radius = needed
            else:
                radius *= 2
        best = int(np.argmin(dist))  # starts ascend with the edge index: lowest edge wins
        return self._snap_at(int(starts[best]), float(t[best]), float(dist[best]))

    def _snap_at(self, start: int, t: float, distance_m: float) -> Snap:
        """The snap on the segment from geometry vertex ``start``, at parameter ``t``."""
        g = self.graph
        offsets = g.geometry_offsets
        edge = int(np.searchsorted(offsets, start, side="right")) - 1
        first, stop = int(offsets[edge]), int(offsets[edge + 1])
        x, y = self._projection.to_xy(g.geometry_lon[first:stop], g.geometry_lat[first:stop])
        seg_len = np.hypot(np.diff(x), np.diff(y))
        i = start - first
        along = float(seg_len[:i].sum()) + t * float(seg_len[i])
        edge_len = float(seg_len.sum())
        fraction = min(1.0, max(0.0, along / edge_len)) if edge_len > 0 else 0.0
        if t == 1.0 and start + 2 == stop:
            fraction = 1.0  # exactly at the head: no rounding residue
        qx = float(x[i]) + t * float(x[i + 1] - x[i])
        qy = float(y[i]) + t * float(y[i + 1] - y[i])
        snap_lon, snap_lat = self._projection.to_lonlat(qx, qy)
        return Snap(
            edge=edge,
            fraction=fraction,
            distance_m=distance_m,
            lon=float(snap_lon),
            lat=float(snap_lat),
        )

    def snap(self, lon: float, lat: float, *, max_distance_m: float) -> Snap:
        """Snap a point to the nearest road segment.

        Parameters
        ----------
        lon, lat
            The query point, degrees.
        max_distance_m
            Farthest allowed distance to a road, metres.

        Returns
        -------
        Snap
            The directed edge (its reverse is ``graph.edge_reverse[edge]``), the fraction
            along it, the distance in metres and the snapped point.

        Raises
        ------
        SnapError
            The nearest road is farther than ``max_distance_m``; ``distance_m`` says how far.
        """
        result = self.nearest(lon, lat)
        if result.distance_m > max_distance_m:
            raise SnapError(
                f"point ({lon:.6f}, {lat:.6f}) is {result.distance_m:.0f} m from the "
                f"nearest road; the limit is {max_distance_m:.0f} m",
                distance_m=result.distance_m,
            )
        return result


def service_area_contains(graph: RoadGraph, lon: float, lat: float, margin_m: float) -> bool:
    """Whether a point lies in the graph's bounding box widened by ``margin_m``.

    Parameters
    ----------
    graph
        The road graph (its ``meta.bbox``).
    lon, lat
        The point, degrees.
    margin_m
        Widening on every side, metres.

    Returns
    -------
    bool
        True inside the widened box (edges included).
    """
    min_lon, min_lat, max_lon, max_lat = graph.meta.bbox
    dlat = math.degrees(margin_m / EARTH_RADIUS_M)
    # widen longitudes at the box's latitude farthest from the equator (the widest margin)
    widest = max(abs(min_lat), abs(max_lat))
    cos_lat = max(math.cos(math.radians(min(widest, 89.0))), 1e-6)
    dlon = dlat / cos_lat
    return min_lon - dlon <= lon <= max_lon + dlon and min_lat - dlat <= lat <= max_lat + dlat
