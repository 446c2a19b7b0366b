"""Chronic (long-memory) term of the risk model: weights, kernels and explanations by hand."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from corridors.domain import Category, ReportStatus
from corridors.risk.config import parse_risk_model
from corridors.risk.engine import RiskEngine
from test_risk_engine import ACUTE, AT, CFG, edge_xy, hand_risk_per_km, incident, make_graph

# The shipped values, written out (data/risk-model.toml, [chronic] and [categories]).
CHRONIC_WEIGHT = 0.1
CHRONIC_HALF_LIFE_H = 4320.0
CHRONIC_SIGMA_M = 100.0
CHRONIC_U2S = 0.25
CLASH_HALF_LIFE_H = 288.0
CLASH_SIGMA_M = 300.0


def test_shipped_chronic_values() -> None:
    ch = CFG.chronic
    assert (ch.weight, ch.half_life_h, ch.sigma_m, ch.uncertainty_to_sigma) == (
        CHRONIC_WEIGHT, CHRONIC_HALF_LIFE_H, CHRONIC_SIGMA_M, CHRONIC_U2S,
    )  # fmt: skip
    assert ch.max_uncertainty_m == 1000.0
    assert ch.categories == {
        Category.armed_clash, Category.attack, Category.abduction, Category.sexual_violence,
        Category.explosion,
    }  # fmt: skip
    assert ch.enabled
    assert not ACUTE.chronic.enabled


def test_chronic_weight_by_hand() -> None:
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    engine = RiskEngine(g, CFG)
    # Severity 4 (x1.6), B (x0.9), 2 (x0.85), unverified (x0.7): fresh weight 0.8568.
    kw: dict[str, Any] = {"severity": 4, "source_reliability": "B", "credibility": 2,
                          "status": ReportStatus.active}  # fmt: skip
    fresh = 1.6 * 0.9 * 0.85 * 0.7
    young = incident("young", 0, 0, graph=g, age=timedelta(days=10), **kw)
    old = incident("old", 0, 0, graph=g, age=timedelta(days=100), **kw)  # > 5 x 12 days
    ancient = incident("ancient", 0, 0, graph=g, age=timedelta(days=901), **kw)  # > 5 x 180
    road = incident("road", 0, 0, graph=g, category=Category.roadblock, age=timedelta(hours=1))
    vague = incident("vague", 0, 0, graph=g, uncertainty_m=1500.0, **kw)
    incs = [young, old, ancient, road, vague]
    acute = engine.report_weights(incs, at=AT, term="acute")
    chronic = engine.report_weights(incs, at=AT, term="chronic")
    total = engine.report_weights(incs, at=AT)
    assert acute[0] == pytest.approx(fresh * 0.5 ** (240 / 288))
    assert chronic[0] == pytest.approx(0.1 * fresh * 0.5 ** (240 / 4320))
    assert acute[1] == 0.0
    assert chronic[1] == pytest.approx(0.1 * fresh * 0.5 ** (2400 / 4320))
    assert acute[2] == 0.0
    assert chronic[2] == 0.0
    assert acute[3] == pytest.approx(0.8 * 0.5 ** (1 / 6))
    assert chronic[3] == 0.0
    assert acute[4] == pytest.approx(fresh)
    assert chronic[4] == 0.0
    np.testing.assert_allclose(total, acute + chronic)
    field = engine.compute(incs, at=AT)
    assert field.reports_considered == 4  # all but the ancient one
    assert field.report_ids == {"young", "old", "road", "vague"}


def test_chronic_kernel_matches_hand_quadrature() -> None:
    # A 100-day-old clash (chronic term only) and a fresh one (both terms) beside a street.
    g = make_graph([(-600.0, 0.0), (600.0, 0.0)], [(0, 1)])
    engine = RiskEngine(g, CFG)
    old = incident("old", 80.0, 60.0, graph=g, age=timedelta(days=100), uncertainty_m=400.0)
    new = incident("new", -150.0, 120.0, graph=g, uncertainty_m=200.0)
    poly = edge_xy(g, 0)

    def at_point(inc: object, weight: float, sigma: float) -> float:
        px, py = g.projection.to_xy(inc.lon, inc.lat)  # type: ignore[attr-defined]
        return hand_risk_per_km(poly, float(px), float(py), weight, sigma, 3 * sigma, "gaussian")

    sigma_old = math.hypot(100.0, 0.25 * 400.0)
    w_old = 0.1 * 0.5 ** (2400 / 4320)
    expected_old = at_point(old, w_old, sigma_old)
    field = engine.compute([old], at=AT)
    assert field.edge_risk_per_km[0] == pytest.approx(expected_old, rel=1e-6)
    # Fresh: acute kernel (weight 1, sigma sqrt(300^2 + 100^2)) + chronic kernel (weight 0.1,
    # sigma sqrt(100^2 + 50^2)).
    expected_new = at_point(new, 1.0, math.hypot(300.0, 100.0)) + at_point(
        new, 0.1, math.hypot(100.0, 50.0)
    )
    both = engine.compute([old, new], at=AT)
    assert both.edge_risk_per_km[0] == pytest.approx(expected_old + expected_new, rel=1e-6)
    # Explanations: one entry per report, its two kernels summed.
    shares = dict(both.contributors(0, top=5))
    total = expected_old + expected_new
    assert shares == pytest.approx({"new": expected_new / total, "old": expected_old / total})


def test_fresh_roadblock_outweighs_chronic_low_level_violence() -> None:
    """Issue 4: a roadblock reported this morning makes its street riskier than a street
    through a neighbourhood with one ACLED-like clash a month for the past year."""
    g = make_graph([(-75.0, 0.0), (75.0, 0.0)], [(0, 1)])  # a 150 m block, point mid-block
    engine = RiskEngine(g, CFG)
    kw: dict[str, Any] = {"severity": 4, "source_reliability": "B", "credibility": 2,
                          "status": ReportStatus.active, "uncertainty_m": 750.0}  # fmt: skip
    months = [incident(f"m{k}", 0, 0, graph=g, age=timedelta(days=15 + 30 * k), **kw)
              for k in range(12)]  # fmt: skip
    roadblock = incident(
        "rb", 0, 0, graph=g, category=Category.roadblock, age=timedelta(hours=2), severity=3,
        source_reliability="B", credibility=2, status=ReportStatus.active,
    )  # fmt: skip
    poly = edge_xy(g, 0)
    fresh = 1.6 * 0.9 * 0.85 * 0.7
    # By hand: acute terms of the clashes younger than 5 x 12 days, chronic terms of all.
    chronic_by_hand = 0.0
    for k in range(12):
        age_h = 24.0 * (15 + 30 * k)
        if age_h <= 5 * 288.0:
            w = fresh * 0.5 ** (age_h / 288.0)
            s = math.hypot(300.0, 0.5 * 750.0)
            chronic_by_hand += hand_risk_per_km(poly, 0.0, 0.0, w, s, 3 * s, "gaussian")
        w = 0.1 * fresh * 0.5 ** (age_h / 4320.0)
        s = math.hypot(100.0, 0.25 * 750.0)
        chronic_by_hand += hand_risk_per_km(poly, 0.0, 0.0, w, s, 3 * s, "gaussian")
    w_rb = 0.8 * 0.9 * 0.85 * 0.7 * 0.5 ** (2 / 6)
    roadblock_by_hand = hand_risk_per_km(poly, 0.0, 0.0, w_rb, 60.0, 180.0, "gaussian")
    neighbourhood = engine.compute(months, at=AT).edge_risk_per_km[0]
    street = engine.compute([roadblock], at=AT).edge_risk_per_km[0]
    assert neighbourhood == pytest.approx(chronic_by_hand, rel=1e-6)
    assert street == pytest.approx(roadblock_by_hand, rel=1e-6)
    assert street > neighbourhood
    # ... and the levels say so: the roadblock's street is 'high', the neighbourhood 'medium'.
    assert CFG.level_of(street).value == "high"
    assert CFG.level_of(neighbourhood).value == "medium"


def test_chronic_term_config_defaults_off_and_validates() -> None:
    text = (CFG_TEXT := _shipped_text())
    start = text.index("\n[chronic]\n")
    end = text.index("\n# ----", start)
    off = parse_risk_model(text[:start] + text[end:])
    assert not off.chronic.enabled
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    inc = incident("a", 0.0, 30.0, graph=g, age=timedelta(days=100))
    assert RiskEngine(g, off).compute([inc], at=AT).reports_considered == 0
    bad = CFG_TEXT.replace('categories = ["armed_clash"', 'categories = ["gunfire"')
    with pytest.raises(Exception, match=r"chronic\.categories"):
        parse_risk_model(bad)


def test_incremental_chronic_only_report_is_removed_exactly() -> None:
    g = make_graph([(-500.0, 0.0), (500.0, 0.0)], [(0, 1)])
    engine = RiskEngine(g, CFG)
    old = incident("old", 0.0, 30.0, graph=g, age=timedelta(days=200))
    fresh = incident("fresh", 40.0, -20.0, graph=g)
    field = engine.compute([fresh], at=AT)
    grown = engine.updated(field, add=[old])
    full = engine.compute([fresh, old], at=AT)
    np.testing.assert_allclose(grown.edge_risk_per_km, full.edge_risk_per_km, rtol=1e-12)
    assert dict(grown.contributors(0)) == pytest.approx(dict(full.contributors(0)))
    back = engine.updated(grown, remove=["fresh", "old"])
    assert not back.edge_risk_per_km.any()
    assert back.reports_considered == 0
    retracted = engine.updated(grown, add=[replace(old, status=ReportStatus.retracted)])
    np.testing.assert_allclose(retracted.edge_risk_per_km, field.edge_risk_per_km, rtol=1e-9)


def _shipped_text() -> str:
    from corridors.config import SHIPPED_DATA_DIR

    return (SHIPPED_DATA_DIR / "risk-model.toml").read_text(encoding="utf-8")
