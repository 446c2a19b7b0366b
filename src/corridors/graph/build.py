"""Filtered OSM ways -> the compact :class:`~corridors.graph.model.RoadGraph`.

All steps are vectorised numpy, so a million-node city builds in seconds:

1. ways are cut into segments between consecutive node references; segments touching a
   node missing from the source or a blocking barrier are dropped (splitting the way);
2. degree-2 chains are merged into one edge with geometry, never across ways (a node
   is an edge end when it ends a way piece or is used by != 2 segments), so every
   edge keeps one OSM way id, name and class;
3. two-way pieces give two directed edges, one-way pieces one;
4. only the largest strongly connected component is kept; what was dropped is reported
   in :class:`~corridors.graph.model.GraphMeta`;
5. edges are sorted by tail (CSR) and paired with their reverse.

Lengths are great-circle (haversine) metres along the geometry. Travel durations use
these default speeds per ``highway`` class, in km/h (Port-au-Prince traffic is slow;
a convoy is slower than a car):

==================  =====  ==================  =====
class               km/h   class               km/h
==================  =====  ==================  =====
motorway            80     tertiary            30
motorway_link       50     tertiary_link       25
trunk               60     unclassified        25
trunk_link          40     residential         20
primary             45     road                20
primary_link        35     living_street       10
secondary           35     service             10
secondary_link      30     track               10
==================  =====  ==================  =====

Any other class: 20 km/h. A tagged ``maxspeed`` is used when it is lower than the
default. On an unpaved ``surface`` (:data:`UNPAVED_SURFACES`) the speed is multiplied by
:data:`UNPAVED_SPEED_FACTOR` (0.6). Speeds never go below 5 km/h. Changing this table
means bumping :data:`SPEED_TABLE_VERSION`, which invalidates graph caches.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from corridors.errors import GraphBuildError
from corridors.graph.geo import EARTH_RADIUS_M
from corridors.graph.model import GraphMeta, RoadGraph
from corridors.graph.sources import fetch_ways, read_osm_file
from corridors.graph.ways import WayTable

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "BUILD_VERSION",
    "DEFAULT_SPEED_KPH",
    "FALLBACK_SPEED_KPH",
    "SPEED_TABLE_VERSION",
    "UNPAVED_SPEED_FACTOR",
    "UNPAVED_SURFACES",
    "build_graph",
    "build_graph_from_file",
    "fetch_graph",
    "haversine_m_array",
    "settings_key",
    "to_networkx",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Default travel speed per ``highway`` class, km/h (see the module docstring).
DEFAULT_SPEED_KPH: dict[str, float] = {
    "motorway": 80.0,
    "motorway_link": 50.0,
    "trunk": 60.0,
    "trunk_link": 40.0,
    "primary": 45.0,
    "primary_link": 35.0,
    "secondary": 35.0,
    "secondary_link": 30.0,
    "tertiary": 30.0,
    "tertiary_link": 25.0,
    "unclassified": 25.0,
    "residential": 20.0,
    "road": 20.0,
    "living_street": 10.0,
    "service": 10.0,
    "track": 10.0,
}
FALLBACK_SPEED_KPH = 20.0
MIN_SPEED_KPH = 5.0
UNPAVED_SPEED_FACTOR = 0.6
UNPAVED_SURFACES: frozenset[str] = frozenset(
    {
        "unpaved",
        "compacted",
        "gravel",
        "fine_gravel",
        "pebblestone",
        "rock",
        "dirt",
        "earth",
        "ground",
        "grass",
        "grass_paver",
        "mud",
        "sand",
        "woodchips",
        "clay",
        "salt",
        "snow",
        "ice",
    }
)
SPEED_TABLE_VERSION = "1"
#: Bump when the build's output changes for the same input (invalidates caches).
BUILD_VERSION = "1"


def settings_key(*, include_tracks: bool) -> str:
    """The build settings as a short string (part of cache keys and GraphMeta).

    Parameters
    ----------
    include_tracks
        Whether ``highway=track`` ways were kept.

    Returns
    -------
    str
        e.g. ``"tracks=0;speeds=1;build=1"``.
    """
    return f"tracks={int(include_tracks)};speeds={SPEED_TABLE_VERSION};build={BUILD_VERSION}"


def haversine_m_array(
    lon1: FloatArray, lat1: FloatArray, lon2: FloatArray, lat2: FloatArray
) -> FloatArray:
    """Element-wise great-circle distance between WGS84 points, in metres."""
    phi1 = np.radians(lat1)
    phi2 = np.radians(lat2)
    dphi = phi2 - phi1
    dlmb = np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    result: FloatArray = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return result


def _speeds_kph(table: WayTable) -> FloatArray:
    """Travel speed of each way, km/h."""
    strings = table.strings
    class_speed = np.array(
        [DEFAULT_SPEED_KPH.get(s, FALLBACK_SPEED_KPH) for s in strings], dtype=np.float64
    )
    unpaved = np.array([s in UNPAVED_SURFACES for s in strings], dtype=np.bool_)
    speed = class_speed[table.highway]
    maxspeed = table.maxspeed_kph
    lower = np.isfinite(maxspeed) & (maxspeed < speed)
    speed = np.where(lower, maxspeed, speed)
    speed = np.where(unpaved[table.surface], speed * UNPAVED_SPEED_FACTOR, speed)
    result: FloatArray = np.maximum(speed, MIN_SPEED_KPH)
    return result


def build_graph(
    table: WayTable,
    *,
    source: str,
    built_at: datetime,
    demo: bool = False,
    settings: str = "",
) -> RoadGraph:
    """Build the compact road graph from filtered ways.

    Parameters
    ----------
    table
        Drivable ways from :mod:`corridors.graph.sources` (or a generator).
    source
        Label of the input (file path, ``osmnx:place=...``), kept in the metadata.
    built_at
        When the build happens (aware UTC); passed in, the core reads no clock.
    demo
        Mark the graph as the embedded demo network.
    settings
        The build settings key (:func:`settings_key`).

    Returns
    -------
    RoadGraph
        The largest strongly connected component, edges sorted by tail.

    Raises
    ------
    GraphBuildError
        No drivable road segment is left.
    """
    offsets = table.node_offsets
    n_entries = int(table.node_osm_id.shape[0])
    way_of_entry = np.repeat(np.arange(table.way_count, dtype=np.int64), np.diff(offsets))
    if n_entries < 2:
        raise GraphBuildError(f"{source}: no drivable road segment")

    # 1. segments between consecutive references of the same way
    a = np.flatnonzero(way_of_entry[:-1] == way_of_entry[1:])
    b = a + 1
    ids = table.node_osm_id
    lon, lat = table.node_lon, table.node_lat
    bad = np.isnan(lon[a]) | np.isnan(lon[b]) | np.isnan(lat[a]) | np.isnan(lat[b])
    bad |= ids[a] == ids[b]
    if table.blocked_nodes.size:
        bad |= np.isin(ids[a], table.blocked_nodes) | np.isin(ids[b], table.blocked_nodes)
    a, b = a[~bad], b[~bad]
    n_segments = int(a.shape[0])
    if n_segments == 0:
        raise GraphBuildError(f"{source}: no drivable road segment")
    seg_way = way_of_entry[a]

    uniq_ids, inverse = np.unique(np.concatenate([ids[a], ids[b]]), return_inverse=True)
    inverse = inverse.reshape(-1)
    ua, ub = inverse[:n_segments], inverse[n_segments:]

    # 2. chains: a node ends an edge when it ends a way piece or is not used exactly twice
    piece_start = np.ones(n_segments, dtype=np.bool_)
    piece_start[1:] = a[1:] != b[:-1]
    piece_end = np.ones(n_segments, dtype=np.bool_)
    piece_end[:-1] = piece_start[1:]
    incidence = np.bincount(inverse, minlength=uniq_ids.shape[0])
    is_split = incidence != 2
    is_split[ua[piece_start]] = True
    is_split[ub[piece_end]] = True
    starts = piece_start | is_split[ua]
    first_seg = np.flatnonzero(starts)
    n_und = int(first_seg.shape[0])
    last_seg = np.empty(n_und, dtype=np.int64)
    last_seg[:-1] = first_seg[1:] - 1
    last_seg[-1] = n_segments - 1
    und_tail = ua[first_seg]
    und_head = ub[last_seg]
    und_way = seg_way[first_seg]
    seg_len = haversine_m_array(lon[a], lat[a], lon[b], lat[b])
    und_length = np.add.reduceat(seg_len, first_seg)

    # undirected geometry as entry indexes: tails of the chain's segments + last head
    n_vertices = n_segments + n_und
    und_geo_offsets = np.empty(n_und + 1, dtype=np.int64)
    und_geo_offsets[:-1] = first_seg + np.arange(n_und)
    und_geo_offsets[-1] = n_vertices
    und_of_seg = np.cumsum(starts) - 1
    geo_entry = np.empty(n_vertices, dtype=np.int64)
    geo_entry[np.arange(n_segments) + und_of_seg] = a
    geo_entry[und_geo_offsets[1:] - 1] = b[last_seg]

    # 3. directions
    fwd = table.forward[und_way]
    bwd = table.backward[und_way]
    d_und = np.concatenate([np.flatnonzero(fwd), np.flatnonzero(bwd)])
    d_rev = np.concatenate(
        [np.zeros(int(fwd.sum()), dtype=np.bool_), np.ones(int(bwd.sum()), dtype=np.bool_)]
    )
    d_tail = np.where(d_rev, und_head[d_und], und_tail[d_und])
    d_head = np.where(d_rev, und_tail[d_und], und_head[d_und])

    # 4. largest strongly connected component over the graph nodes
    graph_nodes, d_ends = np.unique(np.concatenate([d_tail, d_head]), return_inverse=True)
    d_ends = d_ends.reshape(-1)
    n_graph = int(graph_nodes.shape[0])
    m_all = int(d_und.shape[0])
    gt, gh = d_ends[:m_all], d_ends[m_all:]
    adjacency = csr_matrix((np.ones(m_all, dtype=np.int8), (gt, gh)), shape=(n_graph, n_graph))
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    largest = int(np.argmax(np.bincount(labels)))
    node_kept = labels == largest
    edge_kept = node_kept[gt] & node_kept[gh]
    new_index = np.cumsum(node_kept) - 1
    kept_nodes = graph_nodes[node_kept]  # indexes into uniq_ids
    n_nodes = int(kept_nodes.shape[0])

    d_und, d_rev = d_und[edge_kept], d_rev[edge_kept]
    tail = new_index[gt[edge_kept]]
    head = new_index[gh[edge_kept]]
    # 5. CSR order: by tail, then head, then creation order (deterministic)
    order = np.lexsort((np.arange(tail.shape[0]), head, tail))
    d_und, d_rev, tail, head = d_und[order], d_rev[order], tail[order], head[order]
    m = int(tail.shape[0])
    if m == 0:
        raise GraphBuildError(
            f"{source}: no two places are connected both ways (only one-way dead ends?)"
        )

    edge_reverse = np.full(m, -1, dtype=np.int64)
    position_fwd = np.full(n_und, -1, dtype=np.int64)
    position_bwd = np.full(n_und, -1, dtype=np.int64)
    position_fwd[d_und[~d_rev]] = np.flatnonzero(~d_rev)
    position_bwd[d_und[d_rev]] = np.flatnonzero(d_rev)
    both = (position_fwd >= 0) & (position_bwd >= 0)
    edge_reverse[position_fwd[both]] = position_bwd[both]
    edge_reverse[position_bwd[both]] = position_fwd[both]

    # directed geometry (reversed vertex order for backward edges)
    counts = np.diff(und_geo_offsets)[d_und]
    geometry_offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(counts, out=geometry_offsets[1:])
    total = int(geometry_offsets[-1])
    step = np.arange(total, dtype=np.int64) - np.repeat(geometry_offsets[:-1], counts)
    step = np.where(np.repeat(d_rev, counts), np.repeat(counts, counts) - 1 - step, step)
    vertex_entries = geo_entry[np.repeat(und_geo_offsets[:-1][d_und], counts) + step]
    geometry_lon = np.ascontiguousarray(lon[vertex_entries])
    geometry_lat = np.ascontiguousarray(lat[vertex_entries])

    # node coordinates from any entry of that node
    entry_of_node = np.empty(uniq_ids.shape[0], dtype=np.int64)
    entry_of_node[inverse] = np.concatenate([a, b])
    node_entries = entry_of_node[kept_nodes]

    way = und_way[d_und]
    length_m = np.ascontiguousarray(und_length[d_und])
    speed_kph = _speeds_kph(table)[way]
    duration_s = length_m / (speed_kph / 3.6)
    edge_offsets = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n_nodes), out=edge_offsets[1:])

    bbox = (
        float(geometry_lon.min()),
        float(geometry_lat.min()),
        float(geometry_lon.max()),
        float(geometry_lat.max()),
    )
    meta = GraphMeta(
        source=source,
        osm_timestamp=table.newest_timestamp,
        built_at=built_at,
        bbox=bbox,
        demo=demo,
        settings_key=settings,
        dropped_nodes=n_graph - n_nodes,
        dropped_edges=m_all - m,
    )
    return RoadGraph(
        meta=meta,
        node_osm_id=np.ascontiguousarray(uniq_ids[kept_nodes], dtype=np.int64),
        node_lon=np.ascontiguousarray(lon[node_entries]),
        node_lat=np.ascontiguousarray(lat[node_entries]),
        edge_offsets=edge_offsets,
        edge_tail=tail.astype(np.int32),
        edge_head=head.astype(np.int32),
        edge_length_m=length_m,
        edge_duration_s=duration_s,
        edge_osm_way_id=np.ascontiguousarray(table.way_osm_id[way]),
        edge_name=np.ascontiguousarray(table.name[way], dtype=np.int32),
        edge_ref=np.ascontiguousarray(table.ref[way], dtype=np.int32),
        edge_highway=np.ascontiguousarray(table.highway[way], dtype=np.int32),
        edge_surface=np.ascontiguousarray(table.surface[way], dtype=np.int32),
        edge_maxspeed_kph=np.ascontiguousarray(table.maxspeed_kph[way]),
        edge_bridge=np.ascontiguousarray(table.bridge[way]),
        edge_reverse=edge_reverse,
        geometry_offsets=geometry_offsets,
        geometry_lon=geometry_lon,
        geometry_lat=geometry_lat,
        strings=table.strings,
    )


def build_graph_from_file(
    path: Path | str,
    *,
    built_at: datetime,
    include_tracks: bool = False,
    demo: bool = False,
) -> RoadGraph:
    """Read an OSM file and build its convoy road graph.

    Parameters
    ----------
    path
        ``.osm``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` file.
    built_at
        Build time (aware UTC), recorded in the metadata.
    include_tracks
        Keep ``highway=track`` ways.
    demo
        Mark the graph as the embedded demo network.

    Returns
    -------
    RoadGraph
        The largest strongly connected component of the drivable network.

    Raises
    ------
    GraphBuildError
        Missing, empty, truncated or non-OSM file, or no drivable road.
    """
    table = read_osm_file(path, include_tracks=include_tracks)
    return build_graph(
        table,
        source=str(path),
        built_at=built_at,
        demo=demo,
        settings=settings_key(include_tracks=include_tracks),
    )


def fetch_graph(
    *,
    built_at: datetime,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    include_tracks: bool = False,
) -> RoadGraph:
    """Download a place or bbox from OpenStreetMap (osmnx/Overpass) and build its graph.

    Parameters
    ----------
    built_at
        Build time (aware UTC).
    place
        Place name for Nominatim, e.g. ``"Port-au-Prince, Haiti"``.
    bbox
        ``(west, south, east, north)`` in degrees, instead of ``place``.
    include_tracks
        Keep ``highway=track`` ways.

    Returns
    -------
    RoadGraph
        As :func:`build_graph_from_file`; ``osm_timestamp`` is the Overpass database date.

    Raises
    ------
    GraphBuildError
        Bad arguments, failed download, or no drivable road.
    """
    table, source = fetch_ways(place=place, bbox=bbox, include_tracks=include_tracks)
    return build_graph(
        table,
        source=source,
        built_at=built_at,
        settings=settings_key(include_tracks=include_tracks),
    )


def source_digest(path: Path | str) -> str:
    """sha256 of a file's content, hex (used by cache keys of small files)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def to_networkx(graph: RoadGraph) -> nx.MultiDiGraph:
    """A reference networkx copy of the graph (for tests and cross-checks).

    Parameters
    ----------
    graph
        The compact graph.

    Returns
    -------
    networkx.MultiDiGraph
        Nodes ``0..n-1`` with ``x``/``y`` (lon/lat) and ``osmid``; one edge per directed
        edge, keyed by its edge index, with ``length_m``, ``duration_s`` and ``edge``.
    """
    import networkx as nx

    result = nx.MultiDiGraph()
    result.add_nodes_from(
        (i, {"x": x, "y": y, "osmid": o})
        for i, (x, y, o) in enumerate(
            zip(
                graph.node_lon.tolist(),
                graph.node_lat.tolist(),
                graph.node_osm_id.tolist(),
                strict=True,
            )
        )
    )
    result.add_edges_from(
        (u, v, e, {"length_m": length, "duration_s": duration, "edge": e})
        for e, (u, v, length, duration) in enumerate(
            zip(
                graph.edge_tail.tolist(),
                graph.edge_head.tolist(),
                graph.edge_length_m.tolist(),
                graph.edge_duration_s.tolist(),
                strict=True,
            )
        )
    )
    return result
