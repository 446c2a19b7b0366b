"""The live risk picture of one process: risk field, routing metrics and their refresh.

Two background threads keep the risk field and the routing metrics up to date:

- when reports or zones change (bursts are coalesced), an *incremental refresh* reads the
  rows the store stamped since its last read (:mod:`corridors.services.risk_inputs`, not
  every stored report), works out the reports added, changed or removed and the zones
  changed since the base field, and applies them to the base at its instant
  (:meth:`RiskEngine.updated`, :meth:`RiskEngine.with_zones`): only the segments those
  reports reach change, so the metrics get partial updates. Milliseconds plus the metric
  updates, where a full refresh costs a full read, a field compute and a full
  re-customisation of every metric;
- every ``risk_refresh_s`` seconds, a *full refresh* reads the store and computes the field
  at the current time (time decay): the new *base* field. The read, the compute, the
  explaining of its high-risk segments (which reports make them risky, read by route
  requests: :mod:`corridors.risk.explanations`) and (on graphs up to
  :data:`corridors.routing.planner.STAGED_REFRESH_MAX_NODES` nodes) the re-customisation
  of spare routing metrics run outside the lock incremental refreshes take, so new and
  retracted reports keep reaching routes meanwhile; then, under it, what was stored since
  the full read is applied to the new base and to the spare metrics (partial updates),
  which are swapped in. Larger graphs re-customise in place, under
  the lock (a spare metric per level would cost ~360 MB at 1M nodes).

Requests for another instant (``depart_at`` in the past or future) get a field computed for
that instant, cached for a short while; a later instant before any report occurs or zone
starts or ends is the base field projected forward (decay, night, reports passing their
maximum age or expiring: :meth:`corridors.risk.engine.RiskField.projected`) with the same
changes applied, in milliseconds.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
from prometheus_client import Gauge, Histogram

from corridors.domain import Incident, Zone
from corridors.graph.model import RoadGraph
from corridors.ingest import FUTURE_TOLERANCE
from corridors.risk.config import RiskModelConfig
from corridors.risk.engine import RiskEngine, RiskField
from corridors.routing import CostModel, RiskSnapshot, RoutingState
from corridors.services.clock import Clock
from corridors.services.reports import incidents_for_risk
from corridors.services.risk_inputs import (
    Delta,
    FloatArray,
    FullRead,
    read_all,
    read_delta,
    times_of,
)
from corridors.services.zones import active_zones
from corridors.store import Database

__all__ = ["RiskState", "field_cache_size"]

log = logging.getLogger(__name__)

REFRESH_S = Histogram(
    "corridors_risk_refresh_seconds",
    "Risk field refresh (full or incremental) plus routing metric update, seconds",
    ["mode"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
EXPLAIN_S = Histogram(
    "corridors_risk_explanations_seconds",
    "Explaining a new risk field's high-risk segments ahead of requests, seconds",
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
REPORTS_CONSIDERED = Gauge(
    "corridors_risk_reports_considered", "Reports counted in the current risk field"
)

#: A request within this of the current field's instant uses the current field; an
#: incremental refresh applies changes to a base field at most this old.
_SAME_INSTANT = timedelta(minutes=5)
#: Risk fields kept per cache (departure times, replays) at most, and the bytes they may
#: take together: at 1M nodes (3.4M edges) a field holds ~80 MB of per-edge arrays, so
#: a count alone would let a day of departure windows take gigabytes; fewer than the
#: ~10 departure instants the escort policy tries at once makes every try a projection
#: (measured at 1M nodes with 100k reports: 256 MB, 3 fields, 871 ms per route request).
_FIELD_CACHE_SIZE = 32
_FIELD_CACHE_BYTES = 1024 * 2**20
#: Estimated bytes of one cached field per edge (risk, multiplier, segment risk).
_FIELD_BYTES_PER_EDGE = 24
#: The periodic full refresh runs at most this share of the time: after one that took
#: ``d`` seconds, the next waits at least ``d / share`` (at 1M nodes a full refresh takes
#: tens of seconds; back to back they would starve requests on a small machine).
_FULL_REFRESH_MAX_SHARE = 0.1
#: Most reports added, changed or removed since the base field that an incremental refresh
#: applies (an import, say); beyond, a full refresh takes over (it regroups the reports).
_MAX_CHANGED_REPORTS = 2000


@dataclass(frozen=True, eq=False)
class _Changes:
    """Reports and zones changed since a base field's inputs."""

    add: tuple[Incident, ...] = ()
    remove: frozenset[str] = frozenset()
    zones: tuple[Zone, ...] | None = None  # the new zone set when it changed

    @property
    def count(self) -> int:
        return len(self.add) + len(self.remove)

    def same_as(self, other: _Changes) -> bool:
        """True when both make the same changes."""
        return (
            self.add == other.add
            and self.remove == other.remove
            and (self.zones is None) == (other.zones is None)
            and _zone_keys(self.zones or ()) == _zone_keys(other.zones or ())
        )


@dataclass(frozen=True, eq=False)
class _Picture:
    """The current field, the base field it derives from and what separates them.

    ``current`` is ``base`` with ``changes`` applied at the base's instant ``t`` as
    ``applied`` (see :func:`_as_of`), standing for every instant from ``t`` to the last read
    of the store ``delta.read_at`` (the reports and zones stored by then count, as of ``t``);
    ``times`` are the sorted instants where a report changed since the base or a current
    zone starts or stops (those of the base's reports are ``base_inputs.report_times``).
    """

    base: RiskField
    base_inputs: FullRead
    delta: Delta
    changes: _Changes
    applied: _Changes
    current: RiskField
    times: FloatArray

    @property
    def read_at(self) -> datetime:
        """The last read of the store."""
        return self.delta.read_at

    def changes_between(self, a: float, b: float) -> bool:
        """True when a report or zone starts or stops counting in ``(a, b]``."""
        return _any_between(self.base_inputs.report_times, a, b) or _any_between(self.times, a, b)


def _any_between(times: FloatArray, a: float, b: float) -> bool:
    """True when the sorted ``times`` hold one in ``(a, b]``."""
    return bool(np.searchsorted(times, b, side="right") > np.searchsorted(times, a, side="right"))


def _changes(base: FullRead, delta: Delta, zones: tuple[Zone, ...]) -> _Changes:
    """Reports added, changed or removed since ``base`` and the zone set if it changed.

    ``zones`` is the zone set after ``delta`` (:meth:`Delta.zones_with`).
    """
    old = base.incidents
    add = sorted(
        (i for rid, i in delta.incidents.items() if i is not None and old.get(rid) != i),
        key=lambda i: (i.occurred_at, i.id),
    )
    remove = frozenset(rid for rid, i in delta.incidents.items() if i is None and rid in old)
    same_zones = _zone_keys(base.zone_list) == _zone_keys(zones)
    return _Changes(tuple(add), remove, None if same_zones else zones)


def _zone_keys(zones: Sequence[Zone]) -> list[tuple[object, ...]]:
    return [
        (z.id, z.kind, z.multiplier, z.valid_from, z.valid_until, z.geometry.wkb) for z in zones
    ]


def _as_of(changes: _Changes, t: datetime, read_at: datetime) -> _Changes:
    """``changes`` taken in at the base instant ``t`` although read at ``read_at >= t``.

    A report that occurred in ``(t, read_at]`` counts as if it occurred at ``t``; the zones
    in force at ``read_at`` act from ``t`` on, whatever their validity.
    """
    add = tuple(
        replace(i, occurred_at=t) if t < i.occurred_at <= read_at else i for i in changes.add
    )
    zones = changes.zones
    if zones is not None:
        zones = tuple(
            replace(z, valid_from=None, valid_until=None) for z in zones if z.active_at(read_at)
        )
    return _Changes(add, changes.remove, zones)


def field_cache_size(edge_count: int) -> int:
    """Fields a cache keeps for a graph of ``edge_count`` edges (2 .. 32, ~1 GB)."""
    per_field = max(1, edge_count * _FIELD_BYTES_PER_EDGE)
    return max(2, min(_FIELD_CACHE_SIZE, _FIELD_CACHE_BYTES // per_field))


def _recall(cache: OrderedDict[datetime, RiskField], at: datetime) -> RiskField | None:
    """The field ``cache`` holds for ``at`` (marked as used last), or None."""
    field = cache.get(at)
    if field is not None:
        cache.move_to_end(at)
    return field


def _remember(
    cache: OrderedDict[datetime, RiskField], at: datetime, field: RiskField, size: int
) -> None:
    """Keep ``field`` in ``cache`` for ``at``; beyond ``size`` fields the least recently
    used are let go."""
    cache[at] = field
    while len(cache) > size:
        cache.popitem(last=False)


class RiskState:
    """Current risk field and routing metrics, refreshed in the background.

    Parameters
    ----------
    graph
        The served road graph.
    db
        Where reports and zones are read from.
    config
        The risk model.
    clock
        Source of "now" (aware UTC).
    refresh_interval_s
        Full refresh period for time decay, seconds.
    """

    def __init__(
        self,
        graph: RoadGraph,
        db: Database,
        config: RiskModelConfig,
        *,
        clock: Clock,
        refresh_interval_s: float,
    ) -> None:
        self.graph = graph
        self.db = db
        self.config = config
        self._clock = clock
        self.refresh_interval_s = refresh_interval_s
        self.engine = RiskEngine(graph, config)
        self._picture = self._full_picture(self._now())
        self.routing = RoutingState(
            graph,
            self._picture.current,
            cost_model=CostModel.from_high_risk(config.levels.high),
            high_risk_per_km=config.levels.high,
        )
        # Held while the current picture and the metrics change; a full refresh holds the
        # second one throughout (one at a time) and the first only to install its result.
        self._refresh_lock = threading.Lock()
        self._full_lock = threading.Lock()
        self._generation = 0
        self._done_generation = 0
        self._cond = threading.Condition()
        self._stop = False
        self._cache_size = field_cache_size(graph.edge_count)
        self._adhoc: OrderedDict[datetime, RiskField] = OrderedDict()
        self._adhoc_lock = threading.Lock()
        self._adhoc_generation = 0
        # Later instants derived from the current picture (base projected, changes applied).
        self._derived: OrderedDict[datetime, RiskField] = OrderedDict()
        self._derived_source: _Picture | None = None
        # The base field projected to later instants, changes not applied: kept across
        # incremental refreshes (same base), let go when a full refresh starts.
        self._projected: OrderedDict[datetime, RiskField] = OrderedDict()
        self._projected_base: RiskField | None = None
        self._threads: list[threading.Thread] = []
        self._listeners: list[Callable[[RiskField], None]] = []

    def _now(self) -> datetime:
        return self._clock()

    # -- the current field ----------------------------------------------------------------
    @property
    def field(self) -> RiskField:
        """The current risk field."""
        return self._picture.current

    def field_at(self, at: datetime | None, *, quantum: timedelta | None = None) -> RiskField:
        """The risk field as of ``at`` (None: now).

        The current field serves instants within five minutes of it when no report occurred
        or expired and no zone began or ended in between (so a replay stays exact); it
        stands for every instant from its computation to the last read of the store. A later
        instant before any report occurs or zone starts or ends is derived from the base
        field (projected forward, exact up to float32 rounding, explanations included, with
        the changes since applied; the projections themselves are kept until the next full
        refresh starts, so a change only re-applies); other instants get a field computed
        for them, cached so a planner replaying a day pays once. ``quantum`` rounds ``at``
        up to a multiple of it first: for departure times tried hours ahead, where a few
        minutes more of decay change nothing that matters.
        """
        picture = self._picture
        current = picture.current
        if at is None:
            return current
        if quantum is not None:
            step = quantum.total_seconds()
            at = datetime.fromtimestamp(math.ceil(at.timestamp() / step) * step, tz=at.tzinfo)
        t = current.computed_at
        if abs(at - t) <= _SAME_INSTANT and not self._changes_outside(picture, at):
            return current
        if at > t and picture.base.can_project(at):
            return self._derived_field(picture, at)
        with self._adhoc_lock:
            current_generation = self._adhoc_generation == self._done_generation
            cached = _recall(self._adhoc, at) if current_generation else None
            if cached is not None:
                return cached
        field = self._compute(at)
        with self._adhoc_lock:
            if self._adhoc_generation != self._done_generation:
                self._adhoc.clear()
                self._adhoc_generation = self._done_generation
            _remember(self._adhoc, at, field, self._cache_size)
        return field

    @staticmethod
    def _changes_outside(picture: _Picture, at: datetime) -> bool:
        """True when a report or zone starts or stops counting between ``at`` and the span
        the current field stands for (its instant to the last read of the store)."""
        t = picture.current.computed_at.timestamp()
        read = max(picture.read_at.timestamp(), t)
        s = at.timestamp()
        if s < t:
            return picture.changes_between(s, read)
        return s > read and picture.changes_between(read, s)

    def _derived_field(self, picture: _Picture, at: datetime) -> RiskField:
        """The field at ``at > base instant``: the base projected, the changes applied;
        cached while ``picture`` is current."""
        with self._adhoc_lock:
            if self._derived_source is not picture:
                self._derived.clear()
                self._derived_source = picture
            cached = _recall(self._derived, at)
            if cached is not None:
                return cached
        field = self._apply(self._projection(picture.base, at), picture.changes)
        with self._adhoc_lock:
            if self._derived_source is picture:
                _remember(self._derived, at, field, self._cache_size)
        return field

    def _projection(self, base: RiskField, at: datetime) -> RiskField:
        """``base`` projected to ``at``, cached while ``base`` is the current base.

        A report or zone changed since the base was computed installs a new picture on
        the same base: the fields derived for it apply the changes to these projections
        (about a millisecond for a few reports) instead of projecting again (4-12 ms each
        at 100k nodes with 10k reports, ~100 ms at 1M with 100k; a request tries four
        departure times). Without changes the derived field is the projection itself.
        """
        with self._adhoc_lock:
            cached = _recall(self._projected, at) if self._projected_base is base else None
            if cached is not None:
                return cached
        field = base.projected(at)
        with self._adhoc_lock:
            if self._full_lock.locked():  # a full refresh is under way: nothing is kept
                return field
            if self._projected_base is not base and base is self._picture.base:
                self._projected.clear()
                self._projected_base = base
            if self._projected_base is base:
                _remember(self._projected, at, field, self._cache_size)
        return field

    def _apply(self, field: RiskField, changes: _Changes) -> RiskField:
        """``field`` with the reports and zones of ``changes`` applied at its instant."""
        if changes.add or changes.remove:
            field = self.engine.updated(field, add=changes.add, remove=changes.remove)
        if changes.zones is not None:
            field = self.engine.with_zones(field, changes.zones)
        return field

    # -- reading and computing --------------------------------------------------------------
    def _full_picture(self, now: datetime) -> _Picture:
        """A full read of the store at ``now`` and the base field computed from it.

        Reports dated after ``now`` (stored before the next refresh) and zones starting
        after ``now`` are read too, so that a projection forward never skips them; the
        engine ignores them at ``now``.
        """
        inputs = read_all(self.db, now)
        field = self.engine.compute(list(inputs.incidents.values()), inputs.zone_list, at=now)
        none = _Changes()
        times = times_of((), inputs.zone_list)
        return _Picture(field, inputs, Delta.empty(inputs), none, none, field, times)

    def _advance(self, picture: _Picture, now: datetime) -> _Picture | None:
        """``picture`` with what the store holds at ``now``, applied at its base instant.

        Only the rows stored since ``picture``'s last read are read. The changes are
        applied at the base field's instant (a report that occurred since counts as if it
        occurred then; see :func:`_as_of`), so only the segments and edges they reach
        change. ``None`` when a full refresh is due instead: the base is older than five
        minutes (time decay) or too many reports changed.
        """
        t = picture.base.computed_at
        if not timedelta(0) <= now - t <= _SAME_INSTANT:
            return None
        delta = read_delta(self.db, picture.delta, now)
        zones = delta.zones_with(picture.base_inputs, now)
        changes = _changes(picture.base_inputs, delta, zones)
        if changes.count > _MAX_CHANGED_REPORTS:
            return None
        applied = _as_of(changes, t, now)
        current = picture.current
        if not applied.same_as(picture.applied):
            current = self._apply(picture.base, applied)
        times = times_of((i for i in delta.incidents.values() if i is not None), zones)
        return _Picture(picture.base, picture.base_inputs, delta, changes, applied, current, times)

    def _compute(self, at: datetime) -> RiskField:
        """A field computed for ``at`` from the store (reports and zones as of ``at``)."""
        incidents = incidents_for_risk(self.db, at + 2 * FUTURE_TOLERANCE)
        return self.engine.compute(incidents, active_zones(self.db, at), at=at)

    # -- refreshes --------------------------------------------------------------------------
    def refresh_now(self, *, explain: bool = True) -> RiskField:
        """Full refresh: recompute the field at the current time, explain its high-risk
        segments (:meth:`warm_explanations`), update the routing metrics.

        The store is read, the field computed and explained without holding up incremental
        refreshes; what was stored meanwhile is then applied to the new field, which is
        installed. Explained before it is installed, a new field never serves a request
        that has to work out its hotspots' reports on demand. ``explain=False`` installs it
        unexplained (sooner: an incremental refresh falling back to a full one) and leaves
        the explaining to the full-refresh thread, as for the field of start-up.
        """
        with self._full_lock:
            started = time.perf_counter()
            # The outgoing base's projections are not kept through the refresh's peak of
            # memory, nor cached meanwhile (the fields derived from them still are).
            with self._adhoc_lock:
                self._projected.clear()
                self._projected_base = None
            fresh = self._full_picture(self._now())
            if explain:
                self._explain_quietly(fresh.base)
            staged = self.routing.stage(fresh.current)
            with self._refresh_lock:
                picture = self._advance(fresh, self._now())
                if picture is None:  # a flood of changes meanwhile: start again, holding on
                    picture = self._full_picture(self._now())
                self._install(picture, "full", started, staged)
        return picture.current

    def apply_changes(self) -> RiskField:
        """Incremental refresh: take in what the store holds since the last read.

        Falls back to :meth:`refresh_now` (its field explained afterwards, by the
        full-refresh thread) when the base is older than five minutes (time decay is due)
        or too many reports changed since it (see :meth:`_advance`).
        """
        with self._refresh_lock:
            started = time.perf_counter()
            picture = self._advance(self._picture, self._now())
            if picture is not None:
                self._install(picture, "incremental", started)
                return picture.current
        return self.refresh_now(explain=False)

    def _install(
        self, picture: _Picture, mode: str, started: float, staged: RiskSnapshot | None = None
    ) -> None:
        """Make ``picture`` current: routing metrics first, then the field, then listeners.

        ``staged``: spare metrics customised for an earlier field (a full refresh's, see
        :meth:`RoutingState.stage`), brought up to ``picture`` and swapped in.
        """
        # The fields derived from the outgoing picture are never served again: let them go
        # before the metrics are rewritten (at 1M nodes each holds ~35 MB).
        with self._adhoc_lock:
            self._derived.clear()
            self._derived_source = None
        if staged is not None:
            self.routing.commit(staged, picture.current)
        elif picture.current is not self._picture.current:
            self.routing.refresh(picture.current)
        self._picture = picture
        REFRESH_S.labels(mode=mode).observe(time.perf_counter() - started)
        REPORTS_CONSIDERED.set(picture.current.reports_considered)
        for listener in list(self._listeners):
            try:
                listener(picture.current)
            except Exception:  # a listener's failure must not stop the refreshes
                log.exception("risk refresh listener failed")

    def warm_explanations(self, *, cancelled: Callable[[], bool] | None = None) -> int:
        """Explain the high-risk segments of the current base field ahead of requests.

        Route requests then read which reports make a hotspot from a table instead of
        integrating every kernel that reaches it (see :mod:`corridors.risk.explanations`);
        the current field and those derived at its instant share the table. A full refresh
        explains its field before installing it; the full-refresh thread calls this for the
        field of start-up (and one whose explaining failed or was cancelled). Returns how
        many segments were explained (0: done already, or cancelled). ``cancelled`` is asked
        between batches.
        """
        return self._explain(self._picture.base, cancelled)

    @staticmethod
    def _explain(field: RiskField, cancelled: Callable[[], bool] | None) -> int:
        started = time.perf_counter()
        count = field.warm_explanations(cancelled=cancelled)
        if count:
            took_s = time.perf_counter() - started
            EXPLAIN_S.observe(took_s)
            log.info("explained %d high-risk segments in %.2f s", count, took_s)
        return count

    def _explain_quietly(self, field: RiskField) -> None:
        """:meth:`_explain` that gives up when the service stops and never raises
        (requests still explain on demand)."""
        try:
            self._explain(field, lambda: self._stop)
        except Exception:
            log.exception("explaining the risk field ahead failed")

    def add_listener(self, listener: Callable[[RiskField], None]) -> None:
        """Call ``listener(field)`` after every successful refresh (in the refreshing thread)."""
        self._listeners.append(listener)

    # -- background refresh ---------------------------------------------------------------
    def changed(self, _kind: str = "reports") -> None:
        """Ask for a refresh (reports or zones changed); returns at once."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait_fresh(self, timeout_s: float = 5.0) -> bool:
        """Block until every change asked for so far is in the current field."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            wanted = self._generation
            while self._done_generation < wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def start(self) -> None:
        """Start the background threads (incremental and full refreshes)."""
        if not self._threads:
            self._threads = [
                threading.Thread(target=target, name=name, daemon=True)
                for target, name in (
                    (self._run_changes, "corridors-risk-refresh"),
                    (self._run_full, "corridors-risk-full-refresh"),
                )
            ]
            for thread in self._threads:
                thread.start()

    def stop(self) -> None:
        """Stop the background threads."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def _run_changes(self) -> None:
        """Incremental refresh whenever reports or zones changed."""
        while True:
            with self._cond:
                while self._generation == self._done_generation and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                target = self._generation
            try:
                self.apply_changes()
            except Exception:  # keep serving the last good field; the log says why
                log.exception("risk refresh failed; keeping the previous risk field")
            with self._cond:
                self._done_generation = max(self._done_generation, target)
                self._cond.notify_all()

    def _run_full(self) -> None:
        """Full refresh every ``refresh_interval_s`` (time decay), or less often when one
        takes more than :data:`_FULL_REFRESH_MAX_SHARE` of that. In between, whenever it is
        woken (a change was asked for or applied), explains the current base field if that
        has not been done: the field of start-up, or one an incremental refresh fell back
        to computing in full."""
        due = time.monotonic() + self.refresh_interval_s
        while True:
            self._explain_quietly(self._picture.base)
            with self._cond:
                if not self._stop and (wait_s := due - time.monotonic()) > 0:
                    self._cond.wait(wait_s)
                if self._stop:
                    return
            if time.monotonic() < due:
                continue
            started = time.monotonic()
            try:
                self.refresh_now()
            except Exception:  # keep serving the last good field; the log says why
                log.exception("full risk refresh failed; keeping the previous risk field")
            took_s = time.monotonic() - started
            due = time.monotonic() + max(self.refresh_interval_s, took_s / _FULL_REFRESH_MAX_SHARE)
