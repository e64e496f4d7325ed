"""Feedback becomes data, on real logged predictions: a PredictionLogger writes real segments into a real blob
store, labels land in the Store (SQLite and PostgreSQL) with ``log_labels``, and ``feedback_frame`` /
``add_feedback`` / ``split_by_time`` read them back through ``lm.data`` and the tracking runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.agent._feedback import (
    EXPERIMENT,
    NotEnoughFeedbackError,
    add_feedback,
    feedback_frame,
    personal_columns,
    split_by_time,
)
from loopml.artifacts import LocalArtifactStore
from loopml.errors import DataCheckError, InvalidArgumentError, NotFoundError
from loopml.monitoring import PredictionLogger, hash_value, log_labels
from loopml.store import RunStatus, SqlStore
from loopml.tracking import TrackingClient, attached_run

MODEL = "churn"
SALT = "feedback-test-salt"
T0 = 1_700_000_000_000  # ms; every time below is T0 plus a few seconds or hours
HOUR = 3_600_000
FEATURES = ["age", "spend"]


@pytest.fixture
def client(store: SqlStore, tmp_path: Path) -> Iterator[TrackingClient]:
    clock = iter(range(10**9))
    tracking = TrackingClient(
        store, LocalArtifactStore(tmp_path / "artifacts"), clock=lambda: (T0 + 50 * HOUR) / 1000 + next(clock)
    )
    yield tracking
    tracking.flush()


def _train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    age = rng.integers(18, 80, 60)
    spend = rng.normal(50.0, 10.0, 60).round(2)
    return pd.DataFrame(
        {
            "email": [f"user{i}@example.org" for i in range(60)],
            "age": age,
            "spend": spend,
            "churned": (spend > 50).astype(int),
        }
    )


def _register(client: TrackingClient, versions: int = 2, personal: tuple[str, ...] = ("email",)) -> None:
    """``versions`` versions of a model whose signature has the personal input ``email`` (it ignores it)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    train = _train()
    for c in range(versions):
        model = make_pipeline(
            ColumnTransformer([("keep", "passthrough", FEATURES)]), LogisticRegression(C=1.0 + c)
        ).fit(train[["email", *FEATURES]], train["churned"])
        lm.register_model(
            MODEL,
            model,
            input_example=train[["email", *FEATURES]].head(),
            personal=list(personal),
            client=client,
        )


def _logger(client: TrackingClient, mode: str = "hash") -> PredictionLogger:
    return PredictionLogger(
        client.store,
        client.artifacts,
        model=MODEL,
        flush_interval=60.0,
        personal=["email"],
        personal_mode=mode,  # type: ignore[arg-type]
        salt=SALT,
        clock=lambda: T0 / 1000,
    )


def _request(
    logger: PredictionLogger,
    rid: str,
    at_ms: int,
    rows: list[tuple[str, int, float]],
    *,
    version: int = 1,
    route: str = "champion",
) -> None:
    frame = pd.DataFrame(rows, columns=["email", "age", "spend"])
    assert logger.log(
        request_id=rid,
        model_version=version,
        route=route,
        inputs=frame,
        outputs=np.array([int(s > 50) for _, _, s in rows]),
        latency_ms=2.0,
        timestamp_ms=at_ms,
    )


def _log_day(client: TrackingClient, mode: str = "hash") -> None:
    """Six requests over two hours (two segments), one of two rows, one failed, one mirrored to the shadow."""
    with _logger(client, mode) as logger:
        _request(logger, "r1", T0 + 1_000, [("a@x.org", 30, 40.0)])
        _request(logger, "r2", T0 + 2_000, [("b@x.org", 40, 60.0), ("c@x.org", 50, 55.0)])
        assert logger.log_error(
            request_id="r3",
            model_version=1,
            route="champion",
            status=503,
            latency_ms=1.0,
            timestamp_ms=T0 + 3_000,
        )
        _request(logger, "r4", T0 + 4_000, [("d@x.org", 60, 45.0)], version=2, route="canary")
        _request(logger, "r4", T0 + 4_000, [("d@x.org", 60, 45.0)], version=2, route="shadow")
        _request(logger, "r5", T0 + HOUR + 5_000, [("e@x.org", 70, 70.0)])
        _request(logger, "r6", T0 + HOUR + 6_000, [("f@x.org", 20, 30.0)])


class TestFeedbackFrame:
    def test_answered_rows_joined_with_their_labels(self, client: TrackingClient) -> None:
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0, "r2": 1, "r3": 1, "r4": 1, "r5": 0}, at_ms=T0 + 2 * HOUR)

        frame = feedback_frame(MODEL, client=client, target="churned")

        assert list(frame.columns) == [
            "request_id",
            "timestamp_ms",
            "model_version",
            "route",
            "email",
            "age",
            "spend",
            "prediction",
            "churned",
        ]
        # r3 failed, r6 has no label, r4's shadow copy is not feedback; r2's label belongs to both its rows
        assert frame["request_id"].tolist() == ["r1", "r2", "r2", "r4", "r5"]
        assert frame["churned"].tolist() == [0, 1, 1, 1, 0]
        assert frame["age"].tolist() == [30, 40, 50, 60, 70]
        assert frame["prediction"].tolist() == [0, 1, 1, 0, 1]
        assert frame["route"].tolist() == ["champion", "champion", "champion", "canary", "champion"]
        assert frame["model_version"].tolist() == [1, 1, 1, 2, 1]
        assert frame["timestamp_ms"].is_monotonic_increasing
        # personal data stays as the log keeps it: hashed
        assert frame["email"].tolist()[0] == hash_value("a@x.org", SALT)
        assert "a@x.org" not in frame["email"].tolist()

    def test_labels_that_arrive_late_join_when_they_land(self, client: TrackingClient) -> None:
        _log_day(client)
        assert feedback_frame(MODEL, client=client).empty
        assert list(feedback_frame(MODEL, client=client, target="y").columns)[-1] == "y"

        log_labels(client.store, MODEL, {"r6": 1}, at_ms=T0 + 3 * HOUR)
        assert feedback_frame(MODEL, client=client)["label"].tolist() == [1]
        # a newer label of the same request replaces the older one; a label may also come before its request
        log_labels(client.store, MODEL, {"r6": 0, "r1": 1}, at_ms=T0 + 4 * HOUR)
        frame = feedback_frame(MODEL, client=client)
        assert dict(zip(frame["request_id"], frame["label"], strict=True)) == {"r1": 1, "r6": 0}

    def test_window_versions_routes_and_columns(self, client: TrackingClient) -> None:
        _log_day(client)
        log_labels(client.store, MODEL, {r: 1 for r in ("r1", "r2", "r3", "r4", "r5", "r6")}, at_ms=T0)

        window = feedback_frame(MODEL, since_ms=T0 + 2_000, until_ms=T0 + HOUR + 6_000, client=client)
        assert window["request_id"].tolist() == ["r2", "r2", "r4", "r5"]  # [since, until)
        assert feedback_frame(MODEL, versions=[2], client=client)["request_id"].tolist() == ["r4"]
        shadow = feedback_frame(MODEL, routes=["shadow"], client=client)
        assert shadow[["request_id", "route"]].values.tolist() == [["r4", "shadow"]]
        # the error row never shows, whatever is asked
        assert "r3" not in feedback_frame(MODEL, routes=["champion"], client=client)["request_id"].tolist()
        only_age = feedback_frame(MODEL, inputs=["age"], client=client)
        meta = ["request_id", "timestamp_ms", "model_version", "route"]
        assert list(only_age.columns) == [*meta, "age", "prediction", "label"]

    def test_a_dropped_personal_column_is_absent(self, client: TrackingClient) -> None:
        _log_day(client, mode="drop")
        log_labels(client.store, MODEL, {"r1": 0}, at_ms=T0)
        frame = feedback_frame(MODEL, client=client)
        assert "email" not in frame.columns
        assert frame["age"].tolist() == [30]

    def test_a_target_named_as_a_feedback_column_is_refused(self, client: TrackingClient) -> None:
        with pytest.raises(InvalidArgumentError, match="target='prediction'"):
            feedback_frame(MODEL, client=client, target="prediction")
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0}, at_ms=T0)
        with pytest.raises(InvalidArgumentError, match=r"input named 'age'.*another target="):
            feedback_frame(MODEL, client=client, target="age")


class TestAddFeedback:
    def test_a_version_of_the_features_and_the_target_without_personal_data(
        self, client: TrackingClient
    ) -> None:
        _register(client, versions=2)
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0, "r2": 1, "r4": 1, "r5": 0}, at_ms=T0 + 2 * HOUR)

        fed = add_feedback("churn-feedback", MODEL, target="churned", client=client)

        stored = lm.data.load(fed.version, client=client)
        assert list(stored.columns) == ["age", "spend", "churned"]
        assert stored["churned"].tolist() == [0, 1, 1, 1, 0]
        assert fed.left_out == ("email",)
        assert (fed.rows, fed.base_rows, fed.features) == (5, 0, ("age", "spend"))
        assert fed.served_versions == (1, 2)
        assert (fed.first_ms, fed.last_ms) == (T0 + 1_000, T0 + HOUR + 5_000)
        assert fed.cut_ms is None and fed.gate is None

    def test_features_naming_a_personal_column_are_refused_with_the_reason(
        self, client: TrackingClient
    ) -> None:
        _register(client, versions=2)
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0}, at_ms=T0)
        with pytest.raises(
            InvalidArgumentError, match=r"personal data of 'churn': email \(personal in versions 1, 2\)"
        ):
            add_feedback("fb", MODEL, target="churned", features=["age", "email"], client=client)
        with pytest.raises(NotFoundError):
            lm.data.versions("fb", client=client)
        assert personal_columns(MODEL, [1, 2], client) == {"email": (1, 2)}

    def test_a_failing_check_stores_nothing_and_the_run_says_why(self, client: TrackingClient) -> None:
        _register(client)
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0, "r2": 7}, at_ms=T0)
        check = lm.data.checks.in_set("churned", [0, 1])

        with pytest.raises(DataCheckError, match="Nothing was stored"):
            add_feedback("fb", MODEL, target="churned", checks=[check], client=client)

        with pytest.raises(NotFoundError):
            lm.data.versions("fb", client=client)
        (run,) = client.search_runs(experiment=EXPERIMENT)
        assert run.status == RunStatus.FAILED
        assert "DataCheckError" in (run.error or "")

    def test_lineage_names_the_model_versions_the_window_and_the_base(self, client: TrackingClient) -> None:
        _register(client, versions=2)
        base = lm.data.add("churn-train", _train(), client=client)
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0, "r4": 1}, at_ms=T0 + HOUR)

        with pytest.warns(lm.data.SchemaChangeWarning, match="'email' removed"):
            fed = add_feedback(
                "churn-train",
                MODEL,
                target="churned",
                base="churn-train@latest",
                since_ms=T0,
                until_ms=T0 + 2 * HOUR,
                client=client,
            )

        # the base's features plus the target, the base's personal column left out too, base rows first
        stored = lm.data.load(fed.version, client=client)
        assert list(stored.columns) == ["age", "spend", "churned"]
        assert len(stored) == 62 and (fed.rows, fed.base_rows) == (2, 60)
        assert stored.tail(2)["age"].tolist() == [30, 60]
        assert stored["age"].dtype.kind == "i" and base.num_rows == 60
        assert fed.version.version == 2 and fed.base == "churn-train:1"
        # the version's tags and description name where it came from
        assert {"feedback", "churn.v1", "churn.v2"} <= set(fed.version.tags)
        assert "feedback of churn" in fed.version.description and "churn-train:1" in fed.version.description
        # the data layer's lineage walks back to the base
        assert [v.ref for v in lm.data.lineage(fed.version, client=client).sources] == ["churn-train:1"]
        assert (fed.version.transform or {})["function"] == "loopml.agent._feedback.add_feedback"
        # the run: its params, metrics, and the base as input, the new version as output
        run = client.get_run(fed.run_id)
        assert run.experiment_name == EXPERIMENT and run.status == RunStatus.FINISHED
        assert run.params["model"] == MODEL
        assert run.params["served_versions"] == "1,2"
        assert (run.params["since_ms"], run.params["until_ms"]) == (str(T0), str(T0 + 2 * HOUR))
        assert run.params["base"] == "churn-train:1"
        assert run.metrics["feedback_rows"] == 2 and run.metrics["base_rows"] == 60
        assert run.metrics["first_ms"] == T0 + 1_000 and run.metrics["last_ms"] == T0 + 4_000
        links = {(v.ref, direction) for v, direction in client.store.datasets.run_datasets(fed.run_id)}
        assert links == {("churn-train:1", "input"), ("churn-train:2", "output")}
        assert fed.to_dict()["dataset"] == "churn-train:2"

    def test_the_deployment_that_served_is_recorded_and_must_serve_the_model(
        self, client: TrackingClient
    ) -> None:
        _register(client)
        deployments = client.store.deployments
        deployments.create("churn-prod", model=MODEL, at_ms=T0, actor="test")
        deployments.update("churn-prod", {"canary": "2", "canary_percent": 10.0}, at_ms=T0 + 1, actor="test")
        deployments.create("other", model="another-model", at_ms=T0, actor="test")
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0, "r4": 1}, at_ms=T0)

        with pytest.raises(InvalidArgumentError, match="'other' serves 'another-model', not 'churn'"):
            add_feedback("fb", MODEL, target="churned", deployment="other", client=client)
        with pytest.raises(NotFoundError):
            add_feedback("fb", MODEL, target="churned", deployment="nowhere", client=client)
        fed = add_feedback("fb", MODEL, target="churned", deployment="churn-prod", client=client)

        assert (fed.deployment, fed.deployment_revision) == ("churn-prod", 2)
        assert "deployment.churn-prod" in fed.version.tags
        assert "(deployment churn-prod)" in fed.version.description
        params = client.get_run(fed.run_id).params
        assert (params["deployment"], params["deployment_revision"]) == ("churn-prod", "2")
        assert fed.to_dict()["deployment_revision"] == 2

    def test_inside_a_run_the_feedback_run_is_its_child(self, client: TrackingClient) -> None:
        _register(client)
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0}, at_ms=T0)
        retrain = client.create_run("retraining", name="retrain churn")
        with attached_run(retrain.id, client=client):
            fed = add_feedback("fb", MODEL, target="churned", client=client)
        assert client.get_run(fed.run_id).parent_id == retrain.id
        assert client.store.datasets.run_datasets(retrain.id) == []  # the version is the child's output

    def test_a_base_column_the_log_lacks_is_refused(self, client: TrackingClient) -> None:
        _register(client)
        lm.data.add("with-extra", _train().assign(region="north"), client=client)
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0}, at_ms=T0)
        with pytest.raises(InvalidArgumentError, match="no input 'region'"):
            add_feedback("with-extra", MODEL, target="churned", base="with-extra:1", client=client)
        with pytest.raises(InvalidArgumentError, match="has no column 'label'"):
            add_feedback("with-extra", MODEL, target="label", base="with-extra:1", client=client)
        assert len(lm.data.versions("with-extra", client=client)) == 1

    def test_no_labelled_rows_is_not_enough(self, client: TrackingClient) -> None:
        _register(client)
        _log_day(client)
        with pytest.raises(NotEnoughFeedbackError, match="0 labelled prediction"):
            add_feedback("fb", MODEL, target="churned", client=client)

    def test_an_unregistered_serving_version_is_refused(self, client: TrackingClient) -> None:
        _register(client, versions=1)  # version 2 served the canary but is not registered
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0}, at_ms=T0)
        with pytest.raises(NotFoundError, match=r"version 2 of 'churn'.*personal"):
            add_feedback("fb", MODEL, target="churned", client=client)
        fed = add_feedback("fb", MODEL, target="churned", versions=[1], client=client)
        assert fed.served_versions == (1,) and fed.left_out == ("email",)


class TestSplitByTime:
    def _frame(self, times: list[int]) -> pd.DataFrame:
        return pd.DataFrame({"timestamp_ms": times, "x": range(len(times))})

    def test_the_gate_is_strictly_newer_than_every_training_row(self) -> None:
        frame = self._frame([50, 10, 40, 20, 30, 60, 70, 80, 90, 100])
        train, gate, cut = split_by_time(frame, holdout=0.3, min_rows=3)
        assert gate["timestamp_ms"].tolist() == [80, 90, 100] and cut == 80
        assert train["timestamp_ms"].tolist() == [10, 20, 30, 40, 50, 60, 70]
        assert train["timestamp_ms"].max() < cut <= gate["timestamp_ms"].min()

    def test_a_tie_at_the_cut_goes_to_the_gate_never_both(self) -> None:
        frame = self._frame([1, 2, 3, 5, 5, 5, 6, 7])
        train, gate, cut = split_by_time(frame, holdout=0.25, min_rows=1)  # the 2 newest: 6, 7
        assert cut == 6 and gate["timestamp_ms"].tolist() == [6, 7]
        train, gate, cut = split_by_time(frame, holdout=0.5, min_rows=1)  # the 4 newest reach into the 5s
        assert cut == 5
        assert gate["timestamp_ms"].tolist() == [5, 5, 5, 6, 7]
        assert train["timestamp_ms"].tolist() == [1, 2, 3]
        assert set(train["x"]).isdisjoint(gate["x"]) and len(train) + len(gate) == len(frame)

    def test_too_few_gate_rows_raise_and_bad_arguments_are_refused(self) -> None:
        frame = self._frame(list(range(10)))
        with pytest.raises(NotEnoughFeedbackError, match="gate needs 5") as caught:
            split_by_time(frame, holdout=0.3, min_rows=5)
        assert (caught.value.rows, caught.value.needed) == (3, 5)
        with pytest.raises(NotEnoughFeedbackError):
            split_by_time(self._frame([]), holdout=0.3, min_rows=0)
        for holdout in (0, 1, 1.5, True):
            with pytest.raises(InvalidArgumentError, match="holdout"):
                split_by_time(frame, holdout=holdout, min_rows=1)
        with pytest.raises(InvalidArgumentError, match="timestamp_ms"):
            split_by_time(frame.drop(columns=["timestamp_ms"]), holdout=0.3, min_rows=1)

    def test_add_feedback_stores_only_the_rows_before_the_cut(self, client: TrackingClient) -> None:
        _register(client, versions=2)
        _log_day(client)
        log_labels(client.store, MODEL, {"r1": 0, "r2": 1, "r4": 1, "r5": 0, "r6": 1}, at_ms=T0 + 2 * HOUR)

        fed = add_feedback("fb", MODEL, target="churned", holdout=0.4, min_rows=2, client=client)

        # six labelled rows; the newest 40 % (3 rows, r4 at T0+4s and the next hour's two) go to the gate
        assert fed.cut_ms == T0 + 4_000
        assert fed.gate is not None and fed.gate_rows == 3
        assert list(fed.gate.columns) == ["age", "spend", "churned"]
        stored = lm.data.load(fed.version, client=client)
        assert stored["age"].tolist() == [30, 40, 50] and fed.rows == 3
        assert fed.last_ms is not None and fed.last_ms < fed.cut_ms
        assert client.get_run(fed.run_id).params["cut_ms"] == str(T0 + 4_000)
        with pytest.raises(NotEnoughFeedbackError):
            add_feedback("fb", MODEL, target="churned", holdout=0.4, min_rows=4, client=client)
        # the two rows of r2 share one time: both are the gate, and nothing is left to train on
        with pytest.raises(NotEnoughFeedbackError, match="none is left to train on"):
            add_feedback(
                "fb2",
                MODEL,
                target="churned",
                versions=[1],
                until_ms=T0 + 3_000,
                holdout=0.3,
                since_ms=T0 + 2_000,
                client=client,
            )
