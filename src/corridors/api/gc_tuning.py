"""Garbage-collector settings for a serving process.

A running service holds a few hundred thousand long-lived Python objects (street labels,
memoised report explanations, caches) while every route request allocates thousands of
short-lived ones (edge pieces, polyline points, hotspots). With CPython's default
thresholds (700, 10, 10) one request sets off several collections, and the older
generations walk all those long-lived objects each time: on a 100k-node city with 10,000
reports, building the routes' polylines took 5.7 ms per request with the defaults and
0.7 ms after :func:`tune_for_serving` (``bench/routing.py`` measures the whole request).

After start-up the objects alive are moved out of the collector's view (``gc.freeze``)
and the young-generation threshold is raised, so collections are rarer and cheaper.
Reference cycles are still collected.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_for_serving"]

#: Allocations (minus deallocations) between young-generation collections.
YOUNG_THRESHOLD = 50_000


def tune_for_serving(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Freeze what is alive now and make collections rarer (call once, after start-up)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, older, oldest)
