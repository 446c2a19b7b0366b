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
- Contributors of the high-risk edges are asked for in one ``contributor_entries(edges)``
  call when the risk view has that method (flat arrays of the answers ``contributors``
  gives per edge), and summed by report for every hotspot at once.
- A path's per-piece lengths and durations are kept with it (``PathArrays.derived``): a
  route is measured on several risk fields (Pareto figures, summary, departure times).
- :func:`summarise_many` summarises the routes of one answer together: their pieces laid
  end to end, measured in one pass (numpy's cost per call, not per element, dominated
  the summary of one route); a route's start cuts every run, step and polyline.
- ``starts_in_risk``/``ends_in_risk`` are true when the first/last piece's edge is at or
  above the high-risk threshold; the caller may also set them from caution zones
  (``dataclasses.replace``).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from corridors.domain import Hotspot, RouteRiskProfile
from corridors.graph.model import RoadGraph
from corridors.routing.engine import PathArrays, Piece

__all__ = [
    "RiskView",
    "RouteStep",
    "RouteSteps",
    "RouteSummary",
    "cut_polyline",
    "duration_and_exposure",
    "measure",
    "summarise",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
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


@dataclass(frozen=True, slots=True, eq=False)
class RouteSteps:
    """A route's steps as arrays (a long route has hundreds): ``street[k]`` and the k-th
    entry of each array describe the k-th :class:`RouteStep`; iterating gives them."""

    street: tuple[str, ...]
    distance_m: FloatArray
    duration_s: FloatArray
    exposure: FloatArray
    risk_per_km: FloatArray
    max_risk_per_km: FloatArray

    def __len__(self) -> int:
        return len(self.street)

    def __iter__(self) -> Iterator[RouteStep]:
        columns = (
            self.distance_m,
            self.duration_s,
            self.exposure,
            self.risk_per_km,
            self.max_risk_per_km,
        )
        for street, *figures in zip(self.street, *(c.tolist() for c in columns), strict=True):
            yield RouteStep(street, *figures)


@dataclass(frozen=True, slots=True, eq=False)
class RouteSummary:
    """A route, ready for the API layer to serialise.

    ``lonlat_deg`` is the polyline, ``(n, 2)`` lon/lat degrees, with the first and last
    edges cut at the snap fractions (``coordinates``: as ``[lon, lat]`` lists); ``path``
    the edge pieces travelled, as arrays (``pieces``: as :class:`Piece` tuples).
    """

    path: PathArrays
    distance_m: float
    duration_s: float
    exposure: float
    max_edge_risk_per_km: float
    high_risk_distance_m: float
    hotspots: tuple[Hotspot, ...]
    steps: RouteSteps
    lonlat_deg: FloatArray
    profile: RouteRiskProfile

    @property
    def pieces(self) -> tuple[Piece, ...]:
        """The edge pieces travelled (``path`` as :class:`Piece` tuples)."""
        return self.path.pieces()

    @property
    def edges(self) -> list[int]:
        """Edge indexes of the pieces, in order."""
        edges: list[int] = self.path.edges.tolist()
        return edges

    @property
    def coordinates(self) -> list[list[float]]:
        """The polyline as ``[lon, lat]`` lists, degrees."""
        points: list[list[float]] = self.lonlat_deg.tolist()
        return points


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
    # Plain floats: an edge has a handful of vertices, where numpy's per-call cost is most
    # of the work (5 vertices: 4.9 us, against 20 us with arrays; ~2 cuts a route).
    xs = [float(v) for v in lon]
    ys = [float(v) for v in lat]
    if len(xs) < 2:
        return [[xs[0], ys[0]], [xs[0], ys[0]]]
    kx = math.cos(math.radians(math.fsum(ys) / len(ys)))
    lengths = [
        math.hypot((x1 - x0) * kx, y1 - y0)
        for x0, x1, y0, y1 in zip(xs[:-1], xs[1:], ys[:-1], ys[1:], strict=True)
    ]
    at = list(itertools.accumulate(lengths, initial=0.0))
    total = at[-1]
    if total <= 0.0:
        return [[xs[0], ys[0]], [xs[-1], ys[-1]]]
    s_d, e_d = start * total, end * total
    last = len(lengths) - 1

    def point(d: float) -> list[float]:
        i = min(max(bisect.bisect_right(at, d) - 1, 0), last)
        t = 0.0 if lengths[i] <= 0 else (d - at[i]) / lengths[i]
        t = min(1.0, max(0.0, t))
        return [xs[i] + t * (xs[i + 1] - xs[i]), ys[i] + t * (ys[i + 1] - ys[i])]

    inner = [[xs[i], ys[i]] for i in range(1, len(xs) - 1) if s_d < at[i] < e_d]
    return [point(s_d), *inner, point(e_d)]


class _Entries(Protocol):
    """The reports behind a run of edges, flat: ``counts[k]`` entries for the k-th edge,
    each a report (an index into ``names``) and its share; ``rank`` orders the names by id
    (as ``corridors.risk.explanations.Contributors``)."""

    @property
    def counts(self) -> npt.NDArray[np.int64]: ...

    @property
    def report(self) -> npt.NDArray[np.int64]: ...

    @property
    def names(self) -> Sequence[str]: ...

    @property
    def rank(self) -> npt.NDArray[np.int32]: ...

    @property
    def shares(self) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class _ListedEntries:
    counts: npt.NDArray[np.int64]
    report: npt.NDArray[np.int64]
    names: Sequence[str]
    rank: npt.NDArray[np.int32]
    shares: FloatArray


def _contributor_entries(risk: RiskView, edges: npt.NDArray[np.int64]) -> _Entries:
    """The contributors of ``edges``, flat: in one vectorised ``contributor_entries`` call
    when the view offers it, else from ``risk.contributors`` edge by edge."""
    many = getattr(risk, "contributor_entries", None)
    if many is not None:
        entries: _Entries = many(edges)
        return entries
    answers = [risk.contributors(int(e)) for e in edges.tolist()]
    ids = np.array([rid for answer in answers for rid, _ in answer], dtype=object)
    names, report = np.unique(ids, return_inverse=True)  # sorted: a name's rank is its index
    return _ListedEntries(
        np.fromiter(map(len, answers), dtype=np.int64, count=len(answers)),
        report.astype(np.int64),
        names.tolist(),
        np.arange(names.shape[0], dtype=np.int32),
        np.fromiter((v for answer in answers for _, v in answer), dtype=np.float64),
    )


def _edge_risk_of(risk: RiskView, edges: IntArray) -> FloatArray:
    """``risk.edge_risk_per_km[edges]``, through ``risk.edge_risk_of`` when the view has it
    (a field projected to another departure time makes only those edges' risk)."""
    some = getattr(risk, "edge_risk_of", None)
    if some is not None:
        result: FloatArray = some(edges)
        return result
    return risk.edge_risk_per_km[edges]


def _piece_risk(risk: RiskView, edges: IntArray) -> FloatArray:
    """Risk per km of each piece's edge, NaN read as 0."""
    piece_risk = np.asarray(_edge_risk_of(risk, edges), dtype=np.float64)
    if not np.isfinite(piece_risk).all():  # rare: skip nan_to_num's overhead otherwise
        piece_risk = np.nan_to_num(piece_risk, nan=0.0)
    return piece_risk


def _arrays(pieces: Sequence[Piece] | PathArrays) -> PathArrays:
    return pieces if isinstance(pieces, PathArrays) else PathArrays.of(pieces)


@dataclass(frozen=True, slots=True)
class _Lengths:
    """Per-piece length (m), duration (s) and start (m from the route start) of a path."""

    length_m: FloatArray
    duration_s: FloatArray
    start_m: FloatArray  # (n + 1,)

    @classmethod
    def of(cls, graph: RoadGraph, path: PathArrays) -> _Lengths:
        """The lengths of ``path``, made once per path (they do not depend on the risk)."""
        made = path.derived.get("lengths")
        if isinstance(made, _Lengths):
            return made
        share = path.end - path.start
        length = graph.edge_length_m[path.edges] * share
        made = path.derived["lengths"] = cls(
            length_m=length,
            duration_s=graph.edge_duration_s[path.edges] * share,
            start_m=np.concatenate([[0.0], np.cumsum(length)]),
        )
        return made


def _joined(parts: Sequence[FloatArray]) -> FloatArray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


@dataclass(frozen=True, slots=True)
class _Measures:
    """Per-piece figures of one or more paths laid end to end (arrays aligned with the
    pieces): path ``r`` holds pieces ``first[r]:first[r + 1]``."""

    first: IntArray  # (routes + 1,)
    edges: IntArray
    length_m: FloatArray
    duration_s: FloatArray
    risk_per_km: FloatArray  # NaN read as 0
    exposure: FloatArray
    high: BoolArray
    start_m: FloatArray  # distance from its route's start to each piece's start
    end_m: FloatArray  # ... and to its end

    @classmethod
    def of(
        cls,
        graph: RoadGraph,
        risk: RiskView,
        paths: Sequence[PathArrays],
        whole: PathArrays,
        high_per_km: float,
    ) -> _Measures:
        """The figures of ``paths`` (each non-empty), ``whole`` their pieces joined."""
        lengths = [_Lengths.of(graph, p) for p in paths]
        sizes = [p.edges.shape[0] for p in paths]
        if not all(sizes):
            raise ValueError("a route needs at least one piece")
        piece_risk = _piece_risk(risk, whole.edges)
        length_m = _joined([b.length_m for b in lengths])
        return cls(
            first=np.array([0, *itertools.accumulate(sizes)], dtype=np.int64),
            edges=whole.edges,
            length_m=length_m,
            duration_s=_joined([b.duration_s for b in lengths]),
            risk_per_km=piece_risk,
            exposure=piece_risk * length_m / 1000.0,
            high=piece_risk >= high_per_km,
            start_m=_joined([b.start_m[:-1] for b in lengths]),
            end_m=_joined([b.start_m[1:] for b in lengths]),
        )

    @property
    def routes(self) -> int:
        """How many paths the pieces belong to."""
        return int(self.first.shape[0]) - 1

    def split(self, starts: IntArray) -> list[tuple[int, int]]:
        """Per route, ``[a, b)`` of the items (hotspots, steps) that start at pieces
        ``starts`` (ascending) inside its pieces."""
        bounds = np.searchsorted(starts, self.first).tolist()
        return list(itertools.pairwise(bounds))


class _Geometry:
    """Polyline vertices of a path's pieces, partial pieces cut at their fractions."""

    def __init__(self, graph: RoadGraph, path: PathArrays) -> None:
        self.graph = graph
        self.path = path
        offsets = graph.geometry_offsets
        self.first = offsets[path.edges]
        self.count = offsets[path.edges + 1] - self.first
        partial = (path.start > 0.0) | (path.end < 1.0) | (self.count < 2)
        self.partial: list[int] = np.flatnonzero(partial).tolist()
        self._cuts: dict[int, FloatArray] = {}

    @classmethod
    def of(cls, graph: RoadGraph, path: PathArrays) -> _Geometry:
        """The geometry of ``path``, made once per path."""
        made = path.derived.get("geometry")
        if not isinstance(made, _Geometry):
            made = path.derived["geometry"] = cls(graph, path)
        return made

    def cut(self, piece: int) -> FloatArray:
        """``(k, 2)`` lon/lat points of a partial piece (computed once, when asked)."""
        points = self._cuts.get(piece)
        if points is None:
            g0 = int(self.first[piece])
            g1 = g0 + int(self.count[piece])
            part = cut_polyline(
                self.graph.geometry_lon[g0:g1].tolist(),
                self.graph.geometry_lat[g0:g1].tolist(),
                float(self.path.start[piece]),
                float(self.path.end[piece]),
            )
            points = self._cuts[piece] = np.asarray(part, dtype=np.float64)
        return points

    def endpoints(self, pieces: IntArray, last: bool) -> list[tuple[float, float]]:
        """First (or last) point of each of ``pieces``."""
        vertex = self.first[pieces] + (self.count[pieces] - 1 if last else 0)
        points = list(
            zip(
                self.graph.geometry_lon[vertex].tolist(),
                self.graph.geometry_lat[vertex].tolist(),
                strict=True,
            )
        )
        for k in self.partial:
            for j in np.flatnonzero(pieces == k).tolist():
                x, y = self.cut(k)[-1 if last else 0]
                points[j] = (float(x), float(y))
        return points

    def coordinates(self, first: IntArray) -> list[FloatArray]:
        """The polyline of each route (pieces ``first[r]:first[r + 1]``), ``(n, 2)`` lon/lat,
        consecutive duplicate points removed (at least two points each)."""
        count = self.count
        total = int(count.sum())
        block_start = np.concatenate([[0], np.cumsum(count)[:-1]])
        index = np.arange(total, dtype=np.int64) + np.repeat(self.first - block_start, count)
        lon = self.graph.geometry_lon[index]
        lat = self.graph.geometry_lat[index]
        if self.partial:
            count = count.copy()  # vertices each piece gives: a cut one, its cut's
            lon_parts: list[FloatArray] = []
            lat_parts: list[FloatArray] = []
            at = 0
            for k in self.partial:
                b0 = int(block_start[k])
                cut = self.cut(k)
                lon_parts += [lon[at:b0], cut[:, 0]]
                lat_parts += [lat[at:b0], cut[:, 1]]
                at = b0 + int(count[k])
                count[k] = cut.shape[0]
            lon = np.concatenate([*lon_parts, lon[at:]])
            lat = np.concatenate([*lat_parts, lat[at:]])
        route_start = np.concatenate([[0], np.cumsum(count)])[first[:-1]]
        keep = np.ones(lon.shape[0], dtype=np.bool_)
        keep[1:] = (lon[1:] != lon[:-1]) | (lat[1:] != lat[:-1])
        keep[route_start] = True
        bounds = [*np.cumsum(keep)[route_start[1:] - 1].tolist(), int(keep.sum())]
        points = np.column_stack((lon[keep], lat[keep]))
        lines = []
        for a, b in itertools.pairwise([0, *bounds]):
            line = points[a:b]
            lines.append(line if line.shape[0] > 1 else np.concatenate([line, line]))
        return lines


def _hotspots(
    graph: RoadGraph, risk: RiskView, m: _Measures, geometry: _Geometry
) -> list[tuple[Hotspot, ...]]:
    """The hotspots of each route of ``m`` (``geometry`` the same pieces')."""
    # Runs of high-risk pieces, first to last piece; a route's start begins a run and its
    # end ends one. Segment i spans from run i's first piece to run i+1's, so per-run
    # reductions over pieces masked outside the runs are reduceats.
    high = m.high
    route_first, route_last = m.first[:-1], m.first[1:] - 1
    begins = high.copy()
    begins[1:] &= ~high[:-1]
    begins[route_first] = high[route_first]
    ends = high.copy()
    ends[:-1] &= ~high[1:]
    ends[route_last] = high[route_last]
    firsts, lasts = np.flatnonzero(begins), np.flatnonzero(ends)
    if firsts.size == 0:
        return [()] * m.routes
    peak = np.maximum.reduceat(np.where(high, m.risk_per_km, -np.inf), firsts)
    run_length = np.where(high, m.length_m, -1.0)
    longest_m = np.maximum.reduceat(run_length, firsts)
    run_starts = np.zeros(high.shape[0], dtype=np.int64)
    run_starts[firsts] = 1
    segment = np.cumsum(run_starts) - 1  # index of the run a piece belongs to or follows
    at_max = np.flatnonzero((run_length == longest_m[segment]) & (segment >= 0))
    _, first_max = np.unique(segment[at_max], return_index=True)
    longest_edges = m.edges[at_max[first_max]].tolist()
    report_ids = _report_ids(risk, m, segment, firsts.shape[0])
    keys = graph.street_keys(np.asarray(longest_edges, dtype=np.int64)).tolist()
    hotspots = list(
        map(
            Hotspot,
            m.start_m[firsts].tolist(),
            m.end_m[lasts].tolist(),
            peak.tolist(),
            [graph.street_label(k) for k in keys],
            report_ids,
            geometry.endpoints(firsts, last=False),
            geometry.endpoints(lasts, last=True),
        )
    )
    return [tuple(hotspots[a:b]) for a, b in m.split(firsts)]


def _report_ids(
    risk: RiskView, m: _Measures, run_of: npt.NDArray[np.int64], runs: int
) -> list[tuple[str, ...]]:
    """The reports behind each run of high-risk pieces (``run_of`` each piece's run), by
    their share x piece length summed over the run, largest first, ties by id."""
    high = np.flatnonzero(m.high)
    edges, at = np.unique(m.edges[high], return_inverse=True)
    entries = _contributor_entries(risk, edges)
    if entries.report.shape[0] == 0:
        return [()] * runs
    # Every (piece, entry of its edge) pair, piece by piece: its run, report and weight.
    ptr = np.concatenate([[0], np.cumsum(entries.counts)])
    counts = entries.counts[at]
    entry = np.repeat(ptr[at] - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
    # Every (run, report) pair summed at once; reports named only once ordered.
    n_names = len(entries.names)
    weight = entries.shares[entry] * np.repeat(m.length_m[high], counts)
    pair, which = np.unique(
        np.repeat(run_of[high], counts) * n_names + entries.report[entry], return_inverse=True
    )
    summed = np.bincount(which, weights=weight)
    run, report = np.divmod(pair, n_names)
    names = entries.names
    order = np.lexsort((entries.rank[report], -summed, run))
    ordered = [names[k] for k in report[order].tolist()]
    ends = np.cumsum(np.bincount(run, minlength=runs)).tolist()
    return [tuple(ordered[a:b]) for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _steps(graph: RoadGraph, m: _Measures) -> list[RouteSteps]:
    """The steps of each route of ``m``."""
    # Boundaries where the street key changes or a route starts, labelled once per step;
    # merged again where two keys give the same label (a street table holding a string
    # twice).
    keys = graph.street_keys(m.edges)
    change = np.ones(keys.shape[0], dtype=np.bool_)
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    route_start = np.zeros(keys.shape[0], dtype=np.bool_)
    route_start[m.first[:-1]] = True
    change |= route_start
    firsts: list[int] = []
    labels: list[str] = []
    label_of = graph.street_label
    for k, key, new_route in zip(
        np.flatnonzero(change).tolist(),
        keys[change].tolist(),
        route_start[change].tolist(),
        strict=True,
    ):
        label = label_of(key)
        if new_route or labels[-1] != label:
            firsts.append(k)
            labels.append(label)
    starts = np.asarray(firsts, dtype=np.int64)
    dist = np.add.reduceat(m.length_m, starts)
    dur = np.add.reduceat(m.duration_s, starts)
    expo = np.add.reduceat(m.exposure, starts)
    peak = np.maximum.reduceat(m.risk_per_km, starts)
    mean = np.divide(expo, dist / 1000.0, out=m.risk_per_km[starts].copy(), where=dist > 0.0)
    return [
        RouteSteps(tuple(labels[a:b]), dist[a:b], dur[a:b], expo[a:b], mean[a:b], peak[a:b])
        for a, b in m.split(starts)
    ]


def _profiles(
    m: _Measures, hotspots: Sequence[tuple[Hotspot, ...]], depart_at: datetime | None
) -> list[RouteRiskProfile]:
    """The risk profile of each route of ``m``: sums over its slice of the pieces, as over
    the route's own arrays (the same figures to the last bit)."""
    out = []
    for (a, b), spots in zip(itertools.pairwise(m.first.tolist()), hotspots, strict=True):
        length_m, high = m.length_m[a:b], m.high[a:b]
        out.append(
            RouteRiskProfile(
                distance_m=float(length_m.sum()),
                duration_s=float(m.duration_s[a:b].sum()),
                exposure=float(m.exposure[a:b].sum()),
                max_edge_risk_per_km=float(m.risk_per_km[a:b].max()),
                high_risk_distance_m=float(length_m[high].sum()),
                hotspots=spots,
                depart_at=depart_at,
                starts_in_risk=bool(high[0]),
                ends_in_risk=bool(high[-1]),
            )
        )
    return out


def duration_and_exposure(
    graph: RoadGraph, risk: RiskView, pieces: Sequence[Piece] | PathArrays
) -> tuple[float, float]:
    """``(duration_s, exposure)`` of a route, as :func:`summarise` measures them (the same
    figures to the last bit; only these two, for the Pareto sweep's candidates)."""
    path = _arrays(pieces)
    lengths = _Lengths.of(graph, path)
    exposure = _piece_risk(risk, path.edges) * lengths.length_m / 1000.0
    return float(lengths.duration_s.sum()), float(exposure.sum())


def measure(
    graph: RoadGraph,
    risk: RiskView,
    pieces: Sequence[Piece] | PathArrays,
    *,
    high_risk_per_km: float,
    depart_at: datetime | None = None,
    with_hotspots: bool = True,
) -> RouteRiskProfile:
    """The risk profile of a route only (no steps, no polyline): what the escort policy and
    the Pareto sweep compare. Same figures and hotspots as :func:`summarise`; without
    ``with_hotspots`` the hotspots are left out (the figures are complete)."""
    path = _arrays(pieces)
    m = _Measures.of(graph, risk, [path], path, high_risk_per_km)
    hotspots = _hotspots(graph, risk, m, _Geometry.of(graph, path)) if with_hotspots else [()]
    return _profiles(m, hotspots, depart_at)[0]


def summarise(
    graph: RoadGraph,
    risk: RiskView,
    pieces: Sequence[Piece] | PathArrays,
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
        Consecutive edge pieces (see :class:`corridors.routing.engine.Piece`), non-empty,
        or the same as :class:`PathArrays` (kept with the summary, as its ``path``).
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
    (summary,) = summarise_many(
        graph, risk, [_arrays(pieces)], high_risk_per_km=high_risk_per_km, depart_at=depart_at
    )
    return summary


def summarise_many(
    graph: RoadGraph,
    risk: RiskView,
    paths: Sequence[PathArrays],
    *,
    high_risk_per_km: float,
    depart_at: datetime | None = None,
) -> list[RouteSummary]:
    """:func:`summarise` of several routes at once, in order, with the same figures.

    The routes' pieces are laid end to end and measured in one pass (one risk lookup, one
    ``contributor_entries`` call, one reduction per figure): the routes of one answer
    (recommended, alternatives, Pareto) cost little more than one.
    """
    if not paths:
        return []
    whole = paths[0] if len(paths) == 1 else PathArrays.concat(paths)
    m = _Measures.of(graph, risk, paths, whole, high_risk_per_km)
    geometry = _Geometry.of(graph, whole)
    profiles = _profiles(m, _hotspots(graph, risk, m, geometry), depart_at)
    return [
        RouteSummary(
            path=path,
            distance_m=profile.distance_m,
            duration_s=profile.duration_s,
            exposure=profile.exposure,
            max_edge_risk_per_km=profile.max_edge_risk_per_km,
            high_risk_distance_m=profile.high_risk_distance_m,
            hotspots=profile.hotspots,
            steps=steps,
            lonlat_deg=line,
            profile=profile,
        )
        for path, profile, steps, line in zip(
            paths, profiles, _steps(graph, m), geometry.coordinates(m.first), strict=True
        )
    ]
