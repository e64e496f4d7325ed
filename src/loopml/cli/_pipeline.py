"""``loopml pipeline run | resume | ls | show``: run pipelines with a live view of their steps."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from loopml.cli._app import app, new_app
from loopml.cli._output import console, err_console, fmt_bytes, fmt_duration, fmt_time, print_json, table
from loopml.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from loopml.pipelines import Pipeline, PipelineRun, StepRun

pipeline_app = new_app("Pipelines: cached, resumable runs of steps.")
app.add_typer(pipeline_app, name="pipeline")

JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")
QUIET = typer.Option(False, "--quiet", "-q", help="No live view of the steps.")
EXECUTOR = typer.Option(None, "--executor", "-x", help="local (in this process) or process (in parallel).")
WORKERS = typer.Option(None, "--workers", "-w", min=1, help="Worker processes of the process executor.")

_STYLE = {
    "FINISHED": "green",
    "FAILED": "bold red",
    "RUNNING": "yellow",
    "SKIPPED": "dim",
    "PENDING": "dim",
    "KILLED": "red",
}


def parse_params(pipeline: Pipeline[...], pairs: list[str], config: Path | None) -> dict[str, Any]:
    """``--config`` (YAML) first, then each ``--param name=value``; values take the parameter's type."""
    import yaml

    params: dict[str, Any] = {}
    if config is not None:
        if not config.is_file():
            raise NotFoundError(f"No parameter file {str(config)!r}.")
        try:
            loaded = yaml.safe_load(config.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InvalidArgumentError(f"{config} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise InvalidArgumentError(f"{config} must map parameter names to values (name: value).")
        params.update(loaded)
    try:
        hints = typing.get_type_hints(pipeline.fn)
    except Exception:
        hints = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidArgumentError(f"Write parameters as --param name=value, not {pair!r}.")
        hint = hints.get(name)
        if hint is str:
            params[name] = text
            continue
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif hint in (int, float, bool) and not isinstance(value, hint):
            kind = {int: "a whole number", float: "a number", bool: "true or false"}[hint]
            raise InvalidArgumentError(f"Parameter {name!r} takes {kind}, not {text!r}.")
        params[name] = value
    return params


def _steps_table(run: PipelineRun, title: str | None = None) -> Any:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in ("Step", "Status", "Cached", "Duration", "Output"):
        t.add_column(col, no_wrap=col != "Output")
    for s in run.steps:
        out = "" if s.output is None else f"{s.output.materializer} {fmt_bytes(s.output.size)}"
        if s.error:
            out = s.error.splitlines()[0]
        tries = f" ({s.attempts} attempts)" if s.attempts > 1 else ""
        t.add_row(
            s.name,
            f"[{_STYLE.get(s.status, '')}]{s.status}[/]{tries}",
            "yes" if s.cached else "",
            "" if s.duration_s is None else fmt_duration(s.duration_s),
            out,
        )
    return t


@contextmanager
def _live_view(quiet: bool) -> Iterator[Any]:
    """A live table of the steps on a terminal; nothing in CI or when quiet."""
    if quiet or not err_console.is_terminal:
        yield None
        return
    from rich.live import Live

    with Live(console=err_console, refresh_per_second=8, transient=True) as live:

        def on_event(run: PipelineRun, _step: StepRun) -> None:
            done = sum(s.status in ("FINISHED", "FAILED", "SKIPPED") for s in run.steps)
            live.update(_steps_table(run, f"{run.name}: {done}/{len(run.steps)} steps"))

        yield on_event


def _report(run: PipelineRun, as_json: bool, quiet: bool) -> None:
    if as_json:
        print_json(run.as_json())
    else:
        if not quiet:
            console.print(_steps_table(run))
        cached = len(run.cached_steps)
        console.print(
            f"{run.name} [{_STYLE.get(run.status, '')}]{run.status}[/] in {fmt_duration(run.duration_s)}: "
            f"{len(run.steps)} steps, {cached} from cache. Run {run.id}",
            highlight=False,
            soft_wrap=True,
        )
    if run.status != "FINISHED":
        err_console.print(
            f"[bold red]error:[/] {run.error}. Once fixed: loopml pipeline resume {run.id}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


@pipeline_app.command("run")
def pipeline_run(
    ref: str = typer.Argument(..., help="The pipeline as MODULE:NAME or FILE.py:NAME."),
    param: list[str] = typer.Option(None, "--param", "-p", help="name=value; repeat for more."),
    config: Path | None = typer.Option(None, "--config", "-c", help="A YAML file of parameters."),
    executor: str | None = EXECUTOR,
    workers: int | None = WORKERS,
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Run every step; results still refresh the cache."
    ),
    quiet: bool = QUIET,
    as_json: bool = JSON,
) -> None:
    """Run a pipeline; unchanged steps come from the cache."""
    from loopml.pipelines import load_pipeline

    pipe = load_pipeline(ref)
    params = parse_params(pipe, param or [], config)
    with _live_view(quiet or as_json) as on_event:
        run = pipe.run(
            params,
            executor=executor,
            workers=workers,
            cache=not no_cache,
            on_event=on_event,
            raise_on_failure=False,
        )
    _report(run, as_json, quiet)


@pipeline_app.command("resume")
def pipeline_resume(
    run_id: str = typer.Argument(..., help="A failed pipeline run."),
    executor: str | None = EXECUTOR,
    quiet: bool = QUIET,
    as_json: bool = JSON,
) -> None:
    """Run a failed pipeline again from its failed step, reusing every step that had finished."""
    from loopml.pipelines import load_pipeline
    from loopml.pipelines._runner import TAG_KIND, TAG_PIPELINE
    from loopml.tracking import get_client

    old = get_client().get_run(run_id)
    ref = old.tags.get(TAG_PIPELINE)
    if old.tags.get(TAG_KIND) != "pipeline" or not ref:
        raise InvalidArgumentError(f"Run {run_id} is not a pipeline run; see `loopml pipeline ls`.")
    with _live_view(quiet or as_json) as on_event:
        run = load_pipeline(ref).resume(run_id, executor=executor, on_event=on_event, raise_on_failure=False)
    _report(run, as_json, quiet)


@pipeline_app.command("ls")
def pipeline_ls(
    name: str | None = typer.Option(None, "--pipeline", help="Only runs of this pipeline (its experiment)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1),
    as_json: bool = JSON,
) -> None:
    """List pipeline runs, newest first."""
    from loopml.tracking import get_client

    runs = get_client().search_runs("tags.`loopml.kind` = 'pipeline'", name, None, limit)
    if as_json:
        print_json(
            [
                {
                    "id": r.id,
                    "pipeline": r.tags.get("loopml.pipeline"),
                    "name": r.name,
                    "status": r.status.value,
                    "start_time": r.start_time,
                    "duration_s": r.duration_s,
                    "params": r.params,
                    "resumed_from": r.tags.get("loopml.resumed_from"),
                }
                for r in runs
            ]
        )
        return
    table(
        "Pipeline runs",
        ["ID", "Pipeline", "Status", "Started", "Duration", "Params"],
        [
            (
                r.id,
                r.name,
                r.status.value,
                fmt_time(r.start_ms),
                fmt_duration(r.duration_s),
                " ".join(f"{k}={v}" for k, v in sorted(r.params.items())),
            )
            for r in runs
        ],
    )


@pipeline_app.command("show")
def pipeline_show(
    run_id: str = typer.Argument(..., help="A pipeline run."),
    logs: str | None = typer.Option(None, "--logs", help="Print what this step printed and logged."),
    as_json: bool = JSON,
) -> None:
    """Show a pipeline run's steps: status, cache hits, durations, outputs."""
    from loopml.pipelines import get_pipeline_run
    from loopml.tracking import get_client

    run = get_pipeline_run(run_id)
    if logs is not None:
        step = run.step(logs)
        stored = get_client().get_run(step.run_id or "")
        found = next((a for a in stored.artifacts if a.path == "logs.txt"), None)
        text = (
            "" if found is None else get_client().artifacts.get_bytes(found.digest).decode(errors="replace")
        )
        typer.echo(text, nl=False)
        return
    if as_json:
        print_json(run.as_json())
        return
    console.print(
        f"[bold]{run.name}[/] {run.id}  [{_STYLE.get(run.status, '')}]{run.status}[/]  "
        f"params: {json.dumps(run.params, default=str)}",
        highlight=False,
    )
    if run.error:
        console.print(f"error: {run.error}", highlight=False)
    console.print(_steps_table(run))
