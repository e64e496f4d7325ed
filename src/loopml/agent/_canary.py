"""Is the canary worse than the champion? The rollback conditions, decided on the prediction log.

``compare_routes`` reads the rows one model logged in one window ``[since_ms, until_ms)`` under two routes —
the challenger's (``"canary"``, or ``"shadow"`` during a shadow stage) served by ``canary_version`` and
``"champion"`` served by ``champion_version`` — so both sides are measured over exactly the same time, and
rows of any other version (an alias that moved mid-window) count for neither. Each segment of the window is
read once, with only the columns the conditions need, and both sides are taken from it. Per side:

- ``requests`` (answered requests plus error rows), ``errors``, ``error_rate`` = errors / requests;
- ``latency_p50_ms``, ``latency_p95_ms`` of the answered requests (an error's latency says little about the
  model: a refusal returns at once);
- ``rows`` (predictions), ``labelled_rows``, ``label_coverage`` = labelled rows / rows (a label belongs to a
  request, as in monitoring), and the realised metrics, computed by monitoring's code
  (``loopml.monitoring._performance.realised``, the same as ``lm.evaluate``).

Then one verdict per condition of ``RollbackConditions``:

============== ================================================ ============================================
condition      fail (roll back) when                            test
============== ================================================ ============================================
error_rate     canary rate > champion rate + max_increase        one-sided; when a cell of the 2x2 table
                                                                 expects fewer than 5 requests, Fisher's
                                                                 exact test of any increase (scipy has no
                                                                 exact test of a margin: the observed
                                                                 increase must also pass the margin), else
                                                                 a z-test of the margin itself
latency_p95_ms canary p95 > champion p95 x max_ratio             binomial: more than 5 % of the canary's
                                                                 requests slower than champion p95 x ratio
performance    canary metric worse by more than max_drop,        accuracy: as error_rate, on the misses;
               once both sides' label coverage reaches the       f1, precision, recall, mae, rmse: a
               minimum                                           bootstrap of the difference (scipy)
============== ================================================ ============================================

A condition **fails** when the canary is worse than the limit *and* the test finds it significant at
``alpha``; that may happen before ``min_requests`` (a test already weighs how few the requests are: a canary
failing half of its first thirty requests should not serve thirty more), except for latency, whose p95
needs ``min_requests`` on both sides to mean anything. It **passes** when both sides have ``min_requests``
(and, for performance, the label coverage) and the canary is within the limit. Otherwise it is
**undecided**: too few requests or labels, or a breach not significant yet; the rollout waits. Each verdict
carries its figures and a reason in words, and ``CanaryEvidence.to_dict()`` is what the audit event keeps.

The test is repeated at every look the agent takes, each at ``alpha``, so over many looks a sound canary is
rolled back more often than ``alpha``; a rollback costs a retry, a bad model kept costs users.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from loopml.errors import InvalidArgumentError, NotFoundError
from loopml.monitoring._performance import LABEL, Task, attach_labels, realised
from loopml.monitoring._windows import META_COLUMNS, OK_STATUS, read_segment

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from loopml.artifacts import ArtifactStore
    from loopml.store import Store
    from loopml.tracking import TrackingClient

Verdict = Literal["pass", "fail", "undecided"]
PASS: Verdict = "pass"
FAIL: Verdict = "fail"
UNDECIDED: Verdict = "undecided"

SMALL_COUNT = 5.0  # an expected cell count below this: the normal approximation is off, Fisher decides
LATENCY_QUANTILE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # the same log gives the same evidence: an audit event can be checked again
PREDICTION = "output"
# the metrics a performance condition can compare, and whether higher is better
PERFORMANCE_METRICS: dict[str, bool] = {
    "accuracy": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "mae": False,
    "rmse": False,
}
_BINARY_ONLY = ("f1", "precision", "recall")
_REGRESSION = ("mae", "rmse")


@dataclass(frozen=True)
class RollbackConditions:
    """When a canary is rolled back. A condition whose limit is None is not checked; the performance
    condition is checked when ``performance_max_drop`` is set (its metric: ``performance_metric``, or by
    default f1 for a binary classifier, accuracy for another, rmse for a regressor)."""

    error_rate_max_increase: float | None = 0.02  # canary minus champion, as a share of requests
    latency_p95_max_ratio: float | None = 1.5  # canary p95 / champion p95
    performance_metric: str | None = None
    performance_max_drop: float | None = None  # in the metric's units, in its worse direction
    min_label_coverage: float = 0.3  # of each side's rows, before performance may decide
    alpha: float = 0.05
    min_requests: int = 100  # per side, before a condition may pass

    def __post_init__(self) -> None:
        problems = []
        for name in ("error_rate_max_increase", "performance_max_drop"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                problems.append(f"{name} must be a number >= 0, not {value!r}")
        ratio = self.latency_p95_max_ratio
        if ratio is not None and not (math.isfinite(ratio) and ratio > 0):
            problems.append(
                f"latency_p95_max_ratio must be a number > 0 (1.5: half as slow again), not {ratio!r}"
            )
        if not 0 <= self.min_label_coverage <= 1:
            problems.append(f"min_label_coverage is a share in [0, 1], not {self.min_label_coverage!r}")
        if not 0 < self.alpha < 1:
            problems.append(f"alpha is a significance level in (0, 1) such as 0.05, not {self.alpha!r}")
        if (
            isinstance(self.min_requests, bool)
            or not isinstance(self.min_requests, int)
            or self.min_requests < 1
        ):
            problems.append(f"min_requests must be a whole number >= 1, not {self.min_requests!r}")
        metric = self.performance_metric
        if metric is not None and metric not in PERFORMANCE_METRICS:
            problems.append(
                f"performance_metric {metric!r} cannot be compared on a canary; use one of "
                f"{', '.join(PERFORMANCE_METRICS)}"
            )
        if problems:
            raise InvalidArgumentError("Rollback conditions: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RouteFigures:
    """What one side of the comparison did in the window."""

    route: str
    version: int
    requests: int
    errors: int
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    rows: int
    labelled_rows: int
    label_coverage: float | None
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _json(asdict(self))
        return out


@dataclass(frozen=True)
class ConditionVerdict:
    """One condition's outcome: ``canary`` and ``champion`` are the compared figures, ``limit`` the value
    the canary must not exceed (or, for a higher-is-better metric, fall below), ``p_value`` the test's."""

    condition: str
    verdict: Verdict
    reason: str
    canary: float | None = None
    champion: float | None = None
    limit: float | None = None
    test: str | None = None
    p_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _json(asdict(self))
        return out


@dataclass(frozen=True)
class CanaryEvidence:
    """The comparison of a canary with the champion over one window, one verdict per condition."""

    model: str
    since_ms: int
    until_ms: int
    task: str | None  # "classification" or "regression"; None when no performance was compared
    metric: str | None
    canary: RouteFigures
    champion: RouteFigures
    conditions: RollbackConditions
    verdicts: tuple[ConditionVerdict, ...]

    @property
    def failed(self) -> bool:
        """Whether any condition failed: roll the canary back."""
        return any(v.verdict == FAIL for v in self.verdicts)

    @property
    def undecided(self) -> bool:
        """Whether no condition failed but some cannot decide yet: keep the canary and look again."""
        return not self.failed and any(v.verdict == UNDECIDED for v in self.verdicts)

    @property
    def passed(self) -> bool:
        """Whether every condition passed."""
        return all(v.verdict == PASS for v in self.verdicts)

    @property
    def verdict(self) -> Verdict:
        return FAIL if self.failed else UNDECIDED if self.undecided else PASS

    @property
    def reason(self) -> str:
        """One line: the failed conditions' reasons, else the undecided ones', else that all passed."""
        for kind in (FAIL, UNDECIDED):
            found = [f"{v.condition}: {v.reason}" for v in self.verdicts if v.verdict == kind]
            if found:
                return "; ".join(found)
        if not self.verdicts:
            return "no rollback condition is set"
        return "every condition passed (" + ", ".join(v.condition for v in self.verdicts) + ")"

    def to_dict(self) -> dict[str, Any]:
        """JSON for the audit event."""
        return {
            "model": self.model,
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "task": self.task,
            "metric": self.metric,
            "verdict": self.verdict,
            "reason": self.reason,
            "canary": self.canary.to_dict(),
            "champion": self.champion.to_dict(),
            "conditions": self.conditions.to_dict(),
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def compare_routes(
    model: str,
    *,
    since_ms: int,
    until_ms: int,
    canary_version: int,
    champion_version: int,
    conditions: RollbackConditions,
    client: TrackingClient | None = None,
    target_metric: str | None = None,
    route: str = "canary",
    task: str | None = None,
) -> CanaryEvidence:
    """Compare the rows ``model`` logged in ``[since_ms, until_ms)`` under ``route`` by ``canary_version``
    with those under ``"champion"`` by ``champion_version``, and decide each rollback condition.

    ``target_metric`` overrides ``conditions.performance_metric``. ``route`` is ``"canary"`` or
    ``"shadow"``. ``task`` ("classification" or "regression") defaults to the champion version's stored
    evaluation, else what the labels look like."""
    from loopml.tracking import get_client

    if since_ms >= until_ms:
        raise InvalidArgumentError(
            f"the window [{since_ms}, {until_ms}) is empty: since_ms must be before until_ms."
        )
    if route == "champion":
        raise InvalidArgumentError("route is the challenger's ('canary' or 'shadow'), not 'champion'.")
    if target_metric is not None and target_metric not in PERFORMANCE_METRICS:
        raise InvalidArgumentError(
            f"target_metric {target_metric!r} cannot be compared on a canary; use one of "
            f"{', '.join(PERFORMANCE_METRICS)}."
        )
    client = client or get_client()
    store, artifacts = client.store, client.artifacts
    performance = conditions.performance_max_drop is not None
    sides = ((route, int(canary_version)), ("champion", int(champion_version)))
    tables = _read(store, artifacts, model, since_ms, until_ms, sides, labelled=performance)
    canary_table, champion_table = (tables[s] for s in sides)

    frames = [_answered(t) for t in (canary_table, champion_table)] if performance else []
    labels: dict[str, Any] = {}
    if performance:
        ids = {str(r) for f in frames for r in f["request_id"].dropna()}
        if ids:
            labels = {lb.request_id: lb.label for lb in store.predictions.labels(model, sorted(ids))}
        frames = [attach_labels(f, labels) for f in frames]
        resolved = _task(store, model, int(champion_version), int(canary_version), task, frames)
    else:  # no labels are read, so nothing needs the task
        resolved = Task(task or "", PREDICTION)
    canary = _figures(route, int(canary_version), canary_table, frames[0] if frames else None, resolved)
    champion = _figures(
        "champion", int(champion_version), champion_table, frames[1] if frames else None, resolved
    )

    verdicts: list[ConditionVerdict] = []
    if conditions.error_rate_max_increase is not None:
        verdicts.append(_error_rate(canary, champion, conditions))
    if conditions.latency_p95_max_ratio is not None:
        verdicts.append(_latency(canary_table, canary, champion, conditions))
    metric = None
    if performance:
        metric = _metric(target_metric or conditions.performance_metric, resolved)
        verdicts.append(_performance(metric, resolved, frames, canary, champion, conditions))
    return CanaryEvidence(
        model,
        int(since_ms),
        int(until_ms),
        resolved.kind or None,
        metric,
        canary,
        champion,
        conditions,
        tuple(verdicts),
    )


# -- reading ---------------------------------------------------------------------------------------------


def _read(
    store: Store,
    artifacts: ArtifactStore,
    model: str,
    since_ms: int,
    until_ms: int,
    sides: Sequence[tuple[str, int]],
    *,
    labelled: bool,
) -> dict[tuple[str, int], pa.Table]:
    """Each side's rows of the window, segment by segment, each segment read once with only the columns
    needed (request ids and predictions only when labels are looked up)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [*META_COLUMNS, "route", *(("request_id", PREDICTION) if labelled else ())]
    parts: dict[tuple[str, int], list[pa.Table]] = {s: [] for s in sides}
    for segment in store.predictions.segments(model, since_ms, until_ms):
        wanted = [s for s in sides if s[0] in segment.routes and s[1] in segment.versions]
        if not wanted:
            continue
        table = _complete(read_segment(artifacts.get_bytes(segment.digest), columns), labelled)
        ts = table["timestamp_ms"]
        table = table.filter(pc.and_(pc.greater_equal(ts, since_ms), pc.less(ts, until_ms)))
        for side in wanted:
            mask = pc.and_(pc.equal(table["route"], side[0]), pc.equal(table["model_version"], side[1]))
            parts[side].append(table.filter(mask))
    empty = _complete(pa.table({"timestamp_ms": pa.array([], pa.int64())}), labelled)
    return {side: _concat([empty, *found]) for side, found in parts.items()}


def _concat(tables: Sequence[pa.Table]) -> pa.Table:
    """One table of ``tables``; a prediction column whose type changed between segments (numbers in
    one, text in the next) becomes text in all of them, as the log stores mixed values."""
    import pyarrow as pa

    from loopml.monitoring._segments import text_column

    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowException, TypeError, ValueError):
        as_text = [
            t.set_column(t.column_names.index(PREDICTION), PREDICTION, text_column(t[PREDICTION].to_pylist()))
            for t in tables
        ]
        return pa.concat_tables(as_text, promote_options="permissive")


def _complete(table: pa.Table, labelled: bool) -> pa.Table:
    """``table`` with every column the comparison reads, in one order and type: a segment written before
    error rows existed has no ``status`` (all answered), one of a model with several outputs no ``output``."""
    import pyarrow as pa

    types = {
        "row": pa.int64(),
        "timestamp_ms": pa.int64(),
        "model_version": pa.int64(),
        "latency_ms": pa.float64(),
        "status": pa.int64(),
        "route": pa.string(),
    }
    if labelled:
        types["request_id"] = pa.string()
    out = {}
    for name, kind in types.items():
        if name in table.column_names:
            out[name] = table[name].cast(kind)
        else:
            fill = OK_STATUS if name == "status" else 0 if name == "row" else None
            out[name] = pa.array([fill] * table.num_rows, kind)
    if labelled:
        out[PREDICTION] = table[PREDICTION] if PREDICTION in table.column_names else pa.nulls(table.num_rows)
    return pa.table(out)


def _answered(table: pa.Table) -> pd.DataFrame:
    """The predictions (no error rows) with their request id and the prediction."""
    import pyarrow.compute as pc

    ok = table.filter(pc.equal(table["status"], OK_STATUS))
    frame: pd.DataFrame = ok.select(["request_id", PREDICTION]).to_pandas()
    return frame


# -- figures ---------------------------------------------------------------------------------------------


def _latencies(table: pa.Table) -> np.ndarray[Any, Any]:
    """The latency of each answered request (its first row carries it)."""
    import numpy as np
    import pyarrow.compute as pc

    first = pc.and_(pc.equal(table["status"], OK_STATUS), pc.equal(table["row"], 0))
    values = table.filter(first)["latency_ms"].to_numpy(zero_copy_only=False).astype(float)
    finite: np.ndarray[Any, Any] = values[np.isfinite(values)]
    return finite


def _figures(
    route: str, version: int, table: pa.Table, frame: pd.DataFrame | None, task: Task
) -> RouteFigures:
    import numpy as np
    import pyarrow.compute as pc

    ok = pc.equal(table["status"], OK_STATUS)
    rows = int(pc.sum(ok).as_py() or 0)
    errors = table.num_rows - rows
    answered = int(pc.sum(pc.and_(ok, pc.equal(table["row"], 0))).as_py() or 0)
    requests = answered + errors
    latency = _latencies(table)
    p50, p95 = (float(np.percentile(latency, q)) if len(latency) else None for q in (50, 95))
    labelled, coverage, metrics = 0, None, {}
    if frame is not None:
        found = realised(frame, task)
        labelled = int(found.pop("labelled_rows") or 0)
        coverage = found.pop("label_coverage")
        metrics = {k: float(v) for k, v in found.items() if v is not None}
    return RouteFigures(
        route,
        version,
        requests,
        errors,
        errors / requests if requests else None,
        p50,
        p95,
        rows,
        labelled,
        coverage,
        metrics,
    )


def _task(
    store: Store,
    model: str,
    champion: int,
    canary: int,
    given: str | None,
    frames: Sequence[pd.DataFrame],
) -> Task:
    """The task (and, for a classifier, the classes both sides are scored with, so a side that saw one
    class only still gets a binary f1)."""
    import numpy as np
    import pandas as pd

    from loopml.monitoring._performance import _as_arrays, _class_values
    from loopml.registry import _evaluate

    kind, positive = given, None
    for version in (champion, canary):
        evaluation = _newest_evaluation(store, model, version)
        if evaluation:
            kind = kind or evaluation.get("task")
            positive = evaluation.get("positive_label")
            break
    labelled = [f[f[LABEL].notna()] for f in frames]
    labels = pd.Series([v for f in labelled for v in f[LABEL].tolist()], dtype=object)
    if kind is None:
        kind = (
            _evaluate._resolve_task(None, pd.Series(labels.tolist()), False)
            if len(labels)
            else "classification"
        )
    if kind not in ("classification", "regression"):
        raise InvalidArgumentError(f"task is 'classification' or 'regression', not {kind!r}.")
    if kind == "regression" or not len(labels):
        return Task(str(kind), PREDICTION, (), positive)
    predictions = [v for f in labelled for v in f[PREDICTION].tolist() if v is not None]
    plain = Task(str(kind), PREDICTION)
    (values,) = _as_arrays(_class_values([*labels.tolist(), *predictions], plain))
    classes = tuple(_evaluate._sorted_labels(np.unique(values)))
    return Task(str(kind), PREDICTION, classes, positive)


def _newest_evaluation(store: Store, model: str, version: int) -> Mapping[str, Any] | None:
    try:
        mv = store.models.get_version(model, version)
    except NotFoundError:
        return None
    found = store.models.evaluations(mv.id)
    return max(found, key=lambda e: e.created_ms).evaluation if found else None


def _metric(name: str | None, task: Task) -> str:
    binary = len(task.classes) == 2
    if name is None:
        return "rmse" if task.kind == "regression" else "f1" if binary else "accuracy"
    if task.kind == "regression" and name not in _REGRESSION:
        raise InvalidArgumentError(
            f"performance metric {name!r} is for classifiers, and this model is a regressor: use mae or rmse."
        )
    if task.kind == "classification" and name in _REGRESSION:
        raise InvalidArgumentError(
            f"performance metric {name!r} is for regressors, and this model is a classifier: use accuracy, "
            "or f1, precision, recall for a binary one."
        )
    if name in _BINARY_ONLY and task.classes and not binary:
        raise InvalidArgumentError(
            f"performance metric {name!r} needs a binary classifier, and the labels and predictions hold "
            f"{len(task.classes)} classes: use accuracy."
        )
    return name


# -- the conditions --------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _significance(test: str, p: float, alpha: float) -> str:
    name = {
        "fisher_exact": "Fisher's exact test",
        "z_test": "z-test",
        "binomial": "binomial test",
        "bootstrap": "bootstrap",
    }[test]
    return f"{name}, p = {p:.3g} {'<' if p < alpha else '>='} {alpha:g}"


def _worse_share(bad_c: int, n_c: int, bad_h: int, n_h: int, margin: float) -> tuple[str, float]:
    """One-sided: is the canary's share of bad outcomes above the champion's + ``margin``? Fisher's exact
    test (of any increase: scipy has no exact test of a margin; the caller also requires the observed
    increase above the margin) when a cell expects fewer than ``SMALL_COUNT``; else a z-test of the margin."""
    from scipy import stats

    table = [[bad_c, n_c - bad_c], [bad_h, n_h - bad_h]]
    total = n_c + n_h
    bad, good = bad_c + bad_h, total - bad_c - bad_h
    expected = min(n * k / total for n in (n_c, n_h) for k in (bad, good))
    if expected < SMALL_COUNT:
        return "fisher_exact", float(stats.fisher_exact(table, alternative="greater").pvalue)
    p_c, p_h = bad_c / n_c, bad_h / n_h
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_h * (1 - p_h) / n_h)
    if se == 0:
        return "z_test", 0.0 if p_c - p_h > margin else 1.0
    return "z_test", float(stats.norm.sf((p_c - p_h - margin) / se))


def _error_rate(canary: RouteFigures, champion: RouteFigures, cond: RollbackConditions) -> ConditionVerdict:
    margin = float(cond.error_rate_max_increase or 0.0)
    name = "error_rate"
    if not canary.requests or not champion.requests:
        who = "canary" if not canary.requests else "champion"
        return ConditionVerdict(name, UNDECIDED, f"no {who} request in the window yet")
    rate_c, rate_h = float(canary.error_rate or 0.0), float(champion.error_rate or 0.0)
    limit = rate_h + margin
    test, p = _worse_share(canary.errors, canary.requests, champion.errors, champion.requests, margin)
    said = (
        f"the canary failed {_pct(rate_c)} of {canary.requests:,} requests, the champion {_pct(rate_h)} of "
        f"{champion.requests:,}"
    )
    found = ConditionVerdict(name, UNDECIDED, said, rate_c, rate_h, limit, test, p)
    return _decide(
        found,
        rate_c > limit,
        f"above the allowed {_pct(limit)}",
        f"within the allowed {_pct(limit)}",
        _too_few(canary, champion, cond.min_requests),
        cond.alpha,
    )


def _decide(
    found: ConditionVerdict, breached: bool, above: str, within: str, few: str, alpha: float
) -> ConditionVerdict:
    """Fail on a significant breach; else undecided with too few requests or a breach not significant
    yet; else pass. ``found`` holds the figures and, as its reason, what was measured."""
    said, p = found.reason, float(found.p_value if found.p_value is not None else 1.0)
    test = "" if found.test is None else f" ({_significance(found.test, p, alpha)})"
    if breached and p < alpha:
        return replace(found, verdict=FAIL, reason=f"{said}: {above}{test}")
    if few:
        return replace(found, reason=f"{said}; {few}")
    if breached:
        return replace(found, reason=f"{said}: {above}, not significantly yet{test}")
    return replace(found, verdict=PASS, reason=f"{said}: {within}")


def _too_few(canary: RouteFigures, champion: RouteFigures, minimum: int) -> str:
    short = [f"{side.route} {side.requests:,}" for side in (canary, champion) if side.requests < minimum]
    return (
        f"too few requests to decide ({', '.join(short)}; {minimum:,} needed on each side)" if short else ""
    )


def _latency(
    canary_table: pa.Table, canary: RouteFigures, champion: RouteFigures, cond: RollbackConditions
) -> ConditionVerdict:
    from scipy import stats

    name = "latency_p95_ms"
    ratio_max = float(cond.latency_p95_max_ratio or 0.0)
    few = _too_few(canary, champion, cond.min_requests)
    p95_c, p95_h = canary.latency_p95_ms, champion.latency_p95_ms
    if few or p95_c is None or p95_h is None:
        return ConditionVerdict(name, UNDECIDED, few or "no answered request on one side", p95_c, p95_h)
    limit = p95_h * ratio_max
    said = f"the canary's p95 latency is {_num(p95_c)} ms, the champion's {_num(p95_h)} ms"
    found = ConditionVerdict(name, UNDECIDED, said, p95_c, p95_h, limit)
    if p95_c > limit:  # how many canary requests exceed the limit, against the 5 % a p95 at the limit allows
        latency = _latencies(canary_table)
        slower = int((latency > limit).sum())
        test = stats.binomtest(slower, len(latency), 1 - LATENCY_QUANTILE, alternative="greater")
        said += f"; {slower:,} of {len(latency):,} canary requests slower than {_num(limit)} ms"
        found = replace(found, reason=said, test="binomial", p_value=float(test.pvalue))
    return _decide(
        found,
        p95_c > limit,
        f"above x{ratio_max:g}",
        f"within x{ratio_max:g} ({_num(limit)} ms)",
        "",
        cond.alpha,
    )


def _performance(
    metric: str,
    task: Task,
    frames: Sequence[pd.DataFrame],
    canary: RouteFigures,
    champion: RouteFigures,
    cond: RollbackConditions,
) -> ConditionVerdict:
    name = f"performance ({metric})"
    low = [
        f"{side.route} {_pct(side.label_coverage)} of {side.rows:,} rows"
        for side in (canary, champion)
        if side.label_coverage is None or side.label_coverage < cond.min_label_coverage
    ]
    if low:
        reason = (
            f"labels cover too little to decide ({', '.join(low)}; {_pct(cond.min_label_coverage)} needed)"
        )
        return ConditionVerdict(name, UNDECIDED, reason)
    value_c, value_h = canary.metrics.get(metric), champion.metrics.get(metric)
    if value_c is None or value_h is None:
        who = canary.route if value_c is None else "champion"
        return ConditionVerdict(
            name, UNDECIDED, f"the {who}'s labelled rows cannot be scored for {metric}", value_c, value_h
        )
    higher = PERFORMANCE_METRICS[metric]
    max_drop = float(cond.performance_max_drop or 0.0)
    drop = value_h - value_c if higher else value_c - value_h
    limit = value_h - max_drop if higher else value_h + max_drop
    said = f"the canary's {metric} is {_num(value_c)}, the champion's {_num(value_h)}"
    test: str | None = None
    p: float | None = None
    if drop <= max_drop:
        pass  # within the limit: no test needed (a bootstrap costs thousands of resamples)
    elif metric == "accuracy":
        misses = [_scored(f, task, "miss") for f in frames]
        test, p = _worse_share(
            int(misses[0].sum()), len(misses[0]), int(misses[1].sum()), len(misses[1]), max_drop
        )
    else:
        test, p = "bootstrap", _bootstrap(metric, [_scored(f, task, metric) for f in frames], max_drop)
    found = ConditionVerdict(name, UNDECIDED, said, value_c, value_h, limit, test, p)
    verb = "below" if higher else "above"
    return _decide(
        found,
        drop > max_drop,
        f"{verb} the allowed {_num(limit)}",
        f"within the allowed {_num(limit)}",
        _too_few(canary, champion, cond.min_requests),
        cond.alpha,
    )


def _scored(frame: pd.DataFrame, task: Task, what: str) -> np.ndarray[Any, Any]:
    """One number per labelled row, for a test: a miss (1) or a hit (0); the row's cell of the binary
    confusion matrix (0 tp, 1 fp, 2 fn, 3 tn); its absolute or squared error. Converted as monitoring's
    ``realised`` converts them, so the test sees the metric it reports."""
    import numpy as np
    import pandas as pd

    from loopml.monitoring._performance import _as_arrays, _class_values, _positive

    labelled = frame[frame[LABEL].notna()]
    if task.kind == "regression":
        y_true = pd.to_numeric(labelled[LABEL], errors="coerce").to_numpy(dtype=float)
        y_pred = pd.to_numeric(labelled[PREDICTION], errors="coerce").to_numpy(dtype=float)
        error = y_pred - y_true
        return np.asarray(np.abs(error) if what == "mae" else error**2)
    y_true, y_pred, known = _as_arrays(
        _class_values(labelled[LABEL].tolist(), task),
        _class_values(labelled[PREDICTION].tolist(), task),
        list(task.classes),
    )
    if what == "miss":
        return np.asarray(y_true != y_pred, dtype=np.int8)
    positive = _positive(task, known.tolist())
    actual, said = y_true == positive, y_pred == positive
    return np.select([actual & said, ~actual & said, actual & ~said], [0, 1, 2], 3).astype(np.int8)


def _metric_of(metric: str) -> Callable[[np.ndarray[Any, Any], int], np.ndarray[Any, Any]]:
    """The metric of per-row values (``_scored``) along an axis, vectorised for the bootstrap."""
    import numpy as np

    def ratio(top: Any, bottom: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), 0.0)

    def of(x: np.ndarray[Any, Any], axis: int) -> np.ndarray[Any, Any]:
        if metric == "mae":
            return np.asarray(np.mean(x, axis=axis))
        if metric == "rmse":
            return np.asarray(np.sqrt(np.mean(x, axis=axis)))
        tp, fp, fn = ((x == code).sum(axis=axis) for code in (0, 1, 2))
        if metric == "precision":
            return np.asarray(ratio(tp, tp + fp))
        if metric == "recall":
            return np.asarray(ratio(tp, tp + fn))
        return np.asarray(ratio(2 * tp, 2 * tp + fp + fn))

    return of


def _bootstrap(metric: str, values: Sequence[np.ndarray[Any, Any]], max_drop: float) -> float:
    """The bootstrap p-value of "the canary is worse by at most ``max_drop``": the share of resampled
    differences (each side resampled on its own) at or under it."""
    import numpy as np
    from scipy import stats

    canary, champion = values
    if len(canary) < 2 or len(champion) < 2:
        return 1.0
    of = _metric_of(metric)
    higher = PERFORMANCE_METRICS[metric]

    def drop(c: np.ndarray[Any, Any], h: np.ndarray[Any, Any], axis: int = -1) -> np.ndarray[Any, Any]:
        return np.asarray(of(h, axis) - of(c, axis) if higher else of(c, axis) - of(h, axis))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a side of identical values: a degenerate but valid distribution
        found = stats.bootstrap(
            (canary, champion),
            drop,
            n_resamples=BOOTSTRAP_RESAMPLES,
            vectorized=True,
            paired=False,
            method="percentile",
            batch=100,
            rng=np.random.default_rng(BOOTSTRAP_SEED),
        )
    dist = np.asarray(found.bootstrap_distribution)
    return float((np.sum(dist <= max_drop) + 1) / (len(dist) + 1))


def _json(value: Any) -> Any:
    """``value`` with every float finite or None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, str):
        return [_json(v) for v in value]
    return value


__all__ = [
    "FAIL",
    "PASS",
    "PERFORMANCE_METRICS",
    "UNDECIDED",
    "CanaryEvidence",
    "ConditionVerdict",
    "RollbackConditions",
    "RouteFigures",
    "compare_routes",
]
