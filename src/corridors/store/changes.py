"""What changed since a previous read: change stamps and read horizons.

Every insert or update of a report or zone stamps the row's ``change_seq`` (a database
trigger, migration 0003). A reader that wants the rows changed since its last read keeps a
:class:`ChangeHorizon`, taken with :func:`change_horizon` before that read, and next reads
the rows it says may be unseen (:meth:`ChangeHorizon.unseen`):

PostgreSQL
    The stamp is the writing transaction's id. Ids are handed out when a transaction first
    writes, not in commit order, so "above the highest stamp seen" would miss a row that a
    transaction which started early commits late. The horizon is the reader's snapshot
    instead: the transactions it does not see are those still in progress then
    (``pg_snapshot_xip``) and those from its ``xmax`` on; every other one had ended.
SQLite
    The stamp is the table's highest stamp plus one; writers hold the write lock from their
    first write to their commit, so stamps commit in order and the horizon is the highest
    stamp plus one.

Take the horizon *before* reading: rows committed between the two are then read twice
(readers keep the latest version by id), never missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

__all__ = ["ChangeHorizon", "change_horizon"]

_PG_HORIZON = text(
    "SELECT pg_snapshot_xmax(s)::text::bigint,"
    " array(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x)"
    " FROM pg_current_snapshot() AS s"
)


@dataclass(frozen=True, slots=True)
class ChangeHorizon:
    """The stamps a reader may not have seen: ``next`` and above, and ``pending``.

    ``ChangeHorizon(0)`` covers every row.
    """

    next: int
    pending: tuple[int, ...] = ()

    def unseen(self, stamp: InstrumentedAttribute[int]) -> Any:
        """The SQL condition on ``stamp`` selecting the rows changed since the horizon."""
        if not self.pending:
            return stamp >= self.next
        return or_(stamp >= self.next, stamp.in_(self.pending))


def change_horizon(session: Session, stamp: InstrumentedAttribute[int]) -> ChangeHorizon:
    """Where the next read of the rows changed in ``stamp``'s table starts.

    Parameters
    ----------
    session
        The reader's session; call before the read the horizon is for.
    stamp
        The ``change_seq`` column of the table read (``ReportRow.change_seq``).

    Returns
    -------
    ChangeHorizon
        Every row written by a transaction ``session`` does not see yet will match
        :meth:`ChangeHorizon.unseen`.
    """
    if session.get_bind().dialect.name == "postgresql":
        next_id, pending = session.execute(_PG_HORIZON).one()
        return ChangeHorizon(int(next_id), tuple(sorted(int(x) for x in pending)))
    return ChangeHorizon(int(session.scalar(select(func.coalesce(func.max(stamp), 0) + 1)) or 0))
