"""The prediction-log writer: ``log()`` only appends to a bounded buffer; a background thread writes segments.

``log()`` takes a lock for a few list operations and returns: no conversion, no I/O. The writer thread turns
what is buffered into a Parquet segment when ``max_rows_per_segment`` rows wait or the oldest has waited
``flush_interval`` seconds, stores the blob, then indexes it in the Store. Rows count against
``max_buffered_rows`` (and their size against ``max_buffered_bytes``) until their segment is indexed, so a
sink that falls behind (or is down) bounds memory: once a bound is reached ``log()`` refuses new records
(returns False) and counts them as dropped. A failed write keeps its rows and is tried again; ``close()``
writes everything accepted before it returns.

A segment never holds rows of two hours (UTC): a batch is split at hour boundaries, so windows of hours and
days are made of whole segments. With each segment the writer stores its profiles (one per model version and
route, ``loopml.monitoring.segment_profiles``), built here in the writer thread, never on the request path.

Failed requests are logged too (``log_error``): one row each, with its status and latency and no inputs, so
error rates come from the log rather than from one process's memory.

Long runs: each segment is a blob and an index row, so a quiet model would leave many tiny segments; the
flush interval bounds how late a row becomes readable, not how small a segment may be, and
``compact_segments`` merges small ones later.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from loopml._version import __version__
from loopml.errors import InvalidArgumentError
from loopml.monitoring._segments import (
    ANSWERED,
    LogRecord,
    as_text,
    build_table,
    count_outputs,
    count_rows,
    estimate_bytes,
    hour_of,
    to_parquet,
)

if TYPE_CHECKING:
    from loopml.artifacts import ArtifactStore
    from loopml.store import Store

log = logging.getLogger("loopml.monitoring")

_RETRY_MAX_SECONDS = 30.0
_ERROR_BYTES = 128  # about what an error row holds


class PredictionLogger:
    """Buffers the request/response records of a model, written as Parquet segments and indexed in the Store.

    Thread-safe: call ``log`` from the event loop and from worker threads alike; it never blocks on I/O.
    """

    def __init__(
        self,
        store: Store,
        artifacts: ArtifactStore,
        *,
        model: str,
        max_rows_per_segment: int = 10_000,
        flush_interval: float = 1.0,
        max_buffered_rows: int = 100_000,
        max_buffered_bytes: int = 256 * 1024 * 1024,
        personal: Iterable[str] = (),
        personal_mode: Literal["hash", "drop"] = "hash",
        salt: bytes | str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_rows_per_segment < 1 or max_buffered_rows < 1:
            raise InvalidArgumentError("max_rows_per_segment and max_buffered_rows must be at least 1.")
        if not flush_interval > 0:
            raise InvalidArgumentError(
                f"flush_interval must be a positive number of seconds, not {flush_interval}."
            )
        if personal_mode not in ("hash", "drop"):
            raise InvalidArgumentError(f"personal_mode is 'hash' or 'drop', not {personal_mode!r}.")
        self._store, self._artifacts, self.model = store, artifacts, model
        self.max_rows_per_segment = max_rows_per_segment
        self.max_buffered_rows = max_buffered_rows
        self.max_buffered_bytes = max_buffered_bytes
        self.flush_interval = float(flush_interval)
        self.personal: frozenset[str] = frozenset()
        self.personal_mode = personal_mode
        self._hasher: Callable[[Any], str] | None = None
        self._salt = salt
        self.add_personal(personal)
        self._clock = clock

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._io = threading.Lock()  # one segment write at a time, in the order records were accepted
        self._buffer: deque[tuple[float, LogRecord]] = deque()  # (monotonic time accepted, record)
        self._buffer_rows = 0
        self._pending_rows = 0  # accepted but not yet indexed: the buffer and the batch being written
        self._pending_bytes = 0  # about how much memory those hold
        self._dropped = self._dropped_requests = self._written = self._segments = 0
        self._flush_wanted = False
        self._closed = False
        self.last_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"loopml-prediction-log-{model}", daemon=True)
        self._thread.start()
        ref = weakref.ref(self)
        self._atexit = lambda: (lambda me: me.close() if me is not None else None)(ref())
        atexit.register(self._atexit)

    def add_personal(self, columns: Iterable[str]) -> None:
        """Treat ``columns`` as personal from now on too (a server that starts serving a version with more
        personal columns calls this before the version answers its first request)."""
        added = frozenset(columns) - self.personal
        if not added:
            return
        if self.personal_mode == "hash" and self._hasher is None:
            from loopml.monitoring._personal import Hasher, prediction_salt

            self._hasher = Hasher(prediction_salt() if self._salt is None else self._salt)
        self.personal = self.personal | added

    # -- the hot path
    def log(
        self,
        *,
        request_id: str,
        model_version: int,
        route: str,
        inputs: Any,
        outputs: Any,
        latency_ms: float,
        timestamp_ms: int | None = None,
        input_names: Sequence[str] | None = None,
        nbytes: int | None = None,
        probabilities: Any = None,
        classes: Sequence[Any] = (),
    ) -> bool:
        """Buffer one request (one or more rows); False, counted as dropped, when the buffer is full or the
        logger is closed. ``inputs`` is a DataFrame, a list of row dicts, one row dict, or a 2-D array whose
        columns ``input_names`` names. Keep ``inputs`` and ``outputs`` unchanged afterwards: they are read
        when written. ``nbytes``: about how much memory the record holds (the request body's size, say), for
        the bound on buffered bytes; estimated when not given. ``probabilities``: a classifier's class
        probabilities, an array (rows, classes) whose columns ``classes`` names; logged as ``proba.<class>``.
        """
        n = count_rows(inputs)
        names = None
        if getattr(inputs, "ndim", None) == 2 and not hasattr(inputs, "columns"):  # an array, not a DataFrame
            names = tuple(str(c) for c in input_names or ())
            if len(names) != inputs.shape[1]:
                raise InvalidArgumentError(
                    f"request {request_id!r}: an array of inputs with {inputs.shape[1]} column(s) needs as "
                    f"many input_names, not {len(names)}."
                )
        if count_outputs(outputs) != n:
            raise InvalidArgumentError(
                f"request {request_id!r} has {n} input row(s) but {count_outputs(outputs)} output(s)."
            )
        labels: tuple[str, ...] = ()
        if probabilities is not None:
            labels = tuple(str(c) for c in classes)
            shape = getattr(probabilities, "shape", None)
            if shape is None or len(shape) != 2 or shape[0] != n or shape[1] != len(labels):
                raise InvalidArgumentError(
                    f"request {request_id!r}: probabilities must be an array of {n} row(s) x one column per "
                    f"class ({len(labels)} classes given), not {shape or type(probabilities).__name__}."
                )
        if timestamp_ms is None:
            timestamp_ms = int(self._clock() * 1000)
        record = LogRecord(
            str(request_id),
            int(model_version),
            str(route),
            inputs,
            outputs,
            float(latency_ms),
            int(timestamp_ms),
            n,
            names,
            estimate_bytes(inputs, n) if nbytes is None else int(nbytes),
            proba=probabilities,
            classes=labels,
        )
        return self._accept(record)

    def log_error(
        self,
        *,
        request_id: str,
        model_version: int,
        route: str,
        status: int,
        latency_ms: float,
        timestamp_ms: int | None = None,
    ) -> bool:
        """Buffer one failed request: one row with its ``status`` (the 4xx or 5xx its client got) and
        latency, no inputs or outputs. False, counted as dropped, when the buffer is full or the logger is
        closed."""
        if not 400 <= int(status) <= 599:
            raise InvalidArgumentError(
                f"request {request_id!r}: log_error takes the status of a failed request (400 to 599), not "
                f"{status}; log answered predictions with log()."
            )
        if timestamp_ms is None:
            timestamp_ms = int(self._clock() * 1000)
        record = LogRecord(
            str(request_id),
            int(model_version),
            str(route),
            None,
            None,
            float(latency_ms),
            int(timestamp_ms),
            1,
            nbytes=_ERROR_BYTES,
            status=int(status),
        )
        return self._accept(record)

    def _accept(self, record: LogRecord) -> bool:
        n = record.rows
        with self._lock:
            if (
                self._closed
                or self._pending_rows + n > self.max_buffered_rows
                or (self._pending_bytes and self._pending_bytes + record.nbytes > self.max_buffered_bytes)
            ):
                self._dropped += n
                self._dropped_requests += 1
                return False
            self._buffer.append((time.monotonic(), record))
            self._buffer_rows += n
            self._pending_rows += n
            self._pending_bytes += record.nbytes
            if self._buffer_rows >= self.max_rows_per_segment or len(self._buffer) == 1:
                self._wake.notify()  # a full segment to write, or a deadline to start timing
        return True

    # -- counters
    @property
    def dropped(self) -> int:
        """Rows refused because the buffer was full (or the logger closed)."""
        return self._dropped

    @property
    def dropped_requests(self) -> int:
        return self._dropped_requests

    @property
    def written_rows(self) -> int:
        return self._written

    @property
    def written_segments(self) -> int:
        return self._segments

    @property
    def buffered_rows(self) -> int:
        """Rows accepted and not yet written (including those being written now)."""
        return self._pending_rows

    # -- writing
    def flush(self) -> None:
        """Write everything buffered now, blocking until it is indexed; raises if the sink fails."""
        while self._write_buffered():
            pass

    def _write_buffered(self) -> bool:
        """Write what is buffered at this moment (records arriving meanwhile wait for the next segment, so a
        busy server does not turn into a stream of tiny segments); False when there was nothing."""
        with self._io:
            with self._lock:
                batch = self._take()
            if not batch:
                return False
            self._write(batch)
            return True

    def close(self) -> None:
        """Flush and stop the background writer; every accepted record is written before this returns."""
        with self._lock:
            already = self._closed
            self._closed = True
            self._wake.notify()
        if not already:
            atexit.unregister(self._atexit)
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self.flush()

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take(self) -> list[LogRecord]:
        """Take the buffered records (the caller holds the lock); their rows stay pending until written."""
        batch = [record for _, record in self._buffer]
        self._buffer.clear()
        self._buffer_rows = 0
        return batch

    def _write(self, batch: list[LogRecord]) -> None:
        """Write ``batch`` as segments of at most ``max_rows_per_segment`` rows, each within one hour (a
        request is never split); on a failure the unwritten records go back to the front of the buffer, in
        the order they came, and the error is raised."""
        segments = self._plan(batch)
        for done, indices in enumerate(segments):
            records = [batch[i] for i in indices]
            rows = sum(r.rows for r in records)
            try:
                self._write_segment(records, rows)
            except BaseException:
                left = sorted(i for later in segments[done:] for i in later)
                with self._lock:
                    now = time.monotonic()
                    for i in reversed(left):
                        self._buffer.appendleft((now, batch[i]))
                        self._buffer_rows += batch[i].rows
                raise
            with self._lock:
                self._pending_rows -= rows
                self._pending_bytes -= sum(r.nbytes for r in records)
                self._written += rows
                self._segments += 1

    def _plan(self, batch: list[LogRecord]) -> list[list[int]]:
        """The segments ``batch`` makes: indices of its records, by hour (oldest first), then cut by size."""
        hours: dict[int, list[int]] = {}
        for i, record in enumerate(batch):
            hours.setdefault(hour_of(record.timestamp_ms), []).append(i)
        segments: list[list[int]] = []
        for hour in sorted(hours):
            indices, start = hours[hour], 0
            while start < len(indices):
                end, rows = start, 0
                while end < len(indices) and (
                    end == start or rows + batch[indices[end]].rows <= self.max_rows_per_segment
                ):
                    rows += batch[indices[end]].rows
                    end += 1
                segments.append(indices[start:end])
                start = end
        return segments

    def _write_segment(self, records: list[LogRecord], rows: int) -> None:
        table = build_table(
            self.model,
            records,
            personal=self.personal,
            hasher=self._hasher,
        )
        metadata = {"loopml.version": __version__, "loopml.model": self.model}
        try:
            data = to_parquet(table, metadata)
        except Exception:  # a value of a type Parquet cannot hold: the segment keeps its columns as text
            table = as_text(table)
            data = to_parquet(table, metadata)
        profile_digest = self._store_profiles(table)
        blob = self._artifacts.put_bytes(data)
        self._store.predictions.add_segment(
            self.model,
            digest=blob.digest,
            num_rows=rows,
            min_ts=min(r.timestamp_ms for r in records),
            max_ts=max(r.timestamp_ms for r in records),
            versions={r.model_version for r in records},
            routes={r.route for r in records},
            created_ms=int(self._clock() * 1000),
            profile_digest=profile_digest,
            error_rows=sum(r.rows for r in records if r.status != ANSWERED),
        )

    def _store_profiles(self, table: Any) -> str | None:
        """Profile the segment and store the profiles' blob; None (the segment is profiled when read) if
        that fails, so that a column the profiles cannot take never holds the rows back."""
        from loopml.monitoring._profiles import encode, profile_segment

        try:
            profiles = profile_segment(table)
        except Exception as exc:
            log.warning(
                "prediction log of %s: profiling a segment failed (%s); it is profiled when read",
                self.model,
                exc,
            )
            return None
        return self._artifacts.put_bytes(encode(self.model, profiles)).digest

    # -- the background writer
    def _run(self) -> None:
        failures = 0
        while True:
            with self._lock:
                while not self._closed:
                    if self._buffer_rows >= self.max_rows_per_segment:
                        break
                    if self._buffer:
                        wait = self._buffer[0][0] + self.flush_interval - time.monotonic()
                        if wait <= 0:
                            break
                    else:
                        wait = None
                    self._wake.wait(wait)
                if self._closed:
                    return  # close() writes what is left, in its own thread
            try:
                self._write_buffered()
                failures = 0
            except Exception as exc:
                failures += 1
                self.last_error = exc
                delay = min(_RETRY_MAX_SECONDS, self.flush_interval * 2 ** min(failures, 10))
                log.warning(
                    "prediction log of %s: writing a segment failed (%s); retrying in %.1fs",
                    self.model,
                    exc,
                    delay,
                )
                with self._lock:
                    if not self._closed:
                        self._wake.wait(delay)
