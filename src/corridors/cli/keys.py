"""``corridors keys create|list|revoke``: API keys (only their hashes are stored)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from corridors.cli.db import open_database
from corridors.config import Settings
from corridors.domain import Role
from corridors.services import keys as svc

__all__ = ["keys_app"]

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)

#: Who CLI writes are attributed to in the audit log.
CLI_ACTOR = "cli"


@keys_app.command("create")
def create(
    role: Annotated[Role, typer.Option("--role", help="viewer, reporter, analyst or admin")],
    name: Annotated[
        str | None, typer.Option("--name", help="Unique name (default key-<prefix>)")
    ] = None,
) -> None:
    """Create a key and print it once: the key alone is the last line of stdout."""
    db = open_database(Settings())
    try:
        new = svc.create_key(db, role=role, name=name, at=datetime.now(UTC), actor=CLI_ACTOR)
    finally:
        db.dispose()
    typer.echo(f"# {new.info.name} ({new.info.role.value}): store it now, it is not kept")
    typer.echo(new.key)


@keys_app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """List keys: name, role, prefix, created, last used, revoked."""
    db = open_database(Settings())
    try:
        keys = svc.list_keys(db)
    finally:
        db.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": k.id,
                        "name": k.name,
                        "role": k.role.value,
                        "key_prefix": k.key_prefix,
                        "created_at": k.created_at.isoformat(),
                        "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                    }
                    for k in keys
                ],
                indent=2,
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "role", "prefix", "created", "last used", "revoked")
    for k in keys:
        table.add_row(
            k.name,
            k.role.value,
            f"cor_{k.key_prefix}_…",
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-",
        )
    Console().print(table)


@keys_app.command("revoke")
def revoke(name_or_id: Annotated[str, typer.Argument(help="Key name or id")]) -> None:
    """Revoke a key: requests with it are refused (401) from now on."""
    db = open_database(Settings())
    try:
        info = svc.revoke_key(db, name_or_id, at=datetime.now(UTC), actor=CLI_ACTOR)
    finally:
        db.dispose()
    assert info.revoked_at is not None
    typer.echo(f"revoked {info.name} at {info.revoked_at.isoformat()}")
