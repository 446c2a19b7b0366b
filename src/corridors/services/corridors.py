"""Named corridors: a watched trip whose status follows the risk picture by itself.

A corridor is an origin, a destination, optional waypoints, a convoy and a risk aversion.
Its recommended route, risk and escort requirement are those of ``POST /v1/routes`` for
that trip now, and its status is derived from them:

============  ==========================================================================
status        when
============  ==========================================================================
closed        no route at all (every way blocked, e.g. by no-go zones), or the escort
              assessment says ``do_not_travel``
restricted    an escort is required (``police_escort`` or ``armed_escort``)
caution       no escort, but the route's level is medium or higher, or the route crosses
              a caution zone or a hotspot (a stretch at the high segment-risk level)
open          otherwise
============  ==========================================================================

Status follows new, verified and retracted reports, zone changes and time decay without
any client polling: :class:`CorridorWatcher` listens to the risk state, whose background
thread refreshes after every change (bursts coalesced) and every ``risk_refresh_s``. After
each refresh every live corridor is re-planned on the fresh field (one least-risk query and
one escort assessment each, a few milliseconds); a status change is written with a history
row and a ``corridor.status_changed`` event in one transaction.

Several processes on one database each run a watcher. The change is a compare-and-set
(``status`` still the old one and ``status_changed_at`` not after the field's instant), so
one process records it once and a process with an older risk field cannot undo it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import Histogram

from corridors.domain import CargoKind, Convoy, EscortRecommendation, RiskLevel, VehicleClass
from corridors.errors import InputError, NoRouteError, NotFoundError
from corridors.risk.engine import RiskField
from corridors.services.events import CORRIDOR_STATUS_CHANGED
from corridors.services.keys import Principal
from corridors.store import AuditRepository
from corridors.store.models import CorridorRow, CorridorStatusRow
from corridors.store.repositories import CorridorRepository, EventRepository

if TYPE_CHECKING:
    from corridors.services.routes import RoutesResult
    from corridors.services.runtime import Runtime

__all__ = [
    "CorridorEvaluation",
    "CorridorStatus",
    "CorridorView",
    "CorridorWatcher",
    "archive_corridor",
    "corridor_status",
    "create_corridor",
    "get_corridor",
    "list_corridors",
]

log = logging.getLogger(__name__)

CorridorStatus = Literal["open", "caution", "restricted", "closed"]

_ID_RE = re.compile(r"[0-9a-f-]{1,36}")

#: History rows shown per corridor, newest first.
HISTORY_LIMIT = 50

REEVALUATE_S = Histogram(
    "corridors_corridor_reevaluation_seconds",
    "Re-evaluation of every live corridor after a risk refresh, seconds",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

_ESCORTS = (EscortRecommendation.police_escort, EscortRecommendation.armed_escort)


def corridor_status(
    *,
    no_route: str | None = None,
    recommendation: EscortRecommendation | None = None,
    level: RiskLevel | None = None,
    caution_zones: Sequence[str] = (),
    hotspot_streets: Sequence[str] = (),
) -> tuple[CorridorStatus, str]:
    """The status rule (module docstring) and a one-sentence reason.

    Parameters
    ----------
    no_route
        Why there is no route, or ``None`` when there is one.
    recommendation
        The escort recommendation of the recommended route.
    level
        The recommended route's risk level.
    caution_zones
        Ids of the caution zones the route crosses.
    hotspot_streets
        Streets of the route's hotspots.
    """
    if no_route is not None:
        return "closed", no_route
    if recommendation is EscortRecommendation.do_not_travel:
        return "closed", "Do not travel: the risk stays too high even with an armed escort."
    if recommendation in _ESCORTS:
        assert recommendation is not None
        what = recommendation.value.replace("_", " ")
        return "restricted", f"A {what} is required (route level {_level(level)})."
    reasons: list[str] = []
    if level is not None and level.rank >= RiskLevel.medium.rank:
        reasons.append(f"route level {_level(level)}")
    if caution_zones:
        reasons.append("crosses caution zone(s) " + ", ".join(caution_zones))
    if hotspot_streets:
        streets = ", ".join(dict.fromkeys(s or "unnamed road" for s in hotspot_streets))
        reasons.append(f"hotspot(s) on {streets}")
    if reasons:
        text = "; ".join(reasons)
        return "caution", text[0].upper() + text[1:] + "."
    return "open", f"Route level {_level(level)}, no escort needed."


def _level(level: RiskLevel | None) -> str:
    return "unknown" if level is None else level.value.replace("_", " ")


@dataclass(frozen=True, slots=True)
class CorridorEvaluation:
    """A corridor's trip planned on one risk field, and the status that follows."""

    status: CorridorStatus
    reason: str
    evaluated_at: datetime
    result: RoutesResult | None
    level: RiskLevel | None
    recommendation: EscortRecommendation | None


@dataclass(frozen=True, slots=True)
class CorridorView:
    """What ``GET /v1/corridors/{id}`` shows: the stored corridor, history, evaluation."""

    row: CorridorRow
    history: list[CorridorStatusRow]
    evaluation: CorridorEvaluation


def _convoy_from_json(value: dict[str, Any]) -> Convoy:
    return Convoy(
        vehicles=int(value.get("vehicles", 1)),
        vehicle_class=VehicleClass(value.get("vehicle_class", VehicleClass.truck.value)),
        cargo=CargoKind(value.get("cargo", CargoKind.food.value)),
        armored=bool(value.get("armored", False)),
    )


def _convoy_to_json(convoy: Convoy) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in asdict(convoy).items()}


def evaluate(
    runtime: Runtime,
    *,
    origin: tuple[float, float],
    destination: tuple[float, float],
    waypoints: Sequence[tuple[float, float]],
    convoy: Convoy,
    risk_aversion: float,
    at: datetime,
) -> CorridorEvaluation:
    """Plan a corridor's trip as of ``at`` and derive its status.

    Raises
    ------
    SnapError
        A point is too far from any road (refused when a corridor is created).
    """
    from corridors.services import routes as route_svc  # imports this module's importer

    try:
        result = route_svc.plan(
            runtime,
            origin=origin,
            destination=destination,
            waypoints=waypoints,
            depart_at=at,
            risk_aversion=risk_aversion,
            convoy=convoy,
        )
    except NoRouteError as exc:
        status, reason = corridor_status(no_route=exc.detail)
        return CorridorEvaluation(status, reason, at, None, None, None)
    best = result.routes[0]
    field = result.field
    edges = best.summary.edges
    zones = sorted(
        {
            field.zone_ids[int(field.edge_zone[e])]
            for e in edges
            if field.edge_zone[e] >= 0 and not field.edge_blocked[e]
        }
    )
    recommendation = best.assessment.requirement.recommendation
    status, reason = corridor_status(
        recommendation=recommendation,
        level=best.level,
        caution_zones=zones,
        hotspot_streets=[h.street for h in best.summary.hotspots],
    )
    return CorridorEvaluation(status, reason, at, result, best.level, recommendation)


def _evaluate_row(runtime: Runtime, row: CorridorRow, *, at: datetime) -> CorridorEvaluation:
    try:
        return evaluate(
            runtime,
            origin=(row.origin_lon, row.origin_lat),
            destination=(row.destination_lon, row.destination_lat),
            waypoints=[(float(p[0]), float(p[1])) for p in row.waypoints],
            convoy=_convoy_from_json(row.convoy),
            risk_aversion=row.risk_aversion,
            at=at,
        )
    except InputError as exc:  # e.g. the graph was replaced and a point is off-road now
        status, reason = corridor_status(no_route=exc.detail)
        return CorridorEvaluation(status, reason, at, None, None, None)


class CorridorWatcher:
    """Re-evaluates every corridor after each risk refresh; caches the evaluations.

    Register :meth:`on_refresh` with the risk state (the runtime does).
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._latest: dict[str, CorridorEvaluation] = {}
        self._lock = threading.Lock()

    def on_refresh(self, field: RiskField) -> None:
        """Re-plan every live corridor on ``field``; record and announce status changes."""
        started = time.perf_counter()
        at = field.computed_at
        with self._lock:
            with self.runtime.db.session() as s:
                rows = CorridorRepository(s).live()
            changed = False
            for row in rows:
                evaluation = _evaluate_row(self.runtime, row, at=at)
                self._latest[row.id] = evaluation
                if evaluation.status != row.status:
                    changed |= self._record_change(row, evaluation)
                elif evaluation.reason != row.status_reason:
                    with self.runtime.db.session() as s:
                        CorridorRepository(s).set_reason(
                            row.id, status=row.status, reason=evaluation.reason
                        )
            for gone in set(self._latest) - {r.id for r in rows}:
                del self._latest[gone]
        if changed:
            self.runtime.events.notify()
        REEVALUATE_S.observe(time.perf_counter() - started)

    def _record_change(self, row: CorridorRow, evaluation: CorridorEvaluation) -> bool:
        at = evaluation.evaluated_at
        with self.runtime.db.session() as s:
            EventRepository(s).lock()  # first, before the row lock: one lock order
            done = CorridorRepository(s).change_status(
                row.id,
                expected=row.status,
                status=evaluation.status,
                reason=evaluation.reason,
                at=at,
            )
            if not done:
                return False
            self.runtime.events.emit(
                s,
                CORRIDOR_STATUS_CHANGED,
                {
                    "corridor_id": row.id,
                    "name": row.name,
                    "from": row.status,
                    "to": evaluation.status,
                    "at": at.isoformat().replace("+00:00", "Z"),
                    "reason": evaluation.reason,
                    "escort_recommendation": (
                        evaluation.recommendation.value if evaluation.recommendation else None
                    ),
                    "level": evaluation.level.value if evaluation.level else None,
                },
                at=at,
            )
        log.info(
            "corridor %s (%s): %s -> %s: %s",
            row.id,
            row.name,
            row.status,
            evaluation.status,
            evaluation.reason,
        )
        return True

    def evaluation(self, row: CorridorRow) -> CorridorEvaluation:
        """The corridor's evaluation on the current risk field (cached per field)."""
        at = self.runtime.risk.field.computed_at
        cached = self._latest.get(row.id)
        if cached is not None and cached.evaluated_at == at:
            return cached
        evaluation = _evaluate_row(self.runtime, row, at=at)
        self._latest[row.id] = evaluation
        return evaluation

    def forget(self, corridor_id: str) -> None:
        """Drop a corridor's cached evaluation (archived)."""
        self._latest.pop(corridor_id, None)

    def remember(self, corridor_id: str, evaluation: CorridorEvaluation) -> None:
        """Cache an evaluation made elsewhere (at creation)."""
        self._latest[corridor_id] = evaluation


def create_corridor(
    runtime: Runtime,
    *,
    name: str,
    origin: tuple[float, float],
    destination: tuple[float, float],
    waypoints: Sequence[tuple[float, float]] = (),
    convoy: Convoy | None = None,
    risk_aversion: float = 0.5,
    actor: Principal,
) -> CorridorView:
    """Create a corridor, evaluated at once on the current risk field.

    A corridor without any route is created ``closed`` (it opens when the way clears).

    Parameters
    ----------
    name
        1..200 characters.
    origin, destination, waypoints
        ``(lon, lat)``, degrees.
    convoy
        The convoy; default one food truck.
    risk_aversion
        0 fastest .. 1 safest.
    actor
        The caller (recorded as ``created_by`` and in the audit log).

    Raises
    ------
    InputError
        Empty name or risk aversion outside 0..1.
    SnapError
        A point is farther than ``CORRIDORS_MAX_SNAP_M`` from any road.
    """
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InputError("name: 1 to 200 characters")
    if "\x00" in name or not name.isprintable():
        raise InputError("name: printable characters only")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError("name: not valid Unicode text") from exc
    if not 0.0 <= risk_aversion <= 1.0:
        raise InputError("risk_aversion: between 0 and 1")
    convoy = convoy or Convoy()
    at = runtime.now()
    evaluation = evaluate(
        runtime,
        origin=origin,
        destination=destination,
        waypoints=waypoints,
        convoy=convoy,
        risk_aversion=risk_aversion,
        at=runtime.risk.field.computed_at,
    )
    row = CorridorRow(
        id=str(uuid.uuid4()),
        name=name,
        origin_lon=origin[0],
        origin_lat=origin[1],
        destination_lon=destination[0],
        destination_lat=destination[1],
        waypoints=[[lon, lat] for lon, lat in waypoints],
        convoy=_convoy_to_json(convoy),
        risk_aversion=risk_aversion,
        status=evaluation.status,
        status_reason=evaluation.reason,
        status_changed_at=at,
        created_at=at,
        created_by=actor.name,
        archived_at=None,
    )
    with runtime.db.session() as s:
        corridors = CorridorRepository(s)
        corridors.add(row)
        corridors.add_history(
            row.id, previous=None, status=row.status, reason=evaluation.reason, at=at
        )
        AuditRepository(s).append(
            at=at,
            key_name=actor.name,
            action="corridor.create",
            object_type="corridor",
            object_id=row.id,
            detail={"name": name, "status": row.status},
        )
        history = corridors.history([row.id], limit=HISTORY_LIMIT)[row.id]
    runtime.corridors.remember(row.id, evaluation)
    return CorridorView(row, history, evaluation)


def _require_id(corridor_id: str) -> None:
    # Ids are uuid4 strings; anything else (even NUL bytes, which PostgreSQL refuses to
    # compare) is simply unknown.
    if not _ID_RE.fullmatch(corridor_id):
        raise NotFoundError(f"corridor {corridor_id[:40]!r} not found")


def get_corridor(runtime: Runtime, corridor_id: str) -> CorridorView:
    """A live corridor with its history and current evaluation.

    Raises
    ------
    NotFoundError
        No such corridor, or it is archived.
    """
    _require_id(corridor_id)
    with runtime.db.session() as s:
        corridors = CorridorRepository(s)
        row = corridors.require(corridor_id)
        history = corridors.history([row.id], limit=HISTORY_LIMIT)[row.id]
    return CorridorView(row, history, runtime.corridors.evaluation(row))


def list_corridors(runtime: Runtime) -> list[CorridorView]:
    """Every live corridor, oldest first."""
    with runtime.db.session() as s:
        corridors = CorridorRepository(s)
        rows = corridors.live()
        histories = corridors.history([r.id for r in rows], limit=HISTORY_LIMIT)
    return [CorridorView(r, histories[r.id], runtime.corridors.evaluation(r)) for r in rows]


def archive_corridor(runtime: Runtime, corridor_id: str, *, actor: Principal) -> None:
    """Archive a corridor: it is no longer watched or listed; its rows are kept.

    Raises
    ------
    NotFoundError
        No such corridor, or it is archived already.
    """
    _require_id(corridor_id)
    at = runtime.now()
    with runtime.db.session() as s:
        row = CorridorRepository(s).get(corridor_id)
        if row is None or row.archived_at is not None:
            raise NotFoundError(f"corridor {corridor_id} not found")
        row.archived_at = at
        AuditRepository(s).append(
            at=at,
            key_name=actor.name,
            action="corridor.archive",
            object_type="corridor",
            object_id=corridor_id,
            detail={"name": row.name},
        )
    runtime.corridors.forget(corridor_id)
