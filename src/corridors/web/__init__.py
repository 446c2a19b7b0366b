"""The planner map page (``GET /map``) and the road network as GeoJSON.

``corridors.web.page.router`` serves the page, its assets (Leaflet from ``node_modules``, set
up with ``npm ci`` in this folder) and ``GET /v1/graph/network``.
"""
