"""The closed loop, scenario by scenario, with simulated time: promotion, gate rejection, canary rollback on
error rate and on performance, manual approval, a scheduled retrain, a failing pipeline, an agent killed in
the middle of a rollout and resumed by another, and two agents started at once.

Each scenario runs the real agent against a real Store, registry, pipeline and prediction log; traffic is
simulated (``Traffic``: what servers following the deployment would log) and the clock is the test's.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import loopml as lm
from loopml.agent import Decision, Traffic, approve, loop_status, set_paused
from loopml.errors import InvalidArgumentError, NotFoundError
from loopml.monitoring import log_labels
from loopml.tracking import get_client

from ._scenario import MODEL, World, build_world

pytestmark = pytest.mark.slow


def _start(world: World) -> None:
    """A day of champion traffic with labels, a first pass (the triggers' memory), then new data."""
    agent = world.agent()
    assert agent.run_once() == []  # nothing fired yet: the triggers only note what exists
    world.traffic(24)
    world.new_data_version(seed=11)


def _champion() -> int:
    return lm.get_model_version(f"{MODEL}@champion").version


def _run_rollout(
    world: World, hours: int = 6, traffic: Traffic | None = None, holder: str = "agent-a"
) -> None:
    agent = world.agent(holder)
    for _ in range(hours):
        world.traffic(1, traffic=traffic)
        agent.run_once()


def test_promotion(tmp_path: Path) -> None:
    world = build_world(tmp_path / "project")
    _start(world)
    agent = world.agent()
    agent.run_once()
    assert world.actions() == ["triggered", "retrained", "gate_passed", "canary_step"]
    candidate = lm.get_model_version(f"{MODEL}@challenger").version
    assert candidate == 2 and _champion() == 1
    deployment = lm.get_deployment(MODEL)
    assert (deployment.canary, deployment.canary_percent) == ("@challenger", 25.0)

    _run_rollout(world, hours=4)
    assert world.actions() == [
        "triggered",
        "retrained",
        "gate_passed",
        "canary_step",
        "canary_step",
        "promoted",
    ]
    assert _champion() == candidate
    deployment = lm.get_deployment(MODEL)
    assert deployment.canary is None and deployment.canary_percent == 0
    assert [h.canary_percent for h in lm.deployment_history(MODEL)] == [0, 25, 50, 0]
    assert world.audit() == [
        "loop.triggered",
        "loop.retrained",
        "loop.gate_passed",
        "loop.canary_step",
        "loop.canary_step",
        "loop.promoted",
    ]
    # the gate judged rows strictly newer than the candidate's training data, and says so
    events = get_client().store.audit.events(entity_type="model", entity=MODEL)
    gate = next(e for e in events if e.action == "loop.gate_passed")
    retrained = next(e for e in events if e.action == "loop.retrained")
    assert gate.details["cut_ms"] == retrained.details["cut_ms"]
    assert gate.details["gate_rows"] >= 60
    training = lm.data.get(retrained.details["training"])
    assert training.num_rows > 1500  # the base plus production's labelled rows before the cut
    status = loop_status()[0]
    assert status["stage"] == "idle" and status["last"]["promoted"] == candidate


def test_gate_rejects_a_bad_candidate(tmp_path: Path) -> None:
    world = build_world(tmp_path / "project", params="{noise: 0.45}")
    _start(world)
    world.agent().run_once()
    assert world.actions() == ["triggered", "retrained", "rejected"]
    assert _champion() == 1
    assert lm.get_deployment(MODEL).canary is None
    with pytest.raises(NotFoundError):
        lm.get_model_version(f"{MODEL}@challenger")
    rejected = world.decisions[-1]
    assert "accuracy" in rejected.reason and rejected.details["decision"]["passed"] is False


def test_canary_rolled_back_on_error_rate(tmp_path: Path) -> None:
    world = build_world(tmp_path / "project")
    _start(world)
    world.agent().run_once()
    candidate = lm.get_model_version(f"{MODEL}@challenger").version
    _run_rollout(world, hours=3, traffic=Traffic(MODEL, seed=5, faults={candidate: 0.3}))
    assert world.actions()[-1] == "rolled_back"
    assert "error_rate" in world.decisions[-1].reason or "error" in world.decisions[-1].reason
    assert _champion() == 1
    assert lm.get_deployment(MODEL).canary is None


def test_canary_rolled_back_on_performance(tmp_path: Path) -> None:
    # a lenient gate lets a worse candidate through; the canary's labelled answers show it
    world = build_world(
        tmp_path / "project",
        params="{bias: 0.6}",
        rules='["accuracy >= 0.5"]',
        steps="[50]",
        performance="{metric: accuracy, max_drop: 0.02, min_label_coverage: 0.5}",
    )
    _start(world)
    world.agent().run_once()
    assert world.actions()[-1] == "canary_step"
    _run_rollout(world, hours=4)
    assert world.actions()[-1] == "rolled_back", world.decisions[-1].reason
    assert "accuracy" in world.decisions[-1].reason
    assert _champion() == 1


def test_manual_approval(tmp_path: Path) -> None:
    world = build_world(tmp_path / "project", steps="[50]", approval="true")
    _start(world)
    world.agent().run_once()
    _run_rollout(world, hours=3)
    assert world.actions()[-1] == "approval_needed"
    assert _champion() == 1
    approve(MODEL, reason="looked at the canary's figures")
    world.agent().run_once()
    assert world.actions()[-1] == "promoted"
    assert _champion() == 2
    assert "approved by" in world.decisions[-1].reason
    assert "loop.approved" in world.audit()


def test_approve_without_a_candidate_is_refused(tmp_path: Path) -> None:
    build_world(tmp_path / "project")
    with pytest.raises(InvalidArgumentError, match="no candidate"):
        approve(MODEL)


def test_scheduled_retrain(tmp_path: Path) -> None:
    world = build_world(tmp_path / "project", extra_trigger='- schedule: "0 3 * * *"')
    agent = world.agent()
    agent.run_once()  # 00:00: the schedule starts counting
    world.traffic(2)  # 02:10: not due yet
    agent.run_once()
    assert world.actions() == []
    world.traffic(2)  # 04:20: 03:00 has passed
    agent.run_once()
    assert world.actions()[0] == "triggered"
    assert "schedule" in world.decisions[0].reason


def test_failing_pipeline_keeps_the_champion(tmp_path: Path) -> None:
    world = build_world(tmp_path / "project", params="{fail: true}")
    _start(world)
    world.agent().run_once()
    assert world.actions() == ["triggered", "retrain_failed"]
    assert "could not be read" in world.decisions[-1].reason
    assert _champion() == 1
    assert get_client().store.loops.get_state(MODEL).stage == "idle"


def test_agent_killed_mid_rollout_resumes(tmp_path: Path) -> None:
    world = build_world(tmp_path / "project", steps="[25, 50]")
    _start(world)
    first = world.agent("agent-a", lease_ms=2 * 60 * 60_000)
    first.run_once()  # up to the first canary step; then agent-a dies without releasing its lease
    assert world.actions()[-1] == "canary_step"
    world.traffic(1)
    second = world.agent("agent-b")
    assert second.run_once()[0].action == "held"  # agent-a's lease is still live
    world.traffic(1)
    # agent-a's lease has expired: another agent takes over where the Store says the rollout stands
    _run_rollout(world, hours=3, holder="agent-b")
    actions = world.actions()
    assert actions.count("retrained") == 1 and actions[-1] == "promoted"
    assert _champion() == 2


def test_two_agents_at_once_act_once(tmp_path: Path) -> None:
    world = build_world(tmp_path / "project")
    _start(world)
    agents = [world.agent(f"agent-{i}") for i in range(2)]
    barrier = threading.Barrier(2)
    results: dict[int, list[str]] = {}

    def run(i: int) -> None:
        barrier.wait()
        results[i] = [d.action for d in agents[i].run_once()]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(len(r) > 1 for r in results.values()) == [False, True]
    held = next(r for r in results.values() if len(r) == 1)
    assert held == ["held"]
    assert world.actions().count("retrained") == 1


def test_paused_loop_holds(tmp_path: Path) -> None:
    world = build_world(tmp_path / "project")
    _start(world)
    set_paused(MODEL, True, reason="holiday freeze")
    world.agent().run_once()
    assert world.actions() == ["paused"]
    set_paused(MODEL, False)
    world.agent().run_once()
    assert world.actions()[1:3] == ["triggered", "retrained"]


def test_candidate_that_cannot_load_keeps_the_champion(tmp_path: Path) -> None:
    world = build_world(tmp_path / "project")
    _start(world)
    client = get_client()

    def lose_the_bundle(decision: Decision) -> None:  # the candidate's files vanish before its gate
        world.decisions.append(decision)
        if decision.action == "retrained":
            version = lm.get_model_version(f"{MODEL}:{decision.details['candidate']}")
            client.artifacts.delete(version.bundle_digest)

    agent = world.agent()
    agent.on_decision = lose_the_bundle
    agent.run_once()
    assert world.actions() == ["triggered", "retrained", "failed"]
    assert "gating failed" in world.decisions[-1].reason
    assert _champion() == 1
    assert lm.get_deployment(MODEL).canary is None
    assert client.store.loops.get_state(MODEL).stage == "idle"
    assert world.audit()[-1] == "loop.failed"


def test_promotion_waits_for_performance_when_asked(tmp_path: Path) -> None:
    world = build_world(
        tmp_path / "project",
        steps="[50]",
        wait="true",
        performance="{metric: accuracy, max_drop: 0.05, min_label_coverage: 0.5}",
    )
    _start(world)
    agent = world.agent()
    agent.run_once()
    assert world.actions()[-1] == "canary_step"
    for _ in range(3):  # the canary's requests get no labels yet: its performance cannot decide
        world.traffic(1, labels=False)
        agent.run_once()
    assert world.actions()[-1] == "canary_step" and _champion() == 1
    assert "waits for its performance" in world.decisions[-1].reason
    log_labels(get_client().store, MODEL, world.held_labels, at_ms=world.now)
    world.now += 60_000
    agent.run_once()
    assert world.actions()[-1] == "promoted"
    assert _champion() == 2
