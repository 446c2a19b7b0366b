"""Small hand-made road graphs for tests and benchmarks (no OSM needed).

:func:`grid_graph` lays out a ``rows x cols`` lattice of streets around Port-au-Prince with
random speeds, some one-way streets, some missing blocks and some parallel edges, so the
routing code meets the shapes real extracts have. :func:`graph_from_edges` turns a plain
edge list into a :class:`RoadGraph` (sorting by tail, pairing reverse edges).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from corridors.graph.model import GraphMeta, RoadGraph

__all__ = ["graph_from_edges", "grid_graph"]

_BUILT_AT = datetime(2026, 1, 1, tzinfo=UTC)


def graph_from_edges(
    node_lon: Sequence[float] | np.ndarray,
    node_lat: Sequence[float] | np.ndarray,
    tails: Sequence[int] | np.ndarray,
    heads: Sequence[int] | np.ndarray,
    duration_s: Sequence[float] | np.ndarray,
    *,
    length_m: Sequence[float] | np.ndarray | None = None,
    street_names: Sequence[str] | None = None,
    source: str = "toy",
) -> RoadGraph:
    """Build a :class:`RoadGraph` from an edge list.

    Parameters
    ----------
    node_lon, node_lat
        Node coordinates, degrees.
    tails, heads
        Edge end nodes (any order; edges are re-sorted by tail, stably).
    duration_s
        Travel time of each edge, seconds.
    length_m
        Length of each edge, metres; default 10 m per second of duration.
    street_names
        Street name of each edge; default ``"street <edge index>"`` (input order).
    source
        ``meta.source`` of the graph.

    Returns
    -------
    RoadGraph
        Straight two-vertex geometry per edge; ``edge_reverse`` pairs the first edge
        ``v->u`` found for each ``u->v`` (one-to-one).
    """
    lon = np.asarray(node_lon, dtype=np.float64)
    lat = np.asarray(node_lat, dtype=np.float64)
    tail_in = np.asarray(tails, dtype=np.int64)
    head_in = np.asarray(heads, dtype=np.int64)
    dur_in = np.asarray(duration_s, dtype=np.float64)
    len_in = dur_in * 10.0 if length_m is None else np.asarray(length_m, dtype=np.float64)
    m_in = tail_in.shape[0]
    names_in = [f"street {i}" for i in range(m_in)] if street_names is None else list(street_names)
    order = np.argsort(tail_in, kind="stable")
    tail = tail_in[order]
    head = head_in[order]
    n = lon.shape[0]
    m = tail.shape[0]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.add.at(offsets, tail + 1, 1)
    offsets = np.cumsum(offsets)
    strings: list[str] = [""]
    codes: dict[str, int] = {"": 0}
    name_code = np.zeros(m, dtype=np.int32)
    for new, old in enumerate(order.tolist()):
        name = names_in[old]
        if name not in codes:
            codes[name] = len(strings)
            strings.append(name)
        name_code[new] = codes[name]
    highway = len(strings)
    strings.append("residential")
    reverse = _pair_reverse(tail, head)
    geo_lon = np.empty(2 * m)
    geo_lat = np.empty(2 * m)
    geo_lon[0::2], geo_lon[1::2] = lon[tail], lon[head]
    geo_lat[0::2], geo_lat[1::2] = lat[tail], lat[head]
    meta = GraphMeta(
        source=source,
        osm_timestamp=None,
        built_at=_BUILT_AT,
        bbox=(
            float(lon.min()) if n else 0.0,
            float(lat.min()) if n else 0.0,
            float(lon.max()) if n else 0.0,
            float(lat.max()) if n else 0.0,
        ),
        demo=True,
    )
    return RoadGraph(
        meta=meta,
        node_osm_id=np.arange(1, n + 1, dtype=np.int64),
        node_lon=lon,
        node_lat=lat,
        edge_offsets=offsets,
        edge_tail=tail.astype(np.int32),
        edge_head=head.astype(np.int32),
        edge_length_m=len_in[order],
        edge_duration_s=dur_in[order],
        edge_osm_way_id=np.arange(1, m + 1, dtype=np.int64),
        edge_name=name_code,
        edge_ref=np.zeros(m, dtype=np.int32),
        edge_highway=np.full(m, highway, dtype=np.int32),
        edge_surface=np.zeros(m, dtype=np.int32),
        edge_maxspeed_kph=np.full(m, np.nan),
        edge_bridge=np.zeros(m, dtype=np.bool_),
        edge_reverse=reverse,
        geometry_offsets=np.arange(0, 2 * m + 1, 2, dtype=np.int64),
        geometry_lon=geo_lon,
        geometry_lat=geo_lat,
        strings=tuple(strings),
    )


def _pair_reverse(tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Index of one opposite edge per edge (one-to-one pairing), -1 when none."""
    m = tail.shape[0]
    reverse = np.full(m, -1, dtype=np.int64)
    free: dict[tuple[int, int], list[int]] = {}
    for e, (u, v) in enumerate(zip(tail.tolist(), head.tolist(), strict=True)):
        waiting = free.get((v, u))
        if waiting:
            r = waiting.pop()
            reverse[e], reverse[r] = r, e
        else:
            free.setdefault((u, v), []).append(e)
    return reverse


def grid_graph(
    rows: int,
    cols: int,
    *,
    spacing_m: float = 100.0,
    seed: int = 0,
    one_way_share: float = 0.1,
    missing_share: float = 0.05,
    lon0: float = -72.34,
    lat0: float = 18.54,
) -> RoadGraph:
    """A perturbed street grid with ``rows * cols`` nodes.

    Parameters
    ----------
    rows, cols
        Grid size (nodes).
    spacing_m
        Block length, metres.
    seed
        Random seed (speeds, one-way streets, missing blocks).
    one_way_share
        Share of blocks that are one-way.
    missing_share
        Share of blocks left out.
    lon0, lat0
        South-west corner, degrees.

    Returns
    -------
    RoadGraph
        Street names are ``"row r"`` / ``"col c"`` so steps merge along straight runs.
    """
    rng = np.random.default_rng(seed)
    n = rows * cols
    m_per_deg_lat = 111_195.0
    m_per_deg_lon = m_per_deg_lat * float(np.cos(np.radians(lat0)))
    r_idx, c_idx = np.divmod(np.arange(n), cols)
    jitter = rng.uniform(-0.15, 0.15, size=(2, n)) * spacing_m
    lon = lon0 + (c_idx * spacing_m + jitter[0]) / m_per_deg_lon
    lat = lat0 + (r_idx * spacing_m + jitter[1]) / m_per_deg_lat
    # Horizontal blocks (u, u+1) and vertical blocks (u, u+cols).
    h_u = np.flatnonzero(c_idx < cols - 1)
    v_u = np.flatnonzero(r_idx < rows - 1)
    u = np.concatenate([h_u, v_u])
    v = np.concatenate([h_u + 1, v_u + cols])
    names_u = np.concatenate([r_idx[h_u], rows + c_idx[v_u]])
    keep = rng.random(u.shape[0]) >= missing_share
    u, v, names_u = u[keep], v[keep], names_u[keep]
    speed_mps = rng.choice(np.array([5.0, 8.0, 11.0, 14.0]), size=u.shape[0])
    one_way = rng.random(u.shape[0]) < one_way_share
    flip = rng.random(u.shape[0]) < 0.5
    a = np.where(flip, v, u)
    b = np.where(flip, u, v)
    two = ~one_way
    tails = np.concatenate([a, b[two]])
    heads = np.concatenate([b, a[two]])
    names_all = np.concatenate([names_u, names_u[two]])
    speed = np.concatenate([speed_mps, speed_mps[two]])
    dx = (lon[heads] - lon[tails]) * m_per_deg_lon
    dy = (lat[heads] - lat[tails]) * m_per_deg_lat
    length = np.hypot(dx, dy)
    label = [f"row {k}" if k < rows else f"col {k - rows}" for k in range(rows + cols)]
    names = [label[k] for k in names_all.tolist()]
    return graph_from_edges(
        lon,
        lat,
        tails,
        heads,
        np.round(length / speed, 1),
        length_m=length,
        street_names=names,
        source=f"grid {rows}x{cols} seed {seed}",
    )
