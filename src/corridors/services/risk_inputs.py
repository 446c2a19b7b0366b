"""The reports and zones a risk field is made from: one full read, then changes since.

A *full read* (:func:`read_all`) takes every report that is not retracted and every zone in
force or starting later. A :class:`Delta` then keeps the latest version of each report and
zone changed since; :func:`read_delta` brings it up to date by reading only the rows the
store stamped since its last read (:mod:`corridors.store.changes`), so keeping up costs
what changed, not what is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from corridors.domain import Incident, ReportStatus, Zone
from corridors.store import Database, ReportRepository, ZoneRepository, ZoneRow, zone_to_domain
from corridors.store.changes import ChangeHorizon

__all__ = ["Delta", "FullRead", "Horizon", "ZoneEntry", "read_all", "read_delta", "times_of"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Horizon:
    """Where the next read of changes starts, per table (:mod:`corridors.store.changes`)."""

    reports: ChangeHorizon
    zones: ChangeHorizon


@dataclass(frozen=True, eq=False, slots=True)
class ZoneEntry:
    """A stored zone and its place in the zone list (creation time, then id)."""

    order: tuple[datetime, str]
    zone: Zone


def _entry(row: ZoneRow) -> ZoneEntry:
    return ZoneEntry((row.created_at, row.id), zone_to_domain(row))


@dataclass(frozen=True, eq=False)
class FullRead:
    """Every report and zone that may count at ``read_at`` or later.

    ``incidents``: the reports not retracted, whatever their date, by id; ``zones``: the
    zones not ended and in force at ``read_at`` or starting later, by id; ``zone_list``
    those zones in list order; ``report_times``: sorted instants (s since the epoch) where
    a report starts or stops counting.
    """

    read_at: datetime
    horizon: Horizon
    incidents: dict[str, Incident]
    zones: dict[str, ZoneEntry]
    zone_list: tuple[Zone, ...] = field(init=False)
    report_times: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone_list", _zones_at(self.zones.values(), self.read_at))
        object.__setattr__(self, "report_times", times_of(self.incidents.values(), ()))


@dataclass(frozen=True, eq=False)
class Delta:
    """Reports and zones changed since a full read, as of the last read at ``read_at``.

    ``incidents``: the latest version of each report changed since, ``None`` once
    retracted; ``zones``: the latest version of each zone changed since, ``None`` once
    ended. ``horizon``: where the next read starts.
    """

    read_at: datetime
    horizon: Horizon
    incidents: Mapping[str, Incident | None]
    zones: Mapping[str, ZoneEntry | None]

    @classmethod
    def empty(cls, base: FullRead) -> Delta:
        """No change since ``base``."""
        return cls(base.read_at, base.horizon, {}, {})

    def zones_with(self, base: FullRead, at: datetime) -> tuple[Zone, ...]:
        """The zones of ``base`` with these changes, in force at ``at`` or later, in order."""
        if not self.zones:
            return _zones_at(base.zones.values(), at)
        merged = dict(base.zones)
        for zone_id, entry in self.zones.items():
            if entry is None:
                merged.pop(zone_id, None)
            else:
                merged[zone_id] = entry
        return _zones_at(merged.values(), at)


def _zones_at(entries: Iterable[ZoneEntry], at: datetime) -> tuple[Zone, ...]:
    """The zones of ``entries`` not over at ``at``, in list order."""
    kept = [e for e in entries if e.zone.valid_until is None or e.zone.valid_until > at]
    return tuple(e.zone for e in sorted(kept, key=lambda e: e.order))


def times_of(incidents: Iterable[Incident], zones: Iterable[Zone]) -> FloatArray:
    """Sorted instants (s since the epoch) where a report or zone starts or stops."""
    reports = list(incidents)
    occurred = np.fromiter((i.occurred_at.timestamp() for i in reports), np.float64, len(reports))
    others = [i.expires_at.timestamp() for i in reports if i.expires_at is not None]
    others += [t.timestamp() for z in zones for t in (z.valid_from, z.valid_until) if t is not None]
    return np.sort(np.concatenate([occurred, np.asarray(others, dtype=np.float64)]))


def read_all(db: Database, now: datetime) -> FullRead:
    """A full read of the reports and zones that may count at ``now`` or later."""
    with db.session() as s:
        reports, zones = ReportRepository(s), ZoneRepository(s)
        horizon = Horizon(reports.change_horizon(), zones.change_horizon())
        incidents = reports.active_incidents(None)
        zone_rows = zones.list(at=now)
        entries = {row.id: _entry(row) for row in zone_rows}
    return FullRead(now, horizon, {i.id: i for i in incidents}, entries)


def read_delta(db: Database, delta: Delta, now: datetime) -> Delta:
    """``delta`` with the reports and zones stored since its last read, read at ``now``.

    Only the rows stamped since ``delta.horizon`` are read.
    """
    with db.session() as s:
        reports, zones = ReportRepository(s), ZoneRepository(s)
        horizon = Horizon(reports.change_horizon(), zones.change_horizon())
        changed = reports.changed_since(delta.horizon.reports)
        zone_rows = zones.changed_since(delta.horizon.zones)
        zone_entries = {r.id: None if r.ended_at is not None else _entry(r) for r in zone_rows}
    incidents = dict(delta.incidents)
    for i in changed:
        incidents[i.id] = None if i.status == ReportStatus.retracted else i
    merged_zones = {**delta.zones, **zone_entries}
    return Delta(now, horizon, incidents, merged_zones)
