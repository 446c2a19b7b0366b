"""The compact road graph every hot path works on.

Nodes are contiguous indexes ``0..n-1`` and edges ``0..m-1``; OSM ids are kept only to
translate at the boundary. Edges are sorted by tail node, so ``edge_offsets`` is the CSR
row pointer: the edges leaving node ``u`` are ``edge_offsets[u]:edge_offsets[u + 1]``.
Every edge is one direction of travel; a two-way street is two edges.

Edge geometry is a flattened polyline: the vertices of edge ``e`` are
``geometry_lon[geometry_offsets[e]:geometry_offsets[e + 1]]`` (same for lat), from tail to
head, first and last vertex equal to the end nodes.

Street attributes that repeat (name, ref, highway, surface) are codes into ``strings``;
code 0 is always the empty string.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from corridors.graph.geo import LocalProjection

__all__ = ["GraphMeta", "RoadGraph"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class GraphMeta:
    """Where a graph came from and what building it dropped.

    ``bbox`` is ``(min_lon, min_lat, max_lon, max_lat)`` of the kept nodes.
    """

    source: str
    osm_timestamp: datetime | None
    built_at: datetime
    bbox: tuple[float, float, float, float]
    demo: bool = False
    settings_key: str = ""
    dropped_nodes: int = 0
    dropped_edges: int = 0


@dataclass(frozen=True, eq=False)
class RoadGraph:
    """A directed road network in CSR form (see the module docstring for the layout)."""

    meta: GraphMeta
    node_osm_id: IntArray
    node_lon: FloatArray
    node_lat: FloatArray
    edge_offsets: IntArray  # (n + 1,) CSR row pointer over edges sorted by tail
    edge_tail: Int32Array
    edge_head: Int32Array
    edge_length_m: FloatArray
    edge_duration_s: FloatArray
    edge_osm_way_id: IntArray
    edge_name: Int32Array  # code into strings
    edge_ref: Int32Array
    edge_highway: Int32Array
    edge_surface: Int32Array
    edge_maxspeed_kph: FloatArray  # NaN where OSM gives none
    edge_bridge: BoolArray
    edge_reverse: IntArray  # index of the opposite-direction edge, -1 when one-way
    geometry_offsets: IntArray  # (m + 1,)
    geometry_lon: FloatArray
    geometry_lat: FloatArray
    strings: tuple[str, ...]

    @property
    def node_count(self) -> int:
        """Number of nodes."""
        return int(self.node_lon.shape[0])

    @property
    def edge_count(self) -> int:
        """Number of directed edges."""
        return int(self.edge_tail.shape[0])

    @property
    def projection(self) -> LocalProjection:
        """A metric projection centred on the graph's bounding box."""
        min_lon, min_lat, max_lon, max_lat = self.meta.bbox
        return LocalProjection((min_lon + max_lon) / 2, (min_lat + max_lat) / 2)

    def edge_coords(self, edge: int) -> list[tuple[float, float]]:
        """The ``(lon, lat)`` vertices of one edge, tail to head."""
        start, stop = int(self.geometry_offsets[edge]), int(self.geometry_offsets[edge + 1])
        return list(
            zip(
                self.geometry_lon[start:stop].tolist(),
                self.geometry_lat[start:stop].tolist(),
                strict=True,
            )
        )

    def street(self, edge: int) -> str:
        """A readable street label: the name, else the ref, else the road class."""
        return self.street_label(int(self.street_keys(np.array([edge]))[0]))

    def street_keys(self, edges: IntArray) -> IntArray:
        """A key per edge from which :meth:`street_label` makes its street label: the name's
        code, else the ref's, else ``-1 -`` the road class's (equal keys, equal labels)."""
        name = self.edge_name[edges].astype(np.int64)
        ref = self.edge_ref[edges]
        unnamed = -1 - self.edge_highway[edges].astype(np.int64)
        return np.where(name != 0, name, np.where(ref != 0, ref, unnamed))

    def street_label(self, key: int) -> str:
        """The street label of a :meth:`street_keys` key."""
        return self.strings[key] if key >= 0 else f"unnamed {self.strings[-1 - key]}"
