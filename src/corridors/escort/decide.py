"""The escort decision, with an armed escort as the last resort.

:func:`assess` follows the IASC Non-Binding Guidelines on the Use of Armed Escorts for
Humanitarian Convoys: an escort is considered only once a safer route (within a detour budget)
and a safer departure time have been tried and found wanting, a police escort comes before an
armed one, and a convoy whose risk stays too high even with an escort does not travel.

The routing and risk layers are not imported: the caller passes callbacks that compute a
:class:`~corridors.domain.RouteRiskProfile` for a safer route or another departure time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Literal

from corridors.domain import (
    Convoy,
    EscortRecommendation,
    Hotspot,
    RiskLevel,
    RouteRiskProfile,
)
from corridors.escort.matrix import (
    exposure_likelihood,
    impact,
    likelihood,
    peak_likelihood,
    peak_risk_per_km,
    scale_step,
)
from corridors.escort.policy import DaylightRules, EscortPolicy, HandoverRules

__all__ = [
    "AlternativeConsidered",
    "EscortAssessment",
    "EscortRequirement",
    "EscortSegment",
    "OptionKind",
    "assess",
    "departure_candidates",
    "escort_segments",
    "in_daylight",
]

#: Which trip an assessment recommends: the route as requested, the safer route returned by
#: ``find_safer_route``, or the requested trip at another departure time (``try_departure``).
OptionKind = Literal["requested_route", "safer_route", "departure_shift"]

#: Words for the peak-risk bands 1..5 of the likelihood scale, used in sentences. The shipped
#: policy puts these bands at the risk model's segment levels, so the words match the map.
_BAND_WORDS = ("low", "medium", "high", "very high", "unacceptable")
_LEVEL_WORDS = {
    RiskLevel.low: "low",
    RiskLevel.medium: "medium",
    RiskLevel.high: "high",
    RiskLevel.very_high: "very high",
    RiskLevel.unacceptable: "unacceptable",
}
_ESCORT_WORDS = {
    EscortRecommendation.police_escort: "a police escort",
    EscortRecommendation.armed_escort: "an armed escort",
}
_ESCORTS = (EscortRecommendation.police_escort, EscortRecommendation.armed_escort)


@dataclass(frozen=True, slots=True)
class EscortSegment:
    """A stretch of the route where the escort must be present.

    ``from_m``/``to_m`` are metres from the route start; ``start``/``end`` the ``(lon, lat)``
    hand-over points where the escort joins and leaves; ``risk_per_km`` the worst hotspot in it.
    """

    from_m: float
    to_m: float
    start: tuple[float, float]
    end: tuple[float, float]
    streets: tuple[str, ...]
    report_ids: tuple[str, ...]
    risk_per_km: float
    why: str


@dataclass(frozen=True, slots=True)
class AlternativeConsidered:
    """One thing tried before (or instead of) an escort, with its figures.

    ``kind`` is ``safer_route``, ``departure_shift``, ``police_escort`` or ``armed_escort``.
    Route figures are ``None`` when nothing was found; for escorts ``level`` is the residual
    level with the escort's likelihood reduction.
    """

    kind: str
    accepted: bool
    reason: str
    depart_at: datetime | None = None
    shift_s: float | None = None
    distance_m: float | None = None
    duration_s: float | None = None
    extra_duration_fraction: float | None = None
    exposure: float | None = None
    max_risk_per_km: float | None = None
    likelihood: int | None = None
    level: RiskLevel | None = None


@dataclass(frozen=True, slots=True)
class EscortRequirement:
    """The ``escort`` object of the HTTP contract."""

    recommendation: EscortRecommendation
    escort_vehicles: int
    armored_required: bool
    daylight_only: bool
    segments: list[EscortSegment] = field(default_factory=list)
    rationale: list[str] = field(default_factory=list)
    alternatives_considered: list[AlternativeConsidered] = field(default_factory=list)
    policy_version: str = ""


@dataclass(frozen=True, slots=True)
class EscortAssessment:
    """The escort decision for one convoy on one route.

    ``level``, ``likelihood`` and ``impact`` describe the route as requested.
    ``recommended`` says which trip the requirement applies to (the caller shows that route
    or that departure time), ``recommended_level`` is that trip's level without escort and
    ``residual_level`` its level with the recommended escort's reduction.
    """

    level: RiskLevel
    likelihood: int
    impact: int
    requirement: EscortRequirement
    recommended: OptionKind
    recommended_depart_at: datetime | None
    recommended_level: RiskLevel
    residual_level: RiskLevel


# -- public helpers -----------------------------------------------------------------------


def in_daylight(at: datetime, daylight: DaylightRules) -> bool:
    """True when ``at`` falls in the policy's daylight window (UTC, start inclusive)."""
    t = _utc(at).time()
    start, end = daylight.start_utc, daylight.end_utc
    if start < end:
        return start <= t < end
    return t >= start or t < end


def departure_candidates(
    depart_at: datetime, duration_s: float, policy: EscortPolicy
) -> list[datetime]:
    """Departure times to try instead of ``depart_at``, nearest shift first.

    Parameters
    ----------
    depart_at
        The requested departure (aware; naive means UTC).
    duration_s
        Trip duration, s, used to find the latest departure that arrives before dusk.
    policy
        Supplies ``escalation.departure_offsets_h`` and, when ``try_daylight_shifts`` is set,
        the daylight window.

    Returns
    -------
    list of datetime
        Distinct UTC times other than ``depart_at``: each offset, plus the next daylight start
        when ``depart_at`` is at night and the latest departure arriving by the end of daylight
        when the requested trip would end after it; sorted by the size of the shift, earlier
        first on a tie.
    """
    base = _utc(depart_at)
    found = {base + timedelta(hours=h) for h in policy.escalation.departure_offsets_h}
    if policy.escalation.try_daylight_shifts:
        day = policy.daylight
        if not in_daylight(base, day):
            found.add(_next_at(base, day.start_utc))
        else:
            dusk = _next_at(base, day.end_utc)
            latest = dusk - timedelta(seconds=duration_s)
            if base + timedelta(seconds=duration_s) > dusk and in_daylight(latest, day):
                found.add(latest)
    found.discard(base)
    return sorted(found, key=lambda t: (abs((t - base).total_seconds()), t))


def escort_segments(
    hotspots: Sequence[Hotspot],
    route_length_m: float,
    handover: HandoverRules,
    peak_thresholds: Sequence[float],
    *,
    points_at: Callable[[Sequence[float]], list[tuple[float, float]]] | None = None,
) -> list[EscortSegment]:
    """Merge and pad hotspots into the stretches where an escort must be present.

    Parameters
    ----------
    hotspots
        The route's hotspots (metres from the route start).
    route_length_m
        Route length, m; padding never goes beyond ``[0, route_length_m]``.
    handover
        ``merge_gap_m``: hotspots separated by less than this gap, m, share a segment;
        ``pad_m``: each segment starts this far before and ends this far after, m. Segments
        that overlap once padded are merged.
    peak_thresholds
        The policy's peak risk per km thresholds, used to word the risk band in ``why``.
    points_at
        Optional ``distances_m -> [(lon, lat), ...]`` along the route, giving the padded
        hand-over points (asked once, for every segment's ends); without it the hand-over
        points are the hotspots' own start and end points.

    Returns
    -------
    list of EscortSegment
        Ordered along the route; empty when there are no hotspots.
    """
    groups: list[list[Hotspot]] = []
    group_end_m = 0.0  # the farthest end of the last group's hotspots
    for h in sorted(hotspots, key=lambda h: (h.from_m, h.to_m)):
        if groups and h.from_m - group_end_m < handover.merge_gap_m:
            groups[-1].append(h)
            group_end_m = max(group_end_m, h.to_m)
        else:
            groups.append([h])
            group_end_m = h.to_m
    padded: list[tuple[float, float, list[Hotspot]]] = []
    for g in groups:
        lo = max(0.0, min(h.from_m for h in g) - handover.pad_m)
        hi = min(route_length_m, max(h.to_m for h in g) + handover.pad_m)
        hi = max(hi, lo)
        if padded and lo <= padded[-1][1]:
            prev = padded[-1]
            padded[-1] = (prev[0], max(prev[1], hi), prev[2] + g)
        else:
            padded.append((lo, hi, list(g)))
    if points_at is not None:
        ends = points_at([m for lo, hi, _ in padded for m in (lo, hi)])
    else:
        ends = [
            p
            for _, _, g in padded
            for p in (min(g, key=lambda h: h.from_m).start, max(g, key=lambda h: h.to_m).end)
        ]
    segments = []
    for k, (lo, hi, g) in enumerate(padded):
        start, end = ends[2 * k], ends[2 * k + 1]
        streets = _unique(h.street for h in g if h.street)
        reports = _unique(r for h in g for r in h.report_ids)
        worst = max(h.risk_per_km for h in g)
        band = _BAND_WORDS[scale_step(worst, peak_thresholds) - 1]
        why = (
            f"{band.capitalize()} risk ({worst:.1f} per km) on {_street_list(streets)}"
            f"{_reports_phrase(len(reports))}; escort from {_dist(lo)} to {_dist(hi)} "
            f"along the route."
        )
        segments.append(
            EscortSegment(
                from_m=lo,
                to_m=hi,
                start=(float(start[0]), float(start[1])),
                end=(float(end[0]), float(end[1])),
                streets=streets,
                report_ids=reports,
                risk_per_km=worst,
                why=why,
            )
        )
    return segments


# -- the decision -------------------------------------------------------------------------


@dataclass(slots=True)
class _Option:
    kind: OptionKind
    profile: RouteRiskProfile
    likelihood: int
    level: RiskLevel
    depart_at: datetime | None
    extra_fraction: float | None = None
    rec: EscortRecommendation = EscortRecommendation.none
    residual: RiskLevel = RiskLevel.low
    escorts_tried: list[tuple[EscortRecommendation, int, RiskLevel]] = field(default_factory=list)


def assess(
    profile: RouteRiskProfile,
    convoy: Convoy,
    policy: EscortPolicy,
    *,
    find_safer_route: Callable[[float], RouteRiskProfile | None] | None,
    try_departure: Callable[[datetime], RouteRiskProfile | None] | None,
    points_at: Callable[[Sequence[float]], list[tuple[float, float]]] | None = None,
    departure_hotspots: Callable[[datetime], tuple[Hotspot, ...]] | None = None,
) -> EscortAssessment:
    """Decide the escort requirement of a convoy on a route, escort as the last resort.

    The steps, in order (IASC guidelines on armed escorts):

    1. The route's level from the likelihood x impact matrix. Below
       ``escalation.escort_from_level``: no escort, done.
    2. ``find_safer_route(detour_budget_fraction)``: a route taking at most that fraction
       longer. If it exists, is within the budget and needs no escort, recommend it.
    3. ``try_departure(t)`` for each of :func:`departure_candidates`. If any trip needs no
       escort, recommend the one with the smallest shift (then the lowest exposure).
    4. Otherwise an escort for the trip that needs the lightest one (requested route first
       on a tie): the escort for its level, escalated from police to armed when the residual
       level (likelihood reduced by the escort) is still at or above
       ``escalation.do_not_travel_residual``; ``do_not_travel`` when even an armed escort
       leaves it there.

    Parameters
    ----------
    profile
        The requested route's risk profile at its departure time.
    convoy
        The convoy.
    policy
        The escort policy.
    find_safer_route
        Callback: detour budget (fraction of extra duration) -> the least-risk route within it,
        or ``None``. ``None`` skips step 2.
    try_departure
        Callback: departure time (aware UTC) -> the route's profile at that time, or ``None``
        when the convoy cannot leave then (e.g. the time has passed): that time is skipped.
        ``None``, or a profile without ``depart_at``, skips step 3.
    points_at
        Optional ``distances_m -> [(lon, lat), ...]`` along the requested route for exact
        hand-over points; other trips use their hotspots' own points.
    departure_hotspots
        Optional callback: departure time -> the route's hotspots then. When given,
        ``try_departure`` may leave a profile's hotspots out (they only place the escort
        segments); they are asked for the departure an escort is planned for.

    Returns
    -------
    EscortAssessment
        The requirement (the contract's ``escort`` object), which trip it applies to, and the
        level, likelihood and impact of the requested route.
    """
    imp = impact(convoy, policy)
    lik = likelihood(profile, policy)
    level = policy.matrix.level(lik, imp)
    requested = _Option("requested_route", profile, lik, level, profile.depart_at)
    esc = policy.escalation
    threshold = esc.escort_from_level
    budget = esc.detour_budget_fraction

    why = _describe_route(profile, policy, lik, "The route")
    why.append(_describe_impact(convoy, policy, imp))
    why.append(
        f"For this convoy the route is {_LEVEL_WORDS[level]} risk: likelihood {lik} of 5 x "
        f"impact {imp} of 5 in the policy matrix."
    )
    why.extend(_endpoint_sentences(profile))

    if level.rank < threshold.rank:
        why.append(
            f"The policy calls for an escort from {_LEVEL_WORDS[threshold]} risk; this trip "
            f"is {_LEVEL_WORDS[level]}, so no escort is needed."
        )
        return _finish(requested, requested, convoy, policy, imp, why, [], points_at)

    alternatives: list[AlternativeConsidered] = []
    options = [requested]

    # Step 2: a safer route within the detour budget.
    if find_safer_route is None:
        why.append("No safer route was searched for.")
    else:
        safer = find_safer_route(budget)
        if safer is None:
            alternatives.append(
                AlternativeConsidered(
                    kind="safer_route",
                    accepted=False,
                    reason=f"no route within the {_pct(budget)} detour budget lowers the risk",
                )
            )
            why.append(f"No safer route was found within the {_pct(budget)} detour budget.")
        else:
            s_lik = likelihood(safer, policy)
            opt = _Option(
                "safer_route",
                safer,
                s_lik,
                policy.matrix.level(s_lik, imp),
                safer.depart_at or profile.depart_at,
                _extra_fraction(safer, profile),
            )
            figures = _route_figures(safer, opt.extra_fraction)
            if opt.extra_fraction is not None and opt.extra_fraction > budget + 1e-9:
                reason = (
                    f"takes {_pct(opt.extra_fraction)} longer, beyond the {_pct(budget)} budget"
                )
                why.append(f"The safer route found ({figures}) {reason}.")
                alternatives.append(_alt(opt, accepted=False, reason=reason))
            elif opt.level.rank >= threshold.rank:
                reason = f"still {_LEVEL_WORDS[opt.level]} risk, which calls for an escort"
                why.append(
                    f"The safest route within the {_pct(budget)} detour budget ({figures}) is "
                    f"{reason}."
                )
                alternatives.append(_alt(opt, accepted=False, reason=reason))
                options.append(opt)
            else:
                reason = f"{_LEVEL_WORDS[opt.level]} risk, no escort needed"
                alternatives.append(_alt(opt, accepted=True, reason=reason))
                why.append(
                    f"A safer route was found within the {_pct(budget)} detour budget "
                    f"({figures}): it is {_LEVEL_WORDS[opt.level]} risk for this convoy. "
                    f"Take it instead of the requested route; no escort is needed."
                )
                why.extend(_describe_route(safer, policy, s_lik, "The safer route")[1:])
                return _finish(opt, requested, convoy, policy, imp, why, alternatives, None)

    # Step 3: another departure time.
    if try_departure is None or profile.depart_at is None:
        why.append("No other departure time was tried (no departure time given).")
    else:
        base = _utc(profile.depart_at)
        shifted: list[_Option] = []
        for t in departure_candidates(base, profile.duration_s, policy):
            p = try_departure(t)
            if p is None:
                continue
            p_lik = likelihood(p, policy)
            shifted.append(
                _Option(
                    "departure_shift",
                    p,
                    p_lik,
                    policy.matrix.level(p_lik, imp),
                    t,
                    _extra_fraction(p, profile),
                )
            )
        good = [o for o in shifted if o.level.rank < threshold.rank]
        chosen = (
            min(good, key=lambda o: (abs(_shift_s(o, base)), o.profile.exposure)) if good else None
        )
        for o in shifted:
            if o is chosen:
                reason = f"{_LEVEL_WORDS[o.level]} risk, no escort needed"
            elif o.level.rank < threshold.rank:
                reason = f"{_LEVEL_WORDS[o.level]} risk too, but a larger shift"
            else:
                reason = f"still {_LEVEL_WORDS[o.level]} risk, which calls for an escort"
            alternatives.append(_alt(o, accepted=o is chosen, reason=reason, base=base))
        if chosen is not None:
            why.append(
                f"Leaving at {_clock(chosen.depart_at)} ({_shift_words(_shift_s(chosen, base))}) "
                f"instead lowers the risk to {_LEVEL_WORDS[chosen.level]} (exposure "
                f"{chosen.profile.exposure:.1f}): no escort is needed then."
            )
            return _finish(chosen, requested, convoy, policy, imp, why, alternatives, None)
        if shifted:
            span = sorted(_shift_s(o, base) for o in shifted)
            why.append(
                f"None of the {len(shifted)} other departure times tried (from "
                f"{_shift_words(span[0])} to {_shift_words(span[-1])}) brings the risk below "
                f"{_LEVEL_WORDS[threshold]}."
            )
            options.extend(shifted)
        else:
            why.append("The policy lists no other departure time to try.")

    # Step 4: an escort, as a last resort, for the trip needing the lightest one.
    order = list(EscortRecommendation)
    for o in options:
        _choose_escort(o, imp, policy)
    best = min(
        enumerate(options),
        key=lambda io: (order.index(io[1].rec), io[1].residual.rank, io[1].level.rank, io[0]),
    )[1]
    for kind, e_lik, residual in best.escorts_tried:
        ok = best.rec == kind
        limit = esc.do_not_travel_residual
        alternatives.append(
            AlternativeConsidered(
                kind=kind.value,
                accepted=ok,
                reason=(
                    f"lowers likelihood from {best.likelihood} to {e_lik}, leaving "
                    f"{_LEVEL_WORDS[residual]} risk"
                    + ("" if ok else f", at or above the {_LEVEL_WORDS[limit]} limit")
                ),
                depart_at=best.depart_at,
                likelihood=e_lik,
                level=residual,
            )
        )
    if best is not requested:
        label = (
            "the safer route"
            if best.kind == "safer_route"
            else f"the departure at {_clock(best.depart_at)}"
        )
        why.append(
            f"Of the trips considered, {label} ({_LEVEL_WORDS[best.level]} risk) needs the "
            f"lightest protection, so the requirement below applies to it."
        )
    if best.rec == EscortRecommendation.do_not_travel:
        last_kind, _, last_res = best.escorts_tried[-1]
        why.append(
            f"Even with {_ESCORT_WORDS[last_kind]} the risk stays {_LEVEL_WORDS[last_res]}, at "
            f"or above the policy's {_LEVEL_WORDS[esc.do_not_travel_residual]} limit: "
            f"do not travel."
        )
    else:
        first_kind = best.escorts_tried[0][0]
        if first_kind != best.rec:
            why.append(
                f"{_ESCORT_WORDS[first_kind].capitalize()} would still leave "
                f"{_LEVEL_WORDS[best.escorts_tried[0][2]]} risk, so the policy escalates."
            )
        e_lik = best.escorts_tried[-1][1]
        why.append(
            f"As a last resort (IASC guidelines on armed escorts), {_ESCORT_WORDS[best.rec]} is "
            f"required: it lowers the likelihood from {best.likelihood} to {e_lik}, leaving "
            f"{_LEVEL_WORDS[best.residual]} risk."
        )
    if best.kind == "departure_shift" and departure_hotspots and best.depart_at is not None:
        best.profile = replace(best.profile, hotspots=departure_hotspots(best.depart_at))
    return _finish(best, requested, convoy, policy, imp, why, alternatives, points_at)


def _choose_escort(opt: _Option, imp: int, policy: EscortPolicy) -> None:
    """Set ``opt.rec``/``opt.residual``: none below the threshold, else escalate escorts."""
    esc = policy.escalation
    if opt.level.rank < esc.escort_from_level.rank:
        opt.rec, opt.residual = EscortRecommendation.none, opt.level
        return
    first = EscortRecommendation(esc.escort_for_level[opt.level])
    for kind in _ESCORTS[_ESCORTS.index(first) :]:
        e_lik = max(1, opt.likelihood - policy.escort_reduction(kind))
        residual = policy.matrix.level(e_lik, imp)
        opt.escorts_tried.append((kind, e_lik, residual))
        if residual.rank < esc.do_not_travel_residual.rank:
            opt.rec, opt.residual = kind, residual
            return
    opt.rec, opt.residual = EscortRecommendation.do_not_travel, opt.escorts_tried[-1][2]


def _finish(
    best: _Option,
    requested: _Option,
    convoy: Convoy,
    policy: EscortPolicy,
    imp: int,
    why: list[str],
    alternatives: list[AlternativeConsidered],
    points_at: Callable[[Sequence[float]], list[tuple[float, float]]] | None,
) -> EscortAssessment:
    """Size the escort, apply armour/daylight rules and build the assessment."""
    if best.rec == EscortRecommendation.none:
        best.residual = best.level
    rec = best.rec
    escorted = rec in _ESCORTS
    vehicles = 0
    armored = False
    segments: list[EscortSegment] = []
    if escorted:
        rule = policy.sizing[best.level]
        vehicles = max(
            rule.min_escort_vehicles, math.ceil(convoy.vehicles / rule.convoy_vehicles_per_escort)
        )
        why.append(
            f"{vehicles} escort vehicle{'s' if vehicles != 1 else ''} for {convoy.vehicles} "
            f"convoy vehicle{'s' if convoy.vehicles != 1 else ''} (one per "
            f"{rule.convoy_vehicles_per_escort}, at least {rule.min_escort_vehicles} at "
            f"{_LEVEL_WORDS[best.level]} risk)."
        )
        armour = policy.armour
        reasons = []
        if best.level.rank >= armour.required_from_level.rank:
            reasons.append(f"{_LEVEL_WORDS[best.level]} risk")
        if convoy.cargo in armour.required_for_cargo:
            reasons.append(f"{convoy.cargo.value} cargo")
        if reasons:
            armored = True
            have = "they are" if convoy.armored else "this convoy's are not"
            why.append(
                f"The convoy's own vehicles must be armoured ({' and '.join(reasons)}); {have}."
            )
        segments = escort_segments(
            best.profile.hotspots,
            best.profile.distance_m,
            policy.handover,
            policy.likelihood.peak_risk_per_km_thresholds,
            points_at=points_at if best is requested else None,
        )
        if segments:
            why.append(
                f"The escort must be present over {len(segments)} stretch"
                f"{'es' if len(segments) != 1 else ''}, joining "
                f"{_dist(policy.handover.pad_m)} before the trouble and leaving "
                f"{_dist(policy.handover.pad_m)} after it:"
            )
            why.extend(seg.why for seg in segments)
        else:
            why.append("The escort must accompany the convoy over the whole route.")
    daylight = False
    if rec != EscortRecommendation.do_not_travel:
        day = policy.daylight
        reasons = []
        if best.level.rank >= day.only_from_level.rank:
            reasons.append(f"{_LEVEL_WORDS[best.level]} risk")
        if convoy.cargo in day.only_for_cargo:
            reasons.append(f"{convoy.cargo.value} cargo")
        if reasons:
            daylight = True
            why.append(
                f"Travel in daylight only, {_hhmm(day.start_utc)}–{_hhmm(day.end_utc)} UTC "
                f"({' and '.join(reasons)})."
            )
            if best.depart_at is not None:
                arrive = _utc(best.depart_at) + timedelta(seconds=best.profile.duration_s)
                if not (in_daylight(best.depart_at, day) and in_daylight(arrive, day)):
                    why.append(
                        f"The trip leaving at {_clock(best.depart_at)} and arriving at "
                        f"{_clock(arrive)} is not entirely in daylight: move it."
                    )
    requirement = EscortRequirement(
        recommendation=rec,
        escort_vehicles=vehicles,
        armored_required=armored,
        daylight_only=daylight,
        segments=segments,
        rationale=why,
        alternatives_considered=alternatives,
        policy_version=policy.policy_version,
    )
    return EscortAssessment(
        level=requested.level,
        likelihood=requested.likelihood,
        impact=imp,
        requirement=requirement,
        recommended=best.kind,
        recommended_depart_at=best.depart_at,
        recommended_level=best.level,
        residual_level=best.residual,
    )


# -- wording ------------------------------------------------------------------------------


def _describe_route(
    profile: RouteRiskProfile, policy: EscortPolicy, lik: int, subject: str
) -> list[str]:
    peak = peak_risk_per_km(profile)
    out = [
        f"{subject}: {_dist(profile.distance_m)}, {_duration(profile.duration_s)}, risk "
        f"exposure {profile.exposure:.1f}, worst stretch {peak:.1f} risk per km; likelihood "
        f"{lik} of 5 (exposure alone gives {exposure_likelihood(profile, policy)}, the worst "
        f"stretch {peak_likelihood(profile, policy)})."
    ]
    thresholds = policy.likelihood.peak_risk_per_km_thresholds
    for h in sorted(profile.hotspots, key=lambda h: h.from_m):
        band = _BAND_WORDS[scale_step(h.risk_per_km, thresholds) - 1]
        out.append(
            f"The route crosses {_dist(h.to_m - h.from_m)} of {band} risk "
            f"({h.risk_per_km:.1f} per km) on {h.street or 'an unnamed road'}"
            f"{_reports_phrase(len(h.report_ids))}, from {_dist(h.from_m)} after the start."
        )
    return out


def _describe_impact(convoy: Convoy, policy: EscortPolicy, imp: int) -> str:
    scale = policy.impact
    size = sum(1 for t in scale.vehicle_count_thresholds if convoy.vehicles >= t)
    cls = scale.vehicle_class[convoy.vehicle_class]
    parts = [
        f"{convoy.cargo.value} cargo (base {scale.cargo[convoy.cargo]})",
        f"{convoy.vehicles} vehicle{'s' if convoy.vehicles != 1 else ''} ({size:+d})",
        f"{convoy.vehicle_class.value.replace('_', ' ')} ({cls:+d})",
        f"armoured ({-scale.armored_reduction:+d})" if convoy.armored else "not armoured",
    ]
    raw = scale.cargo[convoy.cargo] + size + cls
    raw -= scale.armored_reduction if convoy.armored else 0
    capped = "" if raw == imp else f" = {raw}, kept within 1..5"
    return f"Impact {imp} of 5: {', '.join(parts)}{capped}."


def _endpoint_sentences(profile: RouteRiskProfile) -> list[str]:
    ends = [
        name
        for name, flag in (
            ("origin", profile.starts_in_risk),
            ("destination", profile.ends_in_risk),
        )
        if flag
    ]
    if not ends:
        return []
    both = " and the ".join(ends)
    return [f"The {both} itself lies in a risky area: no other route or departure time avoids it."]


def _alt(
    o: _Option, *, accepted: bool, reason: str, base: datetime | None = None
) -> AlternativeConsidered:
    p = o.profile
    return AlternativeConsidered(
        kind=o.kind,
        accepted=accepted,
        reason=reason,
        depart_at=o.depart_at,
        shift_s=_shift_s(o, base) if base is not None else None,
        distance_m=p.distance_m,
        duration_s=p.duration_s,
        extra_duration_fraction=o.extra_fraction,
        exposure=p.exposure,
        max_risk_per_km=peak_risk_per_km(p),
        likelihood=o.likelihood,
        level=o.level,
    )


def _route_figures(p: RouteRiskProfile, extra: float | None) -> str:
    longer = f", {_pct(extra)} longer" if extra is not None else ""
    return f"{_dist(p.distance_m)}, {_duration(p.duration_s)}{longer}, exposure {p.exposure:.1f}"


def _extra_fraction(p: RouteRiskProfile, ref: RouteRiskProfile) -> float | None:
    if ref.duration_s <= 0:
        return None
    return p.duration_s / ref.duration_s - 1.0


def _shift_s(o: _Option, base: datetime) -> float:
    assert o.depart_at is not None
    return (_utc(o.depart_at) - base).total_seconds()


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _next_at(after: datetime, clock: time) -> datetime:
    """First instant at or after ``after`` (UTC) whose time of day is ``clock``."""
    t = datetime.combine(after.date(), clock, tzinfo=UTC)
    return t if t >= after else t + timedelta(days=1)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _street_list(streets: Sequence[str]) -> str:
    if not streets:
        return "an unnamed road"
    if len(streets) == 1:
        return streets[0]
    return ", ".join(streets[:-1]) + " and " + streets[-1]


def _reports_phrase(n: int) -> str:
    return "" if n == 0 else f" ({n} report{'s' if n != 1 else ''})"


def _dist(m: float) -> str:
    return f"{m:.0f} m" if m < 1000 else f"{m / 1000:.1f} km"


def _duration(s: float) -> str:
    minutes = round(s / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.0f} %"


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M")


def _clock(at: datetime | None) -> str:
    return "an unknown time" if at is None else _utc(at).strftime("%Y-%m-%d %H:%M UTC")


def _shift_words(shift_s: float) -> str:
    minutes = round(abs(shift_s) / 60)
    h, m = divmod(minutes, 60)
    size = f"{h} h" if m == 0 else (f"{m} min" if h == 0 else f"{h} h {m:02d} min")
    return f"{size} {'later' if shift_s > 0 else 'earlier'}"
