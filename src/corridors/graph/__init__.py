"""OpenStreetMap -> compact road graph: sources, build, cache, spatial index."""
