"""One entry point for every import format."""

from __future__ import annotations

from collections.abc import Callable

from corridors.errors import InputError
from corridors.ingest.acled import parse_acled
from corridors.ingest.batch import ImportBatch
from corridors.ingest.geojson import parse_geojson
from corridors.ingest.hxl import parse_hxl

__all__ = ["IMPORT_FORMATS", "parse_import"]

_PARSERS: dict[str, Callable[[bytes], ImportBatch]] = {
    "acled": parse_acled,
    "hxl": parse_hxl,
    "geojson": parse_geojson,
}

#: Accepted values of ``fmt`` (the API's ``?format=`` and the CLI's ``--format``).
IMPORT_FORMATS = tuple(_PARSERS)


def parse_import(data: bytes, fmt: str) -> ImportBatch:
    """Parse an import file into report drafts.

    Parameters
    ----------
    data
        The whole file as bytes (UTF-8 with or without BOM; Latin-1 accepted).
    fmt
        ``"acled"``, ``"hxl"`` or ``"geojson"`` (case-free).

    Returns
    -------
    ImportBatch
        Good rows as drafts, bad rows with their reasons, in-file duplicates counted.

    Raises
    ------
    InputError
        Unknown format, or a file that cannot be read at all in that format.
    """
    parser = _PARSERS.get(fmt.strip().lower())
    if parser is None:
        raise InputError(
            f"unknown import format {fmt!r}; expected one of {', '.join(IMPORT_FORMATS)}"
        )
    return parser(data)
