"""A JSON response rendered with orjson, for large plain-dict documents (routes, layers).

Starlette's ``JSONResponse`` uses the standard library encoder, several times slower on
documents of thousands of coordinates. Content must already be JSON-ready (strings,
numbers, lists, dicts, None); NaN and infinities are written as ``null``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

__all__ = ["FastJSONResponse"]


class FastJSONResponse(JSONResponse):
    """``application/json`` (or the given media type) rendered by orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
