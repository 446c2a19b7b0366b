"""One table from domain errors to HTTP problem details (RFC 9457).

Routes raise :mod:`corridors.errors` exceptions and never build HTTP errors themselves;
this module turns them into ``application/problem+json`` responses. Unexpected
exceptions become a bare 500 problem: the stack trace goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from corridors import errors as e
from corridors.api.middleware import SECURITY_HEADERS

__all__ = [
    "PROBLEM_JSON",
    "document_problems",
    "install_error_handlers",
    "problem_response",
]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

#: Domain error -> (HTTP status, problem type slug). Most specific first.
_ERROR_TABLE: list[tuple[type[e.CorridorsError], int, str]] = [
    (e.NoRouteError, 422, "no-route"),
    (e.SnapError, 422, "too-far-from-road"),
    (e.OutsideServiceAreaError, 422, "outside-service-area"),
    (e.InputError, 422, "invalid-input"),
    (e.NotFoundError, 404, "not-found"),
    (e.ConflictError, 409, "conflict"),
    (e.ForbiddenError, 403, "forbidden"),
    (e.AuthError, 401, "unauthorized"),
    (e.RateLimitedError, 429, "rate-limited"),
    (e.PayloadTooLargeError, 413, "payload-too-large"),
    (e.NotReadyError, 503, "not-ready"),
    (e.GraphBuildError, 422, "invalid-osm"),
    (e.ConfigError, 500, "configuration-error"),
]


def problem_type(slug: str) -> str:
    """The ``type`` URI reference of a problem."""
    return f"/problems/{slug}"


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Build an ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": problem_type(slug) if slug else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = jsonable_encoder(errors)
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _domain_error(exc: e.CorridorsError) -> JSONResponse:
    status, slug = next(
        ((status, slug) for cls, status, slug in _ERROR_TABLE if isinstance(exc, cls)),
        (500, "internal-error"),
    )
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, e.RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, e.AuthError) and not isinstance(exc, e.ForbiddenError):
        headers["WWW-Authenticate"] = 'APIKey header="X-API-Key"'
    if isinstance(exc, e.SnapError):
        extra["distance_m"] = round(exc.distance_m, 1)
    if isinstance(exc, e.NoRouteError) and exc.blocking_zones:
        extra["blocking_zones"] = exc.blocking_zones
    if status >= 500:
        log.error("server-side error: %s", exc.detail)
        detail = (
            "The service is misconfigured; the operator has been told."
            if status == 500
            else exc.detail
        )
    else:
        detail = exc.detail
    return problem_response(
        status, detail, slug=slug, errors=exc.errors, headers=headers or None, extra=extra
    )


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Make every documented 4xx/5xx response of an OpenAPI document a problem+json.

    FastAPI documents its automatic 422 as ``application/json`` ``HTTPValidationError``,
    and ``responses=`` entries also under ``application/json``; the handlers below answer
    every error as ``application/problem+json`` :class:`~corridors.api.auth.Problem`, so
    the document says exactly that. Changes ``schema`` in place and returns it.
    """
    from corridors.api.auth import Problem

    ref = {"$ref": "#/components/schemas/Problem"}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(
        "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for code, response in operation.get("responses", {}).items():
                if code[:1] in ("4", "5"):
                    response["content"] = {PROBLEM_JSON: {"schema": dict(ref)}}
    return schema


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that make every error a problem+json response.

    Also makes ``app.openapi()`` document every error response as problem+json
    (:func:`document_problems`).
    """
    openapi = app.openapi

    def openapi_with_problems() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(openapi())
        return app.openapi_schema

    app.openapi = openapi_with_problems  # type: ignore[method-assign]

    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, e.CorridorsError)
        return _domain_error(exc)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type")}
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        return problem_response(
            422, f"{where}: {first['msg']}", slug="invalid-input", errors=errors
        )

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8): invalid
            # input like any other malformed body, so the documented 422 problem.
            return problem_response(
                422, f"body: {exc.detail}", slug="invalid-input", errors=[{"loc": ["body"]}]
            )
        return problem_response(
            exc.status_code, str(exc.detail), headers=dict(exc.headers or {}) or None
        )

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        # Starlette sends this from its outermost layer, past SecurityHeadersMiddleware.
        return problem_response(
            500, "An unexpected error occurred; it has been logged.", headers=SECURITY_HEADERS
        )

    app.add_exception_handler(e.CorridorsError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
