"""Class probabilities for the prediction log, computed in the same predict call as the answer.

A classifier (a model with ``predict_proba`` and ``classes_``) gets its class probabilities logged as
``proba.<class>`` beside its prediction, so probability metrics (ROC AUC, log loss) and estimated
performance work from the log. Calling ``predict`` and ``predict_proba`` both would double the model's cost.
For an estimator whose ``predict`` is, in its library's code, the class of the largest probability, one
``predict_proba`` call gives both (the answer is ``classes_[argmax]``); the estimators below were checked
against their sources. Everything else calls both: Platt-scaled probabilities (an SVC's), a tuned decision
threshold (FixedThresholdClassifier), a stacked final estimator, any class of one's own can disagree with
its own ``predict``.

Two guards keep the answer exactly what ``predict`` says:

- rows whose two largest probabilities (nearly) tie are answered by ``predict``: libraries break ties their
  own way (scikit-learn's binary gradient boosting answers 1 at a raw score of 0, where argmax says 0);
- at start the one-call answer is compared with ``predict`` on the model's input example; any difference
  and the server calls both.

Probabilities never cost an answer: if ``predict_proba`` fails, the request is answered by ``predict`` and
logged without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

# (top-level package, class name): predict returns classes_[argmax(predict_proba)] (ties aside)
ARGMAX_ESTIMATORS: frozenset[tuple[str, str]] = frozenset(
    {
        *(
            ("sklearn", name)
            for name in (
                "BernoulliNB",
                "CalibratedClassifierCV",
                "CategoricalNB",
                "ComplementNB",
                "DecisionTreeClassifier",
                "ExtraTreeClassifier",
                "ExtraTreesClassifier",
                "GaussianNB",
                "GradientBoostingClassifier",
                "HistGradientBoostingClassifier",
                "KNeighborsClassifier",
                "LinearDiscriminantAnalysis",
                "LogisticRegression",
                "LogisticRegressionCV",
                "MLPClassifier",
                "MultinomialNB",
                "QuadraticDiscriminantAnalysis",
                "RandomForestClassifier",
                "VotingClassifier",  # soft voting: hard voting has no predict_proba
            )
        ),
        ("xgboost", "XGBClassifier"),
        ("xgboost", "XGBRFClassifier"),
        ("lightgbm", "LGBMClassifier"),
    }
)
TIE = 1e-9  # two probabilities this close are a tie, which predict breaks
EXAMPLE_ROWS = 256  # rows of the input example the two ways are compared on at start

Mode = Literal["argmax", "both"]


@dataclass(frozen=True)
class Scored:
    """A batch's answers and the class probabilities computed with them (None when they failed)."""

    labels: Any
    proba: np.ndarray | None

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, start: int, stop: int) -> Scored:
        return Scored(
            np.asarray(self.labels)[start:stop], None if self.proba is None else self.proba[start:stop]
        )


def final_estimator(raw: Any) -> Any:
    """The estimator a scikit-learn Pipeline ends with (the model itself otherwise)."""
    steps = getattr(raw, "steps", None)
    if type(raw).__name__ == "Pipeline" and isinstance(steps, list) and steps:
        return final_estimator(steps[-1][1])
    return raw


def one_call(raw: Any) -> bool:
    """Whether ``raw``'s predict is the argmax of its probabilities, by its class (see the module doc)."""
    cls = type(final_estimator(raw))
    return (cls.__module__.split(".")[0], cls.__name__) in ARGMAX_ESTIMATORS


def classes_of(model: Any) -> np.ndarray | None:
    """The classes of a loaded model that has class probabilities, in ``predict_proba``'s column order;
    None for a model without them (a regressor, a model without ``classes_``)."""
    if not model.has_proba:
        return None
    classes = getattr(model.raw, "classes_", None)
    if classes is None:
        return None
    values = np.asarray(classes)
    return values if values.ndim == 1 and len(values) >= 2 else None  # multi-output: not logged


def plan(model: Any, classes: np.ndarray, example: Any | None) -> Mode | None:
    """How to get answers and probabilities of ``model`` (``example``: checked rows of its input example,
    or None): one predict_proba call, both calls, or None when its probabilities do not fit its classes."""
    mode: Mode = "argmax" if one_call(model.raw) else "both"
    if example is None or not len(example):
        return mode
    try:
        proba = np.asarray(model.predict_proba(example, validate=False), dtype=np.float64)
    except Exception:
        return None  # probabilities that fail on the model's own example are not worth logging
    if proba.shape != (len(example), len(classes)):
        return None
    if mode == "argmax":
        expected = np.asarray(model.predict(example, validate=False))
        labels = answers(model, classes, proba, example)
        if labels.dtype != expected.dtype or not np.array_equal(labels, expected):
            return "both"
    return mode


def answers(model: Any, classes: np.ndarray, proba: np.ndarray, rows: Any) -> np.ndarray:
    """The classes of the largest probabilities; rows where two (nearly) tie are asked of ``predict``."""
    labels: np.ndarray = classes.take(np.argmax(proba, axis=1))
    if proba.shape[1] == 2:
        gaps = np.abs(proba[:, 0] - proba[:, 1])
    else:
        top = np.partition(proba, -2, axis=1)
        gaps = top[:, -1] - top[:, -2]
    ties = np.flatnonzero(gaps <= TIE)
    if len(ties):
        picked = rows.iloc[ties] if hasattr(rows, "iloc") else rows[ties]
        labels[ties] = np.asarray(model.predict(picked, validate=False))
    return labels


def score(model: Any, classes: np.ndarray, mode: Mode, rows: Any) -> Scored:
    """The answers for ``rows`` (a DataFrame) and their class probabilities, in one call where ``mode`` says
    so."""
    if mode == "both":
        labels = model.predict(rows, validate=False)
        try:
            proba = np.asarray(model.predict_proba(rows, validate=False), dtype=np.float64)
        except Exception:
            proba = None  # logged without them: the answer stands
        return Scored(labels, _fits(proba, rows, classes))
    try:
        proba = np.asarray(model.predict_proba(rows, validate=False), dtype=np.float64)
    except Exception:
        return Scored(model.predict(rows, validate=False), None)  # predict's own error, if any, is the answer
    if _fits(proba, rows, classes) is None:
        return Scored(model.predict(rows, validate=False), None)
    return Scored(answers(model, classes, proba, rows), proba)


def _fits(proba: np.ndarray | None, rows: Any, classes: np.ndarray) -> np.ndarray | None:
    return proba if proba is not None and proba.shape == (len(rows), len(classes)) else None
