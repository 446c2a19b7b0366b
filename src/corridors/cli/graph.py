"""``corridors graph build|fetch|info``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from corridors.config import Settings
from corridors.errors import InputError
from corridors.graph.geo import parse_bbox
from corridors.services.clock import utc_now
from corridors.services.graphs import (
    build_and_activate,
    fetch_and_activate,
    graph_document,
    load_serving_graph,
)

__all__ = ["graph_app"]

graph_app = typer.Typer(help="Build, fetch and inspect the road graph.", no_args_is_help=True)


def _print_summary(doc: dict[str, object], cache: Path) -> None:
    typer.echo(json.dumps({**doc, "cache": str(cache)}, indent=2))


@graph_app.command("build")
def build(
    osm_file: Annotated[
        Path, typer.Option("--osm-file", help=".osm, .osm.bz2, .osm.gz or .osm.pbf file")
    ],
) -> None:
    """Build the convoy road graph from an OSM file and make it the one `serve` uses."""
    if not osm_file.exists():
        raise InputError(f"{osm_file}: no such file")
    settings = Settings()
    graph, path = build_and_activate(settings, osm_file, now=utc_now())
    _print_summary(graph_document(graph), path)


@graph_app.command("fetch")
def fetch(
    place: Annotated[str | None, typer.Option(help='e.g. "Port-au-Prince, Haiti"')] = None,
    bbox: Annotated[str | None, typer.Option(help="W,S,E,N in degrees")] = None,
) -> None:
    """Download the road network from OpenStreetMap (needs internet) and cache it."""
    if (place is None) == (bbox is None):
        raise InputError("give exactly one of --place or --bbox")
    settings = Settings()
    graph, path = fetch_and_activate(
        settings, place=place, bbox=parse_bbox(bbox) if bbox else None, now=utc_now()
    )
    _print_summary(graph_document(graph), path)


@graph_app.command("info")
def info() -> None:
    """Print the /v1/graph document of the graph `serve` would load."""
    settings = Settings()
    graph = load_serving_graph(settings, now=utc_now())
    typer.echo(json.dumps(graph_document(graph), indent=2))
