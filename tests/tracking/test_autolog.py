"""lm.autolog(): scikit-learn fits inside a run record their params, training metrics and model."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import loopml as lm
from loopml.tracking import _autolog
from loopml.tracking._autolog import AutologWarning


class MyModel(LogisticRegression):
    """A user's own estimator, inheriting fit."""


@pytest.fixture(autouse=True)
def _autolog_off_afterwards() -> Iterator[None]:
    yield
    lm.autolog(disable=True)


@pytest.fixture
def classification() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=120, n_features=5, random_state=0)


def history_len(run_id: str, key: str) -> int:
    return len(lm.get_metric_history(run_id, key))


class TestRecords:
    def test_a_classifier_fit_records_params_metrics_and_model(
        self, classification: tuple[np.ndarray, np.ndarray], tmp_path: Path
    ) -> None:
        X, y = classification
        lm.autolog()
        with lm.start_run() as run:
            model = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
        got = lm.get_run(run.id)
        assert got.params["C"] == "0.5" and got.params["max_iter"] == "200"
        assert set(got.params) == set(LogisticRegression().get_params(deep=False))
        assert got.tags["estimator_name"] == "LogisticRegression"
        assert got.tags["estimator_class"].endswith(".LogisticRegression")
        assert got.metrics["training_accuracy_score"] == pytest.approx(model.score(X, y))
        for key in ("precision_score", "recall_score", "f1_score", "log_loss", "roc_auc", "score"):
            assert 0 <= got.metrics[f"training_{key}"] <= 1 or key == "log_loss", key
        assert [a.path for a in got.artifacts] == ["model/model.joblib"]
        loaded = joblib.load(lm.download_artifact(run.id, "model/model.joblib", tmp_path))
        assert (loaded.predict(X) == model.predict(X)).all()

    def test_a_multiclass_classifier_gets_a_weighted_roc_auc(self) -> None:
        X, y = make_classification(n_samples=150, n_features=6, n_informative=4, n_classes=3, random_state=1)
        lm.autolog()
        with lm.start_run() as run:
            LogisticRegression(max_iter=500).fit(X, y)
        metrics = lm.get_run(run.id).metrics
        assert 0.5 < metrics["training_roc_auc"] <= 1 and metrics["training_log_loss"] > 0

    def test_a_regressor_fit_records_r2_mse_mae(self) -> None:
        X, y = make_regression(n_samples=80, n_features=3, noise=5.0, random_state=0)
        lm.autolog()
        with lm.start_run() as run:
            LinearRegression().fit(X, y)
        metrics = lm.get_run(run.id).metrics
        assert (
            0.9 < metrics["training_r2_score"] <= 1
            and metrics["training_score"] == metrics["training_r2_score"]
        )
        assert metrics["training_mean_squared_error"] > 0 and metrics["training_mean_absolute_error"] > 0
        assert metrics["training_root_mean_squared_error"] == pytest.approx(
            metrics["training_mean_squared_error"] ** 0.5
        )

    def test_an_unsupervised_fit_records_params_and_model_only(self) -> None:
        X, _ = make_classification(n_samples=60, n_features=4, random_state=0)
        lm.autolog()
        with lm.start_run() as run:
            KMeans(n_clusters=3, n_init=2, random_state=0).fit(X)
        got = lm.get_run(run.id)
        assert got.params["n_clusters"] == "3" and got.metrics == {}
        assert [a.path for a in got.artifacts] == ["model/model.joblib"]

    def test_log_models_false_keeps_the_model_out(
        self, classification: tuple[np.ndarray, np.ndarray]
    ) -> None:
        lm.autolog(log_models=False)
        with lm.start_run() as run:
            LogisticRegression().fit(*classification)
        got = lm.get_run(run.id)
        assert got.artifacts == [] and "training_accuracy_score" in got.metrics

    def test_a_subclass_records_under_its_own_name(
        self, classification: tuple[np.ndarray, np.ndarray]
    ) -> None:
        lm.autolog()
        with lm.start_run() as run:
            MyModel().fit(*classification)
        assert lm.get_run(run.id).tags["estimator_name"] == "MyModel"


class TestOnlyTheOutermostFit:
    def test_a_grid_search_is_one_record_with_its_best_params(
        self, classification: tuple[np.ndarray, np.ndarray]
    ) -> None:
        lm.autolog()
        with lm.start_run() as run:
            search = GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.1, 1.0]}, cv=3).fit(
                *classification
            )
        got = lm.get_run(run.id)
        assert got.tags["estimator_name"] == "GridSearchCV" and got.params["cv"] == "3"
        assert got.params["best_C"] == str(search.best_params_["C"])
        assert got.metrics["best_cv_score"] == pytest.approx(search.best_score_)
        assert history_len(run.id, "training_accuracy_score") == 1
        assert "max_iter" not in got.params  # the inner estimator's own params were not logged

    def test_a_pipeline_is_one_record(self, classification: tuple[np.ndarray, np.ndarray]) -> None:
        lm.autolog()
        with lm.start_run() as run:
            Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(*classification)
        got = lm.get_run(run.id)
        assert got.tags["estimator_name"] == "Pipeline" and "steps" in got.params
        assert history_len(run.id, "training_accuracy_score") == 1 and len(got.artifacts) == 1


class TestSwitching:
    def test_outside_a_run_nothing_is_recorded(self, classification: tuple[np.ndarray, np.ndarray]) -> None:
        lm.autolog()
        model = LogisticRegression().fit(*classification)
        assert hasattr(model, "coef_") and lm.search_runs() == []

    def test_disable_restores_the_original_methods(
        self, classification: tuple[np.ndarray, np.ndarray]
    ) -> None:
        original = LogisticRegression.__dict__["fit"]
        lm.autolog()
        assert LogisticRegression.__dict__["fit"] is not original and _autolog.is_enabled()
        lm.autolog(disable=True)
        assert LogisticRegression.__dict__["fit"] is original and not _autolog.is_enabled()
        with lm.start_run() as run:
            LogisticRegression().fit(*classification)
        assert lm.get_run(run.id).params == {}

    def test_enabling_twice_patches_once(self, classification: tuple[np.ndarray, np.ndarray]) -> None:
        original = LogisticRegression.__dict__["fit"]
        lm.autolog()
        lm.autolog()
        assert LogisticRegression.__dict__["fit"].__wrapped__ is original
        with lm.start_run() as run:
            LogisticRegression().fit(*classification)
        assert history_len(run.id, "training_accuracy_score") == 1


class TestNeverBreaksTheFit:
    def test_two_fits_in_one_run_warn_and_keep_the_first_params(
        self, classification: tuple[np.ndarray, np.ndarray], tmp_path: Path
    ) -> None:
        X, y = classification
        lm.autolog()
        with lm.start_run() as run:
            LogisticRegression(C=1.0).fit(X, y)
            with pytest.warns(AutologWarning, match="kept the earlier C"):
                second = LogisticRegression(C=0.01).fit(X, y)
        got = lm.get_run(run.id)
        assert got.params["C"] == "1.0"
        assert [m.step for m in lm.get_metric_history(run.id, "training_accuracy_score")] == [0, 1]
        latest = joblib.load(lm.download_artifact(run.id, "model/model.joblib", tmp_path))
        assert latest.C == second.C

    def test_a_failing_fit_raises_as_usual_and_the_next_one_records(
        self, classification: tuple[np.ndarray, np.ndarray]
    ) -> None:
        lm.autolog()
        with lm.start_run() as run:
            with pytest.raises(ValueError):
                LogisticRegression().fit(np.array([[np.nan]]), [1])
            LogisticRegression().fit(*classification)
        assert "training_accuracy_score" in lm.get_run(run.id).metrics

    def test_trouble_recording_is_a_warning(
        self, classification: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: object, **kwargs: object) -> dict[str, float]:
            raise RuntimeError("metrics unavailable")

        monkeypatch.setattr(_autolog, "training_metrics", broken)
        lm.autolog()
        with lm.start_run(), pytest.warns(AutologWarning, match="metrics unavailable"):
            model = LogisticRegression().fit(*classification)
        assert hasattr(model, "coef_")


def test_each_tuning_trial_records_its_own_fit(classification: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = classification
    lm.autolog()
    result = lm.tune(
        lambda p: 1 - LogisticRegression(C=p["C"]).fit(X, y).score(X, y), {"C": (0.01, 10.0)}, n_trials=3
    )
    for trial in result.trials:
        got = lm.get_run(trial.run_id)
        assert got.params["C"] == str(trial.params["C"]) and "training_accuracy_score" in got.metrics
    assert "estimator_name" not in lm.get_run(result.study_run_id).tags


def test_importing_loopml_tracking_does_not_load_sklearn() -> None:
    code = "import sys, loopml, loopml.tracking; loopml.autolog; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
