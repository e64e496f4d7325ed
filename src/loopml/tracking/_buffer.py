"""The metric buffer: ``log_metric`` appends to memory; a background thread writes to the Store.

A training loop never waits on the database. The thread flushes every ``interval`` seconds (so a crash loses
at most one interval), ``flush()`` writes everything now, and a normal interpreter exit flushes too.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence

from loopml.errors import NotFoundError
from loopml.store import MetricRecord

log = logging.getLogger("loopml.tracking")

_MAX_FAILED_FLUSHES = 5  # after this many failed writes in a row, the pending values are dropped (and logged)


class MetricBuffer:
    def __init__(self, write: Callable[[Sequence[MetricRecord]], None], interval: float = 1.0) -> None:
        self._write = write
        self.interval = interval
        self._pending: list[MetricRecord] = []
        self._lock = threading.Lock()  # guards _pending
        self._flush_lock = threading.Lock()  # one write at a time, so values reach the store in order
        self._wake = threading.Event()
        self._closed = False
        self._failures = 0
        self._thread: threading.Thread | None = None
        self.dropped = 0
        _live_buffers.add(self)

    def add(self, record: MetricRecord) -> None:
        with self._lock:
            self._pending.append(record)
        if self._thread is None:
            self._start()

    def extend(self, records: Sequence[MetricRecord]) -> None:
        with self._lock:
            self._pending.extend(records)
        if self._thread is None:
            self._start()

    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        """Write everything logged so far; raises if the store refuses it."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                self._write(batch)
            except NotFoundError:
                self.dropped += len(batch)
                raise
            except Exception:
                with self._lock:  # keep them for the next try, ahead of anything logged since
                    self._pending[:0] = batch
                raise
            self._failures = 0

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, self.interval * 2))
        self._flush_quietly()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._loop, name="loopml-metrics", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._flush_quietly()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except NotFoundError as exc:
            log.error("loopml dropped metrics for a run that does not exist: %s", exc)
        except Exception as exc:
            self._failures += 1
            if self._failures >= _MAX_FAILED_FLUSHES:
                with self._lock:
                    lost, self._pending = len(self._pending), []
                self.dropped += lost
                self._failures = 0
                log.error(
                    "loopml could not write %d metric values after %d tries, dropped them: %s",
                    lost,
                    _MAX_FAILED_FLUSHES,
                    exc,
                )
            else:
                log.warning("loopml could not write metrics yet (will retry): %s", exc)

    def _after_fork(self) -> None:
        # the child has a copy of the parent's pending values and no writer thread: both belong to the parent
        self._pending = []
        self._thread = None
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()


_live_buffers: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for buffer in list(_live_buffers):
        buffer._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
