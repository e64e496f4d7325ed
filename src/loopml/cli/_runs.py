"""``loopml experiments ...`` and ``loopml runs ...``."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import typer

from loopml.cli._app import app, new_app
from loopml.cli._output import (
    clean_floats,
    console,
    fmt_bytes,
    fmt_duration,
    fmt_number,
    fmt_time,
    print_json,
    table,
)
from loopml.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from loopml.store import Run
    from loopml.tracking import TrackingClient

# the store and tracking layers load inside each command: `loopml --version` should not import SQLAlchemy
experiments_app = new_app("Experiments: named groups of runs.")
runs_app = new_app("Runs: what was trained, with which params, and how it scored.")
app.add_typer(experiments_app, name="experiments")
app.add_typer(runs_app, name="runs")

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


@experiments_app.command("ls")
def experiments_ls(as_json: bool = JSON) -> None:
    """List experiments with their number of runs."""
    from loopml.tracking import get_client

    rows = get_client().store.runs.list_experiments()
    if as_json:
        print_json([{**asdict(e), "created_at": e.created_at, "runs": n} for e, n in rows])
        return
    table(
        "Experiments",
        ["Name", "Runs", "Created", "ID"],
        [(e.name, n, fmt_time(e.created_ms), e.id) for e, n in rows],
    )


def run_dict(run: Run) -> dict[str, Any]:
    data = asdict(run)
    data["status"] = run.status.value
    data["start_time"] = run.start_time
    data["end_time"] = run.end_time
    return clean_floats(data)  # type: ignore[no-any-return]


def _summary(values: dict[str, float] | dict[str, str], limit: int = 3) -> str:
    items = [f"{k}={fmt_number(v) if isinstance(v, float) else v}" for k, v in sorted(values.items())[:limit]]
    return " ".join(items) + (" …" if len(values) > limit else "")


@runs_app.command("ls")
def runs_ls(
    experiment: list[str] = typer.Option(None, "--experiment", "-e", help="Only runs of these experiments."),
    filter: str = typer.Option(
        None, "--filter", "-f", help="e.g. \"metrics.f1 > 0.8 and params.model = 'rf'\""
    ),
    order_by: list[str] = typer.Option(None, "--order-by", "-o", help="e.g. 'metrics.f1 desc'"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="How many runs at most."),
    as_json: bool = JSON,
) -> None:
    """List runs, newest first, or as filtered and ordered."""
    from loopml.tracking import get_client

    runs = get_client().search_runs(filter, experiment or None, order_by or None, limit)
    if as_json:
        print_json([run_dict(r) for r in runs])
        return
    table(
        f"Runs ({len(runs)})",
        ["ID", "Name", "Experiment", "Status", "Started", "Duration", "Metrics", "Params"],
        [
            (
                r.id[:8],
                r.name,
                r.experiment_name,
                r.status.value,
                fmt_time(r.start_ms),
                fmt_duration(r.duration_s),
                _summary(r.metrics),
                _summary(r.params),
            )
            for r in runs
        ],
    )


def resolve_run(client: TrackingClient, run_id: str) -> Run:
    """A run by its id or by a unique prefix of it (as ``runs ls`` shows)."""
    run_id = run_id.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{1,32}", run_id):
        raise InvalidArgumentError(f"{run_id!r} is not a run id (32 hex characters, or a unique prefix).")
    if len(run_id) == 32:
        return client.get_run(run_id)
    matches = client.search_runs(f"id like '{run_id}%'", limit=2)
    if not matches:
        raise NotFoundError(f"No run id starts with {run_id!r}. Find runs with `loopml runs ls`.")
    if len(matches) > 1:
        raise InvalidArgumentError(f"More than one run id starts with {run_id!r}; give more characters.")
    return client.get_run(matches[0].id)


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., help="A run id or a unique prefix."), as_json: bool = JSON
) -> None:
    """Show one run: attributes, params, metrics, tags and artifacts."""
    from loopml.tracking import get_client

    client = get_client()
    run = resolve_run(client, run_id)
    datasets = client.store.datasets.run_datasets(run.id)
    if as_json:
        print_json({**run_dict(run), "datasets": [{"ref": v.ref, "direction": d} for v, d in datasets]})
        return
    status_color = {"FINISHED": "green", "FAILED": "red", "RUNNING": "yellow"}.get(run.status.value, "white")
    console.print(f"[bold]{run.name}[/]  [dim]{run.id}[/]  [{status_color}]{run.status.value}[/]")
    rows = [
        ("Experiment", run.experiment_name),
        ("Started", fmt_time(run.start_ms)),
        ("Ended", fmt_time(run.end_ms)),
        ("Duration", fmt_duration(run.duration_s)),
        ("Parent", run.parent_id or ""),
        ("User", run.user),
        ("Git commit", (run.git_commit or "") + (" (dirty)" if run.git_dirty else "")),
        ("Entry point", run.entry_point or ""),
    ]
    table(None, ["Attribute", "Value"], rows)
    if run.params:
        table("Params", ["Key", "Value"], sorted(run.params.items()))
    if run.metrics:
        table(
            "Metrics (latest)", ["Key", "Value"], [(k, fmt_number(v)) for k, v in sorted(run.metrics.items())]
        )
    if run.tags:
        table("Tags", ["Key", "Value"], sorted(run.tags.items()))
    if run.artifacts:
        table(
            "Artifacts",
            ["Path", "Kind", "Size", "Digest"],
            [(a.path, a.kind, fmt_bytes(a.size), a.digest[:16]) for a in run.artifacts],
        )
    if datasets:
        table(
            "Datasets",
            ["Dataset", "Used as", "Rows", "Digest"],
            [(v.ref, d, f"{v.num_rows:,}", v.digest[:16]) for v, d in datasets],
        )
    if run.error:
        console.print("[bold red]Error[/]")
        console.print(run.error, highlight=False, markup=False)
