"""Administration over HTTP: API keys and the audit log (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from corridors.api.auth import AdminDep, AdminWriteDep, error_responses
from corridors.api.deps import RuntimeDep
from corridors.domain import Role
from corridors.services import keys as svc
from corridors.store import AuditRepository

__all__ = ["router"]

router = APIRouter(tags=["admin"])


class KeyOut(BaseModel):
    """An API key as listed (never the secret)."""

    id: str
    name: str
    role: Role
    key_prefix: str = Field(description="The 8 hex digits after `cor_`, to recognise a key.")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="Last use, to the minute.")


class NewKeyOut(KeyOut):
    """A new key: ``key`` is shown this once and cannot be recovered."""

    key: str


class KeyCreate(BaseModel):
    """Body of ``POST /v1/keys``."""

    role: Role
    name: str | None = Field(None, max_length=100, description="Unique; default key-<prefix>.")


class KeyList(BaseModel):
    """Every key, revoked ones included."""

    items: list[KeyOut]


class AuditEntry(BaseModel):
    """One write: who, what, when."""

    id: int
    at: datetime
    key_name: str
    action: str = Field(examples=["report.create"])
    object_type: str
    object_id: str | None
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    """Audit entries, newest first."""

    items: list[AuditEntry]
    next_cursor: str | None


def _key_out(info: svc.ApiKeyInfo) -> KeyOut:
    return KeyOut(
        id=info.id,
        name=info.name,
        role=info.role,
        key_prefix=info.key_prefix,
        created_at=info.created_at,
        revoked_at=info.revoked_at,
        last_used_at=info.last_used_at,
    )


@router.get("/v1/keys", summary="List API keys (admin)", responses=error_responses(401, 403))
def list_keys(runtime: RuntimeDep, principal: AdminDep) -> KeyList:
    """Every key with its role and status."""
    return KeyList(items=[_key_out(k) for k in svc.list_keys(runtime.db)])


@router.post(
    "/v1/keys",
    status_code=201,
    summary="Create an API key (admin)",
    responses=error_responses(401, 403, 409, 422, 429),
)
def create_key(body: KeyCreate, runtime: RuntimeDep, principal: AdminWriteDep) -> NewKeyOut:
    """Create a key; the response is the only place its secret ever appears."""
    new = svc.create_key(
        runtime.db, role=body.role, name=body.name, at=runtime.now(), actor=principal.name
    )
    return NewKeyOut(**_key_out(new.info).model_dump(), key=new.key)


@router.delete(
    "/v1/keys/{name_or_id}",
    summary="Revoke an API key (admin)",
    responses=error_responses(401, 403, 404, 429),
)
def revoke_key(name_or_id: str, runtime: RuntimeDep, principal: AdminWriteDep) -> KeyOut:
    """Revoke a key by name or id; requests with it get 401 from now on."""
    return _key_out(svc.revoke_key(runtime.db, name_or_id, at=runtime.now(), actor=principal.name))


@router.get(
    "/v1/audit",
    summary="Read the audit log (admin)",
    responses=error_responses(401, 403, 422),
)
def audit_log(
    runtime: RuntimeDep,
    principal: AdminDep,
    action: Annotated[str | None, Query(description="e.g. report.create, zone.end")] = None,
    key_name: Annotated[str | None, Query()] = None,
    since: Annotated[AwareDatetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> AuditPage:
    """Every write (key name, action, object, time), newest first."""
    with runtime.db.session() as s:
        page = AuditRepository(s).list(
            cursor=cursor, limit=limit, action=action, key_name=key_name, since=since
        )
        items = [
            AuditEntry(
                id=r.id,
                at=r.at,
                key_name=r.key_name,
                action=r.action,
                object_type=r.object_type,
                object_id=r.object_id,
                detail=r.detail,
            )
            for r in page.items
        ]
    return AuditPage(items=items, next_cursor=page.next_cursor)
