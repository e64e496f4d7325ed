"""The Store contract: every implementation (SQLite, PostgreSQL) behaves the same."""

from __future__ import annotations

import math

import pytest

from loopml.errors import ConflictError, FilterError, NotFoundError
from loopml.store import Artifact, MetricRecord, RunStatus, SqlStore


def make_run(store: SqlStore, experiment: str = "exp", **kwargs: object) -> str:
    exp = store.runs.get_or_create_experiment(experiment)
    return store.runs.create_run(exp.id, start_ms=kwargs.pop("start_ms", 1_000), **kwargs).id  # type: ignore[arg-type]


class TestExperiments:
    def test_create_get_and_list_with_run_counts(self, store: SqlStore) -> None:
        a = store.runs.create_experiment("alpha", "first")
        store.runs.create_experiment("beta")
        make_run(store, "alpha")
        make_run(store, "alpha")
        assert store.runs.get_experiment("alpha") == a
        assert store.runs.get_experiment(a.id) == a
        assert [(e.name, n) for e, n in store.runs.list_experiments()] == [("alpha", 2), ("beta", 0)]

    def test_duplicate_name_conflicts_and_get_or_create_reuses(self, store: SqlStore) -> None:
        a = store.runs.create_experiment("alpha")
        with pytest.raises(ConflictError, match="already exists"):
            store.runs.create_experiment("alpha")
        assert store.runs.get_or_create_experiment("alpha") == a

    def test_unknown_experiment(self, store: SqlStore) -> None:
        with pytest.raises(NotFoundError, match="loopml experiments ls"):
            store.runs.get_experiment("nope")


class TestRuns:
    def test_create_end_and_read_back(self, store: SqlStore) -> None:
        exp = store.runs.create_experiment("e")
        parent = store.runs.create_run(exp.id, name="parent", start_ms=5)
        child = store.runs.create_run(
            exp.id,
            name="child",
            start_ms=7,
            parent_id=parent.id,
            user="ada",
            git_commit="abc",
            git_dirty=True,
            entry_point="train.py",
            tags={"team": "vision"},
        )
        store.runs.end_run(child.id, RunStatus.FAILED, 9, error="ValueError: boom")
        got = store.runs.get_run(child.id)
        assert (got.name, got.status, got.start_ms, got.end_ms) == ("child", RunStatus.FAILED, 7, 9)
        assert (got.parent_id, got.user, got.git_commit, got.git_dirty) == (parent.id, "ada", "abc", True)
        assert got.entry_point == "train.py" and got.error == "ValueError: boom"
        assert got.tags == {"team": "vision"} and got.experiment_name == "e"
        assert got.start_time.tzinfo is not None

    def test_missing_parent_or_experiment_or_run(self, store: SqlStore) -> None:
        exp = store.runs.create_experiment("e")
        with pytest.raises(NotFoundError, match="parent"):
            store.runs.create_run(exp.id, start_ms=1, parent_id="f" * 32)
        with pytest.raises(NotFoundError):
            store.runs.create_run("0" * 32, start_ms=1)
        with pytest.raises(NotFoundError):
            store.runs.get_run("0" * 32)
        with pytest.raises(NotFoundError):
            store.runs.end_run("0" * 32, RunStatus.FINISHED, 2)
        assert store.runs.search_runs() == []


class TestParamsAndTags:
    def test_params_are_write_once(self, store: SqlStore) -> None:
        run = make_run(store)
        store.runs.log_params(run, {"model": "rf", "n": "200"})
        store.runs.log_params(run, {"model": "rf"})  # same value again is fine
        with pytest.raises(ConflictError, match="write-once"):
            store.runs.log_params(run, {"model": "gbm", "new": "1"})
        assert store.runs.get_run(run).params == {"model": "rf", "n": "200"}  # nothing of the refused call

    def test_tags_overwrite_and_delete(self, store: SqlStore) -> None:
        run = make_run(store)
        store.runs.set_tags(run, {"a": "1", "b": "2"})
        store.runs.set_tags(run, {"a": "3"})
        store.runs.delete_tag(run, "b")
        assert store.runs.get_run(run).tags == {"a": "3"}
        with pytest.raises(NotFoundError):
            store.runs.set_tags("0" * 32, {"a": "1"})


class TestMetrics:
    def test_history_in_step_order_and_latest_by_step(self, store: SqlStore) -> None:
        run = make_run(store)
        store.runs.log_metrics(
            [MetricRecord(run, "loss", 0.5, 2, 100), MetricRecord(run, "loss", 0.9, 0, 101)]
        )
        store.runs.log_metrics([MetricRecord(run, "loss", 0.7, 1, 102)])
        history = store.runs.get_metric_history(run, "loss")
        assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.7), (2, 0.5)]
        assert store.runs.get_run(run).metrics == {"loss": 0.5}  # highest step wins, not last written
        store.runs.log_metrics([MetricRecord(run, "loss", 0.4, 2, 103)])  # same step, later: wins
        assert store.runs.get_run(run).metrics == {"loss": 0.4}

    def test_nan_and_infinity_round_trip(self, store: SqlStore) -> None:
        run = make_run(store)
        store.runs.log_metrics(
            [MetricRecord(run, "a", math.nan, 0, 1), MetricRecord(run, "b", math.inf, 0, 1)]
        )
        assert math.isnan(store.runs.get_metric_history(run, "a")[0].value)
        assert store.runs.get_run(run).metrics["b"] == math.inf

    def test_unknown_run_writes_nothing(self, store: SqlStore) -> None:
        run = make_run(store)
        with pytest.raises(NotFoundError):
            store.runs.log_metrics(
                [MetricRecord(run, "a", 1.0, 0, 1), MetricRecord("0" * 32, "a", 1.0, 0, 1)]
            )
        assert store.runs.get_metric_history(run, "a") == []


class TestArtifacts:
    def test_add_list_replace_and_referenced(self, store: SqlStore) -> None:
        run = make_run(store)
        store.runs.add_artifact(run, Artifact("model/model.joblib", "a" * 64, 10, "file", 1))
        store.runs.add_artifact(run, Artifact("data", "b" * 64, 20, "dir", 2))
        store.runs.add_artifact(run, Artifact("model/model.joblib", "c" * 64, 11, "file", 3))
        assert [(a.path, a.digest[0]) for a in store.runs.list_artifacts(run)] == [
            ("data", "b"),
            ("model/model.joblib", "c"),
        ]
        assert set(store.referenced_digests()) == {"b" * 64, "c" * 64}
        assert [a.path for a in store.runs.get_run(run).artifacts] == ["data", "model/model.joblib"]


@pytest.fixture
def searchable(store: SqlStore) -> dict[str, str]:
    """Five runs with known params, metrics, tags and statuses."""
    ids = {}
    spec = [
        ("rf-1", "rf", 0.91, "vision", RunStatus.FINISHED, 1_000, 100),
        ("rf-2", "rf", 0.75, "vision", RunStatus.FINISHED, 2_000, 300),
        ("gbm-1", "gbm", 0.88, "nlp", RunStatus.FAILED, 3_000, 50),
        ("lr-1", "lr", None, None, RunStatus.RUNNING, 4_000, 5),
    ]
    for name, model, f1, team, status, start, n in spec:
        run = make_run(store, name=name, start_ms=start)
        store.runs.log_params(run, {"model": model, "n_estimators": str(n)})
        if f1 is not None:
            store.runs.log_metrics([MetricRecord(run, "f1", f1, 0, start)])
        if team is not None:
            store.runs.set_tags(run, {"team": team})
        if status.is_terminal:
            store.runs.end_run(run, status, start + 10)
        ids[name] = run
    other = store.runs.create_experiment("other")
    ids["elsewhere"] = store.runs.create_run(other.id, name="elsewhere", start_ms=5_000).id
    return ids


def names(runs: list) -> list[str]:  # type: ignore[type-arg]
    return [r.name for r in runs]


class TestSearch:
    @pytest.mark.parametrize(
        ("filter", "expected"),
        [
            ("metrics.f1 > 0.8 and params.model = 'rf' and tags.team = 'vision'", ["rf-1"]),
            ("metrics.f1 > 0.8", ["gbm-1", "rf-1"]),
            ("params.model in ('rf', 'lr')", ["lr-1", "rf-2", "rf-1"]),
            ("params.model != 'rf'", ["lr-1", "gbm-1"]),
            ("params.n_estimators >= 100", ["rf-2", "rf-1"]),
            ("params.n_estimators = 50", ["gbm-1"]),
            ("tags.team is null", ["elsewhere", "lr-1"]),
            ("metrics.f1 is not null and tags.team like 'vis%'", ["rf-2", "rf-1"]),
            ("name ilike 'RF-%'", ["rf-2", "rf-1"]),
            ("status = 'failed'", ["gbm-1"]),
            ("status = 'RUNNING' and start_time >= 4000", ["elsewhere", "lr-1"]),
            (
                "(params.model = 'gbm' or metrics.f1 < 0.8) and attributes.status != 'RUNNING'",
                ["gbm-1", "rf-2"],
            ),
            ("start_time >= '1970-01-01T00:00:03+00:00'", ["elsewhere", "lr-1", "gbm-1"]),
        ],
    )
    def test_filters(
        self, store: SqlStore, searchable: dict[str, str], filter: str, expected: list[str]
    ) -> None:
        assert names(store.runs.search_runs(filter=filter)) == expected

    def test_default_order_newest_first_and_experiment_scope(
        self, store: SqlStore, searchable: dict[str, str]
    ) -> None:
        assert names(store.runs.search_runs()) == ["elsewhere", "lr-1", "gbm-1", "rf-2", "rf-1"]
        exp = store.runs.get_experiment("exp")
        assert names(store.runs.search_runs([exp.id])) == ["lr-1", "gbm-1", "rf-2", "rf-1"]

    def test_order_by_metric_puts_missing_last_and_limit_offset(
        self, store: SqlStore, searchable: dict[str, str]
    ) -> None:
        ordered = store.runs.search_runs(order_by=["metrics.f1 desc"])
        assert names(ordered) == ["rf-1", "gbm-1", "rf-2", "elsewhere", "lr-1"]
        assert names(store.runs.search_runs(order_by="metrics.f1", limit=2, offset=1)) == ["gbm-1", "rf-1"]
        assert names(store.runs.search_runs(order_by=["params.n_estimators desc"], limit=3)) == [
            "rf-2",
            "rf-1",
            "gbm-1",
        ]
        assert names(store.runs.search_runs(order_by=["name"], limit=2)) == ["elsewhere", "gbm-1"]

    def test_results_carry_params_metrics_tags(self, store: SqlStore, searchable: dict[str, str]) -> None:
        (run,) = store.runs.search_runs(filter="name = 'rf-1'")
        assert run.params == {"model": "rf", "n_estimators": "100"}
        assert run.metrics == {"f1": 0.91} and run.tags == {"team": "vision"}

    def test_bad_filter_points_at_token(self, store: SqlStore) -> None:
        with pytest.raises(FilterError) as err:
            store.runs.search_runs(filter="metrics.f1 > 0.8 and params.model = rf")
        assert err.value.position == len("metrics.f1 > 0.8 and params.model = ")
        assert "put strings in quotes" in str(err.value)
        assert str(err.value).splitlines()[-1].index("^") == 2 + err.value.position
