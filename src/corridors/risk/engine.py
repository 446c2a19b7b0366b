"""Incident reports -> risk per road edge, with the reports that explain it.

Unit. Risk is *expected weighted incidents per km of road* (1/km). A report of weight ``w``
(see ``data/risk-model.toml``) is spread over the plane with a kernel normalised so that a
straight line through its point collects exactly ``w``; an edge's risk is the kernel
integrated along the edge's polyline divided by its length. Route exposure (risk x km) is
therefore the weighted number of incidents the route passes through.

Two terms. A report adds an *acute* kernel (its category's half-life and width) and, for the
violent categories of the model's ``[chronic]`` table, a *chronic* one: a small share of its
weight with a half-life of months and its own (narrower) width, because Port-au-Prince
violence recurs at the same places for months. Both are kernels of the same kind: below, a
report is one or two *entries* (point, width, weight), and its explanation share is the sum
of its entries' contributions.

How. :class:`RiskEngine` is built once per graph. Each two-way street is handled once (both
directions share a *segment*); segment polylines are cut into straight pieces of at most
``max_piece_m``, bucketed by midpoint in a uniform grid. A refresh first *groups* the reports
that share a point and a kernel width (ACLED codes thousands of events at a few hundred
neighbourhood centroids): a group's kernel is integrated once and scaled by the summed weight
of its reports. For every group, the pieces in the grid cells its support disc covers are
candidates (a few contiguous runs per cell row, expanded without Python loops); the kernel is
integrated along each piece in closed form (``erf`` for the Gaussian, a cubic for
Epanechnikov) in fixed-size vectorised chunks, which bounds memory, and summed per segment.
No report x segment matrix is built: which reports explain a segment is computed on demand
(:meth:`RiskField.contributors`) from the group positions, indexed by kernel width.

Memory. Per piece the engine keeps its start, length and direction (float64) and its
segment (int32), plus int32 tables (cells, segments): 227 MB at 1M nodes, built block by
block (peak ~60 MB above that). A refresh accumulates one float64 row per segment for the
total and for each decay class; chunks and blocks of groups only hold sums over the
segments they reach.

Incremental. :meth:`RiskEngine.updated` adds, replaces or removes reports for the same ``at``
and adds or subtracts their kernels on the segments they reach (milliseconds); a segment that
loses nearly all its risk is recomputed from the live reports near it, so removing the last
report leaves exactly zero. :meth:`RiskEngine.compute` is the periodic full refresh that
applies time decay.

Projection. A full refresh also keeps the risk of each decay class (distinct half-life) per
segment, accumulated in the same pass, and when each report kernel stops counting (maximum
age, expiry); :meth:`RiskField.projected` carries the field to a later instant by decaying
each class (plus that instant's night factor) and subtracting the kernels that stopped
counting meanwhile, in milliseconds, valid until a report occurs or a zone starts or ends
(``RiskField.projectable_until``).
"""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree
from scipy.special import ndtr

from corridors.domain import Category, Incident, ReportStatus, RiskLevel, Zone, ZoneKind
from corridors.errors import InputError
from corridors.graph.model import RoadGraph
from corridors.risk.config import LevelThresholds, RiskModelConfig
from corridors.risk.explanations import (
    Contributors,
    Explained,
    ExplanationTable,
    WarmExplanations,
)
from corridors.risk.zones import EdgeIndex, edge_index_of

__all__ = ["RiskEngine", "RiskField"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
#: Indexes stored by the engine (int32 when they fit).
IndexArray = npt.NDArray[np.signedinteger[Any]]

_CATEGORIES: tuple[Category, ...] = tuple(Category)
_CATEGORY_CODE = {c: i for i, c in enumerate(_CATEGORIES)}
#: Candidate (group, piece) pairs integrated per vectorised chunk: ~20 float64 temporaries of
#: this length (~10 MB per thread) bound the memory of a refresh whatever the number of
#: reports, and stay cache-friendly.
_CHUNK_PAIRS = 1 << 16
#: Edges whose pieces are laid out per block while building the engine (bounds temporaries).
_BUILD_EDGES = 1 << 16
#: Pieces laid out per chunk when listing each segment's pieces.
_BUILD_PIECES = 1 << 18
#: Keys summed through a dense window while it is at most this many times their number.
_WINDOW_PER_KEY = 16
#: Groups laid out per block when listing their candidate runs of pieces.
_GROUP_BLOCK = 4096
#: Smallest cell of the piece grid, m (about one city block), and most cells in the grid.
_CELL_M = 100.0
_MAX_CELLS = 4_000_000
#: Kernel-width classes of the group index span supports within this ratio (few wasted pairs).
_CLASS_RATIO = 1.25
#: Segments explained per batch (:meth:`RiskEngine._explain_many`): at most, at first, and
#: the (piece, kernel) pairs a batch is sized for (~100 MB of temporaries).
_EXPLAIN_BATCH = 2048
_EXPLAIN_FIRST = 64
_EXPLAIN_PAIRS = 1 << 18
#: Slack on search radii, m: floating-point rounding must never drop a reachable piece.
_EPS_M = 1e-6
#: An update that leaves less than this share of a segment's risk recomputes it exactly
#: (the relative rounding error of a subtraction grows as the inverse of that share).
_CANCELLATION = 1e-3
#: A projection that takes away all but this share of a segment's risk (reports passing
#: their maximum age or expiring) recomputes it exactly: the per-class risks it starts from
#: are float32 (relative rounding ~1e-7 of the segment's risk before the subtraction), so a
#: kept share above this leaves a relative error below ~2e-6.
_PROJECTED_CANCELLATION = 0.05
#: Added reports kept beside the grouped entries before they are regrouped.
_MAX_EXTRA = 512
#: ``projectable_until`` of a field whose inputs never change after it.
_NEVER = datetime.max.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Grouped reports and the explanation state
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Groups:
    """Entries (report kernels) sharing a point and a width, and the entries in each group."""

    x_m: FloatArray
    y_m: FloatArray
    sigma_m: FloatArray
    support_m: FloatArray
    group_of: IntArray
    member_ptr: IntArray
    member_row: IntArray

    @property
    def count(self) -> int:
        return int(self.x_m.shape[0])


class _PointIndex:
    """Points with a reach each, in kD-trees per class of similar reach.

    :meth:`pairs` finds every (query point, indexed point) closer than the indexed point's
    reach plus a margin, with few wasted candidates even when reaches differ tenfold.
    """

    def __init__(self, x_m: FloatArray, y_m: FloatArray, reach_m: FloatArray) -> None:
        self.classes: list[tuple[cKDTree, IntArray, float]] = []
        order = np.argsort(reach_m, kind="stable")
        sorted_reach = reach_m[order]
        lo, n = 0, int(order.shape[0])
        while lo < n:
            hi = int(np.searchsorted(sorted_reach, sorted_reach[lo] * _CLASS_RATIO, "right"))
            hi = max(hi, lo + 1)
            ids = np.asarray(order[lo:hi], dtype=np.int64)
            tree = cKDTree(np.column_stack([x_m[ids], y_m[ids]]))
            self.classes.append((tree, ids, float(sorted_reach[hi - 1])))
            lo = hi

    def pairs(
        self, qx_m: FloatArray, qy_m: FloatArray, margin_m: float
    ) -> tuple[IntArray, IntArray]:
        """(query index, point index) of the pairs within the point's class reach + margin."""
        empty = np.zeros(0, dtype=np.int64)
        if not self.classes or qx_m.shape[0] == 0:
            return empty, empty.copy()
        queries = cKDTree(np.column_stack([qx_m, qy_m]))
        q_out: list[IntArray] = []
        p_out: list[IntArray] = []
        for tree, ids, reach in self.classes:
            found = queries.sparse_distance_matrix(
                tree, reach + margin_m + _EPS_M, output_type="ndarray"
            )
            q_out.append(np.asarray(found["i"], dtype=np.int64))
            p_out.append(ids[np.asarray(found["j"], dtype=np.int64)])
        return np.concatenate(q_out), np.concatenate(p_out)


_Entry = tuple[float, float, float, float]  # x, y, sigma, weight of one kernel


@dataclass(frozen=True, eq=False)
class _Lifetimes:
    """When each entry (kernel) stops counting: at its maximum age or its report's expiry.

    An entry counts at ``t`` (s since the epoch) while ``t - occurred_s <= max_age_s`` and
    ``t < expires_s`` (inf: never expires): the tests of :meth:`RiskEngine._weights`,
    evaluated alike so that a projection drops an entry exactly when a full compute would.
    """

    occurred_s: FloatArray
    max_age_s: FloatArray
    expires_s: FloatArray

    def counts_at(self, at_s: float) -> BoolArray:
        """(entries,) bool: the entry still counts at ``at_s``."""
        return np.asarray(
            ((at_s - self.occurred_s) <= self.max_age_s) & (self.expires_s > at_s), dtype=np.bool_
        )


@dataclass(frozen=True, eq=False)
class _Contributions:
    """The live reports of a field, grouped, with what it takes to explain any segment.

    A report has one or two *entries* (kernels): its acute term and, for the categories of
    the chronic term, its long-memory term, each with its own width and weight. Base entries
    (rows; ``report_of`` maps a row to its report in ``ids``, ``report_ptr``/``report_rows``
    a report to its rows) are grouped; ``alive`` marks the rows not removed since (None:
    all); ``dead`` counts the removed reports. ``extra`` holds reports added since, each
    entry its own group: ``id -> ((x, y, sigma, weight), ...)``. Never mutated: updates make
    a new object sharing the base arrays; ``shared`` (the index of base groups) is shared
    with them, ``cache`` is per object.
    """

    engine: RiskEngine
    ids: tuple[str, ...]
    index_of: Mapping[str, int]
    report_of: IntArray
    report_ptr: IntArray
    report_rows: IntArray
    weight: FloatArray
    groups: _Groups
    alive: BoolArray | None = None
    dead: int = 0
    extra: Mapping[str, tuple[_Entry, ...]] = field(default_factory=dict)
    # Decay class (index into the engine's ``_class_half_life_s``) and lifetime of each base
    # entry; None once regrouped after updates (such a field is not projected).
    decay_class: IntArray | None = None
    lifetimes: _Lifetimes | None = None
    shared: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.ids) - self.dead + len(self.extra)

    def rows_of(self, report: int) -> IntArray:
        """Base rows (entries) of the report with index ``report``."""
        return self.report_rows[self.report_ptr[report] : self.report_ptr[report + 1]]

    def live_weight(self) -> FloatArray:
        """Weight of each base entry, 0 for removed ones."""
        return self.weight if self.alive is None else np.where(self.alive, self.weight, 0.0)

    def group_weight(self) -> FloatArray:
        """Summed weight of the live entries of each base group."""
        value = self.cache.get("group_weight")
        if value is None:
            value = np.bincount(
                self.groups.group_of, weights=self.live_weight(), minlength=self.groups.count
            ).astype(np.float64)
            self.cache["group_weight"] = value
        return np.asarray(value, dtype=np.float64)

    def base_index(self) -> _PointIndex:
        index = self.shared.get("index")
        if index is None:
            g = self.groups
            index = _PointIndex(g.x_m, g.y_m, g.support_m)
            self.shared["index"] = index
        assert isinstance(index, _PointIndex)
        return index

    def report_name(self) -> Callable[[int], str]:
        """Id of a report index as explanations give it: the base reports' ``ids``, then
        the added ones (:meth:`extra_arrays`)."""
        ids, n_base = self.ids, len(self.ids)
        extra_ids = self.extra_ids()
        return lambda r: ids[r] if r < n_base else extra_ids[r - n_base]

    def extra_ids(self) -> tuple[str, ...]:
        """Ids of the added reports, in the order of :meth:`extra_arrays`."""
        return self.extra_arrays()[0] if self.extra else ()

    def extra_arrays(self) -> tuple[tuple[str, ...], FloatArray, IntArray]:
        """Ids of the added reports; their entries' (x, y, sigma, support, weight) as a
        (5, E) array; the index (into the ids) of each entry's report."""
        value = self.cache.get("extra")
        if value is None:
            ids = tuple(self.extra)
            entries = [e for rid in ids for e in self.extra[rid]]
            owner = np.repeat(
                np.arange(len(ids), dtype=np.int64), [len(self.extra[rid]) for rid in ids]
            )
            values = np.array(entries, dtype=np.float64).reshape(-1, 4).T
            support = self.engine._support(values[2])
            table = np.vstack([values[0], values[1], values[2], support, values[3]])
            value = (ids, table, owner, _PointIndex(table[0], table[1], table[3]))
            self.cache["extra"] = value
        return value[0], value[1], value[2]

    def extra_index(self) -> _PointIndex:
        self.extra_arrays()
        index = self.cache["extra"][3]
        assert isinstance(index, _PointIndex)
        return index

    def live_ids(self) -> frozenset[str]:
        if self.alive is None:
            base = set(self.ids)
        else:
            live = np.unique(self.report_of[self.alive])
            base = {self.ids[int(k)] for k in live}
        return frozenset(base | set(self.extra))


def _risk_on_edges(
    segment_risk: FloatArray,
    edge_segment: IndexArray,
    floor: FloatArray | None,
    multiplier: FloatArray | None,
    night: float,
    edges: IntArray | None = None,
) -> FloatArray:
    """``max(segment risk, floor) * multiplier * night`` per edge, of every edge or of
    ``edges`` (no edge-sized temporary besides the result); ``floor`` and ``multiplier``
    are the caution zones' (None: none)."""
    risk = segment_risk[edge_segment if edges is None else edge_segment[edges]]
    if floor is not None:
        np.maximum(risk, floor if edges is None else floor[edges], out=risk)
    if multiplier is not None:
        risk *= multiplier if edges is None else multiplier[edges]
    if night != 1.0:
        risk *= night
    return risk


@dataclass(frozen=True, eq=False)
class RiskField:
    """Risk on every directed edge at one instant, with its explanation.

    Attributes
    ----------
    edge_risk_per_km
        (m,) float64: expected weighted incidents per km on each edge, zones and night applied
        (a function of the segments' risk, the zones and night: a field projected to another
        instant makes it only when read whole; :meth:`edge_risk_of` reads a few edges).
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
    projectable_until
        :meth:`projected` is exact for ``computed_at <= at < projectable_until``: the first
        instant after ``computed_at`` at which a report given to :meth:`RiskEngine.compute`
        occurs or a zone given to it starts or ends (``datetime.max`` in UTC: never); reports
        that expire or pass their maximum age meanwhile are handled by the projection. None:
        the field cannot be projected (made by :meth:`RiskEngine.updated`).

    Notes
    -----
    Projection state: a field from :meth:`RiskEngine.compute` also keeps the risk per
    segment of each *decay class* present (the distinct half-lives: the categories' acute
    half-lives and the chronic one) at ``computed_at``, as float32: classes x segments x 4
    bytes (at most 10 x 4 bytes per segment with the shipped model, e.g. 2.4 MB for 60,000
    segments).
    """

    _edge_risk: FloatArray | None = field(repr=False)  # None: not made yet
    edge_blocked: BoolArray
    edge_zone: Int32Array
    zone_ids: tuple[str, ...]
    computed_at: datetime
    reports_considered: int
    config_version: str
    night_factor: float
    segment_risk_per_km: FloatArray
    edge_segment: IndexArray
    levels: LevelThresholds
    _contributions: _Contributions = field(repr=False)
    # Caution zones' multiplier and floor per edge (night apart); None: no caution zone
    # (1 and 0 everywhere). Shared by the fields derived from this one.
    _zone_multiplier: FloatArray | None = field(repr=False)
    _zone_floor: FloatArray | None = field(repr=False)
    projectable_until: datetime | None = None
    # Risk per km of each decay class present at ``_class_at`` (the full refresh this field
    # descends from), (classes, segments) float32, and the classes' half-lives, s (None: not
    # projectable).
    _class_risk: Float32Array | None = field(default=None, repr=False)
    _class_half_life_s: FloatArray | None = field(default=None, repr=False)
    _class_at: datetime | None = field(default=None, repr=False)
    # Explanations asked for so far, by (segment, top): routes and map layers of one
    # snapshot ask about the same hot segments again and again. Not an init field, so
    # ``dataclasses.replace`` starts a fresh one for a changed field.
    _explained: dict[tuple[int, int], list[tuple[str, float]]] = field(
        default_factory=dict, init=False, repr=False
    )
    # Explanations of the hot segments computed ahead (risk.explanations), shared with the
    # fields derived at the same instant; ``_stale`` marks the segments whose reports
    # changed since the field they were computed for (None: this is that field).
    _warm: WarmExplanations = field(default_factory=WarmExplanations, repr=False)
    _stale: BoolArray | None = field(default=None, repr=False)

    @property
    def edge_risk_per_km(self) -> FloatArray:
        """Risk per km of every directed edge, ``float64[m]`` (made on first read when the
        field was projected: at 1M nodes, 21 MB that a departure time tried for a few
        routes never needs)."""
        risk = self._edge_risk
        if risk is None:
            risk = self._risk_from_segments()
            object.__setattr__(self, "_edge_risk", risk)
        return risk

    def edge_risk_of(self, edges: IntArray) -> FloatArray:
        """Risk per km of ``edges`` (without making the whole array)."""
        if self._edge_risk is not None:
            return self._edge_risk[edges]
        return self._risk_from_segments(edges)

    def edge_risk(self, edge: int) -> float:
        """Risk per km of one edge."""
        return float(self.edge_risk_of(np.array([edge]))[0])

    def _risk_from_segments(self, edges: IntArray | None = None) -> FloatArray:
        return _risk_on_edges(
            self.segment_risk_per_km,
            self.edge_segment,
            self._zone_floor,
            self._zone_multiplier,
            self.night_factor,
            edges,
        )

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
            (before zones and night, which scale every report alike); ties by id.
        """
        return self.contributors_many(np.array([edge], dtype=np.int64), top=top)[0]

    def contributors_many(self, edges: IntArray, top: int = 3) -> list[list[tuple[str, float]]]:
        """:meth:`contributors` of many edges at once (vectorised; for map layers).

        Parameters
        ----------
        edges
            Directed edge indexes.
        top
            How many reports to return per edge at most.

        Returns
        -------
        list of list of (report id, share)
            One list per edge, in the order of ``edges``.
        """
        return self.contributor_entries(edges, top).lists()

    def contributor_entries(self, edges: IntArray, top: int = 3) -> Contributors:
        """:meth:`contributors_many` as flat arrays (route hotspots sum them by report).

        Read from the explanation table (:meth:`warm_explanations`) where it answers;
        segments it lacks, or that reports added or removed since reach, are explained
        here, once per field.
        """
        edges = np.asarray(edges, dtype=np.int64)
        segments = self.edge_segment[edges]
        table = self._warm.table
        usable = None if self._stale is None else ~self._stale[segments]
        if table is None:
            found = np.zeros(segments.shape[0], dtype=np.bool_)
            counts, ids, shares = np.zeros(0, dtype=np.int64), [], np.zeros(0)
        else:
            found, known = table.entries(segments, top, usable)
            if found.all():
                return known
            counts, ids, shares = known.counts, known.ids, known.shares
        rest = np.flatnonzero(~found)
        answers = self._explained_on_demand(segments[rest], top)
        all_counts = np.zeros(segments.shape[0], dtype=np.int64)
        all_counts[found] = counts
        rest_counts = np.fromiter(map(len, answers), dtype=np.int64, count=len(answers))
        all_counts[rest] = rest_counts
        # Entries in edge order: the table's and the others' are each in order already.
        owner = np.concatenate(
            [np.repeat(np.flatnonzero(found), counts), np.repeat(rest, rest_counts)]
        )
        order = np.argsort(owner, kind="stable").tolist()
        merged_ids = [*ids, *(rid for answer in answers for rid, _ in answer)]
        merged_shares = np.concatenate(
            [shares, np.fromiter((v for answer in answers for _, v in answer), dtype=np.float64)]
        )
        return Contributors.of_ids(all_counts, [merged_ids[i] for i in order], merged_shares[order])

    def _explained_on_demand(self, segments: IntArray, top: int) -> list[list[tuple[str, float]]]:
        """The top ``top`` of each of ``segments``, explained here (memoised per field)."""
        memo = self._explained
        missing = np.unique([s for s in segments.tolist() if (s, top) not in memo])
        if missing.shape[0]:
            c = self._contributions
            missing = missing.astype(np.int64)
            explained = c.engine._explain_many(c, missing, top)
            assert explained is not None  # never cancelled
            answers = explained.lists(c.report_name())
            for segment, answer in zip(missing.tolist(), answers, strict=True):
                memo[(segment, top)] = answer
        return [memo[(s, top)] for s in segments.tolist()]

    def warm_explanations(
        self, top: int = 3, *, cancelled: Callable[[], bool] | None = None
    ) -> int:
        """Explain every high-risk segment now, for this field and those derived from it.

        Returns the number of segments explained: 0 when the field's explanations were
        warmed (or are being warmed) already, or when the field is derived from another
        (whose table it shares). Safe to call from a background thread while requests
        read the field: they explain on demand until the table is complete. ``cancelled``
        is asked between batches; when it says so, the field stays without a table.
        """
        if self._stale is not None or not self._warm.claim():
            return 0
        hot = np.flatnonzero(self.edge_risk_per_km >= self.levels.high)
        segments = np.unique(self.edge_segment[hot]).astype(np.int64)
        c = self._contributions
        explained = c.engine._explain_many(c, segments, top, cancelled)
        if explained is None:
            self._warm.release()
            return 0
        names = (*c.ids, *c.extra_ids())
        self._warm.table = ExplanationTable.build(top, segments, explained, names)
        return int(segments.shape[0])

    @property
    def explanation_table(self) -> ExplanationTable | None:
        """The explanations computed ahead (:meth:`warm_explanations`), if any yet."""
        return self._warm.table

    def level_of(self, risk_per_km: float) -> RiskLevel:
        """Level of a risk value (1/km) under this field's model."""
        return self.levels.level_of(risk_per_km)

    def edge_level(self, edge: int) -> RiskLevel:
        """Level of one edge's risk."""
        return self.levels.level_of(self.edge_risk(edge))

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
        return self._contributions.live_ids()

    def can_project(self, at: datetime) -> bool:
        """True when :meth:`projected` gives the field at ``at`` (see ``projectable_until``)."""
        _check_aware(at)
        until = self.projectable_until
        return until is not None and self.computed_at <= at < until

    def projected(self, at: datetime) -> RiskField:
        """This field carried forward to a later instant, without a full refresh.

        Before ``projectable_until`` no report occurs and no zone starts or ends, so a
        report's weight only decays until it stops counting (maximum age or expiry): the risk
        per km of a segment at ``at`` is ``sum_k R_k * 2 ** (-(at - t0) / h_k)`` over the
        decay classes ``k`` (the distinct half-lives ``h_k``), from the per-class risks kept
        by the full refresh at ``t0``, minus the decayed kernels of the reports that stopped
        counting since ``t0`` (a segment left with under 5 % of its risk is recomputed from
        the live reports near it); the night factor is that of ``at`` and the zones act as
        in this field. Equal to :meth:`RiskEngine.compute` at ``at`` up to float32 rounding
        (relative ~2e-6); costs classes x segments multiply-adds (about a millisecond for
        10,000 segments) plus the kernels that stopped counting (a few milliseconds per
        hundred). Explanations (:meth:`contributors`) stay exact: the reports' weights are
        decayed too and the ended ones dropped.

        Parameters
        ----------
        at
            Aware instant, ``computed_at <= at < projectable_until``.

        Returns
        -------
        RiskField
            The field at ``at``; itself projectable up to the same ``projectable_until``.

        Raises
        ------
        InputError
            ``at`` is naive.
        ValueError
            The field cannot be projected to ``at`` (:meth:`can_project` is False): compute
            a full field instead.
        """
        if not self.can_project(at):
            raise ValueError(
                f"risk field of {self.computed_at.isoformat()} cannot be projected to "
                f"{at.isoformat()} (projectable until {self.projectable_until}): recompute"
            )
        return self._contributions.engine.project(self, at)


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pieces:
    """Straight pieces of segments: start (m), length (m), unit direction, segment."""

    x0: FloatArray
    y0: FloatArray
    length: FloatArray
    ux: FloatArray
    uy: FloatArray
    segment: IndexArray

    @property
    def count(self) -> int:
        return int(self.length.shape[0])

    def midpoints(self) -> tuple[FloatArray, FloatArray]:
        """The pieces' midpoints, m."""
        return self.x0 + self.ux * self.length / 2, self.y0 + self.uy * self.length / 2


@dataclass(frozen=True)
class _Weights:
    """Per report: weight and kernel width of the acute and chronic terms at one instant,
    occurrence and expiry (s since the epoch, inf: never) and each term's maximum age, s;
    the first occurrence after that instant (inf: none)."""

    acute: FloatArray
    sigma_m: FloatArray
    chronic: FloatArray
    chronic_sigma_m: FloatArray
    occurred_s: FloatArray
    expires_s: FloatArray
    max_age_s: FloatArray
    chronic_max_age_s: FloatArray
    next_occurrence_s: float


@dataclass(frozen=True)
class _Reports:
    """Reports that count at one instant, as arrays of their kernels (entries).

    ``ids`` are the reports; ``report_of`` maps each entry to its report (acute entries
    first, then chronic ones).
    """

    ids: tuple[str, ...]
    report_of: IntArray
    x_m: FloatArray
    y_m: FloatArray
    weight: FloatArray
    sigma_m: FloatArray
    decay_class: IntArray
    lifetimes: _Lifetimes
    next_occurrence_s: float


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
    workers
        Threads of a full refresh (None: up to 2, the CPUs available). Results do not depend
        on it.
    """

    def __init__(
        self,
        graph: RoadGraph,
        config: RiskModelConfig,
        *,
        max_piece_m: float = 150.0,
        workers: int | None = None,
    ):
        if max_piece_m <= 0:
            raise ValueError("max_piece_m must be positive")
        if workers is not None and workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers if workers is not None else max(1, min(2, os.cpu_count() or 1))
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
        chronic = config.chronic
        self._cat_chronic = np.array(
            [chronic.enabled and c in chronic.categories for c in _CATEGORIES], dtype=bool
        )
        # Decay classes: the distinct half-lives (acute per category, then the chronic one).
        half_lives = np.append(self._cat_half_life_s, chronic.half_life_h * 3600.0)
        self._class_half_life_s, class_of = np.unique(half_lives, return_inverse=True)
        class_of = np.asarray(class_of, dtype=np.int64).ravel()
        self._cat_class: IntArray = class_of[:-1]
        self._chronic_class = int(class_of[-1])

    # -- precomputation --------------------------------------------------------------------

    def _build_segments(self) -> None:
        m = self.graph.edge_count
        index_type = _index_type(m)
        reverse = np.asarray(self.graph.edge_reverse)
        # Canonical edge of each edge: the lower index of a two-way pair.
        canon = np.arange(m, dtype=index_type)
        two_way = np.flatnonzero(reverse >= 0)
        canon[two_way] = np.minimum(two_way, reverse[two_way])
        del two_way
        is_canon = np.zeros(m, dtype=bool)
        is_canon[canon] = True
        #: segment -> the edge whose geometry represents it; edge -> undirected segment.
        self.segment_edge: IndexArray = np.flatnonzero(is_canon).astype(index_type)
        self.segment_count = int(self.segment_edge.shape[0])
        rank = np.cumsum(is_canon, dtype=index_type)
        rank -= 1
        del is_canon
        self.edge_segment: IndexArray = rank[canon]

    def _build_pieces(self) -> None:
        """Cut canonical edges into straight pieces sorted by the grid cell of their midpoint.

        Three passes over blocks of edges, each recomputing the blocks' pieces (cheap),
        so that only the final arrays are ever held whole: the midpoints' extent (hence the
        grid), the pieces per cell, then each piece placed at its position in cell order
        (geometry order within a cell).
        """
        g = self.graph
        m = g.edge_count
        seg_of_canon = np.full(m, -1, dtype=_index_type(m))
        seg_of_canon[self.segment_edge] = np.arange(self.segment_count)
        spans = [(lo, min(m, lo + _BUILD_EDGES)) for lo in range(0, m, _BUILD_EDGES)]
        self.segment_length_m: FloatArray = np.zeros(self.segment_count)
        n, longest = 0, 0.0
        x0 = y0 = math.inf
        x1 = y1 = -math.inf
        for lo, hi in spans:
            p = self._block_pieces(lo, hi, seg_of_canon, add_lengths=True)
            if p.count:
                n += p.count
                longest = max(longest, float(p.length.max()))
                mid_x, mid_y = p.midpoints()
                x0, x1 = min(x0, float(mid_x.min())), max(x1, float(mid_x.max()))
                y0, y1 = min(y0, float(mid_y.min())), max(y1, float(mid_y.max()))
        self._piece_half = longest / 2
        if n:
            width, height = x1 - x0, y1 - y0
        else:
            x0 = y0 = width = height = 0.0
        cell = max(_CELL_M, math.sqrt(width * height / _MAX_CELLS))
        self._grid_x0, self._grid_y0, self._cell_m = x0, y0, cell
        self._grid_cols, self._grid_rows = int(width // cell) + 1, int(height // cell) + 1
        cells = self._grid_cols * self._grid_rows
        counts = np.zeros(cells, dtype=np.int64)
        for lo, hi in spans:
            counts += np.bincount(
                self._cell_of(self._block_pieces(lo, hi, seg_of_canon)), minlength=cells
            )
        ptr = np.concatenate([[0], np.cumsum(counts)])
        del counts
        self._cell_ptr: IndexArray = ptr.astype(_index_type(n))
        self._piece_x0: FloatArray = np.empty(n)
        self._piece_y0: FloatArray = np.empty(n)
        self._piece_len: FloatArray = np.empty(n)
        self._piece_ux: FloatArray = np.empty(n)
        self._piece_uy: FloatArray = np.empty(n)
        self._piece_seg: IndexArray = np.empty(n, dtype=_index_type(m))
        free = ptr[:-1]
        for lo, hi in spans:
            p = self._block_pieces(lo, hi, seg_of_canon)
            at = _stable_positions(self._cell_of(p), free)
            self._piece_x0[at] = p.x0
            self._piece_y0[at] = p.y0
            self._piece_len[at] = p.length
            self._piece_ux[at] = p.ux
            self._piece_uy[at] = p.uy
            self._piece_seg[at] = p.segment
        del free, ptr
        # segment -> its pieces (ascending), as a CSR.
        counts = np.bincount(self._piece_seg, minlength=self.segment_count)
        ptr = np.concatenate([[0], np.cumsum(counts)])
        del counts
        self._seg_piece_ptr: IndexArray = ptr.astype(_index_type(n))
        self._seg_pieces: IndexArray = np.empty(n, dtype=_index_type(n))
        free = ptr[:-1]
        for lo in range(0, n, _BUILD_PIECES):
            at = _stable_positions(self._piece_seg[lo : lo + _BUILD_PIECES], free)
            self._seg_pieces[at] = np.arange(lo, lo + at.shape[0])

    def _block_pieces(
        self, lo: int, hi: int, seg_of_canon: IndexArray, *, add_lengths: bool = False
    ) -> _Pieces:
        """Pieces of the canonical edges among ``lo:hi``, in geometry order.

        With ``add_lengths``, adds the block's sub-segment lengths to ``segment_length_m``.
        """
        g = self.graph
        offsets = np.asarray(g.geometry_offsets[lo : hi + 1], dtype=np.int64)
        v0, v1 = int(offsets[0]), int(offsets[-1])
        x, y = self.projection.to_xy(g.geometry_lon[v0:v1], g.geometry_lat[v0:v1])
        vertex_edge = np.repeat(np.arange(lo, hi, dtype=np.int64), np.diff(offsets))
        # Straight sub-segments between consecutive vertices of canonical edges.
        start = np.flatnonzero(vertex_edge[:-1] == vertex_edge[1:])
        seg = seg_of_canon[vertex_edge[start]]
        del vertex_edge
        start, seg = start[seg >= 0], seg[seg >= 0]
        x0, y0 = x[start], y[start]
        dx, dy = x[start + 1] - x0, y[start + 1] - y0
        del x, y, start
        length = np.hypot(dx, dy)
        if add_lengths and seg.shape[0]:
            # A segment's sub-segments all lie in this block: its sum is complete here.
            base = int(seg.min())
            part = np.bincount(seg - base, weights=length)
            self.segment_length_m[base : base + part.shape[0]] += part
        nonzero = length > 0
        x0, y0, dx, dy, length = (v[nonzero] for v in (x0, y0, dx, dy, length))
        seg = seg[nonzero]
        # Cut into pieces of at most max_piece_m.
        n_pieces = np.maximum(1, np.ceil(length / self.max_piece_m)).astype(np.int64)
        owner = np.repeat(np.arange(length.shape[0]), n_pieces)
        first = np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
        k = np.arange(owner.shape[0]) - first
        del first
        frac0 = k / n_pieces[owner]
        frac1 = (k + 1) / n_pieces[owner]
        del k
        return _Pieces(
            x0=x0[owner] + dx[owner] * frac0,
            y0=y0[owner] + dy[owner] * frac0,
            length=length[owner] * (frac1 - frac0),
            ux=dx[owner] / length[owner],
            uy=dy[owner] / length[owner],
            segment=seg[owner],
        )

    def _cell_of(self, pieces: _Pieces) -> IntArray:
        """Grid cell of each piece's midpoint."""
        mid_x, mid_y = pieces.midpoints()
        cell, cols = self._cell_m, self._grid_cols
        code = np.minimum((mid_y - self._grid_y0) // cell, self._grid_rows - 1).astype(np.int64)
        code *= cols
        code += np.minimum((mid_x - self._grid_x0) // cell, cols - 1).astype(np.int64)
        return code

    @property
    def _seg_inv_km(self) -> FloatArray:
        """1 / km of every segment (0 for zero-length ones)."""
        return self._inv_km(slice(None))

    def _inv_km(self, segments: IndexArray | slice) -> FloatArray:
        """1 / km of the given segments (0 for zero-length ones); not stored (16 MB at 1M)."""
        length = self.segment_length_m[segments]
        with np.errstate(divide="ignore"):
            return np.where(length > 0, 1000.0 / length, 0.0)

    @property
    def edge_index(self) -> EdgeIndex:
        """Grid index of edge geometries (built on first use; shared with :mod:`.zones`)."""
        if self._edge_index is None:
            self._edge_index = edge_index_of(self.graph)
        return self._edge_index

    # -- weights -----------------------------------------------------------------------------

    def report_weights(
        self,
        incidents: Sequence[Incident],
        *,
        at: datetime,
        term: Literal["total", "acute", "chronic"] = "total",
    ) -> FloatArray:
        """Weight of each report at ``at`` (0 for reports that do not count).

        The acute term counts when the report occurred at or before ``at``, is not
        retracted, has not expired (``expires_at > at`` or none), is younger than
        ``max_age_half_lives`` half-lives of its category and is located within
        ``max_uncertainty_m``. The chronic term (``[chronic]`` in the model) counts under the
        same rules with its own half-life and uncertainty limit, for its categories only.

        Parameters
        ----------
        incidents
            The reports.
        at
            Aware instant.
        term
            ``"acute"``, ``"chronic"`` or their sum ``"total"``.

        Returns
        -------
        FloatArray
            Dimensionless weights, one per incident, in input order.
        """
        _check_aware(at)
        w = self._weights(incidents, at)
        if term == "acute":
            return w.acute
        if term == "chronic":
            return w.chronic
        return w.acute + w.chronic

    def _weights(self, incidents: Sequence[Incident], at: datetime) -> _Weights:
        """Both terms' weight, kernel width and lifetime of each report at ``at``."""
        cfg = self.config
        n = len(incidents)
        if n == 0:
            e = np.zeros(0)
            return _Weights(e, e, e, e, e, e, e, e, math.inf)
        at_s = at.timestamp()
        occurred = np.fromiter((i.occurred_at.timestamp() for i in incidents), float, n)
        expires = np.fromiter(
            (math.inf if i.expires_at is None else i.expires_at.timestamp() for i in incidents),
            float,
            n,
        )
        cat = np.fromiter((_CATEGORY_CODE[i.category] for i in incidents), np.int64, n)
        uncertainty = np.fromiter((max(0.0, float(i.uncertainty_m)) for i in incidents), float, n)
        # Few distinct (severity, fatalities, grades, status) combinations: look each up once.
        memo: dict[tuple[object, ...], float] = {}

        def factor(i: Incident) -> float:
            key = (i.severity, i.fatalities, i.source_reliability, i.credibility, i.status)
            value = memo.get(key)
            if value is None:
                value = (
                    cfg.severity_factor(i.severity)
                    * cfg.fatalities.factor(i.fatalities)
                    * cfg.reliability_factor(i.source_reliability)
                    * cfg.credibility_factor(i.credibility)
                    * cfg.status[ReportStatus(i.status)]
                )
                memo[key] = value
            return value

        fresh = self._cat_base[cat] * np.fromiter(map(factor, incidents), float, n)
        age_s = at_s - occurred
        live = (age_s >= 0) & (expires > at_s)
        half_life_s = self._cat_half_life_s[cat]
        counts = (
            live
            & (age_s <= cfg.max_age_half_lives * half_life_s)
            & (uncertainty <= cfg.max_uncertainty_m)
        )
        decay = np.exp2(-np.where(counts, age_s, 0.0) / half_life_s)
        weight = np.where(counts, fresh * decay, 0.0)
        sigma = np.hypot(self._cat_sigma[cat], cfg.uncertainty_to_sigma * uncertainty)
        chronic = cfg.chronic
        long_s = chronic.half_life_h * 3600.0
        long_counts = (
            live
            & self._cat_chronic[cat]
            & (age_s <= cfg.max_age_half_lives * long_s)
            & (uncertainty <= chronic.max_uncertainty_m)
        )
        long_decay = np.exp2(-np.where(long_counts, age_s, 0.0) / long_s)
        long_weight = np.where(long_counts, chronic.weight * fresh * long_decay, 0.0)
        long_sigma = np.hypot(chronic.sigma_m, chronic.uncertainty_to_sigma * uncertainty)
        later = occurred[age_s < 0]
        return _Weights(
            acute=weight,
            sigma_m=sigma,
            chronic=long_weight,
            chronic_sigma_m=long_sigma,
            occurred_s=occurred,
            expires_s=expires,
            max_age_s=cfg.max_age_half_lives * half_life_s,
            chronic_max_age_s=np.full(n, cfg.max_age_half_lives * long_s),
            next_occurrence_s=float(later.min()) if later.shape[0] else math.inf,
        )

    def _reports(self, incidents: Sequence[Incident], at: datetime) -> _Reports:
        w = self._weights(incidents, at)
        weight, sigma, long_weight, long_sigma = w.acute, w.sigma_m, w.chronic, w.chronic_sigma_m
        keep = np.flatnonzero((weight > 0) | (long_weight > 0))
        lon = np.fromiter((incidents[int(k)].lon for k in keep), float, keep.shape[0])
        lat = np.fromiter((incidents[int(k)].lat for k in keep), float, keep.shape[0])
        x, y = self.projection.to_xy(lon, lat)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        ids = tuple(incidents[int(k)].id for k in keep)
        acute = np.flatnonzero(weight[keep] > 0)
        chronic = np.flatnonzero(long_weight[keep] > 0)
        occurred, expires = w.occurred_s[keep], w.expires_s[keep]
        lifetimes = _Lifetimes(
            occurred_s=np.concatenate([occurred[acute], occurred[chronic]]),
            max_age_s=np.concatenate(
                [w.max_age_s[keep][acute], w.chronic_max_age_s[keep][chronic]]
            ),
            expires_s=np.concatenate([expires[acute], expires[chronic]]),
        )
        return _Reports(
            ids,
            np.concatenate([acute, chronic]).astype(np.int64),
            np.concatenate([x[acute], x[chronic]]),
            np.concatenate([y[acute], y[chronic]]),
            np.concatenate([weight[keep][acute], long_weight[keep][chronic]]),
            np.concatenate([sigma[keep][acute], long_sigma[keep][chronic]]),
            np.concatenate(
                [
                    self._cat_class[[_CATEGORY_CODE[incidents[int(k)].category] for k in keep]][
                        acute
                    ],
                    np.full(chronic.shape[0], self._chronic_class, dtype=np.int64),
                ]
            ).astype(np.int64),
            lifetimes,
            w.next_occurrence_s,
        )

    # -- grouping ----------------------------------------------------------------------------

    def _contributions_from(self, reports: _Reports) -> _Contributions:
        """:meth:`_contributions_of` the entries of a full compute's reports."""
        return self._contributions_of(
            reports.ids,
            reports.report_of,
            reports.x_m,
            reports.y_m,
            reports.weight,
            reports.sigma_m,
            reports.decay_class,
            reports.lifetimes,
        )

    def _contributions_of(
        self,
        ids: tuple[str, ...],
        report_of: IntArray,
        x_m: FloatArray,
        y_m: FloatArray,
        weight: FloatArray,
        sigma_m: FloatArray,
        decay_class: IntArray | None = None,
        lifetimes: _Lifetimes | None = None,
    ) -> _Contributions:
        """Group entries by (point, kernel width), groups in grid-cell order (cache locality).

        ``report_of`` maps each entry (kernel) to its report in ``ids``; ``decay_class`` and
        ``lifetimes`` are each entry's decay class and lifetime (kept for projection).
        """
        n = int(weight.shape[0])
        cell = self._cell_m
        code = np.clip((y_m - self._grid_y0) // cell, 0, self._grid_rows) * (
            self._grid_cols + 1
        ) + np.clip((x_m - self._grid_x0) // cell, 0, self._grid_cols)
        order = np.lexsort((sigma_m, y_m, x_m, code))
        xs, ys, ss = x_m[order], y_m[order], sigma_m[order]
        first = np.ones(n, dtype=bool)
        first[1:] = (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1]) | (ss[1:] != ss[:-1])
        starts = np.flatnonzero(first)
        group_of = np.empty(n, dtype=np.int64)
        group_of[order] = np.cumsum(first) - 1
        groups = _Groups(
            x_m=xs[starts],
            y_m=ys[starts],
            sigma_m=ss[starts],
            support_m=self._support(ss[starts]),
            group_of=group_of,
            member_ptr=np.append(starts, n).astype(np.int64),
            member_row=order.astype(np.int64),
        )
        report_of = np.asarray(report_of, dtype=np.int64)
        by_report = np.argsort(report_of, kind="stable").astype(np.int64)
        report_ptr = np.concatenate(
            [[0], np.cumsum(np.bincount(report_of, minlength=len(ids)))]
        ).astype(np.int64)
        return _Contributions(
            engine=self,
            ids=ids,
            index_of={rid: k for k, rid in enumerate(ids)},
            report_of=report_of,
            report_ptr=report_ptr,
            report_rows=by_report,
            weight=weight,
            groups=groups,
            decay_class=decay_class,
            lifetimes=lifetimes,
        )

    def _consolidate(self, c: _Contributions) -> _Contributions:
        """Regroup the live base entries and the added ones into fresh base groups."""
        rows = np.arange(len(c.weight)) if c.alive is None else np.flatnonzero(c.alive)
        g = c.groups
        gid = g.group_of[rows]
        live, report_of = np.unique(c.report_of[rows], return_inverse=True)
        extra_ids, table, owner = c.extra_arrays() if c.extra else ((), np.zeros((5, 0)), None)
        extra_of = np.zeros(0, dtype=np.int64) if owner is None else owner + live.shape[0]
        return self._contributions_of(
            tuple([c.ids[int(k)] for k in live] + list(extra_ids)),
            np.concatenate([report_of.ravel(), extra_of]),
            np.concatenate([g.x_m[gid], table[0]]),
            np.concatenate([g.y_m[gid], table[1]]),
            np.concatenate([c.weight[rows], table[4]]),
            np.concatenate([g.sigma_m[gid], table[2]]),
        )

    # -- spatial spread ----------------------------------------------------------------------

    def _candidates(
        self, x_m: FloatArray, y_m: FloatArray, radius_m: FloatArray
    ) -> Iterator[tuple[IntArray, IntArray]]:
        """(point, piece) candidate pairs in chunks of about ``_CHUNK_PAIRS``.

        A candidate piece has its midpoint in a grid cell that the disc of ``radius_m``
        around the point overlaps: per cell row, one contiguous run of pieces.
        """
        cell, cols, rows = self._cell_m, self._grid_cols, self._grid_rows
        if self._piece_len.shape[0] == 0:
            return
        for lo in range(0, int(x_m.shape[0]), _GROUP_BLOCK):
            x, y = x_m[lo : lo + _GROUP_BLOCK], y_m[lo : lo + _GROUP_BLOCK]
            r = radius_m[lo : lo + _GROUP_BLOCK]
            row0 = np.maximum((y - r - self._grid_y0) // cell, 0).astype(np.int64)
            row1 = np.minimum((y + r - self._grid_y0) // cell, rows - 1).astype(np.int64)
            n_rows = np.maximum(row1 - row0 + 1, 0)
            who = np.repeat(np.arange(x.shape[0], dtype=np.int64), n_rows)
            row = (
                row0[who] + np.arange(who.shape[0]) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
            )
            # Half-width of the disc over the band of this cell row.
            band = self._grid_y0 + row * cell
            dy = np.maximum(np.maximum(band - y[who], y[who] - band - cell), 0.0)
            rw = r[who]
            half = np.sqrt(np.maximum(rw * rw - dy * dy, 0.0))
            col0 = np.maximum((x[who] - half - self._grid_x0) // cell, 0).astype(np.int64)
            col1 = np.minimum((x[who] + half - self._grid_x0) // cell, cols - 1).astype(np.int64)
            ok = col0 <= col1
            base = row * cols
            start = self._cell_ptr[np.where(ok, base + col0, 0)]
            count = np.where(ok, self._cell_ptr[np.where(ok, base + col1 + 1, 0)] - start, 0)
            total = np.cumsum(count)
            if total.shape[0] == 0 or total[-1] == 0:
                continue
            cuts = np.searchsorted(total, np.arange(_CHUNK_PAIRS, int(total[-1]), _CHUNK_PAIRS))
            bounds = [0, *np.unique(cuts + 1).tolist(), int(total.shape[0])]
            for a, b in itertools.pairwise(bounds):
                if b <= a:
                    continue
                cnt = count[a:b]
                size = int(cnt.sum())
                if size == 0:
                    continue
                shift = np.repeat(start[a:b] - (np.cumsum(cnt) - cnt), cnt)
                piece = shift + np.arange(size, dtype=np.int64)
                yield lo + np.repeat(who[a:b], cnt), piece

    def _unit_values(
        self,
        x_m: FloatArray,
        y_m: FloatArray,
        sigma_m: FloatArray,
        support_m: FloatArray,
        point: IntArray,
        piece: IntArray,
    ) -> FloatArray:
        """Unit-weight kernel integrated along each (point, piece) pair (dimensionless, >= 0).

        The kernel, cut off at the support ``R``, is integrated in closed form along the
        straight piece: with ``d`` the distance from the point to the piece's line and
        ``[a, b]`` the piece's extent along it (from the foot of the perpendicular, clipped to
        the chord ``|t| <= sqrt(R^2 - d^2)``), the Gaussian gives ``exp(-d^2 / 2 s^2)
        (Phi(b / s) - Phi(a / s))`` and the Epanechnikov ``3 / 4R^3 (b - a) (R^2 - d^2 -
        (a^2 + ab + b^2) / 3)``; pieces out of reach get ``b <= a``, hence 0.
        """
        ux, uy = self._piece_ux[piece], self._piece_uy[piece]
        vx = x_m[point]
        vx -= self._piece_x0[piece]
        vy = y_m[point]
        vy -= self._piece_y0[piece]
        along = vx * ux
        along += vy * uy
        cross = vx * uy
        cross -= vy * ux
        perp2 = np.square(cross, out=cross)
        reach = support_m[point]
        chord2 = reach * reach
        chord2 -= perp2
        np.maximum(chord2, 0.0, out=chord2)
        half_chord = np.sqrt(chord2)
        b = self._piece_len[piece] - along
        np.minimum(b, half_chord, out=b)
        np.negative(along, out=along)
        np.negative(half_chord, out=half_chord)
        a = np.maximum(along, half_chord, out=along)
        if self.config.kernel.shape == "gaussian":
            inv_sigma = 1.0 / sigma_m[point]
            b *= inv_sigma
            a *= inv_sigma
            value = ndtr(b)
            value -= ndtr(a)
            inv_sigma *= inv_sigma
            inv_sigma *= -0.5
            perp2 *= inv_sigma
            value *= np.exp(perp2, out=perp2)
            return np.asarray(np.maximum(value, 0.0, out=value), dtype=np.float64)
        width = np.maximum(b - a, 0.0)
        inner = a * a
        inner += a * b
        inner += b * b
        inner /= 3.0
        np.subtract(chord2, inner, out=inner)
        inner *= width
        inner *= 0.75 / reach**3
        return np.asarray(np.maximum(inner, 0.0, out=inner), dtype=np.float64)

    def _group_values(
        self, c: _Contributions, group_weight: FloatArray, *, by_class: bool = False
    ) -> tuple[FloatArray, Float32Array | None]:
        """Risk per km of every segment from the base groups weighted by ``group_weight``.

        With ``by_class`` (and ``c.decay_class`` set), also the risk per km of each decay
        class in ``classes`` = ``np.unique(c.decay_class)``, as a (classes, segments) float32
        array, accumulated in the same pass from the per-class summed weights of each group;
        the total is computed exactly as without it.

        Blocks of groups go to ``workers`` threads (numpy and ``ndtr`` release the GIL). A
        block sums each chunk of pairs over the segments the chunk reaches, then the chunks'
        sums per segment in chunk order; block sums are added in block order, at most
        ``2 * workers`` blocks ahead, so the result does not depend on scheduling and memory
        stays bounded: the totals plus a few sparse block sums, whatever the graph size (a
        dense per-chunk sum would cost classes x segments x 8 bytes, 120 MB at 1M nodes).
        """
        g = c.groups
        radius = g.support_m + self._piece_half + _EPS_M
        n = g.count
        size = max(64, min(_GROUP_BLOCK, -(-n // (4 * self.workers))))
        s_count = self.segment_count
        k_count = 0
        if by_class and c.decay_class is not None:
            # (group, class) pairs with their summed weight, as a CSR by group.
            classes, local = np.unique(c.decay_class, return_inverse=True)
            k_count = int(classes.shape[0])
            key, inverse = np.unique(
                g.group_of * k_count + np.asarray(local, dtype=np.int64).ravel(),
                return_inverse=True,
            )
            gc_weight = np.bincount(inverse.ravel(), weights=c.live_weight()).astype(np.float64)
            gc_class = (key % k_count).astype(np.int64)
            gc_ptr = np.searchsorted(key // k_count, np.arange(n + 1)).astype(np.int64)

        def block(lo: int) -> tuple[_Sums, _Sums | None]:
            sl = slice(lo, lo + size)
            x, y, sigma, support = g.x_m[sl], g.y_m[sl], g.sigma_m[sl], g.support_m[sl]
            weight = group_weight[sl]
            # Per chunk: (segment, sum) and (segment * classes + class, sum) of its pairs.
            sums: list[_Sums] = []
            class_sums: list[_Sums] = []
            if k_count:
                ptr = gc_ptr[lo : lo + size + 1]
                # Most groups hold one class: then a pair's class term is its group's.
                single = bool(np.all(np.diff(ptr) == 1))
                group_class = gc_class[ptr[:-1]]
            for point, piece in self._candidates(x, y, radius[sl]):
                value = self._unit_values(x, y, sigma, support, point, piece)
                seg = self._piece_seg[piece].astype(np.int64)
                if k_count:
                    if single:
                        key = seg * k_count + group_class[point]
                        class_value = value * weight[point]
                    else:
                        starts = ptr[point]
                        counts = ptr[point + 1] - starts
                        idx = np.repeat(starts - (np.cumsum(counts) - counts), counts)
                        idx += np.arange(idx.shape[0])
                        key = np.repeat(seg * k_count, counts) + gc_class[idx]
                        class_value = np.repeat(value, counts) * gc_weight[idx]
                    class_sums.append(_sum_by_key(key, class_value))
                value *= weight[point]
                sums.append(_sum_by_key(seg, value))
            return _merge(sums), (_merge(class_sums) if k_count else None)

        total = np.zeros(s_count)
        # One row per class (freed one by one when converted to float32 at the end).
        class_rows: list[FloatArray | None] = [np.zeros(s_count) for _ in range(k_count)]

        def add(part: tuple[_Sums, _Sums | None]) -> None:
            segments, values = part[0]
            total[segments] += values
            if part[1] is not None:
                keys, values = part[1]
                segment, cls = np.divmod(keys, k_count)
                for k in np.unique(cls).tolist():
                    row = class_rows[k]
                    assert row is not None
                    mine = cls == k
                    row[segment[mine]] += values[mine]

        starts = range(0, n, size)
        if self.workers > 1 and len(starts) > 1:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="risk") as pool:
                pending: deque[Future[tuple[_Sums, _Sums | None]]] = deque()
                for lo in starts:
                    if len(pending) >= 2 * self.workers:
                        add(pending.popleft().result())
                    pending.append(pool.submit(block, lo))
                while pending:
                    add(pending.popleft().result())
        else:
            for lo in starts:
                add(block(lo))
        inv_km = self._seg_inv_km
        total *= inv_km
        if not k_count:
            return total, None
        per_class = np.empty((k_count, s_count), dtype=np.float32)
        for k in range(k_count):
            row = class_rows[k]
            assert row is not None
            row *= inv_km
            per_class[k] = row
            class_rows[k] = None
        return total, per_class

    def _changes(
        self, x_m: FloatArray, y_m: FloatArray, sigma_m: FloatArray, weight: FloatArray
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        """Segments these kernels reach, and the risk per km they add and take away.

        Returns sorted segments, the risk per km of the positive weights on each and that of
        the negative weights (as a positive number).
        """
        support = self._support(sigma_m)
        seg_parts: list[IntArray] = []
        value_parts: list[FloatArray] = []
        for point, piece in self._candidates(x_m, y_m, support + self._piece_half + _EPS_M):
            value = self._unit_values(x_m, y_m, sigma_m, support, point, piece)
            hit = value > 0
            seg_parts.append(self._piece_seg[piece[hit]])
            value_parts.append(value[hit] * weight[point[hit]])
        if not seg_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
        segments, inverse = np.unique(np.concatenate(seg_parts), return_inverse=True)
        value = np.concatenate(value_parts)
        inverse = inverse.ravel()
        n = segments.shape[0]
        gain = np.bincount(inverse, weights=np.maximum(value, 0.0), minlength=n).astype(np.float64)
        loss = np.bincount(inverse, weights=np.maximum(-value, 0.0), minlength=n).astype(np.float64)
        inv_km = self._inv_km(segments)
        return segments.astype(np.int64), gain * inv_km, loss * inv_km

    def _pairs_at(
        self, c: _Contributions, segments: IntArray
    ) -> Iterator[tuple[bool, IntArray, IntArray, FloatArray]]:
        """Live kernels reaching the given segments: (base?, piece, group, unit value > 0).

        ``group`` indexes the base groups when ``base`` is True, else the added entries.
        """
        starts = self._seg_piece_ptr[segments]
        counts = self._seg_piece_ptr[segments + 1] - starts
        idx = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
        pieces = self._seg_pieces[idx]
        length = self._piece_len[pieces]
        mx = self._piece_x0[pieces] + self._piece_ux[pieces] * length / 2
        my = self._piece_y0[pieces] + self._piece_uy[pieces] * length / 2
        margin = self._piece_half
        g = c.groups
        q, p = c.base_index().pairs(mx, my, margin)
        value = self._unit_values(g.x_m, g.y_m, g.sigma_m, g.support_m, p, pieces[q])
        hit = value > 0
        yield True, pieces[q[hit]], p[hit], value[hit]
        if c.extra:
            _, table, _ = c.extra_arrays()
            q, p = c.extra_index().pairs(mx, my, margin)
            value = self._unit_values(table[0], table[1], table[2], table[3], p, pieces[q])
            hit = value > 0
            yield False, pieces[q[hit]], p[hit], value[hit]

    def _segment_sums(self, c: _Contributions, segments: IntArray) -> FloatArray:
        """Risk per km of the given (sorted, unique) segments from the live reports."""
        sums = np.zeros(segments.shape[0])
        if segments.shape[0] == 0:
            return sums
        group_weight = c.group_weight()
        extra_weight = c.extra_arrays()[1][4] if c.extra else np.zeros(0)
        for base, piece, group, value in self._pairs_at(c, segments):
            value = value * (group_weight[group] if base else extra_weight[group])
            pos = np.searchsorted(segments, self._piece_seg[piece])
            sums += np.bincount(pos, weights=value, minlength=segments.shape[0])
        sums *= self._inv_km(segments)
        return sums

    def _explain_many(
        self,
        c: _Contributions,
        segments: IntArray,
        top: int,
        cancelled: Callable[[], bool] | None = None,
    ) -> Explained | None:
        """:meth:`_explain` of many (sorted, unique) segments, in batches of about
        :data:`_EXPLAIN_PAIRS` (piece, kernel) pairs each, sized from the previous batch:
        where reports crowd, a segment meets thousands of kernels and a fixed batch of
        segments would take gigabytes. None when ``cancelled`` (asked between batches)."""
        parts: list[Explained] = []
        size = min(_EXPLAIN_FIRST, _EXPLAIN_BATCH)
        lo, n = 0, int(segments.shape[0])
        while lo < n:
            if cancelled is not None and cancelled():
                return None
            batch = segments[lo : lo + size]
            pairs: list[int] = []
            parts.append(self._explain(c, batch, top, pairs))
            lo += int(batch.shape[0])
            per_segment = max(sum(pairs), 1) / batch.shape[0]
            size = int(min(_EXPLAIN_BATCH, max(1.0, _EXPLAIN_PAIRS / per_segment)))
        return Explained.concat(parts)

    def _explain(
        self, c: _Contributions, segments: IntArray, top: int, pairs: list[int] | None = None
    ) -> Explained:
        """Top ``top`` reports and shares of each of the (sorted, unique) segments; appends
        the number of (piece, kernel) pairs integrated to ``pairs``."""
        seg_parts: list[IntArray] = []
        report_parts: list[IntArray] = []
        value_parts: list[FloatArray] = []
        n_base = len(c.ids)
        g = c.groups
        weight = c.live_weight()
        extra_ids, table, owner = c.extra_arrays() if c.extra else ((), np.zeros((5, 0)), None)
        for base, piece, group, value in self._pairs_at(c, segments):
            if pairs is not None:
                pairs.append(int(value.shape[0]))
            pos = np.searchsorted(segments, self._piece_seg[piece])
            if base:
                starts = g.member_ptr[group]
                counts = g.member_ptr[group + 1] - starts
                idx = np.repeat(starts - (np.cumsum(counts) - counts), counts)
                rows = g.member_row[idx + np.arange(counts.sum())]
                seg_parts.append(np.repeat(pos, counts))
                report_parts.append(c.report_of[rows])
                value_parts.append(np.repeat(value, counts) * weight[rows])
            else:
                assert owner is not None
                seg_parts.append(pos)
                report_parts.append(n_base + owner[group])
                value_parts.append(value * table[4][group])
        if not seg_parts:
            return Explained.empty(int(segments.shape[0]))
        seg = np.concatenate(seg_parts)
        report = np.concatenate(report_parts)
        value = np.concatenate(value_parts)
        keep = value > 0
        span = n_base + len(extra_ids)
        # One entry per (segment, report): a report reaches a segment through several pieces
        # and, with its acute and chronic kernels, through two groups. Summed in input
        # order (np.bincount over each entry's position among the sorted keys).
        key = seg[keep] * span + report[keep]
        order = np.argsort(key)
        key = key[order]
        first = np.empty(key.shape[0], dtype=np.bool_)
        first[:1] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        entry_of = np.empty(key.shape[0], dtype=np.int64)
        entry_of[order] = np.cumsum(first) - 1
        summed = np.asarray(np.bincount(entry_of, weights=value[keep]), dtype=np.float64)
        key = key[first]
        seg, report = key // span, key % span
        totals = np.bincount(seg, weights=summed, minlength=segments.shape[0])
        picked = np.flatnonzero(_top_of_runs(seg, summed, top))
        seg, report, summed = seg[picked], report[picked], summed[picked]
        # strongest first within each segment (stable: equal values stay by report index)
        order = np.lexsort((-summed, seg))
        seg, report, summed = seg[order], report[order], summed[order]
        _ties_by_id(seg, report, summed, c.report_name())
        new_seg = np.empty(seg.shape[0], dtype=np.bool_)
        new_seg[:1] = True
        np.not_equal(seg[1:], seg[:-1], out=new_seg[1:])
        run_start = np.maximum.accumulate(np.where(new_seg, np.arange(seg.shape[0]), 0))
        kept = np.arange(seg.shape[0]) - run_start < top
        seg, report, summed = seg[kept], report[kept], summed[kept]
        return Explained(
            np.bincount(seg, minlength=segments.shape[0]).astype(np.int64),
            report.astype(np.int64),
            summed / totals[seg],
        )

    # -- zones -------------------------------------------------------------------------------

    def _zone_state(
        self, zones: Iterable[Zone], at: datetime
    ) -> tuple[BoolArray, FloatArray | None, FloatArray | None, Int32Array, tuple[str, ...]]:
        """Per-edge blocked flag, caution multiplier and floor (None without caution zones),
        zone code; zone ids."""
        m = self.graph.edge_count
        blocked = np.zeros(m, dtype=bool)
        code = np.full(m, -1, dtype=np.int32)
        active = [z for z in zones if z.active_at(at)]
        if not active:
            return blocked, None, None, code, ()
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
        multiplier: FloatArray | None = None
        floor: FloatArray | None = None
        if caution.any():
            # Overlapping caution zones do not compound: the strongest one acts.
            multiplier = np.ones(m)
            np.maximum.at(multiplier, edges[caution], mult[zone_idx[caution]])
            floor = np.zeros(m)
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
        zones = list(zones)
        reports = self._reports(incidents, at)
        contributions = self._contributions_from(reports)
        segment_risk, per_class = self._group_values(
            contributions, contributions.group_weight(), by_class=True
        )
        classes = np.unique(reports.decay_class)
        horizon_s = min(reports.next_occurrence_s, _zone_horizon_s(zones, at))
        blocked, multiplier, floor, code, zone_ids = self._zone_state(zones, at)
        night = self.config.night.factor_at(at)
        risk = _risk_on_edges(segment_risk, self.edge_segment, floor, multiplier, night)
        return RiskField(
            _edge_risk=risk,
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
            _zone_multiplier=multiplier,
            _zone_floor=floor,
            projectable_until=_instant(horizon_s),
            _class_risk=(
                np.zeros((0, self.segment_count), dtype=np.float32)
                if per_class is None
                else per_class
            ),
            _class_half_life_s=self._class_half_life_s[classes],
            _class_at=at,
        )

    def project(self, field: RiskField, at: datetime) -> RiskField:
        """:meth:`RiskField.projected`: ``field`` (made by this engine) carried to ``at``.

        Parameters
        ----------
        field
            A projectable field of this engine.
        at
            Aware instant, ``field.computed_at <= at < field.projectable_until``.

        Returns
        -------
        RiskField

        Raises
        ------
        ValueError
            ``field.can_project(at)`` is False.
        """
        if (
            not field.can_project(at)
            or field._class_risk is None
            or field._class_half_life_s is None
            or field._class_at is None
        ):
            raise ValueError(f"risk field cannot be projected to {at.isoformat()}: recompute")
        decay = np.exp2(-(at - field._class_at).total_seconds() / field._class_half_life_s)
        # Row by row: a (classes, segments) float64 temporary would take 80 bytes a segment.
        segment_risk = np.zeros(self.segment_count)
        for k in range(decay.shape[0]):
            segment_risk += decay[k] * field._class_risk[k].astype(np.float64)
        c = field._contributions
        contributions = c
        if c.decay_class is not None and c.weight.shape[0]:
            dt_s = (at - field.computed_at).total_seconds()
            entry_decay = np.exp2(-dt_s / self._class_half_life_s)[c.decay_class]
            contributions = replace(c, weight=c.weight * entry_decay, cache={})
            counts = None if c.lifetimes is None else c.lifetimes.counts_at(at.timestamp())
            if counts is not None and not counts.all():
                contributions = self._ended(contributions, counts, segment_risk)
        night = self.config.night.factor_at(at)
        return replace(
            field,
            _edge_risk=None,  # made when read whole (see edge_risk_per_km)
            computed_at=at,
            night_factor=night,
            segment_risk_per_km=segment_risk,
            _contributions=contributions,
            reports_considered=contributions.count,
            _warm=WarmExplanations(),  # decay changes the shares
            _stale=None,
        )

    def _ended(
        self, c: _Contributions, counts: BoolArray, segment_risk: FloatArray
    ) -> _Contributions:
        """Drop the base entries that no longer count from a projection.

        ``c`` holds the weights at the projected instant of every entry of the full refresh
        the projection starts from; ``counts`` marks the entries that still count (once
        ended, an entry stays ended). The kernels of the others are subtracted from
        ``segment_risk`` (in place), decayed from per-class risks that counted them all; a
        segment left with less than :data:`_PROJECTED_CANCELLATION` of its risk is
        recomputed from the live entries.

        Returns
        -------
        _Contributions
            ``c`` with the ended entries removed (and their reports, once no entry is left).
        """
        g = c.groups
        live_rows = np.bincount(c.report_of, weights=counts, minlength=len(c.ids))
        kept = replace(c, alive=counts, dead=int(np.count_nonzero(live_rows == 0)), cache={})
        rows = np.flatnonzero(~counts)
        # One kernel per group: grouped reports share a point and a width.
        weight = np.bincount(g.group_of[rows], weights=c.weight[rows], minlength=g.count).astype(
            np.float64
        )
        ended = np.flatnonzero(weight > 0)
        affected, _, loss = self._changes(
            g.x_m[ended], g.y_m[ended], g.sigma_m[ended], -weight[ended]
        )
        before = segment_risk[affected]
        after = before - loss
        exact = after <= _PROJECTED_CANCELLATION * before
        after[exact] = self._segment_sums(kept, affected[exact])
        segment_risk[affected] = after
        return kept

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
        alive = np.ones(len(c.weight), dtype=bool) if c.alive is None else c.alive.copy()
        dead = c.dead
        extra = dict(c.extra)
        changed: list[_Entry] = []  # x, y, sigma, signed weight
        g = c.groups

        def drop(report_id: str) -> None:
            nonlocal dead
            if report_id in extra:
                changed.extend((x, y, s, -w) for x, y, s, w in extra.pop(report_id))
                return
            report = c.index_of.get(report_id)
            if report is None:
                return
            # A projection may have ended some of its entries already (maximum age).
            rows = c.rows_of(report)
            rows = rows[alive[rows]]
            if rows.shape[0]:
                for row in rows.tolist():
                    k = int(g.group_of[row])
                    where = (float(g.x_m[k]), float(g.y_m[k]), float(g.sigma_m[k]))
                    changed.append((*where, -float(c.weight[row])))
                alive[rows] = False
                dead += 1

        # The last version of a report given twice wins.
        latest = list({incident.id: incident for incident in add}.values())
        for report_id in remove:
            drop(report_id)
        for incident in latest:
            drop(incident.id)
        reports = self._reports(latest, field.computed_at)
        entries: dict[str, list[_Entry]] = {}
        for k, report in enumerate(reports.report_of.tolist()):
            entry = (
                float(reports.x_m[k]),
                float(reports.y_m[k]),
                float(reports.sigma_m[k]),
                float(reports.weight[k]),
            )
            entries.setdefault(reports.ids[report], []).append(entry)
            changed.append(entry)
        for report_id, kernels in entries.items():
            extra[report_id] = tuple(kernels)
        new = replace(c, alive=alive, dead=dead, extra=extra, cache={})
        if len(extra) > _MAX_EXTRA or dead > max(_MAX_EXTRA, len(c.ids) // 4):
            new = self._consolidate(new)
        segment_risk = field.segment_risk_per_km.copy()
        if changed:
            table = np.array(changed, dtype=np.float64)
            affected, gain, loss = self._changes(table[:, 0], table[:, 1], table[:, 2], table[:, 3])
            before = segment_risk[affected]
            after = before + gain
            after -= loss
            # Removing most of a segment's risk leaves rounding residue (never an exact 0):
            # recompute such segments from the live reports instead.
            exact = (loss > 0) & (after <= _CANCELLATION * (before + gain))
            after[exact] = self._segment_sums(new, affected[exact])
            segment_risk[affected] = after
        else:
            affected = np.zeros(0, dtype=np.int64)
        risk = field._edge_risk
        if risk is not None:  # else made from the segments' risk when read
            risk = risk.copy()
            edges = self._edges_of_segments(affected)
            risk[edges] = _risk_on_edges(
                segment_risk,
                self.edge_segment,
                field._zone_floor,
                field._zone_multiplier,
                field.night_factor,
                edges,
            )
        return replace(
            field,
            _edge_risk=risk,
            segment_risk_per_km=segment_risk,
            reports_considered=new.count,
            _contributions=replace(new, decay_class=None),
            _stale=_marked(field._stale, affected, self.segment_count),
            # The per-class risks no longer match: not projectable.
            projectable_until=None,
            _class_risk=None,
            _class_half_life_s=None,
            _class_at=None,
        )

    def with_zones(self, field: RiskField, zones: Iterable[Zone]) -> RiskField:
        """A new field with the zone set replaced (reports unchanged), at ``field.computed_at``."""
        zones = list(zones)
        blocked, multiplier, floor, code, zone_ids = self._zone_state(zones, field.computed_at)
        until = field.projectable_until
        if until is not None:
            until = min(until, _instant(_zone_horizon_s(zones, field.computed_at)))
        risk = _risk_on_edges(
            field.segment_risk_per_km, self.edge_segment, floor, multiplier, field.night_factor
        )
        return replace(
            field,
            _edge_risk=risk,
            edge_blocked=blocked,
            edge_zone=code,
            zone_ids=zone_ids,
            _zone_multiplier=multiplier,
            _zone_floor=floor,
            projectable_until=until,
        )

    def _support(self, sigma_m: FloatArray) -> FloatArray:
        kernel = self.config.kernel
        if kernel.shape == "epanechnikov":
            return np.asarray(math.sqrt(5.0) * sigma_m, dtype=np.float64)
        return np.asarray(kernel.cutoff_sigmas * sigma_m, dtype=np.float64)

    def _edges_of_segments(self, segments: IntArray) -> IntArray:
        """The edges (one or both directions) of the given segments.

        A segment is its canonical edge and that edge's reverse (reverse pairs are mutual).
        """
        edges = np.asarray(self.segment_edge[segments], dtype=np.int64)
        reverse = np.asarray(self.graph.edge_reverse[edges], dtype=np.int64)
        return np.concatenate([edges, reverse[reverse >= 0]])


def _marked(stale: BoolArray | None, segments: IntArray, count: int) -> BoolArray:
    """``stale`` (None: nothing) with ``segments`` marked, as a new array."""
    out = np.zeros(count, dtype=np.bool_) if stale is None else stale.copy()
    out[segments] = True
    return out


_Sums = tuple[IntArray, FloatArray]  # sorted distinct keys, the sum of each


def _sum_by_key(keys: IntArray, values: FloatArray) -> _Sums:
    """The sum of ``values`` per distinct key, each summed in input order from 0.

    Equal, key by key, to ``np.bincount(keys, values)`` (keys whose sum is exactly 0 are
    left out: adding 0 changes no sum), without a dense array over the whole key range: a
    window ``min..max`` when it is short (keys of nearby pieces are close), else a sort.
    """
    if keys.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    lo = int(keys.min())
    span = int(keys.max()) - lo + 1
    if span <= _WINDOW_PER_KEY * keys.shape[0] + 4096:
        sums = np.bincount(keys - lo, weights=values, minlength=span)
        hit = np.flatnonzero(sums)
        return np.asarray(hit + lo, dtype=np.int64), np.asarray(sums[hit], dtype=np.float64)
    distinct, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=values, minlength=distinct.shape[0])
    hit = np.flatnonzero(sums)
    return np.asarray(distinct[hit], dtype=np.int64), np.asarray(sums[hit], dtype=np.float64)


def _ties_by_id(
    seg: IntArray, report: IntArray, value: FloatArray, name: Callable[[int], str]
) -> None:
    """Order the runs of equal (segment, value) entries by report id, in place (entries
    sorted by segment, then value descending). Ties are rare: only they go through Python."""
    tied = np.flatnonzero((seg[1:] == seg[:-1]) & (value[1:] == value[:-1]))
    if tied.shape[0] == 0:
        return
    run_starts = tied[np.r_[True, tied[1:] != tied[:-1] + 1]]
    run_ends = tied[np.r_[tied[1:] != tied[:-1] + 1, True]] + 2
    for lo, hi in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
        report[lo:hi] = sorted(report[lo:hi].tolist(), key=name)


def _top_of_runs(run_key: IntArray, value: FloatArray, top: int) -> BoolArray:
    """Mask of the entries among the ``top`` largest values of their run, every entry tied
    with the ``top``-th included. Runs are the stretches of equal ``run_key`` (sorted).

    ``top`` rounds, each taking every run's largest remaining value(s): linear passes where
    sorting by (run, value) would cost ten times more.
    """
    n = value.shape[0]
    picked = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return picked
    new_run = np.empty(n, dtype=np.bool_)
    new_run[0] = True
    np.not_equal(run_key[1:], run_key[:-1], out=new_run[1:])
    starts = np.flatnonzero(new_run)
    run = np.cumsum(new_run) - 1
    left = np.array(value, dtype=np.float64)
    taken = np.zeros(starts.shape[0], dtype=np.int64)
    for _ in range(top):
        peak = np.maximum.reduceat(left, starts)
        take = left == peak[run]
        take &= (taken < top)[run]
        take &= left > -np.inf
        if not take.any():
            break
        picked |= take
        taken += np.add.reduceat(take.astype(np.int64), starts)
        left[take] = -np.inf
    return picked


def _merge(parts: list[_Sums]) -> _Sums:
    """Per key, the sum of the parts' sums in part order (as adding dense arrays would)."""
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return _sum_by_key(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def _stable_positions(key: IntArray | IndexArray, free: IntArray) -> IntArray:
    """Where each element goes in a stable sort by ``key`` continued chunk by chunk.

    ``free[k]`` is the next free slot of key ``k`` (updated in place): calling this on
    consecutive chunks of an array places it as ``np.argsort(key, kind="stable")`` would,
    without a whole-array sort.
    """
    if key.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    first = np.searchsorted(sorted_key, sorted_key, side="left")
    at = np.empty(key.shape[0], dtype=np.int64)
    at[order] = free[sorted_key] + (np.arange(key.shape[0]) - first)
    ends = np.flatnonzero(np.diff(sorted_key)) + 1
    starts = np.concatenate([[0], ends]).astype(np.int64)
    free[sorted_key[starts]] += np.diff(np.append(starts, key.shape[0]))
    return at


def _index_type(count: int) -> type[np.signedinteger[Any]]:
    """The integer type of indexes below ``count``: int32 when they fit."""
    return np.int32 if count < 2**31 else np.int64


def _zone_horizon_s(zones: Sequence[Zone], at: datetime) -> float:
    """First instant after ``at`` (s since the epoch, inf: none) a zone starts or ends."""
    times = [
        t.timestamp()
        for z in zones
        for t in (z.valid_from, z.valid_until)
        if t is not None and t > at
    ]
    return min(times, default=math.inf)


def _instant(epoch_s: float) -> datetime:
    """Aware UTC instant of ``epoch_s`` (``datetime.max`` for inf or beyond)."""
    if epoch_s >= _NEVER.timestamp():
        return _NEVER
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def _check_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError("risk time `at` must be timezone-aware (UTC)")
