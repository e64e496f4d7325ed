"""lm.tune on real Optuna: it optimizes, records every trial as a child run, prunes, survives failing trials,
refuses bad input with advice, and runs trials in spawned processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

import loopml as lm
from loopml.errors import InvalidArgumentError
from loopml.pipelines import (
    StudyFailedError,
    TrialHandle,
    choice,
    int_range,
    log_uniform,
    search_space,
    uniform,
)
from loopml.store import RunStatus

# Objectives live at module level: with n_jobs > 1, spawned workers import them by name.


def quadratic(params: dict[str, Any]) -> float:
    return float((params["x"] - 2.0) ** 2)


def quadratic_with_pid(params: dict[str, Any]) -> dict[str, float]:
    lm.log_metric("logged_inside", 1.0)  # lands in the trial's run, even in a worker
    return {"loss": (params["x"] - 2.0) ** 2, "pid": float(os.getpid())}


def learning_curve(params: dict[str, Any], trial: TrialHandle) -> float:
    """A slow learner's curve stays high: the median pruner stops it early."""
    value = 0.0
    for step in range(8):
        value = params["rate"] * 10 + 1.0 / (step + 1)
        trial.report(value, step)
        if trial.should_prune():
            trial.prune()
    return value


def fails_above_zero(params: dict[str, Any]) -> float:
    if params["x"] > 0:
        raise RuntimeError(f"x={params['x']} is out of bounds")
    return float(params["x"])


def always_fails(params: dict[str, Any]) -> float:
    raise ValueError("the data is broken")


def sleepy(params: dict[str, Any]) -> float:
    time.sleep(0.3)
    return float(params["x"])


class Scorer:
    def score(self, params: dict[str, Any]) -> float:
        return 0.0

    def __call__(self, params: dict[str, Any]) -> float:
        return 0.0


def children(run_id: str) -> list[lm.Run]:
    return sorted(lm.search_runs(f"parent_id = '{run_id}'"), key=lambda r: int(r.tags["loopml.trial_number"]))


class TestOptimizes:
    def test_finds_the_minimum_of_a_known_function(self) -> None:
        result = lm.tune(quadratic, {"x": (-10.0, 10.0)}, n_trials=40, seed=0)
        assert result.best_params["x"] == pytest.approx(2.0, abs=0.3)
        assert result.best_value < 0.1 and result.direction == "minimize" and result.metric == "value"
        assert len(result.trials) == 40 and result.counts() == {"COMPLETE": 40, "PRUNED": 0, "FAIL": 0}
        assert result.best_value == min(t.value for t in result.trials if t.value is not None)
        assert isinstance(result.optuna_study, optuna.Study) and len(result.optuna_study.trials) == 40
        assert "best value=" in str(result)

    def test_best_params_feed_a_training_function(self) -> None:
        def training(depth: int, lr: float, optimizer: str) -> float:
            return depth * lr + (optimizer == "sgd")

        space = {"depth": (1, 8), "lr": log_uniform(1e-3, 1.0), "optimizer": ["adam", "sgd"]}
        result = lm.tune(lambda p: training(**p), space, n_trials=10, seed=1)
        assert training(**result.best_params) == pytest.approx(result.best_value)
        assert isinstance(result.best_params["depth"], int) and isinstance(result.best_params["lr"], float)

    def test_maximize_a_named_metric_of_a_dict(self) -> None:
        def objective(params: dict[str, Any]) -> dict[str, float]:
            return {"accuracy": 1 - abs(params["c"] - 0.5), "loss": abs(params["c"] - 0.5)}

        result = lm.tune(
            objective, {"c": uniform(0.0, 1.0)}, n_trials=15, direction="maximize", metric="accuracy"
        )
        assert result.best_value == max(t.metrics["accuracy"] for t in result.trials)
        best = lm.get_run(result.best_run_id)
        assert best.metrics["accuracy"] == result.best_value and "loss" in best.metrics

    def test_a_seed_makes_the_search_repeat(self) -> None:
        space = {"x": (-10.0, 10.0), "n": (1, 100), "kind": ["a", "b", "c"]}
        first = lm.tune(quadratic, space, n_trials=12, seed=7)
        second = lm.tune(quadratic, space, n_trials=12, seed=7)
        assert [t.params for t in first.trials] == [t.params for t in second.trials]
        assert first.study_run_id != second.study_run_id


class TestRuns:
    def test_the_study_and_each_trial_are_runs(self) -> None:
        result = lm.tune(
            quadratic, {"x": (-10.0, 10.0)}, n_trials=5, seed=0, experiment="tuning", name="quad"
        )
        study = lm.get_run(result.study_run_id)
        assert (
            study.status is RunStatus.FINISHED and study.name == "quad" and study.experiment_name == "tuning"
        )
        assert study.tags["loopml.kind"] == "study" and study.tags["loopml.study.direction"] == "minimize"
        assert study.tags["loopml.study.best_run_id"] == result.best_run_id
        assert study.params == {"x": str(result.best_params["x"])}
        assert study.metrics["best_value"] == result.best_value and study.metrics["trials_complete"] == 5
        assert [a.path for a in study.artifacts] == ["tune/space.json"]
        trials = children(study.id)
        assert [t.id for t in trials] == [t.run_id for t in result.trials]
        for run, trial in zip(trials, result.trials, strict=True):
            assert run.status is RunStatus.FINISHED and run.name == f"trial-{trial.number}"
            assert run.experiment_name == "tuning" and run.tags["loopml.trial_state"] == "COMPLETE"
            assert run.params == {"x": str(trial.params["x"])} and run.metrics == {"value": trial.value}

    def test_a_study_inside_a_run_is_its_child_and_trials_log_into_their_own_runs(self) -> None:
        with lm.start_run(experiment="outer") as outer:
            result = lm.tune(quadratic_with_pid, {"x": (0.0, 4.0)}, n_trials=3, metric="loss", seed=0)
            assert lm.active_run() is outer
        study = lm.get_run(result.study_run_id)
        assert study.parent_id == outer.id and study.experiment_name == "outer"
        for trial in children(study.id):
            assert trial.metrics["logged_inside"] == 1.0 and trial.metrics["pid"] == os.getpid()
        assert "logged_inside" not in study.metrics and "logged_inside" not in lm.get_run(outer.id).metrics

    def test_a_failing_trial_is_a_failed_run_and_the_study_goes_on(self) -> None:
        result = lm.tune(fails_above_zero, {"x": (-1.0, 1.0)}, n_trials=12, seed=3)
        failed = [t for t in result.trials if t.state == "FAIL"]
        assert failed and len(failed) < 12 and result.best_params["x"] <= 0
        run = lm.get_run(failed[0].run_id)
        assert run.status is RunStatus.FAILED and run.tags["loopml.trial_state"] == "FAIL"
        assert run.error is not None and run.error.startswith("RuntimeError: x=") and "Traceback" in run.error
        assert failed[0].value is None and failed[0].error == run.error
        assert lm.get_run(result.study_run_id).metrics["trials_failed"] == len(failed)

    def test_when_every_trial_fails_the_study_fails_with_the_first_error(self) -> None:
        with pytest.raises(StudyFailedError, match="No trial of the study completed") as info:
            lm.tune(always_fails, {"x": (0.0, 1.0)}, n_trials=3, name="doomed")
        assert "ValueError: the data is broken" in str(info.value)
        (study,) = lm.search_runs("name = 'doomed'")
        assert study.status is RunStatus.FAILED and len(children(study.id)) == 3

    def test_a_timeout_stops_asking_for_trials_after_the_first(self) -> None:
        result = lm.tune(sleepy, {"x": (0.0, 1.0)}, n_trials=50, timeout=0.05)
        assert len(result.trials) == 1

    def test_optuna_stays_quiet(self, capfd: pytest.CaptureFixture[str]) -> None:
        before = optuna.logging.get_verbosity()
        lm.tune(fails_above_zero, {"x": (-1.0, 1.0)}, n_trials=4, seed=3)
        err = capfd.readouterr().err
        assert "Trial" not in err and optuna.logging.get_verbosity() == before


class TestPruning:
    def test_the_median_pruner_stops_poor_trials(self) -> None:
        pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        result = lm.tune(learning_curve, {"rate": (0.0, 1.0)}, n_trials=20, seed=0, pruner=pruner)
        pruned = [t for t in result.trials if t.state == "PRUNED"]
        assert pruned and result.counts()["COMPLETE"] >= 3
        run = lm.get_run(pruned[0].run_id)
        assert run.status is RunStatus.FINISHED and run.tags["loopml.pruned"] == "true"
        assert run.tags["loopml.trial_state"] == "PRUNED"
        steps = [m.step for m in lm.get_metric_history(run.id, "value")]
        assert 1 <= max(steps) < 7  # stopped before the last step
        assert pruned[0].value == lm.get_metric_history(run.id, "value")[-1].value
        complete = next(t for t in result.trials if t.state == "COMPLETE")
        assert [m.step for m in lm.get_metric_history(complete.run_id, "value")][-1] == 7

    def test_raising_optuna_trial_pruned_prunes_too(self) -> None:
        def objective(params: dict[str, Any]) -> float:
            if params["x"] > 0.5:
                raise optuna.TrialPruned()
            return float(params["x"])

        result = lm.tune(objective, {"x": (0.0, 1.0)}, n_trials=10, seed=0)
        assert {t.state for t in result.trials} == {"COMPLETE", "PRUNED"}


class TestSpace:
    def test_shorthands_become_optuna_distributions(self) -> None:
        dists = search_space(
            {
                "n": (1, 10),
                "x": (0, 1.5),
                "k": ["a", 1, None],
                "lr": log_uniform(1e-4, 1e-1),
                "d": int_range(2, 64, log=True),
            }
        )
        assert dists["n"] == optuna.distributions.IntDistribution(1, 10)
        assert dists["x"] == optuna.distributions.FloatDistribution(0.0, 1.5)
        assert dists["k"] == optuna.distributions.CategoricalDistribution(["a", 1, None])
        assert dists["lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
        assert dists["d"] == optuna.distributions.IntDistribution(2, 64, log=True)
        assert search_space({"s": uniform(0, 1, step=0.25)})["s"].step == 0.25
        assert search_space({"c": choice(("x", "y"))})["c"] == optuna.distributions.CategoricalDistribution(
            ["x", "y"]
        )

    @pytest.mark.parametrize(
        ("space", "message"),
        [
            ({}, "non-empty dict"),
            ({"x": "0..1"}, r"space\['x'\] = '0\.\.1' is not a search range: write \(low, high\)"),
            ({"x": (1e-4, 1e-1, "log")}, "log_uniform"),
            ({"x": {1, 2}}, "write a list"),
            ({"x": (5, 1)}, r"low is above high; write \(1, 5\)"),
            ({"x": []}, "at least one option"),
            ({"x": [object()]}, "options must be None, bools, numbers or strings"),
            ({"": (0, 1)}, "non-empty string"),
            ({"x": (True, False)}, "is not a search range"),
        ],
    )
    def test_bad_entries_say_what_to_write(self, space: dict[str, Any], message: str) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            lm.tune(quadratic, space, n_trials=1)
        assert lm.search_runs() == []  # refused before anything is recorded

    def test_bad_helper_arguments(self) -> None:
        with pytest.raises(InvalidArgumentError, match="low"):
            log_uniform(0.0, 1.0)
        with pytest.raises(InvalidArgumentError, match="must be an integer"):
            int_range(1, 2.5)  # type: ignore[arg-type]


class TestBadCalls:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"n_trials": 0}, "n_trials=0 must be a positive integer"),
            ({"direction": "down"}, "'minimize' or 'maximize'"),
            ({"n_jobs": 0}, "n_jobs=0"),
            ({"timeout": -1}, "timeout"),
            ({"seed": 1, "sampler": optuna.samplers.RandomSampler()}, "seed it yourself"),
            ({"pruner": "median"}, "optuna.pruners"),
            ({"metric": ""}, "metric"),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            lm.tune(quadratic, {"x": (0.0, 1.0)}, **kwargs)

    def test_a_dict_without_metric_names_the_fix(self) -> None:
        with pytest.raises(InvalidArgumentError, match=r"pass metric='<one of them>'"):
            lm.tune(quadratic_with_pid, {"x": (0.0, 1.0)}, n_trials=5)
        with pytest.raises(InvalidArgumentError, match="but not 'acc'"):
            lm.tune(quadratic_with_pid, {"x": (0.0, 1.0)}, n_trials=5, metric="acc")

    def test_a_non_number_result(self) -> None:
        with pytest.raises(InvalidArgumentError, match="must return a number or a dict of numbers"):
            lm.tune(lambda p: "good", {"x": (0.0, 1.0)}, n_trials=3)
        (study,) = [r for r in lm.search_runs() if r.tags.get("loopml.kind") == "study"]
        assert study.status is RunStatus.FAILED and len(children(study.id)) == 1

    def test_an_objective_must_take_the_params(self) -> None:
        with pytest.raises(InvalidArgumentError, match="first argument"):
            lm.tune(lambda: 1.0, {"x": (0.0, 1.0)})
        with pytest.raises(InvalidArgumentError, match="function of the params"):
            lm.tune("quadratic", {"x": (0.0, 1.0)})  # type: ignore[arg-type]

    @pytest.mark.parametrize("objective", [lambda p: 1.0, Scorer().score, Scorer()])
    def test_parallel_trials_need_a_top_level_function(self, objective: Any) -> None:
        with pytest.raises(InvalidArgumentError, match="top level of a module"):
            lm.tune(objective, {"x": (0.0, 1.0)}, n_jobs=2)

    def test_a_nested_function_cannot_run_in_parallel(self) -> None:
        def local(params: dict[str, Any]) -> float:
            return 0.0

        with pytest.raises(InvalidArgumentError, match="not \\(a lambda, a nested function"):
            lm.tune(local, {"x": (0.0, 1.0)}, n_jobs=2)


@pytest.mark.slow
class TestParallel:
    def test_trials_run_in_other_processes(self) -> None:
        result = lm.tune(
            quadratic_with_pid, {"x": (-10.0, 10.0)}, n_trials=16, n_jobs=2, metric="loss", seed=0
        )
        assert len(result.trials) == 16 and result.counts()["COMPLETE"] == 16
        pids = {t.metrics["pid"] for t in result.trials}
        assert os.getpid() not in pids and 1 <= len(pids) <= 2
        assert result.best_value == min(t.metrics["loss"] for t in result.trials)
        runs = children(result.study_run_id)
        assert len(runs) == 16 and all(r.status is RunStatus.FINISHED for r in runs)
        assert all(r.metrics["logged_inside"] == 1.0 and "x" in r.params for r in runs)
        assert lm.get_run(result.study_run_id).tags["loopml.study.n_jobs"] == "2"

    def test_pruning_and_failures_in_parallel(self) -> None:
        pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        result = lm.tune(learning_curve, {"rate": (0.0, 1.0)}, n_trials=16, n_jobs=2, seed=0, pruner=pruner)
        assert result.counts()["PRUNED"] > 0
        pruned = next(t for t in result.trials if t.state == "PRUNED")
        assert lm.get_run(pruned.run_id).tags["loopml.pruned"] == "true"

        result = lm.tune(fails_above_zero, {"x": (-1.0, 1.0)}, n_trials=8, n_jobs=2, seed=3)
        failed = next(t for t in result.trials if t.state == "FAIL")
        run = lm.get_run(failed.run_id)
        assert run.status is RunStatus.FAILED and run.error is not None and "RuntimeError" in run.error

    def test_workers_use_the_callers_settings_not_the_environment(self, tmp_path: Path) -> None:
        lm.configure(home=tmp_path / "elsewhere")  # LOOPML_HOME still names the per-test home
        result = lm.tune(quadratic_with_pid, {"x": (0.0, 4.0)}, n_trials=4, n_jobs=2, metric="loss")
        assert len(children(result.study_run_id)) == 4
        assert all(lm.get_run(t.run_id).metrics["logged_inside"] == 1.0 for t in result.trials)
        assert (tmp_path / "elsewhere" / "studies" / f"{result.study_run_id}.journal").is_file()

    def test_every_trial_failing_in_workers(self) -> None:
        with pytest.raises(StudyFailedError, match="the data is broken"):
            lm.tune(always_fails, {"x": (0.0, 1.0)}, n_trials=3, n_jobs=2)


def test_importing_loopml_and_its_pipelines_does_not_load_optuna() -> None:
    code = "import sys, loopml, loopml.pipelines; loopml.tune; print('optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
