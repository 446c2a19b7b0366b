"""``corridors reports import`` and ``corridors db``: the same service as the API, from a shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from conftest import FakeClock, tiny_graph
from corridors.cli.db import db_app
from corridors.cli.reports import reports_app
from corridors.config import Settings
from corridors.errors import InputError
from corridors.services.runtime import Runtime
from corridors.store import Database, ReportRepository
from test_reports_api import MIXED

# Mounted as in the real command line (a one-command Typer app would drop the name).
cli = typer.Typer()
cli.add_typer(reports_app, name="reports")


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Settings from the environment, and a runtime on the tiny graph instead of the real one."""
    url = f"sqlite:///{tmp_path / 'var' / 'corridors.sqlite3'}"
    monkeypatch.setenv("CORRIDORS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CORRIDORS_DATABASE_URL", url)

    def fake_open(settings: Settings, **_: object) -> Runtime:
        db = Database(settings.resolved_database_url)
        db.migrate()
        return Runtime(settings, db, tiny_graph(), clock=FakeClock())

    monkeypatch.setattr(Runtime, "open", staticmethod(fake_open))
    return url


def test_cli_import_prints_summary(cli_env: str, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(MIXED)
    result = CliRunner().invoke(cli, ["reports", "import", str(path), "--format", "acled"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["imported"] == 3
    assert summary["duplicates"] == 1
    assert [r["row"] for r in summary["rejected"]] == [5, 6, 8]
    db = Database(cli_env)
    with db.session() as s:
        assert ReportRepository(s).count() == 3
    db.dispose()


def test_cli_import_errors(cli_env: str, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        cli, ["reports", "import", str(tmp_path / "nope.csv"), "--format", "acled"]
    )
    assert missing.exit_code != 0
    assert isinstance(missing.exception, InputError)
    path = tmp_path / "events.csv"
    path.write_bytes(MIXED)
    bad_format = runner.invoke(cli, ["reports", "import", str(path), "--format", "xlsx"])
    assert bad_format.exit_code != 0


def test_cli_db_upgrade(cli_env: str) -> None:
    runner = CliRunner()
    assert runner.invoke(db_app, ["current"]).stdout.strip() == "none"
    upgraded = runner.invoke(db_app, ["upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert runner.invoke(db_app, ["current"]).stdout.strip() == Database.head_revision()
