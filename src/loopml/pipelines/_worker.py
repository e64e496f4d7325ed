"""Running one step: the same code in the coordinating process (local executor) and in workers.

A task carries references only: the step by module and name, stored outputs by digest, dataset versions by
id and digest, and the settings to reach the blob store. The worker loads the inputs, calls the function with
retries and a timeout, captures what it prints and logs, stores the output, and hands back digests. It never
writes the step's state: the coordinator does, from the result. Tracking calls inside the step
(``lm.log_metric``) go to the step's run.
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from loopml.config import Settings
from loopml.pipelines._materializers import StoredValue, load_value, save_value
from loopml.pipelines._step import Step, map_leaves
from loopml.store import DatasetVersion
from loopml.tracking._client import describe_error


class StepTimeoutError(Exception):
    """A step attempt ran longer than its timeout."""


@dataclass(frozen=True)
class StepTask:
    node_id: str
    step: Step[..., Any]
    arguments: dict[str, Any]  # literals, StoredValue and DatasetVersion, also inside lists, tuples, dicts
    run_id: str
    experiment: str
    parent_id: str
    settings: Settings


@dataclass(frozen=True)
class StepResult:
    node_id: str
    ok: bool
    start_ms: int
    end_ms: int
    attempts: int
    output: StoredValue | None = None
    error: str | None = None
    logs: str = ""


def _now_ms() -> int:
    return int(time.time() * 1000)


def execute(task: StepTask) -> StepResult:
    """Run a step's task to its end: never raises for the step's own failures, it reports them."""
    start = _now_ms()
    logs = io.StringIO()
    step = task.step
    attempts = 0
    try:
        _use_settings(task.settings)
        from loopml.tracking import attached_run, get_client

        client = get_client()
        arguments = _resolve(task.arguments, client)
    except Exception as exc:
        return StepResult(
            task.node_id, False, start, _now_ms(), 0, error=_describe(exc), logs=logs.getvalue()
        )
    error = None
    while attempts <= step.retries:
        attempts += 1
        try:
            with (
                _captured(logs),
                attached_run(
                    task.run_id, name=task.node_id, experiment=task.experiment, parent_id=task.parent_id
                ),
            ):
                value = _call(step.fn, arguments, step.timeout)
            output = save_value(value, client.artifacts)
            return StepResult(
                task.node_id, True, start, _now_ms(), attempts, output=output, logs=logs.getvalue()
            )
        except Exception as exc:
            error = _describe(exc)
            if attempts <= step.retries:
                logs.write(f"[loopml] attempt {attempts} failed: {error.splitlines()[0]}; retrying\n")
                if step.retry_delay:
                    time.sleep(step.retry_delay)
    return StepResult(task.node_id, False, start, _now_ms(), attempts, error=error, logs=logs.getvalue())


def _describe(exc: BaseException) -> str:
    return describe_error(exc, exc.__traceback__)


_settings_in_use: list[Settings] = []


def _use_settings(settings: Settings) -> None:
    """Point this process's tracking client at the coordinator's store (workers outlive one run)."""
    from loopml import tracking

    if _settings_in_use and _settings_in_use[0] == settings:
        return
    if tracking.get_settings() != settings:
        tracking.configure(
            home=settings.home,
            database_url=settings.database_url,
            artifact_root=settings.artifact_root,
            flush_interval=settings.flush_interval,
        )
    _settings_in_use[:] = [settings]


def _resolve(value: Any, client: Any) -> Any:
    """A task's arguments as the step takes them: stored outputs and dataset versions read back."""

    def one(leaf: Any) -> Any:
        kind = type(leaf)
        if kind is StoredValue:
            return load_value(leaf, client.artifacts)
        if kind is DatasetVersion:
            from loopml.data import load

            return load(leaf, client=client)
        return leaf

    return map_leaves(value, one)


@contextlib.contextmanager
def _captured(buffer: io.StringIO) -> Iterator[None]:
    """What the step prints, and its log records, go to the step's log."""
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield
    finally:
        root.removeHandler(handler)


def _call(fn: Callable[..., Any], arguments: dict[str, Any], timeout: float | None) -> Any:
    if timeout is None:
        return fn(**arguments)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM"):
        return _call_with_alarm(fn, arguments, timeout)
    return _call_in_thread(fn, arguments, timeout)


def _call_with_alarm(fn: Callable[..., Any], arguments: dict[str, Any], timeout: float) -> Any:
    """Interrupt the step with SIGALRM; an alarm set outside (a test runner's) still fires on time."""
    started = time.monotonic()
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    outer_handler = signal.getsignal(signal.SIGALRM)

    def on_alarm(signum: int, frame: Any) -> None:
        if time.monotonic() - started >= timeout - 0.01:
            raise StepTimeoutError(f"the step ran longer than its timeout of {timeout:g} s")
        if callable(outer_handler):
            outer_handler(signum, frame)
        else:
            signal.setitimer(signal.ITIMER_REAL, max(timeout - (time.monotonic() - started), 0.001))

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, min(timeout, outer_delay) if outer_delay > 0 else timeout)
    try:
        return fn(**arguments)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_delay > 0:
            left = outer_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), outer_interval)


def _call_in_thread(fn: Callable[..., Any], arguments: dict[str, Any], timeout: float) -> Any:
    """Off the main thread no signal can interrupt the step: it is abandoned (left running) when late."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((True, fn(**arguments)))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name="loopml-step", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise StepTimeoutError(f"the step ran longer than its timeout of {timeout:g} s (it was abandoned)")
    ok, value = outcome[0]
    if ok:
        return value
    raise value
