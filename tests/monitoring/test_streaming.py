"""What a window adds up batch by batch: percentiles, ROC AUC from score bins, CBPE's expected confusion and
the realised metrics, each against the computation on all rows at once: the same values while few rows
came, the count-based metrics exactly equal past that, the others within their stated bounds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from loopml.monitoring._cbpe import CBPE
from loopml.monitoring._performance import LABEL, Estimator, PerformanceStream, Task, realised
from loopml.monitoring._streaming import QUANTILE_ERROR, Quantiles, ScoreBins

COUNTED = (
    "labelled_rows",
    "label_coverage",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "f1_macro",
)
AUCS = ("roc_auc", "roc_auc_ovr_weighted")


def _batches(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size].reset_index(drop=True)


def _softmax(scores: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _classified(
    n: int, classes: list[Any], rng: np.random.Generator, unlabelled: float = 0.2
) -> pd.DataFrame:
    """A window of a classifier's log: prediction (the most probable class), probabilities and labels drawn
    from slightly miscalibrated probabilities, some rows without a label."""
    k = len(classes)
    proba = _softmax(rng.normal(0, 1.5, (n, k)))
    true = np.array([rng.choice(k, p=_softmax(np.log(p)[None, :] * 0.8)[0]) for p in proba])
    labels = np.asarray(classes, dtype=object)[true]
    labels[rng.uniform(size=n) < unlabelled] = None
    frame = pd.DataFrame({"output": np.asarray(classes)[proba.argmax(axis=1)], LABEL: labels})
    for i, c in enumerate(classes):
        frame[f"proba.{c}"] = proba[:, i]
    return frame


class TestQuantiles:
    def test_exact_while_few_values_came(self) -> None:
        values = np.random.default_rng(0).lognormal(1.0, 1.0, 5000)
        found = Quantiles(exact_limit=10_000)
        for start in range(0, len(values), 700):
            found.add(values[start : start + 700])
        assert found.exact
        for q in (0, 1, 50, 99, 100):
            assert found.percentile(q) == np.percentile(values, q)

    def test_within_half_a_percent_once_bucketed(self) -> None:
        rng = np.random.default_rng(1)
        values = np.concatenate([rng.lognormal(1.0, 1.2, 60_000), np.zeros(50), [np.nan, np.inf]])
        rng.shuffle(values)
        found = Quantiles(exact_limit=1000)
        for start in range(0, len(values), 4096):
            found.add(values[start : start + 4096])
        assert not found.exact and found.count == 60_050
        finite = values[np.isfinite(values)]
        for q in (0, 0.05, 0.1, 1, 25, 50, 90, 99, 99.9, 100):
            exact = float(np.percentile(finite, q))
            assert found.percentile(q) == pytest.approx(exact, rel=QUANTILE_ERROR, abs=1e-12)

    def test_nothing_has_no_percentile(self) -> None:
        assert Quantiles().percentile(50) is None


class TestScoreBins:
    def test_the_auc_lies_within_its_bound(self) -> None:
        rng = np.random.default_rng(2)
        y = rng.uniform(size=200_000) < 0.3
        score = 1 / (1 + np.exp(-(rng.normal(0, 1, len(y)) + 1.2 * y)))
        bins = ScoreBins()
        for start in range(0, len(y), 50_000):
            part = slice(start, start + 50_000)
            bins.add(score[part], y[part].astype(float), (~y[part]).astype(float))
        exact = roc_auc_score(y, score)
        auc = bins.auc()
        assert auc is not None and abs(auc - exact) <= bins.auc_bound() < 1e-3

    def test_confident_scores_crowd_no_bin(self) -> None:
        """Scores within 1e-4 of 0 and 1 (a confident model) still fall in distinct bins."""
        rng = np.random.default_rng(3)
        y = rng.uniform(size=20_000) < 0.5
        score = np.where(y, 1 - rng.uniform(0, 1e-4, len(y)), rng.uniform(0, 1e-4, len(y)))
        score[:200] = rng.uniform(size=200)  # some overlap so the AUC is not 1
        bins = ScoreBins()
        bins.add(score, y.astype(float), (~y).astype(float))
        auc = bins.auc()
        assert auc is not None and abs(auc - roc_auc_score(y, score)) <= bins.auc_bound() < 1e-3

    def test_equal_scores_are_ties_as_for_scikit_learn(self) -> None:
        rng = np.random.default_rng(4)
        score = rng.choice([0.2, 0.5, 0.8], 3000)
        y = rng.uniform(size=3000) < score
        bins = ScoreBins()
        bins.add(score, y.astype(float), (~y).astype(float))
        assert bins.auc() == pytest.approx(roc_auc_score(y, score), abs=1e-12)

    def test_one_class_has_no_auc(self) -> None:
        bins = ScoreBins()
        bins.add(np.array([0.1, 0.9]), np.ones(2), np.zeros(2))
        assert bins.auc() is None and bins.auc_bound() == 0.0


class TestExpectedConfusion:
    @pytest.mark.parametrize("classes", [[0, 1], ["high", "low", "mid"]])
    def test_the_same_estimate_while_exact_and_within_bounds_past_it(self, classes: list[Any]) -> None:
        rng = np.random.default_rng(5)
        reference = _classified(3000, classes, rng, unlabelled=0.0)
        cbpe = CBPE(classes).fit(reference[[f"proba.{c}" for c in classes]], reference[LABEL])
        proba = _classified(20_000, classes, rng)[[f"proba.{c}" for c in classes]].to_numpy()
        expected = cbpe.estimate(proba)

        exact = cbpe.stream(exact_rows=len(proba))
        summed = cbpe.stream(exact_rows=1000)
        for start in range(0, len(proba), 3000):
            exact.add(proba[start : start + 3000])
            summed.add(proba[start : start + 3000])
        assert exact.exact and exact.estimate() == expected
        assert not summed.exact
        found = summed.estimate()
        bound = summed.auc_bound()
        assert set(found) == set(expected) and bound is not None and bound < 1e-3
        for metric, value in expected.items():
            if metric in AUCS:
                assert abs(found[metric] - value) <= bound
            else:
                assert found[metric] == pytest.approx(value, rel=1e-9)

    def test_probabilities_it_refuses_give_no_estimate(self) -> None:
        rng = np.random.default_rng(6)
        reference = _classified(500, [0, 1], rng, unlabelled=0.0)
        cbpe = CBPE([0, 1]).fit(reference[["proba.0", "proba.1"]], reference[LABEL])
        stream = cbpe.stream(exact_rows=10)
        stream.add(reference[["proba.0", "proba.1"]].to_numpy()[:100])
        stream.add(np.array([[0.5, 0.7]]))  # does not sum to 1
        assert stream.estimate() == {}


class TestPerformanceStream:
    @pytest.mark.parametrize(
        ("classes", "positive"), [([0, 1], None), (["fail", "ok"], "fail"), (["high", "low", "mid"], None)]
    )
    def test_class_metrics_equal_and_probability_metrics_close(
        self, classes: list[Any], positive: Any
    ) -> None:
        rng = np.random.default_rng(7)
        task = Task("classification", classes=tuple(classes), positive=positive)
        frame = _classified(30_000, classes, rng)
        expected = realised(frame, task)
        for exact_rows, batch in ((len(frame), 4096), (2000, 4096), (2000, 777)):
            stream = PerformanceStream(task, target="y", exact_rows=exact_rows)
            for part in _batches(frame, batch):
                stream.add(part)
            found, bound = stream.realised()
            assert set(found) == set(expected)
            if stream.exact:
                assert found == expected and bound is None
                continue
            assert bound is not None and bound < 1e-3
            for metric, value in expected.items():
                if metric in COUNTED:
                    assert found[metric] == value, metric  # counts of (label, prediction) pairs: exact
                elif metric in AUCS:
                    assert value is not None and found[metric] is not None
                    assert abs(found[metric] - value) <= bound  # type: ignore[operator]
                else:
                    assert found[metric] == pytest.approx(value, rel=1e-9), metric

    def test_labels_sent_as_text_and_a_class_the_model_never_predicts(self) -> None:
        rng = np.random.default_rng(8)
        task = Task("classification", classes=(0, 1))
        frame = _classified(5000, [0, 1], rng)
        frame[LABEL] = [None if v is None else str(v) for v in frame[LABEL]]  # "1" for the class 1
        stream = PerformanceStream(task, target="y", exact_rows=100)
        for part in _batches(frame, 1000):
            stream.add(part)
        found, _ = stream.realised()
        expected = realised(frame, task)
        assert {m: found[m] for m in COUNTED if m in expected} == {
            m: expected[m] for m in COUNTED if m in expected
        }

    def test_regression_sums(self) -> None:
        rng = np.random.default_rng(9)
        y = rng.normal(10, 3, 50_000)
        y[:100] = 0.0  # left out of mape
        frame = pd.DataFrame({"output": y + rng.normal(0, 1, len(y)), LABEL: y.astype(object)})
        frame.loc[rng.uniform(size=len(y)) < 0.1, LABEL] = None
        task = Task("regression")
        expected = realised(frame, task)
        stream = PerformanceStream(task, target="y", exact_rows=1000)
        for part in _batches(frame, 3000):
            stream.add(part)
        found, bound = stream.realised()
        assert not stream.exact and bound is None and set(found) == set(expected)
        assert found["labelled_rows"] == expected["labelled_rows"]
        for metric in ("mae", "rmse", "r2", "mape"):
            assert found[metric] == pytest.approx(expected[metric], rel=1e-9), metric

    def test_rows_without_a_prediction_are_not_scored(self) -> None:
        frame = _classified(3000, [0, 1], np.random.default_rng(10))
        frame["output"] = frame["output"].astype(object)
        frame.loc[5, "output"] = None
        task = Task("classification", classes=(0, 1))
        stream = PerformanceStream(task, target="y", exact_rows=100)
        for part in _batches(frame, 500):
            stream.add(part)
        found, _ = stream.realised()
        assert set(found) == {"labelled_rows", "label_coverage"} and found == {
            k: v for k, v in realised(frame, task).items() if k in found
        }

    def test_the_estimate_and_the_labels_for_target_drift(self) -> None:
        rng = np.random.default_rng(11)
        task = Task("classification", classes=(0, 1))
        reference = _classified(2000, [0, 1], rng, unlabelled=0.0).rename(columns={LABEL: "y"})
        estimator = Estimator(task, reference, "y")
        frame = _classified(6000, [0, 1], rng)
        stream = PerformanceStream(task, target="y", estimator=estimator, exact_rows=1000)
        for part in _batches(frame, 1500):
            stream.add(part)
        whole = estimator.estimate(frame)
        found = stream.estimate()
        assert set(found) == set(whole)
        assert found["estimated.accuracy"] == pytest.approx(whole["estimated.accuracy"], rel=1e-9)
        values, profile = stream.target_labels()
        labelled = int(frame[LABEL].notna().sum())
        assert profile is not None and profile["y"].count + (0 if values is None else len(values)) == labelled
        assert stream.label_texts == {"0", "1"}
