"""``loopml monitor add|ls|check|windows|report|rm``: monitors of a model's prediction log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from loopml.cli._app import app, new_app
from loopml.cli._drift import parse_test, parse_tests
from loopml.cli._output import clean_floats, console, err_console, fmt_time, print_json, table, write_file
from loopml.errors import InvalidArgumentError, LoopmlError

if TYPE_CHECKING:
    from loopml.monitoring import MonitorCheck
    from loopml.store import Monitor, WindowResult

monitor_app = new_app("Monitors: drift, live performance and alerts from a model's prediction log.")
app.add_typer(monitor_app, name="monitor")

JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")
# the figures a table of windows shows when the window has them, in this order
_SHOWN = ("drift_share", "label_coverage", "f1", "accuracy", "rmse", "mae", "estimated.f1", "error_rate")


def _split(values: list[str] | None) -> list[str] | None:
    """``-f a -f b`` and ``-f a,b`` alike."""
    if not values:
        return None
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def _tests(values: list[str] | None) -> dict[str, Any] | str | tuple[str, float] | None:
    """``--test ks`` or ``--test psi:0.2`` (every column), or ``--test temperature=psi[:0.2]`` per column."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return parse_test(values[0], values[0])
    return parse_tests(values)


def _notifiers(webhooks: list[str] | None, configs: list[str] | None, log: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": "log"}] if log else []
    out += [{"type": "webhook", "url": url} for url in webhooks or ()]
    for text in configs or ():
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(
                f'--notifier takes a JSON object such as \'{{"type": "email", ...}}\' ({exc}).'
            ) from None
        if not isinstance(config, dict):
            raise InvalidArgumentError(f"--notifier takes a JSON object, not {text!r}.")
        out.append(config)
    return out


def _monitor_json(m: Monitor) -> dict[str, Any]:
    return {
        "name": m.name,
        "id": m.id,
        "model": m.model,
        "route": m.route,
        "config": m.config,
        "reference": m.reference,
        "created_at": m.created_at,
        "created_by": m.created_by,
    }


def _window_json(w: WindowResult) -> dict[str, Any]:
    return {
        "start": fmt_time(w.start_ms),
        "start_ms": w.start_ms,
        "end_ms": w.end_ms,
        "model_version": w.model_version,
        "slice": w.slice,
        "metrics": w.metrics,
        "details": w.details,
        "computed_ms": w.computed_ms,
    }


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _verdict(value: float | None) -> str:
    return "" if value is None else ("yes" if value >= 1 else "no")


def _figures(w: WindowResult) -> str:
    parts = [f"{k}={_fmt(w.metrics[k])}" for k in _SHOWN if w.metrics.get(k) is not None]
    return " ".join(parts[:4])


def _windows_table(title: str, windows: list[WindowResult]) -> None:
    table(
        title,
        ["Start (UTC)", "Version", "Slice", "Rows", "Drifted", "Figures"],
        [
            (
                fmt_time(w.start_ms),
                w.model_version,
                w.slice or "all",
                f"{int(w.metrics.get('rows') or 0):,}",
                _verdict(w.metrics.get("drifted")),
                _figures(w),
            )
            for w in windows
        ],
    )


@monitor_app.command("add")
def monitor_add(
    name: str = typer.Argument(..., help="The monitor's name."),
    model: str = typer.Argument(
        ..., help="The model: NAME, NAME:VERSION or NAME@ALIAS (whose evaluation is the reference)."
    ),
    route: str | None = typer.Option(
        None, "--route", help="Only requests of this route: champion, canary, shadow."
    ),
    reference: str | None = typer.Option(
        None,
        "--reference",
        help="Held-out rows to compare with (a dataset such as sensors-holdout:1); default: "
        "the dataset of the version's stored evaluation.",
    ),
    features: list[str] | None = typer.Option(
        None, "--features", "-f", help="Monitored input columns (a,b or repeated)."
    ),
    prediction: str = typer.Option("output", "--prediction", help="The logged output column."),
    target: str | None = typer.Option(None, "--target", help="The reference's label column."),
    task: str | None = typer.Option(None, "--task", help="classification or regression (default: inferred)."),
    text_columns: list[str] | None = typer.Option(None, "--text-column", help="A feature compared as text."),
    window: str = typer.Option("1d", "--window", "-w", help="1h, 6h, 1d, or a count such as '5000 rows'."),
    segment_by: str | None = typer.Option(None, "--segment-by", help="A feature to slice each window by."),
    rules: list[str] | None = typer.Option(
        None, "--rule", help="An alert rule, e.g. 'drift_share >= 0.3 for 2 windows'."
    ),
    webhooks: list[str] | None = typer.Option(None, "--webhook", help="POST alerts as JSON to this URL."),
    notifiers: list[str] | None = typer.Option(None, "--notifier", help="A notifier config as JSON."),
    log: bool = typer.Option(False, "--log", help="Write alerts to loopml's log too."),
    tests: list[str] | None = typer.Option(
        None, "--test", help="TEST[:THRESHOLD] for every column, or COLUMN=TEST[:THRESHOLD] (repeatable)."
    ),
    drift_share: float = typer.Option(
        0.5, "--drift-share", help="Share of drifting features that makes a window drifted."
    ),
    recompute: str = typer.Option(
        "7d", "--recompute", help="How long after its end a window is computed again as labels arrive."
    ),
    cooldown: str = typer.Option("1h", "--cooldown", help="How soon a resolved alert may open again."),
    as_json: bool = JSON,
) -> None:
    """Add a monitor of MODEL's prediction log: windows compared with a reference, alert rules, notifiers."""
    from loopml.monitoring import add_monitor

    monitor = add_monitor(
        name,
        model,
        route=route,
        reference=reference,
        features=_split(features),
        prediction=prediction,
        target=target,
        task=task,
        text_columns=_split(text_columns) or (),
        window=window,
        segment_by=segment_by,
        rules=rules or (),
        notifiers=_notifiers(webhooks, notifiers, log),
        tests=_tests(tests),
        drift_share=drift_share,
        recompute=recompute,
        cooldown=cooldown,
    )
    if as_json:
        print_json(clean_floats(_monitor_json(monitor)))
        return
    config, ref = monitor.config, monitor.reference
    console.print(
        f"[bold]{monitor.name}[/] watches {monitor.model}"
        + (f" ({monitor.route})" if monitor.route else "")
        + f" in windows of {config['window']}: {len(config['features'])} features, reference "
        f"{ref.get('dataset') or 'rows given'} ({ref.get('rows', 0):,} rows) with the predictions of version "
        f"{ref.get('model_version')}, {len(config['rules'])} rule(s). "
        f"Run `loopml monitor check {monitor.name}`."
    )


@monitor_app.command("ls")
def monitor_ls(
    model: str | None = typer.Option(None, "--model", help="Only the monitors of this model."),
    as_json: bool = JSON,
) -> None:
    """List monitors with their newest window and firing alerts."""
    from loopml.tracking import get_client

    store = get_client().store
    monitors = store.monitors.list(model)
    rows = []
    out = []
    for m in monitors:
        windows = store.monitors.windows(m.id)
        firing = store.monitors.alerts(m.id, state="firing")
        newest = max((w.end_ms for w in windows), default=None)
        out.append({**_monitor_json(m), "newest_window_end_ms": newest, "firing_alerts": len(firing)})
        rows.append(
            (
                m.name,
                m.model + (f" ({m.route})" if m.route else ""),
                m.config.get("window", ""),
                len(m.config.get("rules") or ()),
                fmt_time(newest),
                len(firing) or "",
            )
        )
    if as_json:
        print_json(clean_floats(out))
        return
    if not monitors:
        console.print("No monitors yet: `loopml monitor add NAME MODEL` adds one.")
        return
    table("Monitors", ["Name", "Model", "Window", "Rules", "Newest window end (UTC)", "Firing"], rows)


def _check_json(outcome: MonitorCheck) -> dict[str, Any]:
    return {
        "monitor": outcome.monitor.name,
        "windows_computed": outcome.windows,
        "results": [_window_json(w) for w in outcome.computed],
        "unchanged": outcome.unchanged,
        "firing": [
            {"rule": a.rule, "slice": a.key, "value": a.value, "opened_ms": a.opened_ms, "id": a.id}
            for a in outcome.firing
        ],
    }


@monitor_app.command("check")
def monitor_check(
    names: list[str] | None = typer.Argument(None, help="Monitors to check (default: every monitor)."),
    force: bool = typer.Option(False, "--force", help="Compute every complete window again."),
    as_json: bool = JSON,
) -> None:
    """Compute the complete windows not stored yet (and recent ones that got late labels), then alerts.
    Run it from cron or the loop's agent: checking twice stores the same results."""
    from loopml.monitoring import check_monitor
    from loopml.tracking import get_client

    chosen = names or [m.name for m in get_client().store.monitors.list()]
    if not chosen:
        raise InvalidArgumentError("There is no monitor to check: `loopml monitor add NAME MODEL` adds one.")
    outcomes: list[MonitorCheck] = []
    failed: dict[str, str] = {}
    if len(chosen) == 1:  # its error is the command's
        outcomes.append(check_monitor(chosen[0], force=force))
    else:  # one monitor that fails (a damaged blob, say) does not keep the others from their check
        for name in chosen:
            try:
                outcomes.append(check_monitor(name, force=force))
            except LoopmlError as exc:
                failed[name] = str(exc)
    if as_json:
        errors = [{"monitor": name, "error": why} for name, why in failed.items()]
        print_json(clean_floats([*(_check_json(o) for o in outcomes), *errors]))
    else:
        _print_checks(outcomes)
        for name, why in failed.items():
            line = f"[bold red]error:[/] {escape(name)}: {escape(why)}"
            err_console.print(line, highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _print_checks(outcomes: list[MonitorCheck]) -> None:
    for outcome in outcomes:
        name = outcome.monitor.name
        if outcome.computed:
            _windows_table(f"{name}: {outcome.windows} window(s) computed", outcome.computed)
        else:
            console.print(f"{name}: nothing new ({outcome.unchanged} complete window(s) as stored).")
        for alert in outcome.firing:
            slice_text = f" [{alert.key}]" if alert.key else ""
            console.print(
                f"[bold red]firing[/] {alert.rule}{slice_text} since {fmt_time(alert.opened_ms)}"
                + (f" (value {_fmt(alert.value)})" if alert.value is not None else ""),
                highlight=False,
            )


@monitor_app.command("windows")
def monitor_windows_cmd(
    name: str = typer.Argument(..., help="The monitor."),
    limit: int = typer.Option(30, "--limit", "-n", min=1, help="How many of the newest windows."),
    all_slices: bool = typer.Option(False, "--slices", help="Show every slice, not only all rows."),
    as_json: bool = JSON,
) -> None:
    """Show a monitor's stored windows, newest last."""
    from loopml.monitoring import monitor_windows

    windows = [w for w in monitor_windows(name) if all_slices or not w.slice]
    shown = windows[-limit:]
    if as_json:
        print_json(clean_floats([_window_json(w) for w in shown]))
        return
    if not shown:
        console.print(f"{name} has no window yet: `loopml monitor check {name}` computes them.")
        return
    _windows_table(f"Windows of {name}", shown)


@monitor_app.command("report")
def monitor_report_cmd(
    name: str = typer.Argument(..., help="The monitor."),
    window: str = typer.Option(
        "1d", "--window", "-w", help="How much of the newest log the distributions show."
    ),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="Where to write the HTML page."),
) -> None:
    """Write a self-contained HTML report: reference vs current per feature, drift and performance over
    time, alerts. It opens without a network."""
    from loopml.monitoring import monitor_report

    html = monitor_report(name, window=window)
    write_file(output, html)
    console.print(f"Wrote {output} ({len(html.encode()):,} bytes).")


@monitor_app.command("rm")
def monitor_rm(name: str = typer.Argument(..., help="The monitor to remove.")) -> None:
    """Remove a monitor with its windows and alerts."""
    from loopml.monitoring import delete_monitor

    delete_monitor(name)
    console.print(f"Removed monitor {name}.")
