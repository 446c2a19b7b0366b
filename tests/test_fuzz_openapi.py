"""Schemathesis against the service's own OpenAPI document, in-process, once per role.

The app runs on the embedded demo network with SQLite in a temporary directory and a
fixed clock. For every operation of ``/openapi.json`` and every caller (no key, then a
key of each role) Hypothesis generates valid requests and requests that break the
schema; each response must

- not be a server error (zero 5xx: ``not_a_server_error``),
- conform to the documented response schema (``response_schema_conformance``),
- carry a documented status code (``status_code_conformance``) and content type
  (``content_type_conformance``).

Bounded and reproducible: ``max_examples`` per operation is small, ``derandomize=True``,
no example database, no deadline. ``GET /v1/events`` (an endless SSE stream) and webhook
registration (outbound HTTP to fuzzed URLs) are left out; their validation is tested
where they are built.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import TEST_NOW, FakeClock  # noqa: E402
from corridors.api.app import create_app  # noqa: E402
from corridors.config import SHIPPED_DATA_DIR, Settings  # noqa: E402
from corridors.domain import Role  # noqa: E402
from corridors.graph.build import build_graph_from_file  # noqa: E402
from corridors.services.keys import create_key  # noqa: E402
from corridors.services.runtime import Runtime  # noqa: E402
from corridors.store import Database  # noqa: E402

#: Generated requests per operation, caller and generation mode.
MAX_EXAMPLES = 10

#: (method, path) never fuzzed, with the reason.
SKIPPED: dict[tuple[str, str], str] = {
    ("GET", "/v1/events"): "an endless server-sent event stream",
    ("POST", "/v1/webhooks"): "registers URLs the service would then call",
}

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]

CALLERS: list[Role | None] = [None, *Role]


class FuzzTarget:
    """The app under fuzzing, its schema and one key per role."""

    def __init__(self, app: Any, schema: Any, keys: dict[Role, str]) -> None:
        self.app = app
        self.schema = schema
        self.keys = keys

    def headers(self, role: Role | None) -> dict[str, str]:
        return {} if role is None else {"X-API-Key": self.keys[role]}

    def operations(self) -> list[Any]:
        found = []
        for result in self.schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) not in SKIPPED:
                found.append(operation)
        return found


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    graph = build_graph_from_file(
        SHIPPED_DATA_DIR / "port-au-prince-demo.osm", built_at=TEST_NOW, demo=True
    )
    settings = Settings(data_dir=data_dir, write_rate_per_minute=1_000_000)
    db = Database(settings.resolved_database_url)
    db.migrate()
    clock = FakeClock()
    runtime = Runtime(settings, db, graph, clock=clock)
    keys = {
        role: create_key(db, role=role, name=f"fuzz-{role.value}", at=clock()).key for role in Role
    }
    app = create_app(runtime=runtime)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    try:
        yield FuzzTarget(app, schema, keys)
    finally:
        runtime.close()


def _fuzz_operation(
    target: FuzzTarget, operation: Any, role: Role | None, failures: list[str]
) -> None:
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    with contextlib.suppress(Exception):  # no way to break this operation's schema
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    headers = target.headers(role)

    @settings(
        max_examples=MAX_EXAMPLES * len(strategies),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        # No shrinking: derandomize already makes a failure reproducible, and shrinking
        # route requests would blow the time budget.
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
    )
    @given(case=st.one_of(*strategies))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
        label = role.value if role else "anonymous"
        text = str(exc) if isinstance(exc, BaseExceptionGroup) else _traceback(exc)
        failures.append(f"{operation.method.upper()} {operation.path} as {label}:\n{text}")


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)[-12:])


@pytest.mark.parametrize("role", CALLERS, ids=lambda r: r.value if r else "anonymous")
def test_every_operation_conforms_and_never_fails_server_side(
    target: FuzzTarget, role: Role | None
) -> None:
    failures: list[str] = []
    operations = target.operations()
    assert len(operations) >= 15, "the schema lost its operations"
    for operation in operations:
        _fuzz_operation(target, operation, role, failures)
    assert not failures, "\n\n".join(failures)


# --- Bugs the fuzzer found, pinned down -------------------------------------------------


def test_malformed_avoid_polygon_is_a_422_problem(target: FuzzTarget) -> None:
    """Was a 500: shapely raised TypeError on rings that are not lists of positions."""
    body = {
        "origin": {"lon": -72.2925, "lat": 18.58},
        "destination": {"lon": -72.348, "lat": 18.556},
        "avoid": {"polygons": {"type": "Polygon", "coordinates": [[0, 1], [9019, 1306334]]}},
    }
    with TestClient(target.app) as client:
        response = client.post("/v1/routes", json=body, headers=target.headers(Role.viewer))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/invalid-input"
    assert problem["detail"].startswith("avoid.polygons[0]:")


def test_body_that_is_not_utf8_is_a_422_problem(target: FuzzTarget) -> None:
    """Was FastAPI's undocumented 400 "error parsing the body"."""
    with TestClient(target.app) as client:
        response = client.post(
            "/v1/routes",
            content=b"\xff\xfe{not json",
            headers={**target.headers(Role.viewer), "Content-Type": "application/json"},
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/invalid-input"


def test_openapi_documents_every_error_as_problem_json(target: FuzzTarget) -> None:
    """Every 4xx/5xx response in the document is problem+json with the Problem schema."""
    with TestClient(target.app) as client:
        document = client.get("/openapi.json").json()
    errors = [
        (path, method, code, response.get("content"))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for code, response in operation["responses"].items()
        if code[0] in "45"
    ]
    assert errors, "no error responses documented at all"
    wrong = [
        e
        for e in errors
        if e[3]
        != {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    ]
    assert not wrong
    assert set(document["components"]["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
    }
