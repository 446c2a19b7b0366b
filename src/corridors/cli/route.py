"""``corridors route``: plan routes from the command line."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from corridors.api.fast_json import dumps
from corridors.api.route_schemas import ConvoyIn, LonLatIn, RouteRequest
from corridors.api.routers.routes import plan_request, routes_document
from corridors.config import Settings
from corridors.errors import InputError
from corridors.services.runtime import Runtime

__all__ = ["route"]


def _point(text: str, what: str) -> LonLatIn:
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise InputError(f"--{what} must be LON,LAT in degrees, got {text!r}") from exc
    return LonLatIn(lon=lon, lat=lat)


def route(
    from_: Annotated[str, typer.Option("--from", help="Origin LON,LAT")],
    to: Annotated[str, typer.Option("--to", help="Destination LON,LAT")],
    risk_aversion: Annotated[
        float, typer.Option("--risk-aversion", min=0.0, max=1.0, help="0 fastest .. 1 safest")
    ] = 0.5,
    alternatives: Annotated[int, typer.Option(min=0, max=5)] = 0,
    depart_at: Annotated[
        datetime | None, typer.Option(help="Departure, ISO 8601 UTC (default now)")
    ] = None,
    vehicles: Annotated[int, typer.Option(min=1)] = 1,
    cargo: Annotated[
        str, typer.Option(help="food, medical, fuel, cash, personnel, other")
    ] = "food",
) -> None:
    """Print the routes document (JSON) for a convoy between two points."""
    body = RouteRequest(
        origin=_point(from_, "from"),
        destination=_point(to, "to"),
        risk_aversion=risk_aversion,
        alternatives=alternatives,
        depart_at=depart_at,
        convoy=ConvoyIn.model_validate({"vehicles": vehicles, "cargo": cargo}),
    )
    runtime = Runtime.open(Settings())
    try:
        document = routes_document(runtime, plan_request(runtime, body))
        typer.echo(dumps(document, indent=True).decode())
    finally:
        runtime.close()
