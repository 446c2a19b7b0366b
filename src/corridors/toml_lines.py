"""Where a key stands in a TOML text, so a configuration error can name its line.

``tomllib`` reports positions for syntax errors only; validation errors (pydantic) carry a
key path. These helpers map key paths back to lines for the risk model and the escort
policy files.
"""

from __future__ import annotations

import re

__all__ = ["key_lines", "line_of"]

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = r"(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')"
_ASSIGN = re.compile(rf"^\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*=")
_INLINE_KEY = re.compile(rf"[{{,]\s*({_KEY})\s*=")


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[^.\s]+", dotted)
    return tuple(p.strip("\"'") for p in parts)


def _strip_comment(line: str) -> str:
    out, quote = [], ""
    for ch in line:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map every key path of a TOML text to the 1-based line that defines it.

    A light scan, not a parser: it follows ``[table]`` headers, ``key =`` lines (dotted keys
    too), keys of one-line inline tables and multi-line arrays, which covers policy files.
    """
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    depth = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if depth == 0:
            header = _HEADER.match(line)
            if header and "=" not in line.split("]")[0]:
                table = _split_key(header.group(1))
                # [a.b] also defines a (implicitly) here, unless a was defined before.
                for n in range(1, len(table) + 1):
                    lines.setdefault(table[:n], number)
                continue
            assign = _ASSIGN.match(line)
            if assign:
                path = table + _split_key(assign.group(1))
                lines.setdefault(path, number)
                rest = line[assign.end() :]
                for key in _INLINE_KEY.findall(rest):
                    lines.setdefault((*path, key.strip("\"'")), number)
                depth = max(0, rest.count("[") - rest.count("]"))
        else:
            depth = max(0, depth + line.count("[") - line.count("]"))
    return lines


def line_of(loc: tuple[int | str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    """Line of the deepest key of ``loc`` found in the text (list indexes are skipped)."""
    keys = tuple(str(p) for p in loc if isinstance(p, str))
    for n in range(len(keys), 0, -1):
        if keys[:n] in lines:
            return lines[keys[:n]]
    return None
