"""``loopml deploy create|set|show|history|ls``: deployments, what each route of a served model answers with.

    loopml deploy create churn-live --model churn                  # champion: @champion
    loopml deploy set churn-live --canary @challenger --percent 10 --reason "gate passed"
    loopml deploy set churn-live --no-canary
    loopml deploy show churn-live                                  # each route: reference, version, share

Servers started with ``loopml serve --deployment NAME`` follow the deployment and pick up each change.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from loopml.cli._app import app, new_app
from loopml.cli._output import console, fmt_time, print_json, table
from loopml.errors import ConflictError, InvalidArgumentError

if TYPE_CHECKING:
    from loopml.store import Deployment, ModelVersion

deploy_app = new_app("Deployments: what each route of a served model answers with, and their history.")
app.add_typer(deploy_app, name="deploy")

JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")
REASON = typer.Option("", "--reason", "-r", help="Why: kept in the history and the audit log.")
_REF_HELP = "@ALIAS, a version number, MODEL@ALIAS or MODEL:VERSION"
_PERCENT_HELP = "The canary's share of traffic, 0 to 100."
_STICKY_HELP = "Keep one request key on one route: header:NAME or column:NAME."


def _deployment_json(d: Deployment) -> dict[str, Any]:
    return {**dataclasses.asdict(d), "updated_at": d.updated_at}


def _shares(d: Deployment) -> dict[str, float | None]:
    """Each route's share of the answered traffic (the shadow answers a copy: no share)."""
    canary = d.canary_percent if d.canary is not None else 0.0
    return {"champion": 100.0 - canary, "canary": canary if d.canary is not None else None, "shadow": None}


def _routes_json(d: Deployment, resolved: dict[str, ModelVersion | None]) -> dict[str, Any]:
    from loopml.serving import route_ref

    shares = _shares(d)
    out: dict[str, Any] = {}
    for route, ref in d.routes().items():
        version = resolved[route]
        out[route] = (
            None
            if ref is None
            else {
                "ref": ref,
                "model_ref": route_ref(d.model, ref),
                "version": None if version is None else version.version,
                "percent": shares[route],
            }
        )
    return out


def _summary(d: Deployment) -> str:
    parts = [f"champion {d.champion}"]
    if d.canary is not None:
        parts.append(f"canary {d.canary} at {d.canary_percent:g}%")
    if d.shadow is not None:
        parts.append(f"shadow {d.shadow}")
    if d.sticky is not None:
        parts.append(f"sticky on {d.sticky}")
    return ", ".join(parts)


def _written(before: int | None, d: Deployment, as_json: bool) -> None:
    if as_json:
        print_json(_deployment_json(d))
        return
    if before == d.revision:
        console.print(f"[bold]{escape(d.name)}[/] unchanged at revision {d.revision}: {escape(_summary(d))}.")
        return
    console.print(
        f"[bold]{escape(d.name)}[/] (model {escape(d.model)}) revision {d.revision}: {escape(_summary(d))}."
    )


@deploy_app.command("create")
def deploy_create(
    name: str = typer.Argument(..., help="The deployment's name."),
    model: str = typer.Option(..., "--model", "-m", help="The registered model it serves."),
    champion: str = typer.Option("@champion", "--champion", help=f"The champion: {_REF_HELP}."),
    canary: str | None = typer.Option(None, "--canary", help=f"A canary: {_REF_HELP}."),
    percent: float | None = typer.Option(
        None, "--percent", "-p", help="The canary's share of traffic, 0-100."
    ),
    shadow: str | None = typer.Option(None, "--shadow", help=f"A shadow (answers a copy): {_REF_HELP}."),
    sticky: str | None = typer.Option(None, "--sticky", help=_STICKY_HELP),
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Create deployment NAME of --model: its champion (default @champion), and optionally a canary with its
    share, a shadow, and a sticky key."""
    from loopml.serving import deploy, list_deployments

    if any(d.name == name for d in list_deployments()):
        raise ConflictError(f"Deployment {name!r} exists; change it with `loopml deploy set {name} ...`.")
    written = deploy(
        name,
        model,
        champion=champion,
        canary=canary,
        canary_percent=percent,
        shadow=shadow,
        sticky=sticky,
        reason=reason,
    )
    _written(None, written, as_json)


@deploy_app.command("set")
def deploy_set(
    name: str = typer.Argument(..., help="The deployment to change."),
    champion: str | None = typer.Option(None, "--champion", help=f"The champion: {_REF_HELP}."),
    canary: str | None = typer.Option(None, "--canary", help=f"The canary: {_REF_HELP}."),
    percent: float | None = typer.Option(
        None, "--percent", "-p", help="The canary's share of traffic, 0-100."
    ),
    no_canary: bool = typer.Option(False, "--no-canary", help="Remove the canary (its share goes to 0)."),
    shadow: str | None = typer.Option(None, "--shadow", help=f"The shadow: {_REF_HELP}."),
    no_shadow: bool = typer.Option(False, "--no-shadow", help="Remove the shadow."),
    sticky: str | None = typer.Option(None, "--sticky", help=_STICKY_HELP),
    no_sticky: bool = typer.Option(False, "--no-sticky", help="Draw each request at random again."),
    reason: str = REASON,
    as_json: bool = JSON,
) -> None:
    """Write the next revision of deployment NAME: what is given changes, the rest stays."""
    from loopml.serving import UNSET, deploy, get_deployment

    for flag, value, off in (
        ("--canary", canary, no_canary),
        ("--shadow", shadow, no_shadow),
        ("--sticky", sticky, no_sticky),
    ):
        if value is not None and off:
            raise InvalidArgumentError(f"Give {flag} or --no-{flag[2:]}, not both.")
    if no_canary and percent is not None:
        raise InvalidArgumentError("--no-canary sets the canary's share to 0; leave out --percent.")
    given = (champion, canary, percent, shadow, sticky)
    if all(v is None for v in given) and not (no_canary or no_shadow or no_sticky):
        raise InvalidArgumentError(
            "Nothing to change: give --champion, --canary/--percent, --no-canary, --shadow, --no-shadow, "
            "--sticky or --no-sticky."
        )
    before = get_deployment(name).revision
    written = deploy(
        name,
        champion=champion,
        canary=None if no_canary else (UNSET if canary is None else canary),
        canary_percent=percent,
        shadow=None if no_shadow else (UNSET if shadow is None else shadow),
        sticky=None if no_sticky else (UNSET if sticky is None else sticky),
        reason=reason,
    )
    _written(before, written, as_json)


@deploy_app.command("show")
def deploy_show(
    name: str = typer.Argument(..., help="The deployment."),
    as_json: bool = JSON,
) -> None:
    """Each route of deployment NAME: its reference, the version it serves now, its share of traffic."""
    from loopml.serving import get_deployment, resolve_routes, route_ref

    d = get_deployment(name)
    resolved = resolve_routes(d, strict=False)
    if as_json:
        print_json({**_deployment_json(d), "routes": _routes_json(d, resolved)})
        return
    shares = _shares(d)
    rows = []
    for route, ref in d.routes().items():
        if ref is None:
            continue
        version = resolved[route]
        share = shares[route]
        rows.append(
            (
                route,
                route_ref(d.model, ref),
                "not found" if version is None else version.version,
                "copy" if share is None else f"{share:g}%",
            )
        )
    table(
        f"{d.name}: model {d.model}, revision {d.revision}",
        ["Route", "Reference", "Version", "Traffic"],
        rows,
    )
    console.print(
        f"sticky: {escape(d.sticky or 'none (each request is drawn)')}. Updated {fmt_time(d.updated_ms)} "
        f"UTC by {escape(d.updated_by)}" + (f": {escape(d.reason)}" if d.reason else "") + "."
    )
    if any(resolved[r] is None for r, ref in d.routes().items() if ref is not None):
        console.print(
            "[yellow]A route's alias or version does not exist: servers following this deployment keep "
            "what they serve until it does.[/]"
        )


@deploy_app.command("history")
def deploy_history(
    name: str = typer.Argument(..., help="The deployment."),
    as_json: bool = JSON,
) -> None:
    """Every revision of deployment NAME, oldest first: the routes, who changed them, when and why."""
    from loopml.serving import deployment_history

    revisions = deployment_history(name)
    if as_json:
        print_json([_deployment_json(d) for d in revisions])
        return
    rows = []
    for before, d in zip([None, *revisions], revisions, strict=False):
        rows.append((d.revision, fmt_time(d.updated_ms), d.updated_by, _change(before, d), d.reason))
    table(f"{name}: history", ["Revision", "When (UTC)", "By", "Change", "Reason"], rows)


def _change(before: Deployment | None, d: Deployment) -> str:
    """What a revision changed, in words: ``canary: none -> @challenger, share: 0% -> 10%``."""
    if before is None:
        return "created: " + _summary(d)

    def show(field: str, x: Deployment) -> str:
        value = getattr(x, field)
        if field == "canary_percent":
            return f"{value:g}%"
        return "none" if value is None else str(value)

    names = {"canary_percent": "share"}
    changed = [
        f"{names.get(f, f)}: {show(f, before)} -> {show(f, d)}"
        for f in ("champion", "canary", "canary_percent", "shadow", "sticky")
        if getattr(before, f) != getattr(d, f)
    ]
    return ", ".join(changed)


@deploy_app.command("ls")
def deploy_ls(
    model: str | None = typer.Option(None, "--model", "-m", help="Only the deployments of this model."),
    as_json: bool = JSON,
) -> None:
    """List deployments with their routes."""
    from loopml.serving import list_deployments

    deployments = list_deployments(model)
    if as_json:
        print_json([_deployment_json(d) for d in deployments])
        return
    if not deployments:
        console.print("No deployments yet: `loopml deploy create NAME --model MODEL` creates one.")
        return
    table(
        "Deployments",
        ["Name", "Model", "Detail", "Revision", "Updated (UTC)"],
        [(d.name, d.model, _summary(d), d.revision, fmt_time(d.updated_ms)) for d in deployments],
    )
