"""The agent: the closed loop that retrains, gates, rolls out and promotes or rolls back, by the policies of
a project's ``loopml.yaml``.

    policy = lm.agent.load_policy(check=True)   # ./loopml.yaml or $LOOPML_POLICY, checked against the Store
    mp = policy.models["failure-predictor"]
    mp.gate.rules, mp.rollout.steps, mp.cooldown_ms

Names resolve on first use, so importing ``loopml.agent`` loads neither pydantic nor the layers below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
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
    "PolicyError": "loopml.errors",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
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
    from loopml.errors import PolicyError

__all__ = [
    "DataSelection",
    "ErrorRateCondition",
    "FeedbackSelection",
    "GatePolicy",
    "LatencyCondition",
    "ModelPolicy",
    "PerformanceCondition",
    "Policy",
    "PolicyError",
    "RetrainPolicy",
    "RollbackPolicy",
    "RolloutPolicy",
    "ShadowStage",
    "Trigger",
    "check_policy",
    "load_policy",
    "parse_policy",
    "policy_path",
]
