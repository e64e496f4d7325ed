"""The executor contract: every DAG shape behaves the same on every executor.

Linear, fan-out/fan-in, diamond, a failing step and a cached rerun, on the local executor (in this process)
and the process executor (a pool of spawned workers).
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

import loopml as lm
from loopml.errors import PipelineFailedError
from loopml.pipelines import PipelineRun
from loopml.tracking import get_client

from . import shapes

EXECUTORS = ["local", pytest.param("process", marks=pytest.mark.slow)]


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def log(tmp_path: Path) -> str:
    return str(tmp_path / "calls.log")


def _statuses(run: PipelineRun) -> dict[str, str]:
    return {s.name: s.status for s in run.steps}


def test_linear(executor: str, log: str) -> None:
    run = shapes.linear.run({"log": log}, executor=executor)
    assert run.status == "FINISHED"
    assert [s.name for s in run.steps] == ["source", "add", "add_2"]
    assert run.output("add_2") == [3, 4, 5]
    assert shapes.calls(log) == ["source", "add1", "add2"]
    assert not run.cached_steps


def test_fan_out_and_in(executor: str, log: str) -> None:
    run = shapes.fan.run({"log": log, "width": 6}, executor=executor)
    assert run.status == "FINISHED"
    assert run.output("total") == sum(v + k for k in range(6) for v in range(3))
    assert run.step("total").upstream == ["add", *(f"add_{i}" for i in range(2, 7))]
    assert collections.Counter(shapes.calls(log)) == collections.Counter(
        ["source", "total", *(f"add{k}" for k in range(6))]
    )


def test_diamond(executor: str, log: str) -> None:
    run = shapes.diamond.run({"log": log}, executor=executor)
    assert run.output("total") == (1 + 2 + 3) + (2 + 3 + 4)
    calls = shapes.calls(log)
    assert calls[0] == "source" and calls[-1] == "total" and sorted(calls[1:3]) == ["add1", "add2"]


def test_a_failing_step_skips_what_depends_on_it_and_fails_the_run(executor: str, log: str) -> None:
    Path(log + ".fail").touch()
    with pytest.raises(
        PipelineFailedError, match="step 'boom' failed: ValueError: boom was told to fail"
    ) as err:
        shapes.failing.run({"log": log}, executor=executor)
    run = err.value.run
    assert isinstance(run, PipelineRun)
    assert _statuses(run) == {"source": "FINISHED", "boom": "FAILED", "total": "SKIPPED", "add": "FINISHED"}
    assert "total" not in shapes.calls(log)
    stored = lm.get_run(run.id)
    assert stored.status.value == "FAILED" and "boom" in (stored.error or "")
    boom_run = lm.get_run(run.step("boom").run_id or "")
    assert boom_run.status.value == "FAILED" and "ValueError: boom was told to fail" in (boom_run.error or "")


def test_a_cached_rerun_runs_nothing(executor: str, log: str) -> None:
    first = shapes.diamond.run({"log": log}, executor=executor)
    before = len(shapes.calls(log))
    second = shapes.diamond.run({"log": log}, executor=executor)
    assert len(shapes.calls(log)) == before
    assert all(s.cached for s in second.steps) and second.status == "FINISHED"
    assert second.output("total") == first.output("total")
    for s in second.steps:
        assert s.reused_from == first.step(s.name).run_id


def test_every_step_is_a_child_run_of_the_pipeline_run(executor: str, log: str) -> None:
    run = shapes.linear.run({"log": log, "n": 2}, executor=executor)
    children = lm.search_runs(experiment="linear", filter=f"attributes.parent_id = '{run.id}'")
    assert {c.name for c in children} == {"source", "add", "add_2"}
    for child in children:
        assert child.status.value == "FINISHED"
        assert child.tags["loopml.cached"] == "false"
        assert any(a.path == "outputs/output" for a in lm.get_run(child.id).artifacts)
    add = next(c for c in children if c.name == "add")
    assert add.params == {"log": log, "k": "1"}
    assert add.tags["loopml.input.values"] == run.step("source").output.digest  # type: ignore[union-attr]


def test_a_retried_step_succeeds_and_counts_its_attempts(executor: str, log: str) -> None:
    run = shapes.retrying.run({"log": log, "fail_times": 2}, executor=executor)
    assert run.status == "FINISHED" and run.step("flaky").attempts == 3
    assert shapes.calls(log) == ["flaky"] * 3


def test_a_step_past_its_timeout_fails(executor: str, log: str) -> None:
    run = shapes.timing_out.run({"log": log}, executor=executor, raise_on_failure=False)
    step = run.step("too_slow")
    assert step.status == "FAILED" and "timeout of 0.5 s" in (step.error or "")
    assert (step.duration_s or 99) < 10


def test_tracking_calls_and_prints_inside_a_step_go_to_its_run(executor: str, log: str) -> None:
    run = shapes.tracked.run({"log": log}, executor=executor)
    step_run = lm.get_run(run.step("noisy").run_id or "")
    assert step_run.metrics == {"inside": 3.5}
    logs = next(a for a in step_run.artifacts if a.path == "logs.txt")
    assert b"hello from a step" in get_client().artifacts.get_bytes(logs.digest)


def test_resume_reuses_finished_steps_and_runs_the_failed_one(executor: str, log: str) -> None:
    Path(log + ".fail").touch()
    with pytest.raises(PipelineFailedError) as err:
        shapes.failing.run({"log": log}, executor=executor)
    failed = err.value.run
    assert isinstance(failed, PipelineRun)
    Path(log + ".fail").unlink()
    before = shapes.calls(log)
    resumed = lm.pipelines.resume(failed.id, executor=executor)
    assert resumed.status == "FINISHED"
    assert sorted(shapes.calls(log)[len(before) :]) == ["boom", "total"]
    assert resumed.step("source").cached and resumed.step("add").cached
    assert resumed.step("source").reused_from == failed.step("source").run_id
    assert lm.get_run(resumed.id).tags["loopml.resumed_from"] == failed.id


@pytest.mark.slow
def test_the_process_executor_runs_independent_steps_at_once(log: str) -> None:
    run = shapes.parallel.run({"log": log, "seconds": 1.0}, executor="process", workers=2)
    a, b = (lm.get_run(s.run_id or "") for s in run.steps)
    assert a.start_ms < (b.end_ms or 0) and b.start_ms < (a.end_ms or 0)  # their runs overlap
    pids = {line.split()[1] for line in Path(log).read_text().splitlines()}
    assert len(pids) == 2


def test_a_step_defined_in_a_function_is_refused_by_the_process_executor(log: str) -> None:
    @lm.pipelines.step
    def local_step() -> int:
        return 1

    @lm.pipelines.pipeline
    def local_pipeline() -> None:
        local_step()

    with pytest.raises(lm.errors.InvalidArgumentError, match="define it at the top level of a module"):
        local_pipeline.run(executor="process")
    assert local_pipeline.run(executor="local").output("local_step") == 1
