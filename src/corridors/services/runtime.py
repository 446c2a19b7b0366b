"""The running service's state: settings, database, road graph and what is built on it.

One :class:`Runtime` per process, made by the app's lifespan (or a CLI command) and
handed to every use case. Writes that change the risk picture call
:meth:`Runtime.reports_changed` / :meth:`Runtime.zones_changed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from corridors.config import Settings
from corridors.escort import EscortPolicy, load_policy
from corridors.graph.model import RoadGraph
from corridors.graph.node_index import NodeIndex
from corridors.graph.snap import EdgeSnapper, service_area_contains
from corridors.risk.config import load_risk_model
from corridors.routing.engine import release_free_memory, tune_allocator
from corridors.services.clock import Clock, utc_now
from corridors.services.corridors import CorridorWatcher
from corridors.services.events import EventBus
from corridors.services.graphs import load_serving_graph
from corridors.services.notifier import ChangeNotifier, make_notifier
from corridors.services.risk_state import RiskState
from corridors.services.route_memory import RouteMemory
from corridors.services.webhooks import SecretBox, WebhookDispatcher
from corridors.store import Database

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


class Runtime:
    """Everything a request needs, built once per process.

    Parameters
    ----------
    settings
        Service settings.
    db
        The database (migrated by :meth:`open`).
    graph
        The road graph being served.
    clock
        Source of "now"; tests pass a fixed clock.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        graph: RoadGraph,
        *,
        clock: Clock = utc_now,
    ) -> None:
        tune_allocator()  # before the indexes and metrics are built (see its docstring)
        self.settings = settings
        self.db = db
        self.graph = graph
        self.clock = clock
        self.snapper = EdgeSnapper(graph)
        NodeIndex.of(graph)  # the alternatives' via nodes: made here, not by a first request
        self.escort_policy: EscortPolicy = load_policy(settings.escort_policy_file)
        self.risk = RiskState(
            graph,
            db,
            load_risk_model(settings.risk_model_file),
            clock=clock,
            refresh_interval_s=settings.risk_refresh_s,
        )
        self.route_memory = RouteMemory()
        self._change_listeners: list[Callable[[str], None]] = [self.risk.changed]
        # Corridors, events and webhooks: status re-evaluated after every risk refresh.
        self.events = EventBus(db, clock=clock)
        self.secret_box = SecretBox.from_settings(settings)
        self.webhooks = WebhookDispatcher(
            db, self.secret_box, clock=clock, timeout_s=settings.webhook_timeout_s
        )
        self.events.on_publish(self.webhooks.wake)
        self.corridors = CorridorWatcher(self)
        self.risk.add_listener(self.corridors.on_refresh)
        # Scale-out: tell the other processes on this database about changes, and apply
        # theirs here (services/notifier.py).
        self.notifier: ChangeNotifier = make_notifier(db, self._changed_elsewhere)
        self.events.on_publish(self._events_published)
        # Building the indexes and metrics freed hundreds of MB of temporaries that glibc
        # would keep in the heap (~450 MB at 1M nodes): hand them back.
        release_free_memory()

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock = utc_now) -> Runtime:
        """Load the serving graph, open and migrate the database."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        tune_allocator()
        graph = load_serving_graph(settings, now=clock())
        db = Database(settings.resolved_database_url)
        db.migrate()
        log.info(
            "graph %s: %d nodes, %d edges%s",
            graph.meta.source,
            graph.node_count,
            graph.edge_count,
            " (DEMO)" if graph.meta.demo else "",
        )
        return cls(settings, db, graph, clock=clock)

    def now(self) -> datetime:
        """Current time from the runtime's clock (aware UTC)."""
        return self.clock()

    def area_contains(self, lon: float, lat: float) -> bool:
        """True when the point lies in the service area (graph bbox plus margin)."""
        return service_area_contains(self.graph, lon, lat, self.settings.service_margin_m)

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(kind)`` after reports or zones change (kind: reports|zones)."""
        self._change_listeners.append(listener)

    def reports_changed(self) -> None:
        """Tell the risk state, here and in other processes, that reports changed (after commit)."""
        self._notify("reports")
        self.notifier.broadcast("reports")

    def zones_changed(self) -> None:
        """Tell the risk state, here and in other processes, that zones changed (after commit)."""
        self._notify("zones")
        self.notifier.broadcast("zones")

    def _notify(self, kind: str) -> None:
        for listener in self._change_listeners:
            listener(kind)

    # -- scale-out hooks (services/notifier.py) -------------------------------------------
    def _events_published(self) -> None:
        self.notifier.broadcast("events")  # a no-op in the notifier's own thread

    def _changed_elsewhere(self, kind: str) -> None:
        """Apply a change another process announced, locally only (no re-broadcast)."""
        if kind == "events":
            self.events.notify()  # wakes SSE streams and the webhook dispatcher
        else:
            self._notify(kind)

    def start(self) -> None:
        """Start background work (change listener, risk refresh, webhook deliveries)."""
        self.notifier.start()  # first: what others commit from now on is not missed
        self.risk.start()
        self.risk.changed("start")  # corridors catch up with what changed while down
        self.webhooks.start()

    def close(self) -> None:
        """Stop background work and release the database connections."""
        self.notifier.close()  # first: nothing relayed or broadcast while shutting down
        self.events.close()
        self.risk.stop()
        self.webhooks.close()
        self.db.dispose()
