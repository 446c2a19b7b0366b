"""The last routes handed out, so an escort assessment can name a route by its id."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from corridors.errors import NotFoundError
from corridors.routing.engine import Piece

__all__ = ["RouteMemory", "StoredRoute"]


@dataclass(frozen=True, slots=True)
class StoredRoute:
    """The edge pieces of a route and the departure it was planned for."""

    pieces: tuple[Piece, ...]
    depart_at: datetime


class RouteMemory:
    """A bounded, least-recently-stored-first memory of planned routes (per process)."""

    def __init__(self, capacity: int = 1000) -> None:
        self._routes: OrderedDict[str, StoredRoute] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def remember(self, pieces: Sequence[Piece], depart_at: datetime) -> str:
        """Store a route; returns its id."""
        route_id = f"rt_{uuid.uuid4().hex}"
        with self._lock:
            self._routes[route_id] = StoredRoute(tuple(pieces), depart_at)
            while len(self._routes) > self._capacity:
                self._routes.popitem(last=False)
        return route_id

    def get(self, route_id: str) -> StoredRoute:
        """A stored route, or NotFoundError."""
        with self._lock:
            stored = self._routes.get(route_id)
        if stored is None:
            raise NotFoundError(
                f"route {route_id!r} is unknown or expired; plan it again with POST /v1/routes"
            )
        return stored
