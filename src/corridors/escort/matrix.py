"""The likelihood x impact matrix: from a route and a convoy to a risk level.

Pure functions of a :class:`~corridors.domain.RouteRiskProfile`, a
:class:`~corridors.domain.Convoy` and an :class:`~corridors.escort.policy.EscortPolicy`.
"""

from __future__ import annotations

from collections.abc import Sequence

from corridors.domain import Convoy, RiskLevel, RouteRiskProfile
from corridors.escort.policy import EscortPolicy

__all__ = [
    "exposure_likelihood",
    "impact",
    "likelihood",
    "peak_likelihood",
    "peak_risk_per_km",
    "route_level",
    "scale_step",
]


def scale_step(value: float, thresholds: Sequence[float]) -> int:
    """Step 1..len(thresholds)+1 reached by ``value``: 1 plus the thresholds at or below it."""
    return 1 + sum(1 for t in thresholds if value >= t)


def peak_risk_per_km(profile: RouteRiskProfile) -> float:
    """Worst risk per km on the route: its riskiest segment or hotspot, whichever is higher."""
    return max([profile.max_edge_risk_per_km, *(h.risk_per_km for h in profile.hotspots)])


def exposure_likelihood(profile: RouteRiskProfile, policy: EscortPolicy) -> int:
    """Likelihood 1..5 earned by the route's exposure (risk per km x km) alone."""
    return scale_step(profile.exposure, policy.likelihood.exposure_thresholds)


def peak_likelihood(profile: RouteRiskProfile, policy: EscortPolicy) -> int:
    """Likelihood 1..5 earned by the route's worst stretch (risk per km) alone."""
    return scale_step(peak_risk_per_km(profile), policy.likelihood.peak_risk_per_km_thresholds)


def likelihood(profile: RouteRiskProfile, policy: EscortPolicy) -> int:
    """Likelihood 1..5 that the convoy meets an incident on this route.

    Parameters
    ----------
    profile
        The route's risk profile at its departure time (exposure in risk per km x km,
        ``max_edge_risk_per_km`` and hotspot ``risk_per_km`` in risk per km).
    policy
        The escort policy; its ``likelihood`` thresholds are reached at or above each value.

    Returns
    -------
    int
        The higher of the exposure likelihood and the peak likelihood: a long trip through
        faint risk and a short trip through one bad roadblock are both likely to meet trouble.
    """
    return max(exposure_likelihood(profile, policy), peak_likelihood(profile, policy))


def impact(convoy: Convoy, policy: EscortPolicy) -> int:
    """Impact 1..5 of an incident on this convoy.

    Parameters
    ----------
    convoy
        Cargo, number of vehicles, vehicle class and armour.
    policy
        The escort policy: cargo base impact, one step per vehicle-count threshold reached,
        the vehicle class adjustment, minus ``armored_reduction`` when armoured.

    Returns
    -------
    int
        The sum, clamped to 1..5.
    """
    scale = policy.impact
    raw = (
        scale.cargo[convoy.cargo]
        + sum(1 for t in scale.vehicle_count_thresholds if convoy.vehicles >= t)
        + scale.vehicle_class[convoy.vehicle_class]
        - (scale.armored_reduction if convoy.armored else 0)
    )
    return min(5, max(1, raw))


def route_level(profile: RouteRiskProfile, convoy: Convoy, policy: EscortPolicy) -> RiskLevel:
    """Risk level of this convoy on this route: the matrix at (likelihood, impact).

    Parameters
    ----------
    profile
        The route's risk profile.
    convoy
        The convoy.
    policy
        The escort policy.

    Returns
    -------
    RiskLevel
        ``policy.matrix.level(likelihood(profile), impact(convoy))``.
    """
    return policy.matrix.level(likelihood(profile, policy), impact(convoy, policy))
