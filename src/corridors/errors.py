"""Domain errors of Corridors.

One root, small leaves; each leaf also subclasses the built-in it refines, so callers
that only know Python's built-ins still catch them::

    CorridorsError
    ├── InputError (ValueError)            caller sent something unusable      -> 422
    │   ├── OutsideServiceAreaError        a point outside the loaded graph    -> 422
    │   ├── SnapError                      a point too far from any road       -> 422
    │   └── NoRouteError                   no route satisfies the constraints  -> 422 no-route
    ├── NotFoundError (LookupError)        an id that does not exist           -> 404
    ├── ConflictError                      e.g. idempotency key reused         -> 409
    ├── AuthError                          missing/unknown key                 -> 401
    │   └── ForbiddenError                 role too low                        -> 403
    ├── RateLimitedError                   too many writes                     -> 429
    ├── PayloadTooLargeError               body or import file over the cap    -> 413
    ├── GraphBuildError (ValueError)       unreadable/empty OSM input, bad cache
    ├── ConfigError (ValueError)           bad settings or policy/model file
    └── NotReadyError (RuntimeError)       graph not loaded or database down   -> 503

The HTTP mapping lives in one table in ``corridors.api.errors``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "ConfigError",
    "ConflictError",
    "CorridorsError",
    "ForbiddenError",
    "GraphBuildError",
    "InputError",
    "NoRouteError",
    "NotFoundError",
    "NotReadyError",
    "OutsideServiceAreaError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "SnapError",
]


class CorridorsError(Exception):
    """Root of every error Corridors raises on purpose.

    Parameters
    ----------
    detail
        One human-readable sentence saying what was wrong and, where it helps, what to do.
    errors
        Optional machine-readable list of per-field or per-row problems.
    """

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class InputError(CorridorsError, ValueError):
    """The caller sent something that cannot be used."""


class OutsideServiceAreaError(InputError):
    """A location lies outside the loaded graph's service area."""


class SnapError(InputError):
    """A point lies farther than the allowed snapping distance from any road."""

    def __init__(self, detail: str, *, distance_m: float) -> None:
        super().__init__(detail)
        self.distance_m = distance_m


class NoRouteError(InputError):
    """No route connects the points under the given constraints."""

    def __init__(self, detail: str, *, blocking_zones: list[str] | None = None) -> None:
        super().__init__(detail)
        self.blocking_zones = blocking_zones or []


class NotFoundError(CorridorsError, LookupError):
    """The requested object does not exist."""


class ConflictError(CorridorsError):
    """The request conflicts with stored state (e.g. an idempotency key reused)."""


class AuthError(CorridorsError):
    """No valid API key was presented."""


class ForbiddenError(AuthError):
    """The key is valid but its role is too low."""


class RateLimitedError(CorridorsError):
    """Too many requests; retry after ``retry_after_s`` seconds."""

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class PayloadTooLargeError(CorridorsError):
    """A request body or import file is larger than the configured cap."""


class GraphBuildError(CorridorsError, ValueError):
    """OSM input could not be turned into a road graph (empty, truncated, not OSM)."""


class ConfigError(CorridorsError, ValueError):
    """A setting or a configuration file (risk model, escort policy) is invalid."""


class NotReadyError(CorridorsError, RuntimeError):
    """The service cannot answer yet: no graph loaded or the database is unreachable."""
