"""Browser tests: register the ``browser`` marker (also listed in pyproject when wired)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives Debian's Chromium with Playwright (skipped when absent)"
    )
