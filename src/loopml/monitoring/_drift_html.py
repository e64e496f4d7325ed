"""The page of a drift report (``DriftReport.to_html``): the dataset verdict, a table of every column's test,
statistic, threshold and verdict, then per column the reference and current distributions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml._version import __version__
from loopml.monitoring._html import (
    Markup,
    badge,
    bar_pair,
    facts,
    histogram_pair,
    link,
    page,
    paragraph,
    section,
    table,
)
from loopml.monitoring._stattests import TESTS

if TYPE_CHECKING:
    from loopml.monitoring._drift import ColumnDrift, DriftReport


def render_drift_report(report: DriftReport, title: str = "Drift report") -> str:
    compared = len(report.columns)
    drifted = len(report.drifted_columns)
    verdict = badge("dataset drift", "bad") if report.drifted else badge("no dataset drift", "good")
    summary = [
        Markup(f"<p>{verdict}</p>"),
        facts(
            [
                ("drifted columns", f"{drifted} of {compared}"),
                ("share", f"{report.drift_share:.0%}"),
                ("dataset drifts at", f"{report.drift_share_threshold:.0%}"),
                ("reference rows", report.reference_rows),
                ("current rows", report.current_rows),
            ]
        ),
    ]
    if report.approximate:
        summary.append(
            paragraph("Computed from profiles (quantile and frequency sketches), not from rows.", "muted")
        )
    rows = [
        (
            link(c.column, c.column),
            c.kind,
            c.test,
            c.statistic,
            "" if c.p_value is None else c.p_value,
            c.threshold,
            badge("drift", "bad") if c.drifted else badge("ok", "good"),
        )
        for c in report.columns.values()
    ]
    summary.append(
        table(
            ["Column", "Kind", "Test", "Statistic", "p-value", "Threshold", "Verdict"],
            rows,
            numeric=(3, 4, 5),
        )
    )
    if report.skipped:
        summary.append(Markup("<h3>Not compared</h3>"))
        summary.append(table(["Column", "Why"], list(report.skipped.items())))
    parts = [section("Summary", summary)]
    parts += [section(c.column, _column(c), anchor=c.column) for c in report.columns.values()]
    subtitle = f"{compared} columns compared, {drifted} drifted"
    return page(title, parts, subtitle=subtitle, footer=f"loopml {__version__}")


def _column(c: ColumnDrift) -> list[Markup]:
    d = c.details
    test = TESTS.get(c.test)
    score = "p-value" if c.p_value is not None else "statistic"
    items: list[tuple[str, Any]] = [("kind", c.kind), ("test", c.test), ("statistic", c.statistic)]
    if c.p_value is not None:
        items.append(("p-value", c.p_value))
    items += [
        ("threshold", c.threshold),
        ("reference rows", d.get("reference_rows")),
        ("current rows", d.get("current_rows")),
    ]
    nulls = (d.get("reference_nulls"), d.get("current_nulls"))
    if any(nulls):
        items.append(("nulls (reference / current)", f"{nulls[0]:,} / {nulls[1]:,}"))
    verdict = badge("drift", "bad") if c.drifted else badge("ok", "good")
    out = [Markup(f"<p>{verdict}</p>"), facts(items)]
    if test is not None:
        out.append(paragraph(f"{test.describe} (the {score} is compared with the threshold).", "muted"))
    if d.get("std_floored"):
        out.append(
            paragraph("The reference is constant: its standard deviation is floored at 0.001.", "muted")
        )
    if d.get("new_values"):
        examples = ", ".join(str(v) for v in d.get("new_examples", []))
        out.append(paragraph(f"{d['new_values']} value(s) the reference never had: {examples}", "muted"))
    if "histogram" in d:
        h = d["histogram"]
        out.append(histogram_pair(h["edges"], h["reference"], h["current"]))
    elif "categories" in d:
        cats = d["categories"]
        values, ref, cur = list(cats["values"]), list(cats["reference"]), list(cats["current"])
        if cats.get("other_reference") or cats.get("other_current"):
            values.append("(other values)")
            ref.append(cats["other_reference"])
            cur.append(cats["other_current"])
        out.append(bar_pair(values, ref, cur, totals=(sum(ref), sum(cur))))
    if "words" in d:
        words = d["words"]
        out.append(
            table(
                ["Words typical of the current text", "Words typical of the reference text"],
                _side_by_side(words.get("current", []), words.get("reference", [])),
            )
        )
    return out


def _side_by_side(a: list[str], b: list[str]) -> list[tuple[str, str]]:
    return [(a[i] if i < len(a) else "", b[i] if i < len(b) else "") for i in range(max(len(a), len(b)))]
