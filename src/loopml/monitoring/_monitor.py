"""Monitors: a registered model's prediction log, cut into windows and compared with a reference.

    lm.monitoring.add_monitor("sensors", "failure-predictor@champion", route="champion", window="1d",
                              rules=["drift_share >= 0.3 for 2 windows", "f1 < 0.8"],
                              notifiers=[{"type": "webhook", "url": "https://hooks.example/x"}])
    lm.monitoring.check_monitor("sensors")       # from cron or the loop's agent, never in the server

``add_monitor`` fixes what to watch: the model (optionally one route: champion, canary, shadow), the
reference (by default the dataset of the version's newest stored evaluation, with the version's predictions
on it computed once; see ``_reference``), the feature, prediction and target columns, the window (``"1h"``,
``"1d"``, ``"5000 rows"``), an optional segment column to slice by, alert rules and notifiers. Everything is
checked when the monitor is added: a rule naming an unknown column, a reference without the features.

``check_monitor`` computes every window that is complete at ``clock()`` and not stored yet, stores one
``WindowResult`` per window, model version and slice (see ``_window_metrics`` for the metrics), and hands
the monitor's windows to the alert manager. It is idempotent: run twice, it stores the same results. Windows
that ended within the recompute horizon (``recompute="7d"``) are computed again when labels or log rows
arrived after they were computed, so late labels fill their performance in; older windows stay as stored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.monitoring._performance import Task
from loopml.monitoring._windows import (
    Window,
    WindowData,
    count_windows,
    log_timestamps,
    parse_duration,
    parse_window,
    profile_rows,
    time_windows,
)

if TYPE_CHECKING:
    from loopml.artifacts import ArtifactStore
    from loopml.store import Alert, Monitor, PredictionSegment, Store, WindowResult
    from loopml.tracking import TrackingClient

Clock = Callable[[], float]
DEFAULT_RECOMPUTE = "7d"
DEFAULT_SETTLE = "1m"
DEFAULT_COOLDOWN = "1h"
DEFAULT_CHUNKS = 10  # reference chunks thresholds are learned from


@dataclass(frozen=True)
class MonitorCheck:
    """What one ``check_monitor`` did: the windows it computed (new, or again after late data), how many
    complete windows it left as stored, and the monitor's alerts that are firing afterwards."""

    monitor: Monitor
    computed: list[WindowResult] = field(default_factory=list)
    unchanged: int = 0
    firing: list[Alert] = field(default_factory=list)

    @property
    def windows(self) -> int:
        return len({(r.start_ms, r.end_ms) for r in self.computed})


def _client(client: TrackingClient | None) -> TrackingClient:
    from loopml.tracking import get_client

    return client or get_client()


def _names(value: Iterable[str] | str | None, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise InvalidArgumentError(f"{what} is a list of column names, e.g. {what}=[{value!r}].")
    return [str(v) for v in value]


# -- adding ----------------------------------------------------------------------------------------------


def add_monitor(
    name: str,
    model: str,
    *,
    route: str | None = None,
    reference: Any = None,
    features: Sequence[str] | None = None,
    prediction: str = "output",
    target: str | None = None,
    task: str | None = None,
    text_columns: Sequence[str] = (),
    window: str | int = "1d",
    segment_by: str | None = None,
    rules: Sequence[str] = (),
    notifiers: Sequence[Mapping[str, Any]] = (),
    tests: str | tuple[str, float] | Mapping[str, Any] | None = None,
    thresholds: str | Mapping[str, Any] | None = "learned",
    drift_share: float = 0.5,
    recompute: str | float = DEFAULT_RECOMPUTE,
    settle: str | float = DEFAULT_SETTLE,
    cooldown: str | float = DEFAULT_COOLDOWN,
    client: TrackingClient | None = None,
    clock: Clock = time.time,
) -> Monitor:
    """Add a monitor of ``model`` (``"churn"``, ``"churn:3"`` or ``"churn@champion"``: the version whose
    evaluation gives the default reference) and return it.

    ``route``: only requests the server logged under this route (champion, canary, shadow); default all.
    ``reference``: held-out rows to compare with (a dataset reference, a DatasetVersion or a DataFrame);
    default the dataset of the version's newest stored evaluation. ``features``: the monitored input
    columns (default the model's signature inputs found in the reference). ``prediction``: the logged output
    column (``output``). ``target``: the reference's label column (default the evaluation's target); labels
    logged later stand for it. ``text_columns``: features compared as text. ``window``: ``"1h"``, ``"1d"``,
    ``"5000 rows"``. ``segment_by``: a feature whose values each get their own results too. ``rules``: alert
    rules (``"drift_share >= 0.3 for 2 windows"``). ``notifiers``: notifier configs (``{"type": "webhook",
    "url": ...}``). ``tests``: one drift test for every column (a name or ``(name, threshold)``), or
    ``{column: test or (test, threshold)}``.
    ``thresholds``: the band each performance metric should stay in: ``"learned"`` (mean ± 3σ of the metric
    over ten chunks of the reference, as NannyML learns it), None, or ``{metric: (lower, upper)}`` (fixed; a
    side may be None); windows say in their details which bands they breach, the report draws them.
    ``drift_share``: the share of drifting features at which a window counts as drifted. ``recompute``:
    how long after its end a window is computed again when late labels arrive. ``settle``: how long after
    its end a window waits before it is computed (rows still buffered by a server). ``cooldown``: how soon a
    resolved alert may open again.
    """
    from loopml.data import check_name
    from loopml.monitoring._reference import find_source, predict_reference, to_parquet
    from loopml.monitoring._segments import ROUTES
    from loopml.monitoring._window_metrics import window_checks
    from loopml.registry import _evaluate, get_model_version, load_model, parse_model_ref
    from loopml.registry._registry import actor

    check_name(name, "monitor name")
    client = _client(client)
    ref = parse_model_ref(model)
    if route is not None and route not in ROUTES:
        raise InvalidArgumentError(f"route is one of {', '.join(ROUTES)}, not {route!r}.")
    spec = parse_window(window)
    options = {
        "recompute_ms": parse_duration(recompute, "recompute"),
        "settle_ms": parse_duration(settle, "settle"),
        "cooldown_s": parse_duration(cooldown, "cooldown") / 1000,
    }
    if not 0 < drift_share <= 1:
        raise InvalidArgumentError(
            f"drift_share is a share of the features above 0, at most 1, not {drift_share}."
        )
    if task is not None and task not in ("classification", "regression"):
        raise InvalidArgumentError(f"task is 'classification' or 'regression', not {task!r}.")
    parsed_rules = _parse_rules(rules)
    notifier_configs = _check_notifiers(notifiers)
    _refuse_taken(client.store, name)  # before the reference is predicted

    version = get_model_version(model, client)
    source = find_source(client, version, reference, model)
    frame = source.frame
    evaluation = source.evaluation or {}
    target = target if target is not None else evaluation.get("target")
    if target is not None and target not in frame.columns:
        raise InvalidArgumentError(
            f"the target column {target!r} is not in the reference (columns: {_shown(frame.columns)}); pass "
            "target= the column that holds the true labels, or a reference that has it."
        )
    loaded = load_model(version, client)
    chosen = _features(features, loaded.signature, frame, target)
    texts = _names(text_columns, "text_columns") or []
    named = [(c, "text_columns") for c in texts] + ([(segment_by, "segment_by")] if segment_by else [])
    for column, what in named:
        if column not in chosen:
            raise InvalidArgumentError(
                f"{what} names {column!r}, which is not a monitored feature ({', '.join(chosen)})."
            )
    for column in texts:
        if frame[column].dtype.kind in "biufcmM":  # the domain classifier reads text only
            raise InvalidArgumentError(
                f"text_columns names {column!r}, which holds {frame[column].dtype} values, not text: leave "
                "it out, and its drift is tested as numbers or categories."
            )

    kind = task or evaluation.get("task")
    if kind is None and target is not None:
        kind = _evaluate._resolve_task(None, frame[target], loaded.has_proba)
    task_info = None if kind is None else Task(str(kind), prediction, (), evaluation.get("positive_label"))
    # with a signature the model picks its inputs from the frame; without, it gets the features only
    inputs = frame if loaded.signature is not None else frame[chosen]
    predicted, task_info = predict_reference(loaded, inputs, task_info, prediction)
    if prediction in chosen or (target is not None and target == prediction):
        raise InvalidArgumentError(f"the prediction column {prediction!r} is also a feature or the target.")

    known = [
        *chosen,
        prediction,
        *(task_info.proba_columns if task_info else ()),
        *([target] if target else []),
    ]
    for rule in parsed_rules:
        rule.check_columns(known)
    data = frame[[*chosen, *([target] if target else [])]].reset_index(drop=True)
    both = data.copy()
    for column in predicted.columns:
        both[column] = predicted[column].to_numpy()
    profile = profile_rows(both)
    bands = _thresholds(thresholds, both, task_info, target)
    runnable, skipped = window_checks(None if source.dataset is None else source.dataset.checks, chosen)
    artifacts = client.artifacts
    doc = {
        "model_version": version.version,
        "dataset": None if source.dataset is None else source.dataset.ref,
        "dataset_version_id": None if source.dataset is None else source.dataset.id,
        "evaluation_id": source.evaluation_id,
        "rows": len(frame),
        "data_digest": artifacts.put_bytes(to_parquet(data)).digest,
        "predictions_digest": artifacts.put_bytes(to_parquet(predicted)).digest,
        "profile_digest": artifacts.put_bytes(profile.to_bytes()).digest,
        "task": None if task_info is None else task_info.to_json(),
        "metrics": dict(evaluation.get("metrics") or {}),
        "checks": runnable,
        "checks_skipped": skipped,
    }
    config = {
        "window": spec.text,
        "features": chosen,
        "prediction": prediction,
        "target": target,
        "text_columns": texts,
        "segment_by": segment_by,
        "rules": [r.text for r in parsed_rules],
        "notifiers": notifier_configs,
        "tests": _tests(tests, known),
        "thresholds": bands,
        "drift_share": float(drift_share),
        "model_ref": str(ref),
        **options,
    }
    now_ms = int(clock() * 1000)
    return client.store.monitors.create(
        name,
        model=version.name,
        route=route,
        config=config,
        reference=doc,
        created_ms=now_ms,
        created_by=actor(),
    )


def _refuse_taken(store: Store, name: str) -> None:
    try:
        store.monitors.get(name)
    except NotFoundError:
        return
    raise ConflictError(
        f"A monitor named {name!r} exists; pick another name or `loopml monitor rm {name}` first."
    )


def _features(features: Sequence[str] | None, signature: Any, frame: Any, target: str | None) -> list[str]:
    """The monitored features: as given, or the model's inputs the reference has; never personal data
    (the log keeps it hashed or drops it, so it cannot be compared with the reference)."""
    personal = set(signature.personal_columns) if signature is not None else set()
    chosen = _names(features, "features")
    if chosen is None:
        inputs = signature.input_names if signature is not None else None
        chosen = (
            [c for c in inputs if c in frame.columns and c not in personal]
            if inputs
            else [c for c in frame.columns if c != target]
        )
    elif personal & set(chosen):
        raise InvalidArgumentError(
            f"{', '.join(sorted(personal & set(chosen)))}: personal data, which the prediction log keeps "
            "only hashed or not at all, so it cannot be compared with the reference: leave it out."
        )
    missing = [c for c in chosen if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"the reference has no column {', '.join(map(repr, missing))}; its columns are "
            f"{_shown(frame.columns)}. Pass features= columns the reference and the log both have."
        )
    if not chosen:
        raise InvalidArgumentError(
            "the monitor has no feature to watch: pass features=, or a reference with the model's inputs."
        )
    if target is not None and target in chosen:
        raise InvalidArgumentError(f"the target column {target!r} cannot be a feature as well.")
    return chosen


def _shown(columns: Iterable[Any], limit: int = 12) -> str:
    names = [str(c) for c in columns]
    return ", ".join(names[:limit]) + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _parse_rules(rules: Sequence[Any]) -> list[Any]:
    from loopml.monitoring._rules import Rule

    if isinstance(rules, str):
        raise InvalidArgumentError(f"rules is a list of rules, e.g. rules=[{rules!r}].")
    return [Rule.parse(r) for r in rules]


def _check_notifiers(notifiers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if not notifiers:
        return []
    from loopml.monitoring._notifiers import notifier_from_config

    out = []
    for config in notifiers:
        if not isinstance(config, Mapping):
            raise InvalidArgumentError(
                f"a notifier is a config such as {{'type': 'webhook', 'url': ...}}, not {config!r}."
            )
        notifier_from_config(dict(config))  # refuses a bad config now rather than at the first alert
        out.append(dict(config))
    return out


def _tests(tests: str | tuple[str, float] | Mapping[str, Any] | None, known: Sequence[str]) -> dict[str, Any]:
    """``tests`` as a {column: test or [test, threshold]} mapping of known columns, test names checked."""
    from loopml.monitoring._drift import check_threshold
    from loopml.monitoring._rules import DRIFT_TESTS

    def checked(test: Any, column: str) -> Any:
        name = test[0] if isinstance(test, list | tuple) else test
        if name not in DRIFT_TESTS:
            raise InvalidArgumentError(
                f"{name!r} (for {column}) is not a drift test; use one of {', '.join(DRIFT_TESTS)}."
            )
        if not isinstance(test, list | tuple):
            return str(test)
        check_threshold(column, str(name), test[1])  # every window would refuse it: refuse it now
        return [str(name), float(test[1])]

    if tests is None:
        return {}
    if isinstance(tests, str | tuple):
        return {column: checked(tests, column) for column in known}
    out: dict[str, Any] = {}
    for column, test in tests.items():
        if column not in known:
            raise InvalidArgumentError(
                f"tests= names {column!r}, which the monitor does not watch ({', '.join(known)})."
            )
        out[column] = checked(test, column)
    return out


def _thresholds(
    thresholds: str | Mapping[str, Any] | None, reference: Any, task: Task | None, target: str | None
) -> dict[str, dict[str, float | None]]:
    """The bands of the performance metrics: learned from chunks of the reference, or as given."""
    from loopml.monitoring._thresholds import Threshold, fixed, learned

    if thresholds is None:
        return {}
    if isinstance(thresholds, str):
        if thresholds != "learned":
            raise InvalidArgumentError(
                f"thresholds is 'learned', None or {{metric: (lower, upper)}}, not {thresholds!r}."
            )
        if task is None or target is None:
            return {}
        from loopml.monitoring._performance import LABEL, realised

        labelled = reference.rename(columns={target: LABEL})
        if len(labelled) < 2 * DEFAULT_CHUNKS:
            return {}
        per_chunk = [realised(chunk, task) for chunk in _chunks(labelled, DEFAULT_CHUNKS)]
        out: dict[str, dict[str, float | None]] = {}
        for metric in sorted({k for found in per_chunk for k in found} - {"labelled_rows", "label_coverage"}):
            values = [found.get(metric) for found in per_chunk]
            if sum(v is not None for v in values) >= 2:
                out[metric] = learned(values, metric=metric).to_dict()
        return out
    given: dict[str, dict[str, float | None]] = {}
    for metric, band in thresholds.items():
        if isinstance(band, Threshold):
            given[str(metric)] = band.to_dict()
        elif isinstance(band, Mapping):
            given[str(metric)] = Threshold.from_dict(band).to_dict()
        elif isinstance(band, list | tuple) and len(band) == 2:
            given[str(metric)] = fixed(*band).to_dict()
        else:
            raise InvalidArgumentError(
                f"the threshold of {metric!r} is (lower, upper) with either side None, not {band!r}."
            )
    return given


def _chunks(frame: Any, count: int) -> list[Any]:
    from loopml.monitoring._thresholds import split_chunks

    chunks: list[Any] = split_chunks(frame, chunks=count)
    return chunks


# -- reading -----------------------------------------------------------------------------------------------


def get_monitor(name: str, client: TrackingClient | None = None) -> Monitor:
    return _client(client).store.monitors.get(name)


def list_monitors(model: str | None = None, client: TrackingClient | None = None) -> list[Monitor]:
    """Every monitor (of ``model``), by name."""
    return _client(client).store.monitors.list(model)


def delete_monitor(name: str, client: TrackingClient | None = None) -> None:
    """Remove a monitor with its window results and alerts (its reference blobs go at the next gc)."""
    _client(client).store.monitors.delete(name)


def monitor_windows(
    name: str,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    client: TrackingClient | None = None,
) -> list[WindowResult]:
    """The stored window results of a monitor, oldest first."""
    store = _client(client).store
    monitor = store.monitors.get(name)
    return store.monitors.windows(monitor.id, since_ms=since_ms, until_ms=until_ms)


# -- checking ----------------------------------------------------------------------------------------------


def check_monitor(
    name: str,
    *,
    since: int | None = None,
    force: bool = False,
    client: TrackingClient | None = None,
    clock: Clock = time.time,
) -> MonitorCheck:
    """Compute the monitor's complete windows that are not stored yet (and those within the recompute
    horizon that got labels or rows since), store them, and run the alert manager over the windows.

    ``since``: epoch ms; windows before it are left alone. ``force``: compute every complete window again.
    """
    client = _client(client)
    store = client.store
    monitor = store.monitors.get(name)
    config = monitor.config
    now_ms = int(clock() * 1000)
    spec = parse_window(config["window"])
    segments = [
        s
        for s in store.predictions.segments(monitor.model, since, None)
        if monitor.route is None or monitor.route in s.routes
    ]
    stored = store.monitors.windows(monitor.id, since_ms=since)
    by_window: dict[Window, list[WindowResult]] = {}
    for result in stored:
        by_window.setdefault(Window(result.start_ms, result.end_ms), []).append(result)

    candidates = _candidates(store, client, monitor, spec, segments, by_window, now_ms, since)
    horizon_ms = now_ms - int(config.get("recompute_ms", parse_duration(DEFAULT_RECOMPUTE)))
    todo = _to_compute(store, client.artifacts, monitor, candidates, by_window, segments, horizon_ms, force)
    computed: list[WindowResult] = []
    if todo:
        plan = _plan(store, client, monitor, spec)
        last_version = plan.reference.model_version
        earlier = [r for r in stored if r.start_ms < todo[0].start_ms and r.metrics.get("rows")]
        if earlier:
            last_version = max(earlier, key=lambda r: r.start_ms).model_version
        from loopml.monitoring._window_metrics import compute_window

        artifacts = client.artifacts
        try:
            for window in todo:
                data = WindowData.open(store, artifacts, monitor.model, window, monitor.route, segments)
                results = compute_window(plan, data, computed_ms=now_ms, fallback_version=last_version)
                versions = [r.model_version for r in results if r.metrics.get("rows")]
                if versions:
                    last_version = versions[-1]
                store.monitors.put_windows(monitor.id, results)
                computed.extend(results)
        except Exception:
            # the windows stored so far reach the alerts all the same: the next check leaves them as stored
            with contextlib.suppress(Exception):
                _alerts(store, monitor, computed, clock)
            raise
    firing = _alerts(store, monitor, computed, clock)
    done = set(todo)
    unchanged = sum(1 for w in candidates if w not in done)
    return MonitorCheck(monitor, computed, unchanged, firing)


def _candidates(
    store: Store,
    client: TrackingClient,
    monitor: Monitor,
    spec: Any,
    segments: Sequence[PredictionSegment],
    by_window: Mapping[Window, Sequence[WindowResult]],
    now_ms: int,
    since: int | None,
) -> list[Window]:
    """Every complete window from the first logged row (or ``since``) to now."""
    config = monitor.config
    settle_ms = int(config.get("settle_ms", parse_duration(DEFAULT_SETTLE)))
    if not segments and not by_window:
        return []
    if not spec.by_count:
        firsts = [s.min_ts for s in segments] + [w.start_ms for w in by_window]
        first = min(firsts)
        if since is not None:
            first = max(first, since)
        return time_windows(spec, first, now_ms, settle_ms=settle_ms)
    # count windows: the stored ones stay as they were cut; new ones start where the last one ended
    known = sorted(by_window)
    start = known[-1].end_ms if known else min(s.min_ts for s in segments)
    if since is not None and not known:
        start = max(start, since)
    ts = log_timestamps(store, client.artifacts, monitor.model, since_ms=start, route=monitor.route)
    return [*known, *count_windows(spec.rows, ts, start, now_ms, settle_ms=settle_ms)]


def _to_compute(
    store: Store,
    artifacts: ArtifactStore,
    monitor: Monitor,
    candidates: Sequence[Window],
    by_window: Mapping[Window, Sequence[WindowResult]],
    segments: Sequence[PredictionSegment],
    horizon_ms: int,
    force: bool,
) -> list[Window]:
    """The windows to compute: the candidates not stored yet, and the stored ones within the horizon with
    rows logged since they were computed or labels for their requests that came since the last check
    (everything, with ``force``)."""
    recent = [w for w in candidates if w in by_window and w.end_ms > horizon_ms]
    fresh: set[str] = set()
    if recent and not force and monitor.config.get("target") is not None:
        # labels that came before the newest stored result were seen by the check that stored it
        last_check = max(r.computed_ms for results in by_window.values() for r in results)
        fresh = {lb.request_id for lb in store.predictions.labels(monitor.model, since_ms=last_check)}
    todo: list[Window] = []
    for window in candidates:
        prior = by_window.get(window)
        if prior is not None and not force:
            if window.end_ms <= horizon_ms:
                continue
            computed = min(r.computed_ms for r in prior)
            late_rows = any(
                s.created_ms >= computed and s.max_ts >= window.start_ms and s.min_ts < window.end_ms
                for s in segments
            )
            if not late_rows:
                if not fresh:
                    continue
                # read again when computed: holding every recent window's blobs would cost the memory
                data = WindowData.open(store, artifacts, monitor.model, window, monitor.route, segments)
                if not data.any_request(fresh):
                    continue
        todo.append(window)
    return todo


def _plan(store: Store, client: TrackingClient, monitor: Monitor, spec: Any) -> Any:
    """What every window of this check computes, worked out once: the reference, the tests rules ask for,
    the checks, the performance estimator."""
    from loopml.errors import LoopmlError
    from loopml.monitoring._performance import Estimator
    from loopml.monitoring._reference import Reference
    from loopml.monitoring._rules import DRIFT_TESTS
    from loopml.monitoring._window_metrics import Plan

    config = monitor.config
    reference = Reference.load(client.artifacts, config, monitor.reference)
    extra, new_categories = [], set()
    for rule in _parse_rules(config.get("rules") or ()):
        if rule.function in DRIFT_TESTS and rule.column is not None:
            extra.append((rule.metric, rule.function, rule.column))
        if rule.function == "new_categories" and rule.column is not None:
            new_categories.add(rule.column)
    estimator = None
    task = reference.task
    if task is not None and task.kind == "classification" and task.classes and reference.target is not None:
        try:
            estimator = Estimator(task, reference.frame(), reference.target)
        except (LoopmlError, ValueError):
            estimator = None  # no probabilities, or a reference CBPE cannot calibrate on
    return Plan(
        store=store,
        monitor_id=monitor.id,
        model=monitor.model,
        spec=spec,
        reference=reference,
        text_columns=frozenset(config.get("text_columns") or ()),
        segment_by=config.get("segment_by"),
        tests=dict(config.get("tests") or {}),
        drift_share=float(config.get("drift_share", 0.5)),
        extra=extra,
        new_category_columns=frozenset(new_categories),
        checks=list(monitor.reference.get("checks") or ()),
        estimator=estimator,
        thresholds=_bands(config.get("thresholds") or {}),
    )


def _bands(config: Mapping[str, Any]) -> dict[str, Any]:
    if not config:
        return {}
    from loopml.monitoring._thresholds import Threshold

    return {str(metric): Threshold.from_dict(band) for metric, band in config.items()}


def _alerts(store: Store, monitor: Monitor, computed: Sequence[WindowResult], clock: Clock) -> list[Alert]:
    """Hand the windows just computed to the alert manager (it reads the stored ones before them for
    ``for N windows``); the alerts firing afterwards."""
    config = monitor.config
    rules = _parse_rules(config.get("rules") or ())
    if rules and computed:
        from loopml.monitoring._alerts import AlertManager
        from loopml.monitoring._notifiers import notifiers_from_configs

        notifiers = notifiers_from_configs(config.get("notifiers") or ())
        manager = AlertManager(
            store, monitor, rules, notifiers, clock=clock, cooldown_s=float(config.get("cooldown_s", 3600.0))
        )
        manager.evaluate(computed)
    return store.monitors.alerts(monitor.id, state="firing")


# -- the report -------------------------------------------------------------------------------------------


def monitor_report(name: str, *, window: str = "1d", client: TrackingClient | None = None) -> str:
    """A self-contained HTML page of the monitor: the reference against the newest ``window`` of logged
    predictions per feature, drift and performance over every stored window, and the alerts."""
    from loopml.data import Profile
    from loopml.monitoring._report import render_monitor_report
    from loopml.monitoring._window_metrics import monitor_profile

    client = _client(client)
    store = client.store
    monitor = store.monitors.get(name)
    spec = parse_window(window)
    if spec.size_ms is None:
        raise InvalidArgumentError(
            f"the report's window is a time span such as '1d' or '6h', not {window!r}."
        )
    windows = store.monitors.windows(monitor.id)
    alerts = store.monitors.alerts(monitor.id)
    digest = monitor.reference.get("profile_digest")
    reference = None if not digest else Profile.from_bytes(client.artifacts.get_bytes(digest))
    current = None
    ends = [w.end_ms for w in windows if w.metrics.get("rows")]
    if ends:
        span = Window(max(ends) - spec.size_ms, max(ends))
        data = WindowData.open(store, client.artifacts, monitor.model, span, monitor.route)
        for part in data.profiles().values():
            if part.profile is not None:
                current = part.profile if current is None else current.merge(part.profile)
        if current is not None:
            current = monitor_profile(current, monitor.config.get("features") or [])
    html: str = render_monitor_report(monitor, windows, alerts, reference, current)
    return html


__all__ = [
    "MonitorCheck",
    "add_monitor",
    "check_monitor",
    "delete_monitor",
    "get_monitor",
    "list_monitors",
    "monitor_report",
    "monitor_windows",
]
