"""API keys: creation, hashing, authentication, revocation, the CLI and the rate limiter."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from corridors.api.auth import WriteRateLimiter
from corridors.cli.keys import keys_app
from corridors.domain import Role
from corridors.errors import AuthError, ConflictError, InputError, NotFoundError, RateLimitedError
from corridors.services.keys import authenticate, create_key, list_keys, revoke_key
from corridors.store import ApiKeyRow, AuditRepository, Database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY_RE = re.compile(r"^cor_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")


def test_key_format_and_only_hash_stored(database: Database) -> None:
    new = create_key(database, role=Role.reporter, name="ngo-1", at=T0)
    assert KEY_RE.match(new.key)
    assert new.info.key_prefix == new.key[4:12]
    with database.session() as s:
        row = s.scalars(select(ApiKeyRow)).one()
    assert row.key_hash == hashlib.sha256(new.key.encode()).hexdigest()
    secret = new.key[13:]
    stored = " ".join(str(v) for v in vars(row).values())
    assert secret not in stored


def test_authenticate_roles_and_last_used(database: Database) -> None:
    new = create_key(database, role="analyst", at=T0)
    principal = authenticate(database, new.key, at=T0 + timedelta(minutes=5))
    assert (principal.name, principal.role) == (new.info.name, Role.analyst)
    assert principal.role.includes(Role.reporter)
    assert not principal.role.includes(Role.admin)
    (info,) = list_keys(database)
    assert info.last_used_at == T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    "presented",
    [None, "", "garbage", "cor_00000000_" + "A" * 43, "Bearer cor_x"],
)
def test_unknown_or_missing_key_is_auth_error(database: Database, presented: str | None) -> None:
    create_key(database, role=Role.admin, at=T0)
    with pytest.raises(AuthError) as info:
        authenticate(database, presented, at=T0)
    assert type(info.value) is AuthError  # 401, not the 403 subclass


def test_wrong_secret_with_right_prefix_is_refused(database: Database) -> None:
    new = create_key(database, role=Role.admin, at=T0)
    forged = new.key[:13] + ("B" if new.key[13] != "B" else "C") + new.key[14:]
    with pytest.raises(AuthError):
        authenticate(database, forged, at=T0)


def test_revoked_key_is_refused_and_audited(database: Database) -> None:
    new = create_key(database, role=Role.viewer, name="old", at=T0)
    revoke_key(database, "old", at=T0 + timedelta(hours=1), actor="boss")
    with pytest.raises(AuthError, match="revoked"):
        authenticate(database, new.key, at=T0 + timedelta(hours=2))
    # Revoking again is harmless; unknown names are 404.
    assert revoke_key(
        database, new.info.id, at=T0 + timedelta(hours=3)
    ).revoked_at == T0 + timedelta(hours=1)
    with pytest.raises(NotFoundError):
        revoke_key(database, "nobody", at=T0)
    with database.session() as s:
        actions = [(r.action, r.key_name) for r in AuditRepository(s).list().items]
    assert actions == [("key.revoke", "boss"), ("key.create", "cli")]


def test_duplicate_name_and_bad_role(database: Database) -> None:
    create_key(database, role=Role.viewer, name="same", at=T0)
    with pytest.raises(ConflictError):
        create_key(database, role=Role.viewer, name="same", at=T0)
    with pytest.raises(InputError, match="unknown role"):
        create_key(database, role="superuser", at=T0)
    with pytest.raises(InputError, match="key name"):
        create_key(database, role=Role.viewer, name="has space", at=T0)


def test_cli_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRIDORS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("CORRIDORS_DATABASE_URL", raising=False)
    runner = CliRunner()
    created = runner.invoke(keys_app, ["create", "--role", "reporter", "--name", "field-team"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert KEY_RE.match(key)
    db = Database(f"sqlite:///{tmp_path / 'var' / 'corridors.sqlite3'}")
    assert authenticate(db, key, at=T0).name == "field-team"

    listed = runner.invoke(keys_app, ["list", "--json"])
    assert listed.exit_code == 0
    (entry,) = json.loads(listed.stdout)
    assert (entry["name"], entry["role"], entry["revoked_at"]) == ("field-team", "reporter", None)
    assert key not in listed.stdout

    assert runner.invoke(keys_app, ["revoke", "field-team"]).exit_code == 0
    with pytest.raises(AuthError):
        authenticate(db, key, at=T0)
    db.dispose()

    bad = runner.invoke(keys_app, ["create", "--role", "emperor"])
    assert bad.exit_code != 0


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_rate_limiter_bucket() -> None:
    clock = FakeMonotonic()
    limiter = WriteRateLimiter(6, clock=clock)  # 6 a minute = one every 10 s
    for _ in range(6):
        limiter.take("k")
    with pytest.raises(RateLimitedError) as info:
        limiter.take("k")
    assert info.value.retry_after_s == 10
    limiter.take("other")  # buckets are per key
    clock.t += 4.0
    with pytest.raises(RateLimitedError) as info:
        limiter.take("k")
    assert info.value.retry_after_s == 6
    clock.t += 6.0
    limiter.take("k")
    with pytest.raises(RateLimitedError):
        limiter.take("k")
