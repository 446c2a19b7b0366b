"""FastAPI dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from corridors.errors import NotReadyError
from corridors.services.runtime import Runtime

__all__ = ["RuntimeDep", "get_runtime"]


async def get_runtime(request: Request) -> Runtime:
    """The process's :class:`Runtime` (503 until the lifespan has built it).

    ``async``, though it awaits nothing: FastAPI runs a plain ``def`` dependency in its
    thread pool, a hand-over to a worker thread and back for an attribute read.
    """
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise NotReadyError("The service is still starting: the road graph is not loaded yet.")
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
