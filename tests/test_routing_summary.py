"""Route summary on a hand-made street with known lengths and risks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from corridors.graph.geo import haversine_m
from corridors.routing._toygraph import graph_from_edges
from corridors.routing.engine import Piece
from corridors.routing.summary import cut_polyline, summarise


@dataclass
class Risk:
    edge_risk_per_km: np.ndarray
    edge_blocked: np.ndarray

    def contributors(self, edge: int) -> list[tuple[str, float]]:
        return [("rep-b", 0.4), ("rep-a", 0.6)] if self.edge_risk_per_km[edge] > 0 else []


def _line():
    lon = [-72.300, -72.299, -72.298, -72.297]
    lat = [18.55] * 4
    g = graph_from_edges(
        lon,
        lat,
        [0, 1, 2],
        [1, 2, 3],
        [10.0, 10.0, 10.0],
        length_m=[100.0, 100.0, 100.0],
        street_names=["Rue A", "Rue A", "Rue B"],
    )
    return g, lon, lat


def test_summary_known_answers() -> None:
    g, lon, lat = _line()
    risk = Risk(np.array([0.0, 5.0, 1.0]), np.zeros(3, dtype=bool))
    s = summarise(g, risk, [Piece(0, 0.5, 1.0), Piece(1), Piece(2, 0.0, 0.5)], high_risk_per_km=2.0)
    assert s.distance_m == pytest.approx(200.0)
    assert s.duration_s == pytest.approx(20.0)
    assert s.exposure == pytest.approx(5.0 * 0.1 + 1.0 * 0.05)
    assert s.max_edge_risk_per_km == 5.0
    assert s.high_risk_distance_m == pytest.approx(100.0)
    (h,) = s.hotspots
    assert (h.from_m, h.to_m, h.risk_per_km, h.street) == (
        pytest.approx(50.0),
        pytest.approx(150.0),
        5.0,
        "Rue A",
    )
    assert h.report_ids == ("rep-a", "rep-b")
    assert h.start == pytest.approx((lon[1], lat[1]))
    assert h.end == pytest.approx((lon[2], lat[2]))
    a, b = s.steps
    assert (a.street, b.street) == ("Rue A", "Rue B")
    assert a.distance_m == pytest.approx(150.0)
    assert a.risk_per_km == pytest.approx(0.5 / 0.15)
    assert a.max_risk_per_km == 5.0
    assert b.distance_m == pytest.approx(50.0)
    assert sum(x.exposure for x in s.steps) == pytest.approx(s.exposure)
    # Geometry: cut at the middle of the first and last edges, no duplicate vertices.
    assert s.coordinates[0] == pytest.approx([(lon[0] + lon[1]) / 2, lat[0]])
    assert s.coordinates[-1] == pytest.approx([(lon[2] + lon[3]) / 2, lat[0]])
    assert len(s.coordinates) == 4
    assert s.profile.exposure == s.exposure
    assert not s.profile.starts_in_risk
    assert not s.profile.ends_in_risk


def test_starts_in_risk() -> None:
    g, _, _ = _line()
    risk = Risk(np.array([3.0, 0.0, 0.0]), np.zeros(3, dtype=bool))
    s = summarise(g, risk, [Piece(0, 0.2, 0.6)], high_risk_per_km=2.0)
    assert s.profile.starts_in_risk
    assert s.profile.ends_in_risk
    assert s.distance_m == pytest.approx(40.0)


def test_cut_polyline_by_length() -> None:
    lon, lat = [-72.3, -72.3, -72.299], [18.5, 18.501, 18.501]
    leg1 = haversine_m(lon[0], lat[0], lon[1], lat[1])
    leg2 = haversine_m(lon[1], lat[1], lon[2], lat[2])
    total = leg1 + leg2
    pts = cut_polyline(lon, lat, 0.0, 0.5)
    end = pts[-1]
    walked = (
        leg1 + haversine_m(lon[1], lat[1], end[0], end[1])
        if end[0] > lon[0]
        else (haversine_m(lon[0], lat[0], end[0], end[1]))
    )
    assert walked == pytest.approx(total / 2, rel=1e-3)
    assert pts[0] == pytest.approx([lon[0], lat[0]])
