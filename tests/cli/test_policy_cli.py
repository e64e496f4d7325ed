"""``loopml policy check``: a table and "policy OK" for a right file; every mistake with its line and exit 1,
as one message without a traceback or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import loopml as lm
from loopml.cli import app

runner = CliRunner()

POLICY = """\
models:
  churn:
    target: churned
    triggers:
      - dataset: customers
      - schedule: "30 2 * * *"
    retrain:
      pipeline: flow.py:train
      data: {base: customers@latest}
    gate:
      rules: ["accuracy >= baseline - 0.01"]
    rollout:
      shadow: {duration: 30m}
      steps: [5, 25, 50]
      min_duration: 2h
    approval: true
"""

FLOW = """\
import loopml as lm

@lm.pipelines.step
def fit(data: object) -> int:
    return 1

@lm.pipelines.pipeline
def train(data: object = None) -> None:
    fit(data)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"tenure": rng.normal(10, 3, 100), "churned": rng.integers(0, 2, 100)})
    lm.register_model("churn", LogisticRegression().fit(frame[["tenure"]], frame["churned"]))
    lm.data.add("customers", frame)
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "flow.py").write_text(FLOW)
    (folder / "loopml.yaml").write_text(POLICY)
    return folder


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_a_right_policy_shows_what_the_agent_will_do(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    code, out = invoke("policy", "check")
    assert code == 0, out
    assert "policy OK" in out and "1 model." in out
    for shown in ("churn", "dataset customers", "schedule 30 2 * * *", "flow.py:train", "shadow 30m", "5%"):
        assert shown in out, shown
    code, out = invoke("policy", "check", str(project / "loopml.yaml"), "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["ok"] is True and doc["path"] == str(project / "loopml.yaml")
    churn = doc["models"]["churn"]
    assert churn["rollout"]["steps"] == [5, 25, 50] and churn["rollout"]["min_duration_ms"] == 7_200_000
    assert churn["approval"] is True and churn["deployment"] == "churn"


def test_mistakes_exit_1_each_with_its_line(project: Path) -> None:
    path = project / "loopml.yaml"
    path.write_text(
        POLICY.replace("min_duration: 2h", "min_duraton: 2h").replace('"30 2 * * *"', '"30 25 * * *"')
    )
    code, out = invoke("policy", "check", str(path))
    assert code == 1
    assert "Traceback" not in out and "has 2 mistakes" in out
    flat = " ".join(out.split())  # rich wraps long lines
    assert "line 6, models.churn.triggers[1].schedule: the schedule '30 25 * * *' is not a cron" in flat
    assert "line 15, models.churn.rollout.min_duraton: unknown key 'min_duraton': did you mean" in flat
    code, out = invoke("policy", "check", str(path), "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False and [(e["line"], e["key"]) for e in doc["errors"]] == [
        (6, "models.churn.triggers[1].schedule"),
        (15, "models.churn.rollout.min_duraton"),
    ]
    assert doc["errors"][1]["message"] == "unknown key 'min_duraton': did you mean 'min_duration'?"
    # once the file itself is right, what it names is checked: the monitor does not exist
    path.write_text(POLICY.replace("- dataset: customers", "- alert: churn-drift"))
    code, out = invoke("policy", "check", str(path))
    flat = " ".join(out.split())
    assert code == 1 and "line 5, models.churn.triggers[0].alert: no monitor 'churn-drift'" in flat


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    code, out = invoke("policy", "check")
    assert code == 1 and "no policy file: loopml.yaml does not exist" in out and "Traceback" not in out
