"""Escort policy: from a route's risk profile and a convoy to an escort requirement.

Pure code: no web framework, no database, no clock, no routing imports. The caller passes
callbacks for the safer-route and departure-time searches. See ``docs/escort-policy.md``.
"""

from corridors.escort.decide import (
    AlternativeConsidered,
    EscortAssessment,
    EscortRequirement,
    EscortSegment,
    OptionKind,
    assess,
    departure_candidates,
    escort_segments,
    in_daylight,
)
from corridors.escort.matrix import impact, likelihood, route_level
from corridors.escort.policy import EscortPolicy, load_policy, policy_from_toml

__all__ = [
    "AlternativeConsidered",
    "EscortAssessment",
    "EscortPolicy",
    "EscortRequirement",
    "EscortSegment",
    "OptionKind",
    "assess",
    "departure_candidates",
    "escort_segments",
    "impact",
    "in_daylight",
    "likelihood",
    "load_policy",
    "policy_from_toml",
    "route_level",
]
