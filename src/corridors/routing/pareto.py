"""Non-dominated duration-versus-exposure routes.

A weighted-sum sweep: the best route at each pre-customised risk-aversion level
(:data:`corridors.routing.costs.LEVELS`) minimises ``duration + lambda * exposure`` and so is
a supported Pareto point (up to ties and integer rounding); the sweep's routes are then
filtered for dominance so the result never holds a dominated route. At most
:data:`MAX_PARETO` routes are kept, spread evenly along the front (fastest and safest
always kept). Routes between supported points (in a "dent" of the front) are not found;
that is the usual price of the weighted-sum method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["MAX_PARETO", "REL_TOL", "dominates", "pareto_front", "same"]

#: Largest Pareto set returned.
MAX_PARETO = 5

T = TypeVar("T")


#: Objectives this close (relative, at least absolute for values below 1) count as equal:
#: the same figures summed over pieces in another order differ in the last bits.
REL_TOL = 1e-9


def _le(x: float, y: float) -> bool:
    return x <= y + REL_TOL * max(1.0, abs(y))


def _lt(x: float, y: float) -> bool:
    return x < y - REL_TOL * max(1.0, abs(y))


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when ``a`` is no worse than ``b`` in both objectives and better in one."""
    return _le(a[0], b[0]) and _le(a[1], b[1]) and (_lt(a[0], b[0]) or _lt(a[1], b[1]))


def same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when ``a`` and ``b`` are equal in both objectives (within :data:`REL_TOL`)."""
    return _le(a[0], b[0]) and _le(b[0], a[0]) and _le(a[1], b[1]) and _le(b[1], a[1])


def pareto_front(
    items: Sequence[T], objectives: Sequence[tuple[float, float]], *, limit: int = MAX_PARETO
) -> list[T]:
    """The non-dominated items, by ascending first objective, at most ``limit``.

    Parameters
    ----------
    items
        Anything (e.g. routes).
    objectives
        ``(duration_s, exposure)`` of each item; of items with equal objectives (within
        :data:`REL_TOL`) the first is kept.
    limit
        Most items returned: the two extremes and evenly spaced ones between.

    Returns
    -------
    list
        Items, fastest first (so exposure decreases along the list).
    """
    idx = sorted(range(len(items)), key=lambda i: (objectives[i][0], objectives[i][1]))
    front: list[int] = []
    for i in idx:
        if any(dominates(objectives[j], objectives[i]) for j in front):
            continue
        twin = next((j for j in front if same(objectives[j], objectives[i])), None)
        if twin is not None:  # equal figures: the earlier item stays
            if twin > i:
                front[front.index(twin)] = i
            continue
        front = [j for j in front if not dominates(objectives[i], objectives[j])]
        front.append(i)
    front.sort(key=lambda i: objectives[i][0])
    if len(front) > limit >= 2:
        step = (len(front) - 1) / (limit - 1)
        front = [front[round(k * step)] for k in range(limit)]
    elif len(front) > limit:
        front = front[:limit]
    return [items[i] for i in front]
