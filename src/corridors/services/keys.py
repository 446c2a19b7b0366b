"""API keys: create, list, revoke and authenticate.

A key reads ``cor_<prefix>_<secret>``: ``prefix`` is 8 hex digits, stored in clear and
indexed to find the key; ``secret`` is ``secrets.token_urlsafe(32)`` (256 random bits).
Only the SHA-256 of the whole key is stored and compared with :func:`hmac.compare_digest`.
A plain hash (no pepper, no slow KDF) suffices because the secret is random and long: a
stolen hash cannot be reversed by guessing, unlike a hash of a human password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from corridors.domain import Role
from corridors.errors import AuthError, ConflictError, InputError, NotFoundError
from corridors.store import ApiKeyRow, AuditRepository, Database, KeyReader, KeyRepository

__all__ = [
    "KEY_PREFIX",
    "ApiKeyInfo",
    "NewKey",
    "Principal",
    "authenticate",
    "create_key",
    "hash_key",
    "list_keys",
    "revoke_key",
]

#: Every key starts with this, so leaked keys are easy to spot (secret scanners).
KEY_PREFIX = "cor_"
#: ``last_used_at`` is written at most this often per key (spares a write per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)

_KEY_RE = re.compile(r"^cor_([0-9a-f]{8})_([A-Za-z0-9_-]{16,128})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a key's id, name and role."""

    id: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about a key (never the secret or its hash)."""

    id: str
    name: str
    role: Role
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly created key; ``key`` is shown once and never stored."""

    info: ApiKeyInfo
    key: str


def hash_key(key: str) -> str:
    """Hex SHA-256 of a whole key string."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _info(row: ApiKeyRow) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        key_prefix=row.key_prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def create_key(
    db: Database, *, role: Role | str, at: datetime, name: str | None = None, actor: str = "cli"
) -> NewKey:
    """Create an API key and return it (the only time the full key is available).

    Parameters
    ----------
    db
        The database.
    role
        viewer, reporter, analyst or admin.
    at
        Creation time (aware).
    name
        Unique name (letters, digits, ``._@:-``, up to 100); default ``key-<prefix>``.
    actor
        Who creates it, for the audit log (a key name, or ``cli``).

    Raises
    ------
    InputError
        Unknown role or malformed name.
    ConflictError
        The name is taken.
    """
    try:
        role = Role(role)
    except ValueError:
        raise InputError(
            f"unknown role {role!r}; use one of: {', '.join(r.value for r in Role)}"
        ) from None
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    name = name.strip() if name else f"key-{prefix}"
    if not _NAME_RE.match(name):
        raise InputError(
            f"key name {name!r}: use 1-100 letters, digits or ._@:- (starting with a "
            "letter or digit)"
        )
    try:
        return _insert_key(db, role=role, name=name, prefix=prefix, key=key, at=at, actor=actor)
    except IntegrityError:  # the same name created concurrently
        raise ConflictError(f"a key named {name!r} already exists") from None


def _insert_key(
    db: Database, *, role: Role, name: str, prefix: str, key: str, at: datetime, actor: str
) -> NewKey:
    with db.session() as s:
        keys = KeyRepository(s)
        if keys.name_taken(name):
            raise ConflictError(f"a key named {name!r} already exists")
        row = keys.add(
            ApiKeyRow(
                id=str(uuid.uuid4()),
                name=name,
                role=role.value,
                key_prefix=prefix,
                key_hash=hash_key(key),
                created_at=at,
            )
        )
        AuditRepository(s).append(
            at=at,
            key_name=actor,
            action="key.create",
            object_type="api_key",
            object_id=row.id,
            detail={"name": name, "role": role.value},
        )
        return NewKey(info=_info(row), key=key)


def list_keys(db: Database) -> list[ApiKeyInfo]:
    """Every key, revoked ones included, oldest first."""
    with db.session() as s:
        return [_info(r) for r in KeyRepository(s).list()]


def revoke_key(db: Database, name_or_id: str, *, at: datetime, actor: str = "cli") -> ApiKeyInfo:
    """Revoke a key by name or id; it is refused (401) from then on.

    Revoking an already revoked key changes nothing and returns it.

    Raises
    ------
    NotFoundError
        No key has this name or id.
    """
    with db.session() as s:
        row = KeyRepository(s).by_name_or_id(name_or_id)
        if row is None:
            raise NotFoundError(f"no API key named {name_or_id!r}")
        if row.revoked_at is None:
            row.revoked_at = at
            AuditRepository(s).append(
                at=at,
                key_name=actor,
                action="key.revoke",
                object_type="api_key",
                object_id=row.id,
                detail={"name": row.name},
            )
        s.flush()
        return _info(row)


def authenticate(db: Database, key: str | None, *, at: datetime) -> Principal:
    """The caller a presented key belongs to.

    Parameters
    ----------
    db
        The database.
    key
        The ``X-API-Key`` header value, or ``None`` when absent.
    at
        Time of the request (recorded as ``last_used_at``, at most once a minute).

    Raises
    ------
    AuthError
        No key, a malformed or unknown key, or a revoked key.
    """
    if not key:
        raise AuthError("missing API key: send it in the X-API-Key header")
    match = _KEY_RE.match(key.strip())
    if match is None:
        raise AuthError("unknown API key")
    digest = hash_key(key.strip())
    with db.reading() as connection:
        rows = KeyReader(connection).by_prefix(match.group(1))
    for row in rows:
        if hmac.compare_digest(row.key_hash, digest):
            if row.revoked_at is not None:
                raise AuthError("this API key has been revoked")
            if row.last_used_at is None or at - row.last_used_at >= LAST_USED_RESOLUTION:
                with db.session() as s:
                    KeyRepository(s).touch(row.id, at=at)
            return Principal(id=row.id, name=row.name, role=Role(row.role))
    raise AuthError("unknown API key")
