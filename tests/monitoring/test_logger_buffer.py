"""The logger's buffering on its own: a stub sink that is slow or fails, to show that ``log()`` never waits
for it, that memory stays bounded (drops are counted), and that a failed write loses nothing."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from loopml.artifacts import MemoryArtifactStore
from loopml.monitoring import PredictionLogger


class StubIndex:
    """``store.predictions`` that records segments, and can block or fail on request."""

    def __init__(self) -> None:
        self.segments: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.failures = 0
        self.fail_after_write = False

    def add_segment(self, model: str, **fields: Any) -> None:
        self.entered.set()
        self.gate.wait()
        if self.failures:
            self.failures -= 1
            if self.fail_after_write:  # the index row is written but the answer is lost
                self._add(model, fields)
            raise ConnectionError("the database went away")
        self._add(model, fields)

    def _add(self, model: str, fields: dict[str, Any]) -> None:
        if all(s["digest"] != fields["digest"] for s in self.segments):  # as the real index does
            self.segments.append({"model": model, **fields})


class StubStore:
    def __init__(self) -> None:
        self.predictions = StubIndex()


def _log(logger: PredictionLogger, rid: str, rows: int = 1) -> bool:
    return logger.log(
        request_id=rid,
        model_version=1,
        route="champion",
        inputs=[{"x": 1}] * rows,
        outputs=[0] * rows,
        latency_ms=1,
    )


def test_a_full_buffer_drops_and_counts_without_waiting_for_the_sink() -> None:
    store = StubStore()
    store.predictions.gate.clear()  # the sink hangs
    logger = PredictionLogger(
        store,  # type: ignore[arg-type]
        MemoryArtifactStore(),
        model="m",
        max_rows_per_segment=4,
        max_buffered_rows=10,
        flush_interval=60,
    )
    assert all(_log(logger, f"a{i}") for i in range(4))  # a full segment: the writer takes it, and hangs
    assert store.predictions.entered.wait(10)
    assert all(_log(logger, f"b{i}", rows=2) for i in range(3))  # 4 + 6 = the bound
    assert logger.buffered_rows == 10
    assert not _log(logger, "c0")  # returns at once although the sink still hangs
    assert not _log(logger, "c1", rows=3)
    assert (logger.dropped, logger.dropped_requests, logger.written_rows) == (4, 2, 0)

    store.predictions.gate.set()
    logger.close()
    assert (logger.written_rows, logger.buffered_rows, logger.dropped) == (10, 0, 4)
    assert sum(s["num_rows"] for s in store.predictions.segments) == 10
    assert _log(logger, "late") is False and logger.dropped == 5


def test_a_failed_write_keeps_its_rows_and_is_tried_again() -> None:
    store = StubStore()
    store.predictions.failures = 2
    logger = PredictionLogger(store, MemoryArtifactStore(), model="m", flush_interval=60)  # type: ignore[arg-type]
    for i in range(3):
        _log(logger, f"r{i}")
    for _ in range(2):
        with pytest.raises(ConnectionError):
            logger.flush()
        assert (logger.buffered_rows, logger.written_rows) == (3, 0)
    logger.close()
    assert (logger.buffered_rows, logger.written_rows) == (0, 3)
    assert [s["num_rows"] for s in store.predictions.segments] == [3]


def test_a_segment_indexed_before_the_error_is_not_counted_twice() -> None:
    store = StubStore()
    store.predictions.failures, store.predictions.fail_after_write = 1, True
    logger = PredictionLogger(store, MemoryArtifactStore(), model="m", flush_interval=60)  # type: ignore[arg-type]
    _log(logger, "r0", rows=2)
    with pytest.raises(ConnectionError):
        logger.flush()
    logger.close()  # the same rows make the same blob, which the index already holds
    assert [s["num_rows"] for s in store.predictions.segments] == [2]


def test_the_background_writer_retries_after_a_failure() -> None:
    store = StubStore()
    store.predictions.failures = 1
    logger = PredictionLogger(store, MemoryArtifactStore(), model="m", flush_interval=0.01)  # type: ignore[arg-type]
    _log(logger, "r0")
    done = threading.Event()
    for _ in range(1000):
        if logger.written_rows == 1 or done.wait(0.01):
            break
    assert logger.written_rows == 1 and isinstance(logger.last_error, ConnectionError)
    logger.close()
    assert len(store.predictions.segments) == 1
