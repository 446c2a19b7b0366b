"""Change stamps on reports and zones: what changed since the last read, without a full scan.

Every insert or update of a report or zone stamps the row's ``change_seq`` (indexed), by a
trigger, so every writer is covered (the API, imports, SQL typed by hand):

PostgreSQL
    The writing transaction's id (``pg_current_xact_id()``, 64 bits, never wraps). Ids are
    handed out at a transaction's first write, not in commit order; a reader takes the
    ``xmin`` of its snapshot (every transaction below it had ended) as the horizon of its
    next read, so a row committed late by a transaction that started early is read then.
SQLite
    The table's highest stamp plus one. Writers hold the database's write lock from their
    first write to their commit, so stamps commit in increasing order.

Rows written before this migration keep stamp 0 (a reader starts with a full read).

Caution: SQLite drops a table's triggers when a batch migration rebuilds the table; a later
migration that rebuilds ``reports`` or ``zones`` must create these triggers again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("reports", "zones")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION corridors_stamp_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_seq := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$
"""


def _sqlite_trigger(table: str, event: str) -> str:
    # The stamp is set by an UPDATE after the write. ``WHEN`` keeps an update that sets the
    # stamp itself (this very UPDATE) from stamping again.
    when = "" if event == "INSERT" else " WHEN NEW.change_seq = OLD.change_seq"
    return (
        f"CREATE TRIGGER {table}_stamp_{event.lower()} AFTER {event} ON {table}{when} "
        f"BEGIN UPDATE {table} SET change_seq = "
        f"(SELECT coalesce(max(change_seq), 0) + 1 FROM {table}) WHERE rowid = NEW.rowid; END"
    )


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
            )
            batch_op.create_index(f"ix_{table}_change_seq", ["change_seq"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_stamp_change BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION corridors_stamp_change()"
            )
    else:
        for table in TABLES:
            for event in ("INSERT", "UPDATE"):
                op.execute(_sqlite_trigger(table, event))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_change ON {table}")
        op.execute("DROP FUNCTION IF EXISTS corridors_stamp_change()")
    else:
        for table in TABLES:
            for event in ("insert", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{event}")
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_change_seq")
            batch_op.drop_column("change_seq")
