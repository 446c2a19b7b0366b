"""Webhooks: subscriptions, secrets at rest, signed deliveries with retries.

Subscriptions
    ``POST /v1/webhooks`` (admin) ``{url, secret, events}``. The URL is http(s), the secret
    16..256 characters, the events among :data:`~corridors.services.events.KNOWN_EVENTS`.
Secrets at rest
    The secret is needed in clear to sign, so it cannot be hashed like an API key: it is
    stored encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under ``CORRIDORS_SECRET_KEY``
    (one or more comma-separated Fernet keys; the first encrypts, every one decrypts, for
    rotation), or, when that is unset, under a key generated on first use in
    ``<data_dir>/secret.key`` (mode 0600). Only the last four characters are ever shown.
Deliveries
    Each event writes one outbox row per subscribed webhook in its own transaction
    (:mod:`corridors.services.events`). :class:`WebhookDispatcher` (a thread started with
    the runtime) POSTs the event document ``{id, type, created_at, data}`` as compact JSON
    with the headers

    - ``X-Corridors-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>``
    - ``X-Corridors-Event``, ``X-Corridors-Delivery`` (delivery id, stable across retries)
    - ``X-Corridors-Timestamp`` (Unix seconds of the attempt)

    A 2xx answer within ``CORRIDORS_WEBHOOK_TIMEOUT_S`` (default 5 s) delivers it. Anything
    else is retried after 5 s, 30 s, 2 min, 10 min and 1 h, each stretched by up to 25 %
    random jitter; after the sixth failed attempt the delivery is ``failed``. The request
    that caused the event never waits for a delivery; pending rows survive a restart and
    are picked up by the next dispatcher. Several processes on PostgreSQL share the work:
    rows are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and leased for
    :data:`LEASE_S`, so a process that dies mid-delivery only delays it (at-least-once:
    receivers deduplicate on ``X-Corridors-Delivery``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from prometheus_client import Counter

from corridors.config import Settings
from corridors.errors import ConfigError, InputError, NotFoundError
from corridors.services.clock import Clock
from corridors.services.events import KNOWN_EVENTS, Event
from corridors.services.keys import Principal
from corridors.store import AuditRepository, Database, Page
from corridors.store.models import EventRow, WebhookDeliveryRow, WebhookRow
from corridors.store.repositories import WebhookDeliveryRepository, WebhookRepository

__all__ = [
    "BACKOFF_S",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "LEASE_S",
    "MAX_ATTEMPTS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SecretBox",
    "WebhookDispatcher",
    "create_webhook",
    "delete_webhook",
    "delivery_body",
    "list_deliveries",
    "list_webhooks",
    "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Corridors-Signature"
EVENT_HEADER = "X-Corridors-Event"
DELIVERY_HEADER = "X-Corridors-Delivery"
TIMESTAMP_HEADER = "X-Corridors-Timestamp"

#: Waits before the 2nd, 3rd, ... attempt, seconds (before jitter).
BACKOFF_S: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 3600.0)
#: Attempts before a delivery is ``failed``.
MAX_ATTEMPTS = len(BACKOFF_S) + 1
#: Retries wait up to this fraction longer than :data:`BACKOFF_S` (random).
JITTER_FRACTION = 0.25
#: A claimed delivery is due again after this if its process never reports back, s.
LEASE_S = 300.0
#: Secret length bounds, characters.
SECRET_MIN_CHARS = 16
SECRET_MAX_CHARS = 256
_MAX_URL_CHARS = 2000
_MAX_ERROR_CHARS = 500
_KEY_FILE = "secret.key"
_ID_RE = re.compile(r"[0-9a-f-]{1,36}")

DELIVERIES = Counter(
    "corridors_webhook_delivery_attempts_total",
    "Webhook delivery attempts by outcome (delivered, retry, failed)",
    ["outcome"],
)


# -- signing ------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The ``X-Corridors-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of ``body`` with ``secret`` (constant time)."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())


def delivery_body(event: Event) -> bytes:
    """The exact bytes POSTed for an event (compact JSON, keys sorted; same every retry)."""
    return json.dumps(
        event.document(), separators=(",", ":"), sort_keys=True, ensure_ascii=False
    ).encode("utf-8")


# -- secrets at rest ----------------------------------------------------------------------


def _read_or_create_key_file(path: Path) -> bytes:
    """The Fernet key in ``path``, created (mode 0600, exclusively) when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    log.warning(
        "generated the webhook secret key %s; back it up, or set CORRIDORS_SECRET_KEY", path
    )
    return key


class SecretBox:
    """Encrypts and decrypts webhook secrets (Fernet); the key is loaded on first use.

    Parameters
    ----------
    keys
        Fernet keys (urlsafe base64 of 32 bytes); the first encrypts, all decrypt.
        ``None``: read or create ``key_file``.
    key_file
        Where the generated key lives when no keys are given.
    """

    def __init__(self, keys: Sequence[str] | None = None, *, key_file: Path | None = None) -> None:
        self._keys = list(keys) if keys else None
        self._key_file = key_file
        self._fernet: MultiFernet | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """The box of ``CORRIDORS_SECRET_KEY``, or of ``<data_dir>/secret.key``."""
        raw = settings.secret_key.get_secret_value() if settings.secret_key else ""
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        return cls(keys or None, key_file=settings.data_dir / _KEY_FILE)

    def _box(self) -> MultiFernet:
        with self._lock:
            if self._fernet is None:
                if self._keys:
                    material = [k.encode("ascii") for k in self._keys]
                elif self._key_file is not None:
                    material = [_read_or_create_key_file(self._key_file)]
                else:
                    raise ConfigError("no webhook secret key: set CORRIDORS_SECRET_KEY")
                try:
                    self._fernet = MultiFernet([Fernet(k) for k in material])
                except (ValueError, UnicodeEncodeError) as exc:
                    raise ConfigError(
                        "CORRIDORS_SECRET_KEY: each key must be a Fernet key (44 characters "
                        'of urlsafe base64); make one with `python -c "from '
                        "cryptography.fernet import Fernet; print(Fernet.generate_key()"
                        '.decode())"`'
                    ) from exc
            return self._fernet

    def encrypt(self, secret: str) -> str:
        """The Fernet token of ``secret``."""
        return self._box().encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The secret of a token made by :meth:`encrypt`.

        Raises
        ------
        ConfigError
            The token was made with a key that is no longer configured.
        """
        try:
            return self._box().decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise ConfigError(
                "a webhook secret cannot be decrypted: CORRIDORS_SECRET_KEY (or "
                "<data_dir>/secret.key) changed; keep the old key after the new one"
            ) from exc


# -- subscriptions ------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _check_text(value: str, what: str) -> None:
    """Refuse what no database column can hold: NUL and unpaired surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{what}: not valid Unicode text") from exc
    if "\x00" in value:
        raise InputError(f"{what}: must not contain NUL characters")


def _require_id(webhook_id: str) -> None:
    # Ids are uuid4 strings; anything else (even NUL bytes) is simply unknown.
    if not _ID_RE.fullmatch(webhook_id):
        raise NotFoundError(f"webhook {webhook_id[:40]!r} not found")


def _check_url(url: str) -> str:
    url = url.strip()
    _check_text(url, "url")
    if len(url) > _MAX_URL_CHARS:
        raise InputError(f"url: at most {_MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise InputError(f"url: not a URL ({exc})") from exc
    if any(c.isspace() for c in url):
        raise InputError("url: must not contain spaces")
    if parts.scheme not in ("http", "https") or not hostname:
        raise InputError("url: must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise InputError("url: must not contain credentials; sign with the secret instead")
    return url


def _check_events(events: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(e.strip() for e in events))
    if not wanted:
        raise InputError("events: name at least one of " + ", ".join(KNOWN_EVENTS))
    unknown = [e for e in wanted if e not in KNOWN_EVENTS]
    if unknown:
        raise InputError(f"events: unknown event {unknown[0]!r}; use " + ", ".join(KNOWN_EVENTS))
    return wanted


def webhook_document(row: WebhookRow) -> dict[str, Any]:
    """What may be shown of a webhook: never its secret, only a hint."""
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "secret_hint": f"…{row.secret_hint}",
        "created_at": _iso(row.created_at),
        "created_by": row.created_by,
        "deleted_at": _iso(row.deleted_at),
    }


def create_webhook(
    db: Database,
    box: SecretBox,
    *,
    url: str,
    secret: str,
    events: Sequence[str],
    actor: Principal,
    at: datetime,
) -> dict[str, Any]:
    """Store a webhook subscription (secret encrypted) and audit it.

    Raises
    ------
    InputError
        Not an http(s) URL, a secret shorter than 16 (or longer than 256) characters, or an
        unknown event name.
    """
    url = _check_url(url)
    _check_text(secret, "secret")
    if not SECRET_MIN_CHARS <= len(secret) <= SECRET_MAX_CHARS:
        raise InputError(
            f"secret: {SECRET_MIN_CHARS} to {SECRET_MAX_CHARS} characters (use a random one)"
        )
    wanted = _check_events(events)
    row = WebhookRow(
        id=str(uuid.uuid4()),
        url=url,
        secret_encrypted=box.encrypt(secret),
        secret_hint=secret[-4:],
        events=wanted,
        created_at=at,
        created_by=actor.name,
        deleted_at=None,
    )
    with db.session() as s:
        WebhookRepository(s).add(row)
        AuditRepository(s).append(
            at=at,
            key_name=actor.name,
            action="webhook.create",
            object_type="webhook",
            object_id=row.id,
            detail={"url": url, "events": wanted},
        )
        return webhook_document(row)


def list_webhooks(db: Database) -> list[dict[str, Any]]:
    """Every webhook not deleted, oldest first."""
    with db.session() as s:
        return [webhook_document(r) for r in WebhookRepository(s).active()]


def delete_webhook(db: Database, webhook_id: str, *, actor: Principal, at: datetime) -> None:
    """Delete a webhook: no new deliveries, pending ones cancelled, history kept.

    Raises
    ------
    NotFoundError
        No such webhook (or deleted already).
    """
    _require_id(webhook_id)
    with db.session() as s:
        row = WebhookRepository(s).get(webhook_id)
        if row is None or row.deleted_at is not None:
            raise NotFoundError(f"webhook {webhook_id} not found")
        row.deleted_at = at
        cancelled = WebhookDeliveryRepository(s).cancel_pending(webhook_id)
        AuditRepository(s).append(
            at=at,
            key_name=actor.name,
            action="webhook.delete",
            object_type="webhook",
            object_id=webhook_id,
            detail={"cancelled_deliveries": cancelled},
        )


def delivery_document(row: WebhookDeliveryRow) -> dict[str, Any]:
    """A delivery and its outcome."""
    return {
        "id": row.id,
        "webhook_id": row.webhook_id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "status_code": row.last_status_code,
        "last_error": row.last_error,
        "next_attempt_at": _iso(row.next_attempt_at) if row.status == "pending" else None,
        "last_attempt_at": _iso(row.last_attempt_at),
        "delivered_at": _iso(row.delivered_at),
        "created_at": _iso(row.created_at),
    }


_DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")


def list_deliveries(
    db: Database,
    webhook_id: str,
    *,
    cursor: str | None = None,
    limit: int = 100,
    status: str | None = None,
) -> Page[dict[str, Any]]:
    """A webhook's deliveries (deleted webhooks too), newest first.

    Raises
    ------
    NotFoundError
        No such webhook.
    InputError
        Unknown status, or a cursor this service did not issue.
    """
    _require_id(webhook_id)
    if status is not None and status not in _DELIVERY_STATUSES:
        raise InputError("status: use one of " + ", ".join(_DELIVERY_STATUSES))
    with db.session() as s:
        if WebhookRepository(s).get(webhook_id) is None:
            raise NotFoundError(f"webhook {webhook_id} not found")
        page = WebhookDeliveryRepository(s).list(
            webhook_id, cursor=cursor, limit=limit, status=status
        )
        return Page([delivery_document(r) for r in page.items], page.next_cursor)


# -- delivery -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    delivery_id: str
    attempts: int
    url: str
    secret_token: str
    event_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class _Outcome:
    delivery_id: str
    ok: bool
    status_code: int | None
    error: str | None


class WebhookDispatcher:
    """Delivers due outbox rows; a background thread or :meth:`dispatch_due` directly.

    Parameters
    ----------
    db
        The database holding the outbox.
    box
        Decrypts the webhook secrets.
    clock
        Source of "now" for due times and backoff (tests pass a fake clock).
    timeout_s
        Timeout of one HTTP attempt, seconds.
    transport
        httpx transport (tests may pass a mock); default real HTTP.
    workers
        Deliveries POSTed in parallel.
    batch
        Deliveries claimed per round.
    idle_s
        The thread looks for due rows at least this often (retries, other processes), s.
    jitter
        Returns a number in [0, 1) for the retry jitter.
    """

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        *,
        clock: Clock,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        workers: int = 4,
        batch: int = 50,
        idle_s: float = 2.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.box = box
        self._clock = clock
        self.timeout_s = timeout_s
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False, transport=transport)
        self._workers = workers
        self._batch = batch
        self._idle_s = idle_s
        self._jitter = jitter
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._round = threading.Lock()

    # -- one round ------------------------------------------------------------------------
    def dispatch_due(self) -> int:
        """Attempt every delivery due now (per the clock); returns how many were attempted.

        Safe to call from tests and concurrently with the thread (rounds do not overlap in
        one process; other processes skip rows this one has locked or leased).
        """
        with self._round:
            attempted = 0
            while True:
                jobs = self._claim()
                if not jobs:
                    return attempted
                if len(jobs) == 1 or self._workers <= 1:
                    outcomes = [self._attempt(j) for j in jobs]
                else:
                    with ThreadPoolExecutor(
                        max_workers=min(self._workers, len(jobs)),
                        thread_name_prefix="corridors-webhook",
                    ) as pool:
                        outcomes = list(pool.map(self._attempt, jobs))
                self._record(jobs, outcomes)
                attempted += len(jobs)
                if len(jobs) < self._batch:
                    return attempted

    def _claim(self) -> list[_Job]:
        now = self._clock()
        jobs: list[_Job] = []
        with self.db.session() as s:
            deliveries = WebhookDeliveryRepository(s)
            rows = deliveries.claim_due(
                at=now, lease_until=now + timedelta(seconds=LEASE_S), limit=self._batch
            )
            for row in rows:
                webhook = s.get(WebhookRow, row.webhook_id)
                event = s.get(EventRow, row.event_id)
                if webhook is None or webhook.deleted_at is not None or event is None:
                    row.status = "cancelled"
                    row.next_attempt_at = None
                    continue
                jobs.append(
                    _Job(
                        delivery_id=row.id,
                        attempts=row.attempts,
                        url=webhook.url,
                        secret_token=webhook.secret_encrypted,
                        event_type=row.event_type,
                        body=delivery_body(Event.from_row(event)),
                    )
                )
        return jobs

    def _attempt(self, job: _Job) -> _Outcome:
        try:
            secret = self.box.decrypt(job.secret_token)
        except ConfigError as exc:
            return _Outcome(job.delivery_id, False, None, exc.detail[:_MAX_ERROR_CHARS])
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "corridors-webhooks/1",
            SIGNATURE_HEADER: sign(secret, job.body),
            EVENT_HEADER: job.event_type,
            DELIVERY_HEADER: job.delivery_id,
            TIMESTAMP_HEADER: str(int(self._clock().timestamp())),
        }
        try:
            response = self._client.post(job.url, content=job.body, headers=headers)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
            return _Outcome(job.delivery_id, False, None, error)
        ok = 200 <= response.status_code < 300
        failure = None if ok else f"HTTP {response.status_code}"
        return _Outcome(job.delivery_id, ok, response.status_code, failure)

    def _record(self, jobs: Sequence[_Job], outcomes: Sequence[_Outcome]) -> None:
        now = self._clock()
        with self.db.session() as s:
            deliveries = WebhookDeliveryRepository(s)
            for job, outcome in zip(jobs, outcomes, strict=True):
                row = deliveries.get(job.delivery_id)
                if row is None or row.status != "pending":
                    continue  # cancelled meanwhile (webhook deleted)
                row.attempts = job.attempts + 1
                row.last_attempt_at = now
                row.last_status_code = outcome.status_code
                row.last_error = outcome.error
                if outcome.ok:
                    row.status = "delivered"
                    row.delivered_at = now
                    row.next_attempt_at = None
                    DELIVERIES.labels("delivered").inc()
                elif row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                    row.next_attempt_at = None
                    DELIVERIES.labels("failed").inc()
                    log.warning(
                        "webhook delivery %s failed after %d attempts: %s",
                        row.id,
                        row.attempts,
                        outcome.error,
                    )
                else:
                    wait_s = BACKOFF_S[row.attempts - 1] * (1.0 + JITTER_FRACTION * self._jitter())
                    row.next_attempt_at = now + timedelta(seconds=wait_s)
                    DELIVERIES.labels("retry").inc()

    # -- background thread ----------------------------------------------------------------
    def wake(self) -> None:
        """Look for due deliveries now (called after events are committed)."""
        self._wake.set()

    def start(self) -> None:
        """Start the dispatcher thread (it first delivers whatever is pending)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="corridors-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a delivery in flight finishes first, within the timeout)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s * 2 + 5)
            self._thread = None

    def close(self) -> None:
        """Stop the thread and close the HTTP client."""
        self.stop()
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            started = time.monotonic()
            try:
                self.dispatch_due()
            except Exception:  # a database hiccup must not end the thread
                log.exception("webhook dispatch round failed")
            if self._stop.is_set():
                return
            self._wake.wait(max(0.0, self._idle_s - (time.monotonic() - started)))
