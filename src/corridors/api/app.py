"""The application factory.

``create_app()`` wires routers, error handlers and middleware; the lifespan opens the
:class:`~corridors.services.runtime.Runtime` (graph loaded once, database migrated) and
keeps it in ``app.state.runtime``. Tests pass a ready ``runtime``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from corridors import __version__
from corridors.api.errors import install_error_handlers
from corridors.api.gc_tuning import tune_for_serving
from corridors.api.middleware import (
    BodyLimitMiddleware,
    MetricsMiddleware,
    SecurityHeadersMiddleware,
)
from corridors.api.routers import corridors as corridors_router
from corridors.api.routers import events as events_router
from corridors.api.routers import keys as keys_router
from corridors.api.routers import reports as reports_router
from corridors.api.routers import risk as risk_router
from corridors.api.routers import routes as routes_router
from corridors.api.routers import service
from corridors.api.routers import webhooks as webhooks_router
from corridors.api.routers import zones as zones_router
from corridors.config import Settings
from corridors.services.runtime import Runtime
from corridors.web import page as web_page

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_DESCRIPTION = """
Least-risk routes and escort requirements for humanitarian convoys in Port-au-Prince.

Incident reports (NGOs, patrols, ACLED) become a risk on every road segment that fades with
time and spreads with distance; routes trade travel time against that risk, and every route
carries an escort assessment (none, police escort, armed escort as a last resort, or do not
travel) with its reasons.

Authenticate with the **Authorize** button: an `X-API-Key` made by `corridors keys create`.
Roles: viewer < reporter < analyst < admin.
"""


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the FastAPI application.

    Parameters
    ----------
    settings
        Service settings; read from the environment when omitted.
    runtime
        A ready runtime (tests); when omitted the lifespan opens one from ``settings``.
    """
    settings = settings or (runtime.settings if runtime else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = runtime is None
        app.state.runtime = runtime if runtime is not None else Runtime.open(settings)
        if own:
            app.state.runtime.start()
            tune_for_serving()
        try:
            yield
        finally:
            if own:
                app.state.runtime.close()
            app.state.runtime = None

    app = FastAPI(
        title="Corridors",
        version=__version__,
        summary="Safe-corridor routing for humanitarian convoys",
        description=_DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "AGPL-3.0-or-later"},
    )
    install_error_handlers(app)
    app.include_router(service.router)
    app.include_router(routes_router.router)
    app.include_router(risk_router.router)
    app.include_router(reports_router.router)
    app.include_router(zones_router.router)
    app.include_router(keys_router.router)
    app.include_router(corridors_router.router)
    app.include_router(webhooks_router.router)
    app.include_router(events_router.router)
    app.include_router(web_page.router)

    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        limit_bytes=settings.max_body_bytes,
        large_limit_bytes=settings.max_import_bytes,
        large_paths=("/v1/reports/import",),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
        )
    app.add_middleware(MetricsMiddleware)
    return app
