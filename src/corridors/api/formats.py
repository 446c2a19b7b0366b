"""Alternative renderings of a routes document: GeoJSON FeatureCollection and GPX 1.1."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

__all__ = ["GEOJSON", "GPX", "routes_to_feature_collection", "routes_to_gpx"]

GEOJSON = "application/geo+json"
GPX = "application/gpx+xml"


def routes_to_feature_collection(document: dict[str, Any]) -> dict[str, Any]:
    """One LineString feature per route; properties are the route minus its geometry."""
    features = [
        {
            "type": "Feature",
            "geometry": route["geometry"],
            "properties": {k: v for k, v in route.items() if k != "geometry"},
        }
        for route in document["routes"]
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "risk_snapshot": document["risk_snapshot"],
        "graph": document["graph"],
    }


def routes_to_gpx(document: dict[str, Any]) -> str:
    """GPX 1.1 with one ``<trk>`` per route (for handheld GPS units and convoy apps)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gpx version="1.1" creator="Corridors" xmlns="http://www.topografix.com/GPX/1/1">',
        f"<metadata><time>{escape(str(document['risk_snapshot']['computed_at']))}</time>"
        "</metadata>",
    ]
    for route in document["routes"]:
        risk = route["risk"]
        escort = route["escort"]
        desc = (
            f"{route['distance_m'] / 1000:.1f} km, {route['duration_s'] / 60:.0f} min, "
            f"risk {risk['level']}, escort {escort['recommendation']}"
        )
        parts.append("<trk>")
        parts.append(f"<name>{escape(route['label'])} {route['rank']}</name>")
        parts.append(f"<desc>{escape(desc)}</desc>")
        parts.append("<trkseg>")
        parts.extend(
            f"<trkpt lat={quoteattr(f'{lat:.7f}')} lon={quoteattr(f'{lon:.7f}')}/>"
            for lon, lat in route["geometry"]["coordinates"]
        )
        parts.append("</trkseg></trk>")
    parts.append("</gpx>")
    return "\n".join(parts)
