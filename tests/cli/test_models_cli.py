"""``loopml models …`` and ``loopml gate``: tables, --json, exit codes 0 / 1 / 2, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import loopml as lm
from loopml.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def saved(tmp_path: Path) -> dict[str, Path]:
    x, y = make_classification(n_samples=800, n_features=5, random_state=1)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    frame["site"] = np.where(frame.index % 2 == 0, "a", "b")
    frame["label"] = y
    train, holdout = frame.iloc[:600], frame.iloc[600:]
    lm.data.add("train", train)
    lm.data.add("holdout", holdout)
    features = train.drop(columns=["label", "site"])
    paths = {}
    for name, model in [
        ("good", LogisticRegression(max_iter=500)),
        ("weak", DecisionTreeClassifier(max_depth=1)),
    ]:
        paths[name] = tmp_path / f"{name}.joblib"
        joblib.dump(model.fit(features, train["label"]), paths[name])
    (tmp_path / "not-a-model.joblib").write_bytes(b"\x00 not a pickle")
    paths["broken"] = tmp_path / "not-a-model.joblib"
    joblib.dump({"weights": [1, 2]}, tmp_path / "dict.joblib")
    paths["dict"] = tmp_path / "dict.joblib"
    return paths


def test_register_alias_show_ls_history(saved: dict[str, Path]) -> None:
    code, out = invoke("models", "register", "clf", "--file", str(saved["weak"]), "-d", "train:1", "--json")
    assert code == 0, out
    assert json.loads(out)["ref"] == "clf:1"
    assert invoke("models", "register", "clf", "--file", str(saved["good"]))[0] == 0
    code, out = invoke("models", "alias", "clf", "champion", "2", "--reason", "better f1")
    assert code == 0 and "clf@champion → version 2" in out
    listed = json.loads(invoke("models", "ls", "--json")[1])
    assert listed == [
        {
            "name": "clf",
            "latest_version": 2,
            "aliases": {"champion": 2},
            "tags": {},
            "description": "",
            "updated_ms": listed[0]["updated_ms"],
        }
    ]
    shown = json.loads(invoke("models", "show", "clf:1", "--json")[1])
    assert shown["dataset_refs"] == ["train:1"] and shown["flavor"] == "sklearn"
    assert [v["version"] for v in json.loads(invoke("models", "show", "clf", "--json")[1])] == [1, 2]
    history = json.loads(invoke("models", "history", "clf", "--json")[1])
    assert [h["action"] for h in history] == ["model.register", "model.register", "alias.set"]
    assert history[-1]["reason"] == "better f1"
    code, out = invoke("models", "history", "clf")
    assert code == 0 and "alias.set" in out
    code, out = invoke("models", "alias", "clf", "champion", "--delete")
    assert code == 0 and json.loads(invoke("models", "ls", "--json")[1])[0]["aliases"] == {}


def test_bad_registrations_and_references_get_one_line(saved: dict[str, Path]) -> None:
    cases = [
        (["models", "register", "clf", "--file", str(saved["dict"])], "predict"),
        (["models", "register", "clf", "--file", str(saved["broken"])], "could not be loaded"),
        (["models", "register", "clf"], "Give the model as --file PATH or as --run RUN_ID"),
        (["models", "show", "nope@champion"], "No registered model named 'nope'"),
        (["models", "alias", "clf", "champion", "1"], "No registered model named 'clf'"),
    ]
    for args, message in cases:
        code, out = invoke(*args)
        assert code == 1 and message in out and "Traceback" not in out, (args, out)
    assert invoke("models", "register", "clf", "--file", str(saved["good"]))[0] == 0
    code, out = invoke("models", "show", "clf@staging")
    assert code == 1 and "has no alias 'staging'" in out


def test_register_from_a_run_artifact(saved: dict[str, Path]) -> None:
    with lm.start_run(experiment="cli") as run:
        lm.log_artifact(saved["good"], "model")
    code, out = invoke(
        "models", "register", "clf", "--run", run.id, "--artifact", "model/good.joblib", "--json"
    )
    assert code == 0, out
    assert json.loads(out)["source_run_id"] == run.id


def test_gate_exit_codes_promotion_and_card(saved: dict[str, Path], tmp_path: Path) -> None:
    invoke("models", "register", "clf", "--file", str(saved["weak"]))
    invoke("models", "register", "clf", "--file", str(saved["good"]))
    gate = ["gate", "--data", "holdout@latest", "--target", "label"]
    code, out = invoke(*gate[:1], "clf:1", *gate[1:], "--rule", "f1 >= baseline", "--promote", "champion")
    assert code == 0 and "PASS" in out and "no baseline" in out  # the first model: no champion yet
    code, out = invoke(
        *gate[:1], "clf:2", *gate[1:], "--rule", "f1 >= baseline", "--promote", "champion", "--json"
    )
    decided = json.loads(out)
    assert (
        code == 0
        and decided["passed"]
        and decided["baseline"] == "clf:1"
        and decided["promoted_to"] == "champion"
    )
    code, out = invoke(
        *gate[:1], "clf:1", *gate[1:], "--rule", "f1 >= baseline + 0.05", "--promote", "champion"
    )
    assert code == 1 and "FAIL" in out
    assert lm.get_model_version("clf@champion").version == 2
    code, out = invoke(*gate[:1], "clf:2", *gate[1:], "--rule", "f1 >== 0.5")
    assert code == 2 and "error:" in out
    code, out = invoke(*gate[:1], "clf:9", *gate[1:], "--rule", "f1 >= 0.5")
    assert code == 2 and "has no version 9" in out
    card = tmp_path / "card.md"
    code, _ = invoke(
        "models", "card", "clf@champion", "-o", str(card), "--field", "limitations=Synthetic data."
    )
    assert code == 0 and "Synthetic data." in card.read_text() and "passed" in card.read_text()


def test_gate_format_markdown_for_a_ci_job_summary(saved: dict[str, Path]) -> None:
    invoke("models", "register", "clf", "--file", str(saved["good"]))
    invoke("models", "register", "clf", "--file", str(saved["weak"]))
    invoke("models", "alias", "clf", "champion", "1")
    gate = ["gate", "clf:2", "--data", "holdout@latest", "--target", "label", "--format", "markdown"]
    result = runner.invoke(app, [*gate, "--rule", "f1 >= baseline - 0.01", "--rule", "accuracy >= 0.5"])
    assert result.exit_code == 1, result.output
    md = result.stdout
    assert md.startswith("## Gate FAILED: `clf:2` against `clf:1`\n")
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert len(rows) == 2 and "| **FAIL** |" in rows[0] and "| pass |" in rows[1]
    assert lm.get_model_version("clf@champion").version == 1

    result = runner.invoke(app, [*gate, "--rule", "accuracy >= 0.5", "--promote", "champion"])
    assert result.exit_code == 0 and result.stdout.startswith("## Gate PASSED")
    assert "Promoted: `clf@champion → 2`." in result.stdout

    # an error leaves a heading that says so in the summary, and exit code 2
    result = runner.invoke(app, [*gate, "--rule", "f1 >== 0.5"])
    assert result.exit_code == 2 and result.stdout.startswith("## Gate ERROR: no decision about `clf:2`")
    assert "f1 >== 0.5" in result.stdout and "error:" in result.stderr
    for extra, message in [
        (["--json"], "Give --json or --format markdown, not both"),
        (["--format", "html"], "--format takes table, json, markdown, not 'html'"),
    ]:
        result = runner.invoke(app, [*gate, "--rule", "f1 >= 0.5", *extra])
        assert result.exit_code == 2 and message in result.stderr, result.output


def test_export_and_build_docker_say_plainly_when_there_is_no_engine(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    invoke("models", "register", "clf", "--file", str(saved["good"]))
    code, out = invoke("models", "export", "clf:1", str(tmp_path / "out"))
    assert code == 0 and (tmp_path / "out" / "Dockerfile").is_file()
    if lm.registry.docker_available() is None:
        pytest.skip("a Docker engine answers here; the refusal path is for machines without one")
    code, out = invoke("models", "build-docker", "clf:1", "--dir", str(tmp_path / "ctx"))
    assert code == 1 and "cannot build the image" in out and "docker build -t clf:1" in out
    assert (tmp_path / "ctx" / "Dockerfile").is_file()
