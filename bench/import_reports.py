"""Benchmark: import the real Port-au-Prince ACLED file into a fresh SQLite database.

Reads ``../shared/data/acled_port-au-prince_2024-2025_events.csv`` in place (never copied:
ACLED terms) and imports it twice through :func:`corridors.services.reports.import_reports`,
the function behind ``POST /v1/reports/import`` and ``corridors reports import``. The
second import must find every row a duplicate. Issue 3's target: the first import under
10 s on SQLite.

Usage: ``.venv/bin/python bench/import_reports.py [FILE]``
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from corridors.services.reports import import_reports
from corridors.store import Database, ReportRepository

DEFAULT_FILE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "acled_port-au-prince_2024-2025_events.csv"
)
TARGET_S = 10.0
#: Port-au-Prince, widened: the benchmark measures import speed, not the area check.
AREA = (-72.6, 18.3, -72.0, 18.8)


def _in_area(lon: float, lat: float) -> bool:
    return AREA[0] <= lon <= AREA[2] and AREA[1] <= lat <= AREA[3]


def main(argv: list[str]) -> int:
    """Run the benchmark; exit status 1 when over the target or not all duplicates."""
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_FILE
    if not path.exists():
        print(
            f"error: {path} not found (needs ../shared/data beside the checkout)", file=sys.stderr
        )
        return 2
    data = path.read_bytes()
    at = datetime(2026, 2, 10, tzinfo=UTC)  # after the file's newest event
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        db.migrate()
        results = []
        for label in ("first import", "second import"):
            start = time.perf_counter()
            summary = import_reports(
                db, data, "acled", actor="bench", at=at, area_contains=_in_area
            )
            elapsed_s = time.perf_counter() - start
            rows = summary.imported + summary.duplicates + len(summary.rejected)
            results.append((summary, elapsed_s))
            print(
                f"{label}: rows={rows} imported={summary.imported} "
                f"duplicates={summary.duplicates} rejected={len(summary.rejected)} "
                f"seconds={elapsed_s:.3f} rows/s={rows / elapsed_s:,.0f}"
            )
        with db.session() as s:
            stored = ReportRepository(s).count()
        db.dispose()
    (first, first_s), (second, _) = results
    print(f"stored={stored} target<{TARGET_S:.0f}s: {'ok' if first_s < TARGET_S else 'MISSED'}")
    all_duplicates = second.imported == 0 and second.duplicates == first.imported + first.duplicates
    if not all_duplicates:
        print("error: the second import was not all duplicates", file=sys.stderr)
    return 0 if first_s < TARGET_S and all_duplicates and stored == first.imported else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
