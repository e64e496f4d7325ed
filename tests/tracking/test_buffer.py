"""Metric logging is buffered: the loop never waits on the database, and nothing is lost at exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import loopml as lm
from loopml.artifacts import MemoryArtifactStore
from loopml.store import MetricRecord, SqlStore
from loopml.tracking import TrackingClient, get_client


class _BlockingStore(SqlStore):
    """A store whose metric writes wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__("sqlite://")
        self.release = threading.Event()
        self.writing = threading.Event()
        original = self.runs.log_metrics

        def slow(records: Sequence[MetricRecord]) -> None:
            self.writing.set()
            self.release.wait(10)
            original(records)

        self.runs.log_metrics = slow  # type: ignore[method-assign]


def test_log_metric_returns_while_the_database_write_is_blocked() -> None:
    store = _BlockingStore()
    client = TrackingClient(store, MemoryArtifactStore(), flush_interval=0.01)
    run = client.create_run("e")
    client.log_metric(run.id, "loss", 1.0, step=0)
    assert store.writing.wait(5)  # the background writer is now stuck in the database
    for step in range(1, 1001):
        client.log_metric(run.id, "loss", 1.0 / step, step=step)  # would hang if it waited on the writer
    store.release.set()
    client.flush()
    assert len(client.get_metric_history(run.id, "loss")) == 1001
    client.close()


def test_values_reach_the_store_only_when_flushed_or_on_the_interval() -> None:
    client = TrackingClient(SqlStore("sqlite://"), MemoryArtifactStore(), flush_interval=3600)
    run = client.create_run("e")
    client.log_metric(run.id, "a", 1.0)
    assert client.store.runs.get_metric_history(run.id, "a") == []
    client.flush()
    assert [m.value for m in client.store.runs.get_metric_history(run.id, "a")] == [1.0]
    client.close()


def _child(code: str, home: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "LOOPML_HOME": str(home), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_normal_exit_flushes_and_finishes_an_open_run(loopml_home: Path) -> None:
    code = """
        import loopml as lm
        run = lm.start_run(experiment="exit")
        for i in range(1000):
            lm.log_metric("loss", 1.0 / (i + 1), step=i)
        print(run.id)
    """
    proc = _child(code, loopml_home, LOOPML_FLUSH_INTERVAL="3600")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    run_id = out.strip()
    assert len(lm.get_metric_history(run_id, "loss")) == 1000
    assert lm.get_run(run_id).status is lm.RunStatus.FINISHED


@pytest.mark.slow
def test_a_crash_loses_at_most_one_flush_interval(loopml_home: Path) -> None:
    ready = loopml_home.parent / "ready"
    code = f"""
        import time, pathlib
        import loopml as lm
        run = lm.start_run(experiment="crash")
        lm.log_metric("before_crash", 1.0)
        pathlib.Path({str(ready)!r}).write_text(run.id)
        time.sleep(120)
    """
    proc = _child(code, loopml_home, LOOPML_FLUSH_INTERVAL="0.2")
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        run_id = ready.read_text()
        deadline = time.monotonic() + 30  # no flush call: only the background writer can make it appear
        while not lm.get_metric_history(run_id, "before_crash") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert [m.value for m in lm.get_metric_history(run_id, "before_crash")] == [1.0]


@pytest.mark.slow
def test_eight_processes_logging_into_one_sqlite_store_lose_nothing(loopml_home: Path) -> None:
    code = """
        import loopml as lm
        with lm.start_run(experiment="concurrent") as run:
            for i in range(5000):
                lm.log_metric("m", float(i), step=i)
                if i % 500 == 0:
                    lm.log_params({f"p{i}": i})
        print(run.id)
    """
    get_client()  # create the database first, as a user's first command would
    procs = [_child(code, loopml_home, LOOPML_FLUSH_INTERVAL="0.02") for _ in range(8)]
    results = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "could not write" not in err
    run_ids = [out.strip() for out, _ in results]
    total = sum(len(lm.get_metric_history(r, "m")) for r in run_ids)
    assert total == 40_000
    runs = lm.search_runs(experiment="concurrent", limit=100)
    assert len(runs) == 8 and all(r.status is lm.RunStatus.FINISHED and len(r.params) == 10 for r in runs)
