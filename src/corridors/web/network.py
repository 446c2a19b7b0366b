"""The road network as GeoJSON: the base map of the planner page (no internet tiles).

Pure functions on a :class:`~corridors.graph.model.RoadGraph`; the web router serves the
result at ``GET /v1/graph/network`` and caches it per graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corridors.graph.model import RoadGraph

__all__ = ["network_feature_collection", "street_edges"]


def street_edges(graph: RoadGraph) -> list[int]:
    """One edge per street segment: a two-way pair counts once, a one-way edge once.

    Of a two-way pair the edge with the lower index is kept, so the result is stable.

    Parameters
    ----------
    graph
        The road graph.

    Returns
    -------
    list of int
        Edge indexes, ascending.
    """
    index = np.arange(graph.edge_count, dtype=np.int64)
    reverse = np.asarray(graph.edge_reverse, dtype=np.int64)
    keep = (reverse < 0) | (index < reverse)
    return [int(e) for e in np.flatnonzero(keep)]


def network_feature_collection(graph: RoadGraph, *, ndigits: int = 6) -> dict[str, Any]:
    """The road network as a GeoJSON FeatureCollection of LineStrings.

    Parameters
    ----------
    graph
        The road graph.
    ndigits
        Decimals kept in coordinates (6 decimals of a degree are about 0.1 m).

    Returns
    -------
    dict
        ``{"type": "FeatureCollection", "features": [...], "bbox": [...]}``; one feature per
        street segment (see :func:`street_edges`), ``id`` the edge index, properties
        ``street`` (readable label), ``highway`` (OSM road class), ``oneway`` (bool) and
        ``length_m`` (metres).
    """
    features: list[dict[str, Any]] = []
    for edge in street_edges(graph):
        coords = [
            [round(lon, ndigits), round(lat, ndigits)] for lon, lat in graph.edge_coords(edge)
        ]
        features.append(
            {
                "type": "Feature",
                "id": edge,
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {
                    "street": graph.street(edge),
                    "highway": graph.strings[int(graph.edge_highway[edge])],
                    "oneway": bool(graph.edge_reverse[edge] < 0),
                    "length_m": round(float(graph.edge_length_m[edge]), 1),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "bbox": [float(v) for v in graph.meta.bbox],
        "features": features,
    }
