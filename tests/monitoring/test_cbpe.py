"""CBPE: estimated performance from calibrated probabilities, checked against the realised metrics."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

from loopml.errors import InvalidArgumentError, UnsupportedOperationError
from loopml.monitoring import CBPE
from loopml.monitoring._cbpe import estimated_roc_auc, expected_calibration_error, needs_calibration

TOLERANCE = 0.03  # 5,000 rows: the realised metrics' own sampling error is about 0.01


def _binary(rng: np.random.Generator, n: int, spread: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated by construction: each row is positive with exactly the probability the model gives."""
    x = rng.normal(0.0, spread, n)
    p = 1.0 / (1.0 + np.exp(-2.0 * x))
    y = (rng.random(n) < p).astype(int)
    return np.c_[1.0 - p, p], y


def _realised(proba: np.ndarray, y: np.ndarray, positive: int = 1) -> dict[str, float]:
    predicted = proba.argmax(axis=1)
    return {
        "accuracy": skm.accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, pos_label=positive, zero_division=0),
        "recall": skm.recall_score(y, predicted, pos_label=positive),
        "f1": skm.f1_score(y, predicted, pos_label=positive),
        "roc_auc": skm.roc_auc_score(y == positive, proba[:, positive]),
    }


def _close(estimate: dict[str, float], realised: dict[str, float], tolerance: float = TOLERANCE) -> None:
    assert set(estimate) == set(realised)
    for name, value in realised.items():
        assert estimate[name] == pytest.approx(value, abs=tolerance), name


class TestBinary:
    def test_calibrated_scores_give_the_realised_metrics(self) -> None:
        rng = np.random.default_rng(1)
        cbpe = CBPE([0, 1]).fit(*_binary(rng, 5000))
        assert cbpe.calibrated == {"1": False}  # already calibrated: left as the model gives them
        proba, y = _binary(rng, 5000)
        _close(cbpe.estimate(proba), _realised(proba, y))

    def test_a_covariate_shift_towards_the_boundary_is_seen_as_the_drop_it_causes(self) -> None:
        rng = np.random.default_rng(2)
        cbpe = CBPE([0, 1]).fit(*_binary(rng, 5000))
        before_proba, before_y = _binary(rng, 5000)
        after_proba, after_y = _binary(rng, 5000, spread=0.4)  # P(x) moves, P(y | x) stays
        before, after = cbpe.estimate(before_proba), cbpe.estimate(after_proba)
        realised_before, realised_after = _realised(before_proba, before_y), _realised(after_proba, after_y)
        assert realised_before["accuracy"] - realised_after["accuracy"] > 0.15
        _close(after, realised_after)
        drop, realised_drop = (
            before["accuracy"] - after["accuracy"],
            (realised_before["accuracy"] - realised_after["accuracy"]),
        )
        assert drop == pytest.approx(realised_drop, abs=TOLERANCE)

    def test_miscalibrated_scores_are_calibrated_first(self) -> None:
        rng = np.random.default_rng(3)
        squash = lambda proba: np.c_[1 - proba[:, 1] ** 3, proba[:, 1] ** 3]  # noqa: E731 - same ranking, wrong sizes
        ref_proba, ref_y = _binary(rng, 5000)
        cbpe = CBPE([0, 1]).fit(squash(ref_proba), ref_y)
        assert cbpe.calibrated == {"1": True}
        proba, y = _binary(rng, 5000)
        raw = squash(proba)
        estimate = cbpe.estimate(raw, predictions=proba.argmax(axis=1))  # the model answered before squashing
        truth = _realised(proba, y)
        truth["roc_auc"] = skm.roc_auc_score(y, raw[:, 1])
        _close(estimate, truth)
        uncalibrated = CBPE([0, 1])
        uncalibrated._calibrators = [None]
        naive = uncalibrated.estimate(raw, predictions=proba.argmax(axis=1))
        assert abs(naive["precision"] - truth["precision"]) > 0.1  # without calibration it would be far off

    def test_the_calibration_is_scikit_learns_isotonic_regression(self) -> None:
        rng = np.random.default_rng(4)
        ref_proba, ref_y = _binary(rng, 3000)
        squashed = np.c_[1 - ref_proba[:, 1] ** 3, ref_proba[:, 1] ** 3]
        cbpe = CBPE([0, 1]).fit(squashed, ref_y)
        model = IsotonicRegression(out_of_bounds="clip").fit(squashed[:, 1], ref_y)
        grid = np.r_[np.linspace(0, 1, 101), -0.0, 1.0]
        calibrated = cbpe.calibrate(np.c_[1 - grid, grid])
        np.testing.assert_allclose(calibrated[:, 1], model.predict(grid), atol=1e-12)
        np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)

    def test_certain_probabilities_give_exactly_the_realised_confusion_matrix(self) -> None:
        """With p in {0, 1} the expected counts are the counts, and ties in the score are one ROC step."""
        y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
        score = np.array([0.9, 0.9, 0.8, 0.3, 0.3, 0.2, 0.6, 0.7])
        assert estimated_roc_auc(y.astype(float), score) == pytest.approx(skm.roc_auc_score(y, score))
        assert estimated_roc_auc(np.ones(4), np.array([0.1, 0.2, 0.3, 0.4])) is None

    def test_the_positive_class_is_evaluates_and_can_be_named(self) -> None:
        rng = np.random.default_rng(5)
        ref_proba, ref_y = _binary(rng, 4000)
        labels = np.where(ref_y == 1, "yes", "no")
        assert CBPE(["no", "yes"]).positive_label == "yes"
        cbpe = CBPE(["no", "yes"], positive_label="no").fit(ref_proba, labels)
        proba, y = _binary(rng, 4000)
        realised = _realised(proba, y, positive=0)
        realised["roc_auc"] = skm.roc_auc_score(y == 0, proba[:, 0])
        _close(cbpe.estimate(proba), realised)

    def test_frames_name_their_columns_after_the_classes_in_any_order(self) -> None:
        rng = np.random.default_rng(6)
        proba, y = _binary(rng, 500)
        cbpe = CBPE([0, 1]).fit(proba, y)
        frame = pd.DataFrame({"proba.1": proba[:, 1], "proba.0": proba[:, 0]})
        assert cbpe.estimate(frame) == cbpe.estimate(proba)
        assert cbpe.estimate(pd.DataFrame({"0": proba[:, 0], "1": proba[:, 1]})) == cbpe.estimate(proba)
        labels_as_text = pd.Series(y.astype(str))  # labels read back from the log are text
        assert CBPE([0, 1]).fit(proba, labels_as_text).estimate(proba) == cbpe.estimate(proba)

    def test_no_rows_estimate_nothing_and_a_stored_cbpe_estimates_the_same(self) -> None:
        rng = np.random.default_rng(7)
        ref = _binary(rng, 2000)
        cbpe = CBPE([0, 1]).fit(np.c_[1 - ref[0][:, 1] ** 2, ref[0][:, 1] ** 2], ref[1])
        assert cbpe.estimate(np.zeros((0, 2))) == {}
        proba, _ = _binary(rng, 300)
        again = CBPE.from_dict(json.loads(json.dumps(cbpe.to_dict())))
        assert again.estimate(proba) == cbpe.estimate(proba)
        assert again.calibrated == cbpe.calibrated


class TestMulticlass:
    @staticmethod
    def _simulate(rng: np.random.Generator, n: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(0.0, scale, (n, 2))
        logits = x @ np.array([[2.0, -1.0, -1.0], [0.0, 1.5, -1.5]])
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = np.array([rng.choice(3, p=row) for row in proba])
        return proba, y

    def test_the_multiclass_metrics_under_lm_evaluates_names(self) -> None:
        rng = np.random.default_rng(8)
        classes = ["a", "b", "c"]
        ref_proba, ref_y = self._simulate(rng, 5000)
        cbpe = CBPE(classes).fit(ref_proba, np.asarray(classes)[ref_y])
        for scale in (1.0, 0.5):  # and after a covariate shift
            proba, y = self._simulate(rng, 5000, scale)
            predicted = proba.argmax(axis=1)
            realised = {
                "accuracy": skm.accuracy_score(y, predicted),
                "precision_weighted": skm.precision_score(y, predicted, average="weighted"),
                "recall_weighted": skm.recall_score(y, predicted, average="weighted"),
                "f1_weighted": skm.f1_score(y, predicted, average="weighted"),
                "f1_macro": skm.f1_score(y, predicted, average="macro"),
                "roc_auc_ovr_weighted": skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted"),
            }
            _close(cbpe.estimate(proba), realised)

    def test_rows_stay_probabilities_after_calibrating_some_classes(self) -> None:
        rng = np.random.default_rng(9)
        proba, y = self._simulate(rng, 3000)
        bent = proba.copy()
        bent[:, 0] = proba[:, 0] ** 2
        bent[:, 1:] *= ((1 - bent[:, 0]) / proba[:, 1:].sum(axis=1))[:, None]
        cbpe = CBPE([0, 1, 2]).fit(bent, y)
        assert cbpe.calibrated["0"] is True
        np.testing.assert_allclose(cbpe.calibrate(bent).sum(axis=1), 1.0)
        with pytest.raises(InvalidArgumentError, match="binary"):
            CBPE([0, 1, 2], positive_label=0)


class TestCalibrationRule:
    def test_expected_calibration_error_by_hand(self) -> None:
        # 8 rows, 4 bins of 2 (fewer than 2 x 10 rows): |0.15-0| + |0.35-0.5| + |0.55-0.5| + |0.85-1| over 4
        p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 0.9])
        y = np.array([0, 0, 1, 0, 0, 1, 1, 1])
        assert expected_calibration_error(p, y) == pytest.approx((0.15 + 0.15 + 0.05 + 0.15) / 4)

    def test_separated_or_single_class_scores_are_left_alone(self) -> None:
        p = np.linspace(0.01, 0.99, 100)
        assert not needs_calibration(p, p > 0.5)  # ROC AUC 1: nothing to gain
        assert not needs_calibration(p, np.zeros(100, dtype=bool))


class TestBadInput:
    @pytest.fixture
    def fitted(self) -> CBPE:
        proba, y = _binary(np.random.default_rng(10), 200)
        return CBPE([0, 1]).fit(proba, y)

    @pytest.mark.parametrize(
        ("proba", "message"),
        [
            (np.array([[0.5, 0.6], [0.2, 0.8]]), "do not sum to 1"),
            (np.array([[0.5, 0.5, 0.0]]), r"shape \(1, 3\); expected \(rows, 2\)"),
            (np.array([0.5, 0.5]), r"shape \(2,\)"),
            (np.array([[np.nan, 1.0]]), "missing or infinite"),
            (np.array([[-1.0, 2.0]]), r"outside \[0, 1\]"),
            (pd.DataFrame({"x": [0.5], "y": [0.5]}), "no column for the classes"),
            ([["a", "b"]], "must be numbers"),
        ],
    )
    def test_probabilities_that_are_not(self, fitted: CBPE, proba: Any, message: str) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            fitted.estimate(proba)

    def test_a_reference_it_cannot_learn_from(self) -> None:
        proba, y = _binary(np.random.default_rng(11), 100)
        with pytest.raises(InvalidArgumentError, match="at least two classes"):
            CBPE([0, 1]).fit(proba, np.ones(100, dtype=int))
        with pytest.raises(InvalidArgumentError, match="at least 20"):
            CBPE([0, 1]).fit(proba[:10], y[:10])
        with pytest.raises(InvalidArgumentError, match="one label per row"):
            CBPE([0, 1]).fit(proba, y[:50])
        with pytest.raises(InvalidArgumentError, match=r"not classes of the model \(2"):
            CBPE([0, 1]).fit(proba, np.where(y == 1, 2, 0))

    def test_classes_and_order_of_calls(self, fitted: CBPE) -> None:
        with pytest.raises(InvalidArgumentError, match="two or more classes"):
            CBPE(["only"])
        with pytest.raises(InvalidArgumentError, match="list of class labels"):
            CBPE("ab")
        with pytest.raises(InvalidArgumentError, match="repeat"):
            CBPE([1, "1"])
        with pytest.raises(InvalidArgumentError, match="not one of the classes"):
            CBPE([0, 1], positive_label=2)
        with pytest.raises(UnsupportedOperationError, match="call fit"):
            CBPE([0, 1]).estimate(np.array([[0.5, 0.5]]))
        with pytest.raises(InvalidArgumentError, match="one label per row"):
            fitted.estimate(np.array([[0.5, 0.5]]), predictions=[0, 1])
        with pytest.raises(InvalidArgumentError, match="format"):
            CBPE.from_dict({"format": "other"})
