"""The risk layer of ``GET /v1/risk?bbox=&at=``: risky road segments as GeoJSON features.

Pure functions returning plain dicts; the API wraps them in a FeatureCollection. Both
directions of a two-way street become one feature carrying the higher of the two risks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from corridors.graph.model import RoadGraph
from corridors.risk.engine import RiskField

__all__ = ["risk_feature_collection", "risk_features"]

IntArray = npt.NDArray[np.int64]

#: Edges whose extents are computed per block (bounds the temporaries).
_BBOX_EDGES = 1 << 16


def _edges_in_bbox(graph: RoadGraph, bbox: tuple[float, float, float, float]) -> IntArray:
    """Edges whose geometry's bounding box overlaps ``bbox`` (lon/lat).

    Extents are computed per block of edges: a few MB of temporaries whatever the graph
    (whole-graph extents took ~135 MB at 1M nodes, on every request).
    """
    min_lon, min_lat, max_lon, max_lat = bbox
    offsets = np.asarray(graph.geometry_offsets, dtype=np.int64)
    found: list[IntArray] = []
    for lo in range(0, graph.edge_count, _BBOX_EDGES):
        hi = min(graph.edge_count, lo + _BBOX_EDGES)
        v0, v1 = int(offsets[lo]), int(offsets[hi])
        starts = offsets[lo:hi] - v0
        lon, lat = graph.geometry_lon[v0:v1], graph.geometry_lat[v0:v1]
        overlap = np.minimum.reduceat(lon, starts) <= max_lon
        overlap &= np.maximum.reduceat(lon, starts) >= min_lon
        overlap &= np.minimum.reduceat(lat, starts) <= max_lat
        overlap &= np.maximum.reduceat(lat, starts) >= min_lat
        found.append(np.flatnonzero(overlap).astype(np.int64) + lo)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def risk_features(
    graph: RoadGraph,
    field: RiskField,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    top: int = 3,
    ndigits: int = 3,
) -> list[dict[str, Any]]:
    """GeoJSON features of the road segments with risk above zero.

    Parameters
    ----------
    graph
        The graph ``field`` was computed on.
    field
        The risk field (its ``computed_at`` is the layer's ``at``).
    bbox
        ``(min_lon, min_lat, max_lon, max_lat)``, degrees; segments whose extent overlaps it
        are returned. None: the whole graph.
    top
        How many contributing report ids to list per segment.
    ndigits
        Decimals kept in ``risk``.

    Returns
    -------
    list of dict
        Features ``{"type": "Feature", "geometry": LineString (lon/lat), "properties":
        {"risk": per km, "level", "street", "reports": [ids, strongest first]}}``, riskiest
        first. A two-way street is one feature (the direction with the higher risk; its
        geometry runs along that direction).
    """
    risk = field.edge_risk_per_km
    edges = (
        np.arange(graph.edge_count, dtype=np.int64) if bbox is None else _edges_in_bbox(graph, bbox)
    )
    edges = edges[risk[edges] > 0]
    if edges.shape[0] == 0:
        return []
    # One feature per undirected pair: keep the riskier direction (ties: the lower index).
    reverse = np.asarray(graph.edge_reverse, dtype=np.int64)[edges]
    partner_risk = np.where(reverse >= 0, risk[np.maximum(reverse, 0)], -np.inf)
    own = risk[edges]
    keep = (own > partner_risk) | ((own == partner_risk) & (edges < reverse))
    edges = edges[keep]
    edges = edges[np.argsort(-risk[edges], kind="stable")]
    explained = field.contributors_many(edges, top=top)
    features: list[dict[str, Any]] = []
    for edge, reports in zip(edges.tolist(), explained, strict=True):
        value = float(risk[edge])
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [list(p) for p in graph.edge_coords(edge)],
                },
                "properties": {
                    "risk": round(value, ndigits),
                    "level": field.level_of(value).value,
                    "street": graph.street(edge),
                    "reports": [rid for rid, _ in reports],
                },
            }
        )
    return features


def risk_feature_collection(
    graph: RoadGraph,
    field: RiskField,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    top: int = 3,
) -> dict[str, Any]:
    """:func:`risk_features` wrapped in a GeoJSON FeatureCollection."""
    return {
        "type": "FeatureCollection",
        "features": risk_features(graph, field, bbox=bbox, top=top),
    }
