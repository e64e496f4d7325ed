"""One window's results: counts and latencies of every request, drift of each column, the reference
dataset's checks and the performance, as one ``WindowResult`` per model version and slice.

**Drift** follows one rule per column: when the reference has at most ``EXACT_LIMIT`` (1,000)
non-null values of a column, the window's rows of that column are read and the exact test runs
(``column_drift``: KS, chi-squared, z); otherwise the window's merged segment profiles are compared with the
reference's profile (``profile_drift``: Wasserstein, Jensen-Shannon, from sketches), so a day of a million
rows is checked without reading them. Text columns always go by rows (a domain classifier). The prediction
(``output``) and, once labels arrive, the target go through the same machinery; ``drift_share`` counts the
features only. Error rows never reach drift or performance: they have no inputs.

**Reading.** A window whose columns are all tested on profiles, with neither a target nor CBPE, reads no
row at all. Otherwise its log rows stream by segment by segment, in bounded batches (``_streaming``): each
version's counts, latencies and performance add up as they pass, and their labels are looked up batch by
batch, only when the model has any label at all (the store is asked first), so memory does not grow with
the window's rows. What needs a window's rows together (exact tests of a small reference's columns, text
columns, the dataset's checks, slices of a segment column) reads those columns all at once.

**Metrics** are flat, what alert rules read: ``rows``, ``errors``, ``error_rate`` (failed requests /
requests), ``latency_p50_ms`` and ``latency_p99_ms`` (per request, errors included; when nothing needs the
window's rows, from the segment profiles instead: of answered rows, within the quantile sketch's error),
``prediction_rate`` (rows per hour), ``drift_share``, ``drifted``, ``drift(<col>)``, ``drifted(<col>)``,
``null_fraction(<col>)``, ``new_categories(<col>)``, ``new_classes(<target>)``, ``<test>(<col>)`` for a test
a rule names, ``check.<name>`` (1 passed, 0 failed), ``labelled_rows``, ``label_coverage``, the realised
metrics and ``estimated.<metric>``.

**Details** (JSON): ``drift`` (``drift_share``, ``drifted``, and per column ``kind``, ``test``,
``statistic``, ``p_value``, ``threshold``, ``drifted``, ``method`` ("exact" or "profile"), ``details``),
``target_drift`` (the same for the target), ``errors_by_status``, ``performance`` (the version's stored
metrics and each metric's difference), ``thresholds`` (each metric's band and whether the window breaches
it), ``checks`` (the check report), ``problems`` (per column, why it could not be tested).
"""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from loopml.errors import LoopmlError
from loopml.monitoring._drift import json_value
from loopml.monitoring._performance import (
    Estimator,
    PerformanceStream,
    attach_labels,
    compare,
    new_classes,
)
from loopml.monitoring._reference import EXACT_LIMIT, INPUT_PREFIX, Reference, log_name, version_metrics
from loopml.monitoring._streaming import QUANTILE_ERROR, RequestCounts
from loopml.monitoring._windows import (
    META_COLUMNS,
    OK_STATUS,
    VersionProfile,
    WindowData,
    WindowSpec,
    profile_rows,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from loopml.data import ColumnProfile, Profile
    from loopml.data.checks import Check
    from loopml.monitoring._drift import ColumnDrift
    from loopml.store import Store, WindowResult

MAX_SLICES = 20  # slices of a segment column per window: the most frequent values
NO_VALUES = "null in every row of this window (or not logged at all)"
# checks of a dataset that mean nothing for a window or cannot be rebuilt from their name
_NOT_FOR_WINDOWS = ("row_count", "in_set")
_CHECK = re.compile(r"^(not_null|unique|in_range|max_null_fraction|has_column|matches_regex)\((.*)\)$", re.S)


@dataclass
class Plan:
    """What a check of one monitor computes in every window, worked out once."""

    store: Store
    monitor_id: str
    model: str
    spec: WindowSpec
    reference: Reference
    text_columns: frozenset[str] = frozenset()
    segment_by: str | None = None
    tests: dict[str, Any] = field(default_factory=dict)  # column -> test name or (name, threshold)
    drift_share: float = 0.5
    extra: list[tuple[str, str, str]] = field(default_factory=list)  # (metric key, test, column) rules ask
    new_category_columns: frozenset[str] = frozenset()  # columns a rule asks new_categories of
    checks: list[str] = field(default_factory=list)
    estimator: Estimator | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)  # metric -> Threshold (a band to stay in)
    max_slices: int = MAX_SLICES
    _metrics: dict[int, dict[str, float]] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return self.reference.features

    @property
    def drift_columns(self) -> list[str]:
        """The columns tested for drift: the features, then the prediction."""
        return [*self.features, self.reference.prediction]

    def exact(self, column: str) -> bool:
        """Whether ``column`` is tested on rows (a small reference, or text) rather than on profiles."""
        count = self.reference.count(column)
        return column in self.text_columns or (count is not None and count <= EXACT_LIMIT)

    def row_columns(self) -> list[str]:
        """The log columns a window's rows must be read with all at once (empty: profiles are enough, or
        a stream of batches): exact tests, checks, slices."""
        wanted = [c for c in self.drift_columns if self.exact(c)]
        wanted += [
            column for _, _, column in self.extra if column in self.drift_columns and self.exact(column)
        ]
        if self.segment_by is not None:
            wanted += [*self.drift_columns, self.segment_by, "latency_ms"]
        wanted += [c for c in (_check_column(name) for name in self.checks) if c is not None]
        if self.checks and any(_check_column(name) is None for name in self.checks):
            wanted += self.features
        return self._log_names(wanted)

    def performance_columns(self) -> list[str]:
        """The log columns performance reads, realised and estimated: the prediction and probabilities."""
        ref = self.reference
        return self._log_names([ref.prediction, *(ref.task.proba_columns if ref.task else ())])

    def _log_names(self, columns: Sequence[str]) -> list[str]:
        known = self.known_columns
        return list(dict.fromkeys(log_name(c, self.features) for c in columns if c in known))

    def performance(self) -> PerformanceStream:
        """A new accumulator of one group's performance (a version of a window, or one of its slices)."""
        target = self.reference.target
        return PerformanceStream(
            self.reference.task,
            target=target,
            estimator=self.estimator,
            exact_target=target is not None and self.exact(target),
        )

    @property
    def known_columns(self) -> list[str]:
        ref = self.reference
        return [*self.drift_columns, *(ref.task.proba_columns if ref.task else ()), "latency_ms"]

    def version_metrics(self, version: int) -> dict[str, float]:
        return version_metrics(self.store, self.model, version, self._metrics)


def monitor_profile(profile: Profile, features: Sequence[str]) -> Profile:
    """A window's profile (log names) with the features under their own names, as the reference has them."""
    columns = []
    for column in profile.columns:
        name = column.name
        if name.startswith(INPUT_PREFIX) and name[len(INPUT_PREFIX) :] in features:
            column = replace(column, name=name[len(INPUT_PREFIX) :])
        columns.append(column)
    return replace(profile, columns=columns)


def monitor_rows(rows: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """A window's rows (log names) with the features under their own names."""
    renames = {f"{INPUT_PREFIX}{f}": f for f in features if f"{INPUT_PREFIX}{f}" in rows.columns}
    return rows.rename(columns=renames)


# -- counts -----------------------------------------------------------------------------------------------


def _percentile(values: np.ndarray[Any, Any], q: float) -> float | None:
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else None


def request_counts(meta: pd.DataFrame, hours: float) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Rows, errors, error rate, latencies and rate of a window's log rows (errors included)."""
    counts = RequestCounts(OK_STATUS)
    counts.add(meta)
    return counts.metrics(hours)


def _empty_counts(hours: float) -> dict[str, float | None]:
    return {
        "rows": 0.0,
        "errors": 0.0,
        "error_rate": None,
        "latency_p50_ms": None,
        "latency_p99_ms": None,
        "prediction_rate": 0.0 if hours > 0 else None,
    }


def profile_counts(found: VersionProfile, hours: float) -> dict[str, float | None]:
    """Rows, errors and latencies of one version from its merged segment profiles (no row read)."""
    requests = found.requests + found.errors
    latency: dict[float, float] = {}
    if found.profile is not None:
        try:
            latency = found.profile["latency_ms"].quantiles((0.5, 0.99))
        except KeyError:
            latency = {}
    return {
        "rows": float(found.rows),
        "errors": float(found.errors),
        "error_rate": found.errors / requests if requests else None,
        "latency_p50_ms": latency.get(0.5),
        "latency_p99_ms": latency.get(0.99),
        "prediction_rate": found.rows / hours if hours > 0 else None,
    }


def _slice_counts(rows: pd.DataFrame, hours: float) -> dict[str, float | None]:
    import numpy as np

    first = (rows["row"].fillna(0) == 0).to_numpy()
    latency = rows["latency_ms"].to_numpy(dtype=float)[first] if "latency_ms" in rows.columns else np.zeros(0)
    latency = latency[np.isfinite(latency)]
    return {
        "rows": float(len(rows)),
        "errors": None,  # error rows have no inputs: they belong to no slice
        "error_rate": None,
        "latency_p50_ms": _percentile(latency, 50),
        "latency_p99_ms": _percentile(latency, 99),
        "prediction_rate": len(rows) / hours if hours > 0 else None,
    }


# -- drift ------------------------------------------------------------------------------------------------


def _drift_entry(found: ColumnDrift, method: str) -> dict[str, Any]:
    """A column's verdict in a window's details: ``ColumnDrift.to_dict`` without the name it is filed
    under, and how it was found."""
    entry: dict[str, Any] = json_value(found.to_dict())
    del entry["column"]
    return {**entry, "method": method}


def _test_of(spec: Any) -> tuple[str | None, float | None]:
    if spec is None:
        return None, None
    if isinstance(spec, list | tuple):
        return str(spec[0]), float(spec[1])
    return str(spec), None


@dataclass
class _Columns:
    """The values of one group (a version, or one of its slices) the tests read."""

    rows: pd.DataFrame | None  # monitor names (features by name), with ``label`` when labels came
    profile: Profile | None  # monitor names

    def values(self, column: str) -> pd.Series[Any] | None:
        if self.rows is None or column not in self.rows.columns:
            return None
        return self.rows[column]

    def stats(self, column: str) -> ColumnProfile | None:
        if self.profile is None:
            return None
        try:
            return self.profile[column]
        except KeyError:
            return None


def _exact_drift(plan: Plan, column: str, current: pd.Series[Any], test: Any) -> Any:
    from loopml.monitoring import column_drift

    name, threshold = _test_of(test)
    return column_drift(
        column,
        plan.reference.column(column),
        current,
        kind="text" if column in plan.text_columns else None,
        test=name,
        threshold=threshold,
    )


def _drift(
    plan: Plan,
    group: _Columns,
    columns: Sequence[str],
    tests: Mapping[str, Any],
    problems: dict[str, str],
) -> dict[str, tuple[Any, str]]:
    """Each column's ColumnDrift and how it was found ("exact" or "profile"); a column that cannot be
    tested gets a line in ``problems`` instead."""
    out: dict[str, tuple[Any, str]] = {}
    by_profile: dict[str, Any] = {}
    for column in columns:
        if plan.reference.count(column) is None:
            problems[column] = "the reference has no such column"
            continue
        if plan.exact(column):
            current = group.values(column)
            if current is None or current.notna().sum() == 0:
                problems[column] = NO_VALUES
                continue
            try:
                out[column] = (_exact_drift(plan, column, current, tests.get(column)), "exact")
            except LoopmlError as exc:
                problems[column] = str(exc)
            continue
        by_profile[column] = tests.get(column)
    if not by_profile:
        return out
    from loopml.monitoring._profile_drift import column_profile_drift

    for column, test in by_profile.items():
        stats, ref_stats = group.stats(column), _ref_stats(plan, column)
        if stats is None or stats.count == 0 or ref_stats is None:
            problems[column] = NO_VALUES
            continue
        name, threshold = _test_of(test)
        try:
            found = column_profile_drift(column, ref_stats, stats, test=name, threshold=threshold)
            out[column] = (found, "profile")
        except LoopmlError as exc:
            problems[column] = str(exc)
    return out


def _category_values(stats: ColumnProfile | None) -> set[str] | None:
    """The distinct values a profile knows exactly (few values), or its frequent values; None: unknown."""
    if stats is None:
        return None
    counts = getattr(stats, "counts", None)
    if counts is not None:
        return {str(k) for k in counts}
    if stats.categories is not None:
        return {str(v) for v in stats.categories}
    top = stats.top(100) if stats.frequent is not None else []
    return {str(v) for v, _ in top} if top else None


def _new_categories(plan: Plan, group: _Columns, column: str) -> float | None:
    known = _category_values(_ref_stats(plan, column))
    if known is None:
        return None
    values = group.values(column)
    if values is not None:
        seen = {str(v) for v in values.dropna().unique().tolist()}
    else:
        found = _category_values(group.stats(column))
        if found is None:
            return None
        seen = found
    return float(len(seen - known))


def _ref_stats(plan: Plan, column: str) -> ColumnProfile | None:
    try:
        return plan.reference.profile[column]
    except KeyError:
        return None


def _null_fraction(group: _Columns, column: str) -> float | None:
    values = group.values(column)
    if values is not None:
        return float(values.isna().mean()) if len(values) else None
    stats = group.stats(column)
    return None if stats is None or stats.rows == 0 else float(stats.null_fraction)


# -- checks -----------------------------------------------------------------------------------------------


def window_checks(report: Mapping[str, Any] | None, features: Sequence[str]) -> tuple[list[str], list[str]]:
    """The names of a dataset's checks (from its stored report) a window can run, and those it cannot:
    row counts (of the reference, not of a window), value sets (their values are not kept), custom checks
    (code is not kept) and checks of columns the log does not have."""
    runnable, skipped = [], []
    for result in (report or {}).get("results", []):
        name = str(result.get("name", ""))
        column = result.get("column")
        if (
            _CHECK.match(name) is None
            or name.startswith(_NOT_FOR_WINDOWS)
            or (column is not None and column not in features)
        ):
            skipped.append(name)
        else:
            runnable.append(name)
    return runnable, skipped


def _check_column(name: str) -> str | None:
    match = _CHECK.match(name)
    if match is None:
        return None
    return match.group(2).split(", ", 1)[0]


def build_check(name: str) -> Check:
    """The check a stored check's name stands for (``in_range(temp, -40.0, 120.0)``)."""
    from loopml.data import checks

    match = _CHECK.match(name)
    if match is None:
        raise ValueError(name)
    kind, args = match.groups()
    if kind in ("not_null", "unique"):
        return checks.not_null(args) if kind == "not_null" else checks.unique(args)
    if kind == "in_range":
        column, low, high = args.rsplit(", ", 2)
        return checks.in_range(column, _number(low), _number(high))
    if kind == "max_null_fraction":
        column, fraction = args.rsplit(", ", 1)
        return checks.max_null_fraction(column, float(fraction))
    if kind == "has_column":
        column, _, type_name = args.partition(", ")
        return checks.has_column(column, type_name or None)
    column, _, pattern = args.partition(", ")
    return checks.matches_regex(column, str(ast.literal_eval(pattern)))


def _number(text: str) -> float | None:
    """A bound as the check's name shows it: ``None``, ``0`` or ``0.5`` (an int stays an int, so the rebuilt
    check has the same name)."""
    value = ast.literal_eval(text)
    if value is not None and not isinstance(value, int | float):
        raise ValueError(text)
    return value


def _run_checks(names: Sequence[str], rows: pd.DataFrame) -> tuple[dict[str, float | None], dict[str, Any]]:
    import pyarrow as pa

    from loopml.data.checks import CheckReport, CheckResult, run_checks

    built = []
    for name in names:
        try:
            built.append(build_check(name))
        except (ValueError, SyntaxError, LoopmlError):
            continue
    if not built:
        return {}, {}
    table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
    results = []
    for check in built:  # one at a time: a check the window's values do not fit fails alone
        try:
            results.extend(run_checks([check], table.schema, table.to_batches()).results)
        except (pa.ArrowException, TypeError, ValueError):
            found = table.schema.field(check.column).type if check.column in table.column_names else None
            message = f"cannot run on this window's values of {check.column} ({found}; did its type change?)"
            results.append(CheckResult(check.name, check.column, False, message=message))
    report = CheckReport(table.num_rows, results)
    metrics: dict[str, float | None] = {f"check.{r.name}": 1.0 if r.passed else 0.0 for r in report.results}
    return metrics, json_value(report.to_dict())


# -- one window -------------------------------------------------------------------------------------------


def compute_window(
    plan: Plan,
    data: WindowData,
    *,
    computed_ms: int,
    fallback_version: int,
) -> list[WindowResult]:
    """The results of one window: one per model version in it (``fallback_version`` for an empty window),
    each followed by one per slice of the segment column."""
    from loopml.store import WindowResult

    window = data.window
    results: list[WindowResult] = []

    def result(
        version: int, slice_name: str, metrics: dict[str, float | None], details: dict[str, Any]
    ) -> None:
        details = {"window": {"spec": plan.spec.text, "hours": window.hours}, **details}
        results.append(
            WindowResult(
                monitor_id=plan.monitor_id,
                start_ms=window.start_ms,
                end_ms=window.end_ms,
                model_version=version,
                slice=slice_name,
                metrics={k: json_value(v) for k, v in metrics.items()},
                details=json_value(details),
                computed_ms=computed_ms,
            )
        )

    ref = plan.reference
    wanted = plan.row_columns()
    # labels can only be there when the model has some: the store says so before any request id is read
    labels = ref.target is not None and bool(data.segments) and plan.store.predictions.has_labels(plan.model)
    performance = plan.estimator is not None or (ref.target is not None and (labels or bool(wanted)))
    # nothing to read row by row: counts and latencies come from the segment profiles too, so the window's
    # blobs are never read (latency quantiles are then those of answered rows, from the profile's sketch)
    by_profiles = not wanted and not performance and data.profiled()
    profiles = None
    if by_profiles or any(not plan.exact(c) for c in plan.drift_columns):
        profiles = data.profiles()
    streams: dict[int, _Stream] = {}
    if by_profiles:
        versions = sorted(v for v, p in (profiles or {}).items() if p.rows or p.errors)
    else:
        streams = _stream(plan, data, performance=performance, labels=labels)
        versions = sorted(streams)

    if not versions:
        counts = _empty_counts(window.hours)
        result(fallback_version, "", {**counts, "drift_share": None, "drifted": None}, {"empty": True})
        return results

    rows_all = None
    if wanted:
        if plan.segment_by is not None and performance:  # each slice's performance reads its rows
            wanted = [*wanted, *plan.performance_columns(), *(["request_id"] if labels else [])]
        rows_all = monitor_rows(data.rows(wanted), plan.features)
        if labels and "request_id" in rows_all.columns:
            rows_all = _with_labels(plan, rows_all)
    for version in versions:
        found_profile = None if profiles is None else profiles.get(version)
        stream = streams.get(version)
        if stream is not None:
            counts, extra = stream.counts.metrics(window.hours)
            if not stream.counts.latency.exact:
                extra["approximate"] = {
                    "latency_p50_ms": {"relative": QUANTILE_ERROR},
                    "latency_p99_ms": {"relative": QUANTILE_ERROR},
                }
        else:
            assert found_profile is not None
            counts, extra = profile_counts(found_profile, window.hours), {"counts": "profile"}
        rows = None
        if rows_all is not None:
            rows = rows_all[rows_all["model_version"] == version].reset_index(drop=True)
        profile = None
        if found_profile is not None and found_profile.profile is not None:
            profile = monitor_profile(found_profile.profile, plan.features)
        perf = None if stream is None else stream.performance
        metrics, details = _group(plan, version, _Columns(rows, profile), counts, perf)
        if "approximate" in extra and "approximate" in details:
            extra["approximate"] = {**extra["approximate"], **details.pop("approximate")}
        result(version, "", metrics, {**extra, **details})
        if plan.segment_by is not None and rows is not None and len(rows):
            for value, sub in _slices(rows, plan.segment_by, plan.max_slices):
                sub_profile = profile_rows(sub[[c for c in plan.known_columns if c in sub.columns]])
                sub_perf = None
                if performance:
                    sub_perf = plan.performance()
                    sub_perf.add(sub)
                metrics, details = _group(
                    plan, version, _Columns(sub, sub_profile), _slice_counts(sub, window.hours), sub_perf
                )
                result(version, f"{plan.segment_by}={value}", metrics, details)
    return results


@dataclass
class _Stream:
    """What one version's rows of a window add up to as they stream by."""

    counts: RequestCounts
    performance: PerformanceStream | None


def _stream(plan: Plan, data: WindowData, *, performance: bool, labels: bool) -> dict[int, _Stream]:
    """Every log row of the window (errors too), batch by batch: the counts and latencies of each version,
    and, with ``performance``, its answered rows' performance (their labels looked up, with ``labels``)."""
    columns = list(META_COLUMNS)
    if performance:
        columns += plan.performance_columns()
    if labels:
        columns.append("request_id")
    out: dict[int, _Stream] = {}
    version: Any
    for batch in data.batches(columns):
        if labels:
            batch = _with_labels(plan, batch)
        for version, part in batch.groupby("model_version", sort=False):
            found = out.get(int(version))
            if found is None:
                found = out[int(version)] = _Stream(
                    RequestCounts(OK_STATUS), plan.performance() if performance else None
                )
            found.counts.add(part)
            if found.performance is not None:
                found.performance.add(part[part["status"] == OK_STATUS])
    return out


def _with_labels(plan: Plan, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a ``label`` column: the label of each row's request, missing where none came yet (one
    query for the ids of these rows)."""
    ids = rows["request_id"].dropna().unique().tolist()
    found = {lb.request_id: lb.label for lb in plan.store.predictions.labels(plan.model, ids)} if ids else {}
    return attach_labels(rows, found)


def _slices(rows: pd.DataFrame, column: str, limit: int) -> list[tuple[str, pd.DataFrame]]:
    if column not in rows.columns:
        return []
    keys = rows[column].map(lambda v: "<missing>" if v is None or v != v else str(v))
    top = keys.value_counts().head(limit).index.tolist()
    return [(str(value), rows[keys == value].reset_index(drop=True)) for value in sorted(top)]


def _group(
    plan: Plan,
    version: int,
    group: _Columns,
    counts: dict[str, float | None],
    perf: PerformanceStream | None = None,
) -> tuple[dict[str, float | None], dict[str, Any]]:

    ref = plan.reference
    metrics: dict[str, float | None] = dict(counts)
    problems: dict[str, str] = {}
    details: dict[str, Any] = {}
    if not counts.get("rows"):
        metrics.update(drift_share=None, drifted=None)
        return metrics, details

    # drift of the features and the prediction
    drifts = _drift(plan, group, plan.drift_columns, plan.tests, problems)
    columns = {c: _drift_entry(d, how) for c, (d, how) in drifts.items()}
    for column, (found, _) in drifts.items():
        metrics[f"drift({column})"] = json_value(found.statistic)
        metrics[f"drifted({column})"] = 1.0 if found.drifted else 0.0
    verdicts = [drifts[c][0].drifted for c in plan.features if c in drifts]
    share = sum(verdicts) / len(verdicts) if verdicts else None
    metrics["drift_share"] = share
    metrics["drifted"] = None if share is None else (1.0 if share >= plan.drift_share else 0.0)
    details["drift"] = {"drift_share": share, "drifted": metrics["drifted"] == 1.0, "columns": columns}

    # the tests rules ask for by name
    for key, test, column in plan.extra:
        if column == ref.target:
            continue
        found_extra = _drift(plan, group, [column], {column: test}, {})
        if column in found_extra:
            metrics[key] = json_value(found_extra[column][0].statistic)

    for column in plan.drift_columns:
        metrics[f"null_fraction({column})"] = _null_fraction(group, column)
        stats = _ref_stats(plan, column)
        if column in plan.new_category_columns or (stats is not None and stats.kind == "categorical"):
            metrics[f"new_categories({column})"] = _new_categories(plan, group, column)

    # the reference dataset's checks, on the window's rows
    if plan.checks and group.rows is not None:
        check_metrics, report = _run_checks(
            plan.checks, group.rows[[c for c in plan.features if c in group.rows]]
        )
        metrics.update(check_metrics)
        if report:
            details["checks"] = report

    # performance, realised and estimated, and the target's drift once labels came
    approximate: dict[str, Any] = {}
    if perf is not None and ref.target is not None:
        if ref.task is not None:
            found_perf, bound = perf.realised()
            metrics.update(found_perf)
            compare_with = plan.version_metrics(version)
            details["performance"] = {
                "reference_version": version,
                "compared": compare(found_perf, compare_with),
            }
            if perf.labelled:
                metrics[f"new_classes({ref.target})"] = float(new_classes(sorted(perf.label_texts), ref.task))
            if bound is not None:
                approximate.update(
                    {k: {"absolute": bound} for k in ("roc_auc", "roc_auc_ovr_weighted") if k in metrics}
                )
        else:
            metrics["labelled_rows"] = float(perf.labelled)
            metrics["label_coverage"] = perf.labelled / perf.rows if perf.rows else None
        if perf.labelled:
            metrics.update(_target_drift(plan, *perf.target_labels(), details, problems))
    if plan.estimator is not None and perf is not None:
        metrics.update(perf.estimate())
        estimated = perf.estimated
        if estimated is not None and not estimated.exact:
            bound = estimated.auc_bound()
            for key in ("estimated.roc_auc", "estimated.roc_auc_ovr_weighted"):
                if key in metrics and bound is not None:
                    approximate[key] = {"absolute": bound}
    if approximate:
        details["approximate"] = approximate
    breaches = {}
    for metric, band in plan.thresholds.items():
        for key in (metric, f"estimated.{metric}"):
            value = metrics.get(key)
            if value is not None:
                breaches[key] = {**band.to_dict(), "value": value, "breached": band.breached(value)}
    if breaches:
        details["thresholds"] = breaches
    if problems:
        details["problems"] = problems
    return metrics, details


def _target_drift(
    plan: Plan,
    labels: pd.Series[Any] | None,
    merged: Profile | None,
    details: dict[str, Any],
    problems: dict[str, str],
) -> dict[str, float | None]:
    """Drift of the labels that came against the reference's target, by the same rule as any column:
    ``labels`` their values (all of them, or those not in ``merged``, the profile of the others)."""
    import pandas as pd

    target = plan.reference.target
    assert target is not None
    exact = plan.exact(target)
    frame = None
    if labels is not None:
        values = pd.Series(labels.tolist(), name=target)  # JSON values: let pandas type them
        if exact:
            with contextlib.suppress(TypeError, ValueError):
                values = values.astype(plan.reference.column(target).dtype)
        frame = pd.DataFrame({target: values})
    if exact:
        group = _Columns(frame, None)
    else:
        profile = merged
        try:
            if frame is not None:
                profile = profile_rows(frame) if profile is None else profile.merge(profile_rows(frame))
        except LoopmlError as exc:
            problems[target] = str(exc)
            return {}
        group = _Columns(None, profile)
    metrics: dict[str, float | None] = {}
    found = _drift(plan, group, [target], plan.tests, problems)
    if target in found:
        drift, how = found[target]
        metrics[f"drift({target})"] = json_value(drift.statistic)
        metrics[f"drifted({target})"] = 1.0 if drift.drifted else 0.0
        details["target_drift"] = _drift_entry(drift, how)
    for key, test, column in plan.extra:
        if column == target:
            more = _drift(plan, group, [column], {column: test}, {})
            if column in more:
                metrics[key] = json_value(more[column][0].statistic)
    return metrics


__all__ = [
    "MAX_SLICES",
    "Plan",
    "build_check",
    "compute_window",
    "monitor_profile",
    "monitor_rows",
    "request_counts",
    "window_checks",
]
