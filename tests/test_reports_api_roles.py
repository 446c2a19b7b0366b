"""The role matrix: every protected endpoint x every caller, on both engines.

No key or an unknown key: 401. A known key below the endpoint's role: 403. At or above
it: neither (the request itself may still be 2xx/404/422).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import Api, report_body
from corridors.domain import Role

_SQUARE = {
    "type": "Polygon",
    "coordinates": [[[-72.34, 18.54], [-72.33, 18.54], [-72.33, 18.55], [-72.34, 18.54]]],
}
_EMPTY_GEOJSON = json.dumps({"type": "FeatureCollection", "features": []}).encode()

# (method, path, request kwargs, lowest role allowed)
ENDPOINTS: list[tuple[str, str, dict[str, Any], Role]] = [
    ("POST", "/v1/reports", {"json": report_body()}, Role.reporter),
    ("PATCH", "/v1/reports/no-such-id", {"json": {"status": "verified"}}, Role.analyst),
    (
        "POST",
        "/v1/reports/import?format=geojson",
        {"content": _EMPTY_GEOJSON},
        Role.analyst,
    ),
    (
        "POST",
        "/v1/zones",
        {"json": {"name": "z", "kind": "no_go", "geometry": _SQUARE}},
        Role.analyst,
    ),
    ("DELETE", "/v1/zones/no-such-id", {}, Role.analyst),
    ("POST", "/v1/keys", {"json": {"role": "viewer"}}, Role.admin),
    ("DELETE", "/v1/keys/no-such-key", {}, Role.admin),
    ("GET", "/v1/keys", {}, Role.admin),
    ("GET", "/v1/audit", {}, Role.admin),
    ("GET", "/v1/reports", {}, Role.viewer),
    ("GET", "/v1/reports/no-such-id", {}, Role.viewer),
    ("GET", "/v1/zones", {}, Role.viewer),
]
CALLERS = ["no key", "unknown key", *Role]


@pytest.mark.parametrize("caller", CALLERS, ids=str)
@pytest.mark.parametrize(
    ("method", "path", "kwargs", "needed"),
    ENDPOINTS,
    ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS],
)
def test_role_matrix(
    module_api: Api, method: str, path: str, kwargs: dict[str, Any], needed: Role, caller: Any
) -> None:
    api = module_api
    if caller == "no key":
        headers: dict[str, str] = {}
    elif caller == "unknown key":
        headers = {"X-API-Key": "cor_0badc0de_" + "x" * 43}
    else:
        headers = api.headers(caller)
    response = api.client.request(method, path, headers=headers, **kwargs)
    if isinstance(caller, Role) and caller.includes(needed):
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500
    elif isinstance(caller, Role):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    else:
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "www-authenticate" in response.headers


def test_swagger_authorize_scheme(module_api: Api) -> None:
    """The OpenAPI document declares the X-API-Key scheme the Authorize button uses."""
    spec = module_api.client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"}.items() <= next(
        iter(schemes.values())
    ).items()
    post = spec["paths"]["/v1/reports"]["post"]
    assert post["security"]
    assert {"201", "401", "403", "409", "422", "429"} <= set(post["responses"])
