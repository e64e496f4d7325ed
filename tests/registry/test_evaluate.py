"""evaluate: metrics of real scikit-learn models on generated data, slices, latency, the JSON round trip."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, mean_absolute_error, r2_score, roc_auc_score
from sklearn.svm import LinearSVC

import loopml as lm
from loopml.errors import InvalidArgumentError
from loopml.registry._evaluate import LATENCY_KEYS, Evaluation, evaluate

FEATURES = [f"x{i}" for i in range(5)]


def binary_data(n: int = 600, seed: int = 0) -> pd.DataFrame:
    x, y = make_classification(n_samples=n, n_features=5, n_informative=3, random_state=seed)
    df = pd.DataFrame(x, columns=FEATURES)
    df["region"] = np.where(x[:, 0] > 0, "north", "south")
    df["y"] = y
    return df


def multiclass_data(n: int = 600) -> pd.DataFrame:
    x, y = make_classification(
        n_samples=n, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=1
    )
    df = pd.DataFrame(x, columns=FEATURES)
    df["y"] = np.array(["cat", "dog", "owl"])[y]
    return df


def regression_data(n: int = 400) -> pd.DataFrame:
    x, y = make_regression(n_samples=n, n_features=5, noise=10.0, random_state=2)
    df = pd.DataFrame(x, columns=FEATURES)
    df["shop"] = np.where(x[:, 1] > 0, "a", "b")
    df["y"] = y + 500.0  # keeps MAPE meaningful
    return df


def fitted(model: Any, df: pd.DataFrame) -> Any:
    return model.fit(df[FEATURES], df["y"])


def test_binary_classification_metrics_match_scikit_learn() -> None:
    df = binary_data()
    model = fitted(LogisticRegression(), df)
    ev = evaluate(model, df, target="y")

    assert ev.task == "classification" and ev.target == "y" and ev.n_rows == len(df)
    pred, proba = model.predict(df[FEATURES]), model.predict_proba(df[FEATURES])
    assert ev.metrics["accuracy"] == pytest.approx(accuracy_score(df["y"], pred))
    assert ev.metrics["f1"] == pytest.approx(f1_score(df["y"], pred))
    assert ev.metrics["roc_auc"] == pytest.approx(roc_auc_score(df["y"], proba[:, 1]))
    assert ev.metrics["log_loss"] == pytest.approx(log_loss(df["y"], proba))
    assert {"precision", "recall", "calibration_error"} <= set(ev.metrics)
    assert 0 <= ev.metrics["calibration_error"] <= 1
    assert ev.positive_label == "1"

    assert ev.confusion_matrix is not None
    assert ev.confusion_matrix.labels == ("0", "1")
    assert sum(map(sum, ev.confusion_matrix.matrix)) == len(df)
    assert ev.confusion_matrix.matrix[1][1] == int(((pred == 1) & (df["y"] == 1)).sum())

    assert ev.calibration is not None
    assert sum(b.count for b in ev.calibration) == len(df)
    for b in ev.calibration:
        assert b.lower <= b.mean_predicted <= b.upper and 0 <= b.observed_rate <= 1


def test_multiclass_names_weighted_metrics_clearly() -> None:
    df = multiclass_data()
    model = fitted(LogisticRegression(max_iter=500), df)
    ev = evaluate(model, df, target="y")

    pred = model.predict(df[FEATURES])
    assert ev.metrics["f1_weighted"] == pytest.approx(f1_score(df["y"], pred, average="weighted"))
    assert ev.metrics["f1_macro"] == pytest.approx(f1_score(df["y"], pred, average="macro"))
    expected = {"accuracy", "precision_weighted", "recall_weighted", "roc_auc_ovr_weighted", "log_loss"}
    assert expected <= set(ev.metrics)
    assert "f1" not in ev.metrics and "roc_auc" not in ev.metrics
    assert ev.positive_label is None and ev.calibration is None
    assert ev.confusion_matrix is not None and ev.confusion_matrix.labels == ("cat", "dog", "owl")
    assert len(ev.confusion_matrix.matrix) == 3 and sum(map(sum, ev.confusion_matrix.matrix)) == len(df)


def test_regression_metrics_and_inferred_task() -> None:
    df = regression_data()
    model = fitted(LinearRegression(), df)
    ev = evaluate(model, df, target="y", slices=["shop"])

    assert ev.task == "regression"
    pred = model.predict(df[FEATURES])
    assert ev.metrics["mae"] == pytest.approx(mean_absolute_error(df["y"], pred))
    assert ev.metrics["rmse"] == pytest.approx(float(np.sqrt(np.mean((pred - df["y"]) ** 2))))
    assert ev.metrics["r2"] == pytest.approx(r2_score(df["y"], pred))
    assert ev.metrics["mape"] == pytest.approx(float(np.mean(np.abs((pred - df["y"]) / df["y"]))))
    assert ev.confusion_matrix is None and ev.calibration is None
    shops = ev.slices["shop"]
    assert set(shops) == {"a", "b"}
    assert sum(s["n_rows"] for s in shops.values()) == len(df)
    assert {"mae", "rmse", "r2", "mape"} <= set(shops["a"])


def test_classifier_without_predict_proba() -> None:
    df = binary_data()
    ev = evaluate(fitted(LinearSVC(), df), df, target="y")
    assert ev.task == "classification"
    assert {"accuracy", "precision", "recall", "f1"} <= set(ev.metrics)
    assert not {"roc_auc", "log_loss", "calibration_error"} & set(ev.metrics)
    assert ev.calibration is None


def test_a_registered_regressor_and_classifier_through_lm_evaluate() -> None:
    # a loaded bundle always has a predict_proba method; only the model behind it says whether it works
    df = regression_data()
    lm.register_model("price", fitted(LinearRegression(), df), input_example=df[FEATURES].head())
    ev = lm.evaluate("price:1", df, target="y")
    assert ev.task == "regression" and ev.metrics["mae"] > 0
    binary = binary_data()
    lm.register_model("churn", fitted(LogisticRegression(), binary), input_example=binary[FEATURES].head())
    assert "roc_auc" in lm.evaluate("churn:1", binary, target="y").metrics


def test_slices_hold_the_metrics_of_each_value() -> None:
    df = binary_data()
    # region is not a model input: the estimator's feature_names_in_ picks its inputs
    model = fitted(LogisticRegression(), df)
    ev = evaluate(model, df, target="y", slices=["region"])

    regions = ev.slices["region"]
    assert set(regions) == {"north", "south"}
    north = df[df["region"] == "north"]
    assert regions["north"]["n_rows"] == len(north)
    assert regions["north"]["f1"] == pytest.approx(f1_score(north["y"], model.predict(north[FEATURES])))
    assert "calibration_error" in regions["north"]


def test_slice_with_one_class_leaves_undefined_metrics_out() -> None:
    df = binary_data()
    df["group"] = np.where(df["y"] == 1, "ones", "zeros")
    df.loc[df.index[:5], "group"] = None
    ev = evaluate(fitted(LogisticRegression(), df), df, target="y", slices=["group"])
    groups = ev.slices["group"]
    assert set(groups) == {"ones", "zeros", "<missing>"}
    assert "roc_auc" not in groups["ones"] and "accuracy" in groups["ones"]
    assert "roc_auc" in ev.metrics


def test_explicit_predict_and_features() -> None:
    df = binary_data()
    model = LogisticRegression().fit(df[FEATURES].to_numpy(), df["y"])
    ev = evaluate(
        None,
        df,
        target="y",
        features=FEATURES,
        predict=lambda x: model.predict(x.to_numpy()),
        predict_proba=lambda x: model.predict_proba(x.to_numpy()),
        slices=["region"],
    )
    assert "roc_auc" in ev.metrics and set(ev.slices["region"]) == {"north", "south"}


def test_string_labels_and_pos_label() -> None:
    df = binary_data()
    df["y"] = np.where(df["y"] == 1, "churn", "stay")
    model = fitted(LogisticRegression(), df)
    default = evaluate(model, df, target="y")
    assert default.positive_label == "stay"  # the larger label
    churn = evaluate(model, df, target="y", pos_label="churn")
    assert churn.positive_label == "churn"
    pred = model.predict(df[FEATURES])
    assert churn.metrics["f1"] == pytest.approx(f1_score(df["y"], pred, pos_label="churn"))
    assert churn.metrics["roc_auc"] == pytest.approx(default.metrics["roc_auc"])


def test_latency_keys_are_present_and_positive() -> None:
    df = binary_data(n=300)
    ev = evaluate(fitted(LogisticRegression(), df), df, target="y", batch_size=100, repeats=3)
    assert set(ev.latency) == set(LATENCY_KEYS)
    assert ev.latency["batch_rows"] == 100
    assert all(value > 0 for value in ev.latency.values())


def test_batch_larger_than_data_uses_every_row() -> None:
    df = regression_data(n=50)
    ev = evaluate(fitted(LinearRegression(), df), df, target="y", batch_size=1000, repeats=1)
    assert ev.latency["batch_rows"] == 50


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_json_round_trip(kind: str) -> None:
    data = {"binary": binary_data, "multiclass": multiclass_data, "regression": regression_data}[kind]()
    df, model = data, LinearRegression() if kind == "regression" else LogisticRegression(max_iter=500)
    slices = ["region"] if "region" in df else []
    ev = evaluate(fitted(model, df), df, target="y", slices=slices)
    doc = json.loads(json.dumps(ev.to_json(), allow_nan=False))
    assert Evaluation.from_json(doc) == ev


def test_from_json_refuses_what_it_cannot_read() -> None:
    with pytest.raises(InvalidArgumentError, match="format"):
        Evaluation.from_json({"format": "something/9"})
    with pytest.raises(InvalidArgumentError, match="malformed"):
        Evaluation.from_json({"task": "regression"})


def test_integer_target_with_few_values_is_classification_and_many_is_regression() -> None:
    df = regression_data()
    df["y"] = df["y"].round().astype(int)
    ev = evaluate(fitted(LinearRegression(), df), df, target="y")
    assert ev.task == "regression"
    forced = evaluate(fitted(LinearRegression(), df), df, target="y", task="regression")
    assert forced.metrics == pytest.approx(ev.metrics)


class NoPredict:
    def fit(self) -> None:  # pragma: no cover - never called
        pass


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (None, {"target": "label"}, "target column 'label' is not in data"),
        ("empty", {}, "no rows"),
        (None, {"task": "ranking"}, "unknown task 'ranking'"),
        (None, {"slices": ["country"]}, "slice column 'country' is not in data"),
        (None, {"slices": "region"}, "list of column names"),
        ("no-predict", {}, "has no predict method"),
        ("text-target", {"task": "regression"}, "must be numbers for a regression"),
        ("missing-target", {}, "missing values"),
        (None, {"repeats": 0}, "repeats must be 1 or more"),
        (None, {"features": ["x0", "nope"]}, "feature columns"),
    ],
)
def test_bad_input_says_what_to_do(change: str | None, kwargs: dict[str, Any], message: str) -> None:
    df = binary_data(n=120)
    model: Any = fitted(LogisticRegression(), df)
    if change == "empty":
        df = df.iloc[:0]
    elif change == "no-predict":
        model = NoPredict()
    elif change == "text-target":
        df["y"] = np.where(df["y"] == 1, "yes", "no")
    elif change == "missing-target":
        df["y"] = df["y"].astype(float)
        df.loc[df.index[0], "y"] = np.nan
    options: dict[str, Any] = {"target": "y", **kwargs}
    with pytest.raises(InvalidArgumentError, match=message):
        evaluate(model, df, **options)
