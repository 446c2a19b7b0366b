"""Incident reports -> risk per road edge, with the reports that explain it.

Unit. Risk is *expected weighted incidents per km of road* (1/km). A report of weight ``w``
(see ``data/risk-model.toml``) is spread over the plane with a kernel normalised so that a
straight line through its point collects exactly ``w``; an edge's risk is the kernel
integrated along the edge's polyline divided by its length. Route exposure (risk x km) is
therefore the weighted number of incidents the route passes through.

How. :class:`RiskEngine` is built once per graph. Each two-way street is handled once (both
directions share a *segment*); segment polylines are cut into straight pieces of at most
``max_piece_m`` whose midpoints go in a ``cKDTree``. A refresh finds every (report, piece)
pair within the report's kernel support in one dual-tree query per batch of reports, integrates
the kernel along each piece in closed form (``erf`` for the Gaussian, a cubic for Epanechnikov)
and sums pieces into a sparse report x segment matrix (CSC): column sums are the risk, columns
name the contributors. Zones and the night factor act on top of it.

Incremental. :meth:`RiskEngine.updated` adds, replaces or removes reports for the same ``at``
touching only the segments they reach (milliseconds); :meth:`RiskEngine.compute` is the
periodic full refresh that applies time decay.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.spatial import cKDTree
from scipy.special import ndtr

from corridors.domain import Category, Incident, ReportStatus, RiskLevel, Zone, ZoneKind
from corridors.errors import InputError
from corridors.graph.model import RoadGraph
from corridors.risk.config import LevelThresholds, RiskModelConfig
from corridors.risk.zones import EdgeIndex, edge_index_of

__all__ = ["RiskEngine", "RiskField"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]

_CATEGORIES: tuple[Category, ...] = tuple(Category)
_CATEGORY_CODE = {c: i for i, c in enumerate(_CATEGORIES)}
#: Reports per dual-tree query: bounds the memory of the pair list (~100 MB at 100k pairs/report).
_BATCH = 256
#: Added reports kept beside the matrix before it is rebuilt.
_MAX_EXTRA = 512


# ---------------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Contributions:
    """Report x segment contributions (risk per km, before zones and night).

    ``matrix`` rows are ``ids``; rows in ``dead`` were removed since it was built, and
    ``extra`` holds reports added since (segments, values). Never mutated: updates make a
    new object sharing ``matrix``/``ids``/``row_of``.
    """

    ids: tuple[str, ...]
    row_of: Mapping[str, int]
    matrix: sp.csc_matrix
    x_m: FloatArray
    y_m: FloatArray
    reach_m: FloatArray
    dead: frozenset[int] = frozenset()
    extra: Mapping[str, tuple[IntArray, FloatArray, tuple[float, float, float]]] = field(
        default_factory=dict
    )

    @property
    def count(self) -> int:
        return len(self.ids) - len(self.dead) + len(self.extra)

    def has(self, report_id: str) -> bool:
        if report_id in self.extra:
            return True
        row = self.row_of.get(report_id)
        return row is not None and row not in self.dead

    def column(self, segment: int) -> list[tuple[str, float]]:
        """Live ``(report id, risk per km)`` entries of one segment."""
        start, stop = self.matrix.indptr[segment], self.matrix.indptr[segment + 1]
        rows = self.matrix.indices[start:stop]
        values = self.matrix.data[start:stop]
        out = [
            (self.ids[int(r)], float(v))
            for r, v in zip(rows, values, strict=True)
            if int(r) not in self.dead
        ]
        for report_id, (segs, vals, _) in self.extra.items():
            pos = np.searchsorted(segs, segment)
            if pos < segs.shape[0] and segs[pos] == segment:
                out.append((report_id, float(vals[pos])))
        return out

    def column_sums(self, segments: IntArray) -> FloatArray:
        """Risk per km of the given (sorted, unique) segments from the live reports."""
        if segments.shape[0] == 0:
            return np.zeros(0)
        sub = self.matrix[:, segments]
        if self.dead:
            alive = np.ones(self.matrix.shape[0])
            alive[np.fromiter(self.dead, dtype=np.int64)] = 0.0
            sums = np.asarray(sub.T @ alive, dtype=np.float64).ravel()
        else:
            sums = np.asarray(sub.sum(axis=0), dtype=np.float64).ravel()
        for segs, vals, _ in self.extra.values():
            pos = np.searchsorted(segments, segs)
            pos = np.minimum(pos, segments.shape[0] - 1)
            hit = segments[pos] == segs
            np.add.at(sums, pos[hit], vals[hit])
        return sums


@dataclass(frozen=True, eq=False)
class RiskField:
    """Risk on every directed edge at one instant, with its explanation.

    Attributes
    ----------
    edge_risk_per_km
        (m,) float64: expected weighted incidents per km on each edge, zones and night applied.
    edge_blocked
        (m,) bool: the edge lies in an active no-go zone (impassable).
    edge_zone
        (m,) int32: index into ``zone_ids`` of the zone acting on the edge (the no-go zone for
        a blocked edge, else the strongest caution zone), -1 for none.
    zone_ids
        Ids of the zones referenced by ``edge_zone``.
    computed_at
        The instant the risk is evaluated at (aware UTC); reports after it are ignored.
    reports_considered
        Number of reports with a positive weight at ``computed_at``.
    config_version
        ``version`` of the risk model that produced it.
    night_factor
        Night multiplier applied to every edge (1.0 by day).
    segment_risk_per_km
        Risk per undirected segment before zones and night (``edge_segment`` maps edges).
    """

    edge_risk_per_km: FloatArray
    edge_blocked: BoolArray
    edge_zone: Int32Array
    zone_ids: tuple[str, ...]
    computed_at: datetime
    reports_considered: int
    config_version: str
    night_factor: float
    segment_risk_per_km: FloatArray
    edge_segment: IntArray
    levels: LevelThresholds
    _contributions: _Contributions = field(repr=False)
    _edge_multiplier: FloatArray = field(repr=False)
    _edge_floor: FloatArray = field(repr=False)

    def contributors(self, edge: int, top: int = 3) -> list[tuple[str, float]]:
        """The reports that make an edge risky, strongest first.

        Parameters
        ----------
        edge
            Directed edge index.
        top
            How many to return at most.

        Returns
        -------
        list of (report id, share)
            ``share`` is the report's fraction (0..1) of the edge's report-driven risk
            (before zones and night, which scale every report alike).
        """
        segment = int(self.edge_segment[edge])
        entries = self._contributions.column(segment)
        total = sum(v for _, v in entries)
        if total <= 0.0:
            return []
        entries.sort(key=lambda item: (-item[1], item[0]))
        return [(report_id, value / total) for report_id, value in entries[:top]]

    def level_of(self, risk_per_km: float) -> RiskLevel:
        """Level of a risk value (1/km) under this field's model."""
        return self.levels.level_of(risk_per_km)

    def edge_level(self, edge: int) -> RiskLevel:
        """Level of one edge's risk."""
        return self.levels.level_of(float(self.edge_risk_per_km[edge]))

    def zone_of(self, edge: int) -> str | None:
        """Id of the zone acting on an edge (the blocking one first), or None."""
        index = int(self.edge_zone[edge])
        return self.zone_ids[index] if index >= 0 else None

    def blocking_zone_ids(self, edges: IntArray | None = None) -> list[str]:
        """Ids of the no-go zones blocking any of ``edges`` (all blocked edges if None)."""
        mask = self.edge_blocked if edges is None else np.zeros_like(self.edge_blocked)
        if edges is not None:
            mask[edges] = self.edge_blocked[edges]
        codes = np.unique(self.edge_zone[mask])
        return [self.zone_ids[int(c)] for c in codes if c >= 0]

    @property
    def report_ids(self) -> frozenset[str]:
        """Ids of the reports counted in this field."""
        c = self._contributions
        live = {rid for rid, row in c.row_of.items() if row not in c.dead}
        return frozenset(live | set(c.extra))


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reports:
    """Reports that count at one instant, as arrays (rows of the contribution matrix)."""

    ids: tuple[str, ...]
    x_m: FloatArray
    y_m: FloatArray
    weight: FloatArray
    sigma_m: FloatArray


class RiskEngine:
    """Computes :class:`RiskField` s for one graph and one risk model.

    Parameters
    ----------
    graph
        The road graph (edge geometry in lon/lat; projected with ``graph.projection``).
    config
        The risk model.
    max_piece_m
        Longest straight piece edges are cut into for the spatial index, m. Smaller pieces
        mean fewer false candidates per report but a larger index; results do not depend on
        it (integrals along pieces are exact).
    """

    def __init__(self, graph: RoadGraph, config: RiskModelConfig, *, max_piece_m: float = 150.0):
        if max_piece_m <= 0:
            raise ValueError("max_piece_m must be positive")
        self.graph = graph
        self.config = config
        self.max_piece_m = float(max_piece_m)
        self.projection = graph.projection
        self._build_segments()
        self._build_pieces()
        self._edge_index: EdgeIndex | None = None
        cats = [config.categories[c] for c in _CATEGORIES]
        self._cat_base = np.array([c.base_weight for c in cats])
        self._cat_half_life_s = np.array([c.half_life_h * 3600.0 for c in cats])
        self._cat_sigma = np.array([c.sigma_m for c in cats])

    # -- precomputation --------------------------------------------------------------------

    def _build_segments(self) -> None:
        m = self.graph.edge_count
        edges = np.arange(m, dtype=np.int64)
        reverse = np.asarray(self.graph.edge_reverse, dtype=np.int64)
        canon = np.where(reverse >= 0, np.minimum(edges, reverse), edges)
        canon_edges, edge_segment = np.unique(canon, return_inverse=True)
        #: edge -> undirected segment; segment -> the edge whose geometry represents it.
        self.edge_segment: IntArray = edge_segment.astype(np.int64).ravel()
        self.segment_edge: IntArray = canon_edges.astype(np.int64)
        self.segment_count = int(canon_edges.shape[0])
        # segment -> its edges (one or two), as a CSR for incremental updates.
        order = np.argsort(self.edge_segment, kind="stable")
        self._seg_edge_order = order
        self._seg_edge_ptr = np.concatenate(
            [[0], np.cumsum(np.bincount(self.edge_segment, minlength=self.segment_count))]
        ).astype(np.int64)

    def _build_pieces(self) -> None:
        g = self.graph
        offsets = np.asarray(g.geometry_offsets, dtype=np.int64)
        x, y = self.projection.to_xy(g.geometry_lon, g.geometry_lat)
        vertex_edge = np.repeat(np.arange(g.edge_count, dtype=np.int64), np.diff(offsets))
        seg_of_canon = np.full(g.edge_count, -1, dtype=np.int64)
        seg_of_canon[self.segment_edge] = np.arange(self.segment_count, dtype=np.int64)
        # Straight sub-segments between consecutive vertices of canonical edges.
        start = np.arange(x.shape[0] - 1, dtype=np.int64)
        keep = vertex_edge[:-1] == vertex_edge[1:]
        start = start[keep]
        seg = seg_of_canon[vertex_edge[start]]
        start, seg = start[seg >= 0], seg[seg >= 0]
        x0, y0 = x[start], y[start]
        dx, dy = x[start + 1] - x0, y[start + 1] - y0
        length = np.hypot(dx, dy)
        self.segment_length_m: FloatArray = np.bincount(
            seg, weights=length, minlength=self.segment_count
        ).astype(np.float64)
        nonzero = length > 0
        x0, y0, dx, dy, length, seg = (a[nonzero] for a in (x0, y0, dx, dy, length, seg))
        # Cut into pieces of at most max_piece_m.
        n_pieces = np.maximum(1, np.ceil(length / self.max_piece_m)).astype(np.int64)
        owner = np.repeat(np.arange(length.shape[0]), n_pieces)
        first = np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
        k = np.arange(owner.shape[0]) - first
        frac0 = k / n_pieces[owner]
        frac1 = (k + 1) / n_pieces[owner]
        self._piece_x0 = x0[owner] + dx[owner] * frac0
        self._piece_y0 = y0[owner] + dy[owner] * frac0
        self._piece_len = length[owner] * (frac1 - frac0)
        self._piece_ux = dx[owner] / length[owner]
        self._piece_uy = dy[owner] / length[owner]
        self._piece_seg = seg[owner]
        self._piece_half = float(self._piece_len.max() / 2) if owner.shape[0] else 0.0
        mid = np.column_stack(
            [
                self._piece_x0 + self._piece_ux * self._piece_len / 2,
                self._piece_y0 + self._piece_uy * self._piece_len / 2,
            ]
        )
        self._piece_tree = cKDTree(mid if mid.shape[0] else np.zeros((0, 2)))
        with np.errstate(divide="ignore"):
            self._seg_inv_km = np.where(
                self.segment_length_m > 0, 1000.0 / self.segment_length_m, 0.0
            )

    @property
    def edge_index(self) -> EdgeIndex:
        """STRtree of edge geometries (built on first use; shared with :mod:`.zones`)."""
        if self._edge_index is None:
            self._edge_index = edge_index_of(self.graph)
        return self._edge_index

    # -- weights -----------------------------------------------------------------------------

    def report_weights(self, incidents: Sequence[Incident], *, at: datetime) -> FloatArray:
        """Weight of each report at ``at`` (0 for reports that do not count).

        A report counts when it occurred at or before ``at``, is not retracted, has not
        expired (``expires_at > at`` or none), is younger than ``max_age_half_lives``
        half-lives and is located within ``max_uncertainty_m``.

        Returns
        -------
        FloatArray
            Dimensionless weights, one per incident, in input order.
        """
        _check_aware(at)
        return self._weights(incidents, at)[0]

    def _weights(
        self, incidents: Sequence[Incident], at: datetime
    ) -> tuple[FloatArray, FloatArray]:
        cfg = self.config
        n = len(incidents)
        if n == 0:
            return np.zeros(0), np.zeros(0)
        at_s = at.timestamp()
        occurred = np.fromiter((i.occurred_at.timestamp() for i in incidents), float, n)
        expires = np.fromiter(
            (math.inf if i.expires_at is None else i.expires_at.timestamp() for i in incidents),
            float,
            n,
        )
        cat = np.fromiter((_CATEGORY_CODE[Category(i.category)] for i in incidents), np.int64, n)
        uncertainty = np.fromiter((max(0.0, float(i.uncertainty_m)) for i in incidents), float, n)
        factors = np.fromiter(
            (
                cfg.severity_factor(i.severity)
                * cfg.fatalities.factor(i.fatalities)
                * cfg.reliability_factor(i.source_reliability)
                * cfg.credibility_factor(i.credibility)
                * cfg.status[ReportStatus(i.status)]
                for i in incidents
            ),
            float,
            n,
        )
        age_s = at_s - occurred
        half_life_s = self._cat_half_life_s[cat]
        counts = (
            (age_s >= 0)
            & (expires > at_s)
            & (age_s <= cfg.max_age_half_lives * half_life_s)
            & (uncertainty <= cfg.max_uncertainty_m)
        )
        decay = np.exp2(-np.where(counts, age_s, 0.0) / half_life_s)
        weight = np.where(counts, self._cat_base[cat] * factors * decay, 0.0)
        sigma = np.hypot(self._cat_sigma[cat], cfg.uncertainty_to_sigma * uncertainty)
        return weight, sigma

    def _reports(self, incidents: Sequence[Incident], at: datetime) -> _Reports:
        weight, sigma = self._weights(incidents, at)
        keep = np.flatnonzero(weight > 0)
        lon = np.fromiter((incidents[int(k)].lon for k in keep), float, keep.shape[0])
        lat = np.fromiter((incidents[int(k)].lat for k in keep), float, keep.shape[0])
        x, y = self.projection.to_xy(lon, lat)
        ids = tuple(incidents[int(k)].id for k in keep)
        return _Reports(ids, np.asarray(x), np.asarray(y), weight[keep], sigma[keep])

    # -- spatial spread ----------------------------------------------------------------------

    def _pairs(self, reports: _Reports) -> tuple[IntArray, IntArray, FloatArray]:
        """(report row, segment, risk per km) for every report x piece within reach."""
        n = reports.weight.shape[0]
        support = self._support(reports.sigma_m)
        order = np.argsort(support, kind="stable")
        sorted_support = support[order]
        rows_out: list[IntArray] = []
        segs_out: list[IntArray] = []
        vals_out: list[FloatArray] = []
        lo = 0
        while lo < n and self._piece_tree.n > 0:
            # A batch shares one query radius: keep supports within 15 % of each other so
            # few candidate pairs are wasted, and batches small enough to bound memory.
            hi = int(np.searchsorted(sorted_support, sorted_support[lo] * 1.15, side="right"))
            hi = max(lo + 1, min(hi, lo + _BATCH))
            batch = order[lo:hi]
            lo = hi
            radius = float(support[batch].max()) + self._piece_half
            points = np.column_stack([reports.x_m[batch], reports.y_m[batch]])
            pairs = cKDTree(points).sparse_distance_matrix(
                self._piece_tree, radius, output_type="ndarray"
            )
            # Midpoint farther than reach + half the piece: the piece is out of reach.
            near = pairs["v"] <= support[batch[pairs["i"]]] + self._piece_len[pairs["j"]] / 2
            pairs = pairs[near]
            row = batch[np.asarray(pairs["i"], dtype=np.int64)]
            piece = np.asarray(pairs["j"], dtype=np.int64)
            hit, value = self._integrate(reports, support, row, piece)
            # Sum the pieces of each (report, segment) now: keeps the pair lists small.
            block = sp.coo_matrix(
                (value, (pairs["i"][hit], self._piece_seg[piece[hit]])),
                shape=(batch.shape[0], self.segment_count),
            ).tocsr()
            block.sum_duplicates()
            counts = np.diff(block.indptr)
            rows_out.append(np.repeat(batch, counts).astype(np.int64))
            segs_out.append(block.indices.astype(np.int64))
            vals_out.append(block.data.astype(np.float64))
        if not rows_out:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), np.zeros(0)
        return np.concatenate(rows_out), np.concatenate(segs_out), np.concatenate(vals_out)

    def _integrate(
        self, reports: _Reports, support: FloatArray, row: IntArray, piece: IntArray
    ) -> tuple[IntArray, FloatArray]:
        """Risk per km that (report, piece) pairs add to the pieces' segments.

        Returns the positions (into ``row``/``piece``) of the pairs that add something and
        their values. The kernel, cut off at the report's support ``R``, is integrated in
        closed form along the straight piece: with ``d`` the distance from the report to the
        piece's line and ``[a, b]`` the piece's extent along it (from the foot of the
        perpendicular, clipped to the chord ``|t| <= sqrt(R^2 - d^2)``), the Gaussian gives
        ``exp(-d^2 / 2 s^2) (Phi(b / s) - Phi(a / s))`` and the Epanechnikov
        ``3 / 4R ((1 - d^2 / R^2)(b - a) - (b^3 - a^3) / 3R^2)``.
        """
        ux, uy = self._piece_ux[piece], self._piece_uy[piece]
        vx = reports.x_m[row] - self._piece_x0[piece]
        vy = reports.y_m[row] - self._piece_y0[piece]
        along = vx * ux
        along += vy * uy
        perp2 = vx * vx
        perp2 += vy * vy
        perp2 -= along * along
        np.maximum(perp2, 0.0, out=perp2)
        reach = support[row]
        chord2 = reach * reach
        chord2 -= perp2
        pos = np.flatnonzero(chord2 > 0)
        along, perp2, chord2, reach = along[pos], perp2[pos], chord2[pos], reach[pos]
        half_chord = np.sqrt(chord2)
        a = np.maximum(-along, -half_chord)
        b = np.minimum(self._piece_len[piece[pos]] - along, half_chord)
        keep = b > a
        pos, a, b, perp2, reach = pos[keep], a[keep], b[keep], perp2[keep], reach[keep]
        r = row[pos]
        if self.config.kernel.shape == "gaussian":
            inv_sigma = 1.0 / reports.sigma_m[r]
            mass = ndtr(b * inv_sigma)
            mass -= ndtr(a * inv_sigma)
            perp2 *= inv_sigma * inv_sigma
            perp2 *= -0.5
            integral = np.exp(perp2)
            integral *= mass
        else:
            inv2 = 1.0 / (reach * reach)
            integral = (1 - perp2 * inv2) * (b - a) - (b**3 - a**3) * inv2 / 3
            integral *= 0.75 / reach
        np.maximum(integral, 0.0, out=integral)
        integral *= reports.weight[r]
        integral *= self._seg_inv_km[self._piece_seg[piece[pos]]]
        return pos, np.asarray(integral, dtype=np.float64)

    def _matrix(self, reports: _Reports) -> sp.csc_matrix:
        rows, segs, vals = self._pairs(reports)
        shape = (reports.weight.shape[0], self.segment_count)
        return sp.csc_matrix((vals, (rows, segs)), shape=shape)

    # -- zones -------------------------------------------------------------------------------

    def _zone_state(
        self, zones: Iterable[Zone], at: datetime
    ) -> tuple[BoolArray, FloatArray, FloatArray, Int32Array, tuple[str, ...]]:
        """Per-edge blocked flag, caution multiplier, caution floor, zone code; zone ids."""
        m = self.graph.edge_count
        blocked = np.zeros(m, dtype=bool)
        multiplier = np.ones(m)
        floor = np.zeros(m)
        code = np.full(m, -1, dtype=np.int32)
        active = [z for z in zones if z.active_at(at)]
        if not active:
            return blocked, multiplier, floor, code, ()
        zone_idx, edges = self.edge_index.query_many([z.geometry for z in active])
        cfg = self.config.zones
        mult = np.array(
            [
                1.0
                if z.kind == ZoneKind.no_go
                else (z.multiplier if z.multiplier > 1.0 else cfg.caution_default_multiplier)
                for z in active
            ]
        )
        is_no_go = np.array([z.kind == ZoneKind.no_go for z in active], dtype=bool)
        caution = ~is_no_go[zone_idx]
        # Overlapping caution zones do not compound: the strongest one acts.
        np.maximum.at(multiplier, edges[caution], mult[zone_idx[caution]])
        floor[edges[caution]] = cfg.caution_floor_per_km
        # Zone code: strongest caution zone, then no-go zones override.
        by_strength = np.lexsort((mult[zone_idx[caution]],))
        code[edges[caution][by_strength]] = zone_idx[caution][by_strength]
        nogo = ~caution
        blocked[edges[nogo]] = True
        code[edges[nogo]] = zone_idx[nogo]
        return blocked, multiplier, floor, code, tuple(z.id for z in active)

    # -- public API ----------------------------------------------------------------------------

    def compute(
        self, incidents: Sequence[Incident], zones: Iterable[Zone] = (), *, at: datetime
    ) -> RiskField:
        """Full refresh: risk on every edge as of ``at``.

        Parameters
        ----------
        incidents
            All candidate reports; those that do not count at ``at`` are skipped (see
            :meth:`report_weights`).
        zones
            Zones; only those active at ``at`` act.
        at
            Aware instant the risk is evaluated at (a route's ``depart_at``).

        Returns
        -------
        RiskField

        Raises
        ------
        InputError
            ``at`` is naive.
        """
        _check_aware(at)
        reports = self._reports(incidents, at)
        matrix = self._matrix(reports)
        segment_risk = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
        contributions = _Contributions(
            ids=reports.ids,
            row_of={rid: k for k, rid in enumerate(reports.ids)},
            matrix=matrix,
            x_m=reports.x_m,
            y_m=reports.y_m,
            reach_m=self._support(reports.sigma_m),
        )
        blocked, multiplier, floor, code, zone_ids = self._zone_state(zones, at)
        night = self.config.night.factor_at(at)
        edge_multiplier = multiplier * night
        risk = np.maximum(segment_risk[self.edge_segment], floor) * edge_multiplier
        return RiskField(
            edge_risk_per_km=risk,
            edge_blocked=blocked,
            edge_zone=code,
            zone_ids=zone_ids,
            computed_at=at,
            reports_considered=contributions.count,
            config_version=self.config.version,
            night_factor=night,
            segment_risk_per_km=segment_risk,
            edge_segment=self.edge_segment,
            levels=self.config.levels,
            _contributions=contributions,
            _edge_multiplier=edge_multiplier,
            _edge_floor=floor,
        )

    def updated(
        self,
        field: RiskField,
        *,
        add: Sequence[Incident] = (),
        remove: Iterable[str] = (),
    ) -> RiskField:
        """A new field with reports added, replaced or removed, at ``field.computed_at``.

        Only the segments the changed reports reach are recomputed. A report in ``add`` whose
        id is already counted replaces it (e.g. verified or retracted: a retracted report is
        simply removed); one that does not count at ``field.computed_at`` is ignored.

        Parameters
        ----------
        field
            A field computed by this engine.
        add
            New or changed reports.
        remove
            Ids of reports to drop (unknown ids are ignored).

        Returns
        -------
        RiskField
            The updated field; ``field`` itself is unchanged.
        """
        c = field._contributions
        dead = set(c.dead)
        extra = dict(c.extra)
        touched: list[IntArray] = []

        def drop(report_id: str) -> None:
            if report_id in extra:
                touched.append(extra.pop(report_id)[0])
                return
            row = c.row_of.get(report_id)
            if row is not None and row not in dead:
                touched.append(self._segments_near(c.x_m[row], c.y_m[row], c.reach_m[row]))
                dead.add(row)

        for report_id in remove:
            drop(report_id)
        for incident in add:
            drop(incident.id)
        reports = self._reports(list(add), field.computed_at)
        if reports.weight.shape[0]:
            rows, segs, vals = self._pairs(reports)
            reach = self._support(reports.sigma_m)
            for k, report_id in enumerate(reports.ids):
                mine = rows == k
                s, v = segs[mine], vals[mine]
                order = np.argsort(s, kind="stable")
                s, v = s[order], v[order]
                uniq, start = np.unique(s, return_index=True)
                where = (float(reports.x_m[k]), float(reports.y_m[k]), float(reach[k]))
                extra[report_id] = (uniq, np.add.reduceat(v, start) if uniq.size else v, where)
                touched.append(uniq)
        new = replace(c, dead=frozenset(dead), extra=extra)
        if len(extra) > _MAX_EXTRA or len(dead) > max(_MAX_EXTRA, len(c.ids) // 4):
            new = _consolidate(new)
        affected = np.unique(np.concatenate(touched)) if touched else np.zeros(0, dtype=np.int64)
        segment_risk = field.segment_risk_per_km.copy()
        segment_risk[affected] = new.column_sums(affected)
        risk = field.edge_risk_per_km.copy()
        edges = self._edges_of_segments(affected)
        risk[edges] = (
            np.maximum(segment_risk[self.edge_segment[edges]], field._edge_floor[edges])
            * field._edge_multiplier[edges]
        )
        return replace(
            field,
            edge_risk_per_km=risk,
            segment_risk_per_km=segment_risk,
            reports_considered=new.count,
            _contributions=new,
        )

    def with_zones(self, field: RiskField, zones: Iterable[Zone]) -> RiskField:
        """A new field with the zone set replaced (reports unchanged), at ``field.computed_at``."""
        blocked, multiplier, floor, code, zone_ids = self._zone_state(zones, field.computed_at)
        edge_multiplier = multiplier * field.night_factor
        risk = np.maximum(field.segment_risk_per_km[self.edge_segment], floor) * edge_multiplier
        return replace(
            field,
            edge_risk_per_km=risk,
            edge_blocked=blocked,
            edge_zone=code,
            zone_ids=zone_ids,
            _edge_multiplier=edge_multiplier,
            _edge_floor=floor,
        )

    def _segments_near(self, x_m: float, y_m: float, reach_m: float) -> IntArray:
        """Segments with a piece within ``reach_m`` of a point (a superset of those reached)."""
        pieces = self._piece_tree.query_ball_point([x_m, y_m], reach_m + self._piece_half)
        return np.unique(self._piece_seg[np.asarray(pieces, dtype=np.int64)])

    def _support(self, sigma_m: FloatArray) -> FloatArray:
        kernel = self.config.kernel
        if kernel.shape == "epanechnikov":
            return np.asarray(math.sqrt(5.0) * sigma_m, dtype=np.float64)
        return np.asarray(kernel.cutoff_sigmas * sigma_m, dtype=np.float64)

    def _edges_of_segments(self, segments: IntArray) -> IntArray:
        if segments.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        starts = self._seg_edge_ptr[segments]
        counts = self._seg_edge_ptr[segments + 1] - starts
        idx = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        return np.asarray(self._seg_edge_order[idx], dtype=np.int64)


def _consolidate(c: _Contributions) -> _Contributions:
    """Fold removed rows and added reports back into one matrix."""
    dead = np.fromiter(c.dead, dtype=np.int64, count=len(c.dead))
    alive_mask = np.ones(len(c.ids), dtype=bool)
    alive_mask[dead] = False
    alive = np.flatnonzero(alive_mask)
    n_seg = c.matrix.shape[1]
    extra_ids = list(c.extra)
    rows = [np.full(v[0].shape[0], k, dtype=np.int64) for k, v in enumerate(c.extra.values())]
    added = sp.csr_matrix(
        (
            np.concatenate([v[1] for v in c.extra.values()] or [np.zeros(0)]),
            (
                np.concatenate(rows or [np.zeros(0, dtype=np.int64)]),
                np.concatenate([v[0] for v in c.extra.values()] or [np.zeros(0, dtype=np.int64)]),
            ),
        ),
        shape=(len(extra_ids), n_seg),
    )
    matrix = sp.vstack([c.matrix.tocsr()[alive], added], format="csc")
    ids = tuple([c.ids[int(k)] for k in alive] + extra_ids)
    where = np.array([v[2] for v in c.extra.values()]).reshape(-1, 3)
    return _Contributions(
        ids=ids,
        row_of={rid: k for k, rid in enumerate(ids)},
        matrix=sp.csc_matrix(matrix),
        x_m=np.concatenate([c.x_m[alive], where[:, 0]]),
        y_m=np.concatenate([c.y_m[alive], where[:, 1]]),
        reach_m=np.concatenate([c.reach_m[alive], where[:, 2]]),
    )


def _check_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError("risk time `at` must be timezone-aware (UTC)")
