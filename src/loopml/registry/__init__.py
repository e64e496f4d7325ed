"""Registry: registered models and their numbered versions (model bundles with their lineage), aliases that
move atomically, evaluations, gates that decide with evidence, model cards, export, and the audit trail.

    mv = lm.register_model("failure-predictor", model, input_example=df.head(), data="sensors:3")
    lm.set_alias("failure-predictor", "champion", mv.version, reason="passed the gate")
    model = lm.load_model("failure-predictor@champion")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    **{
        name: "loopml.registry._registry"
        for name in (
            "ModelRef",
            "actor",
            "delete_alias",
            "get_model_version",
            "list_models",
            "load_model",
            "model_history",
            "model_versions",
            "parse_model_ref",
            "register_model",
            "set_alias",
        )
    },
    "model_card": "loopml.registry._card",
    **{name: "loopml.registry._judge" for name in ("GateOutcome", "evaluate", "gate")},
    "Evaluation": "loopml.registry._evaluate",
    **{
        name: "loopml.registry._gate"
        for name in ("GateDecision", "Rule", "RuleResult", "decide", "parse_rule", "parse_rules")
    },
    **{name: "loopml.registry._export" for name in ("build_docker", "docker_available", "export_model")},
}

__all__ = [
    "Evaluation",
    "GateDecision",
    "GateOutcome",
    "ModelRef",
    "Rule",
    "RuleResult",
    "actor",
    "build_docker",
    "decide",
    "delete_alias",
    "docker_available",
    "evaluate",
    "export_model",
    "gate",
    "get_model_version",
    "list_models",
    "load_model",
    "model_card",
    "model_history",
    "model_versions",
    "parse_model_ref",
    "parse_rule",
    "parse_rules",
    "register_model",
    "set_alias",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from loopml.registry._card import model_card
    from loopml.registry._evaluate import Evaluation
    from loopml.registry._export import build_docker, docker_available, export_model
    from loopml.registry._gate import GateDecision, Rule, RuleResult, decide, parse_rule, parse_rules
    from loopml.registry._judge import GateOutcome, evaluate, gate
    from loopml.registry._registry import (
        ModelRef,
        actor,
        delete_alias,
        get_model_version,
        list_models,
        load_model,
        model_history,
        model_versions,
        parse_model_ref,
        register_model,
        set_alias,
    )
