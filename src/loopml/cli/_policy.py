"""``loopml policy check``: is ``loopml.yaml`` right, against the Store and the code, before the agent
runs it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from loopml.cli._app import app, new_app
from loopml.cli._output import console, print_json, table
from loopml.errors import PolicyError

if TYPE_CHECKING:
    from loopml.agent import ModelPolicy

policy_app = new_app("Policies (loopml.yaml): what the agent does for each model.")
app.add_typer(policy_app, name="policy")


def _duration(ms: int) -> str:
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _trigger(t: Any) -> str:
    if t.alert is not None:
        return f"alert {t.alert}" + (f" ({t.rule})" if t.rule else "")
    return f"schedule {t.schedule}" if t.schedule is not None else f"dataset {t.dataset}"


def _rollout(m: ModelPolicy) -> str:
    r = m.rollout
    steps = " → ".join(f"{p:g}%" for p in r.steps) or "none"
    shadow = f"shadow {_duration(r.shadow.duration_ms)} → " if r.shadow else ""
    return f"{shadow}{steps}, each ≥ {r.min_requests} requests and {_duration(r.min_duration_ms)}"


def _error_json(e: PolicyError) -> dict[str, Any]:
    return {"path": e.path, "line": e.line, "column": e.column, "key": e.key, "message": e.problem}


@policy_app.command("check")
def policy_check(
    path: Path | None = typer.Argument(
        None, help="The policy file (default: $LOOPML_POLICY, else loopml.yaml in this folder)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Check a policy file: its keys, types, gate rules and cron expressions, and against the Store and the
    code: pipelines import, monitors and datasets exist, the models are registered, notifiers build, no
    personal column feeds a retrained model. Every mistake is shown with its line; exit 1 when any."""
    from loopml.agent import load_policy, policy_path

    try:
        policy = load_policy(path, check=True)
    except PolicyError as exc:
        if not as_json:
            raise
        print_json(
            {"ok": False, "path": str(policy_path(path)), "errors": [_error_json(e) for e in exc.errors]}
        )
        raise typer.Exit(1) from None
    if as_json:
        models = {name: m.model_dump(mode="json") for name, m in policy.models.items()}
        print_json({"ok": True, "path": policy.path, "models": models})
        return
    for name, m in policy.models.items():
        pipeline = m.retrain.pipeline
        table(
            f"{name} (deployment {m.deployment})",
            ["What", "Value"],
            [
                ("Triggers", "\n".join(_trigger(t) for t in m.triggers)),
                ("Cooldown", _duration(m.cooldown_ms)),
                ("Pipeline", Path(pipeline).name if ".py:" in pipeline else pipeline),
                ("Gate", "\n".join(m.gate.rules)),
                ("Rollout", _rollout(m)),
                ("Approval", "a person approves" if m.approval else "no"),
            ],
        )
    count = len(policy.models)
    console.print(f"[green]policy OK[/]: {policy.path}, {count} model{'s' * (count != 1)}.")
