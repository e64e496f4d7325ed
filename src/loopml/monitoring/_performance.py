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

A window is read in batches (``PerformanceStream``): up to ``_streaming.EXACT_ROWS`` labelled rows it keeps
them and ``realised`` gives the result; past that it keeps what adds up: the count of each (label,
prediction) pair, from which the class metrics come exactly (the same scikit-learn functions, the pairs
weighted by their counts), the log loss's sum, the calibration bins' counts and sums, the regression sums
(errors, squared errors, relative errors, and the labels' mean and spread merged as Chan et al. do), and
for ROC AUC the probabilities' ``ScoreBins`` per label (within the bound ``auc_bound`` reports).
"""

from __future__ import annotations

import math
from collections import Counter
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
    """``rows`` with a ``label`` column: the label of each row's request, missing where none came yet. The
    labels keep their JSON types (a class 1 stays 1, not 1.0, beside rows without a label)."""
    import pandas as pd

    out = rows.copy()
    if not len(rows) or not labels:
        out[LABEL] = None
        return out
    found = [labels.get(r) for r in rows["request_id"].tolist()]
    out[LABEL] = pd.Series(found, index=rows.index, dtype=object)
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


def _weighted_class_metrics(
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    weight: np.ndarray[Any, Any],
    positive: Any,
) -> dict[str, float]:
    """``lm.evaluate``'s class metrics (``_evaluate._classification_metrics`` without probabilities) of
    distinct (label, prediction) pairs, each weighted by how many rows have it: the same values as on the
    rows themselves, as every weight is a whole count."""
    from sklearn import metrics as skm

    out: dict[str, float] = {"accuracy": float(skm.accuracy_score(y_true, y_pred, sample_weight=weight))}
    if positive is not None:
        for name, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            out[name] = float(fn(y_true, y_pred, pos_label=positive, zero_division=0, sample_weight=weight))
        return out
    for name, fn in (
        ("precision_weighted", skm.precision_score),
        ("recall_weighted", skm.recall_score),
        ("f1_weighted", skm.f1_score),
    ):
        out[name] = float(fn(y_true, y_pred, average="weighted", zero_division=0, sample_weight=weight))
    out["f1_macro"] = float(
        skm.f1_score(y_true, y_pred, average="macro", zero_division=0, sample_weight=weight)
    )
    return out


def _typed(value: Any) -> tuple[Any, Any]:
    """A key that tells 1, 1.0, True and "1" apart (a dict would not), for any JSON value."""
    try:
        hash(value)
    except TypeError:
        return (list, repr(value))
    return (type(value), value)


_ONE_KIND = frozenset({"string", "integer", "floating", "boolean", "empty"})


def _factorize(values: pd.Series[Any]) -> tuple[np.ndarray[Any, Any], list[tuple[Any, Any]]]:
    """Each value's code and the distinct values' ``_typed`` keys, in C when the values are of one kind
    (then equal values are the same value), value by value otherwise."""
    import pandas as pd

    if pd.api.types.infer_dtype(values, skipna=True) in _ONE_KIND:
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        return codes, [_typed(v) for v in uniques.tolist()]
    keys = [_typed(v) for v in values.tolist()]
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), use_na_sentinel=False)
    return codes, list(uniques)


def distinct_texts(values: pd.Series[Any]) -> set[str]:
    """``{str(v) for v in values}``, over the distinct values only."""
    _, keys = _factorize(values)
    return {str(value) for _, value in keys}


def _log_loss_sum(
    total: float, proba: np.ndarray[Any, Any], codes: np.ndarray[Any, Any], keys: list[Any], task: Task
) -> float | None:
    """``total`` plus the log loss's sum over these rows (scikit-learn's, on each label's class index); None
    when a label is not a class (the log loss is then undefined)."""
    import numpy as np
    from sklearn.metrics import log_loss

    by_text = {str(c): i for i, c in enumerate(task.classes)}
    index = [by_text.get(str(value)) for _, value in keys]
    if any(i is None for i in index):
        return None
    y_true = np.asarray(index, dtype=np.int64)[codes]
    labels = list(range(len(task.classes)))
    try:
        return total + float(log_loss(y_true, np.clip(proba, 0.0, 1.0), labels=labels, normalize=False))
    except ValueError:  # probabilities scikit-learn refuses: the log loss stays undefined
        return None


class _Sums:
    """What the labelled rows of a large window add up to (see the module docstring)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.rows = 0
        self.scorable = True  # every labelled row has a prediction (numbers, for a regression)
        self.pairs: Counter[tuple[Any, Any]] = Counter()
        self.values: dict[Any, Any] = {}  # key -> the value it stands for
        # classification with probabilities: per label key, counts per ScoreBins bin of each class's
        # probability (binary: the positive class's) and per calibration bin
        self.with_proba = bool(task.classes)
        self.bins: dict[Any, np.ndarray[Any, Any]] = {}
        self.calibration: dict[Any, np.ndarray[Any, Any]] = {}
        self.calibration_p: np.ndarray[Any, Any] | None = None
        self.log_loss: float | None = 0.0
        # regression
        self.abs_error = self.sq_error = self.rel_error = 0.0
        self.nonzero = 0
        self.mean = self.m2 = 0.0

    def add(self, labelled: pd.DataFrame) -> None:
        self.rows += len(labelled)
        if not self.scorable or not len(labelled):
            return
        prediction = labelled[self.task.prediction] if self.task.prediction in labelled.columns else None
        if prediction is None or prediction.isna().any():
            self.scorable = False
            return
        if self.task.kind == "regression":
            self._add_regression(labelled[LABEL], prediction)
            return
        import numpy as np

        label_codes, label_keys = _factorize(labelled[LABEL])
        pred_codes, pred_keys = _factorize(prediction)
        for key in (*label_keys, *pred_keys):
            self.values.setdefault(key, key[1])
        pairs, counts = np.unique(
            label_codes.astype(np.int64) * len(pred_keys) + pred_codes, return_counts=True
        )
        for pair, count in zip(pairs.tolist(), counts.tolist(), strict=True):
            self.pairs[(label_keys[pair // len(pred_keys)], pred_keys[pair % len(pred_keys)])] += count
        if self.with_proba:
            self._add_proba(labelled, label_codes, label_keys)

    def _add_proba(self, labelled: pd.DataFrame, codes: np.ndarray[Any, Any], keys: list[Any]) -> None:
        import numpy as np

        from loopml.monitoring._streaming import AUC_BINS, score_bin
        from loopml.registry._evaluate import CALIBRATION_BINS

        proba = _proba(labelled, self.task)
        if proba is None:
            self.with_proba, self.bins, self.calibration = False, {}, {}
            return
        classes = list(self.task.classes)
        binary = len(classes) == 2
        if self.log_loss is not None:
            self.log_loss = _log_loss_sum(self.log_loss, proba, codes, keys, self.task)
        if binary:
            column = classes.index(_positive(self.task, classes))
            scores = proba[:, [column]]
            edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
            p = proba[:, column]
            which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, CALIBRATION_BINS - 1)
            sums = np.bincount(which, weights=p, minlength=CALIBRATION_BINS)
            self.calibration_p = sums if self.calibration_p is None else self.calibration_p + sums
        else:
            totals = np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
            scores = proba / totals
        for code, key in enumerate(keys):
            mine = codes == code
            counts = np.stack(
                [np.bincount(score_bin(scores[mine, c]), minlength=AUC_BINS) for c in range(scores.shape[1])]
            )
            self.bins[key] = counts if key not in self.bins else self.bins[key] + counts
            if binary:
                found = np.bincount(which[mine], minlength=CALIBRATION_BINS)
                have = self.calibration.get(key)
                self.calibration[key] = found if have is None else have + found

    def _add_regression(self, labels: pd.Series[Any], prediction: pd.Series[Any]) -> None:
        import numpy as np
        import pandas as pd

        try:
            y_true = pd.to_numeric(labels, errors="raise").to_numpy(dtype=float)
            y_pred = pd.to_numeric(prediction, errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError):
            self.scorable = False
            return
        err = y_pred - y_true
        self.abs_error += float(np.sum(np.abs(err)))
        self.sq_error += float(np.sum(err**2))
        nonzero = y_true != 0
        self.nonzero += int(nonzero.sum())
        self.rel_error += float(np.sum(np.abs(err[nonzero] / y_true[nonzero])))
        # the labels' mean and sum of squared deviations, merged batch by batch (Chan et al.)
        n_before, n = self.rows - len(y_true), len(y_true)
        mean, m2 = float(y_true.mean()), float(np.sum((y_true - y_true.mean()) ** 2))
        delta, total = mean - self.mean, n_before + n
        self.m2 += m2 + delta**2 * n_before * n / total
        self.mean += delta * n / total

    def metrics(self) -> tuple[dict[str, float], float | None]:
        """The metrics, and how far the ROC AUC may be from the exact one (None: no AUC)."""
        if not self.rows or not self.scorable:
            return {}, None
        if self.task.kind == "regression":
            return self._regression(), None
        import numpy as np

        from loopml.registry import _evaluate

        keys = list(self.values)
        converted_all = _class_values([self.values[k] for k in keys], self.task)
        label_keys = list(dict.fromkeys(k for k, _ in self.pairs))
        pred_keys = list(dict.fromkeys(k for _, k in self.pairs))
        where = {k: i for i, k in enumerate(keys)}
        y_labels, y_preds, known = _as_arrays(
            [converted_all[where[k]] for k in label_keys],
            [converted_all[where[k]] for k in pred_keys],
            list(self.task.classes),
        )
        as_label = dict(zip(label_keys, y_labels.tolist(), strict=True))
        as_pred = dict(zip(pred_keys, y_preds.tolist(), strict=True))
        pairs = list(self.pairs.items())
        y_true = np.asarray([as_label[a] for (a, _), _ in pairs])
        y_pred = np.asarray([as_pred[b] for (_, b), _ in pairs])
        weight = np.asarray([float(n) for _, n in pairs])
        classes = known.tolist() or _evaluate._sorted_labels(np.concatenate([y_labels, y_preds]))
        positive = _positive(self.task, classes) if len(classes) == 2 else None
        out = _weighted_class_metrics(y_true, y_pred, weight, positive)
        bound = None
        if self.with_proba and self.bins:
            bound = self._proba_metrics(out, as_label, classes, positive)
        return {k: v for k, v in out.items() if math.isfinite(v)}, bound

    def _proba_metrics(
        self, out: dict[str, float], as_label: Mapping[Any, Any], classes: list[Any], positive: Any
    ) -> float | None:
        import numpy as np

        from loopml.monitoring._streaming import ScoreBins
        from loopml.registry._evaluate import CALIBRATION_BINS

        present = list(dict.fromkeys(as_label.values()))
        counts = {k: self.bins[k] for k in as_label}

        def bins_of(column: int, is_positive: Any) -> ScoreBins:
            found = ScoreBins()
            for key, per_class in counts.items():
                if is_positive(as_label[key]):
                    found.positive += per_class[column]
                else:
                    found.negative += per_class[column]
            return found

        bound = None
        if positive is not None:
            if len(present) == 2:
                found = bins_of(0, lambda v: v == positive)
                value = found.auc()
                if value is not None:
                    out["roc_auc"], bound = value, found.auc_bound()
            assert self.calibration_p is not None
            total = np.zeros(CALIBRATION_BINS)
            observed = np.zeros(CALIBRATION_BINS)
            for key, per_bin in self.calibration.items():
                total += per_bin
                if as_label[key] == positive:
                    observed += per_bin
            filled = total > 0
            gaps = np.abs(self.calibration_p[filled] / total[filled] - observed[filled] / total[filled])
            out["calibration_error"] = float(np.sum(total[filled] / self.rows * gaps))
        elif len(present) > 1:
            keep = [i for i, c in enumerate(classes) if c in present]
            labels = [classes[i] for i in keep]
            if len(labels) == 2:
                found = bins_of(keep[1], lambda v: v == labels[1])
                value = found.auc()
                if value is not None:
                    out["roc_auc_ovr_weighted"], bound = value, found.auc_bound()
            elif len(labels) > 2 and set(present) <= set(labels):
                weighted, weights, bounds = 0.0, 0.0, []
                for i, label in zip(keep, labels, strict=True):
                    found = bins_of(i, lambda v, label=label: v == label)
                    value = found.auc()
                    if value is None:
                        continue
                    weighted += float(found.positive.sum()) * value
                    weights += float(found.positive.sum())
                    bounds.append(found.auc_bound())
                if weights > 0:
                    out["roc_auc_ovr_weighted"], bound = weighted / weights, max(bounds)
        if self.log_loss is not None:
            out["log_loss"] = self.log_loss / self.rows
        return bound

    def _regression(self) -> dict[str, float]:
        n = self.rows
        out = {"mae": self.abs_error / n, "rmse": math.sqrt(self.sq_error / n)}
        if n >= 2 and self.m2 > 0:
            out["r2"] = 1.0 - self.sq_error / self.m2
        if self.nonzero:
            out["mape"] = self.rel_error / self.nonzero
        return {k: v for k, v in out.items() if math.isfinite(v)}


class PerformanceStream:
    """One version's (or slice's) performance over its rows, added batch by batch: the realised metrics of
    the labelled rows (``realised`` exactly up to ``exact_rows`` labelled rows, ``_Sums`` past that), CBPE's
    estimate (``ExpectedConfusion``), the labels' distinct values (for ``new_classes``) and the labels
    themselves for the target's drift (all of them when the reference's target is tested on rows,
    else chunks of ``exact_rows`` profiled and merged)."""

    def __init__(
        self,
        task: Task | None,
        *,
        target: str | None,
        estimator: Estimator | None = None,
        exact_target: bool = False,
        exact_rows: int | None = None,
    ) -> None:
        from loopml.monitoring import _streaming

        self.task = task
        self.target = target
        self.exact_rows = _streaming.EXACT_ROWS if exact_rows is None else exact_rows
        self.exact_target = exact_target
        self.rows = 0
        self.labelled = 0
        self.label_texts: set[str] = set()
        self.estimated = None if estimator is None else estimator.cbpe.stream(self.exact_rows)
        self._estimator = estimator
        self._kept: list[pd.DataFrame] = []  # the labelled rows, while at most exact_rows
        self._sums: _Sums | None = None
        self._labels: list[Any] = []  # label values not yet profiled (or all of them, exact_target)
        self._label_profile: Any = None

    def add(self, rows: pd.DataFrame) -> None:
        """Answered rows with the prediction, the ``proba.*`` columns and, when labels were looked up,
        ``label``."""
        self.rows += len(rows)
        if self.estimated is not None and len(rows):
            assert self._estimator is not None
            proba = _proba(rows, self._estimator.task)
            if proba is None:
                self.estimated.refuse()
            else:
                self.estimated.add(proba)
        if LABEL not in rows.columns or self.target is None:
            return
        labelled = rows[rows[LABEL].notna()]
        if not len(labelled):
            return
        self.labelled += len(labelled)
        self.label_texts |= distinct_texts(labelled[LABEL])
        self._add_target(labelled[LABEL].tolist())
        if self.task is None:
            return
        if self._sums is None:
            read = (LABEL, self.task.prediction, *self.task.proba_columns)
            self._kept.append(labelled[[c for c in read if c in labelled.columns]])
            if self.labelled <= self.exact_rows:
                return
            self._sums = _Sums(self.task)
            labelled, self._kept = _concat(self._kept), []
        self._sums.add(labelled)

    def _add_target(self, values: list[Any]) -> None:
        self._labels.extend(values)
        if self.exact_target or len(self._labels) <= self.exact_rows:
            return
        import pandas as pd

        from loopml.monitoring._windows import profile_rows

        frame = pd.DataFrame({self.target: pd.Series(self._labels)})
        found = profile_rows(frame)
        self._label_profile = found if self._label_profile is None else self._label_profile.merge(found)
        self._labels = []

    @property
    def exact(self) -> bool:
        """Whether the realised metrics are ``realised``'s (no more labelled rows than ``exact_rows``)."""
        return self._sums is None

    def realised(self) -> tuple[dict[str, float | None], float | None]:
        """``realised``'s figures of the labelled rows among all rows added, and how far the ROC AUC may be
        from the exact one (None: exact, or no AUC)."""
        assert self.task is not None
        out: dict[str, float | None] = {
            "labelled_rows": float(self.labelled),
            "label_coverage": (self.labelled / self.rows) if self.rows else None,
        }
        if self._sums is None:
            if self._kept:
                found = realised(_concat(self._kept), self.task)
                out.update({k: v for k, v in found.items() if k not in out})
            return out, None
        metrics, bound = self._sums.metrics()
        out.update(metrics)
        return out, bound

    def target_labels(self) -> tuple[pd.Series[Any] | None, Any]:
        """The labels for the target's drift: their values (all of them, or the last unprofiled ones) and
        the merged profile of the others (None while every value is at hand)."""
        import pandas as pd

        values = pd.Series(self._labels, dtype=object) if self._labels else None
        return values, self._label_profile

    def estimate(self) -> dict[str, float | None]:
        """CBPE's ``estimated.<metric>`` figures (``Estimator.estimate`` of every row added)."""
        if self.estimated is None:
            return {}
        try:
            found = self.estimated.estimate()
        except LoopmlError:
            return {}
        return {f"estimated.{k}": float(v) for k, v in found.items() if v is not None and math.isfinite(v)}


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


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
    "PerformanceStream",
    "Task",
    "attach_labels",
    "compare",
    "new_classes",
    "realised",
]
