"""``loopml models ls|show|register|alias|card|export|build-docker|history`` and ``loopml gate``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from loopml.cli._app import app, new_app
from loopml.cli._output import console, err_console, fmt_time, print_json, table
from loopml.errors import InvalidArgumentError, LoopmlError

models_app = new_app("Models: registered versions, aliases, cards, packaging and their history.")
app.add_typer(models_app, name="models")

JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")
REASON = typer.Option("", "--reason", "-r", help="Why: kept in the model's history.")


def _metrics(values: dict[str, float], limit: int = 4) -> str:
    items = sorted(values.items())[:limit]
    return " ".join(f"{k}={v:.4g}" for k, v in items) + (" …" if len(values) > limit else "")


def _version_json(v: Any) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "ref": v.ref,
        "id": v.id,
        "aliases": list(v.aliases),
        "flavor": v.flavor,
        "bundle_digest": v.bundle_digest,
        "source_run_id": v.source_run_id,
        "datasets": list(v.datasets),
        "metrics": v.metrics,
        "description": v.description,
        "created_at": v.created_at,
        "created_by": v.created_by,
    }


@models_app.command("ls")
def models_ls(as_json: bool = JSON) -> None:
    """List registered models with their newest version and aliases."""
    from loopml.registry import list_models

    models = list_models()
    if as_json:
        print_json(
            [
                {
                    "name": m.name,
                    "latest_version": m.latest_version,
                    "aliases": m.aliases,
                    "tags": m.tags,
                    "description": m.description,
                    "updated_ms": m.updated_ms,
                }
                for m in models
            ]
        )
        return
    table(
        "Registered models",
        ["Name", "Versions", "Aliases", "Updated"],
        [
            (
                m.name,
                m.latest_version or 0,
                " ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items())),
                fmt_time(m.updated_ms),
            )
            for m in models
        ],
    )


@models_app.command("show")
def models_show(
    ref: str = typer.Argument(..., help="NAME (all versions), NAME:V or NAME@ALIAS."), as_json: bool = JSON
) -> None:
    """Show a model's versions, or one version with its data, evaluations and gate decisions."""
    from loopml.registry import get_model_version, model_versions, parse_model_ref
    from loopml.tracking import get_client

    parsed = parse_model_ref(ref)
    store = get_client().store
    if parsed.version is None and parsed.alias is None:
        versions = model_versions(parsed.name)
        if as_json:
            print_json([_version_json(v) for v in versions])
            return
        table(
            f"Versions of {parsed.name}",
            ["Version", "Aliases", "Flavor", "Created", "By", "Metrics"],
            [
                (
                    v.version,
                    " ".join(v.aliases),
                    v.flavor,
                    fmt_time(v.created_ms),
                    v.created_by,
                    _metrics(v.metrics),
                )
                for v in versions
            ],
        )
        return
    v = get_model_version(ref)
    evaluations = store.models.evaluations(v.id)
    gates = store.models.gate_records(v.id)
    datasets = [store.datasets.get_by_id(d).ref for d in v.datasets]
    if as_json:
        print_json(
            {
                **_version_json(v),
                "dataset_refs": datasets,
                "evaluations": [e.evaluation for e in evaluations],
                "gates": [
                    {"passed": g.passed, "decision": g.decision, "created_by": g.created_by} for g in gates
                ],
            }
        )
        return
    console.print(f"[bold]{v.ref}[/] {' '.join(f'@{a}' for a in v.aliases)}", highlight=False)
    table(
        None,
        ["Field", "Value"],
        [
            ("flavor", v.flavor),
            ("bundle", v.bundle_digest),
            ("source run", v.source_run_id or ""),
            ("trained on", ", ".join(datasets)),
            ("registered", f"{fmt_time(v.created_ms)} by {v.created_by}"),
            ("metrics", _metrics(v.metrics, 12)),
            ("evaluations", str(len(evaluations))),
            ("gates", " ".join("pass" if g.passed else "fail" for g in gates)),
        ],
    )


@models_app.command("register")
def models_register(
    name: str = typer.Argument(..., help="The registered model's name."),
    file: Path | None = typer.Option(None, "--file", "-f", help="A model saved with joblib or pickle."),
    run: str | None = typer.Option(None, "--run", help="Take the model from this run's artifact."),
    artifact: str = typer.Option("model/model.joblib", "--artifact", help="The artifact path in --run."),
    data: list[str] | None = typer.Option(None, "--data", "-d", help="A dataset version it was trained on."),
    description: str = typer.Option("", "--description"),
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Register a saved model (a file, or a run's artifact) as the next version of NAME."""
    import joblib

    from loopml.registry import register_model
    from loopml.tracking import get_client

    if (file is None) == (run is None):
        raise InvalidArgumentError("Give the model as --file PATH or as --run RUN_ID (with --artifact PATH).")
    with tempfile.TemporaryDirectory(prefix="loopml-register-") as tmp:
        path = file
        if run is not None:
            path = get_client().download_artifact(run, artifact, tmp)
        assert path is not None
        if not path.is_file():
            raise InvalidArgumentError(f"No model file at {path}.")
        try:
            model = joblib.load(path)
        except Exception as exc:
            raise InvalidArgumentError(
                f"{path} could not be loaded as a joblib or pickle file ({exc})."
            ) from None
        version = register_model(
            name, model, data=list(data or []) or None, run=run, description=description, reason=reason
        )
    if as_json:
        print_json(_version_json(version))
        return
    console.print(
        f"Registered [bold]{version.ref}[/] ({version.flavor}, bundle {version.bundle_digest[:12]})."
    )


@models_app.command("alias")
def models_alias(
    name: str = typer.Argument(...),
    alias: str = typer.Argument(..., help="champion, challenger, …"),
    version: str | None = typer.Argument(None, help="The version number (omit with --delete)."),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias."),
    reason: str = REASON,
) -> None:
    """Point ALIAS at a version of NAME (moving it atomically), or --delete it."""
    from loopml.registry import delete_alias, set_alias

    if delete:
        delete_alias(name, alias, reason=reason)
        console.print(f"Removed {name}@{alias}.")
        return
    if version is None or not version.isdigit():
        raise InvalidArgumentError(f"Give the version number: loopml models alias {name} {alias} VERSION.")
    moved = set_alias(name, alias, int(version), reason=reason)
    console.print(f"{name}@{alias} → version {moved.version}.")


@models_app.command("card")
def models_card(
    ref: str = typer.Argument(..., help="NAME:V or NAME@ALIAS."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the Markdown here."),
    field: list[str] | None = typer.Option(None, "--field", help="intended_use=..., limitations=..."),
) -> None:
    """Write the model card (Markdown) from what the registry knows and the fields you give."""
    from loopml.registry import model_card

    fields: dict[str, str] = {}
    for item in field or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidArgumentError(f"Write fields as --field name=text, not {item!r}.")
        fields[key.strip()] = value
    text = model_card(ref, fields=fields)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    console.print(f"Wrote {output}.")


@models_app.command("export")
def models_export(
    ref: str = typer.Argument(..., help="NAME:V or NAME@ALIAS."),
    dest: Path = typer.Argument(..., help="A new or empty folder."),
) -> None:
    """Write the bundle, a pinned requirements.txt and a Dockerfile that runs the model server."""
    from loopml.registry import export_model

    out = export_model(ref, dest)
    console.print(
        f"Exported to {out}: model/, requirements.txt, Dockerfile. Build it with `docker build {out}`."
    )


@models_app.command("build-docker")
def models_build_docker(
    ref: str = typer.Argument(..., help="NAME:V or NAME@ALIAS."),
    tag: str | None = typer.Option(None, "--tag", "-t", help="Image tag (default NAME:V)."),
    context: Path | None = typer.Option(None, "--dir", help="Where to write the build context."),
) -> None:
    """Export a version and build its image with `docker build`, where a Docker engine exists."""
    from loopml.registry import build_docker, docker_available, export_model, get_model_version

    version = get_model_version(ref)
    why = docker_available()
    folder = context or Path(tempfile.mkdtemp(prefix="loopml-image-"))
    export_model(version, folder)
    image = tag or f"{version.name}:{version.version}"
    if why is not None:
        err_console.print(
            f"[bold red]error:[/] cannot build the image: {why}.", highlight=False, soft_wrap=True
        )
        err_console.print(
            f"The build context is ready in {folder}; "
            f"run `docker build -t {image} {folder}` where Docker runs.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    build_docker(folder, image)
    console.print(f"Built image {image}.")


def _event_detail(details: dict[str, Any]) -> str:
    """The few facts of an audit event worth a table cell (`--json` has them all)."""
    shown = []
    for key in ("alias", "version", "previous", "passed", "source_run_id"):
        value = details.get(key)
        if value not in (None, ""):
            shown.append(f"{'run' if key == 'source_run_id' else key}={str(value)[:12]}")
    return " ".join(shown)


@models_app.command("history")
def models_history(name: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Every registration, alias move and gate decision of NAME: who, when, why."""
    from loopml.registry import model_history

    events = model_history(name)
    if as_json:
        print_json(
            [
                {"at": e.at, "actor": e.actor, "action": e.action, "reason": e.reason, "details": e.details}
                for e in events
            ]
        )
        return
    table(
        f"History of {name}",
        ["When", "Who", "What", "Detail"],
        [
            (
                fmt_time(e.at_ms),
                e.actor,
                e.action,
                _event_detail(e.details) + (f" — {e.reason}" if e.reason else ""),
            )
            for e in events
        ],
    )


GATE_FORMATS = ("table", "json", "markdown")


@app.command("gate")
def gate_cmd(
    candidate: str = typer.Argument(..., help="The candidate version: NAME:V, NAME@ALIAS or NAME (newest)."),
    data: str = typer.Option(..., "--data", "-d", help="Labelled data to judge on: a dataset reference."),
    target: str = typer.Option(..., "--target", "-t", help="The label column."),
    rule: list[str] = typer.Option(..., "--rule", help="e.g. 'f1 >= baseline - 0.01'; repeat for more."),
    baseline: str | None = typer.Option(None, "--baseline", "-b", help="Default: NAME@champion."),
    slice_: list[str] | None = typer.Option(None, "--slice", help="A column to compare per value."),
    task: str | None = typer.Option(None, "--task", help="classification or regression (default: inferred)."),
    promote: str | None = typer.Option(
        None, "--promote", help="Move this alias to the candidate if it passes."
    ),
    reason: str = REASON,
    output_format: str = typer.Option(
        "table",
        "--format",
        help="table, json or markdown (a CI job summary: loopml gate ... --format markdown "
        '>> "$GITHUB_STEP_SUMMARY").',
    ),
    as_json: bool = typer.Option(False, "--json", help="The same as --format json."),
) -> None:
    """Decide whether a candidate may replace the baseline. Exit 0: pass, 1: fail, 2: error (for CI/CD)."""
    from loopml.registry import gate, parse_model_ref

    fmt = output_format.strip().lower()
    try:
        if fmt not in GATE_FORMATS:
            raise InvalidArgumentError(f"--format takes {', '.join(GATE_FORMATS)}, not {output_format!r}.")
        if as_json and fmt not in ("table", "json"):
            raise InvalidArgumentError(f"Give --json or --format {fmt}, not both.")
        fmt = "json" if as_json else fmt
        base = baseline if baseline is not None else f"{parse_model_ref(candidate).name}@champion"
        outcome = gate(
            candidate,
            base,
            data,
            rule,
            target=target,
            task=task,
            slices=slice_ or (),
            promote=promote,
            reason=reason,
        )
    except LoopmlError as exc:
        if fmt == "markdown":  # the job summary says why there is no decision
            typer.echo(f"## Gate ERROR: no decision about `{candidate}`\n\n```\n{exc}\n```\n")
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    decision = outcome.decision
    baseline_ref = None if outcome.baseline is None else outcome.baseline.ref
    promoted = (
        f"{outcome.candidate.name}@{outcome.promoted_to} → {outcome.candidate.version}"
        if outcome.promoted_to
        else None
    )
    if fmt == "json":
        print_json(
            {
                "passed": outcome.passed,
                "candidate": outcome.candidate.ref,
                "baseline": baseline_ref,
                "promoted_to": outcome.promoted_to,
                "decision": decision.to_json(),
            }
        )
    elif fmt == "markdown":
        text = decision.to_markdown(candidate=outcome.candidate.ref, baseline=baseline_ref)
        if promoted:
            text += f"\nPromoted: `{promoted}`.\n"
        typer.echo(text, nl=False)
    else:
        against = baseline_ref or "no baseline (first model)"
        table(
            f"Gate: {outcome.candidate.ref} against {against}",
            ["Rule", "Result", "Detail"],
            [(r.rule, "pass" if r.passed else "FAIL", r.reason) for r in decision.results],
        )
        verdict = "[green]PASS[/]" if outcome.passed else "[bold red]FAIL[/]"
        console.print(f"{verdict}{'; ' + promoted if promoted else ''}", highlight=False)
    raise typer.Exit(0 if outcome.passed else 1)
