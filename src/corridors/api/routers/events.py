"""``GET /v1/events``: server-sent events for dashboards.

Each event is one SSE message::

    id: 42
    event: corridor.status_changed
    data: {"id":42,"type":"corridor.status_changed","created_at":"...","data":{...}}

``id`` is the event's sequence number in the persisted event log. A client that reconnects
with ``Last-Event-ID: 42`` (browsers' EventSource does so by itself; ``?last_event_id=``
for clients that cannot set headers) first gets every stored event after 42, then live
ones; without it the stream starts with the next event. A comment line (``: keep-alive``)
is sent every :data:`HEARTBEAT_S` seconds so proxies keep the connection open and a gone
client is noticed. The stream ends when the client disconnects or the service shuts down.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from corridors.api.auth import ViewerDep, error_responses
from corridors.api.deps import RuntimeDep
from corridors.errors import InputError
from corridors.services.events import KNOWN_EVENTS, Event, EventBus

__all__ = ["HEARTBEAT_S", "POLL_S", "router", "sse_message"]

router = APIRouter(tags=["events"])

#: Seconds between keep-alive comments.
HEARTBEAT_S = 15.0
#: Seconds between looks at the event table without a wake-up (events of other processes).
POLL_S = 2.0
#: Events read from the table per query.
BATCH = 500
#: Client reconnection delay suggested to EventSource, ms.
RETRY_MS = 3000


def sse_message(event: Event) -> str:
    """One SSE message for an event."""
    data = json.dumps(event.document(), separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n"


def _types(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    wanted = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [t for t in wanted if t not in KNOWN_EVENTS]
    if unknown:
        raise InputError(f"types: unknown event {unknown[0]!r}; use " + ", ".join(KNOWN_EVENTS))
    return wanted


def _last_id(header: str | None, query: int | None) -> int | None:
    if query is not None:
        return query
    if header is None or not header.strip():
        return None
    try:
        value = int(header.strip())
    except ValueError as exc:
        raise InputError("Last-Event-ID: must be an event id (an integer)") from exc
    if value < 0:
        raise InputError("Last-Event-ID: must be >= 0")
    return value


async def _stream(
    request: Request, bus: EventBus, last_id: int, types: Sequence[str]
) -> AsyncIterator[str]:
    with bus.subscribe() as subscription:
        yield f"retry: {RETRY_MS}\n\n"
        last_beat = time.monotonic()
        while not bus.closed:
            subscription.clear()
            events = await run_in_threadpool(bus.after, last_id, limit=BATCH, types=types)
            for event in events:
                yield sse_message(event)
                last_id = event.id
            if len(events) == BATCH:
                continue
            if await request.is_disconnected():
                return
            since_beat = time.monotonic() - last_beat
            if since_beat >= HEARTBEAT_S:
                yield ": keep-alive\n\n"
                last_beat = time.monotonic()
                since_beat = 0.0
            await subscription.wait(min(POLL_S, HEARTBEAT_S - since_beat))


@router.get(
    "/v1/events",
    summary="Server-sent events: corridor status changes and new reports (viewer)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "An endless text/event-stream; `id:` is the event sequence number.",
        },
        **error_responses(401, 403, 422),
    },
)
async def stream_events(
    request: Request,
    runtime: RuntimeDep,
    _: ViewerDep,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Replay every event after this id."),
    ] = None,
    last_event_id_query: Annotated[
        int | None,
        Query(alias="last_event_id", ge=0, description="Same as the Last-Event-ID header."),
    ] = None,
    types: Annotated[
        str | None, Query(description="Comma-separated event types (default: all).")
    ] = None,
) -> StreamingResponse:
    """Stream events as they happen, replaying from `Last-Event-ID` when given."""
    bus: EventBus = runtime.events
    wanted = _types(types)
    start = _last_id(last_event_id, last_event_id_query)
    newest = await run_in_threadpool(bus.last_id)
    # Without a position, or past the end (e.g. a database reset): start with the next event.
    position = newest if start is None or start > newest else start
    return StreamingResponse(
        _stream(request, bus, position, wanted),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
