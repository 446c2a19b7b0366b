"""Likelihood, impact and the matrix, checked against the numbers read from the policy file.

Expected values come from the TOML file itself (``RAW``), never from the code under test.
"""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pytest

from corridors.config import SHIPPED_DATA_DIR
from corridors.domain import (
    CargoKind,
    Convoy,
    Hotspot,
    RiskLevel,
    RouteRiskProfile,
    VehicleClass,
)
from corridors.escort import EscortPolicy, impact, likelihood, load_policy, route_level

POLICY_FILE = SHIPPED_DATA_DIR / "escort-policy.toml"
RAW: dict[str, Any] = tomllib.loads(POLICY_FILE.read_text(encoding="utf-8"))
EXPOSURE_T: list[float] = RAW["likelihood"]["exposure_thresholds"]
PEAK_T: list[float] = RAW["likelihood"]["peak_risk_per_km_thresholds"]


@pytest.fixture(scope="module")
def policy() -> EscortPolicy:
    return load_policy(POLICY_FILE)


def _profile(
    exposure: float = 0.0, peak: float = 0.0, hotspot_peak: float = 0.0
) -> RouteRiskProfile:
    hotspots = (Hotspot(100.0, 200.0, hotspot_peak, "Rue Test"),) if hotspot_peak else ()
    return RouteRiskProfile(
        distance_m=5000.0,
        duration_s=600.0,
        exposure=exposure,
        max_edge_risk_per_km=peak,
        high_risk_distance_m=0.0,
        hotspots=hotspots,
    )


def _below(x: float) -> float:
    return math.nextafter(x, 0.0)


def test_no_risk_is_likelihood_one(policy: EscortPolicy) -> None:
    assert likelihood(_profile(), policy) == 1


@pytest.mark.parametrize("i", range(4))
def test_exposure_thresholds_are_inclusive(policy: EscortPolicy, i: int) -> None:
    # Threshold i (0-based) is where likelihood i + 2 starts.
    assert likelihood(_profile(exposure=EXPOSURE_T[i]), policy) == i + 2
    assert likelihood(_profile(exposure=_below(EXPOSURE_T[i])), policy) == i + 1


@pytest.mark.parametrize("i", range(4))
def test_peak_thresholds_are_inclusive(policy: EscortPolicy, i: int) -> None:
    assert likelihood(_profile(peak=PEAK_T[i]), policy) == i + 2
    assert likelihood(_profile(peak=_below(PEAK_T[i])), policy) == i + 1


@pytest.mark.parametrize("i", range(4))
def test_hotspot_risk_counts_as_peak(policy: EscortPolicy, i: int) -> None:
    assert likelihood(_profile(hotspot_peak=PEAK_T[i]), policy) == i + 2


def test_likelihood_is_the_higher_of_exposure_and_peak(policy: EscortPolicy) -> None:
    p = _profile(exposure=EXPOSURE_T[0], peak=PEAK_T[2])
    assert likelihood(p, policy) == 4
    p = _profile(exposure=EXPOSURE_T[3], peak=0.0)
    assert likelihood(p, policy) == 5
    assert likelihood(_profile(exposure=1e9, peak=1e9), policy) == 5


@pytest.mark.parametrize("cargo", list(CargoKind))
def test_impact_per_cargo(policy: EscortPolicy, cargo: CargoKind) -> None:
    # One light vehicle whose class adds nothing: the cargo base alone.
    cls = next(c for c in VehicleClass if RAW["impact"]["vehicle_class"][c.value] == 0)
    expected = RAW["impact"]["cargo"][cargo.value]
    assert impact(Convoy(vehicles=1, vehicle_class=cls, cargo=cargo), policy) == expected


@pytest.mark.parametrize("cls", list(VehicleClass))
def test_impact_per_vehicle_class(policy: EscortPolicy, cls: VehicleClass) -> None:
    base = RAW["impact"]["cargo"]["food"]
    expected = min(5, max(1, base + RAW["impact"]["vehicle_class"][cls.value]))
    assert impact(Convoy(vehicles=1, vehicle_class=cls, cargo=CargoKind.food), policy) == expected


@pytest.mark.parametrize("k", range(len(RAW["impact"]["vehicle_count_thresholds"])))
def test_impact_vehicle_count_thresholds_are_inclusive(policy: EscortPolicy, k: int) -> None:
    n = RAW["impact"]["vehicle_count_thresholds"][k]
    base = RAW["impact"]["cargo"]["food"]
    at = impact(Convoy(vehicles=n, vehicle_class=VehicleClass.car, cargo=CargoKind.food), policy)
    before = impact(
        Convoy(vehicles=n - 1, vehicle_class=VehicleClass.car, cargo=CargoKind.food), policy
    )
    assert at == min(5, base + k + 1)
    assert before == min(5, base + k)


def test_armour_reduces_impact(policy: EscortPolicy) -> None:
    base = RAW["impact"]["cargo"]["cash"]
    red = RAW["impact"]["armored_reduction"]
    plain = Convoy(vehicles=1, vehicle_class=VehicleClass.car, cargo=CargoKind.cash)
    armoured = Convoy(
        vehicles=1, vehicle_class=VehicleClass.car, cargo=CargoKind.cash, armored=True
    )
    assert impact(plain, policy) == base
    assert impact(armoured, policy) == max(1, base - red)
    assert impact(armoured, policy) < impact(plain, policy)


def test_impact_is_clamped_to_one_and_five() -> None:
    raw = tomllib.loads(POLICY_FILE.read_text(encoding="utf-8"))
    raw["impact"]["armored_reduction"] = 4
    policy = EscortPolicy.model_validate(raw)
    small = Convoy(vehicles=1, vehicle_class=VehicleClass.car, cargo=CargoKind.food, armored=True)
    assert impact(small, policy) == 1
    big = Convoy(vehicles=50, vehicle_class=VehicleClass.bus, cargo=CargoKind.personnel)
    assert impact(big, policy) == 5


def _convoy_with_impact(target: int) -> Convoy:
    """A convoy whose impact, computed from the raw file, is ``target``."""
    imp = RAW["impact"]
    for cargo in CargoKind:
        for cls in VehicleClass:
            for n in (1, *imp["vehicle_count_thresholds"]):
                for armored in (False, True):
                    raw = (
                        imp["cargo"][cargo.value]
                        + sum(1 for t in imp["vehicle_count_thresholds"] if n >= t)
                        + imp["vehicle_class"][cls.value]
                        - (imp["armored_reduction"] if armored else 0)
                    )
                    if min(5, max(1, raw)) == target:
                        return Convoy(n, cls, cargo, armored)
    raise AssertionError(f"the policy has no convoy of impact {target}")


def _profile_with_likelihood(target: int) -> RouteRiskProfile:
    return _profile(exposure=0.0 if target == 1 else EXPOSURE_T[target - 2])


@pytest.mark.parametrize("lik", range(1, 6))
@pytest.mark.parametrize("imp", range(1, 6))
def test_decision_table_matches_the_file(policy: EscortPolicy, lik: int, imp: int) -> None:
    convoy = _convoy_with_impact(imp)
    profile = _profile_with_likelihood(lik)
    assert impact(convoy, policy) == imp
    assert likelihood(profile, policy) == lik
    expected = RiskLevel(RAW["matrix"][f"likelihood_{lik}"][imp - 1])
    assert route_level(profile, convoy, policy) == expected


def test_level_at_a_threshold_boundary(policy: EscortPolicy) -> None:
    # Just below the third exposure threshold the route is one likelihood row lower.
    convoy = _convoy_with_impact(3)
    at = route_level(_profile(exposure=EXPOSURE_T[2]), convoy, policy)
    below = route_level(_profile(exposure=_below(EXPOSURE_T[2])), convoy, policy)
    assert at == RiskLevel(RAW["matrix"]["likelihood_4"][2])
    assert below == RiskLevel(RAW["matrix"]["likelihood_3"][2])
