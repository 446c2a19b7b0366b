"""The ``corridors`` command line: serve, graph, keys, reports, route, db.

Every command exits non-zero on error with a one-line reason on stderr; documents go to
stdout as JSON so they can be piped.
"""

from __future__ import annotations

import logging
import sys

import typer

from corridors.cli.db import db_app
from corridors.cli.graph import graph_app
from corridors.cli.keys import keys_app
from corridors.cli.reports import reports_app
from corridors.cli.route import route
from corridors.cli.serve import serve
from corridors.errors import CorridorsError

__all__ = ["app", "main"]

app = typer.Typer(
    name="corridors",
    help="Safe-corridor routing for humanitarian convoys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(serve)
app.command()(route)
app.add_typer(graph_app, name="graph")
app.add_typer(keys_app, name="keys")
app.add_typer(reports_app, name="reports")
app.add_typer(db_app, name="db")


def main() -> None:
    """Entry point of the ``corridors`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except CorridorsError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        sys.exit(1)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
