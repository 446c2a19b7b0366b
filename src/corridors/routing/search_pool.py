"""Search threads that keep RoutingKit query objects from one search to the next.

A RoutingKit query object allocates and fills labels for every node of the graph when it
is made: ~0.02 ms at 100k nodes, but 0.85-1.7 ms at 1M nodes on a 2-core Intel Xeon,
more than the query itself (1.4 ms). It is thread-bound (made, used and dropped on one
thread) and, while alive, the extension refuses every change of its metric. So the
threads of a :class:`SearchPool` keep one per metric (:func:`kept`), and whoever changes
a metric first has each of them drop its own (:meth:`SearchPool.evict`), on its thread.

Rules that keep this free of deadlocks: a task on a search thread never waits for the
pool (it only searches), and :meth:`SearchPool.evict` is never called from a search
thread nor while holding a lock that a search waits for. A caller holding a metric's lock
waits only for a task of its own that has started and takes no lock; one not started yet
it cancels and runs itself (:meth:`corridors.routing.engine.MetricSearch.via_costs`).
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from typing import Any, TypeVar

__all__ = ["SEARCH_POOL", "SearchPool", "kept", "on_search_thread"]

T = TypeVar("T")

_local = threading.local()


def on_search_thread() -> bool:
    """Whether the calling thread is one of a :class:`SearchPool`'s."""
    return getattr(_local, "kept", None) is not None


def kept(owner: object, make: Callable[[], T]) -> T | None:
    """On a search thread, the object it keeps for ``owner`` (made by ``make`` when it has
    none); elsewhere ``None`` (the caller makes and drops its own)."""
    objects: dict[int, tuple[object, Any]] | None = getattr(_local, "kept", None)
    if objects is None:
        return None
    entry = objects.get(id(owner))
    if entry is None:
        # The owner is kept alongside, so that its id cannot be reused while listed.
        entry = objects[id(owner)] = (owner, make())
    made: T = entry[1]
    return made


class _Worker:
    """One search thread: its own task queue, and the objects it keeps (by owner id)."""

    def __init__(self, name: str) -> None:
        self.tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.kept: dict[int, tuple[object, Any]] = {}
        self._pending = 0  # tasks queued or running (to pick the least busy thread)
        self._pending_lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    @property
    def pending(self) -> int:
        """Tasks queued or running."""
        return self._pending

    def _loop(self) -> None:
        _local.kept = self.kept
        while True:
            self.tasks.get()()

    def run(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Queue ``fn(*args)`` on this thread; its future can be cancelled until it starts."""
        future: Future[T] = Future()

        def task() -> None:
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except BaseException as exc:
                        future.set_exception(exc)
            finally:
                with self._pending_lock:
                    self._pending -= 1

        with self._pending_lock:
            self._pending += 1
        self.tasks.put(task)
        return future


class SearchPool:
    """Threads for searches, each keeping the RoutingKit query objects it made.

    Parameters
    ----------
    workers
        Threads (started with the first task).
    name
        Prefix of the threads' names.
    """

    def __init__(self, workers: int = 2, name: str = "corridors-search") -> None:
        self._workers = [_Worker(f"{name}_{i}") for i in range(workers)]
        self._started = False
        self._start_lock = threading.Lock()
        self._turn = itertools.count()

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """Run ``fn(*args)`` on the least busy search thread (ties taken in turn); its
        future can be cancelled until the task starts."""
        if not self._started:
            with self._start_lock:
                if not self._started:
                    for worker in self._workers:
                        worker.thread.start()
                    self._started = True
        turn, n = next(self._turn), len(self._workers)
        worker = min((self._workers[(turn + i) % n] for i in range(n)), key=_pending)
        return worker.run(fn, *args)

    def evict(self, owner: object) -> None:
        """Have every search thread drop what it keeps for ``owner``, on its own thread;
        returns when they have.

        The caller must keep new objects for ``owner`` from being made meanwhile (see
        :meth:`corridors.routing.engine.CCHEngine.searching`) and must not be on a search
        thread (a task there could be waiting for it).
        """
        if on_search_thread():
            raise RuntimeError("a search thread cannot wait for the search pool")
        key = id(owner)
        wait([w.run(_drop, w.kept, key) for w in self._workers if key in w.kept])

    def kept_count(self) -> int:
        """Objects kept over all threads (for tests and memory accounting)."""
        return sum(len(worker.kept) for worker in self._workers)


def _pending(worker: _Worker) -> int:
    return worker.pending


def _drop(objects: dict[int, tuple[object, Any]], key: int) -> None:
    """Forget ``objects[key]`` here, on the thread that kept it (returning it would let
    the object die on the thread reading the result)."""
    objects.pop(key, None)


#: The search threads of the process (two: one per core of the machines it is sized for).
SEARCH_POOL = SearchPool()
