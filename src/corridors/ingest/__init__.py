"""Incident-report input: the report model and the file importers (ACLED, HXL, GeoJSON).

Pure code: no web framework, no database, no clock. ``parse_import`` turns a file into
:class:`ReportDraft` s plus per-row rejections; ``check_report_context`` applies the checks
that need the service area and the current time, both passed in.
"""

from corridors.ingest.acled import acled_coding, acled_uncertainty_m, parse_acled
from corridors.ingest.batch import LOCAL_TZ, ImportBatch, ParsedRow, RowError
from corridors.ingest.draft import (
    FUTURE_TOLERANCE,
    LonLat,
    ReportDraft,
    check_report_context,
)
from corridors.ingest.geojson import parse_geojson
from corridors.ingest.hxl import parse_hxl
from corridors.ingest.importer import IMPORT_FORMATS, parse_import

__all__ = [
    "FUTURE_TOLERANCE",
    "IMPORT_FORMATS",
    "LOCAL_TZ",
    "ImportBatch",
    "LonLat",
    "ParsedRow",
    "ReportDraft",
    "RowError",
    "acled_coding",
    "acled_uncertainty_m",
    "check_report_context",
    "parse_acled",
    "parse_geojson",
    "parse_hxl",
    "parse_import",
]
