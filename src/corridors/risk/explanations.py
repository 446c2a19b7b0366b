"""Report explanations of a risk field's hot segments, computed ahead of the requests.

Which reports make a segment risky is computed on demand
(:meth:`corridors.risk.engine.RiskField.contributors_many`): every report kernel reaching
the segment is integrated again, ~80 us a segment with 100k reports stored, and a route
request explains every high-risk segment of each route it returns. Each full refresh of
the service explains the high-risk segments of its new field once, before installing it
(:meth:`RiskField.warm_explanations`), into an :class:`ExplanationTable`: compact arrays
of ~12 bytes per entry, up to 3 entries a segment, where a dict of Python lists would take
~450 bytes a segment. It is assembled from the arrays each batch of explanation gives
(:class:`Explained`), never from Python lists: at 1M nodes with 100k reports, 1.2M hot
segments as lists took ~500 MB on the way to a 50 MB table. Requests read it as flat
arrays too (:meth:`ExplanationTable.entries`, :class:`Contributors`): a route's hotspots
sum their reports' shares in one pass.

The table belongs to the field it was computed for and to the fields derived from it at
the same instant: adding or removing reports (each derived field marks the segments those
reports reach as *stale*, explained on demand again) or replacing the zones (explanations
are shares of the report-driven risk, before zones). A projection to another instant
(decay changes the shares) starts without one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Contributors", "Explained", "ExplanationTable", "WarmExplanations"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Int32Array = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]

Explanation = list[tuple[str, float]]


@dataclass(frozen=True, eq=False)
class Explained:
    """Explanations of a run of segments as arrays: ``counts[k]`` entries for the k-th
    segment, in order, each a report (an index the explainer maps to an id) and its share,
    strongest first, ties by id."""

    counts: IntArray
    report: IntArray
    shares: FloatArray

    @classmethod
    def empty(cls, segments: int) -> Explained:
        """No entries for ``segments`` segments."""
        return cls(np.zeros(segments, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))

    @classmethod
    def concat(cls, parts: Sequence[Explained]) -> Explained:
        """The explanations of consecutive runs of segments, as one."""
        if not parts:
            return cls.empty(0)
        return cls(
            np.concatenate([p.counts for p in parts]),
            np.concatenate([p.report for p in parts]),
            np.concatenate([p.shares for p in parts]),
        )

    def lists(self, name: Callable[[int], str]) -> list[Explanation]:
        """One list of ``(report id, share)`` per segment; ``name`` maps a report index."""
        return _split([name(r) for r in self.report.tolist()], self.shares, self.counts)


@dataclass(frozen=True, eq=False)
class Contributors:
    """The reports behind a run of edges as flat arrays: ``counts[k]`` entries for the
    k-th edge, in order, each a report (``report``, an index into ``names``) and its share,
    strongest first, ties by id (:meth:`corridors.risk.engine.RiskField.contributor_entries`).
    ``rank`` orders the names by id: ``rank[i] < rank[j]`` when ``names[i] < names[j]``, so
    entries are grouped and ordered as integers and named at the end."""

    counts: IntArray
    report: IntArray
    names: Sequence[str]
    rank: Int32Array
    shares: FloatArray

    @classmethod
    def of_ids(cls, counts: IntArray, ids: Sequence[str], shares: FloatArray) -> Contributors:
        """Entries given by their report ids."""
        names, report = np.unique(np.array(ids, dtype=object), return_inverse=True)
        rank = np.arange(names.shape[0], dtype=np.int32)
        return cls(counts, report.astype(np.int64), names.tolist(), rank, shares)

    @property
    def ids(self) -> list[str]:
        """The report id of each entry."""
        names = self.names
        return [names[i] for i in self.report.tolist()]

    def lists(self) -> list[Explanation]:
        """One list of ``(report id, share)`` per edge."""
        return _split(self.ids, self.shares, self.counts)


def _split(ids: list[str], shares: FloatArray, counts: IntArray) -> list[Explanation]:
    """Consecutive entries cut into one list of ``(id, share)`` per owner (``counts``)."""
    values = shares.tolist()
    out: list[Explanation] = []
    at = 0
    for n in counts.tolist():
        out.append(list(zip(ids[at : at + n], values[at : at + n], strict=True)))
        at += n
    return out


@dataclass(frozen=True, eq=False)
class ExplanationTable:
    """The top ``top`` ``(report id, share)`` of each of ``segments`` (sorted), strongest
    first, ties by id: entries ``ptr[k]:ptr[k + 1]`` belong to ``segments[k]``; an entry is
    a report (index into ``names``) and its share. ``rank`` orders ``names`` by id (as in
    :class:`Contributors`)."""

    top: int
    segments: Int32Array
    ptr: Int32Array
    names: tuple[str, ...]
    rank: Int32Array
    report: Int32Array
    shares: FloatArray

    @classmethod
    def build(
        cls, top: int, segments: IntArray, explained: Explained, names: tuple[str, ...]
    ) -> ExplanationTable:
        """A table of ``explained`` for ``segments`` (sorted, unique); ``names`` maps its
        report indexes to ids."""
        ptr = np.zeros(explained.counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(explained.counts, out=ptr[1:])
        rank = np.empty(len(names), dtype=np.int32)
        rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
        return cls(
            top,
            np.asarray(segments, dtype=np.int32),
            ptr.astype(np.int32),
            names,
            rank,
            explained.report.astype(np.int32),
            np.asarray(explained.shares, dtype=np.float64),
        )

    @property
    def nbytes(self) -> int:
        """Memory the table holds, bytes (the id strings are the field's own)."""
        arrays = (self.segments, self.ptr, self.rank, self.report, self.shares)
        return sum(int(a.nbytes) for a in arrays) + 8 * len(self.names)

    def entries(
        self, segments: IntArray, top: int, usable: BoolArray | None = None
    ) -> tuple[BoolArray, Contributors]:
        """The table's answers for ``segments``: which segments it answers (in the table
        and ``usable``; none when ``top`` is more than it holds), then the entries of those,
        in order (at most ``top`` each)."""
        if top > self.top:
            found = np.zeros(segments.shape[0], dtype=np.bool_)
            return found, self._contributors(np.zeros(0, dtype=np.int64), np.zeros(0, np.int64))
        pos = np.searchsorted(self.segments, segments)
        found = pos < self.segments.shape[0]
        found[found] = self.segments[pos[found]] == segments[found]
        if usable is not None:
            found &= usable
        row = pos[found]
        lo = self.ptr[row].astype(np.int64)
        counts = np.minimum(self.ptr[row + 1] - lo, top)
        # The entries of the found segments, in order: one gather instead of a slice each.
        index = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
        return found, self._contributors(counts, index)

    def _contributors(self, counts: IntArray, index: IntArray) -> Contributors:
        """Entries ``index`` of the table, ``counts[k]`` for the k-th segment."""
        report = self.report[index].astype(np.int64)
        return Contributors(counts, report, self.names, self.rank, self.shares[index])


@dataclass(eq=False)
class WarmExplanations:
    """The explanation table of a field, shared with the fields derived from it.

    Set once, by whoever warms the field first (:meth:`claim` keeps two from both doing
    it; :meth:`release` gives up a claim).
    """

    table: ExplanationTable | None = None
    _claimed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def claim(self) -> bool:
        """True for the first caller only: it is to compute the table."""
        with self._lock:
            if self._claimed:
                return False
            self._claimed = True
            return True

    def release(self) -> None:
        """Give up a claim without a table (cancelled): the next :meth:`claim` succeeds."""
        with self._lock:
            self._claimed = self.table is not None
