"""Save and load a :class:`~corridors.graph.model.RoadGraph` as one uncompressed ``.npz``.

No pickle: arrays are stored as they are, the string table as a numpy unicode array and
the metadata as a JSON string, and the contraction order of the nodes for the routing
engine (``cch_order``, see :mod:`corridors.graph.order`; optional: a cache without it loads,
and the engine computes the order). A cache is keyed by its source (content hash for files up
to :data:`HASH_LIMIT_BYTES`, else resolved path + size + mtime) and the build settings
(:func:`corridors.graph.build.settings_key`), so a changed file, flag or speed table
means a new cache file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from corridors.errors import GraphBuildError
from corridors.graph.build import settings_key, source_digest
from corridors.graph.model import GraphMeta, RoadGraph
from corridors.graph.order import contraction_order, is_permutation, remember_order

__all__ = [
    "CACHE_FORMAT",
    "HASH_LIMIT_BYTES",
    "cache_key",
    "cache_path",
    "fetch_cache_key",
    "load_graph",
    "newest_cache",
    "save_graph",
]

CACHE_FORMAT = "corridors-graph/1"
#: Files up to this size are keyed by their sha256 (stable across copies/touches).
HASH_LIMIT_BYTES = 64 * 1024 * 1024

# name -> (dtype, length): "n" nodes, "n1" nodes + 1, "m" edges, "m1" edges + 1, "v" vertices
_ARRAYS: dict[str, tuple[type[np.generic], str]] = {
    "node_osm_id": (np.int64, "n"),
    "node_lon": (np.float64, "n"),
    "node_lat": (np.float64, "n"),
    "edge_offsets": (np.int64, "n1"),
    "edge_tail": (np.int32, "m"),
    "edge_head": (np.int32, "m"),
    "edge_length_m": (np.float64, "m"),
    "edge_duration_s": (np.float64, "m"),
    "edge_osm_way_id": (np.int64, "m"),
    "edge_name": (np.int32, "m"),
    "edge_ref": (np.int32, "m"),
    "edge_highway": (np.int32, "m"),
    "edge_surface": (np.int32, "m"),
    "edge_maxspeed_kph": (np.float64, "m"),
    "edge_bridge": (np.bool_, "m"),
    "edge_reverse": (np.int64, "m"),
    "geometry_offsets": (np.int64, "m1"),
    "geometry_lon": (np.float64, "v"),
    "geometry_lat": (np.float64, "v"),
}

#: Name of the optional contraction-order array (uint32, one entry per node).
_ORDER = "cch_order"


def cache_key(source: Path | str, *, include_tracks: bool, demo: bool = False) -> str:
    """Key of a graph built from ``source`` with the given settings.

    Parameters
    ----------
    source
        An OSM file path, or a fetch label such as ``"osmnx:place=Port-au-Prince, Haiti"``.
    include_tracks
        Whether tracks are kept.
    demo
        Whether the graph is the demo network.

    Returns
    -------
    str
        20 hex characters.
    """
    path = Path(source) if not str(source).startswith("osmnx:") else None
    if path is not None and path.is_file():
        stat = path.stat()
        if stat.st_size <= HASH_LIMIT_BYTES:
            origin = "sha256:" + source_digest(path)
        else:
            origin = f"file:{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    else:
        origin = f"label:{source}"
    text = f"{origin}|{settings_key(include_tracks=include_tracks)}|demo={int(demo)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def fetch_cache_key(label: str, *, now: datetime, include_tracks: bool = False) -> str:
    """Key of a graph downloaded at ``now`` (online data changes, so the time is part of it).

    Parameters
    ----------
    label
        The place name or bbox text of the fetch.
    now
        When the download happened (aware UTC).
    include_tracks
        Whether tracks are kept.

    Returns
    -------
    str
        20 hex characters.
    """
    text = f"fetch:{label}|{now.isoformat()}|{settings_key(include_tracks=include_tracks)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def cache_path(graphs_dir: Path, key: str) -> Path:
    """Where the cache for ``key`` lives under ``graphs_dir`` (``graph-<key>.npz``)."""
    return Path(graphs_dir) / f"graph-{key}.npz"


def newest_cache(graphs_dir: Path) -> Path | None:
    """The most recently written ``graph-*.npz`` under ``graphs_dir``, or None."""
    folder = Path(graphs_dir)
    if not folder.is_dir():
        return None
    files = sorted(folder.glob("graph-*.npz"), key=lambda p: p.stat().st_mtime_ns)
    return files[-1] if files else None


def _meta_to_json(meta: GraphMeta) -> str:
    return json.dumps(
        {
            "format": CACHE_FORMAT,
            "source": meta.source,
            "osm_timestamp": meta.osm_timestamp.isoformat() if meta.osm_timestamp else None,
            "built_at": meta.built_at.isoformat(),
            "bbox": list(meta.bbox),
            "demo": meta.demo,
            "settings_key": meta.settings_key,
            "dropped_nodes": meta.dropped_nodes,
            "dropped_edges": meta.dropped_edges,
        }
    )


def _meta_from_json(text: str) -> GraphMeta:
    data: dict[str, Any] = json.loads(text)
    if data.get("format") != CACHE_FORMAT:
        raise ValueError(f"unsupported cache format {data.get('format')!r}")
    stamp = data["osm_timestamp"]
    bbox = tuple(float(v) for v in data["bbox"])
    if len(bbox) != 4:
        raise ValueError("bbox must have 4 numbers")
    return GraphMeta(
        source=str(data["source"]),
        osm_timestamp=datetime.fromisoformat(stamp) if stamp else None,
        built_at=datetime.fromisoformat(data["built_at"]),
        bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
        demo=bool(data["demo"]),
        settings_key=str(data["settings_key"]),
        dropped_nodes=int(data["dropped_nodes"]),
        dropped_edges=int(data["dropped_edges"]),
    )


def save_graph(graph: RoadGraph, path: Path, *, with_order: bool = True) -> None:
    """Write ``graph`` to ``path`` atomically (temporary file, then rename).

    Parameters
    ----------
    graph
        The graph to save.
    path
        Target ``.npz`` file; parent folders are created.
    with_order
        Also store the contraction order of the nodes (computed here unless the graph
        already has one: ~9 s per 100k nodes), so that loading the cache skips it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {name: getattr(graph, name) for name in _ARRAYS}
    if with_order:
        arrays[_ORDER] = contraction_order(graph)
    arrays["strings"] = np.array(graph.strings, dtype=np.str_)
    arrays["meta"] = np.array(_meta_to_json(graph.meta), dtype=np.str_)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def load_graph(path: Path) -> RoadGraph:
    """Load a graph written by :func:`save_graph`, validating every array.

    Parameters
    ----------
    path
        A ``.npz`` graph cache.

    Returns
    -------
    RoadGraph
        The graph, arrays as saved.

    Raises
    ------
    GraphBuildError
        Missing, unreadable, truncated or inconsistent cache file.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in _ARRAYS}
            strings_array = data["strings"]
            meta = _meta_from_json(str(data["meta"]))
            order = data[_ORDER] if _ORDER in data.files else None
        _validate(arrays, strings_array)
        if order is not None and (
            order.dtype != np.uint32 or not is_permutation(order, arrays["node_lon"].shape[0])
        ):
            raise ValueError("cch_order is not a permutation of the nodes")
    except FileNotFoundError as exc:
        raise GraphBuildError(f"{path}: no such graph cache") from exc
    except (OSError, EOFError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise GraphBuildError(f"{path}: corrupt graph cache ({exc})") from exc
    graph = RoadGraph(meta=meta, strings=tuple(strings_array.tolist()), **arrays)
    if order is not None:
        remember_order(graph, order)
    return graph


def _validate(arrays: dict[str, np.ndarray[Any, Any]], strings: np.ndarray[Any, Any]) -> None:
    n = arrays["node_lon"].shape[0]
    m = arrays["edge_tail"].shape[0]
    v = arrays["geometry_lon"].shape[0]
    lengths = {"n": n, "n1": n + 1, "m": m, "m1": m + 1, "v": v}
    for name, (dtype, kind) in _ARRAYS.items():
        array = arrays[name]
        if array.dtype != np.dtype(dtype) or array.shape != (lengths[kind],):
            raise ValueError(f"array {name} has dtype {array.dtype} and shape {array.shape}")
    if strings.ndim != 1 or strings.dtype.kind != "U" or strings.shape[0] == 0:
        raise ValueError("bad string table")
    if strings[0] != "":
        raise ValueError("string code 0 must be the empty string")
    offsets, geo = arrays["edge_offsets"], arrays["geometry_offsets"]
    if offsets[0] != 0 or offsets[-1] != m or np.any(np.diff(offsets) < 0):
        raise ValueError("edge_offsets is not a CSR row pointer")
    if geo[0] != 0 or geo[-1] != v or np.any(np.diff(geo) < 2):
        raise ValueError("geometry_offsets is inconsistent")
    if m and (
        min(arrays["edge_tail"].min(), arrays["edge_head"].min()) < 0
        or max(arrays["edge_tail"].max(), arrays["edge_head"].max()) >= n
    ):
        raise ValueError("edge end outside the node range")
    codes = [arrays[k] for k in ("edge_name", "edge_ref", "edge_highway", "edge_surface")]
    if m and any(c.min() < 0 or c.max() >= strings.shape[0] for c in codes):
        raise ValueError("string code outside the string table")
    reverse = arrays["edge_reverse"]
    if m and (reverse.min() < -1 or reverse.max() >= m):
        raise ValueError("edge_reverse outside the edge range")
