"""Webhooks (admin): subscribe, list, delete, and list a webhook's deliveries.

Secrets are write-only: stored encrypted, shown as a hint of their last four characters.
Signing, retries and the delivery headers are described in :mod:`corridors.services.webhooks`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from corridors.api.auth import AdminDep, AdminWriteDep, error_responses
from corridors.api.deps import RuntimeDep
from corridors.errors import NotFoundError
from corridors.services import webhooks as svc
from corridors.services.events import KNOWN_EVENTS

__all__ = ["router"]

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

#: The names of :data:`~corridors.services.events.KNOWN_EVENTS`.
EventName = Literal["corridor.status_changed", "report.created"]


class WebhookIn(BaseModel):
    """A subscription: where to POST which events, and the secret that signs them."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, examples=["https://ops.example.org/hooks/corridors"])
    secret: str = Field(
        min_length=svc.SECRET_MIN_CHARS,
        max_length=svc.SECRET_MAX_CHARS,
        description="Signs every delivery (HMAC-SHA256); stored encrypted, never shown again.",
    )
    events: list[EventName] = Field(min_length=1, max_length=len(KNOWN_EVENTS) * 4)


class WebhookOut(BaseModel):
    """A webhook (the secret is never returned)."""

    id: str
    url: str
    events: list[str]
    secret_hint: str = Field(description="The secret's last four characters.")
    created_at: datetime
    created_by: str
    deleted_at: datetime | None = None


class WebhookList(BaseModel):
    """Webhooks not deleted, oldest first."""

    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    """One delivery of one event to one webhook, and its outcome."""

    id: str = Field(description="Also sent as X-Corridors-Delivery.")
    webhook_id: str
    event_id: int
    event_type: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    status_code: int | None = Field(description="HTTP status of the last attempt.")
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="When pending: the next attempt.")
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(BaseModel):
    """One page of deliveries, newest first."""

    items: list[DeliveryOut]
    next_cursor: str | None


@router.post(
    "",
    status_code=201,
    response_model=WebhookOut,
    summary="Subscribe a webhook (admin)",
    responses=error_responses(401, 403, 422, 429),
)
def create_webhook(body: WebhookIn, runtime: RuntimeDep, principal: AdminWriteDep) -> JSONResponse:
    """Subscribe `url` to `events`. Deliveries carry `X-Corridors-Signature: sha256=<hex>`,
    the HMAC-SHA256 of the exact body bytes under `secret` (16 characters or more)."""
    document = svc.create_webhook(
        runtime.db,
        runtime.secret_box,
        url=body.url,
        secret=body.secret,
        events=body.events,
        actor=principal,
        at=runtime.now(),
    )
    return JSONResponse(
        document, status_code=201, headers={"Location": f"/v1/webhooks/{document['id']}"}
    )


@router.get(
    "",
    response_model=WebhookList,
    summary="List webhooks (admin)",
    responses=error_responses(401, 403),
)
def list_webhooks(runtime: RuntimeDep, _: AdminDep) -> JSONResponse:
    """Every webhook not deleted."""
    return JSONResponse({"items": svc.list_webhooks(runtime.db)})


@router.get(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Read a webhook (admin)",
    responses=error_responses(401, 403, 404),
)
def get_webhook(webhook_id: str, runtime: RuntimeDep, _: AdminDep) -> JSONResponse:
    """One webhook (not deleted)."""
    for document in svc.list_webhooks(runtime.db):
        if document["id"] == webhook_id:
            return JSONResponse(document)
    raise NotFoundError(f"webhook {webhook_id} not found")


@router.delete(
    "/{webhook_id}",
    status_code=204,
    summary="Delete a webhook (admin)",
    responses=error_responses(401, 403, 404, 429),
)
def delete_webhook(webhook_id: str, runtime: RuntimeDep, principal: AdminWriteDep) -> None:
    """No new deliveries; pending ones are cancelled. Past deliveries stay listed."""
    svc.delete_webhook(runtime.db, webhook_id, actor=principal, at=runtime.now())


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    summary="A webhook's deliveries and their outcome (admin)",
    responses=error_responses(401, 403, 404, 422),
)
def list_deliveries(
    webhook_id: str,
    runtime: RuntimeDep,
    _: AdminDep,
    status: Annotated[
        Literal["pending", "delivered", "failed", "cancelled"] | None, Query()
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> JSONResponse:
    """Deliveries, newest first: status, attempts, last HTTP status and error, next attempt."""
    page = svc.list_deliveries(runtime.db, webhook_id, cursor=cursor, limit=limit, status=status)
    return JSONResponse({"items": page.items, "next_cursor": page.next_cursor})
