"""Route memory: routes are stored compactly and come back piece for piece."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from corridors.errors import NotFoundError
from corridors.routing.engine import PathArrays, Piece
from corridors.services.route_memory import RouteMemory

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_a_route_comes_back_piece_for_piece_with_its_partial_pieces() -> None:
    # Partial ends, and a waypoint inside the route: an edge left and entered mid-way.
    pieces = (
        Piece(7, 0.25, 1.0),
        *(Piece(e) for e in range(100, 140)),
        Piece(9, 0.0, 0.5),
        Piece(9, 0.5, 1.0),
        *(Piece(e) for e in range(300, 340)),
        Piece(11, 0.0, 0.125),
    )
    memory = RouteMemory()
    route_id = memory.remember(PathArrays.of(pieces), AT)
    stored = memory.get(route_id)
    assert stored.pieces() == pieces
    assert stored.depart_at == AT
    assert stored.partial.tolist() == [0, 41, 42, 83]
    # int32 edges and four partial pieces: far from a tuple of Piece objects.
    assert stored.nbytes <= 4 * len(pieces) + 4 * (4 + 8 + 8)


def test_memory_forgets_the_oldest_beyond_its_capacity() -> None:
    memory = RouteMemory(capacity=2)
    path = PathArrays.of((Piece(1), Piece(2, 0.0, 0.5)))
    first, second, third = (memory.remember(path, AT) for _ in range(3))
    with pytest.raises(NotFoundError):
        memory.get(first)
    assert (
        memory.get(second).pieces() == memory.get(third).pieces() == (Piece(1), Piece(2, 0.0, 0.5))
    )
