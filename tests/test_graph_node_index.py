"""The node index (k-d tree over projected nodes) against brute force."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corridors.graph.node_index import NodeIndex, farther_than
from corridors.graph.synthetic import synthetic_city
from corridors.routing import alternatives as alt
from corridors.routing.engine import CCHEngine


@dataclass(frozen=True)
class _At:
    edge: int
    fraction: float = 0.5


def _city():
    return synthetic_city(40, 40, seed=2)


def test_index_counts_lists_and_finds_nearest_nodes_as_brute_force() -> None:
    g = _city()
    index = NodeIndex.of(g)
    assert NodeIndex.of(g) is index  # made once per graph object
    x, y = g.projection.to_xy(g.node_lon, g.node_lat)
    assert np.array_equal(index.xy_m, np.column_stack([x, y]))
    rng = np.random.default_rng(4)
    for _ in range(20):
        cx, cy = rng.uniform(x.min(), x.max()), rng.uniform(y.min(), y.max())
        radius = float(rng.uniform(50, 1500))
        want = np.flatnonzero(np.hypot(x - cx, y - cy) <= radius)
        assert index.count_within(cx, cy, radius) == want.shape[0]
        assert np.array_equal(index.within(cx, cy, radius), want)
    points = rng.uniform([x.min(), y.min()], [x.max(), y.max()], size=(200, 2))
    gap = np.hypot(x[None, :] - points[:, :1], y[None, :] - points[:, 1:])
    bound = float(np.median(gap.min(axis=1)))
    got = index.nearest(points, bound)
    nearest = gap.argmin(axis=1)
    close = gap.min(axis=1) < bound
    assert np.array_equal(got[close], nearest[close])
    assert (got[~close] == -1).all()
    assert (~close).any()
    assert close.any()
    assert index.nearest(np.zeros((0, 2)), 10.0).shape == (0,)


def test_farther_than_is_the_brute_force_minimum_distance() -> None:
    rng = np.random.default_rng(8)
    points = rng.uniform(0, 1000, size=(300, 2))
    others = rng.uniform(0, 1000, size=(40, 2))
    gap = np.hypot(*(points[:, None, :] - others[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    for distance in (0.0, 30.0, float(np.median(gap)), 400.0):
        assert np.array_equal(farther_than(points, others, distance), gap > distance)
    assert farther_than(points, np.zeros((0, 2)), 5.0).all()


def test_via_nodes_near_the_route_are_left_out_by_the_span_between_its_ends() -> None:
    """A via node is kept when farther than 10 % of the distance between the route's
    ends from every node of the route (all of them, not a sample)."""
    g = _city()
    engine = CCHEngine(g)
    engine.set_weights("t", g.edge_duration_s.copy())
    index = NodeIndex.of(g)
    xy = index.xy_m
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(10):
        a, b = rng.integers(g.edge_count, size=2).tolist()
        path = engine.route("t", _At(a), _At(b))
        if path is None or path.arrays.edges.shape[0] < 5:
            continue
        edges = path.arrays.edges
        start, end = int(g.edge_tail[edges[0]]), int(g.edge_head[edges[-1]])
        on_route = np.unique(np.append(g.edge_head[edges], start))
        span = float(np.hypot(*(xy[end] - xy[start])))
        nodes = np.arange(g.node_count)
        gap = np.hypot(*(xy[:, None, :] - xy[None, on_route, :]).transpose(2, 0, 1)).min(axis=1)
        want = gap > alt.MIN_OFFSET_SHARE * span
        assert np.array_equal(alt._away_from(g, index, nodes, path.arrays), want)
        checked += 1
    assert checked >= 5
