"""Plain domain types shared by the core, the store and the API.

No framework imports here: these are the words every layer speaks. Times are aware UTC
datetimes; coordinates are WGS84 longitude/latitude in degrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shapely.geometry.base import BaseGeometry

__all__ = [
    "CargoKind",
    "Category",
    "Convoy",
    "EscortRecommendation",
    "Hotspot",
    "Incident",
    "ReportStatus",
    "RiskLevel",
    "Role",
    "RouteRiskProfile",
    "VehicleClass",
    "Zone",
    "ZoneKind",
]


class Category(StrEnum):
    """Incident categories of the HTTP contract."""

    armed_clash = "armed_clash"
    attack = "attack"
    abduction = "abduction"
    sexual_violence = "sexual_violence"
    looting = "looting"
    arson = "arson"
    explosion = "explosion"
    roadblock = "roadblock"
    extortion_checkpoint = "extortion_checkpoint"
    sniper_fire = "sniper_fire"
    riot = "riot"
    protest = "protest"
    other = "other"


class ReportStatus(StrEnum):
    """Lifecycle of a report. Retracted reports stop counting; none is ever deleted."""

    active = "active"
    verified = "verified"
    retracted = "retracted"


class ZoneKind(StrEnum):
    """No-go zones are never crossed; caution zones multiply risk inside them."""

    no_go = "no_go"
    caution = "caution"


class RiskLevel(StrEnum):
    """Ordered route/segment risk levels (compare with :meth:`rank`)."""

    low = "low"
    medium = "medium"
    high = "high"
    very_high = "very_high"
    unacceptable = "unacceptable"

    @property
    def rank(self) -> int:
        """0 for low up to 4 for unacceptable."""
        return _LEVEL_ORDER.index(self)


_LEVEL_ORDER = list(RiskLevel)


class EscortRecommendation(StrEnum):
    """Escort requirement, from least to most restrictive."""

    none = "none"
    police_escort = "police_escort"
    armed_escort = "armed_escort"
    do_not_travel = "do_not_travel"


class Role(StrEnum):
    """API key roles; each includes the ones before it."""

    viewer = "viewer"
    reporter = "reporter"
    analyst = "analyst"
    admin = "admin"

    def includes(self, other: Role) -> bool:
        """True when this role may do what ``other`` may do."""
        return _ROLE_ORDER.index(self) >= _ROLE_ORDER.index(other)


_ROLE_ORDER = list(Role)


class CargoKind(StrEnum):
    """What a convoy carries; drives the impact side of the escort matrix."""

    food = "food"
    medical = "medical"
    fuel = "fuel"
    cash = "cash"
    personnel = "personnel"
    other = "other"


class VehicleClass(StrEnum):
    """Vehicle class of a convoy."""

    car = "car"
    pickup = "pickup"
    van = "van"
    truck = "truck"
    heavy_truck = "heavy_truck"
    bus = "bus"


@dataclass(frozen=True, slots=True)
class Convoy:
    """A convoy to be routed and assessed."""

    vehicles: int = 1
    vehicle_class: VehicleClass = VehicleClass.truck
    cargo: CargoKind = CargoKind.food
    armored: bool = False


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident report as the risk model sees it (no free text, no source names)."""

    id: str
    occurred_at: datetime
    lon: float
    lat: float
    category: Category
    severity: int
    uncertainty_m: float = 0.0
    fatalities: int = 0
    source_reliability: str | None = None
    credibility: int | None = None
    expires_at: datetime | None = None
    status: ReportStatus = ReportStatus.active


@dataclass(frozen=True, slots=True)
class Zone:
    """A no-go or caution area, valid over ``[valid_from, valid_until)``."""

    id: str
    name: str
    kind: ZoneKind
    geometry: BaseGeometry
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    multiplier: float = 1.0

    def active_at(self, at: datetime) -> bool:
        """True when the zone is in force at ``at``."""
        if self.valid_from is not None and at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until


@dataclass(frozen=True, slots=True)
class Hotspot:
    """A stretch of a route whose segment risk is high, measured from the route start.

    ``risk_per_km`` is the highest segment risk in the stretch; ``start``/``end`` are the
    ``(lon, lat)`` points where it begins and ends (escort hand-over points).
    """

    from_m: float
    to_m: float
    risk_per_km: float
    street: str
    report_ids: tuple[str, ...] = ()
    start: tuple[float, float] = (0.0, 0.0)
    end: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class RouteRiskProfile:
    """What the escort policy needs to know about one route at one departure time.

    ``exposure`` is the integral of risk along the route (risk per km x km);
    ``high_risk_distance_m`` the length on segments at or above the high-risk threshold.
    ``starts_in_risk``/``ends_in_risk`` say the origin/destination themselves lie in a
    risky area or caution zone (aid must still reach it).
    """

    distance_m: float
    duration_s: float
    exposure: float
    max_edge_risk_per_km: float
    high_risk_distance_m: float
    hotspots: tuple[Hotspot, ...] = ()
    depart_at: datetime | None = None
    starts_in_risk: bool = False
    ends_in_risk: bool = False
