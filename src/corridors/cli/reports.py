"""``corridors reports import FILE --format acled|hxl|geojson``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from corridors.config import Settings
from corridors.errors import InputError
from corridors.services.reports import import_reports
from corridors.services.runtime import Runtime

__all__ = ["reports_app"]

reports_app = typer.Typer(help="Incident reports.", no_args_is_help=True)

#: Who CLI imports are attributed to (``created_by`` and the audit log).
CLI_ACTOR = "cli"


@reports_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="The file to import")],
    fmt: Annotated[
        Literal["acled", "hxl", "geojson"], typer.Option("--format", help="File format")
    ],
) -> None:
    """Import a file of reports; print {imported, duplicates, rejected} as JSON.

    Rows outside the service area (the served graph's bbox plus margin), in the future
    or invalid are listed in ``rejected`` with the reason; rows already stored count as
    duplicates. Progress goes to stderr.
    """
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    settings = Settings()
    size_b = file.stat().st_size
    if size_b > settings.max_import_bytes:
        raise InputError(
            f"{file}: {size_b} bytes is over the import cap of {settings.max_import_bytes} "
            "(CORRIDORS_MAX_IMPORT_BYTES)"
        )
    data = file.read_bytes()
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("loading graph", total=None)
        runtime = Runtime.open(settings)
        try:
            progress.update(task, description="parsing")

            def on_progress(done: int, total: int) -> None:
                progress.update(task, description="storing", completed=done, total=total)

            summary = import_reports(
                runtime.db,
                data,
                fmt,
                actor=CLI_ACTOR,
                at=runtime.now(),
                area_contains=runtime.area_contains,
                progress=on_progress,
            )
            if summary.imported:
                runtime.reports_changed()  # running services refresh (scale-out notifier)
        finally:
            runtime.close()
    typer.echo(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
