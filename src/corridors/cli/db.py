"""``corridors db upgrade|current``: the database schema (Alembic migrations)."""

from __future__ import annotations

import typer

from corridors.config import Settings
from corridors.store import Database

__all__ = ["db_app", "open_database"]

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


def open_database(settings: Settings) -> Database:
    """Open the configured database and bring its schema up to date."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate()
    return db


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply every pending migration (the server also does this at start)."""
    db = open_database(Settings())
    try:
        typer.echo(f"database at revision {db.current_revision()}")
    finally:
        db.dispose()


@db_app.command("current")
def current() -> None:
    """Print the schema revision of the database (none before the first upgrade)."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    try:
        typer.echo(db.current_revision() or "none")
    finally:
        db.dispose()
