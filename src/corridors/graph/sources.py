"""Read drivable ways from OSM files (pyosmium) or download them (osmnx/Overpass).

Ways are filtered while reading (:mod:`corridors.graph.osm_filter`): unlike
``osmnx.graph_from_xml``, buildings, rivers and footways never become edges. This is the
only module that imports osmnx (lazily: it is slow to import and only the fetch needs it).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import osmium

from corridors.errors import GraphBuildError
from corridors.graph.osm_filter import (
    OVERPASS_TAGS_NODE,
    OVERPASS_TAGS_WAY,
    node_blocks,
    overpass_filter,
    way_is_drivable,
)
from corridors.graph.ways import WayTable, WayTableBuilder

__all__ = ["OSM_FILE_SUFFIXES", "fetch_ways", "read_osm_file"]

#: File name endings read by :func:`read_osm_file`, with the osmium format string.
OSM_FILE_SUFFIXES: Mapping[str, str] = {
    ".osm": "osm",
    ".xml": "osm",
    ".osm.bz2": "osm.bz2",
    ".osm.gz": "osm.gz",
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
}


def _osmium_format(path: Path) -> str:
    name = path.name.lower()
    # Longest suffix first, so "x.osm.pbf" is pbf and not "osm".
    for suffix in sorted(OSM_FILE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return OSM_FILE_SUFFIXES[suffix]
    known = ", ".join(sorted(OSM_FILE_SUFFIXES))
    raise GraphBuildError(f"{path}: unknown OSM file type (expected one of {known})")


def _timestamp(obj: Any) -> datetime | None:
    stamp: datetime = obj.timestamp
    # Objects without metadata carry the epoch.
    return None if stamp.timestamp() <= 0 else stamp


def read_osm_file(path: Path | str, *, include_tracks: bool = False) -> WayTable:
    """Read the drivable ways of an OSM file.

    Parameters
    ----------
    path
        An ``.osm``/``.xml``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` file.
    include_tracks
        Keep ``highway=track`` ways.

    Returns
    -------
    WayTable
        Kept ways with node locations (degrees), blocking barrier nodes and the newest
        object timestamp of the whole file.

    Raises
    ------
    GraphBuildError
        The file is missing, empty, truncated, not OSM, or holds no drivable way.
    """
    path = Path(path)
    if not path.is_file():
        raise GraphBuildError(f"{path}: no such OSM file")
    if path.stat().st_size == 0:
        raise GraphBuildError(f"{path}: the OSM file is empty")
    fmt = _osmium_format(path)
    builder = WayTableBuilder()
    objects = 0
    try:
        processor = osmium.FileProcessor(osmium.io.File(str(path), fmt)).with_locations()
        for obj in processor:
            objects += 1
            builder.note_timestamp(_timestamp(obj))
            if isinstance(obj, osmium.osm.Node):
                if "barrier" in obj.tags:
                    tags = {tag.k: tag.v for tag in obj.tags}
                    if node_blocks(tags):
                        builder.blocked_nodes.add(obj.id)
            elif isinstance(obj, osmium.osm.Way) and "highway" in obj.tags:
                tags = {tag.k: tag.v for tag in obj.tags}
                if not way_is_drivable(tags, include_tracks=include_tracks):
                    continue
                ids: list[int] = []
                lons: list[float] = []
                lats: list[float] = []
                for ref in obj.nodes:
                    ids.append(ref.ref)
                    if ref.location.valid():
                        lons.append(ref.lon)
                        lats.append(ref.lat)
                    else:
                        lons.append(math.nan)
                        lats.append(math.nan)
                builder.add_way(obj.id, ids, lons, lats, tags)
    except RuntimeError as exc:  # osmium reports parse, decompression and EOF errors so
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GraphBuildError(
            f"{path}: not a readable OSM file (truncated or corrupt?): {first_line}"
        ) from exc
    if objects == 0:
        raise GraphBuildError(f"{path}: no OSM objects in the file")
    table = builder.build()
    if table.way_count == 0:
        raise GraphBuildError(f"{path}: no drivable road in the file ({objects} OSM objects)")
    return table


# --------------------------------------------------------------------------- online fetch


@contextmanager
def _osmnx_settings(cache_folder: Path) -> Iterator[Any]:
    """Temporarily configure osmnx for a fetch, restoring its global settings after."""
    import osmnx

    names = {
        "all_oneway": True,  # keep each way's node order; we apply the oneway rules
        "useful_tags_way": list(OVERPASS_TAGS_WAY),
        "useful_tags_node": list(OVERPASS_TAGS_NODE),
        "use_cache": True,  # responses land in cache_folder: we read the OSM base date
        "cache_folder": cache_folder,
        "log_console": False,
    }
    saved = {name: getattr(osmnx.settings, name) for name in names}
    try:
        for name, value in names.items():
            setattr(osmnx.settings, name, value)
        yield osmnx
    finally:
        for name, value in saved.items():
            setattr(osmnx.settings, name, value)


def _overpass_base_timestamp(cache_folder: Path) -> datetime | None:
    """The newest ``osm3s.timestamp_osm_base`` among cached Overpass responses."""
    newest: datetime | None = None
    for file in cache_folder.glob("*.json"):
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(payload, dict):
            continue
        stamp = payload.get("osm3s", {}).get("timestamp_osm_base")
        if not isinstance(stamp, str):
            continue
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            continue
        if newest is None or parsed > newest:
            newest = parsed
    return newest


def _text_tags(data: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    """osmnx attributes back to OSM string tags (it may turn values into lists/numbers)."""
    tags: dict[str, str] = {}
    for key in keys:
        value = data.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, list):
            value = ";".join(str(v) for v in value)
        tags[key] = str(value)
    return tags


#: ``oneway`` values for which osmnx reverses a way's node order.
_OSMNX_REVERSED = frozenset({"-1", "reverse", "T"})


def _walk_paths(segments: list[tuple[int, int]]) -> list[list[int]]:
    """Chain a way's forward segments back into node sequences (one per piece)."""
    successors: dict[int, list[int]] = defaultdict(list)
    indegree: dict[int, int] = defaultdict(int)
    for u, v in segments:
        successors[u].append(v)
        indegree[v] += 1
    for targets in successors.values():
        targets.reverse()  # pop() then takes them in insertion order
    remaining = len(segments)
    paths: list[list[int]] = []
    while remaining:
        # Start where a piece begins (more out than in), else anywhere (closed way).
        start = next(
            (u for u, vs in successors.items() if vs and len(vs) > indegree[u]),
            None,
        )
        if start is None:
            start = next(u for u, vs in successors.items() if vs)
        path = [start]
        node = start
        while successors.get(node):
            nxt = successors[node].pop()
            indegree[nxt] -= 1
            remaining -= 1
            path.append(nxt)
            node = nxt
        paths.append(path)
    return paths


def _ways_from_osmnx_graph(graph: Any, *, include_tracks: bool) -> WayTableBuilder:
    """Rebuild filtered ways from an osmnx graph made with ``all_oneway=True``."""
    builder = WayTableBuilder()
    for node, data in graph.nodes(data=True):
        tags = _text_tags(data, OVERPASS_TAGS_NODE)
        if node_blocks(tags):
            builder.blocked_nodes.add(int(node))
    by_way: dict[int, list[tuple[int, int]]] = defaultdict(list)
    way_tags: dict[int, dict[str, str]] = {}
    for u, v, data in graph.edges(data=True):
        osmid = data.get("osmid")
        if isinstance(osmid, list):  # only after simplification, which we do not ask for
            osmid = osmid[0]
        way_id = int(osmid)
        by_way[way_id].append((int(u), int(v)))
        if way_id not in way_tags:
            way_tags[way_id] = _text_tags(data, OVERPASS_TAGS_WAY)
    xs = {int(n): float(d["x"]) for n, d in graph.nodes(data=True)}
    ys = {int(n): float(d["y"]) for n, d in graph.nodes(data=True)}
    for way_id in sorted(by_way):
        tags = way_tags[way_id]
        if not way_is_drivable(tags, include_tracks=include_tracks):
            continue
        for path in _walk_paths(by_way[way_id]):
            if tags.get("oneway") in _OSMNX_REVERSED:
                path.reverse()  # osmnx flipped these even with all_oneway: restore OSM order
            builder.add_way(way_id, path, [xs[n] for n in path], [ys[n] for n in path], tags)
    return builder


def fetch_ways(
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    include_tracks: bool = False,
) -> tuple[WayTable, str]:
    """Download the drivable ways of a place or bounding box through osmnx.

    Parameters
    ----------
    place
        A place name geocoded by Nominatim, e.g. ``"Port-au-Prince, Haiti"``.
    bbox
        ``(west, south, east, north)`` in degrees, instead of ``place``.
    include_tracks
        Keep ``highway=track`` ways.

    Returns
    -------
    tuple of (WayTable, str)
        The ways (newest timestamp = the Overpass database date) and a source label.

    Raises
    ------
    GraphBuildError
        Neither or both of place/bbox given, the download failed or found no road.
    """
    if (place is None) == (bbox is None):
        raise GraphBuildError("give exactly one of place or bbox")
    custom_filter = overpass_filter(include_tracks=include_tracks)
    with tempfile.TemporaryDirectory(prefix="corridors-osmnx-") as tmp:
        cache_folder = Path(tmp)
        with _osmnx_settings(cache_folder) as osmnx:
            common: dict[str, Any] = {
                "custom_filter": custom_filter,
                "simplify": False,
                "retain_all": True,
                "truncate_by_edge": True,
            }
            try:
                if place is not None:
                    source = f"osmnx:place={place}"
                    graph = osmnx.graph_from_place(place, **common)
                else:
                    assert bbox is not None
                    west, south, east, north = bbox
                    if not (west < east and south < north):
                        raise GraphBuildError(f"bbox {bbox} is not (west, south, east, north)")
                    source = "osmnx:bbox=" + ",".join(f"{v:.6f}" for v in bbox)
                    graph = osmnx.graph_from_bbox(bbox, **common)
            except GraphBuildError:
                raise
            except Exception as exc:  # osmnx raises many kinds (HTTP, geocoding, empty)
                raise GraphBuildError(
                    f"fetching {place or bbox} from OpenStreetMap failed: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                ) from exc
            builder = _ways_from_osmnx_graph(graph, include_tracks=include_tracks)
        builder.note_timestamp(_overpass_base_timestamp(cache_folder))
    table = builder.build()
    if table.way_count == 0:
        raise GraphBuildError(f"no drivable road found for {place or bbox}")
    return table, source
