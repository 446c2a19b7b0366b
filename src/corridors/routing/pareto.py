"""Non-dominated duration-versus-exposure routes.

A weighted-sum sweep: the best route at each pre-customised risk-aversion level
(:data:`corridors.routing.costs.LEVELS`) minimises ``duration + lambda * exposure`` and so is
a supported Pareto point (up to ties and integer rounding); the sweep's routes are then
filtered for dominance so the result never holds a dominated route. At most
:data:`MAX_PARETO` routes are kept, spread evenly along the front (fastest and safest
always kept). Routes between supported points (in a "dent" of the front) are not found;
that is the usual price of the weighted-sum method.

A route that is nearly as fast and nearly as safe as one already kept is a twin, not a
trade-off: a point is left out when a kept point is at most :data:`TWIN_SHARE` slower and
at most :data:`TWIN_SHARE` (plus :data:`TWIN_EXPOSURE_FLOOR`) more exposed (an
epsilon-dominance filter). On a 100k-node city a third of neighbouring front points were
within 1 % in exposure of each other: two lines on the planner's map for one choice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TypeVar

__all__ = [
    "MAX_PARETO",
    "REL_TOL",
    "TWIN_EXPOSURE_FLOOR",
    "TWIN_SHARE",
    "dominates",
    "nearly_dominates",
    "pareto_front",
    "same",
]

#: Largest Pareto set returned.
MAX_PARETO = 5

#: Relative margin within which a point adds nothing over a kept one: 1 % of the duration
#: (18 s on a 30-minute trip) and of the exposure, far inside the risk model's own
#: uncertainty.
TWIN_SHARE = 0.01

#: Exposure differences below this, risk x km, are none (50 m at the high-risk threshold of
#: 1 per km): routes of near-zero exposure are not told apart by it.
TWIN_EXPOSURE_FLOOR = 0.05

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


def nearly_dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when ``b`` adds nothing over ``a``: ``a`` is at most :data:`TWIN_SHARE` slower
    and at most :data:`TWIN_SHARE` (plus :data:`TWIN_EXPOSURE_FLOOR`) more exposed."""
    return a[0] <= b[0] * (1.0 + TWIN_SHARE) and a[1] <= b[1] * (1.0 + TWIN_SHARE) + (
        TWIN_EXPOSURE_FLOOR
    )


def pareto_front(
    items: Sequence[T],
    objectives: Sequence[tuple[float, float]],
    *,
    limit: int = MAX_PARETO,
    keep: Collection[int] = (),
) -> list[T]:
    """The non-dominated items, by ascending first objective, at most ``limit``, without
    twins (see :func:`nearly_dominates`).

    Parameters
    ----------
    items
        Anything (e.g. routes).
    objectives
        ``(duration_s, exposure)`` of each item; of items with equal objectives (within
        :data:`REL_TOL`) the first is kept.
    limit
        Most items returned: the two extremes and evenly spaced ones between.
    keep
        Positions of items that stay on the front even when nearly dominated (routes the
        answer holds anyway); the others are taken fastest first, each unless an item
        already taken nearly dominates it.

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
    taken = [i for i in front if i in keep]
    for i in front:
        if i not in keep and not any(nearly_dominates(objectives[j], objectives[i]) for j in taken):
            taken.append(i)
    front = sorted(taken, key=lambda i: objectives[i][0])
    if len(front) > limit >= 2:
        step = (len(front) - 1) / (limit - 1)
        front = [front[round(k * step)] for k in range(limit)]
    elif len(front) > limit:
        front = front[:limit]
    return [items[i] for i in front]
