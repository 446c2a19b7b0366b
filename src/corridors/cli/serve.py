"""``corridors serve``."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from corridors.api.app import create_app
from corridors.config import Settings

__all__ = ["serve"]


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default CORRIDORS_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default CORRIDORS_PORT).")] = None,
) -> None:
    """Start the HTTP service (Swagger UI at /docs, planner map at /map)."""
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        proxy_headers=False,
        # Open event streams must not hold shutdown forever.
        timeout_graceful_shutdown=5,
    )
