"""The monitor report: one HTML page that says how a monitored model is doing, readable without a network.

``render_monitor_report(monitor, windows, alerts, reference, current)`` lays out, top to bottom:

1. the monitor: its model (and route), its reference, the windows shown and the alerts firing now;
2. the alerts, firing first, each with its rule, slice, value and when it opened and resolved;
3. performance over time: each realised metric (from labels) beside its estimate (CBPE, before labels
   land), with the share of each window's rows that are labelled, and the drift share of each window;
4. one section per feature: its reference and current distributions (from the profiles: a histogram on
   shared bins for numbers, a bar per value for few values, the most frequent values otherwise) and its
   drift score over time with the test's threshold, the windows that drifted circled.

The page is built in two steps, so each can be tested alone: ``report_data`` turns the entities into
plain series and distributions (``ReportData``); the rendering turns those into HTML with the shared
page and chart helpers of ``loopml.monitoring._html``. Only windows of all rows (``slice == ""``) are
drawn; when an alias moved inside a window, each model version gets its own line.

What the page reads beyond the metrics (``WindowResult.metrics``, named as the engine writes them):

- a column's drift test and threshold: ``WindowResult.details["drift"]["columns"][column]`` (``test``,
  ``threshold``, ``p_value``), or a ``DriftReport.to_dict()``'s list of columns there. A test with a
  p-value (KS, chi-squared, z) is drawn as its p-value, which drifts at or below the threshold; the
  others as their statistic, which drifts at or above it;
- fixed or learned bands of other metrics: ``Monitor.config["thresholds"][metric]`` (``Threshold.to_dict()``);
- the feature columns: ``Monitor.config["features"]``, else the reference profile's columns (without the
  target and prediction columns, ``config["target"]`` and ``config["prediction"]``).
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from loopml.monitoring._segments import INPUT_PREFIX
from loopml.monitoring._thresholds import Threshold

if TYPE_CHECKING:
    from loopml.data import ColumnProfile, Profile

ALL_ROWS = ""
HISTOGRAM_BINS = 20
TOP_VALUES = 10
EXACT_VALUES = 20  # a numeric column with this many distinct values or fewer gets a bar per value
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
    marks: tuple[bool, ...] | None = None  # points to circle (windows whose verdict was drift)

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

    def series(
        value: Callable[[Any], float | None],
        name: str,
        threshold: Threshold | None = None,
        marked: Callable[[Any], bool] | None = None,
    ) -> tuple[Series, ...]:
        out = []
        for version in versions:
            mine = [w for w in rows if w.model_version == version]
            points = tuple(Point(int(w.start_ms), int(w.end_ms), value(w)) for w in mine)
            if any(p.value is not None for p in points):
                marks = None if marked is None else tuple(marked(w) for w in mine)
                out.append(Series(name, points, version if len(versions) > 1 else None, threshold, marks))
        return tuple(out)

    def metric(key: str, name: str | None = None) -> tuple[Series, ...]:
        band = bands.get(key) or bands.get(key.removeprefix("estimated."))
        return series(partial(_metric_value, key=key), name or key, band)

    keys = [k for w in rows for k in w.metrics]
    performance = []
    for name in METRICS:
        pair = metric(name) + metric(f"estimated.{name}")
        if pair:
            performance.append((name, pair))

    features = []
    for column in _feature_columns(config, reference, current, keys):
        test, threshold, on_p_value = _drift_test(rows, column)
        drifted_key = f"drifted({column})"

        def verdict(w: Any, key: str = drifted_key) -> bool:
            return _value(w.metrics.get(key)) == 1

        if on_p_value:  # a p-value test: drift when the p-value falls to the threshold
            drift = series(partial(_entry_value, column=column, key="p_value"), "p-value", threshold, verdict)
        else:
            drift = series(partial(_metric_value, key=f"drift({column})"), "drift score", threshold, verdict)
        drifted = sum(1 for w in rows if verdict(w))
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
        label_coverage=metric("label_coverage", "label coverage"),
        drift_share=metric("drift_share", "drift share"),
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


def _drift_entry(window: Any, column: str) -> Mapping[str, Any] | None:
    """A window's drift verdict of ``column`` (its details: ``{"drift": {"columns": {column: {"test",
    "statistic", "p_value", "threshold", ...}}}}``, or a list of such entries as ``DriftReport.to_dict``)."""
    drift = (window.details or {}).get("drift")
    if not isinstance(drift, Mapping):
        return None
    columns = drift.get("columns", drift)
    entry: Any = None
    if isinstance(columns, Mapping):
        entry = columns.get(column)
    elif isinstance(columns, list):
        entry = next((c for c in columns if isinstance(c, Mapping) and c.get("column") == column), None)
    return entry if isinstance(entry, Mapping) else None


def _metric_value(window: Any, key: str) -> float | None:
    return _value(window.metrics.get(key))


def _entry_value(window: Any, column: str, key: str) -> float | None:
    entry = _drift_entry(window, column)
    return None if entry is None else _value(entry.get(key))


def _drift_test(rows: Sequence[Any], column: str) -> tuple[str | None, Threshold | None, bool]:
    """The newest window's test of ``column``, its threshold as a band, and whether the threshold is on the
    p-value (KS, chi-squared, z: drift at or below it) rather than on the statistic (at or above it)."""
    for w in reversed(rows):
        entry = _drift_entry(w, column)
        if entry is None:
            continue
        test = str(entry["test"]) if entry.get("test") else None
        threshold = _value(entry.get("threshold"))
        on_p_value = _value(entry.get("p_value")) is not None
        if threshold is None:
            return test, None, on_p_value
        band = Threshold(lower=threshold) if on_p_value else Threshold(upper=threshold)
        return test, band, on_p_value
    return None, None, False


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
    from loopml.monitoring import _html

    route = f" ({data.route})" if data.route else ""
    subtitle = f"model {data.model}{route} · reference {data.reference}"
    body = [_summary(data), _alerts(data), _performance(data), *_features(data)]
    return str(_html.page(f"Monitor {data.monitor}", body, subtitle=subtitle, footer="loopml monitor report"))


def _summary(data: ReportData) -> str:
    from loopml.monitoring import _html

    firing = sum(1 for a in data.alerts if a.state == "firing")
    if data.windows:
        span = f"{_time(data.first_ms)} to {_time(data.last_ms)} UTC"
        items: list[tuple[str, Any]] = [("windows", data.windows), ("from", span)]
    else:
        items = [("windows", "none yet")]
    items.append(("model versions", ", ".join(f"v{v}" for v in data.versions) or "none"))
    state = _html.badge(f"{firing} alert{'s' if firing != 1 else ''} firing", "bad" if firing else "good")
    parts: list[str] = [_html.facts(items), state]
    if not data.windows:
        parts.append(
            _html.paragraph(
                f"No windows computed yet: run `loopml monitor check {data.monitor}` once the model has "
                "served traffic.",
                "muted",
            )
        )
    if data.rules:
        parts.append(_html.table(["Rule"], [[_html.Markup(f"<code>{_e(r)}</code>")] for r in data.rules]))
    return str(_html.section("Summary", parts))


def _alerts(data: ReportData) -> str:
    from loopml.monitoring import _html

    if not data.alerts:
        return str(_html.section("Alerts", _html.paragraph("No alerts.", "muted")))
    rows = [
        [
            _html.badge(a.state, "bad" if a.state == "firing" else "good"),
            _html.Markup(f"<code>{_e(a.rule)}</code>"),
            a.key or "all rows",
            a.value,
            _time(a.window_start_ms),
            _time(a.opened_ms),
            _time(a.resolved_ms),
        ]
        for a in data.alerts
    ]
    headers = ["State", "Rule", "Slice", "Value", "Window", "Opened", "Resolved"]
    return str(_html.section("Alerts", _html.table(headers, rows, numeric=[3])))


def _performance(data: ReportData) -> str:
    from loopml.monitoring import _html

    parts: list[str] = []
    if not data.performance:
        parts.append(
            _html.paragraph(
                "No performance yet: realised metrics need labels, estimated ones a classifier whose "
                "probabilities are logged.",
                "muted",
            )
        )
    for metric, series in data.performance:
        parts.append(f"<h3>{_e(metric)}</h3>{_over_time(series, metric)}")
    for title, series in (("Label coverage", data.label_coverage), ("Drift share", data.drift_share)):
        if series:
            parts.append(f"<h3>{title}</h3>{_over_time(series, title.lower())}")
    return str(_html.section("Performance over time", parts))


def _features(data: ReportData) -> list[str]:
    from loopml.monitoring import _html

    if not data.features:
        return [str(_html.section("Features", _html.paragraph("No feature columns are known.", "muted")))]
    out = []
    for feature in data.features:
        head: list[tuple[str, Any]] = []
        if feature.test:
            head.append(("test", feature.test))
        threshold = next((s.threshold for s in feature.drift if s.threshold is not None), None)
        if threshold is not None:
            head.append(("threshold", str(threshold)))
        parts: list[str] = [_html.facts(head)] if head else []
        if feature.drifted_windows:
            many = "s" if feature.drifted_windows != 1 else ""
            parts.append(_html.badge(f"drifted in {feature.drifted_windows} window{many}", "bad"))
        parts.append("<h3>Reference and current</h3>")
        parts.append(
            _distribution_html(feature.distribution)
            if feature.distribution is not None
            else str(_html.paragraph("Not in the reference or the current profile.", "muted"))
        )
        score = feature.drift[0].name if feature.drift else "drift score"
        parts.append(f"<h3>{_e(score.capitalize())} over time</h3>")
        parts.append(
            _over_time(feature.drift, score)
            if feature.drift
            else str(_html.paragraph("No drift score computed yet.", "muted"))
        )
        out.append(str(_html.section(feature.column, parts, anchor=feature.column)))
    return out


def _over_time(series: Sequence[Series], y_label: str) -> str:
    """A line per series over the windows' starts, the first series' threshold as a band, its breaches
    circled; and the numbers, folded, under it."""
    from loopml.monitoring import _html

    windows = sorted({(p.start_ms, p.end_ms) for s in series for p in s.points})
    values = {(s.label, p.start_ms, p.end_ms): p.value for s in series for p in s.points}
    lines = {s.label: [values.get((s.label, *w)) for w in windows] for s in series}
    threshold = next((s.threshold for s in series if s.threshold is not None), None)
    band = None if threshold is None else (threshold.lower, threshold.upper)
    first = series[0]
    if first.marks is not None:  # the windows whose verdict was drift
        verdicts = {(p.start_ms, p.end_ms): m for p, m in zip(first.points, first.marks, strict=True)}
        marks: list[bool] | None = [verdicts.get(w, False) for w in windows]
    else:  # the windows outside the band
        marks = None if threshold is None else [threshold.breached(v) for v in lines[first.label]]
    chart = _html.line_chart(
        [float(start) for start, _ in windows],
        lines,
        band=band,
        marks=marks,
        x_format=_html.utc_label,
        y_label=y_label,
    )
    rows = [
        [f"{_time(start)} – {_time(end)}", *(lines[s.label][i] for s in series)]
        for i, (start, end) in enumerate(windows)
    ]
    numbers = _html.table(["Window (UTC)", *lines], rows, numeric=range(1, len(lines) + 1))
    note = f'<p class="muted">threshold {_e(threshold)}</p>' if threshold is not None else ""
    return f"{chart}{note}<details><summary>Numbers</summary>{numbers}</details>"


def _distribution_html(d: Distribution) -> str:
    from loopml.monitoring import _html

    if d.kind not in ("numeric", "categorical"):
        return str(_html.paragraph(f"No distribution is drawn for a column of kind {d.kind}.", "muted"))
    if not d.labels:
        return str(_html.paragraph("No values to show: the column is empty on both sides.", "muted"))
    zeros = tuple(0.0 for _ in d.labels)
    reference, current = d.reference or zeros, d.current or zeros
    if d.kind == "numeric" and d.edges is not None and len(d.edges) == len(d.labels) + 1:
        chart = _html.histogram_pair(d.edges, reference, current)
    else:
        chart = _html.bar_pair(d.labels, reference, current, totals=(1.0, 1.0))
    sides = []
    for name, shares, count, nulls in (
        ("reference", d.reference, d.reference_rows, d.reference_null_fraction),
        ("current", d.current, d.current_rows, d.current_null_fraction),
    ):
        if shares is None:
            sides.append(f"not in the {name}")
        else:
            sides.append(f"{name}: {count:,} rows, {(nulls or 0) * 100:.1f} % missing")
    rows = [[label, _share(d.reference, i), _share(d.current, i)] for i, label in enumerate(d.labels)]
    headers = ["Bin" if d.kind == "numeric" else "Value", "Reference", "Current"]
    numbers = _html.table(headers, rows, numeric=[1, 2])
    facts = f'<p class="muted">{_e("; ".join(sides))}</p>'
    return f"{chart}{facts}<details><summary>Numbers</summary>{numbers}</details>"


def _share(shares: tuple[float, ...] | None, i: int) -> str:
    return "–" if shares is None else f"{shares[i] * 100:.1f} %"


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
