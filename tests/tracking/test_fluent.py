"""The fluent tracking API as a user writes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import loopml as lm
from loopml.errors import ConflictError, InvalidArgumentError, NotFoundError, PathEscapeError
from loopml.store import RunStatus


class TestRunLifecycle:
    def test_context_manager_records_everything(self) -> None:
        with lm.start_run(experiment="maintenance", name="first", tags={"team": "vision"}) as run:
            lm.log_params({"n_estimators": 200, "model": "rf"})
            lm.log_param("depth", 8)
            for step, loss in enumerate([0.9, 0.5, 0.3]):
                lm.log_metric("loss", loss, step=step)
            lm.log_metrics({"f1": 0.8, "auc": np.float32(0.9)})
            lm.set_tag("stage", "dev")
        got = lm.get_run(run.id)
        assert got.status is RunStatus.FINISHED and got.end_ms is not None and got.name == "first"
        assert got.experiment_name == "maintenance"
        assert got.params == {"n_estimators": "200", "model": "rf", "depth": "8"}
        assert got.metrics["loss"] == 0.3 and got.metrics["f1"] == 0.8
        assert got.metrics["auc"] == pytest.approx(0.9)
        assert got.tags == {"team": "vision", "stage": "dev"}
        assert [m.value for m in lm.get_metric_history(run.id, "loss")] == [0.9, 0.5, 0.3]
        assert lm.active_run() is None

    def test_a_run_that_raises_ends_failed_with_the_error(self) -> None:
        with pytest.raises(ZeroDivisionError), lm.start_run() as run:
            lm.log_metric("before", 1.0)
            _ = 1 / 0
        got = lm.get_run(run.id)
        assert got.status is RunStatus.FAILED
        assert got.error is not None and got.error.startswith("ZeroDivisionError: division by zero")
        assert "Traceback" in got.error and got.metrics == {"before": 1.0}

    def test_a_run_started_inside_another_is_its_child(self) -> None:
        with lm.start_run(experiment="tuning") as parent:
            with lm.start_run(name="trial-0") as child:
                lm.log_metric("score", 1.0)
            assert lm.active_run() is parent
        got = lm.get_run(child.id)
        assert got.parent_id == parent.id and got.experiment_name == "tuning"
        assert lm.search_runs(f"parent_id = '{parent.id}'")[0].id == child.id

    def test_explicit_end_and_fluent_end_run(self) -> None:
        run = lm.start_run()
        lm.log_metric("x", 1)
        lm.end_run()
        assert lm.get_run(run.id).status is RunStatus.FINISHED and lm.active_run() is None


class TestBadInput:
    def test_logging_without_a_run(self) -> None:
        with pytest.raises(InvalidArgumentError, match="start_run"):
            lm.log_metric("x", 1.0)

    @pytest.mark.parametrize("value", ["abc", None, [1, 2]])
    def test_metric_must_be_a_number(self, value: object) -> None:
        with lm.start_run(), pytest.raises(InvalidArgumentError, match="must be a number"):
            lm.log_metric("x", value)  # type: ignore[arg-type]

    @pytest.mark.parametrize("key", ["", 3, "k" * 251])
    def test_keys_must_be_short_strings(self, key: object) -> None:
        with lm.start_run(), pytest.raises(InvalidArgumentError, match="key"):
            lm.log_metric(key, 1.0)  # type: ignore[arg-type]

    def test_param_rewrite_conflicts(self) -> None:
        with lm.start_run():
            lm.log_param("lr", 0.1)
            with pytest.raises(ConflictError):
                lm.log_param("lr", 0.2)

    def test_unknown_experiment_in_search(self) -> None:
        with pytest.raises(NotFoundError):
            lm.search_runs(experiment="never-made")


class TestSearch:
    def test_the_issue_example(self) -> None:
        for model, f1, team in [("rf", 0.9, "vision"), ("rf", 0.7, "vision"), ("gbm", 0.95, "vision")]:
            with lm.start_run(experiment="s", tags={"team": team}):
                lm.log_params({"model": model})
                lm.log_metric("f1", f1)
        runs = lm.search_runs(
            "metrics.f1 > 0.8 and params.model = 'rf' and tags.team = 'vision'", experiment="s"
        )
        assert [(r.params["model"], r.metrics["f1"]) for r in runs] == [("rf", 0.9)]
        ordered = lm.search_runs(experiment=["s"], order_by=["metrics.f1 desc"], limit=2)
        assert [r.metrics["f1"] for r in ordered] == [0.95, 0.9]


class TestArtifacts:
    def test_files_folders_text_and_dicts_round_trip(self, tmp_path: Path) -> None:
        (tmp_path / "model.bin").write_bytes(b"weights" * 1000)
        folder = tmp_path / "report"
        (folder / "plots").mkdir(parents=True)
        (folder / "index.html").write_text("<h1>hi</h1>")
        (folder / "plots" / "a.svg").write_text("<svg/>")
        with lm.start_run() as run:
            lm.log_artifact(tmp_path / "model.bin", "model")
            lm.log_artifact(folder)
            lm.log_text("hello", "notes/readme.txt")
            lm.log_dict({"a": np.int64(1), "b": [1.5]}, "meta.json")
        got = lm.get_run(run.id)
        assert {a.path: a.kind for a in got.artifacts} == {
            "model/model.bin": "file",
            "report": "dir",
            "notes/readme.txt": "file",
            "meta.json": "file",
        }
        out = tmp_path / "out"
        assert lm.download_artifact(run.id, "model/model.bin", out).read_bytes() == b"weights" * 1000
        restored = lm.download_artifact(run.id, "report", out)
        assert (restored / "plots" / "a.svg").read_text() == "<svg/>"
        assert b'"a": 1' in lm.download_artifact(run.id, "meta.json", out).read_bytes()

    @pytest.mark.parametrize("path", ["../outside", "/etc/passwd", "a/../../b"])
    def test_paths_that_leave_the_run_are_refused(self, path: str) -> None:
        with lm.start_run(), pytest.raises(PathEscapeError):
            lm.log_text("x", path)

    def test_missing_file(self, tmp_path: Path) -> None:
        with lm.start_run(), pytest.raises(NotFoundError, match="no such file"):
            lm.log_artifact(tmp_path / "nope.txt")


def test_git_commit_dirty_flag_and_entry_point_are_captured(tmp_path: Path, loopml_home: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    script = repo / "train.py"
    script.write_text("import loopml as lm\nwith lm.start_run() as r:\n    print(r.id)\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "train.py"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()

    def run_script() -> str:
        out = subprocess.run(
            [sys.executable, str(script)], cwd=repo, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    clean = lm.get_run(run_script())
    assert (clean.git_commit, clean.git_dirty, clean.entry_point) == (head, False, "train.py")
    script.write_text(script.read_text() + "# edited\n")
    assert lm.get_run(run_script()).git_dirty is True
