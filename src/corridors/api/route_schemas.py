"""Request and response models of ``/v1/routes`` and ``/v1/escort-assessments``.

Field names are the HTTP contract's (``../shared/design/API.md``); additions are marked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from corridors.domain import (
    CargoKind,
    Convoy,
    EscortRecommendation,
    RiskLevel,
    VehicleClass,
)
from corridors.services.zones import PolygonGeometry

__all__ = [
    "ConvoyIn",
    "EscortAssessmentRequest",
    "EscortAssessmentResponse",
    "EscortOut",
    "LonLatIn",
    "RouteOut",
    "RouteRequest",
    "RoutesResponse",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LonLatIn(_Strict):
    """A WGS84 point."""

    lon: float = Field(ge=-180, le=180, examples=[-72.2925])
    lat: float = Field(ge=-90, le=90, examples=[18.58])

    def pair(self) -> tuple[float, float]:
        """``(lon, lat)``."""
        return (self.lon, self.lat)


class ConvoyIn(_Strict):
    """The convoy: drives the impact side of the escort matrix."""

    vehicles: int = Field(1, ge=1, le=500, description="Number of vehicles.")
    vehicle_class: VehicleClass = VehicleClass.truck
    cargo: CargoKind = CargoKind.food
    armored: bool = Field(False, description="All vehicles armoured.")

    def domain(self) -> Convoy:
        """As the domain type."""
        return Convoy(self.vehicles, self.vehicle_class, self.cargo, self.armored)


class AvoidIn(_Strict):
    """Constraints on the roads a route may use."""

    polygons: list[PolygonGeometry] | PolygonGeometry | None = Field(
        None, description="GeoJSON Polygon/MultiPolygon (or a list) the route must not enter."
    )
    max_edge_risk: float | None = Field(
        None, ge=0, description="Segments with a higher risk per km are not used."
    )

    def polygon_list(self) -> list[PolygonGeometry]:
        """The polygons as a list."""
        if self.polygons is None:
            return []
        return self.polygons if isinstance(self.polygons, list) else [self.polygons]


class RouteRequest(_Strict):
    """A convoy route request."""

    origin: LonLatIn
    destination: LonLatIn
    waypoints: list[LonLatIn] = Field(default_factory=list, max_length=20)
    depart_at: AwareDatetime | None = Field(
        None,
        description="Departure; risk counts only reports that had occurred by then "
        "(replay a past day). Default: now.",
    )
    risk_aversion: float = Field(0.5, ge=0, le=1, description="0 fastest .. 1 safest.")
    alternatives: int = Field(
        0,
        ge=0,
        le=5,
        description="Dissimilar alternatives wanted, at most: each costs at most 1.4 times "
        "the recommended route, shares at most half of its length (and of every other "
        "alternative's), is locally optimal and never visits a place twice. Fewer (or "
        "none) come back where the roads offer no such route; each reports its `overlap`. "
        "Only between two points (no `waypoints`).",
    )
    avoid: AvoidIn = Field(default_factory=AvoidIn)
    convoy: ConvoyIn = Field(default_factory=ConvoyIn)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "origin": {"lon": -72.2925, "lat": 18.5800},
                    "destination": {"lon": -72.3480, "lat": 18.5560},
                    "waypoints": [],
                    "depart_at": "2026-11-24T14:00:00Z",
                    "risk_aversion": 0.8,
                    "alternatives": 2,
                    "avoid": {"polygons": None, "max_edge_risk": None},
                    "convoy": {
                        "vehicles": 4,
                        "vehicle_class": "truck",
                        "cargo": "food",
                        "armored": False,
                    },
                }
            ]
        },
    )


class HotspotOut(BaseModel):
    """A stretch of the route at or above the high-risk threshold."""

    from_m: float = Field(description="Start, metres from the route start.")
    to_m: float = Field(description="End, metres from the route start.")
    risk: float = Field(description="Highest segment risk in the stretch, per km.")
    street: str
    reports: list[str] = Field(description="Ids of the reports that make it risky.")


class RiskOut(BaseModel):
    """Risk along a route."""

    exposure: float = Field(description="Risk integrated along the route (risk/km x km).")
    max_edge_risk: float = Field(description="Highest segment risk on the route, per km.")
    level: RiskLevel = Field(description="Route level from the escort policy's matrix.")
    high_risk_distance_m: float
    hotspots: list[HotspotOut]
    likelihood: int = Field(description="(addition) Likelihood 1..5 of the matrix.")
    impact: int = Field(description="(addition) Impact 1..5 of the matrix.")
    starts_in_risk: bool = Field(description="(addition) The origin lies in a risky area.")
    ends_in_risk: bool = Field(description="(addition) The destination lies in a risky area.")


class EscortSegmentOut(BaseModel):
    """Where the escort must be present, with hand-over points."""

    from_m: float
    to_m: float
    start: list[float] = Field(description="[lon, lat] where the escort joins.")
    end: list[float] = Field(description="[lon, lat] where the escort leaves.")
    streets: list[str]
    reports: list[str]
    risk: float = Field(description="Worst segment risk in the stretch, per km.")
    why: str


class AlternativeConsideredOut(BaseModel):
    """Something tried before (or instead of) an escort, with its figures."""

    kind: str = Field(description="safer_route, departure_shift, police_escort, armed_escort")
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


class EscortOut(BaseModel):
    """The escort requirement (armed escort only as a last resort)."""

    recommendation: EscortRecommendation
    escort_vehicles: int
    armored_required: bool
    daylight_only: bool
    segments: list[EscortSegmentOut]
    rationale: list[str]
    alternatives_considered: list[AlternativeConsideredOut]
    policy_version: str
    recommended: str = Field(
        description="(addition) Which trip the requirement is for: requested_route, "
        "safer_route or departure_shift."
    )
    recommended_depart_at: datetime | None = Field(
        None, description="(addition) The departure the requirement assumes."
    )


class StepOut(BaseModel):
    """A stretch on one street."""

    street: str
    distance_m: float
    duration_s: float
    risk: float = Field(description="Length-weighted mean risk per km.")


class LineStringOut(BaseModel):
    """GeoJSON LineString, [lon, lat]."""

    type: Literal["LineString"] = "LineString"
    coordinates: list[list[float]]


class RouteOut(BaseModel):
    """One route."""

    id: str = Field(description="(addition) Route id for POST /v1/escort-assessments.")
    rank: int
    label: str = Field(description="recommended, alternative or pareto")
    distance_m: float
    duration_s: float
    risk: RiskOut
    escort: EscortOut
    geometry: LineStringOut
    steps: list[StepOut]
    overlap: float = Field(description="(addition) Share of the recommended route's length.")


class ParetoOut(BaseModel):
    """A non-dominated duration-versus-exposure route."""

    duration_s: float
    exposure: float
    route_rank: int


class RiskSnapshotOut(BaseModel):
    """The risk picture the routes were planned on."""

    computed_at: datetime
    reports_considered: int
    model_version: str = Field(description="(addition) Risk model version.")


class GraphRefOut(BaseModel):
    """The graph the routes were planned on."""

    source: str
    demo: bool


class RoutesResponse(BaseModel):
    """Routes, recommended first."""

    routes: list[RouteOut]
    pareto: list[ParetoOut] = Field(
        description="The non-dominated duration-versus-exposure routes, fastest first (at "
        "most 5). A route at most 1 % slower and at most 1 % (plus 0.05 risk x km) more "
        "exposed than one listed is its twin and left out; the recommended route and the "
        "alternatives are never left out as twins."
    )
    risk_snapshot: RiskSnapshotOut
    graph: GraphRefOut


class GeometryIn(_Strict):
    """A GeoJSON LineString."""

    type: Literal["LineString"]
    coordinates: list[list[float]] = Field(min_length=2, max_length=10_000)

    @model_validator(mode="after")
    def _positions(self) -> GeometryIn:
        for i, position in enumerate(self.coordinates):
            if len(position) < 2:
                raise ValueError(f"position {i} needs [lon, lat]")
            lon, lat = position[0], position[1]
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError(f"position {i} is not a WGS84 [lon, lat]")
        return self


class EscortAssessmentRequest(_Strict):
    """Assess a route planned earlier (``route_id``) or drawn elsewhere (``geometry``)."""

    route_id: str | None = Field(None, description="An id from POST /v1/routes.")
    geometry: GeometryIn | None = None
    convoy: ConvoyIn = Field(default_factory=ConvoyIn)
    depart_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_of(self) -> EscortAssessmentRequest:
        if (self.route_id is None) == (self.geometry is None):
            raise ValueError("give exactly one of route_id or geometry")
        return self


class EscortAssessmentResponse(BaseModel):
    """Risk and escort requirement of one route."""

    risk: RiskOut
    escort: EscortOut
    distance_m: float
    duration_s: float
    geometry: LineStringOut


def as_dict(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dict of a model."""
    return model.model_dump(mode="json")
