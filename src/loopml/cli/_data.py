"""``loopml data ...``: add, list, show, validate, profile and compare dataset versions."""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from loopml.cli._app import app, new_app
from loopml.cli._json import added_summary, version_dict
from loopml.cli._output import console, err_console, fmt_bytes, fmt_time, print_json, progress_bar, table

data_app = new_app("Datasets: versioned, content-addressed data with schemas.")
app.add_typer(data_app, name="data")

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


@data_app.command("add")
def data_add(
    name: str = typer.Argument(..., help="Dataset name, e.g. sensors."),
    path: Path = typer.Argument(..., help="A .parquet or .csv file, or a folder of Parquet files."),
    description: str = typer.Option("", "--description", "-d", help="What this data is."),
    tag: list[str] = typer.Option(None, "--tag", "-t", help="Tag this version (repeatable)."),
    as_json: bool = JSON,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Add a file or folder as the next version of a dataset (unchanged content keeps its version)."""
    # `loopml data add` for content already stored is answered before this command loads (cli/_quick.py);
    # what it prints must stay what this prints
    from loopml import data

    with warnings.catch_warnings(record=True) as caught, progress_bar(f"Reading {path.name}", quiet) as bar:
        warnings.simplefilter("always")
        version = data.add(name, path, description=description, tags=tag or (), progress=bar)
    if as_json:
        print_json(version_dict(version))
        return
    console.print(added_summary(version))
    for warning in caught:
        if issubclass(warning.category, data.SchemaChangeWarning | data.DataCheckWarning):
            err_console.print(f"[yellow]note:[/] {warning.message}", highlight=False)


@data_app.command("ls")
def data_ls(as_json: bool = JSON) -> None:
    """List datasets with their number of versions."""
    from loopml.tracking import get_client

    rows = get_client().store.datasets.list_datasets()
    if as_json:
        print_json([{**asdict(d), "versions": n} for d, n in rows])
        return
    table(
        "Datasets",
        ["Name", "Versions", "Created", "Description"],
        [(d.name, n, fmt_time(d.created_ms), d.description) for d, n in rows],
    )


@data_app.command("show")
def data_show(
    ref: str = typer.Argument(..., help="sensors (all versions), sensors:3, sensors@latest or sensors@tag."),
    as_json: bool = JSON,
) -> None:
    """Show a dataset's versions, or one version with its schema."""
    from loopml import data

    if ":" not in ref and "@" not in ref:
        versions = data.versions(ref)
        if as_json:
            print_json([version_dict(v) for v in versions])
            return
        table(
            f"Dataset {ref}",
            ["Version", "Rows", "Size", "Status", "Tags", "Created", "Digest"],
            [
                (
                    v.version,
                    f"{v.num_rows:,}",
                    fmt_bytes(v.num_bytes),
                    v.status.value,
                    ", ".join(v.tags),
                    fmt_time(v.created_ms),
                    v.digest[:16],
                )
                for v in versions
            ],
        )
        return
    version = data.get(ref)
    if as_json:
        print_json(version_dict(version))
        return
    console.print(
        f"[bold]{version.ref}[/]  {version.num_rows:,} rows, {fmt_bytes(version.num_bytes)}, "
        f"{version.status.value}, digest {version.digest}"
    )
    columns = version.schema.get("columns", [])
    table(
        "Schema",
        ["Column", "Type", "Nulls", "Range", "Categories"],
        [
            (
                c["name"],
                c["type"],
                c["null_count"],
                f"{c['min']} … {c['max']}" if "min" in c else "",
                ", ".join(map(str, c.get("categories", [])[:8]))
                + (" …" if len(c.get("categories", [])) > 8 else ""),
            )
            for c in columns
        ],
    )


def _load_checks(spec: str) -> Any:
    """``path/to/checks.py:NAME`` or ``package.module:NAME`` -> the list of checks it names."""
    from loopml._objects import import_object

    return import_object(spec, what="the checks", example="checks.py:CHECKS")


@data_app.command("validate")
def data_validate(
    ref: str = typer.Argument(..., help="sensors:3, sensors@latest or sensors@tag."),
    checks: str = typer.Option(
        None, "--checks", "-c", help="Run these checks: FILE.py:NAME or MODULE:NAME (a list of checks)."
    ),
    as_json: bool = JSON,
) -> None:
    """Show the checks a version was added with, or run other checks on it. Exits 1 when one fails."""
    from loopml import data
    from loopml.data.checks import CheckReport
    from loopml.errors import NotFoundError

    version = data.get(ref)
    if checks:
        report = data.validate(version, _load_checks(checks))
    elif version.checks is not None:
        report = CheckReport.from_dict(version.checks)
    else:
        raise NotFoundError(
            f"{version.ref} was added without checks; pass --checks FILE.py:NAME to run some."
        )
    if as_json:
        print_json({"ref": version.ref, **report.to_dict()})
    else:
        table(
            f"Checks of {version.ref} ({report.num_rows:,} rows)",
            ["Check", "Result", "Failed rows", "Detail"],
            [
                (r.name, "pass" if r.passed else "FAIL", f"{r.failed_rows:,}", r.message)
                for r in report.results
            ],
        )
        for result in report.failures:
            if result.sample:
                console.print(f"[bold]{result.name}[/] failing rows (first {len(result.sample)}):")
                for row in result.sample:
                    console.print(f"  {row}", highlight=False, markup=False)
    if not report.passed:
        raise typer.Exit(1)


@data_app.command("lineage")
def data_lineage(
    ref: str = typer.Argument(..., help="sensors:3, sensors@latest or sensors@tag."),
    as_json: bool = JSON,
) -> None:
    """Show the versions a version was derived from, back to its sources, and how each was made."""
    from loopml import data

    graph = data.lineage(ref)
    if as_json:
        print_json(
            {
                "ref": graph.root.ref,
                "versions": {
                    v.id: {"ref": v.ref, "transform": v.transform, "parents": list(v.parents)}
                    for v in graph.versions.values()
                },
                "sources": [v.ref for v in graph.sources],
            }
        )
        return
    console.print(graph.render(), highlight=False, markup=False)


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(counts: list[int]) -> str:
    """A histogram in one line of block characters."""
    peak = max(counts, default=0)
    if peak <= 0:
        return ""
    return "".join(_BARS[min(len(_BARS) - 1, round(c / peak * (len(_BARS) - 1)))] for c in counts)


def _short(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@data_app.command("profile")
def data_profile(
    ref: str = typer.Argument(..., help="sensors:3, sensors@latest or sensors@tag."),
    column: list[str] = typer.Option(None, "--column", "-c", help="Only these columns (repeatable)."),
    bins: int = typer.Option(10, "--bins", min=1, max=100, help="Histogram bins of numeric columns."),
    as_json: bool = JSON,
) -> None:
    """Show a version's profile: per column counts, nulls, distinct values, moments, quantiles, and a
    histogram or the most frequent values."""
    from loopml import data
    from loopml.errors import NotFoundError

    version = data.get(ref)
    summary = data.profile(version).summary(bins=bins)
    columns = summary["columns"]
    if column:
        unknown = sorted(set(column) - {c["name"] for c in columns})
        if unknown:
            raise NotFoundError(f"{version.ref} has no column {', '.join(map(repr, unknown))}.")
        columns = [c for c in columns if c["name"] in column]
    if as_json:
        print_json({"ref": version.ref, "num_rows": summary["num_rows"], "columns": columns})
        return
    title = f"Profile of {version.ref} ({summary['num_rows']:,} rows)"
    numeric = [c for c in columns if c["kind"] == "numeric"]
    others = [c for c in columns if c["kind"] != "numeric"]
    if numeric:
        table(
            title + ": numeric columns",
            ["Column", "Nulls", "Distinct", "Mean", "Std", "Min", "p50", "Max", "Histogram"],
            [
                (
                    c["name"],
                    f"{c['nulls']:,}",
                    _count(c["distinct"]),
                    _short(c.get("mean")),
                    _short(c.get("std")),
                    _short(c["min"]),
                    _short(c.get("quantiles", {}).get("p50")),
                    _short(c["max"]),
                    sparkline(c["histogram"]["counts"]),
                )
                for c in numeric
            ],
        )
    if others:
        table(
            title + (": other columns" if numeric else ""),
            ["Column", "Type", "Nulls", "Distinct", "Range / top values"],
            [
                (
                    c["name"],
                    c["type"],
                    f"{c['nulls']:,}",
                    _count(c["distinct"]),
                    f"{c['min']} … {c['max']}"
                    if c["min"] is not None
                    else ", ".join(f"{t['value']} ({t['count']:,})" for t in c.get("top", [])[:5]),
                )
                for c in others
            ],
        )


def _count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


@data_app.command("diff")
def data_diff(
    before: str = typer.Argument(..., help="The older version, e.g. sensors:2."),
    after: str = typer.Argument(..., help="The newer version, e.g. sensors:3 or sensors@latest."),
    top: int = typer.Option(10, "--top", "-n", min=1, help="Show this many of the most moved columns."),
    as_json: bool = JSON,
) -> None:
    """Compare two versions: schema changes, row counts, and the columns whose distributions moved most."""
    from loopml import data

    result = data.diff(before, after)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"[bold]{result.before}[/] -> [bold]{result.after}[/]: rows {result.rows[0]:,} -> {result.rows[1]:,}"
        f" ({result.rows[1] - result.rows[0]:+,})",
        highlight=False,
    )
    for change in result.schema_changes:
        console.print(f"  {change}", highlight=False, markup=False)
    if not result.schema_changes:
        console.print("  same columns and types", highlight=False)

    def moved(c: Any) -> str:
        if c.kind == "numeric":
            return f"mean {_short(c.before.get('mean'))} -> {_short(c.after.get('mean'))}"
        if c.kind == "categorical":
            old, new = c.before.get("top", {}), c.after.get("top", {})
            values = sorted(old.keys() | new.keys(), key=lambda v: -abs(new.get(v, 0.0) - old.get(v, 0.0)))
            return "; ".join(f"{v} {old.get(v, 0.0):.1%} -> {new.get(v, 0.0):.1%}" for v in values[:2])
        return ""

    table(
        f"Columns by shift (top {min(top, len(result.columns))} of {len(result.columns)})",
        ["Column", "Shift", "Measure", "Nulls", "Change"],
        [
            (
                c.name,
                f"{c.score:.3f}",
                c.measure,
                f"{c.before['null_fraction']:.1%} -> {c.after['null_fraction']:.1%}",
                moved(c),
            )
            for c in result.columns[:top]
        ],
    )
