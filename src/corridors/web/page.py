"""The planner map page: ``GET /map``, its static assets, and the road network as GeoJSON.

The page is plain HTML + ES modules (no build step) on Leaflet, which the set-up installs
from the npm registry into ``src/corridors/web/node_modules`` (``npm ci`` in this folder);
it is served from there, never from a CDN, so the page works on a laptop with no internet.
The base map is the loaded road network itself, served by ``GET /v1/graph/network``.

Routes
------
- ``GET /map``: the page (HTML, same-origin assets only, strict Content-Security-Policy).
- ``GET /map/static/{path}``: the page's own scripts, styles and icons (``web/static``).
- ``GET /map/vendor/leaflet/{path}``: Leaflet's ``dist`` files from ``node_modules``.
- ``GET /v1/graph/network`` (viewer): one GeoJSON LineString per street segment.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from corridors.api.auth import ViewerDep, error_responses
from corridors.api.deps import RuntimeDep
from corridors.errors import NotFoundError
from corridors.graph.model import RoadGraph
from corridors.web.network import network_feature_collection

__all__ = [
    "LEAFLET_DIST",
    "STATIC_DIR",
    "network_payload",
    "router",
]

router = APIRouter()

WEB_DIR = Path(__file__).resolve().parent
#: The page's own assets.
STATIC_DIR = WEB_DIR / "static"
#: Leaflet's distribution files, installed by ``npm ci`` in ``src/corridors/web``.
LEAFLET_DIST = WEB_DIR / "node_modules" / "leaflet" / "dist"

GEOJSON = "application/geo+json"

#: Only same-origin scripts, styles, images and requests; Leaflet positions elements with
#: inline styles, hence ``'unsafe-inline'`` for styles (never for scripts).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".map": "application/json",
}

_MISSING_LEAFLET_BANNER = (
    '<p class="boot-error" role="alert">The map library is not installed on this server. '
    "Run <code>npm ci</code> in <code>src/corridors/web</code> and restart the service.</p>"
)


@lru_cache(maxsize=1)
def _page_template() -> str:
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")


@router.get("/map", tags=["service"], summary="The planner map page", response_class=HTMLResponse)
def map_page() -> HTMLResponse:
    """The planner map: road network, risk layer, reports, zones, routing and escort panel.

    Needs no internet: every asset is served by this service. The API key is entered on the
    page and sent as ``X-API-Key``.
    """
    html = _page_template()
    banner = "" if (LEAFLET_DIST / "leaflet-src.esm.js").is_file() else _MISSING_LEAFLET_BANNER
    html = html.replace("<!-- boot-banner -->", banner)
    return HTMLResponse(
        html,
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


def _asset(base: Path, path: str, *, cache_control: str) -> FileResponse:
    """A file under ``base`` by relative ``path``; 404 for anything else (no traversal)."""
    parts = Path(path).parts
    suffix = Path(path).suffix.lower()
    if not parts or any(p.startswith(".") for p in parts) or suffix not in _MEDIA_TYPES:
        raise NotFoundError(f"no such asset: {path}")
    root = base.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise NotFoundError(f"no such asset: {path}")
    return FileResponse(
        target, media_type=_MEDIA_TYPES[suffix], headers={"Cache-Control": cache_control}
    )


@router.get("/map/static/{path:path}", include_in_schema=False)
def static_asset(path: str) -> FileResponse:
    """The page's own scripts, styles and icons."""
    return _asset(STATIC_DIR, path, cache_control="no-cache")


@router.get("/map/vendor/leaflet/{path:path}", include_in_schema=False)
def leaflet_asset(path: str) -> FileResponse:
    """Leaflet's ``dist`` files (installed from the npm registry, not committed)."""
    if not LEAFLET_DIST.is_dir():
        raise NotFoundError(
            "Leaflet is not installed: run `npm ci` in src/corridors/web and restart"
        )
    return _asset(LEAFLET_DIST, path, cache_control="public, max-age=86400")


@dataclass(frozen=True, slots=True)
class NetworkPayload:
    """The serialised network of one graph: plain and gzip bodies, and their ETag."""

    body: bytes
    gzip_body: bytes
    etag: str
    features: int


_payloads: weakref.WeakKeyDictionary[RoadGraph, NetworkPayload] = weakref.WeakKeyDictionary()
_payloads_lock = threading.Lock()


def network_payload(graph: RoadGraph) -> NetworkPayload:
    """The network GeoJSON of ``graph``, built once per graph object and kept while it lives.

    Parameters
    ----------
    graph
        The road graph being served.

    Returns
    -------
    NetworkPayload
        UTF-8 JSON body, its gzip form, a strong ETag and the feature count.
    """
    with _payloads_lock:
        payload = _payloads.get(graph)
        if payload is None:
            document = network_feature_collection(graph)
            body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            payload = NetworkPayload(
                body=body,
                gzip_body=gzip.compress(body, compresslevel=6, mtime=0),
                etag=etag,
                features=len(document["features"]),
            )
            _payloads[graph] = payload
    return payload


_NETWORK_EXAMPLE = {
    "type": "FeatureCollection",
    "bbox": [-72.448, 18.452, -72.206, 18.646],
    "features": [
        {
            "type": "Feature",
            "id": 0,
            "geometry": {
                "type": "LineString",
                "coordinates": [[-72.3381, 18.5392], [-72.337, 18.54]],
            },
            "properties": {
                "street": "Boulevard Jean-Jacques Dessalines",
                "highway": "primary",
                "oneway": False,
                "length_m": 160.2,
            },
        }
    ],
}


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


@router.get(
    "/v1/graph/network",
    tags=["graph"],
    summary="The road network as GeoJSON (viewer)",
    response_class=Response,
    responses={
        200: {
            "description": "A FeatureCollection with one LineString per street segment (a "
            "two-way street is one feature): properties `street`, `highway`, `oneway`, "
            "`length_m` (m). Gzip-encoded when the client accepts it.",
            "content": {GEOJSON: {"schema": {"type": "object"}, "example": _NETWORK_EXAMPLE}},
        },
        304: {"description": "Not modified (`If-None-Match` matched the ETag)."},
        **error_responses(401, 403),
    },
)
def graph_network(request: Request, runtime: RuntimeDep, _: ViewerDep) -> Response:
    """The loaded road network, drawn by the planner map as its base map (no tiles needed).

    Coordinates are WGS84 ``[lon, lat]`` with 6 decimals. The document is built once per
    loaded graph; send the ``ETag`` back in ``If-None-Match`` to get a 304.
    """
    payload = network_payload(runtime.graph)
    headers = {
        "ETag": payload.etag,
        "Cache-Control": "private, no-cache",
        "Vary": "Accept-Encoding, X-API-Key",
        "X-Feature-Count": str(payload.features),
    }
    if payload.etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    if _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(payload.gzip_body, media_type=GEOJSON, headers=headers)
    return Response(payload.body, media_type=GEOJSON, headers=headers)
