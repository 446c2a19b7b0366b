"""API-key authentication, role checks and the per-key write rate limit.

Routes declare what they need with a dependency::

    @router.post("/v1/zones")
    def create(principal: Annotated[Principal, Depends(require(Role.analyst, write=True))]): ...

The key is read from the ``X-API-Key`` header through :class:`fastapi.security.APIKeyHeader`,
so the Swagger UI's "Authorize" button works. Missing/unknown/revoked key: 401
(:class:`~corridors.errors.AuthError`); role too low: 403
(:class:`~corridors.errors.ForbiddenError`); too many writes: 429 with ``Retry-After``
(:class:`~corridors.errors.RateLimitedError`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from corridors.api.deps import RuntimeDep
from corridors.domain import Role
from corridors.errors import ForbiddenError, RateLimitedError
from corridors.services.keys import Principal, authenticate

__all__ = [
    "AdminDep",
    "AdminWriteDep",
    "AnalystDep",
    "AnalystWriteDep",
    "Problem",
    "ReporterWriteDep",
    "ViewerDep",
    "WriteRateLimiter",
    "api_key_header",
    "error_responses",
    "require",
]

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key made by `corridors keys create --role ROLE`.",
)


class WriteRateLimiter:
    """Token bucket per API key: ``rate_per_minute`` writes a minute, bursts up to that.

    Thread-safe; state lives in memory, per process.

    Parameters
    ----------
    rate_per_minute
        Sustained writes per minute per key, also the bucket size.
    clock
        Monotonic seconds (injectable in tests).
    """

    def __init__(
        self, rate_per_minute: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = float(rate_per_minute)
        self.refill_per_s = rate_per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at_s)
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket.

        Raises
        ------
        RateLimitedError
            The bucket is empty; ``retry_after_s`` says when the next token arrives.
        """
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill_per_s)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait_s = max(1, math.ceil((1.0 - tokens) / self.refill_per_s))
                raise RateLimitedError(
                    f"too many writes with this key (limit {self.capacity:.0f} a minute); "
                    f"retry in {wait_s} s",
                    retry_after_s=wait_s,
                )
            self._buckets[key] = (tokens - 1.0, now)


_limiter_lock = threading.Lock()


def _write_limiter(request: Request, rate_per_minute: int) -> WriteRateLimiter:
    state = request.app.state
    limiter: WriteRateLimiter | None = getattr(state, "write_limiter", None)
    if limiter is None:
        with _limiter_lock:
            limiter = getattr(state, "write_limiter", None)
            if limiter is None:
                limiter = WriteRateLimiter(rate_per_minute)
                state.write_limiter = limiter
    return limiter


def require(role: Role, *, write: bool = False) -> Callable[..., Principal]:
    """A dependency that authenticates the caller and checks its role.

    Parameters
    ----------
    role
        The lowest role allowed.
    write
        Also spend one write from the key's rate limit.

    Returns
    -------
    Callable
        The FastAPI dependency, returning the :class:`~corridors.services.keys.Principal`.
    """

    def dependency(
        request: Request,
        runtime: RuntimeDep,
        key: Annotated[str | None, Security(api_key_header)],
    ) -> Principal:
        principal = authenticate(runtime.db, key, at=runtime.now())
        if not principal.role.includes(role):
            raise ForbiddenError(
                f"this needs the {role.value} role; key {principal.name!r} is "
                f"{principal.role.value}"
            )
        if write:
            _write_limiter(request, runtime.settings.write_rate_per_minute).take(principal.id)
        return principal

    dependency.__name__ = f"require_{role.value}{'_write' if write else ''}"
    return dependency


ViewerDep = Annotated[Principal, Depends(require(Role.viewer))]
ReporterWriteDep = Annotated[Principal, Depends(require(Role.reporter, write=True))]
AnalystWriteDep = Annotated[Principal, Depends(require(Role.analyst, write=True))]
AnalystDep = Annotated[Principal, Depends(require(Role.analyst))]
AdminDep = Annotated[Principal, Depends(require(Role.admin))]
AdminWriteDep = Annotated[Principal, Depends(require(Role.admin, write=True))]


class Problem(BaseModel):
    """An RFC 9457 problem detail (``application/problem+json``)."""

    type: str = Field(examples=["/problems/invalid-input"])
    title: str = Field(examples=["Unprocessable Content"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["severity: Input should be less than or equal to 5"])
    errors: list[dict[str, Any]] | None = None


_ERROR_TEXT = {
    401: "Missing, unknown or revoked API key",
    403: "The key's role is too low",
    404: "No such object",
    409: "Conflicts with stored state",
    413: "Body larger than the configured cap",
    422: "Invalid input; `detail` says why",
    429: "Too many writes with this key; see Retry-After",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json errors."""
    return {
        code: {
            "model": Problem,
            "description": _ERROR_TEXT.get(code, "Error"),
            "content": {"application/problem+json": {}},
        }
        for code in codes
    }
