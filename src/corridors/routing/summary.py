"""Turn a path of edge pieces into a route: distances, exposure, hotspots, steps, geometry.

Conventions
-----------
- Partial first/last edges count pro rata: a piece from fraction ``a`` to ``b`` of an edge
  counts ``(b - a)`` of its length, duration and exposure, and its geometry is cut at those
  fractions of the polyline's length.
- ``exposure`` = sum of ``risk_per_km * km`` over the pieces (risk x km).
- Hotspots are maximal runs of consecutive pieces whose risk per km is at or above the
  high-risk threshold; ``risk_per_km`` is the highest in the run, ``street`` the street of
  the longest piece in the run, ``report_ids`` the reports behind its edges ordered by their
  summed share (largest first).
- Steps merge consecutive pieces with the same street label. A step's ``risk_per_km`` is
  ``exposure / km``, the length-weighted mean risk per km of its edges (so the steps'
  exposures add up to the route's); ``max_risk_per_km`` is the highest edge risk in it.
- Contributors of the high-risk edges are asked for in one ``contributors_many(edges)``
  call when the risk view has that method (same answers as ``contributors`` per edge).
- ``starts_in_risk``/``ends_in_risk`` are true when the first/last piece's edge is at or
  above the high-risk threshold; the caller may also set them from caution zones
  (``dataclasses.replace``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from corridors.domain import Hotspot, RouteRiskProfile
from corridors.graph.model import RoadGraph
from corridors.routing.engine import Piece

__all__ = ["RiskView", "RouteStep", "RouteSummary", "cut_polyline", "summarise"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class RiskView(Protocol):
    """What routing needs from the risk model, for one snapshot of the risk field."""

    @property
    def edge_risk_per_km(self) -> FloatArray:
        """Risk per km of each edge, ``float64[m]``."""
        ...

    @property
    def edge_blocked(self) -> BoolArray:
        """Edges inside active no-go zones, ``bool[m]``."""
        ...

    def contributors(self, edge: int) -> Sequence[tuple[str, float]]:
        """``(report_id, share)`` of the reports that make ``edge`` risky."""
        ...


@dataclass(frozen=True, slots=True)
class RouteStep:
    """Consecutive stretch on one street.

    ``risk_per_km`` is the length-weighted mean (``exposure / km``); ``max_risk_per_km`` the
    highest edge risk in the stretch.
    """

    street: str
    distance_m: float
    duration_s: float
    exposure: float
    risk_per_km: float
    max_risk_per_km: float


@dataclass(frozen=True, slots=True)
class RouteSummary:
    """A route, ready for the API layer to serialise.

    ``coordinates`` is the ``[lon, lat]`` polyline (degrees) with the first and last edges
    cut at the snap fractions; ``pieces`` the edge pieces travelled.
    """

    pieces: tuple[Piece, ...]
    distance_m: float
    duration_s: float
    exposure: float
    max_edge_risk_per_km: float
    high_risk_distance_m: float
    hotspots: tuple[Hotspot, ...]
    steps: tuple[RouteStep, ...]
    coordinates: list[list[float]]
    profile: RouteRiskProfile

    @property
    def edges(self) -> list[int]:
        """Edge indexes of the pieces, in order."""
        return [p.edge for p in self.pieces]


def cut_polyline(
    lon: Sequence[float], lat: Sequence[float], start: float, end: float
) -> list[list[float]]:
    """The part of a polyline between two fractions of its length.

    Parameters
    ----------
    lon, lat
        Vertices, degrees.
    start, end
        Fractions of the length, ``0 <= start <= end <= 1`` (locally equirectangular
        lengths).

    Returns
    -------
    list
        ``[lon, lat]`` points from ``start`` to ``end`` (at least two).
    """
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    if x.shape[0] < 2:
        return [[float(x[0]), float(y[0])], [float(x[0]), float(y[0])]]
    kx = math.cos(math.radians(float(y.mean())))
    seg = np.hypot(np.diff(x) * kx, np.diff(y))
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = float(cum[-1])
    if total <= 0.0:
        return [[float(x[0]), float(y[0])], [float(x[-1]), float(y[-1])]]
    s_d, e_d = start * total, end * total

    def point(d: float) -> list[float]:
        i = int(np.clip(np.searchsorted(cum, d, side="right") - 1, 0, seg.shape[0] - 1))
        t = 0.0 if seg[i] <= 0 else (d - cum[i]) / seg[i]
        t = min(1.0, max(0.0, t))
        return [float(x[i] + t * (x[i + 1] - x[i])), float(y[i] + t * (y[i + 1] - y[i]))]

    inner = [[float(x[i]), float(y[i])] for i in range(1, x.shape[0] - 1) if s_d < cum[i] < e_d]
    return [point(s_d), *inner, point(e_d)]


def _contributors(
    risk: RiskView, edges: npt.NDArray[np.int64]
) -> dict[int, Sequence[tuple[str, float]]]:
    """``risk.contributors`` of each edge, in one vectorised call when the view offers one."""
    many = getattr(risk, "contributors_many", None)
    if many is not None and edges.size:
        return dict(zip(edges.tolist(), many(edges), strict=True))
    return {int(e): risk.contributors(int(e)) for e in edges.tolist()}


def summarise(
    graph: RoadGraph,
    risk: RiskView,
    pieces: Sequence[Piece],
    *,
    high_risk_per_km: float,
    depart_at: datetime | None = None,
) -> RouteSummary:
    """Measure a route made of edge pieces.

    Parameters
    ----------
    graph
        The road graph.
    risk
        Risk per km and contributors per edge.
    pieces
        Consecutive edge pieces (see :class:`corridors.routing.engine.Piece`), non-empty.
    high_risk_per_km
        Threshold, risk per km, at or above which an edge counts as high risk (hotspots,
        ``high_risk_distance_m``).
    depart_at
        Departure time recorded in the risk profile.

    Returns
    -------
    RouteSummary
        Distances in metres, durations in seconds, exposure in risk x km.
    """
    if not pieces:
        raise ValueError("a route needs at least one piece")
    rpk = risk.edge_risk_per_km
    share = np.array([p.end - p.start for p in pieces], dtype=np.float64)
    edges = np.array([p.edge for p in pieces], dtype=np.int64)
    length = graph.edge_length_m[edges] * share
    duration = graph.edge_duration_s[edges] * share
    piece_risk = np.nan_to_num(rpk[edges].astype(np.float64), nan=0.0)
    exposure = piece_risk * length / 1000.0
    high = piece_risk >= high_risk_per_km
    start_m = np.concatenate([[0.0], np.cumsum(length)])

    coords: list[list[float]] = []
    piece_coords: list[list[list[float]]] = []
    for p in pieces:
        g0, g1 = int(graph.geometry_offsets[p.edge]), int(graph.geometry_offsets[p.edge + 1])
        lon, lat = graph.geometry_lon[g0:g1].tolist(), graph.geometry_lat[g0:g1].tolist()
        if p.start <= 0.0 and p.end >= 1.0 and len(lon) >= 2:
            part = [[x, y] for x, y in zip(lon, lat, strict=True)]  # whole edge: no cut
        else:
            part = cut_polyline(lon, lat, p.start, p.end)
        piece_coords.append(part)
        for pt in part:
            if not coords or coords[-1] != pt:
                coords.append(pt)
    if len(coords) == 1:
        coords.append(list(coords[0]))

    explain = _contributors(risk, np.unique(edges[high]))
    hotspots: list[Hotspot] = []
    i = 0
    while i < len(pieces):
        if not high[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(pieces) and high[j + 1]:
            j += 1
        run = range(i, j + 1)
        longest = max(run, key=lambda k: float(length[k]))
        shares: dict[str, float] = {}
        for k in run:
            for rid, s in explain[int(edges[k])]:
                shares[rid] = shares.get(rid, 0.0) + float(s) * float(length[k])
        ids = tuple(sorted(shares, key=lambda r: (-shares[r], r)))
        first, last = piece_coords[i][0], piece_coords[j][-1]
        hotspots.append(
            Hotspot(
                from_m=float(start_m[i]),
                to_m=float(start_m[j + 1]),
                risk_per_km=float(piece_risk[i : j + 1].max()),
                street=graph.street(int(edges[longest])),
                report_ids=ids,
                start=(first[0], first[1]),
                end=(last[0], last[1]),
            )
        )
        i = j + 1

    steps: list[RouteStep] = []
    i = 0
    while i < len(pieces):
        label = graph.street(int(edges[i]))
        j = i
        while j + 1 < len(pieces) and graph.street(int(edges[j + 1])) == label:
            j += 1
        dist = float(length[i : j + 1].sum())
        expo = float(exposure[i : j + 1].sum())
        steps.append(
            RouteStep(
                street=label,
                distance_m=dist,
                duration_s=float(duration[i : j + 1].sum()),
                exposure=expo,
                risk_per_km=expo / (dist / 1000.0) if dist > 0 else float(piece_risk[i]),
                max_risk_per_km=float(piece_risk[i : j + 1].max()),
            )
        )
        i = j + 1

    distance_m = float(length.sum())
    duration_s = float(duration.sum())
    total_exposure = float(exposure.sum())
    max_risk = float(piece_risk.max())
    high_m = float(length[high].sum())
    profile = RouteRiskProfile(
        distance_m=distance_m,
        duration_s=duration_s,
        exposure=total_exposure,
        max_edge_risk_per_km=max_risk,
        high_risk_distance_m=high_m,
        hotspots=tuple(hotspots),
        depart_at=depart_at,
        starts_in_risk=bool(high[0]),
        ends_in_risk=bool(high[-1]),
    )
    return RouteSummary(
        pieces=tuple(pieces),
        distance_m=distance_m,
        duration_s=duration_s,
        exposure=total_exposure,
        max_edge_risk_per_km=max_risk,
        high_risk_distance_m=high_m,
        hotspots=tuple(hotspots),
        steps=tuple(steps),
        coordinates=coords,
        profile=profile,
    )
