"""The risk model file: shipped defaults load, bad files name the key and line at fault."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from corridors.config import SHIPPED_DATA_DIR
from corridors.domain import Category, ReportStatus, RiskLevel
from corridors.errors import ConfigError
from corridors.risk.config import load_risk_model, parse_risk_model

MODEL = SHIPPED_DATA_DIR / "risk-model.toml"


def _text() -> str:
    return MODEL.read_text(encoding="utf-8")


def _line_number(text: str, pattern: str, after: str | None = None) -> int:
    lines = text.splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if line.strip() == after)
    return next(i for i in range(start, len(lines)) if re.match(pattern, lines[i])) + 1


def test_shipped_model_loads_and_is_versioned() -> None:
    cfg = load_risk_model(MODEL)
    assert cfg.version
    assert set(cfg.categories) == set(Category)
    # The time scales the issue asks for ("a roadblock fades in hours, an armed clash in days,
    # an abduction hotspot in weeks"), in hours; the violent ones tuned by bench/backtest.py.
    assert cfg.categories[Category.roadblock].half_life_h == 6
    assert cfg.categories[Category.armed_clash].half_life_h == 12 * 24
    assert cfg.categories[Category.abduction].half_life_h == 12 * 7 * 24
    assert cfg.status[ReportStatus.retracted] == 0.0
    assert cfg.status[ReportStatus.verified] == 1.0


def test_lookups_use_defaults_for_missing_grades() -> None:
    cfg = load_risk_model(MODEL)
    assert cfg.reliability_factor(None) == cfg.reliability_factor("F")
    assert cfg.reliability_factor("a") == cfg.reliability.A
    assert cfg.credibility_factor(None) == cfg.credibility["6"]
    assert cfg.credibility_factor(2) == cfg.credibility["2"]
    assert cfg.severity_factor(9) == cfg.severity[5]
    f = cfg.fatalities
    assert f.factor(0) == 1.0
    assert f.factor(10) == pytest.approx(min(f.cap, 1 + f.a * math.log(11)))
    assert f.factor(10**9) == f.cap


def test_level_thresholds() -> None:
    cfg = load_risk_model(MODEL)
    lv = cfg.levels
    assert cfg.level_of(0.0) is RiskLevel.low
    assert cfg.level_of(lv.medium) is RiskLevel.medium
    assert cfg.level_of(lv.high - 1e-9) is RiskLevel.medium
    assert cfg.level_of(lv.high) is RiskLevel.high
    assert cfg.level_of(lv.very_high) is RiskLevel.very_high
    assert cfg.level_of(lv.unacceptable * 10) is RiskLevel.unacceptable


def test_bad_value_names_key_and_line() -> None:
    text = _text()
    bad = re.sub(
        r"(\[categories\.roadblock\][^\[]*?half_life_h = )6\.0", r"\g<1>-1.0", text, count=1
    )
    assert bad != text
    line = _line_number(bad, r"half_life_h = -1\.0")
    with pytest.raises(ConfigError) as info:
        parse_risk_model(bad, source="model.toml")
    message = str(info.value)
    assert "categories.roadblock.half_life_h" in message
    assert f"line {line}" in message
    assert info.value.errors is not None
    assert info.value.errors[0]["line"] == line


def test_missing_category_is_named() -> None:
    text = _text()
    start = text.index("[categories.sniper_fire]")
    end = text.index("[categories.riot]")
    with pytest.raises(ConfigError, match="sniper_fire"):
        parse_risk_model(text[:start] + text[end:])


def test_unknown_key_is_rejected() -> None:
    text = _text().replace("[night]\n", "[night]\nfactr = 2.0\n", 1)
    line = _line_number(text, r"factr = 2\.0")
    with pytest.raises(ConfigError, match=rf"night\.factr \(line {line}\)"):
        parse_risk_model(text)


def test_levels_must_increase() -> None:
    text = _text().replace("high = 1.5", "high = 0.4", 1)
    with pytest.raises(ConfigError, match="levels"):
        parse_risk_model(text)


def test_unknown_timezone() -> None:
    text = _text().replace('timezone = "America/Port-au-Prince"', 'timezone = "Mars/Olympus"')
    with pytest.raises(ConfigError, match=r"night\.timezone"):
        parse_risk_model(text)


def test_invalid_toml_reports_line() -> None:
    text = _text().replace("max_age_half_lives = 5.0", "max_age_half_lives = = 5.0", 1)
    line = _line_number(text, r"max_age_half_lives = = ")
    with pytest.raises(ConfigError, match=rf"line {line}"):
        parse_risk_model(text)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_risk_model(tmp_path / "missing.toml")
