"""The live risk picture of one process: risk field, routing metrics and their refresh.

A background thread recomputes the risk field from the store whenever reports or zones
change (bursts are coalesced) and every ``risk_refresh_s`` seconds (decay), then updates
the routing metrics. Requests for another instant (``depart_at`` in the past or future)
get a field computed for that instant, cached for a short while; a later instant before any
input change is the current field projected forward (decay and night only, milliseconds:
:meth:`corridors.risk.engine.RiskField.projected`).
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from prometheus_client import Gauge, Histogram

from corridors.graph.model import RoadGraph
from corridors.ingest import FUTURE_TOLERANCE
from corridors.risk.config import RiskModelConfig
from corridors.risk.engine import RiskEngine, RiskField
from corridors.routing import CostModel, RoutingState
from corridors.services.clock import Clock
from corridors.services.reports import incidents_for_risk
from corridors.services.zones import active_zones
from corridors.store import Database, ZoneRepository

__all__ = ["RiskState"]

log = logging.getLogger(__name__)

REFRESH_S = Histogram(
    "corridors_risk_refresh_seconds",
    "Risk field recompute plus routing metric update, seconds",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
REPORTS_CONSIDERED = Gauge(
    "corridors_risk_reports_considered", "Reports counted in the current risk field"
)

#: A request within this of the current field's instant uses the current field.
_SAME_INSTANT = timedelta(minutes=5)
_ADHOC_CACHE_SIZE = 32


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
        field, self._change_times = self._compute(self._now())
        self.routing = RoutingState(
            graph,
            field,
            cost_model=CostModel.from_high_risk(config.levels.high),
            high_risk_per_km=config.levels.high,
        )
        self._field = field
        self._generation = 0
        self._done_generation = 0
        self._cond = threading.Condition()
        self._stop = False
        self._adhoc: OrderedDict[datetime, RiskField] = OrderedDict()
        self._adhoc_lock = threading.Lock()
        self._adhoc_generation = 0
        # Projections of the current field (the source), by instant.
        self._projected: OrderedDict[datetime, RiskField] = OrderedDict()
        self._projected_source: RiskField | None = None
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[RiskField], None]] = []

    def _now(self) -> datetime:
        return self._clock()

    # -- the current field ----------------------------------------------------------------
    @property
    def field(self) -> RiskField:
        """The current risk field."""
        return self._field

    def field_at(self, at: datetime | None, *, quantum: timedelta | None = None) -> RiskField:
        """The risk field as of ``at`` (None: now).

        The current field serves instants within five minutes of it when no report occurred
        or expired and no zone began or ended in between (so a replay stays exact); other
        instants get a field computed for them, cached so a planner replaying a day pays
        once. A later instant before any such change, and before a counted report reaches its
        maximum age, is the current field projected forward (exact up to float32 rounding,
        explanations included). ``quantum`` rounds ``at`` up to a multiple of it first: for
        departure times tried hours ahead, where a few minutes more of decay change nothing
        that matters.
        """
        current = self._field
        if at is None:
            return current
        if quantum is not None:
            step = quantum.total_seconds()
            at = datetime.fromtimestamp(math.ceil(at.timestamp() / step) * step, tz=at.tzinfo)
        if abs(at - current.computed_at) <= _SAME_INSTANT and not self._changes_between(
            at, current.computed_at
        ):
            return current
        if (
            at > current.computed_at
            and current.can_project(at)
            and not self._changes_between(at, current.computed_at)
        ):
            return self._projection(current, at)
        with self._adhoc_lock:
            cached = self._adhoc.get(at)
            if cached is not None and self._adhoc_generation == self._done_generation:
                self._adhoc.move_to_end(at)
                return cached
        field = self._compute(at)[0]
        with self._adhoc_lock:
            if self._adhoc_generation != self._done_generation:
                self._adhoc.clear()
                self._adhoc_generation = self._done_generation
            self._adhoc[at] = field
            while len(self._adhoc) > _ADHOC_CACHE_SIZE:
                self._adhoc.popitem(last=False)
        return field

    def _projection(self, current: RiskField, at: datetime) -> RiskField:
        """``current.projected(at)``, cached while ``current`` is the current field."""
        with self._adhoc_lock:
            if self._projected_source is not current:
                self._projected.clear()
                self._projected_source = current
            cached = self._projected.get(at)
            if cached is not None:
                self._projected.move_to_end(at)
                return cached
        field = current.projected(at)
        with self._adhoc_lock:
            if self._projected_source is current:
                self._projected[at] = field
                while len(self._projected) > _ADHOC_CACHE_SIZE:
                    self._projected.popitem(last=False)
        return field

    def _changes_between(self, a: datetime, b: datetime) -> bool:
        """True when a report or zone of the current field starts or stops counting in
        ``(min(a, b), max(a, b)]``."""
        lo, hi = sorted((a.timestamp(), b.timestamp()))
        times = self._change_times
        return bisect.bisect_right(times, hi) > bisect.bisect_right(times, lo)

    def _compute(self, at: datetime) -> tuple[RiskField, list[float]]:
        """The field at ``at`` and the sorted instants where its inputs change.

        The instants include reports dated up to the ingest tolerance after ``at`` (stored
        before the next refresh) and zones starting after ``at``, so that a projection
        forward never skips them.
        """
        incidents = incidents_for_risk(self.db, at + 2 * FUTURE_TOLERANCE)
        zones = active_zones(self.db, at)
        times = [i.occurred_at.timestamp() for i in incidents]
        times += [i.expires_at.timestamp() for i in incidents if i.expires_at is not None]
        with self.db.session() as s:
            times += [
                t.timestamp()
                for z in ZoneRepository(s).list(at=at)
                for t in (z.valid_from, z.valid_until)
                if t is not None
            ]
        # The engine ignores the reports dated after ``at``.
        return self.engine.compute(incidents, zones, at=at), sorted(times)

    def refresh_now(self) -> RiskField:
        """Recompute the field at the current time and update the routing metrics."""
        started = time.perf_counter()
        field, times = self._compute(self._now())
        self.routing.refresh(field)
        self._field = field
        self._change_times = times
        REFRESH_S.observe(time.perf_counter() - started)
        REPORTS_CONSIDERED.set(field.reports_considered)
        for listener in list(self._listeners):
            try:
                listener(field)
            except Exception:  # a listener's failure must not stop the refreshes
                log.exception("risk refresh listener failed")
        return field

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
        """Start the background refresher thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="corridors-risk-refresh", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the background refresher thread."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._generation == self._done_generation and not self._stop:
                    self._cond.wait(self.refresh_interval_s)
                if self._stop:
                    return
                target = self._generation
            try:
                self.refresh_now()
            except Exception:  # keep serving the last good field; the log says why
                log.exception("risk refresh failed; keeping the previous risk field")
            with self._cond:
                self._done_generation = max(self._done_generation, target)
                self._cond.notify_all()
