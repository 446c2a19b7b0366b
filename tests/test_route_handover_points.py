"""Escort hand-over points along a route's polyline (``services.routes._points_at``)."""

from __future__ import annotations

import numpy as np
import pytest

from corridors.graph.geo import polyline_legs_m
from corridors.services.routes import _points_at

# An L-shaped line: east along the equator, then north.
LINE = np.array([[0.0, 0.0], [0.001, 0.0], [0.003, 0.0], [0.003, 0.002]])


def _lengths_m() -> np.ndarray:
    return polyline_legs_m(LINE[:, 0], LINE[:, 1])


def test_points_are_interpolated_along_the_legs_in_one_call() -> None:
    legs = _lengths_m()
    corner = float(legs[0] + legs[1])
    points_at = _points_at(LINE)
    got = points_at([0.0, legs[0] / 2, corner, corner + legs[2] / 4])
    want = [(0.0, 0.0), (0.0005, 0.0), (0.003, 0.0), (0.003, 0.0005)]
    assert len(got) == len(want)
    for (lon, lat), (wlon, wlat) in zip(got, want, strict=True):
        assert lon == pytest.approx(wlon, abs=1e-12)
        assert lat == pytest.approx(wlat, abs=1e-12)


def test_distances_beyond_the_line_are_clamped_to_its_ends() -> None:
    points_at = _points_at(LINE)
    total = float(_lengths_m().sum())
    assert points_at([-50.0, total + 50.0]) == [(0.0, 0.0), (0.003, 0.002)]
    assert points_at([]) == []
