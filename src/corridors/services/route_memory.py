"""The last routes handed out, so an escort assessment can name a route by its id."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from corridors.errors import NotFoundError
from corridors.routing.engine import PathArrays, Piece

__all__ = ["RouteMemory", "StoredRoute"]


@dataclass(frozen=True, slots=True)
class StoredRoute:
    """The edge pieces of a route and the departure it was planned for, compactly: the
    edges as int32, and the fractions of the few pieces that are not whole edges (the
    route's ends, its waypoints). A route of 2,000 edges takes ~8 kB, where a tuple of
    :class:`Piece` took ~200 kB (1,000 routes at 1M nodes: ~100 MB)."""

    edges: npt.NDArray[np.int32]
    partial: npt.NDArray[np.int32]  # positions of the pieces that are not whole edges
    partial_start: npt.NDArray[np.float64]
    partial_end: npt.NDArray[np.float64]
    depart_at: datetime

    @classmethod
    def of(cls, path: PathArrays, depart_at: datetime) -> StoredRoute:
        """``path`` stored for ``depart_at``."""
        partial = np.flatnonzero((path.start != 0.0) | (path.end != 1.0))
        return cls(
            path.edges.astype(np.int32),
            partial.astype(np.int32),
            path.start[partial],
            path.end[partial],
            depart_at,
        )

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        arrays = (self.edges, self.partial, self.partial_start, self.partial_end)
        return sum(int(a.nbytes) for a in arrays)

    def pieces(self) -> tuple[Piece, ...]:
        """The pieces, as planned."""
        start = np.zeros(self.edges.shape[0])
        end = np.ones(self.edges.shape[0])
        start[self.partial] = self.partial_start
        end[self.partial] = self.partial_end
        return tuple(map(Piece, self.edges.tolist(), start.tolist(), end.tolist()))


class RouteMemory:
    """A bounded, least-recently-stored-first memory of planned routes (per process)."""

    def __init__(self, capacity: int = 1000) -> None:
        self._routes: OrderedDict[str, StoredRoute] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def remember(self, path: PathArrays, depart_at: datetime) -> str:
        """Store a route (its pieces as arrays); returns its id."""
        route_id = f"rt_{uuid.uuid4().hex}"
        stored = StoredRoute.of(path, depart_at)
        with self._lock:
            self._routes[route_id] = stored
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
