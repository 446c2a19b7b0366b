"""The escort policy file: the shipped file loads, bad files fail naming the line at fault."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from corridors.config import SHIPPED_DATA_DIR, Settings
from corridors.domain import CargoKind, RiskLevel, VehicleClass
from corridors.errors import ConfigError
from corridors.escort import EscortPolicy, load_policy, policy_from_toml

POLICY_FILE = SHIPPED_DATA_DIR / "escort-policy.toml"
TEXT = POLICY_FILE.read_text(encoding="utf-8")


def _line_no(text: str, line: str) -> int:
    """1-based number of the first line of ``text`` equal to ``line``."""
    return text.splitlines().index(line) + 1


def _replace_line(prefix: str, new: str) -> tuple[str, int]:
    """Replace the shipped line starting with ``prefix`` by ``new``; return text and line no."""
    lines = TEXT.splitlines()
    idx = next(i for i, ln in enumerate(lines) if ln.startswith(prefix))
    lines[idx] = new
    return "\n".join(lines) + "\n", idx + 1


def _error_line(exc: ConfigError) -> int:
    m = re.search(r"line (\d+)", str(exc))
    assert m, f"no line in {exc}"
    return int(m.group(1))


def test_shipped_policy_loads_and_matches_the_file() -> None:
    policy = load_policy(POLICY_FILE)
    raw = tomllib.loads(TEXT)
    assert isinstance(policy, EscortPolicy)
    assert policy.policy_version == raw["policy_version"] != ""
    assert list(policy.likelihood.exposure_thresholds) == raw["likelihood"]["exposure_thresholds"]
    assert {k.value: v for k, v in policy.impact.cargo.items()} == raw["impact"]["cargo"]
    assert set(policy.impact.cargo) == set(CargoKind)
    assert set(policy.impact.vehicle_class) == set(VehicleClass)
    for n in range(1, 6):
        assert [lv.value for lv in getattr(policy.matrix, f"likelihood_{n}")] == (
            raw["matrix"][f"likelihood_{n}"]
        )


def test_settings_point_at_the_shipped_policy() -> None:
    assert Settings().escort_policy_file == POLICY_FILE


def test_policy_is_frozen() -> None:
    policy = load_policy(POLICY_FILE)
    with pytest.raises(ValueError, match="frozen"):
        policy.policy_version = "x"  # type: ignore[misc]


def test_bad_toml_syntax_names_the_line() -> None:
    text, line = _replace_line("merge_gap_m", "merge_gap_m = = 500")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == line


def test_unknown_key_names_the_line() -> None:
    lines = TEXT.splitlines()
    at = lines.index("[handover]") + 1
    lines.insert(at, 'colour = "red"')
    text = "\n".join(lines)
    with pytest.raises(ConfigError, match="unknown key") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == _line_no(text, 'colour = "red"')
    assert "handover.colour" in str(info.value)


def test_unknown_table_names_its_header() -> None:
    text = TEXT + "\n[extras]\nfoo = 1\n"
    with pytest.raises(ConfigError, match="unknown key") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == _line_no(text, "[extras]")


@pytest.mark.parametrize(
    ("prefix", "bad"),
    [
        ("detour_budget_fraction", "detour_budget_fraction = -0.1"),
        ("cash = ", "cash = 7"),
        ("pad_m", "pad_m = -5.0"),
        ("armored_reduction", "armored_reduction = 9"),
        ("heavy_truck", "heavy_truck = 3"),
        ("do_not_travel_residual", 'do_not_travel_residual = "catastrophic"'),
        ("departure_offsets_h", "departure_offsets_h = [0.0, 1.0]"),
        ("policy_version", 'policy_version = ""'),
    ],
)
def test_out_of_range_value_names_the_line(prefix: str, bad: str) -> None:
    text, line = _replace_line(prefix, bad)
    with pytest.raises(ConfigError) as info:
        policy_from_toml(text, source="escort-policy.toml")
    assert _error_line(info.value) == line
    assert str(info.value).startswith("escort-policy.toml, line")


@pytest.mark.parametrize(
    ("prefix", "bad"),
    [
        ("exposure_thresholds", "exposure_thresholds = [0.5, 2.0, 1.0, 8.0]"),
        ("peak_risk_per_km_thresholds", "peak_risk_per_km_thresholds = [1.0, 1.0, 2.0, 4.0]"),
        ("vehicle_count_thresholds", "vehicle_count_thresholds = [10, 5]"),
    ],
)
def test_non_monotonic_thresholds_name_the_line(prefix: str, bad: str) -> None:
    text, line = _replace_line(prefix, bad)
    with pytest.raises(ConfigError, match="increase") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == line


def test_matrix_falling_with_likelihood_names_the_row() -> None:
    bad = 'likelihood_3 = ["low", "low", "low", "low", "low"]'
    text, line = _replace_line("likelihood_3", bad)
    with pytest.raises(ConfigError, match="likelihood grows") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == line


def test_matrix_falling_with_impact_names_the_row() -> None:
    bad = 'likelihood_1 = ["medium", "low", "low", "low", "low"]'
    text, line = _replace_line("likelihood_1", bad)
    with pytest.raises(ConfigError, match="impact grows") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == line


def test_multiline_array_error_names_its_key_line() -> None:
    bad = "exposure_thresholds = [\n  0.5,\n  2.0,\n  2.0,\n  8.0,\n]"
    text, line = _replace_line("exposure_thresholds", bad)
    with pytest.raises(ConfigError) as info:
        policy_from_toml(text)
    assert _error_line(info.value) == line


def test_missing_key_names_its_table() -> None:
    lines = [ln for ln in TEXT.splitlines() if not ln.startswith("pad_m")]
    text = "\n".join(lines)
    with pytest.raises(ConfigError, match="missing key") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == _line_no(text, "[handover]")


def test_escort_for_level_must_cover_every_escorted_level() -> None:
    bad = 'escort_for_level = { high = "police_escort", very_high = "armed_escort" }'
    text, line = _replace_line("escort_for_level", bad)
    with pytest.raises(ConfigError, match="unacceptable") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == line


def test_escort_may_not_get_lighter_as_level_rises() -> None:
    bad = (
        'escort_for_level = { high = "armed_escort", very_high = "police_escort", '
        'unacceptable = "armed_escort" }'
    )
    text, line = _replace_line("escort_for_level", bad)
    with pytest.raises(ConfigError, match="lighter") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == line


def test_unknown_level_inside_inline_table_names_the_line() -> None:
    bad = (
        'escort_for_level = { high = "police_escort", very_high = "armed_escort", '
        'unacceptable = "tank_escort" }'
    )
    text, line = _replace_line("escort_for_level", bad)
    with pytest.raises(ConfigError) as info:
        policy_from_toml(text)
    assert _error_line(info.value) == line


def test_missing_sizing_for_an_escorted_level() -> None:
    lines = TEXT.splitlines()
    start = lines.index("[sizing.unacceptable]")
    del lines[start : start + 3]
    text = "\n".join(lines)
    with pytest.raises(ConfigError, match="sizing") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == _line_no(text, "[sizing.high]")


def test_armed_escort_must_reduce_at_least_as_much_as_police() -> None:
    lines = TEXT.splitlines()
    idx = lines.index("[escort.armed_escort]")
    j = next(i for i in range(idx, len(lines)) if lines[i].startswith("likelihood_reduction"))
    police = tomllib.loads(TEXT)["escort"]["police_escort"]["likelihood_reduction"]
    lines[j] = f"likelihood_reduction = {police}"  # equal is allowed
    policy_from_toml("\n".join(lines))
    if police > 1:
        lines[j] = f"likelihood_reduction = {police - 1}"
        with pytest.raises(ConfigError, match="armed escort must reduce"):
            policy_from_toml("\n".join(lines))


def test_do_not_travel_limit_must_be_above_escort_threshold() -> None:
    raw = tomllib.loads(TEXT)
    start = raw["escalation"]["escort_from_level"]
    text, line = _replace_line("do_not_travel_residual", f'do_not_travel_residual = "{start}"')
    with pytest.raises(ConfigError, match="must be above") as info:
        policy_from_toml(text)
    assert _error_line(info.value) == line


def test_errors_list_every_problem_with_its_line() -> None:
    text, first = _replace_line("detour_budget_fraction", "detour_budget_fraction = 5")
    lines = text.splitlines()
    second = next(i for i, ln in enumerate(lines) if ln.startswith("pad_m")) + 1
    lines[second - 1] = "pad_m = -1.0"
    with pytest.raises(ConfigError) as info:
        policy_from_toml("\n".join(lines))
    assert info.value.errors is not None
    assert {e["line"] for e in info.value.errors} == {first, second}
    assert "1 more" in str(info.value)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "absent.toml")


def test_bad_file_on_disk_names_path_and_line(tmp_path: Path) -> None:
    text, line = _replace_line("merge_gap_m", "merge_gap_m = 50000.0")
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{path}, line {line}:")):
        load_policy(path)


def test_level_words_in_the_matrix_are_the_contract_levels() -> None:
    raw = tomllib.loads(TEXT)
    used = {v for n in range(1, 6) for v in raw["matrix"][f"likelihood_{n}"]}
    assert used <= {lv.value for lv in RiskLevel}


def test_the_planner_doc_shows_the_matrix_of_the_file() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "escort-policy.md").read_text(encoding="utf-8")
    raw = tomllib.loads(TEXT)
    for n in range(1, 6):
        row = next(ln for ln in doc.splitlines() if re.match(rf"\| {n} [a-z ]+\|", ln))
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        assert cells == raw["matrix"][f"likelihood_{n}"], f"docs matrix row {n} is stale"
