"""Prometheus metrics of one server, in a registry of its own (several servers may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._log_gauge: Gauge | None = None
        self.requests = Counter(
            "loopml_requests",
            "Prediction requests answered, by protocol, route (champion, canary, shadow) and HTTP status.",
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
        self.reload_failures = Counter(
            "loopml_model_reload_failures",
            "Times a moved alias could not be followed (the served version stayed).",
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

    def set_routes(self, served: dict[str, tuple[str, int]]) -> None:
        """The versions now serving each route: ``{"champion": ("churn", 3), "canary": ("churn", 4)}``."""
        self.model.clear()
        for route, (name, version) in served.items():
            self.model.labels(model=name, version=str(version), route=route).set(1)

    def observe(self, protocol: str, status: int, seconds: float, route: str = "champion") -> None:
        self.requests.labels(protocol=protocol, route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
