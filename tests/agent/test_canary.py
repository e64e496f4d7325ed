"""Canary against champion on a real prediction log: PredictionLogger writes the segments (with an
injected clock), log_labels the labels; compare_routes decides each rollback condition, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error

from loopml.agent._canary import (
    FAIL,
    PASS,
    UNDECIDED,
    CanaryEvidence,
    RollbackConditions,
    compare_routes,
)
from loopml.artifacts import LocalArtifactStore
from loopml.errors import InvalidArgumentError
from loopml.monitoring import PredictionLogger, log_labels
from loopml.store import SqlStore
from loopml.tracking import TrackingClient

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000
WINDOW = {"since_ms": T0, "until_ms": T0 + HOUR}


@pytest.fixture
def client(store: SqlStore, tmp_path: Path) -> Iterator[TrackingClient]:
    yield TrackingClient(store, LocalArtifactStore(tmp_path / "artifacts"))


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[TrackingClient]:
    store = SqlStore(f"sqlite:///{tmp_path / 'canary.db'}")
    yield TrackingClient(store, LocalArtifactStore(tmp_path / "artifacts"))
    store.close()


@dataclass
class Traffic:
    """Requests one route logs: ``requests`` answered ones (``wrong`` of them mispredicted, spread evenly;
    the first ``labelled`` of them labelled later), ``errors`` failed ones, one a second from ``start_ms``."""

    route: str
    version: int
    requests: int
    errors: int = 0
    wrong: int = 0
    labelled: int | None = None
    latency: Callable[[int], float] = lambda i: 10.0 + i % 10
    rows_per_request: int = 1
    start_ms: int = T0
    regression: bool = False


def _spread(k: int, n: int) -> set[int]:
    return {int(i) for i in np.linspace(0, n, k, endpoint=False)} if k else set()


def log_traffic(client: TrackingClient, *traffic: Traffic, model: str = "m") -> dict[str, float | int]:
    """Log ``traffic`` through a real PredictionLogger, then its labels; returns the labels."""
    labels: dict[str, float | int] = {}
    with PredictionLogger(
        client.store, client.artifacts, model=model, flush_interval=60.0, clock=lambda: T0 / 1000
    ) as logger:
        for t in traffic:
            wrong = _spread(t.wrong, t.requests)
            labelled = t.requests if t.labelled is None else t.labelled
            for i in range(t.requests):
                rid = f"{t.route}-{t.version}-{t.start_ms}-{i}"
                if t.regression:
                    label: float | int = (i % 50) / 3  # 50 distinct values: a regression target
                    pred: float | int = label + (3.0 if i in wrong else 0.5)
                else:
                    label = i % 2
                    pred = 1 - label if i in wrong else label
                logger.log(
                    request_id=rid,
                    model_version=t.version,
                    route=t.route,
                    inputs=[{"x": float(i)}] * t.rows_per_request,
                    outputs=[pred] * t.rows_per_request,
                    latency_ms=t.latency(i),
                    timestamp_ms=t.start_ms + i * 1000,
                )
                if i < labelled:
                    labels[rid] = label
            for j in range(t.errors):
                logger.log_error(
                    request_id=f"{t.route}-{t.version}-{t.start_ms}-e{j}",
                    model_version=t.version,
                    route=t.route,
                    status=500,
                    latency_ms=2.0,
                    timestamp_ms=t.start_ms + j * 1000 + 500,
                )
    log_labels(client.store, model, labels, at_ms=T0 + 24 * HOUR)
    return labels


def compare(client: TrackingClient, conditions: RollbackConditions, **kwargs: object) -> CanaryEvidence:
    options: dict[str, object] = {"canary_version": 2, "champion_version": 1, **WINDOW, **kwargs}
    return compare_routes("m", conditions=conditions, client=client, **options)  # type: ignore[arg-type]


def verdict(evidence: CanaryEvidence, condition: str) -> str:
    (found,) = [v for v in evidence.verdicts if v.condition.startswith(condition)]
    return found.verdict


ALL = RollbackConditions(
    error_rate_max_increase=0.02,
    latency_p95_max_ratio=1.5,
    performance_max_drop=0.05,
    min_label_coverage=0.3,
    alpha=0.05,
    min_requests=100,
)


class TestFigures:
    def test_a_sound_canary_passes_with_the_figures_of_each_side(self, client: TrackingClient) -> None:
        labels = log_traffic(
            client,
            Traffic("champion", 1, 1200, errors=12, wrong=120, labelled=600, rows_per_request=2),
            Traffic("canary", 2, 300, errors=3, wrong=30, labelled=150),
        )
        evidence = compare(client, ALL, target_metric="accuracy")

        assert evidence.passed and not evidence.failed and not evidence.undecided
        assert evidence.verdict == PASS and [v.verdict for v in evidence.verdicts] == [PASS] * 3
        champion, canary = evidence.champion, evidence.canary
        assert (champion.requests, champion.errors, champion.rows) == (1212, 12, 2400)
        assert (canary.requests, canary.errors, canary.rows) == (303, 3, 300)
        assert canary.error_rate == pytest.approx(3 / 303)
        assert canary.latency_p95_ms == pytest.approx(np.percentile([10.0 + i % 10 for i in range(300)], 95))
        assert (champion.labelled_rows, champion.label_coverage) == (1200, pytest.approx(0.5))
        assert (canary.labelled_rows, canary.label_coverage) == (150, pytest.approx(0.5))
        # the canary's accuracy is scikit-learn's on its labelled rows
        truth = [labels[f"canary-2-{T0}-{i}"] for i in range(150)]
        preds = [1 - y if i in _spread(30, 300) else y for i, y in enumerate(truth)]
        assert canary.metrics["accuracy"] == pytest.approx(accuracy_score(truth, preds))
        assert canary.metrics["f1"] == pytest.approx(f1_score(truth, preds))
        assert evidence.metric == "accuracy" and evidence.task == "classification"
        assert "within the allowed" in evidence.verdicts[0].reason

    def test_the_evidence_is_json_for_the_audit_event(self, client: TrackingClient) -> None:
        log_traffic(client, Traffic("champion", 1, 200), Traffic("canary", 2, 50, errors=10))
        evidence = compare(client, ALL)
        doc = json.loads(json.dumps(evidence.to_dict(), allow_nan=False))
        assert doc["verdict"] == evidence.verdict and doc["reason"] == evidence.reason
        assert doc["canary"]["errors"] == 10 and doc["conditions"]["alpha"] == 0.05
        assert {v["condition"] for v in doc["verdicts"]} == {
            "error_rate",
            "latency_p95_ms",
            "performance (f1)",
        }

    def test_both_sides_are_read_over_the_same_window_and_versions(
        self, sqlite_client: TrackingClient
    ) -> None:
        log_traffic(
            sqlite_client,
            Traffic("champion", 1, 500),
            Traffic("canary", 2, 200, errors=2),
            # before and after the window: a bad hour for the canary, and for the champion
            Traffic("canary", 2, 100, errors=100, start_ms=T0 - HOUR),
            Traffic("champion", 1, 100, errors=100, start_ms=T0 + HOUR),
            # inside the window, another version under each route (an alias moved): neither side's
            Traffic("champion", 3, 100, errors=100, start_ms=T0 + 1),
            Traffic("canary", 4, 100, errors=100, start_ms=T0 + 2),
        )
        evidence = compare(sqlite_client, RollbackConditions(min_requests=100))
        assert (evidence.champion.requests, evidence.champion.errors) == (500, 0)
        assert (evidence.canary.requests, evidence.canary.errors) == (202, 2)
        assert evidence.passed

    def test_a_shadow_stage_compares_the_shadow_route(self, sqlite_client: TrackingClient) -> None:
        log_traffic(
            sqlite_client,
            Traffic("champion", 1, 400),
            Traffic("shadow", 2, 400, errors=60),
            Traffic("canary", 2, 400),
        )
        evidence = compare(sqlite_client, RollbackConditions(latency_p95_max_ratio=None), route="shadow")
        assert evidence.canary.route == "shadow" and evidence.canary.errors == 60
        assert evidence.failed

    def test_no_canary_traffic_yet_is_undecided(self, sqlite_client: TrackingClient) -> None:
        log_traffic(sqlite_client, Traffic("champion", 1, 300))
        evidence = compare(sqlite_client, ALL)
        assert evidence.undecided and not evidence.passed and not evidence.failed
        assert [v.verdict for v in evidence.verdicts] == [UNDECIDED] * 3
        assert "no canary request" in evidence.verdicts[0].reason


class TestErrorRate:
    CONDITIONS = RollbackConditions(latency_p95_max_ratio=None, min_requests=100)

    def test_a_large_increase_fails_by_the_z_test(self, client: TrackingClient) -> None:
        log_traffic(client, Traffic("champion", 1, 1980, errors=20), Traffic("canary", 2, 450, errors=50))
        evidence = compare(client, self.CONDITIONS)
        (found,) = evidence.verdicts
        assert found.verdict == FAIL and found.test == "z_test" and evidence.failed
        assert found.canary == pytest.approx(50 / 500) and found.champion == pytest.approx(20 / 2000)
        assert (
            found.limit == pytest.approx(0.01 + 0.02) and found.p_value is not None and found.p_value < 0.05
        )
        assert "above the allowed 3.0%" in found.reason and "z-test" in found.reason

    def test_small_counts_fail_by_fishers_exact_test_even_before_min_requests(
        self, sqlite_client: TrackingClient
    ) -> None:
        log_traffic(sqlite_client, Traffic("champion", 1, 400), Traffic("canary", 2, 14, errors=6))
        (found,) = compare(sqlite_client, self.CONDITIONS).verdicts
        expected = stats.fisher_exact([[6, 14], [0, 400]], alternative="greater").pvalue
        assert found.verdict == FAIL and found.test == "fisher_exact"
        assert found.p_value == pytest.approx(expected)
        assert "Fisher's exact test" in found.reason

    def test_an_increase_within_the_margin_passes(self, sqlite_client: TrackingClient) -> None:
        log_traffic(
            sqlite_client, Traffic("champion", 1, 980, errors=20), Traffic("canary", 2, 294, errors=6)
        )
        (found,) = compare(sqlite_client, self.CONDITIONS).verdicts
        assert found.verdict == PASS

    def test_too_few_requests_and_no_significant_increase_is_undecided(
        self, sqlite_client: TrackingClient
    ) -> None:
        log_traffic(sqlite_client, Traffic("champion", 1, 500, errors=5), Traffic("canary", 2, 30, errors=1))
        (found,) = compare(sqlite_client, self.CONDITIONS).verdicts
        assert (
            found.verdict == UNDECIDED and "too few requests" in found.reason and "canary 31" in found.reason
        )

    def test_a_breach_not_significant_yet_is_undecided(self, sqlite_client: TrackingClient) -> None:
        # 4 % against 1 % + 2 points on 400 requests: above the limit, within chance
        log_traffic(
            sqlite_client, Traffic("champion", 1, 1980, errors=20), Traffic("canary", 2, 384, errors=16)
        )
        (found,) = compare(sqlite_client, self.CONDITIONS).verdicts
        assert found.verdict == UNDECIDED and "not significantly yet" in found.reason
        assert found.p_value is not None and found.p_value >= 0.05


class TestLatency:
    CONDITIONS = RollbackConditions(error_rate_max_increase=None, latency_p95_max_ratio=1.5, min_requests=100)

    def test_a_slow_canary_fails(self, client: TrackingClient) -> None:
        log_traffic(
            client, Traffic("champion", 1, 600), Traffic("canary", 2, 200, latency=lambda i: 20.0 + i % 20)
        )
        (found,) = compare(client, self.CONDITIONS).verdicts
        assert found.verdict == FAIL and found.test == "binomial"
        assert found.canary == pytest.approx(np.percentile([20.0 + i % 20 for i in range(200)], 95))
        assert found.limit == pytest.approx(1.5 * np.percentile([10.0 + i % 10 for i in range(600)], 95))

    def test_a_slightly_slower_canary_passes(self, sqlite_client: TrackingClient) -> None:
        log_traffic(
            sqlite_client,
            Traffic("champion", 1, 600),
            Traffic("canary", 2, 200, latency=lambda i: 12.0 + i % 10),
        )
        (found,) = compare(sqlite_client, self.CONDITIONS).verdicts
        assert found.verdict == PASS

    def test_latency_waits_for_min_requests(self, sqlite_client: TrackingClient) -> None:
        log_traffic(
            sqlite_client, Traffic("champion", 1, 600), Traffic("canary", 2, 50, latency=lambda i: 100.0)
        )
        (found,) = compare(sqlite_client, self.CONDITIONS).verdicts
        assert found.verdict == UNDECIDED and "too few requests" in found.reason

    def test_errors_latency_is_left_out(self, sqlite_client: TrackingClient) -> None:
        # fast errors (2 ms) would pull the canary's p95 down if they counted
        log_traffic(sqlite_client, Traffic("champion", 1, 300), Traffic("canary", 2, 300, errors=290))
        evidence = compare(sqlite_client, self.CONDITIONS)
        assert evidence.canary.latency_p95_ms == evidence.champion.latency_p95_ms


class TestPerformance:
    CONDITIONS = RollbackConditions(
        error_rate_max_increase=None,
        latency_p95_max_ratio=None,
        performance_metric="accuracy",
        performance_max_drop=0.05,
        min_label_coverage=0.3,
        min_requests=100,
    )

    def test_an_accuracy_drop_fails_once_labels_cover_enough(self, client: TrackingClient) -> None:
        log_traffic(
            client,
            Traffic("champion", 1, 1000, wrong=100, labelled=500),
            Traffic("canary", 2, 400, wrong=120, labelled=200),
        )
        (found,) = compare(client, self.CONDITIONS).verdicts
        assert found.condition == "performance (accuracy)" and found.verdict == FAIL
        assert found.canary == pytest.approx(0.7) and found.champion == pytest.approx(0.9)
        assert found.test == "z_test" and found.limit == pytest.approx(0.85)

    def test_too_little_label_coverage_is_undecided_however_bad(self, client: TrackingClient) -> None:
        log_traffic(
            client,
            Traffic("champion", 1, 1000, wrong=0, labelled=500),
            Traffic("canary", 2, 400, wrong=400, labelled=80),  # 20 % of its rows, all wrong
        )
        evidence = compare(client, self.CONDITIONS)
        (found,) = evidence.verdicts
        assert found.verdict == UNDECIDED and evidence.undecided
        assert "labels cover too little" in found.reason and "canary 20.0%" in found.reason
        assert evidence.canary.label_coverage == pytest.approx(0.2)

    def test_small_label_counts_use_fishers_exact_test(self, sqlite_client: TrackingClient) -> None:
        log_traffic(
            sqlite_client,
            Traffic("champion", 1, 400, wrong=0, labelled=200),
            Traffic("canary", 2, 20, wrong=10, labelled=20),
        )
        (found,) = compare(sqlite_client, self.CONDITIONS).verdicts
        expected = stats.fisher_exact([[10, 10], [0, 200]], alternative="greater").pvalue
        assert found.verdict == FAIL and found.test == "fisher_exact"
        assert found.p_value == pytest.approx(expected)

    def test_f1_drop_is_decided_by_a_bootstrap(self, sqlite_client: TrackingClient) -> None:
        log_traffic(
            sqlite_client,
            Traffic("champion", 1, 600, wrong=30),
            Traffic("canary", 2, 300, wrong=90),
        )
        conditions = RollbackConditions(
            error_rate_max_increase=None, latency_p95_max_ratio=None, performance_max_drop=0.05
        )
        evidence = compare(sqlite_client, conditions)  # f1: the default for a binary classifier
        (found,) = evidence.verdicts
        assert evidence.metric == "f1" and found.test == "bootstrap" and found.verdict == FAIL
        again = compare(sqlite_client, conditions).verdicts[0]
        assert again.p_value == found.p_value  # the same log gives the same evidence

    def test_an_equal_f1_passes(self, sqlite_client: TrackingClient) -> None:
        log_traffic(sqlite_client, Traffic("champion", 1, 600, wrong=60), Traffic("canary", 2, 300, wrong=30))
        conditions = RollbackConditions(
            error_rate_max_increase=None, latency_p95_max_ratio=None, performance_max_drop=0.05
        )
        (found,) = compare(sqlite_client, conditions).verdicts
        assert found.verdict == PASS

    def test_a_regressor_compares_rmse(self, sqlite_client: TrackingClient) -> None:
        labels = log_traffic(
            sqlite_client,
            Traffic("champion", 1, 300, wrong=0, regression=True),
            Traffic("canary", 2, 300, wrong=150, regression=True),
        )
        conditions = RollbackConditions(
            error_rate_max_increase=None, latency_p95_max_ratio=None, performance_max_drop=0.2
        )
        evidence = compare(sqlite_client, conditions)
        (found,) = evidence.verdicts
        assert evidence.task == "regression" and evidence.metric == "rmse"
        truth = [labels[f"canary-2-{T0}-{i}"] for i in range(300)]
        preds = [y + (3.0 if i in _spread(150, 300) else 0.5) for i, y in enumerate(truth)]
        assert found.canary == pytest.approx(mean_squared_error(truth, preds) ** 0.5)
        assert found.champion == pytest.approx(0.5) and found.verdict == FAIL

    def test_a_metric_of_another_task_is_refused(self, sqlite_client: TrackingClient) -> None:
        log_traffic(sqlite_client, Traffic("champion", 1, 100), Traffic("canary", 2, 100))
        with pytest.raises(InvalidArgumentError, match="use accuracy"):
            compare(sqlite_client, RollbackConditions(performance_max_drop=0.1), target_metric="rmse")


class TestBadInput:
    def test_conditions_say_what_is_wrong(self) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            RollbackConditions(
                alpha=1.5, min_label_coverage=2, latency_p95_max_ratio=0, performance_metric="auc"
            )
        message = str(info.value)
        for part in ("alpha", "min_label_coverage", "latency_p95_max_ratio", "'auc'", "accuracy, f1"):
            assert part in message

    def test_an_empty_window_is_refused(self, sqlite_client: TrackingClient) -> None:
        with pytest.raises(InvalidArgumentError, match="since_ms must be before until_ms"):
            compare(sqlite_client, ALL, since_ms=T0, until_ms=T0)

    def test_the_champion_is_not_a_challenger_route(self, sqlite_client: TrackingClient) -> None:
        with pytest.raises(InvalidArgumentError, match="'canary' or 'shadow'"):
            compare(sqlite_client, ALL, route="champion")


class TestTask:
    CONDITIONS = RollbackConditions(
        error_rate_max_increase=None, latency_p95_max_ratio=None, performance_max_drop=0.1
    )

    def test_the_champions_stored_evaluation_names_the_task(self, sqlite_client: TrackingClient) -> None:
        import pandas as pd
        from sklearn.linear_model import LinearRegression

        from loopml.registry import evaluate, register_model

        # labels of two values would look like classes; the champion was evaluated as a regressor
        frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 0.0, 1.0]})
        fitted = LinearRegression().fit(frame[["x"]], frame["y"])
        register_model("m", fitted, input_example=frame[["x"]], client=sqlite_client)
        evaluate("m:1", frame, target="y", task="regression", client=sqlite_client)
        log_traffic(sqlite_client, Traffic("champion", 1, 200), Traffic("canary", 2, 200, wrong=100))

        evidence = compare(sqlite_client, self.CONDITIONS)
        assert evidence.task == "regression" and evidence.metric == "rmse"
        assert evidence.canary.metrics["rmse"] == pytest.approx(0.5**0.5)
        assert evidence.verdicts[0].verdict == FAIL

    def test_task_given_wins_and_without_performance_none_is_needed(
        self, sqlite_client: TrackingClient
    ) -> None:
        log_traffic(sqlite_client, Traffic("champion", 1, 200), Traffic("canary", 2, 200, wrong=100))
        assert compare(sqlite_client, self.CONDITIONS, task="regression").metric == "rmse"
        assert compare(sqlite_client, self.CONDITIONS).metric == "f1"
        assert compare(sqlite_client, RollbackConditions()).task is None

    def test_predictions_whose_type_changed_between_segments_are_compared_as_text(
        self, sqlite_client: TrackingClient
    ) -> None:
        with PredictionLogger(
            sqlite_client.store, sqlite_client.artifacts, model="m", flush_interval=60.0
        ) as logger:
            for i in range(200):
                for route, version in (("champion", 1), ("canary", 2)):
                    logger.log(
                        request_id=f"{route}-{i}",
                        model_version=version,
                        route=route,
                        inputs=[{"x": 1.0}],
                        # the canary's predictions are numbers in one segment, text in the next
                        outputs=[str(i % 2)] if route == "canary" and i >= 100 else [i % 2],
                        latency_ms=5.0,
                        timestamp_ms=T0 + i * 1000,
                    )
                if i == 99:
                    logger.flush()  # a new segment
        labels = {f"{r}-{i}": i % 2 for r in ("champion", "canary") for i in range(200)}
        log_labels(sqlite_client.store, "m", labels, at_ms=T0 + HOUR)
        evidence = compare(sqlite_client, self.CONDITIONS, target_metric="accuracy")
        assert evidence.canary.rows == 200 and evidence.canary.labelled_rows == 200
        assert evidence.champion.metrics["accuracy"] == evidence.canary.metrics["accuracy"] == 1.0
        assert evidence.passed
