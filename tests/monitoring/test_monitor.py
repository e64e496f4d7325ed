"""Monitors over simulated days, with an injected clock: predictions logged with explicit timestamps through
the real PredictionLogger into a real SqlStore and LocalArtifactStore, a sensor that drifts from day 3, and
labels that arrive two days late. Nothing sleeps."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _servers import Hook, Mailbox
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import loopml as lm
from loopml.artifacts import LocalArtifactStore
from loopml.data import checks
from loopml.errors import ConflictError, InvalidArgumentError, LoopmlError, RuleError
from loopml.monitoring import (
    PredictionLogger,
    add_monitor,
    check_monitor,
    get_monitor,
    list_monitors,
    log_labels,
    monitor_windows,
)
from loopml.monitoring._windows import DAY_MS, HOUR_MS
from loopml.store import SqlStore, WindowResult
from loopml.tracking import TrackingClient

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FEATURES = ["temperature", "pressure", "vibration", "machine"]
MODEL = "pump"


def world(n: int, rng: np.random.Generator, offset: float = 0.0) -> pd.DataFrame:
    """Pumps: failures follow the true temperature and the vibration; the logged temperature is what the
    sensor reads (``offset`` above the truth once it drifts)."""
    true_temperature = rng.normal(70.0, 5.0, n)
    frame = pd.DataFrame(
        {
            "temperature": true_temperature + offset,
            "pressure": rng.normal(30.0, 3.0, n),
            "vibration": rng.gamma(2.0, 1.0, n),
            "machine": rng.choice(["A", "B", "C"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    logit = (
        0.6 * (true_temperature - 70.0) + 1.5 * (frame["vibration"] - 2.0) + 0.8 * (frame["machine"] == "C")
    )
    frame["failure"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


@dataclass
class Pumps:
    """A registered, evaluated model and a way to log its traffic day by day."""

    client: TrackingClient
    model: Any
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))
    labels: dict[int, dict[str, int]] = field(default_factory=dict)  # day -> request id -> label

    def log_day(
        self,
        day: int,
        *,
        offset: float = 0.0,
        rows_per_hour: int = 40,
        version: int | Any = 1,
        route: str = "champion",
        errors_per_hour: int = 0,
        tweak: Any = None,
    ) -> None:
        """One day of requests of one row each, ``rows_per_hour`` an hour; ``version`` may be a function of
        the hour (an alias that moves)."""
        truth: dict[str, int] = {}
        clock = lambda: (T0 + (day + 1) * DAY_MS) / 1000  # noqa: E731
        store, artifacts = self.client.store, self.client.artifacts
        with PredictionLogger(store, artifacts, model=MODEL, flush_interval=3600.0, clock=clock) as logger:
            for hour in range(24):
                frame = world(rows_per_hour, self.rng, offset)
                x = frame[FEATURES]
                predicted = self.model.predict(x)
                proba = self.model.predict_proba(x)
                if tweak is not None:  # what reaches the log differs from what the model saw
                    x = tweak(x.copy())
                v = version(hour) if callable(version) else version
                for i in range(rows_per_hour):
                    rid = f"{route}-d{day}-h{hour}-{i}"
                    logger.log(
                        request_id=rid,
                        model_version=v,
                        route=route,
                        inputs=x.iloc[[i]],
                        outputs=predicted[i : i + 1],
                        probabilities=proba[i : i + 1],
                        classes=list(self.model.classes_),
                        latency_ms=2.0 + (i % 10),
                        timestamp_ms=T0 + day * DAY_MS + hour * HOUR_MS + i * 60_000,
                    )
                    truth[rid] = int(frame["failure"].iloc[i])
                for j in range(errors_per_hour):
                    logger.log_error(
                        request_id=f"{route}-d{day}-h{hour}-err{j}",
                        model_version=v,
                        route=route,
                        status=500,
                        latency_ms=100.0,
                        timestamp_ms=T0 + day * DAY_MS + hour * HOUR_MS + 30_000 + j,
                    )
                logger.flush()  # one segment an hour, as a server's would be
        self.labels[day] = truth

    def send_labels(self, day: int, at_ms: int) -> None:
        log_labels(self.client.store, MODEL, self.labels[day], at_ms=at_ms)


def train(client: TrackingClient, holdout_rows: int = 1200, evaluate: bool = True) -> Pumps:
    rng = np.random.default_rng(0)
    data = world(3000, rng)
    model = make_pipeline(
        ColumnTransformer([("machine", OneHotEncoder(), ["machine"])], remainder="passthrough"),
        LogisticRegression(max_iter=1000),
    ).fit(data[FEATURES], data["failure"])
    lm.register_model(MODEL, model, input_example=data[FEATURES].head(), client=client)
    holdout = world(holdout_rows, rng)
    version = lm.data.add(
        "pump-holdout",
        holdout,
        checks=[checks.not_null("temperature"), checks.in_range("pressure", 0, 100)],
        client=client,
    )
    if evaluate:
        lm.evaluate(f"{MODEL}:1", version, target="failure", client=client)
    return Pumps(client, model)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TrackingClient]:
    store = SqlStore(f"sqlite:///{tmp_path / 'loopml.db'}")
    yield TrackingClient(store, LocalArtifactStore(tmp_path / "artifacts"))
    store.close()


def at(day: int, minutes: int = 5) -> float:
    """The clock a few minutes into ``day``: the day before is complete."""
    return (T0 + day * DAY_MS + minutes * 60_000) / 1000


def _main(windows: list[WindowResult]) -> list[WindowResult]:
    return sorted((w for w in windows if w.slice == ""), key=lambda w: (w.start_ms, w.model_version))


@pytest.mark.slow
def test_drift_in_the_right_window_and_performance_once_late_labels_land(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=3000)
    add_monitor(
        "pumps",
        MODEL,
        route="champion",
        rules=["drifted(temperature) >= 1 for 2 windows", "accuracy < 0.75"],
        client=client,
        clock=lambda: at(0, 0),
    )
    offsets = [0.0, 0.0, 0.0, 4.0, 6.0, 8.0, 10.0]  # the sensor reads high from day 3, more each day
    for day, offset in enumerate(offsets):
        pumps.log_day(day, offset=offset, rows_per_hour=60)
        if day >= 2:
            pumps.send_labels(day - 2, at_ms=T0 + day * DAY_MS + 23 * HOUR_MS)  # two days late
        outcome = check_monitor("pumps", client=client, clock=lambda day=day: at(day + 1))
        # the new day, and the day the labels that came are for: no other window is computed again
        expected = {day} if day < 2 else {day - 2, day}
        assert {(w.start_ms - T0) // DAY_MS for w in outcome.computed} == expected

    windows = _main(monitor_windows("pumps", client=client))
    assert [w.start_ms for w in windows] == [T0 + d * DAY_MS for d in range(7)]
    assert all(w.model_version == 1 and w.metrics["rows"] == 1440 for w in windows)

    # drift: the temperature from day 3 on, nothing before; the other features never
    assert [w.metrics["drifted(temperature)"] for w in windows] == [0, 0, 0, 1, 1, 1, 1]
    for w in windows:
        assert w.metrics["drifted(pressure)"] == 0 and w.metrics["drifted(vibration)"] == 0
        assert w.metrics["drifted(machine)"] == 0
        assert w.metrics["drift_share"] == pytest.approx(0.25 if w.start_ms >= T0 + 3 * DAY_MS else 0.0)
        assert w.details["drift"]["columns"]["temperature"]["method"] == "profile"  # 3,000 reference rows
    assert windows[3].metrics["drifted(output)"] == 1  # the model predicts more failures

    # labels of days 0..4 came two days late; each window was computed again when they did
    assert [w.metrics.get("label_coverage") for w in windows] == [1.0] * 5 + [0.0] * 2
    assert [w.computed_ms for w in windows] == [int(at(min(d + 2, 6) + 1) * 1000) for d in range(5)] + [
        int(at(6) * 1000),
        int(at(7) * 1000),
    ]
    evaluation = client.store.models.evaluations(client.store.models.get_version(MODEL, 1).id)[0]
    reference_accuracy = evaluation.evaluation["metrics"]["accuracy"]
    accuracy = [w.metrics.get("accuracy") for w in windows]
    for value in accuracy[:3]:
        assert value == pytest.approx(reference_accuracy, abs=0.05)
    assert (
        accuracy[3] < reference_accuracy - 0.08 and accuracy[4] < accuracy[3]
    )  # the sensor misleads the model
    assert accuracy[5] is None and accuracy[6] is None  # no labels yet
    assert windows[4].details["performance"]["compared"]["accuracy"]["delta"] < -0.15
    assert windows[4].details["thresholds"]["accuracy"]["breached"] is True  # below its learned band
    assert windows[0].details["thresholds"]["accuracy"]["breached"] is False
    # target drift once labels came, by the same machinery
    assert [w.metrics.get("drifted(failure)") for w in windows] == [0, 0, 0, 0, 0, None, None]
    # before labels: an estimated performance from the probabilities, in every window
    assert all(w.metrics.get("estimated.accuracy") is not None for w in windows)

    # one alert for the drift incident, not one per window: it opened when day 4 was checked
    monitor = list_monitors(client=client)[0]
    alerts = client.store.monitors.alerts(monitor.id)
    drift_alerts = [a for a in alerts if a.rule.startswith("drifted(temperature)")]
    assert len(drift_alerts) == 1 and drift_alerts[0].firing
    assert drift_alerts[0].opened_ms == int(at(5) * 1000)
    accuracy_alerts = [a for a in alerts if a.rule.startswith("accuracy")]
    assert len(accuracy_alerts) == 1 and accuracy_alerts[0].opened_ms == int(at(6) * 1000)  # day 3's labels


def test_checking_twice_stores_the_same_results(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=600)
    add_monitor("pumps", MODEL, window="1d", client=client)
    for day in range(2):
        pumps.log_day(day, rows_per_hour=10)
    first = check_monitor("pumps", client=client, clock=lambda: at(2))
    assert first.windows == 2
    before = monitor_windows("pumps", client=client)
    again = check_monitor("pumps", client=client, clock=lambda: at(2))
    assert again.computed == [] and again.unchanged == 2
    assert monitor_windows("pumps", client=client) == before
    forced = check_monitor("pumps", force=True, client=client, clock=lambda: at(2))
    assert forced.windows == 2
    assert [w.metrics for w in monitor_windows("pumps", client=client)] == [w.metrics for w in before]


def test_a_small_reference_runs_the_exact_tests_on_rows(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=600)
    add_monitor("pumps", MODEL, window="1d", client=client)
    pumps.log_day(0, rows_per_hour=10, offset=8.0)
    check_monitor("pumps", client=client, clock=lambda: at(1))
    (window,) = monitor_windows("pumps", client=client)
    columns = window.details["drift"]["columns"]
    assert columns["temperature"]["method"] == "exact" and columns["temperature"]["test"] == "ks"
    assert columns["machine"]["test"] in ("chisquare", "z")
    assert window.metrics["drifted(temperature)"] == 1 and window.metrics["drifted(pressure)"] == 0
    assert window.metrics["check.not_null(temperature)"] == 1
    assert window.metrics["check.in_range(pressure, 0, 100)"] == 1


def test_statistics_rules_ask_for(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=600)
    rules = ["psi(temperature) > 0.2", "new_categories(machine) > 0", "null_fraction(pressure) > 0.05"]
    add_monitor("pumps", MODEL, window="1d", rules=rules, client=client)

    def tweak(x: pd.DataFrame) -> pd.DataFrame:
        x.loc[x.index[:2], "machine"] = "D"  # a machine type the reference never had
        x.loc[x.index[2:4], "pressure"] = None
        return x

    pumps.log_day(0, rows_per_hour=10, tweak=tweak)
    outcome = check_monitor("pumps", client=client, clock=lambda: at(1))
    (window,) = monitor_windows("pumps", client=client)
    assert window.metrics["psi(temperature)"] is not None and window.metrics["psi(temperature)"] < 0.2
    assert window.metrics["new_categories(machine)"] == 1
    assert window.metrics["null_fraction(pressure)"] == pytest.approx(0.2)
    assert window.metrics["check.not_null(temperature)"] == 1
    assert sorted(a.rule for a in outcome.firing) == [
        "new_categories(machine) > 0",
        "null_fraction(pressure) > 0.05",
    ]


def test_an_alias_move_inside_a_window_gives_one_result_per_version(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=600)
    add_monitor("pumps", MODEL, route="champion", window="1d", client=client)
    pumps.log_day(0, rows_per_hour=10, version=lambda hour: 1 if hour < 12 else 2)
    check_monitor("pumps", client=client, clock=lambda: at(1))
    windows = _main(monitor_windows("pumps", client=client))
    assert [(w.model_version, w.metrics["rows"]) for w in windows] == [(1, 120), (2, 120)]
    assert {w.start_ms for w in windows} == {T0}


def test_an_empty_window_is_stored_as_empty(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=600)
    add_monitor("pumps", MODEL, window="1d", rules=["prediction_rate < 1"], client=client)
    pumps.log_day(0, rows_per_hour=10)
    pumps.log_day(2, rows_per_hour=10)  # the server was down on day 1
    outcome = check_monitor("pumps", client=client, clock=lambda: at(3))
    windows = _main(monitor_windows("pumps", client=client))
    assert [w.metrics["rows"] for w in windows] == [240, 0, 240]
    empty = windows[1]
    assert empty.model_version == 1 and empty.metrics["prediction_rate"] == 0
    assert empty.metrics["drift_share"] is None and empty.details.get("empty") is True
    assert [a.rule for a in outcome.firing] == [] or all(
        a.window_start_ms == T0 + DAY_MS for a in outcome.firing
    )


def test_late_rows_of_another_version_replace_an_empty_window(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=600)
    add_monitor("pumps", MODEL, window="1d", rules=["prediction_rate < 1"], client=client)
    pumps.log_day(0, rows_per_hour=5)
    check_monitor("pumps", client=client, clock=lambda: at(2))  # day 1 is empty: nothing logged yet
    assert [(w.model_version, w.metrics["rows"]) for w in _main(monitor_windows("pumps", client=client))] == [
        (1, 120),
        (1, 0),
    ]
    # day 1's rows, of version 2, reach the log only now (a server that was cut off from the store)
    x = world(50, np.random.default_rng(1))[FEATURES]
    store, artifacts = client.store, client.artifacts
    with PredictionLogger(
        store, artifacts, model=MODEL, flush_interval=3600.0, clock=lambda: at(2, 20)
    ) as log:
        for i in range(len(x)):
            row = x.iloc[[i]]
            log.log(
                request_id=f"late-{i}",
                model_version=2,
                route="champion",
                inputs=row,
                outputs=pumps.model.predict(row),
                latency_ms=1.0,
                timestamp_ms=T0 + DAY_MS + i * 60_000,
            )
    outcome = check_monitor("pumps", client=client, clock=lambda: at(2, 30))
    assert [(w.model_version, w.metrics["rows"]) for w in _main(monitor_windows("pumps", client=client))] == [
        (1, 120),
        (2, 50),
    ]
    assert [a.rule for a in outcome.firing] == []


def test_errors_and_latency_come_from_the_log(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=600)
    add_monitor("pumps", MODEL, window="1h", client=client)
    pumps.log_day(0, rows_per_hour=10, errors_per_hour=2)
    check_monitor("pumps", client=client, clock=lambda: at(1))
    window = _main(monitor_windows("pumps", client=client))[0]
    assert window.metrics["rows"] == 10 and window.metrics["errors"] == 2
    assert window.metrics["error_rate"] == pytest.approx(2 / 12)
    assert window.metrics["latency_p99_ms"] == pytest.approx(100.0)
    assert window.metrics["prediction_rate"] == 10
    assert window.details["errors_by_status"] == {"500": 2}


@pytest.mark.parametrize("holdout", [600, 1200], ids=["rows", "profiles"])
def test_error_rows_stay_out_of_drift_and_performance(client: TrackingClient, holdout: int) -> None:
    pumps = train(client, holdout_rows=holdout)
    add_monitor("pumps", MODEL, window="1d", client=client)
    pumps.log_day(0, rows_per_hour=10, errors_per_hour=2)
    errors = {f"champion-d0-h{hour}-err{j}": 1 for hour in range(24) for j in range(2)}
    log_labels(client.store, MODEL, {**pumps.labels[0], **errors}, at_ms=T0 + DAY_MS)
    check_monitor("pumps", client=client, clock=lambda: at(1))
    (window,) = _main(monitor_windows("pumps", client=client))
    assert window.metrics["rows"] == 240 and window.metrics["errors"] == 48
    assert window.metrics["null_fraction(temperature)"] == 0
    assert window.details["drift"]["columns"]["temperature"]["details"]["current_rows"] == 240
    assert window.metrics["labelled_rows"] == 240 and window.metrics["label_coverage"] == 1.0


def test_slices_by_a_segment_column(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=600)
    add_monitor("pumps", MODEL, window="1d", segment_by="machine", client=client)
    pumps.log_day(0, rows_per_hour=20)
    check_monitor("pumps", client=client, clock=lambda: at(1))
    windows = monitor_windows("pumps", client=client)
    slices = {w.slice: w.metrics["rows"] for w in windows}
    assert set(slices) == {"", "machine=A", "machine=B", "machine=C"}
    assert slices["machine=A"] + slices["machine=B"] + slices["machine=C"] == slices[""]


def test_count_windows(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=600)
    add_monitor("pumps", MODEL, window="100 rows", client=client)
    pumps.log_day(0, rows_per_hour=10)  # 240 rows: two complete windows of 100
    check_monitor("pumps", client=client, clock=lambda: at(1))
    windows = _main(monitor_windows("pumps", client=client))
    assert [w.metrics["rows"] for w in windows] == [100, 100]
    assert windows[1].start_ms == windows[0].end_ms
    pumps.log_day(1, rows_per_hour=10)
    check_monitor("pumps", client=client, clock=lambda: at(2))
    windows = _main(monitor_windows("pumps", client=client))
    assert [w.metrics["rows"] for w in windows] == [100] * 4 and windows[2].start_ms == windows[1].end_ms


def test_a_regressor_gets_regression_metrics(client: TrackingClient) -> None:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(5)

    def rows(n: int) -> pd.DataFrame:
        x = rng.normal(0, 1, n)
        return pd.DataFrame({"x": x, "y": 3 * x + rng.normal(0, 0.1, n) + 10})

    train_rows = rows(500)
    model = LinearRegression().fit(train_rows[["x"]], train_rows["y"])
    lm.register_model("reg", model, input_example=train_rows[["x"]].head(), client=client)
    holdout = lm.data.add("reg-holdout", rows(300), client=client)
    lm.evaluate("reg:1", holdout, target="y", client=client)
    monitor = add_monitor("reg", "reg", window="1h", client=client)
    assert monitor.reference["task"]["task"] == "regression" and "mae" in monitor.config["thresholds"]
    live = rows(50)
    with PredictionLogger(client.store, client.artifacts, model="reg", flush_interval=3600.0) as logger:
        for i in range(len(live)):
            x = live[["x"]].iloc[[i]]
            logger.log(
                request_id=f"r{i}",
                model_version=1,
                route="champion",
                inputs=x,
                outputs=model.predict(x),
                latency_ms=1.0,
                timestamp_ms=T0 + i * 1000,
            )
    log_labels(client.store, "reg", {f"r{i}": float(y) for i, y in enumerate(live["y"])}, at_ms=T0 + HOUR_MS)
    check_monitor("reg", client=client, clock=lambda: at(0, 65))
    (window,) = monitor_windows("reg", client=client)  # the first hour, complete at 01:05
    assert window.metrics["mae"] == pytest.approx(0.08, abs=0.03) and window.metrics["label_coverage"] == 1.0
    assert "estimated.mae" not in window.metrics  # CBPE estimates classifiers only


class _Blob(bytearray):
    """A segment's bytes that can be weakly referenced: alive while anything still holds them."""


class CountingArtifacts(LocalArtifactStore):
    """A real local artifact store that also counts how many segment blobs are alive at once: each segment
    blob handed out is tracked by a weak reference until nothing holds it any more."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.segment_digests: set[str] = set()
        self.alive: list[weakref.ref[_Blob]] = []
        self.most_alive = 0
        self.segments_read = 0

    def get_bytes(self, digest: str) -> bytes:
        data = super().get_bytes(digest)
        if digest not in self.segment_digests:
            return data
        blob = _Blob(data)
        del data
        self.alive = [r for r in self.alive if r() is not None]
        self.alive.append(weakref.ref(blob))
        self.most_alive = max(self.most_alive, len(self.alive))
        self.segments_read += 1
        return blob  # type: ignore[return-value]  # bytes-like, as pyarrow reads it

    def track(self, store: SqlStore, model: str) -> None:
        self.segment_digests = {s.digest for s in store.predictions.segments(model)}
        self.alive, self.most_alive, self.segments_read = [], 0, 0


def _close(found: float | None, exact: float | None, within: float) -> bool:
    return found is not None and exact is not None and abs(found - exact) <= within


def test_a_labelled_cbpe_window_is_read_one_segment_and_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target and CBPE monitor: the check holds one segment's blob at a time (whatever the window's size)
    and, past EXACT_ROWS, gives the counts and count-based metrics exactly and the others within their
    bounds of the exact computation."""
    from loopml.monitoring import _streaming

    artifacts = CountingArtifacts(tmp_path / "artifacts")
    store = SqlStore(f"sqlite:///{tmp_path / 'loopml.db'}")
    client = TrackingClient(store, artifacts)
    pumps = train(client, holdout_rows=600)
    # a reference of held-out rows without the dataset's checks (which read a window's rows all at once)
    held_out = world(1500, np.random.default_rng(1))
    add_monitor(
        "pumps",
        MODEL,
        window="1d",
        reference=held_out,
        target="failure",
        client=client,
        clock=lambda: at(0, 0),
    )
    pumps.log_day(0, rows_per_hour=60, errors_per_hour=2)
    pumps.send_labels(0, at_ms=T0 + DAY_MS + HOUR_MS)
    artifacts.track(store, MODEL)
    (exact,) = _main(check_monitor("pumps", client=client, clock=lambda: at(1, 90)).computed)
    assert artifacts.segments_read == 24 and artifacts.most_alive == 1
    assert "approximate" not in exact.details and exact.metrics["label_coverage"] == 1.0

    # the same window with accumulators that go by sums past 100 rows, in batches of 16 rows
    monkeypatch.setattr(_streaming, "EXACT_ROWS", 100)
    monkeypatch.setattr(_streaming, "BATCH_ROWS", 16)
    artifacts.track(store, MODEL)
    (summed,) = _main(check_monitor("pumps", force=True, client=client, clock=lambda: at(1, 90)).computed)
    assert artifacts.segments_read == 24 and artifacts.most_alive == 1
    approximate = summed.details["approximate"]
    for metric in (
        "rows",
        "errors",
        "error_rate",
        "labelled_rows",
        "label_coverage",
        "accuracy",
        "precision",
    ):
        assert summed.metrics[metric] == exact.metrics[metric], metric
    for metric in ("recall", "f1", "new_classes(failure)", "prediction_rate", "drift_share"):
        assert summed.metrics[metric] == exact.metrics[metric], metric
    assert summed.details["errors_by_status"] == exact.details["errors_by_status"] == {"500": 48}
    for metric in ("roc_auc", "estimated.roc_auc"):
        bound = approximate[metric]["absolute"]
        assert 0 < bound < 0.01 and _close(summed.metrics[metric], exact.metrics[metric], bound), metric
    for metric in ("latency_p50_ms", "latency_p99_ms"):
        assert summed.metrics[metric] == pytest.approx(
            exact.metrics[metric], rel=approximate[metric]["relative"]
        )
    for metric in ("log_loss", "calibration_error", "estimated.accuracy", "estimated.f1", "estimated.recall"):
        assert summed.metrics[metric] == pytest.approx(exact.metrics[metric], rel=1e-9), metric
    assert summed.metrics["drifted(failure)"] == exact.metrics["drifted(failure)"]
    store.close()


def test_a_target_monitor_reads_no_row_until_labels_come(tmp_path: Path) -> None:
    """A regressor's monitor (a target, no CBPE): before any label exists the store says so, and the window
    comes from its segment profiles alone; once labels land, its rows are read for the metrics."""
    from sklearn.linear_model import LinearRegression

    artifacts = CountingArtifacts(tmp_path / "artifacts")
    store = SqlStore(f"sqlite:///{tmp_path / 'loopml.db'}")
    client = TrackingClient(store, artifacts)
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, 1500)
    data = pd.DataFrame({"x": x, "y": 3 * x + rng.normal(0, 0.1, len(x)) + 10})
    model = LinearRegression().fit(data[["x"]], data["y"])
    lm.register_model("reg", model, input_example=data[["x"]].head(), client=client)
    lm.evaluate(
        "reg:1", lm.data.add("reg-holdout", data.iloc[:1200], client=client), target="y", client=client
    )
    add_monitor("reg", "reg", window="1h", client=client)
    live = data.iloc[1200:]
    with PredictionLogger(store, artifacts, model="reg", flush_interval=3600.0) as logger:
        for i in range(len(live)):
            logger.log(
                request_id=f"r{i}",
                model_version=1,
                route="champion",
                inputs=live[["x"]].iloc[[i]],
                outputs=model.predict(live[["x"]].iloc[[i]]),
                latency_ms=1.0,
                timestamp_ms=T0 + i * 1000,
            )
    artifacts.track(store, "reg")
    (window,) = check_monitor("reg", client=client, clock=lambda: at(0, 65)).computed
    assert artifacts.segments_read == 0 and window.details["counts"] == "profile"
    assert window.metrics["rows"] == 300 and "label_coverage" not in window.metrics

    log_labels(store, "reg", {f"r{i}": float(y) for i, y in enumerate(live["y"])}, at_ms=T0 + HOUR_MS)
    (window,) = check_monitor("reg", client=client, clock=lambda: at(0, 70)).computed
    assert artifacts.segments_read > 0 and window.metrics["label_coverage"] == 1.0
    assert window.metrics["mae"] == pytest.approx(0.08, abs=0.03)
    store.close()


class TestBadInput:
    def test_a_rule_naming_an_unknown_column(self, client: TrackingClient) -> None:
        train(client, holdout_rows=300)
        with pytest.raises(RuleError, match=r"unknown column 'temprature'.*did you mean temperature"):
            add_monitor("pumps", MODEL, rules=["psi(temprature) > 0.2"], client=client)
        assert list_monitors(client=client) == []

    def test_a_model_without_evaluation_and_no_reference(self, client: TrackingClient) -> None:
        train(client, holdout_rows=300, evaluate=False)
        with pytest.raises(
            InvalidArgumentError, match=r"pump:1 has no reference.*no stored evaluation.*reference="
        ):
            add_monitor("pumps", MODEL, client=client)

    def test_a_reference_given_instead(self, client: TrackingClient) -> None:
        train(client, holdout_rows=300, evaluate=False)
        monitor = add_monitor("pumps", MODEL, reference="pump-holdout:1", target="failure", client=client)
        assert monitor.reference["dataset"] == "pump-holdout:1" and monitor.config["target"] == "failure"
        assert monitor.reference["task"]["classes"] == [0, 1]

    def test_a_name_taken(self, client: TrackingClient) -> None:
        train(client, holdout_rows=300)
        add_monitor("pumps", MODEL, client=client)
        with pytest.raises(ConflictError, match="monitor rm pumps"):
            add_monitor("pumps", MODEL, window="1h", client=client)

    def test_unknown_features_and_windows(self, client: TrackingClient) -> None:
        train(client, holdout_rows=300)
        with pytest.raises(InvalidArgumentError, match="no column 'humidity'"):
            add_monitor("pumps", MODEL, features=["humidity"], client=client)
        with pytest.raises(InvalidArgumentError, match="'1h', '6h', '1d'"):
            add_monitor("pumps", MODEL, window="15m", client=client)
        with pytest.raises(InvalidArgumentError, match="segment_by names 'colour'"):
            add_monitor("pumps", MODEL, segment_by="colour", client=client)

    def test_tests_and_text_columns_every_window_would_refuse(self, client: TrackingClient) -> None:
        train(client, holdout_rows=300)
        with pytest.raises(InvalidArgumentError, match=r"ks threshold of column 'pressure' is a p-value"):
            add_monitor("pumps", MODEL, tests={"pressure": ("ks", 5)}, client=client)
        with pytest.raises(InvalidArgumentError, match=r"psi threshold of column 'temperature' is a number"):
            add_monitor("pumps", MODEL, tests=("psi", -1.0), client=client)
        with pytest.raises(InvalidArgumentError, match=r"'pressure', which holds float64 values, not text"):
            add_monitor("pumps", MODEL, text_columns=["pressure"], client=client)
        assert list_monitors(client=client) == []
        monitor = add_monitor("pumps", MODEL, tests=("psi", 0.3), client=client)
        assert monitor.config["tests"]["temperature"] == ["psi", 0.3]


class TestBadValuesInTheLog:
    """What a window holds that the reference does not fit: the check finishes and says why per column."""

    @pytest.mark.parametrize("holdout", [600, 1200], ids=["rows", "profiles"])
    def test_a_column_whose_type_changed_midway(self, client: TrackingClient, holdout: int) -> None:
        pumps = train(client, holdout_rows=holdout)
        add_monitor("pumps", MODEL, window="1d", client=client)
        hours = iter(range(24))

        def as_text_from_noon(x: pd.DataFrame) -> pd.DataFrame:
            if next(hours) >= 12:
                x["pressure"] = [f"{v:.1f} bar" for v in x["pressure"]]
            return x

        pumps.log_day(0, rows_per_hour=10, tweak=as_text_from_noon)
        check_monitor("pumps", client=client, clock=lambda: at(1))
        (window,) = _main(monitor_windows("pumps", client=client))
        assert window.metrics["rows"] == 240 and "drifted(temperature)" in window.metrics
        assert "changed type" in window.details["problems"]["pressure"]
        assert "No column could be compared" not in window.details["problems"]["pressure"]
        # the reference's in_range(pressure, 0, 100) cannot compare text with numbers: it fails, and says so
        assert window.metrics["check.in_range(pressure, 0, 100)"] == 0
        (failed,) = [r for r in window.details["checks"]["results"] if r["name"].startswith("in_range")]
        assert "cannot run on this window's values of pressure (large_string" in failed["message"]

    @pytest.mark.parametrize("holdout", [600, 1200], ids=["rows", "profiles"])
    def test_an_all_null_column(self, client: TrackingClient, holdout: int) -> None:
        pumps = train(client, holdout_rows=holdout)
        add_monitor("pumps", MODEL, window="1d", client=client)

        def no_temperature(x: pd.DataFrame) -> pd.DataFrame:
            x["temperature"] = np.nan
            return x

        pumps.log_day(0, rows_per_hour=10, tweak=no_temperature)
        check_monitor("pumps", client=client, clock=lambda: at(1))
        (window,) = _main(monitor_windows("pumps", client=client))
        assert window.details["problems"]["temperature"].startswith("null in every row of this window")
        assert window.metrics["null_fraction(temperature)"] == 1.0
        assert "drifted(temperature)" not in window.metrics and window.metrics["drift_share"] is not None

    @pytest.mark.parametrize("holdout", [600, 1200], ids=["rows", "profiles"])
    def test_a_category_unseen_in_the_reference(self, client: TrackingClient, holdout: int) -> None:
        pumps = train(client, holdout_rows=holdout)
        add_monitor("pumps", MODEL, window="1d", rules=["new_categories(machine) > 0"], client=client)

        def machine_d(x: pd.DataFrame) -> pd.DataFrame:
            x.loc[x.index[:3], "machine"] = "D"
            return x

        pumps.log_day(0, rows_per_hour=10, tweak=machine_d)
        outcome = check_monitor("pumps", client=client, clock=lambda: at(1))
        (window,) = _main(monitor_windows("pumps", client=client))
        assert window.metrics["new_categories(machine)"] == 1 and window.metrics["drifted(machine)"] == 1
        assert window.details["drift"]["columns"]["machine"]["details"]["new_values"] == 1
        assert [a.rule for a in outcome.firing] == ["new_categories(machine) > 0"]

    def test_a_constant_reference_column(self, client: TrackingClient) -> None:
        pumps = train(client, holdout_rows=300)
        reference = world(1500, np.random.default_rng(2)).assign(pressure=30.0)
        lm.data.add("constant-pressure", reference, client=client)
        add_monitor("pumps", MODEL, reference="constant-pressure:1", target="failure", client=client)
        pumps.log_day(0, rows_per_hour=10)
        check_monitor("pumps", client=client, clock=lambda: at(1))
        (window,) = _main(monitor_windows("pumps", client=client))
        pressure = window.details["drift"]["columns"]["pressure"]
        assert pressure["test"] == "wasserstein" and pressure["details"]["std_floored"] is True
        assert pressure["drifted"] and math.isfinite(window.metrics["drift(pressure)"])


class TestNotifiersThatFail:
    """A notifier that cannot deliver is a recorded failure: the check finishes, its windows are stored and
    the alert opens, and the alert's history says what went wrong."""

    def check(self, client: TrackingClient, notifier: dict[str, Any]) -> list[Any]:
        pumps = train(client, holdout_rows=300)
        add_monitor("pumps", MODEL, window="1d", rules=["rows > 0"], notifiers=[notifier], client=client)
        pumps.log_day(0, rows_per_hour=5)
        outcome = check_monitor("pumps", client=client, clock=lambda: at(1))
        assert [w.metrics["rows"] for w in _main(outcome.computed)] == [120]
        (alert,) = outcome.firing
        events = client.store.monitors.alert_events(alert.id)
        assert [e.kind for e in events] == ["opened", "notify_failed"]
        return [e.details["error"] for e in events[1:]]

    def test_a_webhook_that_answers_500(self, client: TrackingClient, hook: Callable[..., Hook]) -> None:
        (error,) = self.check(client, {"type": "webhook", "url": hook(500).url, "retries": 0})
        assert "HTTP 500" in error and "s3cr3t" not in error  # the URL's path (its secret) stays out

    def test_a_webhook_that_times_out(self, client: TrackingClient, hook: Callable[..., Hook]) -> None:
        config = {"type": "webhook", "url": hook("hang").url, "retries": 0, "timeout": 0.2}
        (error,) = self.check(client, config)
        assert "no answer within 0.2 s" in error

    def test_an_smtp_server_that_refuses(
        self, client: TrackingClient, smtp: Callable[..., tuple[Mailbox, int]]
    ) -> None:
        _, port = smtp(refuse="rcpt")
        config = {"type": "email", "host": "127.0.0.1", "port": port, "sender": "l@x.org", "to": "ops@x.org"}
        (error,) = self.check(client, config)
        assert "recipients refused (ops@x.org: 550" in error

    def test_a_config_that_no_longer_builds_where_the_check_runs(
        self,
        client: TrackingClient,
        smtp: Callable[..., tuple[Mailbox, int]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        _, port = smtp()
        config = {
            "type": "email",
            "host": "127.0.0.1",
            "port": port,
            "sender": "l@x.org",
            "to": "ops@x.org",
            "username": "loopml",
            "password_env": "PUMPS_SMTP_PASSWORD",
        }
        monkeypatch.setenv("PUMPS_SMTP_PASSWORD", "pw")
        pumps = train(client, holdout_rows=300)
        add_monitor("pumps", MODEL, window="1d", rules=["rows > 0"], notifiers=[config], client=client)
        monkeypatch.delenv("PUMPS_SMTP_PASSWORD")
        pumps.log_day(0, rows_per_hour=5)
        (alert,) = check_monitor("pumps", client=client, clock=lambda: at(1)).firing
        failed = client.store.monitors.alert_events(alert.id)[-1]
        assert failed.kind == "notify_failed"
        assert "$PUMPS_SMTP_PASSWORD, which is not set" in failed.details["error"]


def test_windows_stored_before_a_failing_one_reach_the_alerts(client: TrackingClient) -> None:
    pumps = train(client, holdout_rows=300)
    add_monitor("pumps", MODEL, window="1d", rules=["rows > 0"], client=client)
    pumps.log_day(0, rows_per_hour=5)
    pumps.log_day(1, rows_per_hour=5)
    lost = client.store.predictions.segments(MODEL, T0 + DAY_MS, None)[0]
    blob = Path(client.artifacts.root) / "objects" / lost.digest[:2] / lost.digest[2:]
    blob.write_bytes(b"damaged")  # day 1 cannot be read
    with pytest.raises(LoopmlError):
        check_monitor("pumps", client=client, clock=lambda: at(2))
    (alert,) = client.store.monitors.alerts(get_monitor("pumps", client=client).id)
    assert alert.window_start_ms == T0  # opened on day 0, which the failed check stored


def test_personal_columns_are_not_compared(client: TrackingClient) -> None:
    rng = np.random.default_rng(1)
    data = world(400, rng)
    data["owner"] = [f"person-{i % 7}" for i in range(len(data))]
    model = LogisticRegression().fit(data[["pressure", "vibration"]], data["failure"])
    example = data[["pressure", "vibration", "owner"]].head()
    lm.register_model("p", model, input_example=example, personal=["owner"], client=client)
    lm.data.add("p-holdout", data, client=client)
    reference = "p-holdout:1"
    with pytest.raises(InvalidArgumentError, match="owner: personal data"):
        add_monitor("p", "p", reference=reference, target="failure", features=["owner"], client=client)


@pytest.mark.postgres
def test_a_scenario_on_postgres(postgres_schema_url: str, tmp_path: Path) -> None:
    store = SqlStore(postgres_schema_url)
    try:
        client = TrackingClient(store, LocalArtifactStore(tmp_path / "pg-artifacts"))
        pumps = train(client, holdout_rows=600)
        add_monitor("pumps", MODEL, window="1d", client=client)
        pumps.log_day(0, rows_per_hour=10)
        pumps.log_day(1, rows_per_hour=10, offset=8.0)
        pumps.send_labels(0, at_ms=T0 + 2 * DAY_MS)
        check_monitor("pumps", client=client, clock=lambda: at(2, 10))
        assert check_monitor("pumps", client=client, clock=lambda: at(2, 10)).computed == []
        windows = _main(monitor_windows("pumps", client=client))
        assert [w.metrics["drifted(temperature)"] for w in windows] == [0, 1]
        assert [w.metrics["label_coverage"] for w in windows] == [1.0, 0.0]
    finally:
        store.close()
