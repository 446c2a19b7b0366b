"""Structural self-checks of a :class:`~corridors.graph.model.RoadGraph` (tests, debugging)."""

from __future__ import annotations

import numpy as np

from corridors.graph.model import RoadGraph

__all__ = ["graph_problems"]


def graph_problems(graph: RoadGraph, *, tolerance_deg: float = 1e-9) -> list[str]:
    """List what is wrong with a graph's arrays (empty when well formed).

    Checks the CSR layout, edge ends against geometry ends, reverse pairs, string codes,
    positive lengths/durations and the bbox.

    Parameters
    ----------
    graph
        The graph to check.
    tolerance_deg
        Allowed difference between a node and its edges' end vertices, degrees.

    Returns
    -------
    list of str
        One message per problem found.
    """
    problems: list[str] = []
    n, m = graph.node_count, graph.edge_count
    tail = graph.edge_tail.astype(np.int64)
    head = graph.edge_head.astype(np.int64)
    offsets = graph.edge_offsets
    if offsets.shape != (n + 1,) or offsets[0] != 0 or offsets[-1] != m:
        problems.append("edge_offsets is not a CSR row pointer over the edges")
    elif not np.array_equal(np.repeat(np.arange(n), np.diff(offsets)), tail):
        problems.append("edges are not sorted by tail consistently with edge_offsets")
    if m and (min(tail.min(), head.min()) < 0 or max(tail.max(), head.max()) >= n):
        problems.append("edge ends outside the node range")
        return problems
    geo = graph.geometry_offsets
    if geo.shape != (m + 1,) or geo[0] != 0 or geo[-1] != graph.geometry_lon.shape[0]:
        problems.append("geometry_offsets does not cover the geometry arrays")
        return problems
    if np.any(np.diff(geo) < 2):
        problems.append("an edge has fewer than two vertices")
        return problems
    first, last = geo[:-1], geo[1:] - 1
    if not (
        np.allclose(graph.geometry_lon[first], graph.node_lon[tail], atol=tolerance_deg)
        and np.allclose(graph.geometry_lat[first], graph.node_lat[tail], atol=tolerance_deg)
        and np.allclose(graph.geometry_lon[last], graph.node_lon[head], atol=tolerance_deg)
        and np.allclose(graph.geometry_lat[last], graph.node_lat[head], atol=tolerance_deg)
    ):
        problems.append("geometry ends differ from the edge's end nodes")
    rev = graph.edge_reverse
    paired = np.flatnonzero(rev >= 0)
    if np.any(rev < -1) or np.any(rev >= m):
        problems.append("edge_reverse outside the edge range")
    elif paired.size and (
        not np.array_equal(rev[rev[paired]], paired)
        or not np.array_equal(tail[rev[paired]], head[paired])
        or not np.array_equal(head[rev[paired]], tail[paired])
    ):
        problems.append("edge_reverse pairs are not mutual opposite edges")
    if not (np.all(graph.edge_length_m >= 0) and np.all(graph.edge_duration_s >= 0)):
        problems.append("negative length or duration")
    if graph.strings[:1] != ("",):
        problems.append("string code 0 is not the empty string")
    for name in ("edge_name", "edge_ref", "edge_highway", "edge_surface"):
        codes = getattr(graph, name)
        if m and (codes.min() < 0 or codes.max() >= len(graph.strings)):
            problems.append(f"{name} has codes outside the string table")
    min_lon, min_lat, max_lon, max_lat = graph.meta.bbox
    if n and (
        graph.node_lon.min() < min_lon
        or graph.node_lon.max() > max_lon
        or graph.node_lat.min() < min_lat
        or graph.node_lat.max() > max_lat
    ):
        problems.append("nodes outside meta.bbox")
    return problems
