"""Which OpenStreetMap ways and nodes make a convoy road network.

Pure functions on tag mappings, shared by the file reader and the online fetch, so both
paths apply exactly the same rules.

Ways kept (:func:`way_is_drivable`)
-----------------------------------
- ``highway`` in motorway, trunk, primary, secondary, tertiary (and their ``*_link``),
  unclassified, residential, living_street, road (unknown class, mapped as drivable), and
  service - except ``service`` = parking_aisle, driveway, drive-through, emergency_access;
- ``highway=track`` only with ``include_tracks=True``;
- dropped: ``area=yes``; ``highway`` = construction, proposed, abandoned, disused, razed;
  a ``construction`` tag other than ``no``/``minor``; ``impassable=yes``;
- access for a car/truck: the most specific of ``motorcar`` > ``motor_vehicle`` >
  ``vehicle`` > ``access`` that is tagged decides, so ``access=no`` + ``motor_vehicle=yes``
  is kept. Blocked values: no, private, agricultural, forestry, emergency.

Direction (:func:`way_directions`)
----------------------------------
``oneway`` = yes/true/1 -> forward only; -1/reverse -> backward only; no/false/0 ->
both; ``junction`` = roundabout/circular and ``highway`` = motorway (and motorway_link)
imply forward-only unless ``oneway=no``. ``oneway`` = reversible/alternating (time
dependent) is kept as two-way: a convoy coordinator checks the schedule on the ground.

Barriers (:func:`node_blocks`)
------------------------------
A node tagged ``barrier`` blocks motor vehicles when its value is one of
:data:`BLOCKING_BARRIERS` (bollard, block, jersey_barrier, chain, cycle_barrier,
kissing_gate, stile, turnstile, full-height_turnstile, log, fence, wall, debris, planter,
rope, motorcycle_barrier, bus_trap, sump_buster, hampshire_gate, spikes, ditch), or it
is a gate (:data:`GATE_BARRIERS`) whose access resolves to no/private or that is
``locked=yes``. Passable: lift_gate, toll_booth, cattle_grid, border_control, entrance,
kerb, yes and any other value - unless the node's own access tags say no/private.
Explicit access yes/permissive/destination on the node makes any barrier passable (e.g.
a retractable bollard). The build drops the road segments touching a blocking node,
which splits the way there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

__all__ = [
    "BLOCKING_BARRIERS",
    "DRIVABLE_HIGHWAYS",
    "GATE_BARRIERS",
    "KEPT_WAY_TAGS",
    "OVERPASS_TAGS_NODE",
    "OVERPASS_TAGS_WAY",
    "node_blocks",
    "overpass_filter",
    "parse_maxspeed_kph",
    "way_directions",
    "way_is_drivable",
]

#: Road classes a convoy may use (``track`` is added by ``include_tracks``).
DRIVABLE_HIGHWAYS: frozenset[str] = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "road",
        "service",
    }
)
EXCLUDED_SERVICE: frozenset[str] = frozenset(
    {"parking_aisle", "driveway", "drive-through", "emergency_access"}
)
DEAD_HIGHWAYS: frozenset[str] = frozenset(
    {"construction", "proposed", "abandoned", "disused", "razed"}
)
BLOCKED_ACCESS: frozenset[str] = frozenset(
    {"no", "private", "agricultural", "forestry", "emergency"}
)
OPEN_ACCESS: frozenset[str] = frozenset({"yes", "permissive", "destination", "designated"})
#: Most specific first: the first of these that is tagged decides.
ACCESS_KEYS: tuple[str, ...] = ("motorcar", "motor_vehicle", "vehicle", "access")

#: Barrier values that stop a car or truck whatever their access tags say (unless yes).
BLOCKING_BARRIERS: frozenset[str] = frozenset(
    {
        "bollard",
        "block",
        "jersey_barrier",
        "chain",
        "cycle_barrier",
        "kissing_gate",
        "stile",
        "turnstile",
        "full-height_turnstile",
        "log",
        "fence",
        "wall",
        "debris",
        "planter",
        "rope",
        "motorcycle_barrier",
        "bus_trap",
        "sump_buster",
        "hampshire_gate",
        "spikes",
        "ditch",
    }
)
#: Gates: passable unless their access is no/private or they are locked.
GATE_BARRIERS: frozenset[str] = frozenset(
    {"gate", "swing_gate", "sliding_gate", "wicket_gate", "hinged_gate"}
)

#: Way tags kept on edges.
KEPT_WAY_TAGS: tuple[str, ...] = ("name", "ref", "highway", "surface", "maxspeed", "bridge")
#: Way tags the online fetch must ask osmnx to keep so the rules above can run.
OVERPASS_TAGS_WAY: tuple[str, ...] = (
    *KEPT_WAY_TAGS,
    "oneway",
    "junction",
    "service",
    "access",
    "vehicle",
    "motor_vehicle",
    "motorcar",
    "area",
    "construction",
    "impassable",
)
#: Node tags the online fetch must keep (barriers).
OVERPASS_TAGS_NODE: tuple[str, ...] = (
    "barrier",
    "access",
    "vehicle",
    "motor_vehicle",
    "motorcar",
    "locked",
)

_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
_ONEWAY_NO = frozenset({"no", "false", "0"})
_IMPLIED_ONEWAY_HIGHWAYS = frozenset({"motorway", "motorway_link"})
_IMPLIED_ONEWAY_JUNCTIONS = frozenset({"roundabout", "circular"})


def _access_value(tags: Mapping[str, str]) -> str | None:
    """The motor-vehicle access value of the most specific tagged key, or None."""
    for key in ACCESS_KEYS:
        value = tags.get(key)
        if value is not None:
            # "no;destination"-style lists: the first entry is the general rule.
            return value.split(";")[0].strip().lower()
    return None


def way_is_drivable(tags: Mapping[str, str], *, include_tracks: bool = False) -> bool:
    """Whether a way belongs to the convoy road network.

    Parameters
    ----------
    tags
        The way's OSM tags.
    include_tracks
        Keep ``highway=track`` (agricultural/forest tracks) as well.

    Returns
    -------
    bool
        True when a motor vehicle may drive on the way (see the module docstring).
    """
    highway = tags.get("highway")
    if highway is None:
        return False
    if highway in DEAD_HIGHWAYS:
        return False
    if highway == "track":
        if not include_tracks:
            return False
    elif highway not in DRIVABLE_HIGHWAYS:
        return False
    if highway == "service" and tags.get("service") in EXCLUDED_SERVICE:
        return False
    if tags.get("area") == "yes":
        return False
    construction = tags.get("construction")
    if construction is not None and construction not in ("no", "minor"):
        return False
    if tags.get("impassable") == "yes":
        return False
    access = _access_value(tags)
    return access is None or access not in BLOCKED_ACCESS


def way_directions(tags: Mapping[str, str]) -> tuple[bool, bool]:
    """Which directions of travel a way allows, relative to its node order.

    Parameters
    ----------
    tags
        The way's OSM tags.

    Returns
    -------
    tuple of bool
        ``(forward, backward)``; at least one is True.
    """
    oneway = tags.get("oneway", "").strip().lower()
    if oneway in _ONEWAY_FORWARD:
        return True, False
    if oneway in _ONEWAY_BACKWARD:
        return False, True
    if oneway in _ONEWAY_NO:
        return True, True
    if (
        tags.get("junction") in _IMPLIED_ONEWAY_JUNCTIONS
        or tags.get("highway") in _IMPLIED_ONEWAY_HIGHWAYS
    ):
        return True, False
    return True, True


def node_blocks(tags: Mapping[str, str]) -> bool:
    """Whether a node's barrier stops motor vehicles.

    Parameters
    ----------
    tags
        The node's OSM tags.

    Returns
    -------
    bool
        True for a blocking barrier (see the module docstring for the lists).
    """
    barrier = tags.get("barrier")
    if barrier is None:
        return False
    access = _access_value(tags)
    if access in OPEN_ACCESS:
        return False
    if access in BLOCKED_ACCESS:
        return True
    if barrier in BLOCKING_BARRIERS:
        return True
    if barrier in GATE_BARRIERS:
        return tags.get("locked") == "yes"
    return False


_SPEED_RE = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$")
_MPH_TO_KPH = 1.609344
_KNOT_TO_KPH = 1.852
#: Symbolic maxspeed values (``maxspeed=HT:urban`` style zones): km/h.
_SYMBOLIC_SPEED_KPH: Mapping[str, float] = {
    "walk": 6.0,
    "living_street": 10.0,
    "urban": 50.0,
    "rural": 80.0,
    "motorway": 100.0,
}


def parse_maxspeed_kph(value: str | None) -> float:
    """Parse an OSM ``maxspeed`` value to km/h.

    Parameters
    ----------
    value
        ``"50"``, ``"30 mph"``, ``"50 km/h"``, ``"XX:urban"``, ``"40;60"`` (the lowest
        is used), or None.

    Returns
    -------
    float
        The speed limit in km/h, NaN when absent, ``none``, ``signals`` or unparseable.
    """
    if not value:
        return math.nan
    best = math.nan
    for part in value.split(";"):
        text = part.strip().lower()
        kph = math.nan
        match = _SPEED_RE.match(text)
        if match:
            number = float(match.group(1).replace(",", "."))
            unit = match.group(2)
            if unit == "mph":
                kph = number * _MPH_TO_KPH
            elif unit == "knots":
                kph = number * _KNOT_TO_KPH
            else:
                kph = number
        elif ":" in text:
            kph = _SYMBOLIC_SPEED_KPH.get(text.split(":", 1)[1], math.nan)
        elif text in _SYMBOLIC_SPEED_KPH:
            kph = _SYMBOLIC_SPEED_KPH[text]
        if kph > 0 and not kph >= best:
            best = kph
    return best


def overpass_filter(*, include_tracks: bool = False) -> str:
    """The Overpass QL way filter matching :func:`way_is_drivable` (a superset of it).

    Overpass cannot express "the most specific access key decides", so this filter only
    selects by class and leaves access, areas and construction to :func:`way_is_drivable`
    applied after the download.

    Parameters
    ----------
    include_tracks
        Also select ``highway=track``.

    Returns
    -------
    str
        A filter such as ``["highway"~"^(motorway|...)$"]["service"!~"^(parking_aisle|...)$"]``
        for osmnx's ``custom_filter``.
    """
    classes = sorted(DRIVABLE_HIGHWAYS | ({"track"} if include_tracks else set()))
    services = "|".join(sorted(EXCLUDED_SERVICE))
    return f'["highway"~"^({"|".join(classes)})$"]["area"!~"^yes$"]["service"!~"^({services})$"]'
