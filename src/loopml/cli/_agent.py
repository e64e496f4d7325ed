"""``loopml agent``, ``loopml loop status|pause|resume``, ``loopml approve``: the closed loop."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from loopml.cli._app import app, new_app
from loopml.cli._output import clean_floats, console, fmt_time, print_json, table

JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")
POLICY = typer.Option(None, "--policy", "-p", help="The policy file (default: ./loopml.yaml).")

loop_app = new_app("Where each model's loop stands; hold it or let it go on.")
app.add_typer(loop_app, name="loop")


def _duration_s(text: str) -> float:
    from loopml.monitoring._windows import parse_duration

    return parse_duration(text, "--interval") / 1000


@app.command("agent")
def agent_cmd(
    policy: Path | None = POLICY,
    once: bool = typer.Option(False, "--once", help="One pass over every model, then exit."),
    interval: str = typer.Option("30s", "--interval", help="Time between passes: 30s, 5m, 1h."),
    as_json: bool = typer.Option(False, "--json", help="Print each decision as a JSON line."),
) -> None:
    """Run the policies: triggers, retraining, the gate, canary steps, promotion or rollback."""
    from loopml.agent import Agent, Decision, load_policy

    seconds = _duration_s(interval)
    loaded = load_policy(policy, check=True)

    def show(decision: Decision) -> None:
        if as_json:
            sys.stdout.write(json.dumps(clean_floats(decision.to_dict()), default=str) + "\n")
            sys.stdout.flush()
            return
        colour = {"promoted": "green", "rolled_back": "red", "rejected": "red", "retrain_failed": "red"}
        style = colour.get(decision.action, "cyan")
        console.print(
            f"{fmt_time(decision.at_ms)}  [bold]{escape(decision.model)}[/]  "
            f"[{style}]{decision.action.replace('_', ' ')}[/]  {escape(decision.reason)}",
            highlight=False,
            soft_wrap=True,
        )

    agent = Agent(loaded, on_decision=show)
    if once:
        try:
            agent.run_once()
        finally:
            agent.release()
        return
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    if not as_json:
        names = ", ".join(loaded.models) or "no models"
        console.print(f"loopml agent {agent.holder}: {names}; a pass every {interval}. Ctrl-C stops.")
    agent.run(interval_s=seconds, sleep=stopping.wait, stop=stopping.is_set)


@loop_app.command("status")
def loop_status_cmd(policy: Path | None = POLICY, as_json: bool = JSON) -> None:
    """Per model: the stage of its loop, the candidate, why, and which agent holds it."""
    from loopml.agent import load_policy, loop_status

    models: Any = None
    if policy is not None or Path("loopml.yaml").exists():
        models = load_policy(policy).models
    rows = loop_status(models=models)
    if as_json:
        print_json(clean_floats(rows))
        return
    if not rows:
        console.print("No model has a loop yet: write a loopml.yaml and run `loopml agent`.")
        return
    table(
        "Loops",
        ["Model", "Stage", "Candidate", "Why", "Since", "Agent"],
        [
            (
                r["model"],
                ("paused, " if r["paused"] else "")
                + r["stage"]
                + (f" step {r['step'] + 1}" if r["stage"] == "canary" and r["step"] is not None else ""),
                "" if r["candidate"] is None else str(r["candidate"]),
                r["reason"],
                fmt_time(r["updated_ms"] or None),
                "" if r["lease"] is None else r["lease"]["holder"],
            )
            for r in rows
        ],
    )


@loop_app.command("pause")
def loop_pause(
    model: str = typer.Argument(..., help="The registered model."),
    reason: str = typer.Option("", "--reason", "-r"),
) -> None:
    """Hold a model's loop where it stands (a canary keeps its share) until `loopml loop resume`."""
    from loopml.agent import set_paused

    state = set_paused(model, True, reason=reason or "paused by hand")
    console.print(f"Paused {model}'s loop at {state.stage}.")


@loop_app.command("resume")
def loop_resume(
    model: str = typer.Argument(..., help="The registered model."),
    reason: str = typer.Option("", "--reason", "-r"),
) -> None:
    """Let a paused loop go on from where it stood."""
    from loopml.agent import set_paused

    state = set_paused(model, False, reason=reason or "resumed by hand")
    console.print(f"Resumed {model}'s loop at {state.stage}.")


@app.command("approve")
def approve_cmd(
    model: str = typer.Argument(..., help="The registered model whose candidate waits for approval."),
    reason: str = typer.Option("", "--reason", "-r"),
) -> None:
    """Approve the promotion of the candidate that passed its gate and canary; the agent promotes it."""
    from loopml.agent import approve

    state = approve(model, reason=reason)
    console.print(
        f"Approved {model}:{state.candidate} (by {state.data.get('approved_by')}); "
        "the agent promotes it on its next pass."
    )
