"""Who may call the corridor, webhook and event endpoints: 401 without a key, 403 below
the role, through to validation (422) or lookup (404) at or above it."""

from __future__ import annotations

import pytest

from conftest import Api
from corridors.domain import Role

ROLES = [Role.viewer, Role.reporter, Role.analyst, Role.admin]
NO_SUCH = "00000000-0000-0000-0000-000000000000"

# (method, path, json body, lowest role, status at or above it)
ENDPOINTS = [
    ("POST", "/v1/corridors", {"name": "x"}, Role.analyst, 422),
    ("GET", "/v1/corridors", None, Role.viewer, 200),
    ("GET", f"/v1/corridors/{NO_SUCH}", None, Role.viewer, 404),
    ("DELETE", f"/v1/corridors/{NO_SUCH}", None, Role.analyst, 404),
    ("POST", "/v1/webhooks", {"url": "https://example.org"}, Role.admin, 422),
    ("GET", "/v1/webhooks", None, Role.admin, 200),
    ("GET", f"/v1/webhooks/{NO_SUCH}", None, Role.admin, 404),
    ("DELETE", f"/v1/webhooks/{NO_SUCH}", None, Role.admin, 404),
    ("GET", f"/v1/webhooks/{NO_SUCH}/deliveries", None, Role.admin, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "lowest", "allowed_status"), ENDPOINTS)
def test_role_matrix(
    module_api: Api,
    method: str,
    path: str,
    body: dict[str, str] | None,
    lowest: Role,
    allowed_status: int,
) -> None:
    client = module_api.client
    assert client.request(method, path, json=body).status_code == 401
    unknown = {"X-API-Key": "cor_00000000_" + "x" * 43}
    assert client.request(method, path, json=body, headers=unknown).status_code == 401
    for role in ROLES:
        response = client.request(method, path, json=body, headers=module_api.headers(role))
        want = allowed_status if role.includes(lowest) else 403
        assert response.status_code == want, (role, response.text)
        if want >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")


def test_event_stream_needs_a_key(module_api: Api) -> None:
    assert module_api.client.get("/v1/events").status_code == 401
    unknown = {"X-API-Key": "cor_00000000_" + "x" * 43}
    assert module_api.client.get("/v1/events", headers=unknown).status_code == 401
