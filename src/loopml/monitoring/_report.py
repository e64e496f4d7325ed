"""The monitor report: one HTML page that says how a monitored model is doing, readable without a network.

``render_monitor_report(monitor, windows, alerts, reference, current)`` lays out, top to bottom:

1. the monitor: its model (and route), its reference, the windows shown and the alerts firing now;
2. the alerts, firing first, each with its rule, slice, value and when it opened and resolved;
3. performance over time: each realised metric (from labels) beside its estimate (CBPE, before labels
   land), with the share of each window's rows that are labelled, and the drift share of each window;
4. one section per feature: its reference and current distributions (from the profiles: a histogram on
   shared bins for numbers, the most frequent values otherwise) and its drift score over time with the
   test's threshold.

The page is built in two steps, so each can be tested alone: ``report_data`` turns the entities into
plain series and distributions (``ReportData``); the rendering turns those into HTML with the shared
page and chart helpers of ``loopml.monitoring._html``. Only windows of all rows (``slice == ""``) are
drawn; when an alias moved inside a window, each model version gets its own line.

What the page reads beyond the metrics (``WindowResult.metrics``, named as the engine writes them):

- a column's drift test and threshold: ``WindowResult.details["drift"][column]`` (``{"test", "threshold"}``),
  or a ``DriftReport.to_dict()`` there (``{"columns": ...}``);
- fixed or learned bands of other metrics: ``Monitor.config["thresholds"][metric]`` (``Threshold.to_dict()``);
- the feature columns: ``Monitor.config["features"]``, else the reference profile's columns (without the
  target and prediction columns, ``config["target"]`` and ``config["prediction"]``).
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loopml.monitoring._thresholds import Threshold

if TYPE_CHECKING:
    from loopml.data import ColumnProfile, Profile

ALL_ROWS = ""
HISTOGRAM_BINS = 20
TOP_VALUES = 10
EXACT_VALUES = 20  # a numeric column with this many distinct values or fewer gets a bar per value
INPUT_PREFIX = "input."  # the prediction log names a model's inputs input.<column>
OTHER = "(other)"


# --- the data the page shows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One window's value of a series: the window's start and end (ms), and None where it was not computed."""

    start_ms: int
    end_ms: int
    value: float | None


@dataclass(frozen=True)
class Series:
    """One metric over the windows, of one model version (``version`` None when only one was served)."""

    name: str
    points: tuple[Point, ...]
    version: int | None = None
    threshold: Threshold | None = None

    @property
    def label(self) -> str:
        return self.name if self.version is None else f"{self.name} (v{self.version})"

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.points if p.value is not None]


@dataclass(frozen=True)
class Distribution:
    """A column's reference and current distributions on the same bins: ``shares`` of each side's non-null
    values per bin (numeric: ``edges`` bound the bins; otherwise ``labels`` name the values, the rest in
    ``(other)``). A side without the column has no shares (``None``)."""

    column: str
    kind: str  # "numeric" | "categorical"; another profile kind ("temporal") has no bins
    labels: tuple[str, ...]
    reference: tuple[float, ...] | None
    current: tuple[float, ...] | None
    edges: tuple[float, ...] | None = None
    reference_rows: int = 0
    current_rows: int = 0
    reference_null_fraction: float | None = None
    current_null_fraction: float | None = None


@dataclass(frozen=True)
class Feature:
    """One feature's section: its distributions, its drift score over time and the test behind it."""

    column: str
    distribution: Distribution | None
    drift: tuple[Series, ...]
    test: str | None
    drifted_windows: int


@dataclass(frozen=True)
class AlertRow:
    rule: str
    key: str
    state: str
    value: float | None
    opened_ms: int
    resolved_ms: int | None
    window_start_ms: int


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, as plain values."""

    monitor: str
    model: str
    route: str | None
    reference: str
    windows: int
    first_ms: int | None
    last_ms: int | None
    versions: tuple[int, ...]
    features: tuple[Feature, ...]
    performance: tuple[tuple[str, tuple[Series, ...]], ...]  # metric -> realised and estimated series
    label_coverage: tuple[Series, ...]
    drift_share: tuple[Series, ...]
    alerts: tuple[AlertRow, ...]
    rules: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


def report_data(
    monitor: Any,
    windows: Sequence[Any],
    alerts: Sequence[Any],
    reference: Profile | None,
    current: Profile | None,
) -> ReportData:
    """The page's content from a ``Monitor``, its ``WindowResult``s, its ``Alert``s and the reference and
    current (for example the newest window's, or the report period's merged) profiles."""
    from loopml.registry._evaluate import METRICS

    config: Mapping[str, Any] = monitor.config or {}
    rows = sorted(
        (w for w in windows if w.slice == ALL_ROWS),
        key=lambda w: (w.start_ms, w.end_ms, w.model_version),
    )
    versions = tuple(sorted({int(w.model_version) for w in rows}))
    bands = _bands(config)

    def series(key: str, name: str | None = None) -> tuple[Series, ...]:
        out = []
        for version in versions:
            points = tuple(
                Point(int(w.start_ms), int(w.end_ms), _value(w.metrics.get(key)))
                for w in rows
                if w.model_version == version
            )
            if any(p.value is not None for p in points):
                out.append(
                    Series(
                        name or key,
                        points,
                        version if len(versions) > 1 else None,
                        bands.get(key) or bands.get(key.removeprefix("estimated.")),
                    )
                )
        return tuple(out)

    keys = [k for w in rows for k in w.metrics]
    performance = []
    for metric in METRICS:
        pair = series(metric) + series(f"estimated.{metric}")
        if pair:
            performance.append((metric, pair))

    features = []
    for column in _feature_columns(config, reference, current, keys):
        test, threshold = _drift_test(rows, column)
        drift = tuple(
            Series(s.name, s.points, s.version, threshold) for s in series(f"drift({column})", "drift score")
        )
        drifted = sum(1 for w in rows if _value(w.metrics.get(f"drifted({column})")) == 1)
        features.append(Feature(column, _distribution(column, reference, current), drift, test, drifted))

    reference_text = _describe_reference(monitor.reference or {})
    return ReportData(
        monitor=str(monitor.name),
        model=str(monitor.model),
        route=monitor.route,
        reference=reference_text,
        windows=len({(w.start_ms, w.end_ms) for w in rows}),
        first_ms=rows[0].start_ms if rows else None,
        last_ms=max(w.end_ms for w in rows) if rows else None,
        versions=versions,
        features=tuple(features),
        performance=tuple(performance),
        label_coverage=series("label_coverage", "label coverage"),
        drift_share=series("drift_share", "drift share"),
        alerts=tuple(
            AlertRow(
                str(a.rule),
                str(a.key),
                str(a.state),
                _value(a.value),
                int(a.opened_ms),
                a.resolved_ms,
                int(a.window_start_ms),
            )
            for a in sorted(alerts, key=lambda a: (a.state != "firing", -a.opened_ms))
        ),
        rules=tuple(str(r) for r in config.get("rules", ()) if isinstance(r, str)),
    )


def _feature_columns(
    config: Mapping[str, Any], reference: Profile | None, current: Profile | None, keys: Sequence[str]
) -> list[str]:
    """The configured features, else the reference's columns, then any other column a window drift-tested."""
    configured = config.get("features")
    skip = {str(config.get(k)) for k in ("target", "prediction") if config.get(k)}
    if isinstance(configured, list | tuple) and configured:
        names = [str(c) for c in configured]
    elif reference is not None:
        names = [c for c in reference.names if c not in skip]
    elif current is not None:
        names = [c.removeprefix(INPUT_PREFIX) for c in current.names if c.startswith(INPUT_PREFIX)]
    else:
        names = []
    for key in keys:
        if key.startswith("drift(") and key.endswith(")"):
            column = key[len("drift(") : -1]
            if column not in names:
                names.append(column)
    return list(dict.fromkeys(names))


def _drift_test(rows: Sequence[Any], column: str) -> tuple[str | None, Threshold | None]:
    """The newest window's test and threshold for ``column`` (its details), if the engine recorded them."""
    for w in reversed(rows):
        drift = (w.details or {}).get("drift")
        if not isinstance(drift, Mapping):
            continue
        columns = drift.get("columns", drift)
        entry: Any = None
        if isinstance(columns, Mapping):
            entry = columns.get(column)
        elif isinstance(columns, list):
            entry = next((c for c in columns if isinstance(c, Mapping) and c.get("column") == column), None)
        if isinstance(entry, Mapping):
            threshold = _value(entry.get("threshold"))
            test = entry.get("test")
            return (str(test) if test else None), (None if threshold is None else Threshold(upper=threshold))
    return None, None


def _bands(config: Mapping[str, Any]) -> dict[str, Threshold]:
    raw = config.get("thresholds")
    out: dict[str, Threshold] = {}
    if isinstance(raw, Mapping):
        for metric, doc in raw.items():
            if isinstance(doc, Mapping):
                try:
                    out[str(metric)] = Threshold.from_dict(doc)
                except ValueError:  # a malformed band is left off the chart, not a broken page
                    continue
    return out


def _describe_reference(reference: Mapping[str, Any]) -> str:
    for key in ("dataset", "ref", "description"):
        if reference.get(key):
            return str(reference[key])
    digest = reference.get("profile_digest") or reference.get("data_digest")
    return f"profile {str(digest)[:12]}" if digest else "not recorded"


# --- distributions from profiles --------------------------------------------------------------------------


def _column(profile: Profile | None, column: str) -> ColumnProfile | None:
    if profile is None:
        return None
    for name in (column, INPUT_PREFIX + column):
        if name in profile.names:
            return profile[name]
    return None


def _distribution(column: str, reference: Profile | None, current: Profile | None) -> Distribution | None:
    ref, cur = _column(reference, column), _column(current, column)
    sides = [c for c in (ref, cur) if c is not None]
    if not sides:
        return None
    numeric = all(c.kind == "numeric" for c in sides)
    exact = [getattr(c, "counts", None) for c in sides]
    if numeric and all(e is not None for e in exact):
        values = {v for e in exact if e is not None for v in e}
        if len(values) <= EXACT_VALUES:
            return _by_value(column, ref, cur, sorted(values))
    if numeric:
        return _histogram(column, ref, cur)
    if all(c.kind == "categorical" for c in sides):
        return _top_values(column, ref, cur)
    (ref_rows, ref_nulls), (cur_rows, cur_nulls) = _base(ref), _base(cur)
    kinds = " and ".join(dict.fromkeys(c.kind for c in sides))  # temporal, nested, or a type that changed
    return Distribution(column, kinds, (), None, None, None, ref_rows, cur_rows, ref_nulls, cur_nulls)


def _base(column: ColumnProfile | None) -> tuple[int, float | None]:
    return (0, None) if column is None else (column.rows, column.null_fraction)


def _by_value(
    name: str, ref: ColumnProfile | None, cur: ColumnProfile | None, values: list[Any]
) -> Distribution:
    def shares(column: ColumnProfile | None) -> tuple[float, ...] | None:
        counts = None if column is None else getattr(column, "counts", None)
        if column is None or counts is None:
            return None
        total = sum(counts.values())
        return tuple((counts.get(v, 0) / total) if total else 0.0 for v in values)

    (ref_rows, ref_nulls), (cur_rows, cur_nulls) = _base(ref), _base(cur)
    return Distribution(
        name, "categorical", tuple(_label(v) for v in values), shares(ref), shares(cur), None,
        ref_rows, cur_rows, ref_nulls, cur_nulls,
    )  # fmt: skip


def _histogram(name: str, ref: ColumnProfile | None, cur: ColumnProfile | None) -> Distribution:
    sides = [c for c in (ref, cur) if c is not None and c.min is not None and c.finite]
    (ref_rows, ref_nulls), (cur_rows, cur_nulls) = _base(ref), _base(cur)
    if not sides:
        return Distribution(name, "numeric", (), None, None, (), ref_rows, cur_rows, ref_nulls, cur_nulls)
    low = min(float(c.min) for c in sides)
    high = max(float(c.max) for c in sides)
    if low == high:
        edges = [low, high]
    else:
        edges = [low + (high - low) * i / HISTOGRAM_BINS for i in range(HISTOGRAM_BINS + 1)]

    def shares(column: ColumnProfile | None) -> tuple[float, ...] | None:
        if column is None or not column.finite or column.min is None:
            return None
        if len(edges) == 2:
            return (1.0,)
        below = [0.0, *column.cdf(edges[1:-1]), 1.0]  # share at or below each inner edge
        return tuple(max(b - a, 0.0) for a, b in itertools.pairwise(below))

    labels = tuple(f"{_number(a)} – {_number(b)}" for a, b in itertools.pairwise(edges))
    return Distribution(
        name, "numeric", labels, shares(ref), shares(cur), tuple(edges),
        ref_rows, cur_rows, ref_nulls, cur_nulls,
    )  # fmt: skip


def _top_values(name: str, ref: ColumnProfile | None, cur: ColumnProfile | None) -> Distribution:
    def counts(column: ColumnProfile | None) -> dict[str, int] | None:
        if column is None:
            return None
        exact = getattr(column, "counts", None)
        if exact is not None:
            return {_label(v): int(c) for v, c in exact.items()}
        return {str(v): int(c) for v, c in column.top(TOP_VALUES * 2)}

    ref_counts, cur_counts = counts(ref), counts(cur)
    totals = {
        "ref": ref.count if ref is not None else 0,
        "cur": cur.count if cur is not None else 0,
    }

    def share(table: dict[str, int] | None, total: int, value: str) -> float:
        return (table or {}).get(value, 0) / total if total else 0.0

    ranked: dict[str, float] = {}
    for table, total in ((ref_counts, totals["ref"]), (cur_counts, totals["cur"])):
        for value in table or {}:
            ranked[value] = max(ranked.get(value, 0.0), share(table, total, value))
    shown = sorted(ranked, key=lambda v: (-ranked[v], v))[:TOP_VALUES]

    def shares(table: dict[str, int] | None, total: int) -> tuple[float, ...] | None:
        if table is None:
            return None
        values = [share(table, total, v) for v in shown]
        rest = max(1.0 - sum(values), 0.0) if total else 0.0
        return (*values, rest)

    ref_shares, cur_shares = shares(ref_counts, totals["ref"]), shares(cur_counts, totals["cur"])
    labels: tuple[str, ...] = (*shown, OTHER)
    if all(side is None or side[-1] < 1e-9 for side in (ref_shares, cur_shares)):  # every value is shown
        labels, ref_shares, cur_shares = labels[:-1], _drop_last(ref_shares), _drop_last(cur_shares)
    (ref_rows, ref_nulls), (cur_rows, cur_nulls) = _base(ref), _base(cur)
    return Distribution(
        name, "categorical", labels, ref_shares, cur_shares, None, ref_rows, cur_rows, ref_nulls, cur_nulls
    )


def _drop_last(values: tuple[float, ...] | None) -> tuple[float, ...] | None:
    return None if values is None else values[:-1]


# --- rendering --------------------------------------------------------------------------------------------


def render_monitor_report(
    monitor: Any,
    windows: Sequence[Any],
    alerts: Sequence[Any],
    reference: Profile | None,
    current: Profile | None,
) -> str:
    """The report of ``monitor`` as one self-contained HTML page (no scripts, fonts or images to fetch)."""
    data = report_data(monitor, windows, alerts, reference, current)
    return render_report_data(data)


def render_report_data(data: ReportData) -> str:
    body = "\n".join((_summary(data), _alerts(data), _performance(data), _features(data)))
    return _page(f"Monitor {data.monitor}", body)


def _summary(data: ReportData) -> str:
    firing = sum(1 for a in data.alerts if a.state == "firing")
    route = f" ({_e(data.route)})" if data.route else ""
    rows = [
        ("Model", f"{_e(data.model)}{route}"),
        ("Reference", _e(data.reference)),
        (
            "Windows",
            f"{data.windows}, {_time(data.first_ms)} to {_time(data.last_ms)} (UTC)"
            if data.windows
            else "none yet",
        ),
        ("Model versions", ", ".join(f"v{v}" for v in data.versions) or "none"),
        ("Alerts firing", f'<span class="{"firing" if firing else "ok"}">{firing}</span>'),
    ]
    if data.rules:
        rows.append(("Rules", "<br>".join(f"<code>{_e(r)}</code>" for r in data.rules)))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    empty = (
        ""
        if data.windows
        else '<p class="note">No windows computed yet: run <code>loopml monitor check '
        f"{_e(data.monitor)}</code> once the model has served traffic.</p>"
    )
    return f'<h1>Monitor {_e(data.monitor)}</h1>\n<table class="summary">{table}</table>{empty}'


def _alerts(data: ReportData) -> str:
    if not data.alerts:
        return "<h2>Alerts</h2><p>No alerts.</p>"
    head = (
        "<tr><th>State</th><th>Rule</th><th>Slice</th><th>Value</th><th>Window</th><th>Opened</th>"
        "<th>Resolved</th></tr>"
    )
    body = "".join(
        f'<tr><td class="{_e(a.state)}">{_e(a.state)}</td><td><code>{_e(a.rule)}</code></td>'
        f"<td>{_e(a.key) or 'all rows'}</td><td>{_number(a.value)}</td><td>{_time(a.window_start_ms)}</td>"
        f"<td>{_time(a.opened_ms)}</td><td>{_time(a.resolved_ms)}</td></tr>"
        for a in data.alerts
    )
    return f'<h2>Alerts</h2><table class="grid">{head}{body}</table>'


def _performance(data: ReportData) -> str:
    parts = ["<h2>Performance over time</h2>"]
    if not data.performance:
        parts.append(
            "<p>No performance yet: realised metrics need labels, estimated ones a classifier whose "
            "probabilities are logged.</p>"
        )
    for metric, series in data.performance:
        parts.append(f"<h3>{_e(metric)}</h3>{_over_time(series)}")
    for title, series in (("Label coverage", data.label_coverage), ("Drift share", data.drift_share)):
        if series:
            parts.append(f"<h3>{title}</h3>{_over_time(series)}")
    return "\n".join(parts)


def _features(data: ReportData) -> str:
    parts = ["<h2>Features</h2>"]
    if not data.features:
        parts.append("<p>No feature columns are known: give the monitor a reference.</p>")
    for feature in data.features:
        test = f" · {_e(feature.test)}" if feature.test else ""
        drifted = (
            f' · <span class="firing">drifted in {feature.drifted_windows} '
            f"window{'s' if feature.drifted_windows != 1 else ''}</span>"
            if feature.drifted_windows
            else ""
        )
        parts.append(f'<section class="feature"><h3>{_e(feature.column)}{test}{drifted}</h3>')
        if feature.distribution is None:
            parts.append("<p>Not in the reference or the current profile.</p>")
        else:
            parts.append(_distribution_html(feature.distribution))
        parts.append(_over_time(feature.drift) if feature.drift else "<p>No drift score computed yet.</p>")
        parts.append("</section>")
    return "\n".join(parts)


# The page skeleton and the charts come from loopml.monitoring._html (shared with the drift report); the
# tables under each chart give the exact numbers.


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _over_time(series: Sequence[Series]) -> str:
    starts = sorted({(p.start_ms, p.end_ms) for s in series for p in s.points})
    values = {(s.label, p.start_ms, p.end_ms): p.value for s in series for p in s.points}
    head = "<tr><th>Window (UTC)</th>" + "".join(f"<th>{_e(s.label)}</th>" for s in series) + "</tr>"
    rows = []
    for start, end in starts:
        cells = []
        for s in series:
            value = values.get((s.label, start, end))
            breached = s.threshold is not None and s.threshold.breached(value)
            cells.append(f'<td class="{"firing" if breached else ""}">{_number(value)}</td>')
        rows.append(f"<tr><td>{_time(start)} – {_time(end)}</td>{''.join(cells)}</tr>")
    bands = [f"{_e(s.label)}: {_e(s.threshold)}" for s in series if s.threshold is not None]
    note = f'<p class="note">Threshold {"; ".join(dict.fromkeys(bands))}</p>' if bands else ""
    return f'<table class="grid">{head}{"".join(rows)}</table>{note}'


def _distribution_html(d: Distribution) -> str:
    def cell(shares: tuple[float, ...] | None, i: int) -> str:
        return "–" if shares is None else f"{shares[i] * 100:.1f} %"

    if d.kind not in ("numeric", "categorical"):
        return f'<p class="note">No distribution is drawn for a column of kind {_e(d.kind)}.</p>'
    if not d.labels:
        return '<p class="note">No values to show: the column is empty on both sides.</p>'
    head = f"<tr><th>{'Bin' if d.kind == 'numeric' else 'Value'}</th><th>Reference</th><th>Current</th></tr>"
    rows = "".join(
        f"<tr><td>{_e(label)}</td><td>{cell(d.reference, i)}</td><td>{cell(d.current, i)}</td></tr>"
        for i, label in enumerate(d.labels)
    )
    sides = []
    for name, shares, count, nulls in (
        ("reference", d.reference, d.reference_rows, d.reference_null_fraction),
        ("current", d.current, d.current_rows, d.current_null_fraction),
    ):
        if shares is None:
            sides.append(f"not in the {name}")
        else:
            sides.append(f"{name}: {count:,} rows, {(nulls or 0) * 100:.1f} % missing")
    return f'<table class="grid">{head}{rows}</table><p class="note">{"; ".join(sides)}</p>'


_CSS = (
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:72em;"
    "padding:0 1em;color:#1d232a}"
    "h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}"
    "h3{font-size:1.05em;margin:1.2em 0 .4em}"
    "table{border-collapse:collapse;margin:.3em 0}th,td{padding:.2em .7em;text-align:left}"
    "table.grid td,table.grid th{border:1px solid #d0d7de}table.grid th{background:#f3f5f7}"
    "table.summary th{color:#57606a;font-weight:normal;padding-left:0}"
    ".firing{color:#b42318;font-weight:600}.resolved,.ok{color:#1a7f37}"
    ".note{color:#57606a;font-size:.92em;margin:.2em 0 .8em}"
    "section.feature{margin-bottom:1.6em}code{font-size:.95em}"
)


# --- helpers ----------------------------------------------------------------------------------------------


def _value(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _time(ms: int | None) -> str:
    if ms is None:
        return "–"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _e(text: Any) -> str:
    return html.escape(str(text))
