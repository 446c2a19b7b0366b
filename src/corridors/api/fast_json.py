"""JSON rendered with orjson, for large plain-dict documents (routes, layers, corridors).

Starlette's ``JSONResponse`` uses the standard library encoder, several times slower on
documents of thousands of coordinates. Content must already be JSON-ready (strings,
numbers, lists, dicts, None) except that numpy arrays may stand for lists (a route's
coordinates): orjson writes them itself, without a Python float per value. NaN and
infinities are written as ``null``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

__all__ = ["FastJSONResponse", "dumps"]


def dumps(content: Any, *, indent: bool = False) -> bytes:
    """``content`` as UTF-8 JSON (two-space indented with ``indent``)."""
    option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(content, option=option)


class FastJSONResponse(JSONResponse):
    """``application/json`` (or the given media type) rendered by orjson."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
