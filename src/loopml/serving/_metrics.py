"""Prometheus metrics of one server, in a registry of its own (several servers may share a process).

Besides what the server counts itself, the ``loopml_monitor_*`` gauges show the newest window result of
each monitor of the served model (all rows, not per slice), read from the Store (``store.monitors``):
every worker reads the same rows, so every worker reports the same values, whichever a scrape reaches.
Their labels are the monitor's name, a column or a metric name: a handful per monitor, never per
request, slice or version.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
MAX_DRIFT_COLUMNS = 200  # drift-score series per monitor; a model with more columns shows the first ones
RECENT_MS = 7 * 24 * 3600 * 1000  # the first read of a monitor looks this far back before reading it all


@dataclass(frozen=True)
class MonitorReading:
    """The gauges of one monitor: from its newest window of all rows (``slice == ""``)."""

    monitor: str
    window_end_ms: int
    drift_scores: dict[str, float] = field(default_factory=dict)  # column -> its drift test's statistic
    drift_share: float | None = None
    performance: dict[str, float] = field(default_factory=dict)  # "f1", "estimated.f1", ...
    label_coverage: float | None = None

    @classmethod
    def of(cls, monitor: str, window: Any) -> MonitorReading:
        """The reading of a ``WindowResult``: its metrics named as monitoring writes them."""
        from loopml.registry._evaluate import METRICS

        metrics: dict[str, Any] = window.metrics
        scores: dict[str, float] = {}
        performance: dict[str, float] = {}
        for key, value in metrics.items():
            if not _number(value):
                continue
            if key.startswith("drift(") and key.endswith(")") and len(scores) < MAX_DRIFT_COLUMNS:
                scores[key[len("drift(") : -1]] = float(value)
            elif key.removeprefix("estimated.") in METRICS:
                performance[key] = float(value)
        return cls(
            monitor=monitor,
            window_end_ms=int(window.end_ms),
            drift_scores=scores,
            drift_share=_value(metrics.get("drift_share")),
            performance=performance,
            label_coverage=_value(metrics.get("label_coverage")),
        )


class MonitorReader:
    """Reads the newest window of each monitor of ``model`` from a Store's ``monitors`` repository.

    The first read of a monitor looks back a week (all of its windows if it has none that recent); later
    reads ask only for windows from the newest one seen on, so a long history is read once per process.
    """

    def __init__(self, repository: Any, model: str, clock: Callable[[], float] = time.time) -> None:
        self.repository = repository
        self.model = model
        self.clock = clock
        self._since: dict[str, int] = {}  # monitor id -> the start of its newest window seen

    def read(self) -> list[MonitorReading]:
        readings = []
        monitors = self.repository.list(model=self.model)
        for monitor in sorted(monitors, key=lambda m: m.name):
            window = self._newest(monitor.id)
            if window is not None:
                readings.append(MonitorReading.of(monitor.name, window))
        known = {m.id for m in monitors}
        for gone in set(self._since) - known:
            del self._since[gone]
        return readings

    def _newest(self, monitor_id: str) -> Any:
        since = self._since.get(monitor_id)
        first = since is None
        if since is None:
            since = int(self.clock() * 1000) - RECENT_MS
        windows = self.repository.windows(monitor_id, since_ms=since, slice="")
        if not windows:  # nothing that recent (or the windows were deleted): read them all once
            if not first:
                del self._since[monitor_id]
            windows = self.repository.windows(monitor_id, slice="")
        if not windows:
            return None
        # the newest window; of two for one period (an alias moved), the newer version, then the newer result
        newest = max(windows, key=lambda w: (w.end_ms, w.start_ms, w.model_version, w.computed_ms))
        self._since[monitor_id] = int(newest.start_ms)
        return newest


def _value(value: Any) -> float | None:
    return float(value) if _number(value) else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # not NaN


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._log_gauge: Gauge | None = None
        self.requests = Counter(
            "loopml_requests",
            "Requests answered, by protocol (v2, invocations, shadow; labels for the /labels routes), "
            "route (champion, canary, shadow; none when no model answered) and HTTP status.",
            ["protocol", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "loopml_request_duration_seconds",
            "Time to answer a prediction request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predict_duration = Histogram(
            "loopml_predict_duration_seconds",
            "Time of one predict call of the model (one per batch when requests share one).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "loopml_batch_size_rows", "Rows per predict call.", buckets=BATCH_BUCKETS, registry=self.registry
        )
        self.in_flight = Gauge(
            "loopml_requests_in_flight", "Prediction requests being answered now.", registry=self.registry
        )
        self.model = Gauge(
            "loopml_model_version_info",
            "The model versions being served, by route (1 for each in use).",
            ["model", "version", "route"],
            registry=self.registry,
        )
        self.canary_percent = Gauge(
            "loopml_canary_percent",
            "The canary's share of traffic, in percent (0 without a canary).",
            registry=self.registry,
        )
        self.deployment_revision = Gauge(
            "loopml_deployment_revision",
            "The revision of the followed deployment that this worker serves.",
            ["deployment"],
            registry=self.registry,
        )
        self.reload_failures = Counter(
            "loopml_model_reload_failures",
            "Times a moved alias or a changed deployment could not be followed (the routes stayed).",
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "loopml_shadow_dropped",
            "Requests not copied to the shadow because it had too many waiting.",
            registry=self.registry,
        )
        self.log_dropped = Counter(
            "loopml_prediction_log_dropped",
            "Prediction-log records dropped because the sink fell behind.",
            registry=self.registry,
        )

        self.monitor_drift_score = Gauge(
            "loopml_monitor_drift_score",
            "Drift test statistic of each column in the newest window of each monitor of the served model.",
            ["monitor", "column"],
            registry=self.registry,
        )
        self.monitor_drift_share = Gauge(
            "loopml_monitor_drift_share",
            "Share of a monitor's columns that drift in its newest window.",
            ["monitor"],
            registry=self.registry,
        )
        self.monitor_performance = Gauge(
            "loopml_monitor_performance",
            "Model performance in a monitor's newest window, by metric: realised from labels (f1, ...) and "
            "estimated from probabilities before labels arrive (estimated.f1, ...).",
            ["monitor", "metric"],
            registry=self.registry,
        )
        self.monitor_label_coverage = Gauge(
            "loopml_monitor_label_coverage",
            "Share of the rows of a monitor's newest window that have a label.",
            ["monitor"],
            registry=self.registry,
        )
        self.monitor_window_end = Gauge(
            "loopml_monitor_window_end_timestamp_seconds",
            "End of the newest window of each monitor (seconds since the epoch): how fresh the gauges are.",
            ["monitor"],
            registry=self.registry,
        )
        self.monitor_read_failures = Counter(
            "loopml_monitor_read_failures",
            "Times the monitors' window results could not be read from the store (the gauges stayed).",
            registry=self.registry,
        )

    def set_monitors(self, readings: Sequence[MonitorReading]) -> None:
        """Show exactly these readings: series of monitors, columns or metrics no longer there go away."""
        gauges = (
            self.monitor_drift_score,
            self.monitor_drift_share,
            self.monitor_performance,
            self.monitor_label_coverage,
            self.monitor_window_end,
        )
        for gauge in gauges:
            gauge.clear()
        for r in readings:
            self.monitor_window_end.labels(monitor=r.monitor).set(r.window_end_ms / 1000)
            for column, score in r.drift_scores.items():
                self.monitor_drift_score.labels(monitor=r.monitor, column=column).set(score)
            if r.drift_share is not None:
                self.monitor_drift_share.labels(monitor=r.monitor).set(r.drift_share)
            for metric, value in r.performance.items():
                self.monitor_performance.labels(monitor=r.monitor, metric=metric).set(value)
            if r.label_coverage is not None:
                self.monitor_label_coverage.labels(monitor=r.monitor).set(r.label_coverage)

    def watch_log(self, logger: object) -> None:
        """Rows waiting for the prediction log's writer, read when scraped."""
        if self._log_gauge is not None:
            self._log_gauge.set_function(lambda: float(getattr(logger, "buffered_rows", 0)))
            return
        buffered = self._log_gauge = Gauge(
            "loopml_prediction_log_buffered_rows",
            "Prediction-log rows accepted and not yet written.",
            registry=self.registry,
        )
        buffered.set_function(lambda: float(getattr(logger, "buffered_rows", 0)))

    def set_routes(
        self,
        served: dict[str, tuple[str, int]],
        canary_percent: float = 0.0,
        deployment: tuple[str, int] | None = None,
    ) -> None:
        """The versions now serving each route: ``{"champion": ("churn", 3), "canary": ("churn", 4)}``,
        the canary's percent, and the followed deployment's (name, revision)."""
        self.model.clear()
        for route, (name, version) in served.items():
            self.model.labels(model=name, version=str(version), route=route).set(1)
        self.canary_percent.set(canary_percent)
        self.deployment_revision.clear()
        if deployment is not None:
            self.deployment_revision.labels(deployment=deployment[0]).set(deployment[1])

    def observe(self, protocol: str, status: int, seconds: float, route: str = "champion") -> None:
        self.requests.labels(protocol=protocol, route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
