"""A window's realised performance: lm.evaluate's metrics (by the same code) on the labelled rows, probability
metrics from the logged proba.* columns, label coverage, and the comparison with a stored evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, mean_absolute_error, roc_auc_score

from loopml.monitoring._performance import LABEL, Task, attach_labels, compare, new_classes, realised


def _window(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p1 = rng.uniform(size=n)
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "output": (p1 > 0.5).astype(int),
            "proba.0": 1 - p1,
            "proba.1": p1,
        }
    )


BINARY = Task("classification", classes=(0, 1), positive="1")


def test_binary_metrics_match_scikit_learn_on_the_labelled_rows() -> None:
    frame = _window()
    rng = np.random.default_rng(1)
    truth = (frame["proba.1"] + rng.normal(0, 0.3, len(frame)) > 0.5).astype(int)
    labels = {rid: int(y) for rid, y in zip(frame["request_id"][:150], truth[:150], strict=True)}
    out = realised(attach_labels(frame, labels), BINARY)

    assert out["labelled_rows"] == 150 and out["label_coverage"] == pytest.approx(0.75)
    y, pred, proba = truth[:150], frame["output"][:150], frame[["proba.0", "proba.1"]][:150].to_numpy()
    assert out["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert out["f1"] == pytest.approx(f1_score(y, pred))
    assert out["roc_auc"] == pytest.approx(roc_auc_score(y, proba[:, 1]))
    assert out["log_loss"] == pytest.approx(log_loss(y, proba))
    assert out["calibration_error"] is not None


def test_labels_sent_as_text_are_the_classes_they_name() -> None:
    frame = _window(50)
    labels = {rid: str(int(p)) for rid, p in zip(frame["request_id"], frame["output"], strict=True)}
    out = realised(attach_labels(frame, labels), BINARY)
    assert out["accuracy"] == 1.0


def test_no_labels_yet_gives_coverage_only() -> None:
    out = realised(attach_labels(_window(20), {}), BINARY)
    assert out == {"labelled_rows": 0.0, "label_coverage": 0.0}
    empty = realised(attach_labels(_window(0), {}), BINARY)
    assert empty == {"labelled_rows": 0.0, "label_coverage": None}


def test_missing_probabilities_leave_the_probability_metrics_out() -> None:
    frame = _window(40)
    frame.loc[3, "proba.1"] = None
    labels = dict.fromkeys(frame["request_id"], 1)
    out = realised(attach_labels(frame, labels), BINARY)
    assert "accuracy" in out and "roc_auc" not in out and "log_loss" not in out


def test_multiclass_uses_evaluates_names() -> None:
    frame = pd.DataFrame({"request_id": ["a", "b", "c", "d"], "output": ["cat", "dog", "owl", "cat"]})
    task = Task("classification", classes=("cat", "dog", "owl"))
    out = realised(attach_labels(frame, {"a": "cat", "b": "dog", "c": "cat", "d": "cat"}), task)
    assert out["accuracy"] == 0.75 and {"f1_macro", "f1_weighted"} <= set(out) and "f1" not in out


def test_regression() -> None:
    frame = pd.DataFrame({"request_id": ["a", "b", "c"], "output": [1.0, 2.0, 4.0]})
    out = realised(attach_labels(frame, {"a": 1.5, "b": 2.0, "c": 3.0}), Task("regression"))
    assert out["mae"] == pytest.approx(mean_absolute_error([1.5, 2.0, 3.0], [1.0, 2.0, 4.0]))
    assert {"rmse", "r2", "mape"} <= set(out)


def test_a_batch_request_gives_its_label_to_every_row() -> None:
    frame = pd.DataFrame({"request_id": ["a", "a", "b"], "output": [1, 0, 1]})
    labelled = attach_labels(frame, {"a": 1})
    assert labelled[LABEL].tolist()[:2] == [1, 1] and pd.isna(labelled[LABEL].iloc[2])


def test_compare_and_new_classes() -> None:
    got = compare({"f1": 0.7, "accuracy": None, "label_coverage": 0.5}, {"f1": 0.9, "accuracy": 0.9})
    assert got == {"f1": {"window": 0.7, "reference": 0.9, "delta": pytest.approx(-0.2)}}
    assert new_classes([0, 1, 2, "3", 1], BINARY) == 2
