"""Shortest paths between points on edges: a compiled CCH engine and a networkx reference.

Both engines answer the same question: given float edge weights (``inf`` = impassable) kept
under a key, find the cheapest path from a point on one edge to a point on another. A point
is an edge and a ``fraction`` in ``[0, 1]`` of the way from its tail to its head. The origin
may leave along its own edge (cost ``(1 - f) * w(e)``) or, where the street is two-way,
along the reverse edge back to ``tail(e)`` (cost ``f * w(rev)``); the destination likewise.
Origin and destination on the same edge are joined directly when the destination lies
ahead.

:class:`CCHEngine` wraps ``routingkit_cch`` (Customizable Contraction Hierarchies). The
contraction order (inertial flow on node coordinates, stored in the graph cache: see
:mod:`corridors.graph.order`) and the CCH are built once per graph; each weight vector is
a *metric*, customised in ~0.2 s per 360k arcs (~15-20 s at 1M nodes), and answered in
~0.3 ms per query at 100k nodes (see ``bench/routing.py``). Weights are unsigned 31-bit
integers: float weights are multiplied by a power-of-ten ``scale`` chosen so that no simple
path can reach RoutingKit's infinity (see :func:`integer_weights`); impassable edges get
that infinity. The extension panics when a metric is re-customised while a query object
using it is alive, or when a query result outlives the next query, so every call holds the
lock of the metric it uses and copies results into Python lists before it returns. Metrics
have a lock each: re-customising one (``reset`` releases the GIL) does not hold up queries
on the others. The threads of :data:`corridors.routing.search_pool.SEARCH_POOL` keep their
query objects from one search to the next (making one costs more than a query at 1M
nodes); every change of a metric first has them drop theirs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import math
import threading
import time
import weakref
from collections.abc import Hashable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import networkx as nx
import numpy as np
import numpy.typing as npt
import routingkit_cch as rk

from corridors.graph.model import RoadGraph
from corridors.graph.order import contraction_order
from corridors.routing.search_pool import SEARCH_POOL, kept, on_search_thread

__all__ = [
    "INF_WEIGHT",
    "CCHEngine",
    "EdgePath",
    "EdgePosition",
    "MetricSearch",
    "NetworkxEngine",
    "PathArrays",
    "Piece",
    "UpdateStats",
    "integer_weights",
    "joined",
    "path_cost",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: RoutingKit's infinite weight (2**31 - 1): arcs with it are never used.
INF_WEIGHT = 2**31 - 1
#: Finest integer resolution: 1 unit = 1 ms when weights are seconds.
MAX_SCALE = 1000.0
#: Re-customise in full instead of a partial update above this share of changed arcs
#: (measured on a 100k-node grid: partial updates cost ~0.3 ms per 10 arcs, ~60 ms per
#: 1000 clustered arcs and 0.7 s per 100k arcs, while a full reset costs ~0.22 s).
PARTIAL_UPDATE_MAX_SHARE = 0.01


class EdgePosition(Protocol):
    """A point on the network: ``fraction`` of the way along ``edge`` from its tail."""

    @property
    def edge(self) -> int:
        """Edge index."""
        ...

    @property
    def fraction(self) -> float:
        """Position along the edge in ``[0, 1]``, from tail to head."""
        ...


class Piece(NamedTuple):
    """Part of one edge travelled by a path: from ``start`` to ``end`` (fractions).

    A named tuple: a path of a 1M-node city has thousands, made per query, and a tuple is
    made in half the time of a frozen dataclass.
    """

    edge: int
    start: float = 0.0
    end: float = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class PathArrays:
    """A path's pieces as arrays: ``edges``, and the ``start``/``end`` fractions on them.

    ``derived`` memoises views that readers compute from the path once (e.g. the route
    summary's polyline pieces), keyed by the reader.
    """

    edges: IntArray
    start: FloatArray
    end: FloatArray
    derived: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> bytes:
        """Equal for equal paths (edges and fractions): a cheap dictionary key."""
        return self.edges.tobytes() + self.start.tobytes() + self.end.tobytes()

    @property
    def length_shares(self) -> FloatArray:
        """Fraction of each piece's edge travelled."""
        return self.end - self.start

    @classmethod
    def of(cls, pieces: Sequence[Piece]) -> PathArrays:
        """Arrays of ``pieces`` (non-empty)."""
        n = len(pieces)
        if n == 0:
            raise ValueError("a route needs at least one piece")
        return cls(
            np.fromiter((p.edge for p in pieces), dtype=np.int64, count=n),
            np.fromiter((p.start for p in pieces), dtype=np.float64, count=n),
            np.fromiter((p.end for p in pieces), dtype=np.float64, count=n),
        )

    @classmethod
    def concat(cls, parts: Sequence[PathArrays]) -> PathArrays:
        """The arrays of consecutive paths joined."""
        return cls(
            np.concatenate([p.edges for p in parts]),
            np.concatenate([p.start for p in parts]),
            np.concatenate([p.end for p in parts]),
        )

    def pieces(self) -> tuple[Piece, ...]:
        """The path as :class:`Piece` tuples (made once, when asked: a query's path is
        kept as arrays, and most readers want arrays)."""
        made = self.derived.get("pieces")
        if not isinstance(made, tuple):
            made = self.derived["pieces"] = tuple(
                map(Piece, self.edges.tolist(), self.start.tolist(), self.end.tolist())
            )
        return made

    def without_empty(self) -> PathArrays:
        """The path without zero-length pieces (a point at an edge's end), keeping at least
        one."""
        keep = self.end > self.start
        if keep.all():
            return self
        if not keep.any():
            keep[1:] = False
            keep[0] = True
        return PathArrays(self.edges[keep], self.start[keep], self.end[keep])


@dataclass(frozen=True, slots=True, eq=False)
class EdgePath:
    """A path between two points on edges.

    ``arrays`` holds its pieces, consecutive (the head of each is the tail of the next);
    the first and last are usually partial. ``cost`` is the sum of the float weights of
    the pieces, pro rata, in the units of the weights.
    """

    arrays: PathArrays
    cost: float

    @property
    def pieces(self) -> tuple[Piece, ...]:
        """The pieces as :class:`Piece` tuples."""
        return self.arrays.pieces()

    @property
    def edges(self) -> list[int]:
        """Edge indexes of the pieces, in order."""
        edges: list[int] = self.arrays.edges.tolist()
        return edges


@dataclass(frozen=True, slots=True)
class UpdateStats:
    """How a metric was (re)customised: ``mode`` is ``new``, ``full``, ``partial`` or ``none``."""

    mode: str
    changed_arcs: int
    seconds: float


def integer_weights(weights: FloatArray, node_count: int) -> tuple[IntArray, float]:
    """Scale float weights to RoutingKit integers without overflow.

    The scale is the largest power of ten, at most :data:`MAX_SCALE`, such that the sum of
    the ``node_count - 1`` largest finite weights (a bound on any simple path) times the
    scale, with a factor-2 headroom for later partial updates, stays below
    :data:`INF_WEIGHT`. A power of ten keeps integer-valued weights exact.

    Parameters
    ----------
    weights
        Float edge weights, ``>= 0``; ``inf`` or ``nan`` marks an impassable edge.
    node_count
        Number of nodes of the graph.

    Returns
    -------
    tuple
        ``(int64 weights, scale)``; impassable edges get :data:`INF_WEIGHT`.

    Raises
    ------
    ValueError
        On a negative weight.
    """
    w = np.asarray(weights, dtype=np.float64)
    _check_weights(w)
    scale = _scale_for(_path_bound(w, node_count))
    return _scaled(w, scale).astype(np.int64), scale


def _check_weights(weights: FloatArray) -> None:
    """Raise ValueError on a negative finite weight."""
    if np.any((weights < 0) & np.isfinite(weights)):
        raise ValueError("edge weights must be >= 0")


def _scale_for(bound: float) -> float:
    """The largest power of ten, at most :data:`MAX_SCALE`, keeping ``2 * bound`` integral."""
    limit = (INF_WEIGHT - 1) / (2.0 * bound) if bound > 0 else MAX_SCALE
    return float(10.0 ** math.floor(math.log10(min(limit, MAX_SCALE))))


def _path_bound(weights: FloatArray, node_count: int) -> float:
    """Upper bound on the cost of any simple path: sum of the ``n - 1`` largest finite weights."""
    fw = weights[np.isfinite(weights)]
    total = float(fw.sum())
    k = max(0, min(node_count - 1, fw.shape[0]))
    if k == 0:
        return 0.0
    if k >= fw.shape[0] or total * MAX_SCALE < INF_WEIGHT / 4:
        return total
    return float(np.partition(fw, fw.shape[0] - k)[fw.shape[0] - k :].sum())


def path_cost(weights: FloatArray, path: PathArrays) -> float:
    """Sum of ``weights`` over the pieces of ``path``, pro rata for partial edges."""
    return float(np.sum(weights[path.edges] * path.length_shares))


def _clamp(fraction: float) -> float:
    return min(1.0, max(0.0, float(fraction)))


def _origin_options(graph: RoadGraph, at: EdgePosition) -> Iterator[tuple[int, float]]:
    """``(edge, fraction)`` on which a path may start: the edge itself and its reverse."""
    f = _clamp(at.fraction)
    yield int(at.edge), f
    rev = int(graph.edge_reverse[at.edge])
    if rev >= 0:
        yield rev, 1.0 - f


@dataclass(slots=True)
class _Metric:
    """One customised metric: float weights (the truth), integer scale, RoutingKit metric.

    ``bound`` is an upper bound on the float cost of any simple path (see
    :func:`_path_bound`), kept up to date by partial updates so that they need not scan
    every weight. The integer weights are not kept: RoutingKit holds them, and the few a
    query needs are recomputed from ``weights`` (:func:`_int_weight`). ``version`` counts
    the changes of ``weights``. ``lock`` is held by every query on and change of it.
    ``evicting`` counts the changes under way: while it is non-zero, search threads make
    no query object to keep for it (:meth:`CCHEngine._changing`).
    """

    weights: FloatArray
    scale: float
    bound: float
    metric: rk.CCHMetric
    version: int = 0
    evicting: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


_VERSIONS = itertools.count(1)


def _next_version() -> int:
    """A fresh starting version (a dropped and re-made metric never repeats one)."""
    return next(_VERSIONS) << 32


def _int_weight(m: _Metric, edge: int) -> int:
    """The integer weight RoutingKit holds for ``edge`` (INF_WEIGHT when impassable)."""
    w = float(m.weights[edge])
    if not math.isfinite(w):
        return INF_WEIGHT
    return min(round(w * m.scale), INF_WEIGHT - 1)


def _scaled(weights: FloatArray, scale: float) -> npt.NDArray[np.uint32]:
    """Integer weights as RoutingKit takes them (uint32; impassable = INF_WEIGHT).

    One float temporary of the finite weights, rounded and clipped in place (a full
    vector costs ~27 MB at 3.4M edges).
    """
    out = np.full(weights.shape[0], INF_WEIGHT, dtype=np.uint32)
    finite = np.isfinite(weights)
    scaled = weights[finite]
    scaled *= scale
    np.rint(scaled, out=scaled)
    np.minimum(scaled, INF_WEIGHT - 1, out=scaled)
    out[finite] = scaled
    return out


#: One contraction hierarchy per graph object, shared by every engine on it (it depends
#: only on the topology and the node order; metrics hold their own weights).
_CCH_CACHE: weakref.WeakKeyDictionary[RoadGraph, rk.CCH] = weakref.WeakKeyDictionary()
_CCH_CACHE_LOCK = threading.Lock()


def _build_cch(graph: RoadGraph) -> rk.CCH:
    """Build the CCH of ``graph`` on its contraction order.

    The order is the one stored in the graph cache, else computed by inertial flow on the
    coordinates (:func:`corridors.graph.order.contraction_order`). The arrays are handed
    over as numpy arrays (no Python-list copies: those cost ~40 bytes per element, ~0.7 GB
    at 1M nodes).
    """
    with _CCH_CACHE_LOCK:
        cached = _CCH_CACHE.get(graph)
        if cached is not None:
            return cached
        tune_allocator()
        order = contraction_order(graph)
        release_free_memory()  # the ordering's temporaries, before the CCH's peak
        tail = np.ascontiguousarray(graph.edge_tail, dtype=np.uint32)
        head = np.ascontiguousarray(graph.edge_head, dtype=np.uint32)
        cch = rk.CCH(order, tail, head, False)  # type: ignore[arg-type]
        del tail, head
        _CCH_CACHE[graph] = cch
    release_free_memory()
    return cch


#: glibc ``mallopt`` parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: Blocks at least this large get a mapping of their own, unmapped when freed: per-edge
#: vectors (27 MB of float64 at 3.4M edges) then never stay behind as heap fragments.
#: Smaller blocks, such as a query's per-node labels (4 MB each at 1M nodes), stay in the
#: heap and are reused without page faults.
MMAP_THRESHOLD_BYTES = 8 * 2**20
#: Free memory kept at the top of the heap before glibc trims it (the query labels above
#: are freed and reallocated by every query).
TRIM_THRESHOLD_BYTES = 128 * 2**20
#: Heaps ("arenas") glibc may keep. By default every thread that allocates at the same
#: time as another gets one of its own (up to 8 per core), and the memory freed in it stays
#: there: the service's refresh threads, the Pareto sweep's pool and the server's worker
#: threads each held their own 50-100 MB. At 1M nodes with 100k reports, two arenas
#: lowered the peak RSS by ~85 MB; the allocations that contend are rare and short.
ARENA_MAX = 2
_ALLOCATOR_TUNED = False


def tune_allocator() -> bool:
    """Make glibc return freed large blocks to the OS at once and keep at most
    :data:`ARENA_MAX` heaps (no-op elsewhere; idempotent).

    By default glibc raises its mmap threshold up to 32 MB as large blocks are freed, so
    later per-edge temporaries (8-32 MB) are carved out of the heap and leave fragments
    that RSS keeps counting: at 1M nodes ~400 MB after a few risk refreshes, and ~100 MB
    more at the peak of the CCH build. A fixed threshold of :data:`MMAP_THRESHOLD_BYTES`
    maps each such block separately. Process-wide; called before the first large
    allocations of the routing core (CCH build, service runtime).

    Returns
    -------
    bool
        Whether the allocator was tuned (False off glibc).
    """
    global _ALLOCATOR_TUNED
    if _LIBC is None:
        return False
    if not _ALLOCATOR_TUNED:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        _LIBC.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
        _LIBC.mallopt(_M_ARENA_MAX, ARENA_MAX)
        _ALLOCATOR_TUNED = True
    return True


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``; no-op elsewhere).

    Building a CCH or customising a metric frees large temporary buffers that glibc keeps
    in the heap (~190 MB after a CCH build at 1M nodes); trimming makes RSS match what is
    really used. Costs a few milliseconds.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - probe: glibc only
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _load_libc()


class CCHEngine:
    """Customizable Contraction Hierarchy over one :class:`RoadGraph`.

    Parameters
    ----------
    graph
        The road graph; its edge indexes are the arc ids of the CCH.

    Notes
    -----
    Thread-safe: each metric's lock serialises the queries on it and its customisations (the
    extension forbids queries during customisation); a short engine lock guards the table
    of metrics. The CCH is built once per graph object (engines on the
    same graph share it): ~5 s and ~720 MB at 1M nodes (a 1000 x 1000 synthetic grid,
    ~1.4 GB at the peak of the build), plus ~90 s to order the nodes when the graph cache
    holds no order. Each metric adds ~290 MB there (two 32-bit weights per CCH arc, plus
    the float weights).
    """

    def __init__(self, graph: RoadGraph) -> None:
        self.graph = graph
        self._cch = _build_cch(graph)
        self._metrics: dict[Hashable, _Metric] = {}
        self._lock = threading.Lock()  # the table of metrics only
        self._tail = graph.edge_tail
        self._head = graph.edge_head

    def _partial_update(self, metric: rk.CCHMetric, updates: dict[int, int]) -> None:
        # The extension's updater is thread-bound (pyo3 "unsendable"): it panics when used
        # or dropped on another thread than the one that made it. Making one costs ~6 us,
        # so each update makes its own and drops it here, on the calling thread.
        updater = rk.CCHMetricPartialUpdater(self._cch)
        updater.apply(metric, updates)
        del updater

    @contextmanager
    def _holding(self, key: Hashable) -> Iterator[_Metric]:
        """Metric ``key`` with its lock held (``KeyError`` when there is none).

        Looked up again once locked: a :meth:`swap` or :meth:`drop` meanwhile would
        otherwise leave the caller on a metric no longer under ``key``.
        """
        while True:
            with self._lock:
                m = self._metrics[key]
            with m.lock:
                with self._lock:
                    current = self._metrics.get(key) is m
                if current:
                    yield m
                    return

    @contextmanager
    def _changing(self, key: Hashable) -> Iterator[_Metric]:
        """Metric ``key`` with its lock held and no query object alive for it on a search
        thread, so that it may change (``KeyError`` when there is none).

        The search threads drop theirs first (:meth:`SearchPool.evict`), before the lock
        is taken: a search waiting for it may be queued ahead of the drop.
        """
        if on_search_thread():
            raise RuntimeError("a metric cannot be changed from a search thread")
        while True:
            with self._lock:
                m = self._metrics[key]
            with m.lock:
                m.evicting += 1
            try:
                SEARCH_POOL.evict(m)
                with self._holding(key) as held:
                    if held is m:  # else swapped meanwhile: evict for the one there now
                        yield m
                        return
            finally:
                with m.lock:
                    m.evicting -= 1

    @property
    def keys(self) -> list[Hashable]:
        """Keys of the customised metrics."""
        with self._lock:
            return list(self._metrics)

    def version(self, key: Hashable) -> int | None:
        """How many times metric ``key`` changed (``None`` when there is no such metric).

        A caller that keeps its own copy of what it last wrote can compare versions to
        know that nobody else changed the metric since.
        """
        with self._lock:
            m = self._metrics.get(key)
            return None if m is None else m.version

    def weights(self, key: Hashable) -> FloatArray:
        """The float weights of metric ``key`` (read-only view; do not modify)."""
        with self._holding(key) as m:
            return m.weights

    def scale(self, key: Hashable) -> float:
        """Integer units per weight unit of metric ``key``."""
        with self._holding(key) as m:
            return m.scale

    def set_weights(self, key: Hashable, weights: FloatArray) -> UpdateStats:
        """Create or update metric ``key`` with float edge weights.

        A partial update is used when few arcs change (at most
        :data:`PARTIAL_UPDATE_MAX_SHARE` of them) and the integer scale still fits;
        otherwise the metric is re-customised in full.

        Parameters
        ----------
        key
            Any hashable name (e.g. a risk-aversion level).
        weights
            Float weight per edge, ``>= 0``; ``inf`` = impassable. Copied.

        Returns
        -------
        UpdateStats
            What was done and how long it took, seconds.
        """
        w = np.array(weights, dtype=np.float64, copy=True)
        if w.shape != (self.graph.edge_count,):
            raise ValueError(f"expected {self.graph.edge_count} weights, got {w.shape}")
        t0 = time.perf_counter()
        with self._lock:
            exists = key in self._metrics
        if not exists:
            _check_weights(w)
            bound = _path_bound(w, self.graph.node_count)
            scale = _scale_for(bound)
            ints = _scaled(w, scale)
            metric = rk.CCHMetric(self._cch, ints)  # type: ignore[arg-type]
            del ints
            with self._lock:
                self._metrics[key] = _Metric(w, scale, bound, metric, _next_version())
            release_free_memory()
            return UpdateStats("new", int(w.shape[0]), time.perf_counter() - t0)
        with self._changing(key) as old:
            differs = old.weights != w  # inf == inf
            n_changed = int(np.count_nonzero(differs))
            if n_changed == 0:
                return UpdateStats("none", 0, time.perf_counter() - t0)
            if n_changed <= PARTIAL_UPDATE_MAX_SHARE * w.shape[0]:
                changed = np.flatnonzero(differs)
                if self._try_partial(old, changed, w[changed]):
                    return UpdateStats("partial", n_changed, time.perf_counter() - t0)
            del differs
            self._reset(old, w)
            return UpdateStats("full", n_changed, time.perf_counter() - t0)

    def update_edges(self, key: Hashable, edges: IntArray, values: FloatArray) -> UpdateStats:
        """Set the float weights of some edges of metric ``key``; the others keep theirs.

        Costs O(len(edges)) plus the RoutingKit update, where :meth:`set_weights` compares
        every weight: use it when the caller knows which edges may have changed.

        Parameters
        ----------
        key
            An existing metric.
        edges
            Edge indexes (distinct).
        values
            Their new float weights, ``>= 0``; ``inf`` = impassable.

        Returns
        -------
        UpdateStats
            ``none`` when no value differs, ``partial`` or ``full`` as in
            :meth:`set_weights`.
        """
        t0 = time.perf_counter()
        idx = np.asarray(edges, dtype=np.int64)
        val = np.asarray(values, dtype=np.float64)
        if idx.shape != val.shape:
            raise ValueError("edges and values differ in length")
        if val.size and np.nanmin(val) < 0:
            raise ValueError("edge weights must be >= 0")
        with self._changing(key) as m:
            cur = m.weights[idx]
            diff = ~((cur == val) | (np.isinf(cur) & np.isinf(val)))
            idx, val = idx[diff], val[diff]
            if idx.size == 0:
                return UpdateStats("none", 0, time.perf_counter() - t0)
            if idx.size <= PARTIAL_UPDATE_MAX_SHARE * m.weights.shape[0] and self._try_partial(
                m, idx, val
            ):
                return UpdateStats("partial", int(idx.size), time.perf_counter() - t0)
            w = m.weights.copy()
            w[idx] = val
            self._reset(m, w)
            return UpdateStats("full", int(idx.size), time.perf_counter() - t0)

    def _try_partial(self, m: _Metric, edges: IntArray, values: FloatArray) -> bool:
        """Apply new float ``values`` on ``edges`` by a partial update if the scale fits.

        The path bound only grows by the finite increases (an upper bound stays one), so
        the check needs no pass over every weight.
        """
        old = m.weights[edges]
        grow_new = np.where(np.isfinite(values), values, 0.0)
        grow_old = np.where(np.isfinite(old), old, 0.0)
        bound = m.bound + float(np.maximum(grow_new - grow_old, 0.0).sum())
        if bound * m.scale >= INF_WEIGHT - 1:
            return False
        ints = _scaled(values, m.scale)
        self._partial_update(m.metric, dict(zip(edges.tolist(), ints.tolist(), strict=True)))
        m.weights[edges] = values
        m.bound = bound
        m.version += 1
        return True

    def _reset(self, m: _Metric, w: FloatArray) -> None:
        """Re-customise ``m`` in full with float weights ``w`` (new scale and bound)."""
        _check_weights(w)
        bound = _path_bound(w, self.graph.node_count)
        scale = _scale_for(bound)
        ints = _scaled(w, scale)
        m.metric.reset(ints)  # type: ignore[arg-type]
        del ints
        m.weights, m.scale, m.bound = w, scale, bound
        m.version += 1
        release_free_memory()

    def swap(self, a: Hashable, b: Hashable) -> None:
        """Exchange metrics ``a`` and ``b`` at once (both must exist).

        Queries asked for ``a`` from then on run on what was ``b``; a query already running
        finishes on the metric it started on.
        """
        with self._lock:
            self._metrics[a], self._metrics[b] = self._metrics[b], self._metrics[a]

    def drop(self, key: Hashable) -> None:
        """Forget metric ``key`` (frees its memory, once the search threads dropped their
        query objects for it)."""
        try:
            with self._changing(key), self._lock:
                dropped = self._metrics.pop(key)
        except KeyError:
            return
        del dropped
        release_free_memory()

    @contextmanager
    def searching(self, key: Hashable, *, exclusive: bool = False) -> Iterator[MetricSearch]:
        """Metric ``key`` held (its lock) for a run of queries sharing one query object.

        A RoutingKit query object allocates its per-node labels when made (14 us at 100k
        nodes, 0.85-1.7 ms at 1M): a caller asking many queries in a row (the alternatives'
        via paths) makes it once, and a search thread keeps its own. Other queries and
        changes of this metric wait meanwhile. ``exclusive`` (needed by queries with
        ``forbidden`` edges, which change the metric for their time) first has the search
        threads drop their query objects for it; not from a search thread.
        """
        with self._changing(key) if exclusive else self._holding(key) as m:
            search = MetricSearch(self, m, exclusive=exclusive)
            try:
                yield search
            finally:
                search.close()

    def route(
        self,
        key: Hashable,
        origin: EdgePosition,
        destination: EdgePosition,
        *,
        forbidden: BoolArray | None = None,
    ) -> EdgePath | None:
        """Cheapest path from ``origin`` to ``destination`` under metric ``key``.

        Parameters
        ----------
        key
            A metric set with :meth:`set_weights`.
        origin, destination
            Points on edges.
        forbidden
            Optional per-edge mask of extra impassable edges for this query only. The
            unconstrained path is tried first (removing edges cannot make it cheaper, so
            if it avoids them it is optimal); otherwise the forbidden arcs are set to
            infinity by a partial update, the query is re-run and the update reverted, all
            under the lock.

        Returns
        -------
        EdgePath or None
            ``None`` when no path exists.
        """
        with self.searching(key, exclusive=forbidden is not None) as search:
            return search.route(origin, destination, forbidden=forbidden)

    def route_via(
        self,
        key: Hashable,
        origin: EdgePosition,
        via: int,
        destination: EdgePosition,
        *,
        forbidden: BoolArray | None = None,
    ) -> EdgePath | None:
        """Cheapest path from ``origin`` through node ``via`` to ``destination``.

        The two halves are cheapest paths (as :meth:`route`); the whole may repeat nodes
        (callers wanting a simple path check it). ``None`` when either half is missing.
        """
        with self.searching(key, exclusive=forbidden is not None) as search:
            head = search.route(origin, via, forbidden=forbidden)
            tail = None if head is None else search.route(via, destination, forbidden=forbidden)
        return None if head is None or tail is None else joined(head, tail)

    def typical_query_s(self, key: Hashable, *, samples: int = 16, seed: int = 0) -> float:
        """Median seconds of a :meth:`route` under metric ``key`` (path unpacked) between
        the midpoints of ``samples`` random edges (seeded), after two unmeasured ones."""
        if self.graph.edge_count == 0:
            return 0.0
        rng = np.random.default_rng(seed)
        edges = rng.integers(0, self.graph.edge_count, size=(samples + 2, 2)).tolist()
        took_s: list[float] = []
        for a, b in edges:
            t0 = time.perf_counter()
            self.route(key, _Midpoint(a), _Midpoint(b))
            took_s.append(time.perf_counter() - t0)
        return float(np.median(took_s[2:]))

    def node_distance(self, key: Hashable, source: int, target: int) -> float | None:
        """Cost between two nodes under metric ``key`` (integer-rounded, weight units)."""
        with self.searching(key) as search:
            return search.node_distance(source, target)

    def _ends(
        self, m: _Metric, at: EdgePosition | int, forbidden: BoolArray | None, *, leaving: bool
    ) -> dict[int, tuple[int, int, float]]:
        """``node -> (integer cost, edge, fraction)``: the nodes a path starting at ``at``
        reaches first (``leaving``: heads of its edge options, cost of the rest of the edge)
        or a path ending at ``at`` comes from (their tails, cost of the part before); a
        node ``at`` is itself, at no cost."""
        if isinstance(at, int):
            return {at: (0, -1, 0.0)}
        ends: dict[int, tuple[int, int, float]] = {}
        for e, f in _origin_options(self.graph, at):
            iw = _int_weight_or_inf(m, e, forbidden)
            if iw >= INF_WEIGHT:
                continue
            node = int(self._head[e] if leaving else self._tail[e])
            cost = round(((1.0 - f) if leaving else f) * iw)
            if node not in ends or cost < ends[node][0]:
                ends[node] = (cost, e, f)
        return ends


class MetricSearch:
    """Queries on one metric, its lock held, sharing one RoutingKit query object (made when
    first needed, or the one a search thread keeps); from :meth:`CCHEngine.searching`, on
    the thread that made it (the extension's objects are thread-bound). ``exclusive``: no
    search thread keeps a query object for the metric, so that ``forbidden`` edges may be
    set on it for a query."""

    def __init__(self, engine: CCHEngine, metric: _Metric, *, exclusive: bool = False) -> None:
        self._engine = engine
        self._m = metric
        self._exclusive = exclusive
        self._query: rk.CCHQuery | None = None

    @property
    def weights(self) -> FloatArray:
        """The metric's float weights (read-only use)."""
        return self._m.weights

    @property
    def scale(self) -> float:
        """The metric's integer scale (integer units per weight unit)."""
        return self._m.scale

    def close(self) -> None:
        """Drop the query object (before the metric may change; a search thread's own
        stays with the thread)."""
        self._query = None

    def _run(self) -> rk.CCHQuery:
        if self._query is None:
            m = self._m
            query = None if m.evicting else kept(m, lambda: rk.CCHQuery(m.metric))
            self._query = rk.CCHQuery(m.metric) if query is None else query
        return self._query

    def node_distance(self, source: int, target: int) -> float | None:
        """Cost between two nodes (integer-rounded, weight units)."""
        result = self._run().run(int(source), int(target))
        distance = result.distance
        del result
        return None if distance is None else distance / self._m.scale

    def via_costs(
        self,
        origin: EdgePosition,
        nodes: IntArray,
        destination: EdgePosition,
        *,
        parallel: bool = False,
    ) -> tuple[FloatArray, FloatArray]:
        """Cost from ``origin`` to each of ``nodes`` and from each of them to
        ``destination`` (``inf`` when unreachable), weight units.

        One CCH one-to-many and one many-to-one search (``CCHOneToMany``,
        ``CCHManyToOne``: 2-6 ms for hundreds of nodes at 1M nodes, where a Dijkstra tree
        costs hundreds). With ``parallel`` the many-to-one runs on a search thread
        meanwhile (both release the GIL), or here when no search thread has started it by
        the time the one-to-many is done: this search holds the metric's lock, and a
        search thread may be waiting for it.
        """
        m, engine = self._m, self._engine
        ids = np.asarray(nodes, dtype=np.int64).tolist()
        sources = [(n, v[0]) for n, v in engine._ends(m, origin, None, leaving=True).items()]
        targets = [(n, v[0]) for n, v in engine._ends(m, destination, None, leaving=False).items()]
        backward: Future[list[int | None]] | None = None
        if parallel and ids and targets and not on_search_thread():
            backward = SEARCH_POOL.submit(_many_to_one, m.metric, ids, targets)
        to_nodes = _one_to_many(m.metric, ids, sources)
        if backward is None or backward.cancel():
            from_nodes = _many_to_one(m.metric, ids, targets)
        else:
            from_nodes = backward.result()
        return _distances(to_nodes, m.scale), _distances(from_nodes, m.scale)

    def route(
        self,
        origin: EdgePosition | int,
        destination: EdgePosition | int,
        *,
        forbidden: BoolArray | None = None,
    ) -> EdgePath | None:
        """As :meth:`CCHEngine.route`, between points on edges or nodes (``int``)."""
        path, raw_edges = self._route(origin, destination)
        if forbidden is None or path is None:
            return path
        # Check the zero-length end pieces too: starting at the head of a forbidden
        # edge still counts as using it (as in the reference engine).
        if not forbidden[raw_edges].any():
            return path
        if not self._exclusive:
            raise RuntimeError("forbidden edges need searching(key, exclusive=True)")
        m = self._m
        banned = np.flatnonzero(forbidden & np.isfinite(m.weights))
        self.close()  # a partial update with a query object alive panics
        self._engine._partial_update(m.metric, dict.fromkeys(banned.tolist(), INF_WEIGHT))
        try:
            return self._route(origin, destination, forbidden)[0]
        finally:
            self.close()
            saved = _scaled(m.weights[banned], m.scale)
            updates = dict(zip(banned.tolist(), saved.tolist(), strict=True))
            self._engine._partial_update(m.metric, updates)

    def _route(
        self,
        origin: EdgePosition | int,
        destination: EdgePosition | int,
        forbidden: BoolArray | None = None,
    ) -> tuple[EdgePath | None, IntArray]:
        """Cheapest path between points on edges or nodes (``int``); also the edges of its
        pieces before empty end pieces are dropped (they count for ``forbidden``)."""
        m, engine = self._m, self._engine
        sources = engine._ends(m, origin, forbidden, leaving=True)
        targets = engine._ends(m, destination, forbidden, leaving=False)
        best: tuple[int, PathArrays] | None = None
        # Direct: both points on the same directed edge, destination ahead.
        if not isinstance(origin, int) and not isinstance(destination, int):
            for e, f in _origin_options(engine.graph, origin):
                for d, g in _origin_options(engine.graph, destination):
                    if e != d or g < f or (iw := _int_weight_or_inf(m, e, forbidden)) >= INF_WEIGHT:
                        continue
                    cost = round((g - f) * iw)
                    if best is None or cost < best[0]:
                        best = (cost, _one_piece(e, f, g))
        if sources and targets:
            result = self._run().run_multi(
                [(n, v[0]) for n, v in sources.items()],
                [(n, v[0]) for n, v in targets.items()],
            )
            distance = result.distance
            arcs = result.arc_path
            # End nodes from the arcs; the node path is read only for an arc-less path.
            ends: tuple[int, int] | None = None
            if arcs:
                ends = (int(engine._tail[arcs[0]]), int(engine._head[arcs[-1]]))
            elif nodes := list(result.node_path):
                ends = (nodes[0], nodes[-1])
            del result  # before the next query on this object
            if distance is not None and ends and (best is None or distance < best[0]):
                _, se, sf = sources[ends[0]]
                _, de, df = targets[ends[1]]
                best = (int(distance), _arcs_path(arcs, se, sf, de, df))
        if best is None:
            return None, np.zeros(0, dtype=np.int64)
        raw = best[1]
        arrays = raw.without_empty()
        return EdgePath(arrays, path_cost(m.weights, arrays)), raw.edges


def joined(head: EdgePath, tail: EdgePath) -> EdgePath:
    """``head`` then ``tail`` (which starts where ``head`` ends) as one path."""
    arrays = PathArrays.concat([head.arrays, tail.arrays]).without_empty()
    return EdgePath(arrays, head.cost + tail.cost)


@dataclass(frozen=True, slots=True)
class _Midpoint:
    """The middle of ``edge`` (an :class:`EdgePosition`)."""

    edge: int
    fraction: float = 0.5


def _one_piece(edge: int, start: float, end: float) -> PathArrays:
    return PathArrays(
        np.array([edge], dtype=np.int64),
        np.array([start], dtype=np.float64),
        np.array([end], dtype=np.float64),
    )


def _arcs_path(arcs: list[int], se: int, sf: float, de: int, df: float) -> PathArrays:
    """The path of a CCH query: whole arcs, behind the part of the origin's edge from
    ``sf`` (``se`` < 0: none) and before the destination's up to ``df``."""
    head = [se] if se >= 0 else []
    tail = [de] if de >= 0 else []
    edges = np.array([*head, *arcs, *tail], dtype=np.int64)
    start = np.zeros(edges.shape[0])
    end = np.ones(edges.shape[0])
    if head:
        start[0] = sf
    if tail:
        end[-1] = df
    return PathArrays(edges, start, end)


def _int_weight_or_inf(m: _Metric, edge: int, forbidden: BoolArray | None) -> int:
    if forbidden is not None and forbidden[edge]:
        return INF_WEIGHT
    return _int_weight(m, edge)


def _one_to_many(
    metric: rk.CCHMetric, nodes: list[int], sources: list[tuple[int, int]]
) -> list[int | None]:
    """Integer distances from ``sources`` (node, initial cost) to each of ``nodes``; the
    search object is made and dropped on the calling thread."""
    if not sources or not nodes:
        return [None] * len(nodes)
    search = rk.CCHOneToMany(metric, nodes)
    try:
        return search.distances_from_multi(sources)
    finally:
        del search  # here, even on an error: alive, it would block the metric's changes


def _many_to_one(
    metric: rk.CCHMetric, nodes: list[int], targets: list[tuple[int, int]]
) -> list[int | None]:
    """Integer distances from each of ``nodes`` to ``targets`` (node, final cost)."""
    if not targets or not nodes:
        return [None] * len(nodes)
    search = rk.CCHManyToOne(metric, nodes)
    try:
        return search.distances_to_multi(targets)
    finally:
        del search


def _distances(raw: list[int | None], scale: float) -> FloatArray:
    """RoutingKit distances (``None`` = unreachable) in weight units."""
    return np.array([np.inf if d is None else d / scale for d in raw], dtype=np.float64)


class NetworkxEngine:
    """Reference engine with the same interface as :class:`CCHEngine` (Dijkstra, floats).

    Parallel edges keep the cheapest. Slow; for tests and the baseline only.
    """

    def __init__(self, graph: RoadGraph) -> None:
        self.graph = graph
        self._weights: dict[Hashable, FloatArray] = {}

    def set_weights(self, key: Hashable, weights: FloatArray) -> UpdateStats:
        """Store float weights under ``key`` (see :meth:`CCHEngine.set_weights`)."""
        self._weights[key] = np.array(weights, dtype=np.float64, copy=True)
        return UpdateStats("new", int(self._weights[key].shape[0]), 0.0)

    def weights(self, key: Hashable) -> FloatArray:
        """The float weights of metric ``key``."""
        return self._weights[key]

    def route(
        self,
        key: Hashable,
        origin: EdgePosition,
        destination: EdgePosition,
        *,
        forbidden: BoolArray | None = None,
    ) -> EdgePath | None:
        """Cheapest path, as :meth:`CCHEngine.route`, by ``networkx.dijkstra_path``."""
        w = self._weights[key].copy()
        if forbidden is not None:
            w[forbidden] = np.inf
        g = self.graph
        dg: nx.DiGraph = nx.DiGraph()
        for e in range(g.edge_count):
            if not np.isfinite(w[e]):
                continue
            u, v = int(g.edge_tail[e]), int(g.edge_head[e])
            if not dg.has_edge(u, v) or dg[u][v]["weight"] > w[e]:
                dg.add_edge(u, v, weight=float(w[e]), edge=e)
        src, dst = "s", "t"
        dg.add_node(src)
        dg.add_node(dst)
        for e, f in _origin_options(g, origin):
            if np.isfinite(w[e]):
                _add_min(dg, src, int(g.edge_head[e]), (1 - f) * w[e], ("o", e, f))
        for e, f in _origin_options(g, destination):
            if np.isfinite(w[e]):
                _add_min(dg, int(g.edge_tail[e]), dst, f * w[e], ("d", e, f))
        for e, f in _origin_options(g, origin):
            for d, h in _origin_options(g, destination):
                if e == d and h >= f and np.isfinite(w[e]):
                    _add_min(dg, src, dst, (h - f) * w[e], ("sd", e, f, h))
        try:
            nodes = nx.dijkstra_path(dg, src, dst, weight="weight")
        except nx.NetworkXNoPath:
            return None
        pieces: list[Piece] = []
        for a, b in itertools.pairwise(nodes):
            tag = dg[a][b]["edge"]
            if isinstance(tag, tuple):
                if tag[0] == "o":
                    pieces.append(Piece(tag[1], tag[2], 1.0))
                elif tag[0] == "d":
                    pieces.append(Piece(tag[1], 0.0, tag[2]))
                else:
                    pieces.append(Piece(tag[1], tag[2], tag[3]))
            else:
                pieces.append(Piece(int(tag)))
        kept = PathArrays.of(pieces).without_empty()
        return EdgePath(kept, path_cost(w, kept))


def _add_min(dg: nx.DiGraph, u: object, v: object, weight: float, tag: object) -> None:
    if not dg.has_edge(u, v) or dg[u][v]["weight"] > weight:
        dg.add_edge(u, v, weight=float(weight), edge=tag)
