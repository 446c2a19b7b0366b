"""The filtered-ways table handed from a source (file, Overpass, generator) to the build.

Arrays, not objects, so a synthetic million-node city or a national extract stays cheap:
the node references of all ways are concatenated, ``node_offsets`` is the row pointer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from corridors.graph.osm_filter import parse_maxspeed_kph, way_directions

__all__ = ["WayTable", "WayTableBuilder"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]

_FALSE_BRIDGE = frozenset({"", "no", "false", "0"})


@dataclass(frozen=True, eq=False)
class WayTable:
    """Drivable ways, already filtered, with their node references and locations.

    ``node_lon``/``node_lat`` are NaN for references whose node is missing from the
    source (clipped extracts); the build splits ways there. ``blocked_nodes`` holds the
    OSM ids of nodes with a blocking barrier. Codes index ``strings`` (0 = "").
    """

    way_osm_id: IntArray
    node_offsets: IntArray
    node_osm_id: IntArray
    node_lon: FloatArray
    node_lat: FloatArray
    forward: BoolArray
    backward: BoolArray
    name: Int32Array
    ref: Int32Array
    highway: Int32Array
    surface: Int32Array
    maxspeed_kph: FloatArray
    bridge: BoolArray
    strings: tuple[str, ...]
    blocked_nodes: IntArray
    newest_timestamp: datetime | None = None

    @property
    def way_count(self) -> int:
        """Number of ways."""
        return int(self.way_osm_id.shape[0])


class WayTableBuilder:
    """Accumulate ways one at a time (from a reader), then freeze into a :class:`WayTable`."""

    def __init__(self) -> None:
        self._strings: dict[str, int] = {"": 0}
        self._way_ids: list[int] = []
        self._offsets: list[int] = [0]
        self._node_ids: list[int] = []
        self._lons: list[float] = []
        self._lats: list[float] = []
        self._forward: list[bool] = []
        self._backward: list[bool] = []
        self._codes: list[tuple[int, int, int, int]] = []
        self._maxspeed: list[float] = []
        self._bridge: list[bool] = []
        self.blocked_nodes: set[int] = set()
        self.newest_timestamp: datetime | None = None

    def _code(self, value: str | None) -> int:
        if not value:
            return 0
        code = self._strings.get(value)
        if code is None:
            code = len(self._strings)
            self._strings[value] = code
        return code

    def add_way(
        self,
        way_id: int,
        node_ids: Sequence[int],
        lons: Sequence[float],
        lats: Sequence[float],
        tags: Mapping[str, str],
    ) -> None:
        """Append one (already filtered) way.

        Parameters
        ----------
        way_id
            OSM way id.
        node_ids, lons, lats
            The way's node references in order, with their locations in degrees
            (NaN when unknown).
        tags
            The way's tags; direction, names and speed limit are read from them.
        """
        forward, backward = way_directions(tags)
        self._way_ids.append(way_id)
        self._node_ids.extend(node_ids)
        self._lons.extend(lons)
        self._lats.extend(lats)
        self._offsets.append(len(self._node_ids))
        self._forward.append(forward)
        self._backward.append(backward)
        self._codes.append(
            (
                self._code(tags.get("name")),
                self._code(tags.get("ref")),
                self._code(tags.get("highway")),
                self._code(tags.get("surface")),
            )
        )
        self._maxspeed.append(parse_maxspeed_kph(tags.get("maxspeed")))
        self._bridge.append(tags.get("bridge", "").lower() not in _FALSE_BRIDGE)

    def note_timestamp(self, timestamp: datetime | None) -> None:
        """Remember the newest object timestamp seen (aware UTC datetimes)."""
        if timestamp is not None and (
            self.newest_timestamp is None or timestamp > self.newest_timestamp
        ):
            self.newest_timestamp = timestamp

    def build(self) -> WayTable:
        """Freeze the accumulated ways into arrays."""
        codes = np.array(self._codes, dtype=np.int32).reshape(-1, 4)
        return WayTable(
            way_osm_id=np.array(self._way_ids, dtype=np.int64),
            node_offsets=np.array(self._offsets, dtype=np.int64),
            node_osm_id=np.array(self._node_ids, dtype=np.int64),
            node_lon=np.array(self._lons, dtype=np.float64),
            node_lat=np.array(self._lats, dtype=np.float64),
            forward=np.array(self._forward, dtype=np.bool_),
            backward=np.array(self._backward, dtype=np.bool_),
            name=np.ascontiguousarray(codes[:, 0]),
            ref=np.ascontiguousarray(codes[:, 1]),
            highway=np.ascontiguousarray(codes[:, 2]),
            surface=np.ascontiguousarray(codes[:, 3]),
            maxspeed_kph=np.array(self._maxspeed, dtype=np.float64),
            bridge=np.array(self._bridge, dtype=np.bool_),
            strings=tuple(self._strings),
            blocked_nodes=np.array(sorted(self.blocked_nodes), dtype=np.int64),
            newest_timestamp=self.newest_timestamp,
        )
