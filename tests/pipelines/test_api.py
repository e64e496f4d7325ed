"""Defining and calling pipelines: parameters, handles, errors, and lineage from an output to its data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.errors import InvalidArgumentError, NotFoundError
from loopml.pipelines import PipelineDefinitionError, pipeline, step, trace


@step
def double(x: int) -> int:
    return 2 * x


@pipeline
def doubled(x: int, times: int = 2) -> None:
    h = double(x)
    for _ in range(times - 1):
        h = double(h)


def test_a_step_outside_a_pipeline_is_its_function() -> None:
    assert double(4) == 8


def test_calling_a_pipeline_runs_it_with_its_parameters() -> None:
    run = doubled(3, times=3)
    assert run.output("double_3") == 24
    assert run.params == {"x": 3, "times": 3}
    stored = lm.get_run(run.id)
    assert stored.params == {"x": "3", "times": "3"}
    assert stored.experiment_name == "doubled" and stored.tags["loopml.kind"] == "pipeline"
    assert stored.tags["loopml.version"] == lm.__version__


def test_parameters_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="has no parameter 'y'; its parameters: x, times"):
        doubled.run({"x": 1, "y": 2})
    with pytest.raises(InvalidArgumentError, match="needs a value for 'x'"):
        doubled.run({})


@pipeline
def misuses_a_handle() -> None:
    h = double(1)
    if h > 3:  # a handle has no value while the pipeline is planned
        double(h)


@pipeline
def calls_nothing() -> None:
    pass


def test_using_a_handle_as_a_value_and_empty_pipelines_are_refused() -> None:
    with pytest.raises(PipelineDefinitionError, match="pass it to another step"):
        misuses_a_handle()
    with pytest.raises(PipelineDefinitionError, match="calls no steps"):
        calls_nothing()
    with pytest.raises(InvalidArgumentError, match="retries must be a whole number"):
        step(retries=-1)(lambda: 1)


def test_a_step_is_planned_not_run_and_bad_calls_are_named() -> None:
    nodes = doubled.plan({"x": 1, "times": 2})
    assert list(nodes) == ["double", "double_2"] and nodes["double_2"].upstream == ["double"]
    with pytest.raises(PipelineDefinitionError, match="Step 'double'"):
        bad_call.plan()


@pipeline
def bad_call() -> None:
    double(1, 2)  # type: ignore[call-arg]


@step
def make_data(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "y": (x > 0).astype(int)})


@step
def fit(df: pd.DataFrame, data: pd.DataFrame) -> LogisticRegression:
    both = pd.concat([df, data[["x", "y"]]])
    return LogisticRegression().fit(both[["x"]], both["y"])


@pipeline
def training(n: int = 50) -> None:
    fit(make_data(n), lm.data.ref("extra"))


def test_from_a_model_back_to_its_step_pipeline_run_code_and_data() -> None:
    lm.data.add("extra", pd.DataFrame({"x": [1.0, -1.0], "y": [1, 0]}))
    run = training()
    model = run.step("fit").output
    assert model is not None
    lineage = trace(model.digest)
    assert lineage.step_run.id == run.step("fit").run_id
    assert lineage.pipeline_run is not None and lineage.pipeline_run.id == run.id
    assert lineage.pipeline_run.tags["loopml.pipeline"].endswith(":training")
    assert lineage.git_commit == lm.get_run(run.id).git_commit
    assert lineage.datasets == ["extra:1"]
    assert lineage.inputs["df"].step_run.id == run.step("make_data").run_id
    assert lineage.as_json()["params"] == {}
    # a cached rerun points back to the run that made the model
    again = training()
    assert again.step("fit").cached and trace(model.digest).step_run.id == run.step("fit").run_id
    with pytest.raises(NotFoundError, match="No run holds the blob"):
        trace("0" * 64)
