"""Opaque pagination cursors: URL-safe base64 of a small JSON object.

Clients treat them as opaque strings; a cursor that does not decode is the caller's
mistake (:class:`~corridors.errors.InputError`, 422), never a server error.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from corridors.errors import InputError

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(position: dict[str, Any]) -> str:
    """Encode a position (JSON-serialisable dict) as an opaque cursor string."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, keys: tuple[str, ...]) -> dict[str, Any]:
    """Decode a cursor made by :func:`encode_cursor`.

    Parameters
    ----------
    cursor
        The opaque string from a previous page's ``next_cursor``.
    keys
        Keys the position must hold.

    Raises
    ------
    InputError
        The cursor is not one this service issued.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InputError("cursor: not a cursor issued by this service") from exc
    if not isinstance(value, dict) or any(k not in value for k in keys):
        raise InputError("cursor: not a cursor issued by this service")
    return value
