"""Live performance of a window: realised metrics once labels arrive, estimated ones before.

The realised metrics are ``lm.evaluate``'s, computed by the same code (``loopml.registry._evaluate``) on the
window's labelled rows: ``accuracy``, ``f1``… for a classifier (``roc_auc`` and ``log_loss`` from the logged
``proba.<class>`` columns, when every labelled row has them), ``mae``, ``rmse``… for a regressor. A label
belongs to a request (every row of a batch request gets it), so ``label_coverage`` is the share of the
window's rows whose request has a label, and ``labelled_rows`` their number. A window is computed again when
labels come in later, so its metrics fill in as they land.

Before labels arrive, a classifier with probabilities gets an *estimated* performance from its calibrated
probabilities (confidence-based performance estimation, CBPE, fitted on the reference's predictions and
labels), under ``estimated.<metric>``; it stays next to the realised metric once labels land, so the two can
be compared. Each window's realised metrics are compared with the version's stored evaluation (``compare``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError, LoopmlError
from loopml.monitoring._segments import PROBA_PREFIX

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

LABEL = "label"


@dataclass(frozen=True)
class Task:
    """What a monitor knows about the model's task: its kind, classes (in the order of the ``proba.*``
    columns) and the positive class of a binary classifier."""

    kind: str  # "classification" | "regression"
    prediction: str = "output"  # the logged column that holds the prediction
    classes: tuple[Any, ...] = ()
    positive: Any = None

    @property
    def proba_columns(self) -> list[str]:
        return [f"{PROBA_PREFIX}{c}" for c in self.classes]

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.kind,
            "prediction": self.prediction,
            "classes": list(self.classes),
            "positive_label": self.positive,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Task:
        return cls(
            kind=str(doc.get("task") or "classification"),
            prediction=str(doc.get("prediction") or "output"),
            classes=tuple(doc.get("classes") or ()),
            positive=doc.get("positive_label"),
        )


def attach_labels(rows: pd.DataFrame, labels: Mapping[str, Any]) -> pd.DataFrame:
    """``rows`` with a ``label`` column: the label of each row's request, missing where none came yet."""
    out = rows.copy()
    out[LABEL] = rows["request_id"].map(labels) if len(rows) and labels else None
    return out


def _class_values(values: Sequence[Any], task: Task) -> list[Any]:
    """Values as the task's classes (a label sent as "1" for class 1 is class 1); others as they are."""
    by_text = {str(c): c for c in task.classes}
    return [by_text.get(str(v), v) for v in values]


def _as_arrays(*columns: list[Any]) -> tuple[np.ndarray[Any, Any], ...]:
    """Typed arrays scikit-learn accepts: as they are when every value has one kind (numbers or text),
    else every value as text (a label the model never predicts, of another type)."""
    import numpy as np

    values = [v for column in columns for v in column]
    numbers = all(isinstance(v, int | float | np.number) for v in values)
    texts = all(isinstance(v, str) for v in values)
    if numbers or texts:
        return tuple(np.asarray(column) for column in columns)
    return tuple(np.asarray([str(v) for v in column]) for column in columns)


def _proba(frame: pd.DataFrame, task: Task) -> np.ndarray[Any, Any] | None:
    """The probability matrix of ``frame`` in class order; None when a column or a value is missing."""
    import numpy as np

    columns = task.proba_columns
    if not columns or any(c not in frame.columns for c in columns):
        return None
    try:
        matrix = frame[columns].to_numpy(dtype=float)
    except (TypeError, ValueError):
        return None
    if np.isnan(matrix).any():
        return None
    return matrix


def realised(frame: pd.DataFrame, task: Task) -> dict[str, float | None]:
    """``labelled_rows``, ``label_coverage`` and, when some rows are labelled, ``lm.evaluate``'s metrics
    of ``frame`` (a window's predictions with ``label``)."""
    import numpy as np
    import pandas as pd

    from loopml.registry import _evaluate

    rows = len(frame)
    labelled = frame[frame[LABEL].notna()] if rows else frame
    out: dict[str, float | None] = {
        "labelled_rows": float(len(labelled)),
        "label_coverage": (len(labelled) / rows) if rows else None,
    }
    if not len(labelled):
        return out
    prediction = labelled[task.prediction] if task.prediction in labelled.columns else None
    if prediction is None or prediction.isna().any():
        return out  # rows without a logged prediction cannot be scored
    metrics: dict[str, float]
    if task.kind == "regression":
        try:
            y_true = pd.to_numeric(labelled[LABEL], errors="raise").to_numpy(dtype=float)
            y_pred = pd.to_numeric(prediction, errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError):
            return out  # labels that are not numbers: the metrics stay empty
        metrics = _evaluate._regression_metrics(y_true, y_pred)
    else:
        y_true_c, y_pred_c, known = _as_arrays(
            _class_values(labelled[LABEL].tolist(), task),
            _class_values(prediction.tolist(), task),
            list(task.classes),
        )
        classes = known.tolist() or _evaluate._sorted_labels(np.concatenate([y_true_c, y_pred_c]))
        binary = len(classes) == 2
        positive = _positive(task, classes) if binary else None
        proba = _proba(labelled, task) if task.classes else None
        metrics = _evaluate._classification_metrics(y_true_c, y_pred_c, proba, classes, positive)
        if binary and proba is not None:
            _, metrics["calibration_error"] = _evaluate._calibration(
                proba[:, classes.index(positive)], y_true_c == positive
            )
    out.update({k: v for k, v in metrics.items() if math.isfinite(v)})
    return out


def _positive(task: Task, classes: list[Any]) -> Any:
    if task.positive is not None:
        for c in classes:
            if str(c) == str(task.positive):
                return c
    return classes[1]


def new_classes(labels: Sequence[Any], task: Task) -> int:
    """How many distinct labels are not among the reference's classes."""
    known = {str(c) for c in task.classes}
    return len({str(v) for v in labels} - known)


def compare(
    metrics: Mapping[str, float | None], reference: Mapping[str, float]
) -> dict[str, dict[str, float]]:
    """Each metric measured in both: the window's value, the stored evaluation's, and the difference."""
    out = {}
    for name, value in metrics.items():
        ref = reference.get(name)
        if value is None or ref is None or name in ("labelled_rows", "label_coverage"):
            continue
        out[name] = {"window": float(value), "reference": float(ref), "delta": float(value) - float(ref)}
    return out


class Estimator:
    """CBPE fitted once on the reference's probabilities and labels; estimates a window's metrics from its
    logged probabilities alone."""

    def __init__(self, task: Task, reference: pd.DataFrame, target: str) -> None:

        from loopml.monitoring._cbpe import CBPE

        proba = _proba(reference, task)
        if proba is None or target not in reference.columns:
            raise InvalidArgumentError("the reference has no probabilities or labels to calibrate on")
        (labels,) = _as_arrays(_class_values(reference[target].tolist(), task))
        positive = _positive(task, list(task.classes)) if len(task.classes) == 2 else None
        self.task = task
        self.cbpe = CBPE(list(task.classes), positive_label=positive).fit(proba, labels)

    def estimate(self, frame: pd.DataFrame) -> dict[str, float | None]:
        proba = _proba(frame, self.task)
        if proba is None or not len(proba):
            return {}
        try:
            found = self.cbpe.estimate(proba)
        except LoopmlError:
            return {}
        return {f"estimated.{k}": float(v) for k, v in found.items() if v is not None and math.isfinite(v)}


__all__ = [
    "LABEL",
    "PROBA_PREFIX",
    "Estimator",
    "Task",
    "attach_labels",
    "compare",
    "new_classes",
    "realised",
]
