"""Snap a point to the nearest road segment, exactly, with a k-d tree.

Why a k-d tree of piece midpoints and not an R-tree of segments: building shapely
geometries for millions of segments costs seconds and hundreds of MB, a
``scipy.spatial.cKDTree`` over points is built in well under a second. Exactness: every
segment is cut into pieces of at most ``piece_m`` metres (for indexing only) and the
tree holds the piece midpoints. Any point of a segment lies within ``h`` = half the
longest piece of some midpoint, so all segments at distance ``<= d`` from the query are
among those with a midpoint within ``d + h``. A first k-nearest query gives a candidate
distance ``d``, a ball query of radius ``d + h`` gives every segment that could beat
it, and the exact point-to-segment distance decides.

Distances are metres in the graph's local equirectangular projection. Only one
direction of each two-way street is indexed (the lower edge index); the other is
``graph.edge_reverse[edge]``, whose fraction is ``1 - fraction``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from corridors.errors import SnapError
from corridors.graph.geo import EARTH_RADIUS_M
from corridors.graph.model import RoadGraph

__all__ = ["EdgeSnapper", "Snap", "service_area_contains"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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
    """

    def __init__(self, graph: RoadGraph, *, piece_m: float = 50.0) -> None:
        self.graph = graph
        self._projection = graph.projection
        x, y = self._projection.to_xy(graph.geometry_lon, graph.geometry_lat)
        offsets = graph.geometry_offsets
        m = graph.edge_count
        n_vertices = int(x.shape[0])
        edge_of_vertex = np.repeat(np.arange(m, dtype=np.int64), np.diff(offsets))
        is_last = np.zeros(n_vertices, dtype=np.bool_)
        is_last[offsets[1:] - 1] = True
        canonical = (graph.edge_reverse < 0) | (np.arange(m) < graph.edge_reverse)
        start = np.flatnonzero(~is_last & canonical[edge_of_vertex])
        self._seg_edge: IntArray = edge_of_vertex[start]
        self._x0: FloatArray = x[start]
        self._y0: FloatArray = y[start]
        self._dx: FloatArray = x[start + 1] - self._x0
        self._dy: FloatArray = y[start + 1] - self._y0
        seg_len = np.hypot(self._dx, self._dy)
        self._seg_len: FloatArray = seg_len
        self._seg_count = int(start.shape[0])
        # projected length of the edge before each segment, and of each whole edge
        cumulative = np.cumsum(seg_len) - seg_len
        first_of_edge = np.ones(start.shape[0], dtype=np.bool_)
        first_of_edge[1:] = self._seg_edge[1:] != self._seg_edge[:-1]
        run_id = np.cumsum(first_of_edge) - 1
        self._last_of_edge = np.ones(start.shape[0], dtype=np.bool_)
        self._last_of_edge[:-1] = first_of_edge[1:]
        self._before: FloatArray = cumulative - cumulative[first_of_edge][run_id]
        self._edge_len: FloatArray = np.bincount(
            self._seg_edge, weights=seg_len, minlength=m
        ).astype(np.float64)

        pieces = np.maximum(1, np.ceil(seg_len / piece_m)).astype(np.int64)
        piece_seg = np.repeat(np.arange(start.shape[0], dtype=np.int64), pieces)
        piece_offsets = np.cumsum(pieces) - pieces
        j = np.arange(piece_seg.shape[0], dtype=np.int64) - np.repeat(piece_offsets, pieces)
        t = (j + 0.5) / pieces[piece_seg]
        mid_x = self._x0[piece_seg] + t * self._dx[piece_seg]
        mid_y = self._y0[piece_seg] + t * self._dy[piece_seg]
        self._piece_seg: IntArray = piece_seg
        self._half_piece_m = float((seg_len / pieces).max()) / 2 if pieces.size else 0.0
        self._tree = cKDTree(np.column_stack([mid_x, mid_y]))

    @property
    def segment_count(self) -> int:
        """Number of indexed segments."""
        return self._seg_count

    def _distances(self, px: float, py: float, segs: IntArray) -> tuple[FloatArray, FloatArray]:
        """Exact distance from the point to each segment, and the segment parameter t."""
        dx, dy = self._dx[segs], self._dy[segs]
        length2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            t = ((px - self._x0[segs]) * dx + (py - self._y0[segs]) * dy) / length2
        t = np.where(length2 > 0, np.clip(t, 0.0, 1.0), 0.0)
        qx = self._x0[segs] + t * dx
        qy = self._y0[segs] + t * dy
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
        """
        px_arr, py_arr = self._projection.to_xy(lon, lat)
        px, py = float(px_arr), float(py_arr)
        k = min(8, int(self._piece_seg.shape[0]))
        _, idx = self._tree.query([px, py], k=k)
        candidates = np.unique(self._piece_seg[np.atleast_1d(idx)])
        dist, _ = self._distances(px, py, candidates)
        radius = float(dist.min()) + self._half_piece_m
        # a hair of slack for floating-point rounding in the tree's distance
        ball = self._tree.query_ball_point([px, py], r=radius * (1 + 1e-9) + 1e-6)
        candidates = np.unique(self._piece_seg[np.asarray(ball, dtype=np.int64)])
        dist, t = self._distances(px, py, candidates)
        best = int(np.argmin(dist))  # candidates sorted by segment = by edge: lowest wins
        seg = int(candidates[best])
        edge = int(self._seg_edge[seg])
        along = float(self._before[seg]) + float(t[best]) * float(self._seg_len[seg])
        edge_len = float(self._edge_len[edge])
        fraction = min(1.0, max(0.0, along / edge_len)) if edge_len > 0 else 0.0
        if float(t[best]) == 1.0 and self._last_of_edge[seg]:
            fraction = 1.0  # exactly at the head: no rounding residue
        qx = self._x0[seg] + float(t[best]) * self._dx[seg]
        qy = self._y0[seg] + float(t[best]) * self._dy[seg]
        snap_lon, snap_lat = self._projection.to_lonlat(qx, qy)
        return Snap(
            edge=edge,
            fraction=fraction,
            distance_m=float(dist[best]),
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
