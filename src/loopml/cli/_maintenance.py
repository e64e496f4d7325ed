"""``loopml doctor`` and ``loopml gc``."""

from __future__ import annotations

from dataclasses import asdict

import typer

from loopml.cli._app import app
from loopml.cli._output import console, fmt_bytes, print_json, progress_bar, table


@app.command("doctor")
def doctor_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Check that the schema is current and every referenced blob exists and matches its digest."""
    from loopml.store._maintenance import doctor
    from loopml.tracking import get_client, get_settings

    settings = get_settings()
    client = get_client()
    with progress_bar("Verifying blobs", quiet or as_json) as update:
        report = doctor(client.store, client.artifacts, update)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "checks": [asdict(c) for c in report.checks],
                "problems": report.problems,
                "database": client.store.url,
                "artifact_root": settings.artifact_root,
            }
        )
    else:
        table(
            None,
            ["Check", "Result", "Detail"],
            [("database", "ok", client.store.url), ("artifact root", "ok", settings.artifact_root)]
            + [(c.name, "ok" if c.ok else "FAIL", c.detail) for c in report.checks],
        )
        for problem in report.problems[:50]:
            console.print(f"[red]{problem}[/]")
        if len(report.problems) > 50:
            console.print(f"… and {len(report.problems) - 50} more (use --json for all)")
    if not report.ok:
        raise typer.Exit(1)


@app.command("gc")
def gc_cmd(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be removed."),
    grace: float = typer.Option(
        3600.0, "--grace", min=0, help="Keep unreferenced blobs younger than this many seconds."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Remove blobs that nothing refers to."""
    from loopml.store._maintenance import collect_garbage
    from loopml.tracking import get_client

    client = get_client()
    report = collect_garbage(client.store, client.artifacts, grace_seconds=grace, dry_run=dry_run)
    if as_json:
        print_json(asdict(report))
        return
    verb = "Would remove" if dry_run else "Removed"
    console.print(
        f"{verb} {report.removed} blob(s), {fmt_bytes(report.freed_bytes)}; kept {report.kept}."
        + (f" Cleaned {report.temp_removed} stale temporary file(s)." if report.temp_removed else "")
    )
