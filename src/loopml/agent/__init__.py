"""The agent: the closed loop that retrains, gates, rolls out and promotes or rolls back, by the policies of
a project's ``loopml.yaml``.

    policy = lm.agent.load_policy(check=True)   # ./loopml.yaml or $LOOPML_POLICY, checked against the Store
    agent = lm.agent.Agent(policy)
    agent.run_once()                            # one pass: triggers, retrain, gate, canary steps, promotion

- ``_policy``: the policy file, validated with every mistake at its line.
- ``_agent``: the passes and the state machine (``Agent``), and what people do (``approve``, ``set_paused``).
- ``_triggers``, ``_retrain``, ``_rollout``: what starts a retrain, the candidate and its gate, the canary.
- ``_feedback``: logged predictions joined with their labels become dataset versions.
- ``_canary``: the canary compared with the champion over the same windows of the prediction log.
- ``_traffic``: simulated traffic to a deployment, for the demo and scenario tests.

Names resolve on first use, so importing ``loopml.agent`` loads neither pydantic nor the layers below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    **{
        name: "loopml.agent._agent"
        for name in (
            "Agent",
            "Decision",
            "LoopMessage",
            "approve",
            "loop_status",
            "set_paused",
        )
    },
    **{
        name: "loopml.agent._policy"
        for name in (
            "DataSelection",
            "ErrorRateCondition",
            "FeedbackSelection",
            "GatePolicy",
            "LatencyCondition",
            "ModelPolicy",
            "PerformanceCondition",
            "Policy",
            "RetrainPolicy",
            "RollbackPolicy",
            "RolloutPolicy",
            "ShadowStage",
            "Trigger",
            "check_policy",
            "load_policy",
            "parse_policy",
            "policy_path",
        )
    },
    **{
        name: "loopml.agent._feedback"
        for name in (
            "FeedbackVersion",
            "NotEnoughFeedbackError",
            "add_feedback",
            "feedback_frame",
            "split_by_time",
        )
    },
    **{
        name: "loopml.agent._canary"
        for name in (
            "CanaryEvidence",
            "RollbackConditions",
            "compare_routes",
        )
    },
    **{name: "loopml.agent._traffic" for name in ("Traffic",)},
    "PolicyError": "loopml.errors",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from loopml.agent._agent import (
        Agent,
        Decision,
        LoopMessage,
        approve,
        loop_status,
        set_paused,
    )
    from loopml.agent._canary import (
        CanaryEvidence,
        RollbackConditions,
        compare_routes,
    )
    from loopml.agent._feedback import (
        FeedbackVersion,
        NotEnoughFeedbackError,
        add_feedback,
        feedback_frame,
        split_by_time,
    )
    from loopml.agent._policy import (
        DataSelection,
        ErrorRateCondition,
        FeedbackSelection,
        GatePolicy,
        LatencyCondition,
        ModelPolicy,
        PerformanceCondition,
        Policy,
        RetrainPolicy,
        RollbackPolicy,
        RolloutPolicy,
        ShadowStage,
        Trigger,
        check_policy,
        load_policy,
        parse_policy,
        policy_path,
    )
    from loopml.agent._traffic import (
        Traffic,
    )
    from loopml.errors import PolicyError

__all__ = [
    "Agent",
    "CanaryEvidence",
    "DataSelection",
    "Decision",
    "ErrorRateCondition",
    "FeedbackSelection",
    "FeedbackVersion",
    "GatePolicy",
    "LatencyCondition",
    "LoopMessage",
    "ModelPolicy",
    "NotEnoughFeedbackError",
    "PerformanceCondition",
    "Policy",
    "PolicyError",
    "RetrainPolicy",
    "RollbackConditions",
    "RollbackPolicy",
    "RolloutPolicy",
    "ShadowStage",
    "Traffic",
    "Trigger",
    "add_feedback",
    "approve",
    "check_policy",
    "compare_routes",
    "feedback_frame",
    "load_policy",
    "loop_status",
    "parse_policy",
    "policy_path",
    "set_paused",
    "split_by_time",
]
