"""Executors: where steps run. One scheduling loop (``_runner``) drives any of them through this interface.

``local`` runs each step in this process, one at a time, in the order the loop submits them. ``process`` runs
independent steps at once in a pool of worker processes (started with ``spawn``, so a worker is a fresh
interpreter as a Ray worker would be); workers get references, not live objects, and only the coordinating
process writes run state. The scale-out issue adds ``ray`` on the same interface.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures as cf
import multiprocessing
import os
import threading
from typing import Protocol

from loopml.errors import InvalidArgumentError
from loopml.pipelines._worker import StepResult, StepTask, execute


class Executor(Protocol):
    """Runs step tasks and hands back their results as they finish."""

    name: str

    def submit(self, task: StepTask) -> None:
        """Queue a task; it may start at once or later."""
        ...

    def wait(self) -> list[StepResult]:
        """Block until at least one queued task has finished; return every result not handed back yet."""
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """Steps run in this process, one at a time, in submission order."""

    name = "local"

    def __init__(self) -> None:
        self._queue: collections.deque[StepTask] = collections.deque()

    def submit(self, task: StepTask) -> None:
        self._queue.append(task)

    def wait(self) -> list[StepResult]:
        if not self._queue:
            raise RuntimeError("wait() with nothing submitted")
        return [execute(self._queue.popleft())]

    def close(self) -> None:
        self._queue.clear()


_pools: dict[int, cf.ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(workers: int) -> cf.ProcessPoolExecutor:
    """A pool kept for the life of this process: starting interpreters is the slow part, so runs share it."""
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = cf.ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")
            )
        return pool


def _drop_pool(workers: int) -> None:
    with _pools_lock:
        pool = _pools.pop(workers, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def _shutdown_pools() -> None:
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


class ProcessExecutor:
    """Independent steps run at once, in a pool of ``workers`` processes (default: the number of cores)."""

    name = "process"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise InvalidArgumentError(f"workers is a whole number from 1, got {workers!r}.")
        self.workers = workers or max(os.cpu_count() or 1, 1)
        self._running: dict[cf.Future[StepResult], StepTask] = {}

    def submit(self, task: StepTask) -> None:
        if not task.step.importable:
            raise InvalidArgumentError(
                f"Step {task.step.name!r} is defined inside a function, so a worker process cannot import "
                "it: define it at the top level of a module, or use the local executor."
            )
        self._running[_pool(self.workers).submit(execute, task)] = task

    def wait(self) -> list[StepResult]:
        if not self._running:
            raise RuntimeError("wait() with nothing submitted")
        done, _ = cf.wait(list(self._running), return_when=cf.FIRST_COMPLETED)
        results = []
        for future in done:
            task = self._running.pop(future)
            try:
                results.append(future.result())
            except Exception as exc:  # the worker died (killed, out of memory) or the task would not pickle
                if isinstance(exc, cf.process.BrokenProcessPool):
                    _drop_pool(self.workers)
                results.append(_lost(task, exc))
        return results

    def close(self) -> None:
        for future in self._running:
            future.cancel()
        self._running.clear()


def _lost(task: StepTask, exc: BaseException) -> StepResult:
    import time

    now = int(time.time() * 1000)
    message = f"{type(exc).__name__}: the worker process running the step was lost ({exc})"
    return StepResult(task.node_id, False, now, now, 1, error=message)


def get_executor(executor: str | Executor | None, workers: int | None = None) -> Executor:
    if executor is None or executor == "local":
        return LocalExecutor()
    if executor == "process":
        return ProcessExecutor(workers)
    if isinstance(executor, str):
        raise InvalidArgumentError(f"Unknown executor {executor!r}: use 'local' or 'process'.")
    return executor
