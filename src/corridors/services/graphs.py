"""Which road graph the service serves, and building/caching it from the command line.

Start-up order: the configured cache file, then the cache last written by
``corridors graph build|fetch`` (recorded in ``<data_dir>/graphs/active.json``), then the
configured OSM file (built once, then cached), then the embedded demo network.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from corridors.config import Settings
from corridors.errors import ConfigError
from corridors.graph import cache
from corridors.graph.build import build_graph_from_file, fetch_graph
from corridors.graph.model import RoadGraph

__all__ = [
    "build_and_activate",
    "fetch_and_activate",
    "graph_document",
    "load_serving_graph",
]

log = logging.getLogger(__name__)

_ACTIVE_POINTER = "active.json"


def _cache_for_file(
    settings: Settings, osm_file: Path, *, demo: bool, built_at: datetime
) -> RoadGraph:
    key = cache.cache_key(osm_file, include_tracks=settings.include_tracks)
    path = cache.cache_path(settings.graphs_dir, key)
    if path.exists():
        return cache.load_graph(path)
    graph = build_graph_from_file(
        osm_file, include_tracks=settings.include_tracks, built_at=built_at, demo=demo
    )
    cache.save_graph(graph, path)
    return graph


def _activate(settings: Settings, path: Path) -> None:
    settings.graphs_dir.mkdir(parents=True, exist_ok=True)
    pointer = settings.graphs_dir / _ACTIVE_POINTER
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(json.dumps({"cache": str(path.resolve())}))
    tmp.replace(pointer)


def _active_cache(settings: Settings) -> Path | None:
    pointer = settings.graphs_dir / _ACTIVE_POINTER
    if not pointer.exists():
        return None
    try:
        path = Path(json.loads(pointer.read_text())["cache"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{pointer} is not a valid graph pointer: {exc}") from exc
    return path if path.exists() else None


def load_serving_graph(settings: Settings, *, now: datetime) -> RoadGraph:
    """Load the graph the service should serve (see the module docstring for the order).

    Raises
    ------
    ConfigError
        A configured cache or OSM file does not exist.
    GraphBuildError
        The OSM file or cache cannot be read.
    """
    if settings.graph_cache is not None:
        if not settings.graph_cache.exists():
            raise ConfigError(f"CORRIDORS_GRAPH_CACHE={settings.graph_cache} does not exist")
        return cache.load_graph(settings.graph_cache)
    active = _active_cache(settings)
    if active is not None:
        return cache.load_graph(active)
    if settings.osm_file is not None:
        if not settings.osm_file.exists():
            raise ConfigError(f"CORRIDORS_OSM_FILE={settings.osm_file} does not exist")
        return _cache_for_file(settings, settings.osm_file, demo=False, built_at=now)
    log.warning(
        "Serving the embedded DEMO network (%s): approximate, not for navigation. "
        "Load real OpenStreetMap data with `corridors graph build` or `corridors graph fetch`.",
        settings.demo_osm_file.name,
    )
    return _cache_for_file(settings, settings.demo_osm_file, demo=True, built_at=now)


def build_and_activate(
    settings: Settings, osm_file: Path, *, now: datetime
) -> tuple[RoadGraph, Path]:
    """Build a graph from an OSM file, cache it and make it the one ``serve`` uses."""
    graph = build_graph_from_file(osm_file, include_tracks=settings.include_tracks, built_at=now)
    path = cache.cache_path(
        settings.graphs_dir, cache.cache_key(osm_file, include_tracks=settings.include_tracks)
    )
    cache.save_graph(graph, path)
    _activate(settings, path)
    return graph, path


def fetch_and_activate(
    settings: Settings,
    *,
    place: str | None,
    bbox: tuple[float, float, float, float] | None,
    now: datetime,
) -> tuple[RoadGraph, Path]:
    """Download a graph from OpenStreetMap (osmnx), cache it and make it the active one."""
    graph = fetch_graph(
        place=place, bbox=bbox, include_tracks=settings.include_tracks, built_at=now
    )
    label = place or ",".join(f"{v:.5f}" for v in bbox or ())
    path = cache.cache_path(settings.graphs_dir, cache.fetch_cache_key(label, now=now))
    cache.save_graph(graph, path)
    _activate(settings, path)
    return graph, path


def graph_document(graph: RoadGraph) -> dict[str, object]:
    """The ``/v1/graph`` document (also ``corridors graph info``)."""
    meta = graph.meta
    return {
        "source": meta.source,
        "osm_timestamp": meta.osm_timestamp.isoformat() if meta.osm_timestamp else None,
        "built_at": meta.built_at.isoformat(),
        "bbox": [round(v, 6) for v in meta.bbox],
        "nodes": graph.node_count,
        "edges": graph.edge_count,
        "demo": meta.demo,
        "dropped_nodes": meta.dropped_nodes,
        "dropped_edges": meta.dropped_edges,
    }
