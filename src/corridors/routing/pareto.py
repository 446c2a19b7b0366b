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

__all__ = ["MAX_PARETO", "dominates", "pareto_front"]

#: Largest Pareto set returned.
MAX_PARETO = 5

T = TypeVar("T")


def dominates(a: tuple[float, float], b: tuple[float, float], *, rel_tol: float = 1e-9) -> bool:
    """True when ``a`` is no worse than ``b`` in both objectives and better in one."""

    def le(x: float, y: float) -> bool:
        return x <= y + rel_tol * max(1.0, abs(y))

    def lt(x: float, y: float) -> bool:
        return x < y - rel_tol * max(1.0, abs(y))

    return le(a[0], b[0]) and le(a[1], b[1]) and (lt(a[0], b[0]) or lt(a[1], b[1]))


def pareto_front(
    items: Sequence[T], objectives: Sequence[tuple[float, float]], *, limit: int = MAX_PARETO
) -> list[T]:
    """The non-dominated items, by ascending first objective, at most ``limit``.

    Parameters
    ----------
    items
        Anything (e.g. routes).
    objectives
        ``(duration_s, exposure)`` of each item; items with equal objectives are kept once.
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
        if any(
            dominates(objectives[j], objectives[i]) or objectives[j] == objectives[i] for j in front
        ):
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
