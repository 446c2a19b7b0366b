"""Tables of the durable store (SQLAlchemy 2 typed ORM).

Every time column is an aware UTC datetime (:class:`~corridors.store.types.UTCDateTime`).
Identifiers are uuid4 strings, except the append-only audit log, which counts.
Reports and zones are never deleted: reports are retracted, zones ended. Every insert or
update of a report or zone stamps its ``change_seq`` (a database trigger, migration 0003), so
a reader can fetch what changed since its last read (:mod:`corridors.store.changes`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from corridors.store.types import UTCDateTime

__all__ = [
    "ApiKeyRow",
    "AuditRow",
    "Base",
    "IdempotencyRow",
    "ReportRow",
    "ZoneRow",
]

# Deterministic constraint names, so migrations can refer to them on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ReportRow(Base):
    """One incident report. ``external_id`` deduplicates imports (e.g. ACLED event ids)."""

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    uncertainty_m: Mapped[float] = mapped_column(Float, default=0.0)
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[int] = mapped_column(Integer)
    fatalities: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str | None] = mapped_column(String(500))
    source_reliability: Mapped[str | None] = mapped_column(String(1))
    credibility: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Set by the database on every insert and update (see :mod:`corridors.store.changes`).
    change_seq: Mapped[int] = mapped_column(
        BigInteger, server_default="0", server_onupdate=FetchedValue()
    )

    __table_args__ = (
        # List order (newest first) and the risk query (occurred by `at`).
        Index("ix_reports_occurred_at_id", "occurred_at", "id"),
        Index("ix_reports_status_occurred_at", "status", "occurred_at"),
        Index("ix_reports_category", "category"),
        Index("ix_reports_lon_lat", "lon", "lat"),
        Index("ix_reports_change_seq", "change_seq"),
    )


class ZoneRow(Base):
    """A no-go or caution zone; ``geometry`` is GeoJSON text (Polygon or MultiPolygon)."""

    __tablename__ = "zones"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    geometry: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Set by the database on every insert and update (see :mod:`corridors.store.changes`).
    change_seq: Mapped[int] = mapped_column(
        BigInteger, server_default="0", server_onupdate=FetchedValue()
    )

    __table_args__ = (
        Index("ix_zones_validity", "valid_from", "valid_until"),
        Index("ix_zones_change_seq", "change_seq"),
    )


class ApiKeyRow(Base):
    """An API key: only the prefix (for lookup) and a hash of the secret are stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    key_prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditRow(Base):
    """One write: who (key name), what (action, object), when, and a small JSON detail."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    key_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class IdempotencyRow(Base):
    """The first response to an ``Idempotency-Key``, per API key."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api_key_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("api_keys.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_keys_key"),)


# --- Corridors, events and webhooks (migration 0002) ------------------------------------

__all__ += [
    "CorridorRow",
    "CorridorStatusRow",
    "EventRow",
    "WebhookDeliveryRow",
    "WebhookRow",
]


class CorridorRow(Base):
    """A named corridor: the trip a planner watches, and its current status.

    ``status`` is one of open, caution, restricted, closed; ``waypoints`` a JSON list of
    ``[lon, lat]`` and ``convoy`` the JSON convoy. Archived corridors keep their rows.
    """

    __tablename__ = "corridors"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    origin_lon: Mapped[float] = mapped_column(Float)
    origin_lat: Mapped[float] = mapped_column(Float)
    destination_lon: Mapped[float] = mapped_column(Float)
    destination_lat: Mapped[float] = mapped_column(Float)
    waypoints: Mapped[list[list[float]]] = mapped_column(JSON)
    convoy: Mapped[dict[str, Any]] = mapped_column(JSON)
    risk_aversion: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str] = mapped_column(Text)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CorridorStatusRow(Base):
    """One status change of a corridor (the first row is its status at creation)."""

    __tablename__ = "corridor_status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    corridor_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("corridors.id", ondelete="CASCADE")
    )
    previous_status: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_corridor_status_history_corridor", "corridor_id", "id"),)


class EventRow(Base):
    """One published event; ``id`` is the SSE event id (committed in id order)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class WebhookRow(Base):
    """A webhook subscription; the secret is stored encrypted (Fernet), never in clear."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(8))
    events: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDeliveryRow(Base):
    """The outbox: one row per (event, webhook), written with the event.

    ``status``: pending (``next_attempt_at`` says when), delivered, failed (attempts
    exhausted) or cancelled (webhook deleted).
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("webhooks.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(Integer, ForeignKey("events.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at", "id"),
    )
