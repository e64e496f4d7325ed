"""The ``loopml`` command: tables, --json, exit codes, and errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopml as lm
from loopml.artifacts import hash_file
from loopml.cli import app
from loopml.tracking import get_client

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def two_runs() -> list[str]:
    ids = []
    for name, f1 in [("rf", 0.9), ("gbm", 0.7)]:
        with lm.start_run(experiment="cli", name=name) as run:
            lm.log_params({"model": name})
            lm.log_metric("f1", f1)
            lm.log_text("x" * 100, f"out/{name}.txt")
        ids.append(run.id)
    return ids


def test_version() -> None:
    code, out = invoke("--version")
    assert code == 0 and out.strip() == f"loopml {lm.__version__}"


def test_experiments_and_runs_as_tables_and_json(two_runs: list[str]) -> None:
    code, out = invoke("experiments", "ls")
    assert code == 0 and "cli" in out
    code, out = invoke("experiments", "ls", "--json")
    assert [(e["name"], e["runs"]) for e in json.loads(out)] == [("cli", 2)]
    code, out = invoke("runs", "ls", "--filter", "metrics.f1 > 0.8", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["rf"]
    code, out = invoke("runs", "ls", "-e", "cli", "-o", "metrics.f1", "--json")
    assert [r["name"] for r in json.loads(out)] == ["gbm", "rf"]
    code, out = invoke("runs", "ls")
    assert code == 0 and two_runs[0][:8] in out and "FINISHED" in out


def test_runs_show_by_prefix(two_runs: list[str]) -> None:
    code, out = invoke("runs", "show", two_runs[0][:10])
    assert code == 0 and "rf" in out and "out/rf.txt" in out and "f1" in out
    code, out = invoke("runs", "show", two_runs[1], "--json")
    data = json.loads(out)
    assert data["id"] == two_runs[1] and data["metrics"] == {"f1": 0.7} and data["status"] == "FINISHED"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "show", "zzz"], "is not a run id"),
        (["runs", "show", "0" * 32], "No run with id"),
        (["runs", "ls", "--filter", "metrics.f1 >"], "^"),
        (["runs", "ls", "-e", "missing"], "No experiment named"),
    ],
)
def test_user_errors_exit_1_without_a_traceback(two_runs: list[str], args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_bad_configuration_is_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml import tracking

    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "often")
    tracking.reset()
    code, out = invoke("runs", "ls")
    assert code == 1 and "LOOPML_FLUSH_INTERVAL" in out and "Traceback" not in out


def test_doctor_passes_then_finds_a_corrupt_blob(two_runs: list[str]) -> None:
    code, out = invoke("doctor", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    digest = lm.get_run(two_runs[0]).artifacts[0].digest
    path = get_client().artifacts.local_path(digest)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    code, out = invoke("doctor", "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["problems"] == [f"corrupt {digest}"]
    path.unlink()
    code, out = invoke("doctor")
    assert code == 1 and f"missing {digest}" in out


def test_gc_removes_only_old_unreferenced_blobs(two_runs: list[str]) -> None:
    artifacts = get_client().artifacts
    orphan = artifacts.put_bytes(b"nobody refers to me")
    fresh = artifacts.put_bytes(b"just written, about to be referenced")
    old = time.time() - 7200
    path = artifacts.local_path(orphan.digest)
    assert path is not None
    os.utime(path, (old, old))
    code, out = invoke("gc", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["removed"] == 1 and artifacts.exists(orphan.digest)
    code, out = invoke("gc", "--json")
    assert json.loads(out)["removed"] == 1
    assert not artifacts.exists(orphan.digest) and artifacts.exists(fresh.digest)
    assert invoke("doctor")[0] == 0  # every referenced blob survived


@pytest.mark.slow
def test_killed_artifact_writer_leaves_doctor_green(loopml_home: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        for i in range(400):
            fh.write(os.urandom(1 << 20) if i == 0 else bytes([i % 256]) * (1 << 20))
    ready = tmp_path / "started"
    code = f"""
import pathlib, loopml as lm
with lm.start_run() as run:
    lm.log_text("small", "small.txt")
    pathlib.Path({str(ready)!r}).write_text(run.id)
    while True:
        lm.log_artifact({str(big)!r})
"""
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "LOOPML_HOME": str(loopml_home)})
    tmp_dir = loopml_home / "artifacts" / "tmp"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        ready.exists() and any(f.stat().st_size > (8 << 20) for f in tmp_dir.glob("*") if f.is_file())
    ):
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert ready.exists()
    objects = loopml_home / "artifacts" / "objects"
    big_digest = hash_file(big)
    assert not (objects / big_digest[:2] / big_digest[2:]).exists()  # no partial object under the final name
    code_, out = invoke("doctor")
    assert code_ == 0, out


@pytest.mark.slow
def test_demo_trains_through_a_pipeline_tunes_registers_gates_and_reruns_from_cache() -> None:
    code, out = invoke("demo", "--quiet")
    assert code == 0, out
    pipeline_runs = lm.search_runs(
        "tags.`loopml.kind` = 'pipeline'", experiment="demo-failure-prediction", order_by=["start_time"]
    )
    assert [r.status for r in pipeline_runs] == [lm.RunStatus.FINISHED] * 2
    first, second = (lm.pipelines.get_pipeline_run(r.id) for r in pipeline_runs)
    assert [s.name for s in first.steps] == [
        "prepare",
        "train",
        "evaluate",
        "tune_gbm",
        "train_2",
        "evaluate_2",
    ]
    assert not first.cached_steps and len(second.cached_steps) == len(second.steps)
    assert "6 of 6 steps from cache" in out and "Best:" in out
    for node in ("train", "train_2"):
        train_run = lm.get_run(first.step(node).run_id or "")
        assert len(lm.get_metric_history(train_run.id, "cv_f1")) == 5
    for node in ("evaluate", "evaluate_2"):
        assert 0.5 < lm.get_run(first.step(node).run_id or "").metrics["test_roc_auc"] <= 1.0
    tune_run = first.step("tune_gbm").run_id
    studies = lm.search_runs(f"attributes.parent_id = '{tune_run}'", experiment="demo-failure-prediction")
    assert len(studies) == 1
    trials = lm.search_runs(f"attributes.parent_id = '{studies[0].id}'", experiment="demo-failure-prediction")
    assert len(trials) == 8 and all("cv_f1" in t.metrics for t in trials)
    sensors = lm.data.get("demo-sensors:1")  # version 2 is the broken export the loop's chapter adds
    assert sensors.num_rows == 6000
    assert sensors.checks is not None and sensors.checks["passed"] and len(sensors.checks["results"]) == 6
    assert sensors.profile_digest is not None and lm.data.profile(sensors).num_rows == 6000
    model = first.step("train_2").output
    assert model is not None and lm.pipelines.trace(model.digest).datasets == [sensors.ref]
    # the registry: both models registered from their step runs, gated, one of them the champion
    versions = lm.registry.model_versions("failure-predictor")[:2]  # the later ones are the loop's
    assert [v.source_run_id for v in versions] == [first.step("train").run_id, first.step("train_2").run_id]
    assert all(v.datasets == (sensors.id,) and "f1" in v.metrics for v in versions)
    store = get_client().store
    # the champion the pipeline's gate chose (the loop moves the alias later)
    champion = next(v for v in versions if f"Champion: failure-predictor:{v.version} (test F1" in out)
    assert store.models.gate_records(versions[0].id)[0].passed  # the first model: no baseline to beat
    holdout = lm.data.get("demo-sensors-holdout@latest")
    assert store.models.evaluations(champion.id)[0].dataset_version_id == holdout.id
    assert "site" in store.models.evaluations(champion.id)[0].evaluation["slices"]
    actions = [e.action for e in lm.registry.model_history("failure-predictor")]
    assert actions[:3] == ["model.register", "gate.decide", "alias.set"]
    assert actions.count("gate.decide") == 4  # two by the demo's gate, two by the loop's
    assert lm.load_model(champion).predict(holdout_frame := lm.data.load(holdout)).shape == (
        len(holdout_frame),
    )
    # served over HTTP: every answer in the prediction log, every label joined by request id
    from loopml.monitoring import join_labels, read_labels, read_predictions

    assert "200 answers equal to the model's own; 200 rows in the prediction log, 200 labels" in out
    log = read_predictions(store, get_client().artifacts, "failure-predictor")
    log = log[~log["request_id"].str.startswith("demo-d")]  # not the monitoring chapter's simulated days
    joined = join_labels(log, read_labels(store, "failure-predictor"))
    assert len(log) == 200 and joined["label"].notna().all()
    assert set(log["model_version"]) == {champion.version} and set(log["route"]) == {"champion"}
    # monitored over simulated days: the drift found in the window of the day it began, its alert opened on
    # the second drifted window (as its rule says), F1 falling once the labels came, and its own alert
    from loopml.cli import _demo_monitor as chapter
    from loopml.cli._demo import SENSORS
    from loopml.monitoring import monitor_windows

    monitor = store.monitors.get(chapter.MONITOR)
    windows = [w for w in monitor_windows(chapter.MONITOR) if not w.slice]
    simulated = [w for w in windows if (w.metrics.get("rows") or 0) > 200]  # not the day of the 200 served
    start = min(w.start_ms for w in simulated)
    days = sorted({(w.start_ms - start) // chapter.DAY_MS for w in simulated})
    assert days == list(range(chapter.DAYS))
    old = {
        (w.start_ms - start) // chapter.DAY_MS: w for w in simulated if w.model_version == champion.version
    }
    drifting = {day: chapter.drifted_features(w) for day, w in old.items()}
    assert [day for day, found in drifting.items() if found] == list(range(chapter.DRIFT_FROM, max(old) + 1))
    assert all(set(drifting[day]) >= set(SENSORS) for day in range(chapter.DRIFT_FROM, max(old) + 1))
    alerts = {a.rule: a for a in store.monitors.alerts(monitor.id)}
    assert sorted(alerts) == sorted([chapter.RULE, chapter.PERF_RULE])
    assert alerts[chapter.RULE].window_start_ms == old[chapter.DRIFT_FROM + 1].start_ms
    assert all(w.metrics["label_coverage"] == 1.0 for w in simulated)
    f1 = {day: w.metrics["f1"] for day, w in old.items()}
    before = sum(f1[d] for d in range(chapter.DRIFT_FROM)) / chapter.DRIFT_FROM
    assert f1[max(old)] < before - 0.1, f1
    # the loop: the F1 alert retrained, the candidate passed its gate, took its canary steps and was promoted;
    # the broken export's candidate was stopped by the gate; the new champion's F1 came back
    actions = [e.action for e in store.audit.events(entity_type="model", entity="failure-predictor")]
    loop = [a for a in actions if a.startswith("loop.")]
    assert loop == [
        "loop.triggered",
        "loop.retrained",
        "loop.gate_passed",
        "loop.canary_step",
        "loop.canary_step",
        "loop.promoted",
        "loop.triggered",
        "loop.retrained",
        "loop.rejected",
    ], loop
    new_champion = lm.get_model_version("failure-predictor@champion")
    assert new_champion.version > champion.version
    assert [d.canary_percent for d in lm.deployment_history("failure-predictor")] == [0, 25, 50, 0]
    recovered = [w.metrics["f1"] for w in simulated if w.model_version == new_champion.version]
    assert recovered and min(recovered) > f1[max(old)] + 0.1, (recovered, f1)
    assert "promoted" in out and "rejected" in out
    report = (lm.get_settings().home / "monitor-report.html").read_text()
    assert "failure-predictor-daily" in report and "<script" not in report
    assert invoke("doctor")[0] == 0


def test_error_text_with_brackets_is_printed_verbatim() -> None:
    from loopml.cli._app import new_app
    from loopml.errors import InvalidArgumentError

    probe = new_app("probe")

    @probe.command("boom")
    def boom() -> None:
        raise InvalidArgumentError("duplicate column names: ['a'] and [bold]not markup[/bold]")

    @probe.command("other")
    def other() -> None: ...

    result = runner.invoke(probe, ["boom"])
    assert result.exit_code == 1
    assert "['a'] and [bold]not markup[/bold]" in result.output
