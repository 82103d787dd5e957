"""Commit measured points on a writer thread, so a commit (an fsync) overlaps the next point's
settling instead of adding to the cycle time.

The rule stays: every point is stored before the next is taken. A procedure calls `barrier()` right
before it starts the next reading; the barrier returns once everything submitted is committed, and
re-raises a commit that failed (the run then stops, as it would have with a synchronous commit).
"""

from __future__ import annotations

import queue
import threading

from rig.records.store import PointRecord, ResultsStore

_STOP = object()


class BackgroundPointWriter:
    def __init__(self, store: ResultsStore, run_id: int) -> None:
        self.store, self.run_id = store, run_id
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=f"points-run-{run_id}", daemon=True)
        self._thread.start()

    def submit(self, record: PointRecord) -> None:
        self._raise_failed()
        with self._idle:
            self._pending += 1
        self._queue.put(record)

    def barrier(self) -> None:
        """Block until every submitted point is committed; re-raise a failed commit."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0)
        self._raise_failed()

    def close(self) -> None:
        """Commit what is queued, then stop the thread (also after a failed commit)."""
        self._queue.put(_STOP)
        self._thread.join()

    def _raise_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"storing a measured point failed: {self._error}") from self._error

    def _work(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            try:
                if self._error is None:
                    self.store.add_point(self.run_id, item)
            except BaseException as exc:  # surfaced to the measuring thread at its next barrier
                self._error = exc
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
