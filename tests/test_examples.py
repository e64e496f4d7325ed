"""The examples run as their readers would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_ci_workflow_trains_gates_and_registers(tmp_path: Path) -> None:
    workflow = yaml.safe_load((EXAMPLES / "ci" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["train-gate-register"]["steps"]
    gate = next(s["run"] for s in steps if s.get("name", "").startswith("Gate"))
    env = {**os.environ, "LOOPML_HOME": str(tmp_path / "home"), "LOOPML_USER": "ci-test"}
    loopml = [sys.executable, "-m", "loopml"]

    def train() -> str:
        out = subprocess.run(
            [sys.executable, str(EXAMPLES / "ci" / "train.py")],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    candidate = train()
    assert candidate == "failure-predictor:1"
    # the workflow's own gate command, with the candidate filled in
    args = gate.replace("${{ steps.train.outputs.candidate }}", candidate)
    args = args.replace("${{ github.sha }}", "abc123").split()[1:]
    words = []  # rejoin the quoted rules
    for part in args:
        if words and words[-1].startswith('"') and not words[-1].endswith('"'):
            words[-1] += " " + part
        else:
            words.append(part)
    words = [w.strip('"') for w in words]
    first = subprocess.run([*loopml, *words, "--json"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    assert json.loads(first.stdout)["promoted_to"] == "champion"
    card = subprocess.run(
        [*loopml, "models", "card", candidate, "-o", "model-card.md"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
    )
    assert card.returncode == 0 and "## Gate decisions" in (tmp_path / "model-card.md").read_text()
    history = subprocess.run(
        [*loopml, "models", "history", "failure-predictor", "--json"], env=env, capture_output=True, text=True
    )
    assert {e["actor"] for e in json.loads(history.stdout)} == {"ci-test"}
