"""Liveness, readiness, metrics and the graph document."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from corridors.api.deps import RuntimeDep
from corridors.api.errors import problem_response
from corridors.services.graphs import graph_document

__all__ = ["router"]

router = APIRouter()


class Health(BaseModel):
    """Liveness or readiness answer."""

    status: Annotated[str, Field(examples=["ok"])]
    checks: dict[str, str] = Field(default_factory=dict)


class GraphInfo(BaseModel):
    """The road graph being served."""

    source: str = Field(description="Where the graph came from (file, place or bbox).")
    osm_timestamp: str | None = Field(description="Newest OSM edit in the data, ISO 8601.")
    built_at: str = Field(description="When the graph was built, ISO 8601 UTC.")
    bbox: list[float] = Field(description="[min_lon, min_lat, max_lon, max_lat]")
    nodes: int
    edges: int = Field(description="Directed road segments.")
    demo: bool = Field(description="True when the approximate embedded demo network is served.")
    dropped_nodes: int = Field(0, description="Nodes outside the largest connected network.")
    dropped_edges: int = Field(0, description="Edges outside the largest connected network.")


@router.get("/healthz", tags=["service"], summary="Liveness")
def healthz() -> Health:
    """The process is up and answering."""
    return Health(status="ok")


@router.get(
    "/readyz",
    tags=["service"],
    summary="Readiness: graph loaded and database reachable",
    responses={503: {"description": "Not ready", "model": Health}},
    response_model=Health,
)
def readyz(request: Request) -> object:
    """200 when the road graph is loaded and the database answers, else 503."""
    runtime = getattr(request.app.state, "runtime", None)
    checks = {
        "graph": "ok" if runtime is not None else "not loaded",
        "database": "ok" if runtime is not None and runtime.db.ping() else "unreachable",
    }
    if all(v == "ok" for v in checks.values()):
        return Health(status="ok", checks=checks)
    return problem_response(
        503,
        "Not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok"),
        slug="not-ready",
        extra={"checks": checks},
    )


@router.get(
    "/metrics", tags=["service"], summary="Prometheus metrics", response_class=PlainTextResponse
)
def metrics() -> PlainTextResponse:
    """Request counts and latencies, routing and risk figures, in Prometheus text format."""
    return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/graph", tags=["graph"], summary="The road graph being served")
def graph_info(runtime: RuntimeDep) -> GraphInfo:
    """Source, OSM data date, build time, extent and size of the served road network."""
    return GraphInfo.model_validate(graph_document(runtime.graph))
