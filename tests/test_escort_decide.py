"""The escort decision: escalation order, sizing, hand-over points, rationale.

Expected values are derived from the policy file's raw numbers (``RAW``) in the test, so a
change to the file changes the expectations with it.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from corridors.config import SHIPPED_DATA_DIR
from corridors.domain import (
    CargoKind,
    Convoy,
    EscortRecommendation,
    Hotspot,
    RiskLevel,
    RouteRiskProfile,
    VehicleClass,
)
from corridors.escort import (
    EscortPolicy,
    assess,
    departure_candidates,
    escort_segments,
    in_daylight,
    load_policy,
    policy_from_toml,
)
from corridors.escort.policy import HandoverRules

POLICY_FILE = SHIPPED_DATA_DIR / "escort-policy.toml"
TEXT = POLICY_FILE.read_text(encoding="utf-8")
RAW: dict[str, Any] = tomllib.loads(TEXT)
LEVELS = [lv.value for lv in RiskLevel]
ESCORT_FROM = RAW["escalation"]["escort_from_level"]
LIMIT = RAW["escalation"]["do_not_travel_residual"]
BUDGET: float = RAW["escalation"]["detour_budget_fraction"]
DAY_START: time = RAW["daylight"]["start_utc"]
DAY_END: time = RAW["daylight"]["end_utc"]
T0 = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> EscortPolicy:
    return load_policy(POLICY_FILE)


# -- independent expectations from the raw file ----------------------------------------------


def rank(level: str) -> int:
    return LEVELS.index(level)


def matrix(raw: dict[str, Any], lik: int, imp: int) -> str:
    return str(raw["matrix"][f"likelihood_{lik}"][imp - 1])


def raw_impact(raw: dict[str, Any], c: Convoy) -> int:
    imp = raw["impact"]
    value = (
        imp["cargo"][c.cargo.value]
        + sum(1 for t in imp["vehicle_count_thresholds"] if c.vehicles >= t)
        + imp["vehicle_class"][c.vehicle_class.value]
        - (imp["armored_reduction"] if c.armored else 0)
    )
    return int(min(5, max(1, value)))


def expected_escort(raw: dict[str, Any], lik: int, imp: int) -> str:
    """The escort table in words: escort for the level, escalate, else do not travel."""
    level = matrix(raw, lik, imp)
    esc = raw["escalation"]
    if rank(level) < rank(esc["escort_from_level"]):
        return "none"
    kinds = ["police_escort", "armed_escort"]
    for kind in kinds[kinds.index(esc["escort_for_level"][level]) :]:
        reduced = max(1, lik - raw["escort"][kind]["likelihood_reduction"])
        if rank(matrix(raw, reduced, imp)) < rank(esc["do_not_travel_residual"]):
            return kind
    return "do_not_travel"


def convoy_with_impact(target: int, cargo: CargoKind | None = None) -> Convoy:
    for cg in [cargo] if cargo else list(CargoKind):
        for cls in VehicleClass:
            for n in (1, 2, *RAW["impact"]["vehicle_count_thresholds"]):
                for armored in (False, True):
                    c = Convoy(n, cls, cg, armored)
                    if raw_impact(RAW, c) == target:
                        return c
    raise LookupError(target)


def find_case(pred: Any) -> tuple[int, int]:
    """First (likelihood, impact) of the matrix satisfying ``pred(lik, imp)``."""
    for lik in range(1, 6):
        for imp in range(1, 6):
            if pred(lik, imp):
                return lik, imp
    raise LookupError("no such case in this policy")


def route(
    lik: int,
    *,
    hotspots: tuple[Hotspot, ...] = (),
    duration_s: float = 1200.0,
    distance_m: float = 8000.0,
    depart_at: datetime | None = T0,
    **kw: Any,
) -> RouteRiskProfile:
    """A profile whose likelihood is ``lik`` through its exposure alone."""
    exposure = 0.0 if lik == 1 else RAW["likelihood"]["exposure_thresholds"][lik - 2]
    return RouteRiskProfile(
        distance_m=distance_m,
        duration_s=duration_s,
        exposure=exposure,
        max_edge_risk_per_km=0.0,
        high_risk_distance_m=0.0,
        hotspots=hotspots,
        depart_at=depart_at,
        **kw,
    )


def never(*_: Any) -> Any:
    raise AssertionError("this step must not be reached")


def daylight_raw(t: datetime) -> bool:
    return DAY_START <= t.astimezone(UTC).time() < DAY_END


DELMAS = Hotspot(
    from_m=1000.0,
    to_m=2200.0,
    # Below the first peak threshold, so that ``route(lik)`` keeps its likelihood.
    risk_per_km=RAW["likelihood"]["peak_risk_per_km_thresholds"][0] / 2,
    street="Route de Delmas",
    report_ids=("r1", "r2", "r3"),
    start=(-72.30, 18.55),
    end=(-72.31, 18.55),
)


# -- step 1: no escort needed ---------------------------------------------------------------


def test_convoy_between_two_safe_places(policy: EscortPolicy) -> None:
    convoy = Convoy(4, VehicleClass.truck, CargoKind.food)
    a = assess(route(1), convoy, policy, find_safer_route=never, try_departure=never)
    req = a.requirement
    assert req.recommendation is EscortRecommendation.none
    assert req.segments == []
    assert req.escort_vehicles == 0
    assert req.armored_required is False
    assert req.alternatives_considered == []
    assert req.policy_version == RAW["policy_version"]
    assert a.recommended == "requested_route"
    assert a.level == RiskLevel(matrix(RAW, 1, raw_impact(RAW, convoy)))
    assert req.rationale, "a planner needs a reason even for no escort"


@pytest.mark.parametrize("lik", range(1, 6))
@pytest.mark.parametrize("imp", range(1, 6))
def test_decision_table(policy: EscortPolicy, lik: int, imp: int) -> None:
    """With no safer route or time, the recommendation follows the escort table."""
    convoy = convoy_with_impact(imp)
    p = route(lik, hotspots=(DELMAS,))
    a = assess(p, convoy, policy, find_safer_route=lambda _b: None, try_departure=lambda _t: p)
    assert (a.likelihood, a.impact) == (lik, imp)
    assert a.requirement.recommendation.value == expected_escort(RAW, lik, imp)
    assert a.level.value == matrix(RAW, lik, imp)


# -- step 2: a safer route ------------------------------------------------------------------


def _escorted_case() -> tuple[int, Convoy]:
    lik, imp = find_case(
        lambda lk, im: (
            expected_escort(RAW, lk, im) in ("police_escort", "armed_escort")
            and rank(matrix(RAW, 1, im)) < rank(ESCORT_FROM)
        )
    )
    return lik, convoy_with_impact(imp)


def test_hotspot_with_a_safe_detour_recommends_the_detour(policy: EscortPolicy) -> None:
    lik, convoy = _escorted_case()
    requested = route(lik, hotspots=(DELMAS,))
    # Exactly at the detour budget: still accepted.
    safer = route(1, duration_s=requested.duration_s * (1 + BUDGET), distance_m=9100.0)
    budgets: list[float] = []

    def find(b: float) -> RouteRiskProfile:
        budgets.append(b)
        return safer

    a = assess(requested, convoy, policy, find_safer_route=find, try_departure=never)
    req = a.requirement
    assert budgets == [BUDGET]
    assert req.recommendation is EscortRecommendation.none
    assert a.recommended == "safer_route"
    assert a.level.value == matrix(RAW, lik, raw_impact(RAW, convoy))
    assert a.recommended_level.value == matrix(RAW, 1, raw_impact(RAW, convoy))
    assert req.segments == []
    [alt] = req.alternatives_considered
    assert alt.kind == "safer_route"
    assert alt.accepted
    assert alt.extra_duration_fraction == pytest.approx(BUDGET)
    assert alt.duration_s == safer.duration_s
    assert alt.distance_m == 9100.0
    assert alt.exposure == safer.exposure
    assert alt.level is not None
    assert alt.level.value == matrix(RAW, 1, raw_impact(RAW, convoy))
    text = " ".join(req.rationale)
    assert "Route de Delmas" in text
    assert "3 reports" in text
    assert f"{BUDGET * 100:.0f} %" in text


def test_detour_over_budget_is_rejected(policy: EscortPolicy) -> None:
    lik, convoy = _escorted_case()
    requested = route(lik, hotspots=(DELMAS,))
    over = requested.duration_s * (1 + BUDGET) * 1.01
    safer = route(1, duration_s=over)
    a = assess(requested, convoy, policy, find_safer_route=lambda _b: safer, try_departure=None)
    alt = a.requirement.alternatives_considered[0]
    assert alt.kind == "safer_route"
    assert not alt.accepted
    assert "budget" in alt.reason
    assert a.requirement.recommendation.value == expected_escort(RAW, lik, raw_impact(RAW, convoy))
    assert a.recommended == "requested_route"


# -- step 3: another departure time ---------------------------------------------------------


def test_no_safer_route_but_a_daylight_window(policy: EscortPolicy) -> None:
    lik, convoy = _escorted_case()
    night = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert not daylight_raw(night)
    requested = route(lik, hotspots=(DELMAS,), depart_at=night)
    safe = route(1)
    tried: list[datetime] = []

    def at(t: datetime) -> RouteRiskProfile:
        tried.append(t)
        return route(1, depart_at=t) if daylight_raw(t) else requested

    a = assess(requested, convoy, policy, find_safer_route=lambda _b: None, try_departure=at)
    # Independently: the offsets plus the next daylight start; the nearest daylight one wins.
    candidates = {night + timedelta(hours=h) for h in RAW["escalation"]["departure_offsets_h"]}
    candidates.add(datetime.combine(night.date(), DAY_START, tzinfo=UTC))
    good = [t for t in candidates if daylight_raw(t)]
    expected = min(good, key=lambda t: abs(t - night))
    assert set(tried) == candidates
    assert a.requirement.recommendation is EscortRecommendation.none
    assert a.recommended == "departure_shift"
    assert a.recommended_depart_at == expected
    assert a.recommended_level.value == matrix(RAW, 1, raw_impact(RAW, convoy))
    shifts = [x for x in a.requirement.alternatives_considered if x.kind == "departure_shift"]
    assert len(shifts) == len(candidates)
    [accepted] = [x for x in shifts if x.accepted]
    assert accepted.depart_at == expected
    assert accepted.shift_s == (expected - night).total_seconds()
    assert accepted.exposure == safe.exposure
    assert any(
        x.kind == "safer_route" and not x.accepted for x in a.requirement.alternatives_considered
    )


def test_departure_step_prefers_the_smallest_shift(policy: EscortPolicy) -> None:
    lik, convoy = _escorted_case()
    requested = route(lik)
    a = assess(
        requested,
        convoy,
        policy,
        find_safer_route=None,
        try_departure=lambda t: route(1, depart_at=t),
    )
    offsets = RAW["escalation"]["departure_offsets_h"]
    smallest = min(offsets, key=lambda h: (abs(h), h))
    assert a.recommended_depart_at == T0 + timedelta(hours=smallest)


def test_departure_times_the_caller_rules_out_are_skipped(policy: EscortPolicy) -> None:
    lik, convoy = _escorted_case()
    requested = route(lik)
    # The caller says the convoy cannot leave before the requested time (it has passed).
    a = assess(
        requested,
        convoy,
        policy,
        find_safer_route=None,
        try_departure=lambda t: None if t < T0 else route(1, depart_at=t),
    )
    shifts = [x for x in a.requirement.alternatives_considered if x.kind == "departure_shift"]
    later = [h for h in RAW["escalation"]["departure_offsets_h"] if h > 0]
    assert shifts
    assert all(x.depart_at is not None and x.depart_at >= T0 for x in shifts)
    assert a.recommended_depart_at == T0 + timedelta(hours=min(later))


# -- step 4: escort -------------------------------------------------------------------------


_ORDER = ["none", "police_escort", "armed_escort", "do_not_travel"]


def test_escort_for_a_later_departure_takes_its_hotspots_when_asked(
    policy: EscortPolicy,
) -> None:
    """Departure profiles may come without hotspots; those of the departure the escort is
    planned for are asked for once, and the escort segments follow them."""
    lik_req, imp = find_case(
        lambda lk, im: any(
            _ORDER.index(expected_escort(RAW, dep, im)) in (1, 2)
            and _ORDER.index(expected_escort(RAW, dep, im))
            < _ORDER.index(expected_escort(RAW, lk, im))
            for dep in range(1, lk)
        )
    )
    lik_dep = next(
        dep
        for dep in range(1, lik_req)
        if _ORDER.index(expected_escort(RAW, dep, imp)) in (1, 2)
        and _ORDER.index(expected_escort(RAW, dep, imp))
        < _ORDER.index(expected_escort(RAW, lik_req, imp))
    )
    later = Hotspot(300.0, 900.0, DELMAS.risk_per_km, "Rue Later", ("r9",), (1.0, 2.0), (3.0, 4.0))
    asked: list[datetime] = []

    def hotspots_then(at: datetime) -> tuple[Hotspot, ...]:
        asked.append(at)
        return (later,)

    a = assess(
        route(lik_req, hotspots=(DELMAS,)),
        convoy_with_impact(imp),
        policy,
        find_safer_route=None,
        try_departure=lambda t: route(lik_dep, depart_at=t),
        departure_hotspots=hotspots_then,
    )
    assert a.recommended == "departure_shift"
    assert a.requirement.recommendation.value == expected_escort(RAW, lik_dep, imp)
    assert asked == [a.recommended_depart_at]
    (segment,) = a.requirement.segments
    assert segment.streets == ("Rue Later",)
    assert segment.report_ids == ("r9",)


def test_no_safe_detour_and_no_safe_time_gives_an_escort(policy: EscortPolicy) -> None:
    lik, convoy = _escorted_case()
    imp = raw_impact(RAW, convoy)
    second = Hotspot(
        2600.0, 2900.0, DELMAS.risk_per_km, "Rue Pavée", ("r4",), (1.0, 1.0), (2.0, 2.0)
    )
    requested = route(lik, hotspots=(DELMAS, second))
    safer = route(lik, duration_s=requested.duration_s * 1.1)  # within budget, still risky
    a = assess(
        requested,
        convoy,
        policy,
        find_safer_route=lambda _b: safer,
        try_departure=lambda _t: requested,
    )
    req = a.requirement
    kind = expected_escort(RAW, lik, imp)
    assert req.recommendation.value == kind
    alts = req.alternatives_considered
    assert alts[0].kind == "safer_route"
    assert not alts[0].accepted
    assert "escort" in alts[0].reason
    assert all(not x.accepted for x in alts if x.kind == "departure_shift")
    assert [x.kind for x in alts if x.accepted] == [kind]
    # Sizing from the file.
    rule = RAW["sizing"][matrix(RAW, lik, imp)]
    n = max(
        rule["min_escort_vehicles"], math.ceil(convoy.vehicles / rule["convoy_vehicles_per_escort"])
    )
    assert req.escort_vehicles == n
    # The two hotspots are closer than the merge gap: one segment, padded both sides.
    gap = second.from_m - DELMAS.to_m
    pad = RAW["handover"]["pad_m"]
    assert gap < RAW["handover"]["merge_gap_m"]
    [seg] = req.segments
    assert seg.from_m == DELMAS.from_m - pad
    assert seg.to_m == second.to_m + pad
    assert seg.streets == ("Route de Delmas", "Rue Pavée")
    assert seg.report_ids == ("r1", "r2", "r3", "r4")
    assert seg.start == DELMAS.start
    assert seg.end == second.end
    assert "IASC" in " ".join(req.rationale)


def test_escort_level_by_level(policy: EscortPolicy) -> None:
    """Each escorted level gets the escort the file names for it (when that suffices)."""
    seen = set()
    for lik in range(1, 6):
        for imp in range(1, 6):
            level = matrix(RAW, lik, imp)
            if rank(level) < rank(ESCORT_FROM) or level in seen:
                continue
            kind = expected_escort(RAW, lik, imp)
            if kind != RAW["escalation"]["escort_for_level"][level]:
                continue
            seen.add(level)
            p = route(lik, hotspots=(DELMAS,))
            a = assess(
                p, convoy_with_impact(imp), policy, find_safer_route=None, try_departure=None
            )
            assert a.requirement.recommendation.value == kind
    assert {"police_escort", "armed_escort"} <= {
        RAW["escalation"]["escort_for_level"][lv] for lv in seen
    }


def test_police_escort_escalates_to_armed_when_not_enough() -> None:
    # A stricter variant of the shipped file: police escorts first at every level.
    lines = TEXT.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("escort_for_level"))
    lines[i] = (
        'escort_for_level = { high = "police_escort", very_high = "police_escort", '
        'unacceptable = "police_escort" }'
    )
    text = "\n".join(lines)
    raw = tomllib.loads(text)
    policy = policy_from_toml(text)
    police = raw["escort"]["police_escort"]["likelihood_reduction"]
    armed = raw["escort"]["armed_escort"]["likelihood_reduction"]

    def escalates(lk: int, im: int) -> bool:
        return (
            rank(matrix(raw, max(1, lk - police), im))
            >= rank(LIMIT)
            > rank(matrix(raw, max(1, lk - armed), im))
        )

    lik, imp = find_case(escalates)
    a = assess(
        route(lik), convoy_with_impact(imp), policy, find_safer_route=None, try_departure=None
    )
    alts = a.requirement.alternatives_considered
    assert [(x.kind, x.accepted) for x in alts] == [
        ("police_escort", False),
        ("armed_escort", True),
    ]
    assert a.requirement.recommendation is EscortRecommendation.armed_escort
    assert alts[1].likelihood == max(1, lik - armed)
    assert alts[1].level is not None
    assert alts[1].level.value == matrix(raw, max(1, lik - armed), imp)


def test_unacceptable_even_with_escort_is_do_not_travel(policy: EscortPolicy) -> None:
    lik, imp = find_case(lambda lk, im: expected_escort(RAW, lk, im) == "do_not_travel")
    convoy = convoy_with_impact(imp)
    p = route(lik, hotspots=(DELMAS,))
    a = assess(p, convoy, policy, find_safer_route=lambda _b: None, try_departure=lambda _t: p)
    req = a.requirement
    assert req.recommendation is EscortRecommendation.do_not_travel
    assert req.escort_vehicles == 0
    assert req.segments == []
    assert req.daylight_only is False
    armed = RAW["escort"]["armed_escort"]["likelihood_reduction"]
    assert a.residual_level.value == matrix(RAW, max(1, lik - armed), imp)
    assert rank(a.residual_level.value) >= rank(LIMIT)
    assert "do not travel" in req.rationale[-1]


def test_cash_convoy_through_the_worst_risk_does_not_travel(policy: EscortPolicy) -> None:
    convoy = Convoy(10, VehicleClass.truck, CargoKind.cash)
    p = route(5)
    a = assess(p, convoy, policy, find_safer_route=None, try_departure=None)
    assert a.requirement.recommendation.value == expected_escort(RAW, 5, raw_impact(RAW, convoy))


def test_a_safer_route_that_lowers_the_escort_is_preferred(policy: EscortPolicy) -> None:
    def pair(lk: int, im: int) -> bool:
        return (
            lk > 1
            and expected_escort(RAW, lk, im) == "armed_escort"
            and expected_escort(RAW, lk - 1, im) == "police_escort"
        )

    lik, imp = find_case(pair)
    convoy = convoy_with_impact(imp)
    requested = route(lik, hotspots=(DELMAS,))
    safer = route(lik - 1, duration_s=requested.duration_s * 1.05)
    a = assess(requested, convoy, policy, find_safer_route=lambda _b: safer, try_departure=None)
    assert a.requirement.recommendation is EscortRecommendation.police_escort
    assert a.recommended == "safer_route"
    assert a.recommended_level.value == matrix(RAW, lik - 1, imp)
    assert a.level.value == matrix(RAW, lik, imp)


@pytest.mark.parametrize("vehicles", [1, 3, 4, 5, 9, 13])
def test_escort_sizing(policy: EscortPolicy, vehicles: int) -> None:
    convoy = Convoy(vehicles, VehicleClass.truck, CargoKind.food)
    imp = raw_impact(RAW, convoy)
    for lik in range(1, 6):
        kind = expected_escort(RAW, lik, imp)
        if kind not in ("police_escort", "armed_escort"):
            continue
        rule = RAW["sizing"][matrix(RAW, lik, imp)]
        a = assess(route(lik), convoy, policy, find_safer_route=None, try_departure=None)
        expected = max(
            rule["min_escort_vehicles"], -(-vehicles // rule["convoy_vehicles_per_escort"])
        )
        assert a.requirement.escort_vehicles == expected


@pytest.mark.parametrize("cargo", list(CargoKind))
def test_armour_and_daylight_rules(policy: EscortPolicy, cargo: CargoKind) -> None:
    for lik in range(1, 6):
        convoy = Convoy(2, VehicleClass.pickup, cargo)
        imp = raw_impact(RAW, convoy)
        kind = expected_escort(RAW, lik, imp)
        level = matrix(RAW, lik, imp)
        a = assess(route(lik), convoy, policy, find_safer_route=None, try_departure=None)
        escorted = kind in ("police_escort", "armed_escort")
        armour = RAW["armour"]
        assert a.requirement.armored_required == (
            escorted
            and (
                rank(level) >= rank(armour["required_from_level"])
                or cargo.value in armour["required_for_cargo"]
            )
        )
        day = RAW["daylight"]
        assert a.requirement.daylight_only == (
            kind != "do_not_travel"
            and (
                rank(level) >= rank(day["only_from_level"]) or cargo.value in day["only_for_cargo"]
            )
        )


def test_night_trip_under_daylight_rule_is_flagged(policy: EscortPolicy) -> None:
    convoy = Convoy(1, VehicleClass.car, CargoKind(RAW["daylight"]["only_for_cargo"][0]))
    night = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    a = assess(route(1, depart_at=night), convoy, policy, find_safer_route=None, try_departure=None)
    assert a.requirement.daylight_only
    assert "not entirely in daylight" in " ".join(a.requirement.rationale)


# -- hand-over points -----------------------------------------------------------------------


def _hs(a: float, b: float, street: str = "Rue A") -> Hotspot:
    return Hotspot(a, b, 1.0, street, (street,), (a, 0.0), (b, 0.0))


PEAKS = RAW["likelihood"]["peak_risk_per_km_thresholds"]


def test_hotspots_closer_than_the_gap_merge() -> None:
    rules = HandoverRules(merge_gap_m=500.0, pad_m=100.0)
    segs = escort_segments([_hs(1000, 1200), _hs(1699, 1800, "Rue B")], 10_000, rules, PEAKS)
    assert [(s.from_m, s.to_m) for s in segs] == [(900.0, 1900.0)]
    assert segs[0].streets == ("Rue A", "Rue B")


def test_the_gap_is_measured_from_the_farthest_end_of_the_group() -> None:
    """A hotspot inside a longer one does not shorten the group: the next one still joins."""
    rules = HandoverRules(merge_gap_m=200.0, pad_m=0.0)
    hotspots = [_hs(0, 1000), _hs(100, 200, "Rue B"), _hs(1100, 1200, "Rue C")]
    segs = escort_segments(hotspots, 10_000, rules, PEAKS)
    assert [(s.from_m, s.to_m) for s in segs] == [(0.0, 1200.0)]
    assert segs[0].streets == ("Rue A", "Rue B", "Rue C")


def test_hotspots_exactly_a_gap_apart_stay_apart() -> None:
    rules = HandoverRules(merge_gap_m=500.0, pad_m=100.0)
    segs = escort_segments([_hs(1000, 1200), _hs(1700, 1800)], 10_000, rules, PEAKS)
    assert [(s.from_m, s.to_m) for s in segs] == [(900.0, 1300.0), (1600.0, 1900.0)]


def test_padding_is_clipped_to_the_route() -> None:
    rules = HandoverRules(merge_gap_m=0.0, pad_m=300.0)
    segs = escort_segments([_hs(100, 200), _hs(4900, 4950)], 5000, rules, PEAKS)
    assert [(s.from_m, s.to_m) for s in segs] == [(0.0, 500.0), (4600.0, 5000.0)]


def test_segments_overlapping_once_padded_merge() -> None:
    rules = HandoverRules(merge_gap_m=100.0, pad_m=200.0)
    segs = escort_segments([_hs(1000, 1100), _hs(1400, 1500)], 10_000, rules, PEAKS)
    assert [(s.from_m, s.to_m) for s in segs] == [(800.0, 1700.0)]


def test_hand_over_points_follow_the_route_when_given() -> None:
    rules = HandoverRules(merge_gap_m=0.0, pad_m=250.0)

    asked: list[list[float]] = []

    def points_at(ds: Sequence[float]) -> list[tuple[float, float]]:
        asked.append(list(ds))
        return [(-72.3 + d / 1e5, 18.5) for d in ds]

    hotspots = [_hs(1000, 1100), _hs(5000, 5100)]
    first, second = escort_segments(hotspots, 10_000, rules, PEAKS, points_at=points_at)
    assert asked == [[750.0, 1350.0, 4750.0, 5350.0]]  # every segment's ends, in one call
    assert (first.start, first.end) == ((-72.3 + 750 / 1e5, 18.5), (-72.3 + 1350 / 1e5, 18.5))
    assert (second.start, second.end) == ((-72.3 + 4750 / 1e5, 18.5), (-72.3 + 5350 / 1e5, 18.5))
    [plain] = escort_segments([_hs(1000, 1100)], 10_000, rules, PEAKS)
    assert (plain.start, plain.end) == ((1000.0, 0.0), (1100.0, 0.0))


def test_no_hotspots_no_segments() -> None:
    assert escort_segments([], 1000, HandoverRules(merge_gap_m=1, pad_m=1), PEAKS) == []


def test_assess_uses_points_at_for_the_requested_route(policy: EscortPolicy) -> None:
    lik, convoy = _escorted_case()
    p = route(lik, hotspots=(DELMAS,))
    a = assess(
        p,
        convoy,
        policy,
        find_safer_route=None,
        try_departure=None,
        points_at=lambda ds: [(d, -d) for d in ds],
    )
    [seg] = a.requirement.segments
    pad = RAW["handover"]["pad_m"]
    assert seg.start == (DELMAS.from_m - pad, -(DELMAS.from_m - pad))


# -- departure candidates ---------------------------------------------------------------------


def test_departure_candidates_by_day(policy: EscortPolicy) -> None:
    offsets = RAW["escalation"]["departure_offsets_h"]
    # In daylight, arriving after dusk: the latest departure arriving at dusk is added.
    dusk = datetime.combine(T0.date(), DAY_END, tzinfo=UTC)
    start = dusk - timedelta(minutes=30)
    duration_s = 3600.0
    got = departure_candidates(start, duration_s, policy)
    expected = {start + timedelta(hours=h) for h in offsets} | {
        dusk - timedelta(seconds=duration_s)
    }
    assert set(got) == expected
    assert start not in got
    shifts = [abs((t - start).total_seconds()) for t in got]
    assert shifts == sorted(shifts)


def test_departure_candidates_by_night(policy: EscortPolicy) -> None:
    night = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert not daylight_raw(night)
    got = departure_candidates(night, 600.0, policy)
    next_start = datetime.combine(night.date() + timedelta(days=1), DAY_START, tzinfo=UTC)
    assert next_start in got
    assert in_daylight(next_start, policy.daylight)


def test_skipped_steps_are_said(policy: EscortPolicy) -> None:
    lik, convoy = _escorted_case()
    a = assess(
        route(lik, depart_at=None), convoy, policy, find_safer_route=None, try_departure=never
    )
    text = " ".join(a.requirement.rationale)
    assert "No safer route was searched" in text
    assert "No other departure time was tried" in text


def test_endpoint_in_risk_is_said(policy: EscortPolicy) -> None:
    convoy = Convoy()
    a = assess(
        route(1, ends_in_risk=True), convoy, policy, find_safer_route=None, try_departure=None
    )
    assert any("destination itself lies in a risky area" in s for s in a.requirement.rationale)


def test_assessment_is_json_serialisable(policy: EscortPolicy) -> None:
    lik, convoy = _escorted_case()
    p = route(lik, hotspots=(DELMAS,))
    a = assess(p, convoy, policy, find_safer_route=lambda _b: None, try_departure=lambda _t: p)
    doc = json.loads(json.dumps(asdict(a), default=str))
    esc = doc["requirement"]
    assert set(esc) >= {
        "recommendation",
        "escort_vehicles",
        "armored_required",
        "daylight_only",
        "segments",
        "rationale",
        "alternatives_considered",
        "policy_version",
    }
    assert esc["segments"][0]["start"] == list(p.hotspots[0].start)
    assert all(isinstance(s, str) for s in esc["rationale"])
