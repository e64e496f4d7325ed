"""Steps and pipelines of every DAG shape the executor contract covers, importable by worker processes.

Each step appends a line to the file ``log`` names when it actually runs, so tests can tell a cache hit
(no line) from a run, in any process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import loopml as lm
from loopml.pipelines import pipeline, step


def _called(log: str, name: str) -> None:
    with open(log, "a") as f:
        f.write(f"{name} {os.getpid()}\n")


def calls(log: str | Path) -> list[str]:
    path = Path(log)
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


@step
def source(log: str, n: int = 3) -> list[int]:
    _called(log, "source")
    return list(range(n))


@step
def add(log: str, values: list[int], k: int) -> list[int]:
    _called(log, f"add{k}")
    return [v + k for v in values]


@step
def total(log: str, parts: list[list[int] | int]) -> int:
    _called(log, "total")
    return sum(sum(p) if isinstance(p, list) else p for p in parts)


@step
def boom(log: str, values: list[int]) -> int:
    _called(log, "boom")
    if Path(log + ".fail").exists():
        raise ValueError("boom was told to fail")
    return len(values)


@step
def slow(log: str, seconds: float) -> float:
    _called(log, "slow")
    time.sleep(seconds)
    return seconds


@step(timeout=0.5)
def too_slow(log: str) -> None:
    _called(log, "too_slow")
    time.sleep(30)


@step(retries=2)
def flaky(log: str, fail_times: int) -> str:
    """Fails ``fail_times`` times (counted in a file), then succeeds."""
    _called(log, "flaky")
    counter = Path(log + ".flaky")
    seen = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(seen + 1))
    if seen < fail_times:
        raise ConnectionError(f"attempt {seen + 1} fails")
    return "ok"


@step
def noisy(log: str) -> int:
    _called(log, "noisy")
    print("hello from a step")
    lm.log_metric("inside", 3.5)
    return 1


@pipeline
def linear(log: str, n: int = 3) -> None:
    a = source(log, n)
    b = add(log, a, 1)
    add(log, b, 2)


@pipeline
def fan(log: str, width: int = 4) -> None:
    a = source(log)
    total(log, [add(log, a, k) for k in range(width)])


@pipeline
def diamond(log: str) -> None:
    a = source(log)
    b = add(log, a, 1)
    c = add(log, a, 2)
    total(log, [b, c])


@pipeline
def failing(log: str) -> None:
    a = source(log)
    b = boom(log, a)
    total(log, [a, b])  # skipped: boom failed
    add(log, a, 7)  # an independent branch still runs


@pipeline
def parallel(log: str, seconds: float = 1.0) -> None:
    slow(log, seconds)
    slow(log, seconds + 0.001)


@pipeline
def timing_out(log: str) -> None:
    too_slow(log)


@pipeline
def retrying(log: str, fail_times: int = 2) -> None:
    flaky(log, fail_times)


@pipeline
def tracked(log: str) -> None:
    noisy(log)
