"""``loopml agent --once``, ``loopml loop status|pause|resume`` and ``loopml approve`` on a real project: a
policy file, its pipeline, a registered champion and its deployment."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent._scenario import MODEL, build_world
from loopml.cli import app
from loopml.tracking import get_client

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    world = build_world(folder)
    world.now = int(time.time() * 1000) - 2 * 86_400_000  # the agent runs on the wall clock here
    world.traffic(24)
    monkeypatch.chdir(folder)
    return folder


def test_agent_once_then_status(project: Path) -> None:
    result = runner.invoke(app, ["agent", "--once"])
    assert result.exit_code == 0, result.output
    assert result.output == ""  # the first pass only notes what exists
    result = runner.invoke(app, ["loop", "status", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["model"] == MODEL and row["stage"] == "idle"
    assert row["lease"] is None  # a single pass gives its lease up when it ends
    result = runner.invoke(app, ["loop", "status"])
    assert result.exit_code == 0 and MODEL in result.output and "idle" in result.output


def test_agent_once_json_lines(project: Path) -> None:
    from agent._scenario import make_rows
    from loopml.data import add

    assert runner.invoke(app, ["agent", "--once"]).exit_code == 0
    add("machine-sensors", make_rows(1500, 21))
    result = runner.invoke(app, ["agent", "--once", "--json"])
    assert result.exit_code == 0, result.output
    actions = [json.loads(line)["action"] for line in result.output.splitlines()]
    assert actions == ["triggered", "retrained", "gate_passed", "canary_step"]


def test_pause_resume_and_approve(project: Path) -> None:
    result = runner.invoke(app, ["loop", "pause", MODEL, "--reason", "freeze"])
    assert result.exit_code == 0 and "Paused" in result.output
    assert get_client().store.loops.get_state(MODEL).paused
    result = runner.invoke(app, ["loop", "resume", MODEL])
    assert result.exit_code == 0 and "Resumed" in result.output
    assert not get_client().store.loops.get_state(MODEL).paused
    result = runner.invoke(app, ["approve", MODEL])
    assert result.exit_code == 1
    assert "no candidate" in result.output and "Traceback" not in result.output
    actions = [e.action for e in get_client().store.audit.events(entity_type="model", entity=MODEL)]
    assert "loop.paused" in actions and "loop.resumed" in actions


def test_agent_refuses_a_bad_policy(project: Path) -> None:
    (project / "loopml.yaml").write_text((project / "loopml.yaml").read_text().replace("cooldown", "cooldwn"))
    result = runner.invoke(app, ["agent", "--once"])
    assert result.exit_code == 1
    assert "line" in result.output and "cooldown" in result.output and "Traceback" not in result.output
