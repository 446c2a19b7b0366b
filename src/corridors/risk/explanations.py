"""Report explanations of a risk field's hot segments, computed ahead of the requests.

Which reports make a segment risky is computed on demand
(:meth:`corridors.risk.engine.RiskField.contributors_many`): every report kernel reaching
the segment is integrated again, ~80 us a segment with 100k reports stored, and a route
request explains every high-risk segment of each route it returns. After a full refresh
the service explains the high-risk segments of the new field once, in the background
(:meth:`RiskField.warm_explanations`), into an :class:`ExplanationTable`: compact arrays
of ~12 bytes per entry, up to 3 entries a segment, where a dict of Python lists would take
~450 bytes a segment.

The table belongs to the field it was computed for and to the fields derived from it at
the same instant: adding or removing reports (each derived field marks the segments those
reports reach as *stale*, explained on demand again) or replacing the zones (explanations
are shares of the report-driven risk, before zones). A projection to another instant
(decay changes the shares) starts without one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["ExplanationTable", "WarmExplanations"]

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]

Explanation = list[tuple[str, float]]


@dataclass(frozen=True, eq=False)
class ExplanationTable:
    """The top ``top`` ``(report id, share)`` of each of ``segments`` (sorted), strongest
    first, ties by id: entries ``ptr[k]:ptr[k + 1]`` belong to ``segments[k]``; an entry is
    a report (index into ``names``) and its share."""

    top: int
    segments: Int32Array
    ptr: Int32Array
    names: tuple[str, ...]
    report: Int32Array
    shares: FloatArray

    @classmethod
    def build(
        cls, top: int, segments: IntArray, explained: Sequence[Explanation]
    ) -> ExplanationTable:
        """A table of ``explained[k]`` for ``segments[k]`` (sorted, unique)."""
        counts = np.fromiter(map(len, explained), dtype=np.int64, count=len(explained))
        ptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        index: dict[str, int] = {}
        report = np.fromiter(
            (index.setdefault(rid, len(index)) for entries in explained for rid, _ in entries),
            dtype=np.int32,
            count=int(ptr[-1]),
        )
        shares = np.fromiter(
            (s for entries in explained for _, s in entries), dtype=np.float64, count=int(ptr[-1])
        )
        return cls(
            top,
            np.asarray(segments, dtype=np.int32),
            ptr.astype(np.int32),
            tuple(index),
            report,
            shares,
        )

    @property
    def nbytes(self) -> int:
        """Memory the table holds, bytes (the id strings are the field's own)."""
        arrays = (self.segments, self.ptr, self.report, self.shares)
        return sum(int(a.nbytes) for a in arrays) + 8 * len(self.names)

    def lookup(self, segments: IntArray, top: int) -> list[Explanation | None]:
        """The top ``top`` (at most :attr:`top`) of each segment; None where not in the table."""
        if top > self.top:
            return [None] * int(segments.shape[0])
        pos = np.searchsorted(self.segments, segments)
        found = pos < self.segments.shape[0]
        found[found] = self.segments[pos[found]] == segments[found]
        row = pos[found]
        lo = self.ptr[row]
        counts = np.minimum(self.ptr[row + 1] - lo, top)
        # The entries of the found segments, in order: one gather instead of a slice each.
        index = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
        names = [self.names[i] for i in self.report[index].tolist()]
        shares = self.shares[index].tolist()
        out: list[Explanation | None] = [None] * int(segments.shape[0])
        at = 0
        for k, n in zip(np.flatnonzero(found).tolist(), counts.tolist(), strict=True):
            out[k] = list(zip(names[at : at + n], shares[at : at + n], strict=True))
            at += n
        return out


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
