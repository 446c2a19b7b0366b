"""Synthetic cities for benchmarks and tests: perturbed street grids near Port-au-Prince.

Rows and columns of intersections ``spacing_m`` apart (jittered), each row and column one
OSM-like way with a shape node in the middle of every block (removed again by the build's
chain simplification). Every ``arterial_every``-th row/column is a two-way secondary
(every third of those a primary, with ``maxspeed``); a ``oneway_fraction`` of the
residential streets is one-way in a random direction, a ``unpaved_fraction`` unpaved, and a
``closed_fraction`` of blocks is cut by a bollard. Everything is vectorised numpy: a
1000 x 1000 grid (1M intersections, ~4M directed edges) builds in seconds. It goes
through the same :func:`corridors.graph.build.build_graph` as real OSM data.

An uninterrupted grid is the hardest road network there is for a separator-based router: a
city ``k`` intersections wide can only be cut in two across ``~k`` streets. Real road
networks are cut by ravines, rivers, hills, walls and rail lines, and their neighbourhoods
meet along few streets. :func:`district_city` models that (districts of 8 x 8 blocks that
half the residential streets cross, arterials always; a fifth of the blocks closed). It is
calibrated on the densest real extract at hand, Baltimore, a grid city: at the same size
(~5k nodes) it has the same edges per node, CCH elimination width and CCH arcs per edge
(``bench/city_shape.py`` prints the comparison).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from corridors.graph.build import build_graph, settings_key
from corridors.graph.geo import EARTH_RADIUS_M
from corridors.graph.model import RoadGraph
from corridors.graph.ways import WayTable

__all__ = [
    "DISTRICT_CITY_NODES_PER_SIDE2",
    "PORT_AU_PRINCE_LONLAT",
    "district_city",
    "synthetic_city",
    "synthetic_ways",
]

#: Centre of the synthetic city (Port-au-Prince, lon/lat degrees).
PORT_AU_PRINCE_LONLAT = (-72.3350, 18.5400)
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def synthetic_ways(
    n_rows: int,
    n_cols: int,
    *,
    seed: int,
    spacing_m: float = 110.0,
    jitter: float = 0.15,
    arterial_every: int = 8,
    oneway_fraction: float = 0.3,
    unpaved_fraction: float = 0.1,
    closed_fraction: float = 0.02,
    district_blocks: int | None = None,
    crossing_fraction: float = 0.0,
    center: tuple[float, float] = PORT_AU_PRINCE_LONLAT,
) -> WayTable:
    """The ways of a synthetic grid city (see the module docstring).

    Parameters
    ----------
    n_rows, n_cols
        Intersections per column and per row (each >= 2).
    seed
        Random seed; the same seed gives the same city.
    spacing_m
        Distance between neighbouring intersections, metres.
    jitter
        Standard deviation of the position noise, as a fraction of ``spacing_m``.
    arterial_every
        Every this many rows/columns a two-way arterial.
    oneway_fraction, unpaved_fraction, closed_fraction
        Share of residential streets one-way, of residential streets unpaved, of blocks
        closed by a bollard.
    center
        ``(lon, lat)`` of the grid's centre, degrees.

    Returns
    -------
    WayTable
        ``n_rows + n_cols`` ways; node ids from 1, intersections first.
    """
    if n_rows < 2 or n_cols < 2:
        raise ValueError("a synthetic city needs at least 2 x 2 intersections")
    rng = np.random.default_rng(seed)
    rows, cols = n_rows, n_cols
    lon0, lat0 = center
    m_per_deg_lat = math.pi * EARTH_RADIUS_M / 180.0
    m_per_deg_lon = m_per_deg_lat * math.cos(math.radians(lat0))

    def to_lonlat(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return lon0 + x / m_per_deg_lon, lat0 + y / m_per_deg_lat

    r_idx, c_idx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    ix = (c_idx - (cols - 1) / 2) * spacing_m + rng.normal(0, jitter * spacing_m, (rows, cols))
    iy = (r_idx - (rows - 1) / 2) * spacing_m + rng.normal(0, jitter * spacing_m, (rows, cols))
    inter_id = (np.arange(rows * cols, dtype=np.int64) + 1).reshape(rows, cols)
    # mid-block shape nodes: horizontal (rows, cols-1), vertical (rows-1, cols)
    h_id = inter_id.size + 1 + np.arange(rows * (cols - 1), dtype=np.int64).reshape(rows, -1)
    v_first = h_id.size + inter_id.size + 1
    v_id = (v_first + np.arange((rows - 1) * cols, dtype=np.int64)).reshape(rows - 1, cols)
    side = jitter * spacing_m / 2
    hx = (ix[:, :-1] + ix[:, 1:]) / 2 + rng.normal(0, side, (rows, cols - 1))
    hy = (iy[:, :-1] + iy[:, 1:]) / 2 + rng.normal(0, side, (rows, cols - 1))
    vx = (ix[:-1, :] + ix[1:, :]) / 2 + rng.normal(0, side, (rows - 1, cols))
    vy = (iy[:-1, :] + iy[1:, :]) / 2 + rng.normal(0, side, (rows - 1, cols))

    def interleave(main: FloatArray | IntArray, mid: FloatArray | IntArray) -> FloatArray:
        out = np.empty((main.shape[0], main.shape[1] + mid.shape[1]), dtype=main.dtype)
        out[:, 0::2] = main
        out[:, 1::2] = mid
        return out

    row_ids = interleave(inter_id, h_id)
    col_ids = interleave(inter_id.T, v_id.T)
    row_x, row_y = interleave(ix, hx), interleave(iy, hy)
    col_x, col_y = interleave(ix.T, vx.T), interleave(iy.T, vy.T)
    node_ids = np.concatenate([row_ids.ravel(), col_ids.ravel()]).astype(np.int64)
    lon, lat = to_lonlat(
        np.concatenate([row_x.ravel(), col_x.ravel()]),
        np.concatenate([row_y.ravel(), col_y.ravel()]),
    )
    n_ways = rows + cols
    lengths = np.concatenate(
        [np.full(rows, row_ids.shape[1], dtype=np.int64), np.full(cols, col_ids.shape[1])]
    )
    node_offsets = np.zeros(n_ways + 1, dtype=np.int64)
    np.cumsum(lengths, out=node_offsets[1:])

    # strings: "", classes, surface, then street names
    base = ["", "residential", "secondary", "primary", "unpaved"]
    names = [f"Rue {i + 1}" for i in range(rows)] + [f"Avenue {j + 1}" for j in range(cols)]
    strings = tuple(base + names)
    line = np.concatenate([np.arange(rows), np.arange(cols)])
    arterial = line % arterial_every == 0
    primary = line % (arterial_every * 3) == 0
    highway = np.where(primary, 3, np.where(arterial, 2, 1)).astype(np.int32)
    oneway = ~arterial & (rng.random(n_ways) < oneway_fraction)
    backward_only = oneway & (rng.random(n_ways) < 0.5)
    forward = ~backward_only
    backward = ~oneway | backward_only
    surface = np.where(~arterial & (rng.random(n_ways) < unpaved_fraction), 4, 0)
    maxspeed = np.where(primary, 40.0, math.nan)
    mid_ids = np.concatenate([h_id.ravel(), v_id.ravel()])
    closed = np.less(rng.random(mid_ids.shape[0]), closed_fraction)
    if district_blocks is not None:
        closed |= _district_edges(rows, cols, district_blocks, arterial) & (
            rng.random(mid_ids.shape[0]) >= crossing_fraction
        )
    blocked = mid_ids[closed]
    return WayTable(
        way_osm_id=np.arange(1, n_ways + 1, dtype=np.int64),
        node_offsets=node_offsets,
        node_osm_id=node_ids,
        node_lon=lon,
        node_lat=lat,
        forward=forward,
        backward=backward,
        name=(np.arange(n_ways) + len(base)).astype(np.int32),
        ref=np.zeros(n_ways, dtype=np.int32),
        highway=highway,
        surface=surface.astype(np.int32),
        maxspeed_kph=maxspeed.astype(np.float64),
        bridge=np.zeros(n_ways, dtype=np.bool_),
        strings=strings,
        blocked_nodes=np.sort(blocked).astype(np.int64),
        newest_timestamp=None,
    )


def _district_edges(
    rows: int, cols: int, district_blocks: int, arterial: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Mask over the mid-block nodes (horizontal then vertical, as in
    :func:`synthetic_ways`) of the residential blocks that cross a district edge."""
    if district_blocks < 1:
        raise ValueError("district_blocks must be >= 1")
    row_arterial, col_arterial = arterial[:rows], arterial[rows:]
    # horizontal block (r, c) joins columns c and c + 1; vertical block (r, c) rows r, r + 1
    h_cross = (np.arange(cols - 1) + 1) % district_blocks == 0
    v_cross = (np.arange(rows - 1) + 1) % district_blocks == 0
    h = h_cross[np.newaxis, :] & ~row_arterial[:, np.newaxis]
    v = v_cross[:, np.newaxis] & ~col_arterial[np.newaxis, :]
    return np.concatenate([h.ravel(), v.ravel()])


def synthetic_city(
    n_rows: int,
    n_cols: int,
    *,
    seed: int,
    built_at: datetime = _EPOCH,
    spacing_m: float = 110.0,
    oneway_fraction: float = 0.3,
    closed_fraction: float = 0.02,
    district_blocks: int | None = None,
    crossing_fraction: float = 0.0,
) -> RoadGraph:
    """A synthetic grid city as a :class:`RoadGraph` (see the module docstring).

    Parameters
    ----------
    n_rows, n_cols
        Intersections per column and per row. About ``3.4 * n_rows * n_cols`` directed
        edges (e.g. 175 x 175 -> ~100k edges).
    seed
        Random seed.
    built_at
        Recorded build time (default a fixed date: synthetic graphs are reproducible).
    spacing_m
        Block length, metres.
    oneway_fraction
        Share of residential streets that are one-way.
    closed_fraction, district_blocks, crossing_fraction
        Blocks closed by a bollard; districts and the share of residential streets that
        cross their edges (see :func:`synthetic_ways`).

    Returns
    -------
    RoadGraph
        Largest strongly connected component of the grid; source ``synthetic:RxC:seed``.
    """
    table = synthetic_ways(
        n_rows,
        n_cols,
        seed=seed,
        spacing_m=spacing_m,
        oneway_fraction=oneway_fraction,
        closed_fraction=closed_fraction,
        district_blocks=district_blocks,
        crossing_fraction=crossing_fraction,
    )
    return build_graph(
        table,
        source=f"synthetic:{n_rows}x{n_cols}:seed={seed}",
        built_at=built_at,
        settings=settings_key(include_tracks=False),
    )


#: Nodes of a :func:`district_city` per ``side**2`` (closed blocks and cut streets leave
#: some intersections out of the largest strongly connected component).
DISTRICT_CITY_NODES_PER_SIDE2 = 0.907


def district_city(side: int, *, seed: int, built_at: datetime = _EPOCH) -> RoadGraph:
    """A ``side`` x ``side`` synthetic city of districts, calibrated on a real city.

    Districts of 8 x 8 blocks; half of the residential streets cross a district's edge
    (arterials always do); a fifth of the blocks are closed. ~``0.907 * side**2`` nodes
    (:data:`DISTRICT_CITY_NODES_PER_SIDE2`) and 2.7 directed edges per node. See the module
    docstring for the calibration.
    """
    return synthetic_city(
        side,
        side,
        seed=seed,
        built_at=built_at,
        closed_fraction=0.2,
        district_blocks=8,
        crossing_fraction=0.5,
    )
