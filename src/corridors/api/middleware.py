"""ASGI middleware: request body caps, security headers and request metrics."""

from __future__ import annotations

import json
import time
from http import HTTPStatus

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "SECURITY_HEADERS",
    "BodyLimitMiddleware",
    "MetricsMiddleware",
    "SecurityHeadersMiddleware",
]

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
#: The same headers as ``str`` pairs, for responses sent outside
#: :class:`SecurityHeadersMiddleware` (the 413 below, the generic 500).
SECURITY_HEADERS: dict[str, str] = {k.decode(): v.decode() for k, v in _SECURITY_HEADERS}


class _BodyTooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    """Reject request bodies over a cap with a 413 problem, before a handler sees them.

    Paths starting with one of ``large_paths`` get ``large_limit_bytes`` (file imports);
    everything else gets ``limit_bytes``. Both the declared Content-Length and the bytes
    actually streamed are checked.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_bytes: int,
        large_limit_bytes: int,
        large_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.limit_bytes = limit_bytes
        self.large_limit_bytes = large_limit_bytes
        self.large_paths = large_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = (
            self.large_limit_bytes
            if any(path.startswith(p) for p in self.large_paths)
            else self.limit_bytes
        )
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _send_413(send, limit)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await _send_413(send, limit)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "/problems/payload-too-large",
            "title": HTTPStatus(413).phrase,
            "status": 413,
            "detail": f"The request body is larger than the limit of {limit} bytes.",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            # Sent from outside SecurityHeadersMiddleware: carries its headers itself.
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *_SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """Add conservative security headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


REQUESTS = Counter(
    "corridors_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
LATENCY_S = Histogram(
    "corridors_http_request_duration_seconds",
    "HTTP request latency in seconds",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class MetricsMiddleware:
    """Count requests and time them by route template (not raw path: bounded labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY_S.labels(scope["method"], template).observe(time.perf_counter() - start)
