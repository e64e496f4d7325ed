"""``loopml drift REF CUR``: which columns moved between a reference and current data (``lm.drift``).

Drift is a finding, not a failure: the command exits 0 whatever it finds, unless ``--fail-on-drift`` asks it
to exit 1 when the dataset drifts (for a CI step, as ``loopml data validate`` exits 1 on a failed check).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from loopml.cli._app import app
from loopml.cli._output import console, err_console, fmt_number, print_json, write_file
from loopml.errors import InvalidArgumentError


@app.command("drift")
def drift_cmd(
    reference: str = typer.Argument(
        ..., metavar="REF", help="The reference: a dataset (sensors:1, sensors@prod) or a file."
    ),
    current: str = typer.Argument(
        ..., metavar="CUR", help="The current data: a dataset reference, or a CSV / Parquet file."
    ),
    columns: str | None = typer.Option(None, "--columns", "-c", help="Only these columns: a,b,c."),
    test: list[str] = typer.Option(
        None,
        "--test",
        "-t",
        help="COLUMN=TEST or COLUMN=TEST:THRESHOLD, e.g. temp=psi:0.2 (repeatable). Tests: ks, chisquare, z, "
        "wasserstein, jensenshannon, psi, kl_div, hellinger, domain_classifier.",
    ),
    text: list[str] = typer.Option(None, "--text", help="A column of free text (repeatable)."),
    drift_share: float = typer.Option(
        0.5, "--drift-share", help="The dataset drifts when this share of its columns drift."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the report as an HTML page."),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit 1 when the dataset drifts."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Compare CUR with REF column by column: each column's test, statistic, threshold and verdict, and
    whether the dataset drifts. The defaults are Evidently's."""
    from loopml.monitoring import drift

    selected = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    report = drift(
        reference,
        current,
        columns=selected,
        tests=parse_tests(test or []) or None,
        text_columns=text or (),
        drift_share=drift_share,
    )
    if output is not None:
        write_file(output, report.to_html(title=f"Drift of {current} against {reference}"))
    if as_json:
        print_json({"reference": reference, "current": current, **report.to_dict()})
    else:
        verdict = "[bold red]drifts[/]" if report.drifted else "[bold green]does not drift[/]"
        share, at = f"{report.drift_share:.0%}", f"{report.drift_share_threshold:.0%}"
        console.print(
            f"{current} against {reference}: the dataset {verdict} ({len(report.drifted_columns)} of "
            f"{len(report.columns)} columns, {share}; it drifts at {at})",
            highlight=False,
        )
        # no column rules: seven columns of test names and numbers fit an 80-character terminal
        out = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for name in ("Column", "Kind", "Test", "Statistic", "p-value", "Threshold", "Drift"):
            numeric = name in ("Statistic", "p-value", "Threshold")
            out.add_column(name, justify="right" if numeric else "left", overflow="fold")
        for c in report.columns.values():
            out.add_row(
                escape(c.column),
                c.kind,
                c.test,
                fmt_number(c.statistic),
                "" if c.p_value is None else fmt_number(c.p_value),
                fmt_number(c.threshold),
                "[bold red]yes[/]" if c.drifted else "no",
            )
        console.print(out)
        for name, why in report.skipped.items():
            err_console.print(f"[yellow]not compared:[/] {escape(str(name))}: {escape(why)}", highlight=False)
        if output is not None:
            console.print(f"wrote {output}", highlight=False)
    if fail_on_drift and report.drifted:
        raise typer.Exit(1)


def parse_tests(specs: list[str]) -> dict[str, Any]:
    """``COLUMN=TEST[:THRESHOLD]`` options as ``lm.drift``'s ``tests``."""
    tests: dict[str, Any] = {}
    for spec in specs:
        column, sep, rest = spec.rpartition("=")
        if not sep or not column or not rest.partition(":")[0]:
            raise InvalidArgumentError(
                f"--test {spec!r} is COLUMN=TEST or COLUMN=TEST:THRESHOLD, for example temperature=psi:0.2."
            )
        tests[column] = parse_test(rest, spec)
    return tests


def parse_test(text: str, spec: str) -> str | tuple[str, float]:
    """``TEST`` or ``TEST:THRESHOLD`` (of the option ``spec``) as a test name or (name, threshold)."""
    name, colon, value = text.partition(":")
    if not colon:
        return name
    try:
        return name, float(value)
    except ValueError:
        raise InvalidArgumentError(f"In --test {spec!r}, the threshold {value!r} is not a number.") from None
