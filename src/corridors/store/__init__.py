"""Durable store: SQLAlchemy tables, repositories and Alembic migrations.

SQLite by default (a file in the data dir), PostgreSQL through ``CORRIDORS_DATABASE_URL``.
Only ``services``, ``api`` and ``cli`` import this package; the core never does.
"""

from corridors.store.db import Database
from corridors.store.models import ApiKeyRow, AuditRow, Base, IdempotencyRow, ReportRow, ZoneRow
from corridors.store.repositories import (
    AuditRepository,
    IdempotencyRepository,
    KeyCredentials,
    KeyReader,
    KeyRepository,
    Page,
    ReportFilter,
    ReportRepository,
    ZoneRepository,
    zone_to_domain,
)

__all__ = [
    "ApiKeyRow",
    "AuditRepository",
    "AuditRow",
    "Base",
    "Database",
    "IdempotencyRepository",
    "IdempotencyRow",
    "KeyCredentials",
    "KeyReader",
    "KeyRepository",
    "Page",
    "ReportFilter",
    "ReportRepository",
    "ReportRow",
    "ZoneRepository",
    "ZoneRow",
    "zone_to_domain",
]
