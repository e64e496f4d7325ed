"""Estimated performance before labels arrive: confidence-based performance estimation (CBPE).

A classifier that says "class A, 90 % sure" on many rows is right on about 90 % of them *if its
probabilities are calibrated*. CBPE (as NannyML defines it) turns that into an expected confusion matrix:

- each row's calibrated probability of its predicted class is the chance the prediction is right, so the
  expected accuracy is their mean;
- binary, with p the calibrated probability of the positive class: a row predicted positive adds p to the
  true positives and 1 - p to the false positives; a row predicted negative adds p to the false negatives
  and 1 - p to the true negatives. Precision, recall and f1 follow from the sums;
- ROC AUC: the rows ranked by the model's own score (highest first), each adding its calibrated p to the
  true positives and 1 - p to the false positives, trace the expected ROC curve; ties in the score form
  one step, as in ``sklearn.metrics.roc_curve``;
- multiclass: each class is a one-vs-rest binary problem; ``f1_macro`` averages the classes, the
  ``*_weighted`` metrics weight each class by its expected share of true labels (the mean of its
  calibrated probability), as ``lm.evaluate`` weights by the true share.

**Calibration.** ``fit`` learns from the reference (held-out rows with labels, not the training rows)
whether the scores need calibrating, with NannyML's rule, for each class's probability (binary: the
positive class's): unless the scores already separate the classes almost perfectly (ROC AUC above
0.999), ten stratified shuffle splits (a tenth held out each time, seeded) fit an isotonic regression on
the rest and calibrate the held-out tenth; the expected calibration error (ten bins of equal count, by
sorted probability) of all held-out rows together, raw against calibrated, decides. A class whose
calibrated error is lower gets an isotonic regression fitted on the whole reference. Multiclass rows are
scaled to sum to one afterwards.

The estimate holds when the world shifts in its inputs (P(X)) but not in its concept (P(y | X)): a drop
in performance that comes from rows moving to regions where the model is less sure is seen; a change in
what the labels mean is not, and shows only once labels land.

    >>> cbpe = CBPE(classes=[0, 1]).fit(reference_proba, reference_labels)
    >>> cbpe.estimate(window_proba)
    {'accuracy': 0.91, 'precision': 0.88, 'recall': 0.84, 'f1': 0.86, 'roc_auc': 0.95}

Metric names are ``lm.evaluate``'s. As there, precision, recall and f1 are 0 when their denominator is
(no row predicted positive, say), and ROC AUC is left out when it is undefined (every row certain of one
class).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from loopml.errors import InvalidArgumentError, UnsupportedOperationError

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

MIN_REFERENCE_ROWS = 20  # ten stratified splits need a held-out tenth of two rows or more
SUM_TOLERANCE = 1e-3  # a row of probabilities may miss 1 by this much (float32 models, rounding)
AUC_ALREADY_SEPARATED = 0.999  # NannyML: scores this good need no calibration
CALIBRATION_SPLITS = 10
CALIBRATION_HELD_OUT = 0.1
CALIBRATION_BINS = 10
CALIBRATION_SEED = 42
FORMAT = "loopml.cbpe/1"


@dataclass(frozen=True)
class _Isotonic:
    """A fitted isotonic regression as its knots: linear between them, constant beyond (sklearn's
    ``IsotonicRegression(out_of_bounds="clip")`` predicts exactly this)."""

    x: FloatArray
    y: FloatArray

    def __call__(self, p: FloatArray) -> FloatArray:
        return np.interp(p, self.x, self.y)

    @classmethod
    def fit(cls, p: FloatArray, y: np.ndarray[Any, Any]) -> _Isotonic:
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(p, y.astype(float))
        return cls(np.asarray(model.X_thresholds_, float), np.asarray(model.y_thresholds_, float))


class CBPE:
    """Confidence-based performance estimation for a classifier whose probability columns are ``classes``
    (in that order, as ``predict_proba`` returns them). Binary: precision, recall and f1 are of
    ``positive_label``, by default the second class, as ``lm.evaluate`` chooses it."""

    def __init__(self, classes: Sequence[Any], positive_label: Any = None) -> None:
        if isinstance(classes, str) or not isinstance(classes, Sequence | np.ndarray):
            raise InvalidArgumentError(
                f"classes must be the list of class labels in the order of the probability columns, "
                f"not {classes!r}"
            )
        self.classes: list[Any] = [_plain(c) for c in classes]
        if len(self.classes) < 2:
            raise InvalidArgumentError(
                f"CBPE needs the two or more classes the model predicts, got {self.classes!r}"
            )
        if len({str(c) for c in self.classes}) != len(self.classes):
            raise InvalidArgumentError(f"the classes {self.classes!r} repeat a label: name each class once")
        self.binary = len(self.classes) == 2
        if positive_label is not None and _plain(positive_label) not in self.classes:
            raise InvalidArgumentError(
                f"positive_label {positive_label!r} is not one of the classes {self.classes!r}"
            )
        if positive_label is not None and not self.binary:
            raise InvalidArgumentError(
                "positive_label is for binary classifiers; a multiclass estimate covers every class"
            )
        self.positive_label: Any = (
            (_plain(positive_label) if positive_label is not None else self.classes[1])
            if self.binary
            else None
        )
        self._calibrators: list[_Isotonic | None] | None = None

    # -- fitting
    @property
    def fitted(self) -> bool:
        return self._calibrators is not None

    @property
    def calibrated(self) -> dict[str, bool]:
        """Which probabilities ``fit`` calibrates, by class as text (binary: the positive class only)."""
        calibrators = self._require_fit()
        if self.binary:
            return {str(self.positive_label): calibrators[0] is not None}
        return {str(c): cal is not None for c, cal in zip(self.classes, calibrators, strict=True)}

    def fit(self, reference_proba: Any, reference_labels: Any) -> CBPE:
        """Learn, from reference rows with labels, whether and how to calibrate each class's probability."""
        proba = self._probabilities(reference_proba, "reference_proba")
        labels = self._label_indices(reference_labels, len(proba), "reference_labels")
        if len(proba) < MIN_REFERENCE_ROWS:
            raise InvalidArgumentError(
                f"the reference has {len(proba)} rows; CBPE learns its calibration from at least "
                f"{MIN_REFERENCE_ROWS} labelled rows (the more the better: a few thousand is typical)"
            )
        present = np.unique(labels)
        if len(present) < 2:
            raise InvalidArgumentError(
                f"every reference label is {self.classes[int(present[0])]!r}: CBPE needs a reference in "
                "which at least two classes occur, to learn how often the model is right; use a larger or "
                "more varied reference"
            )
        if self.binary:
            column = self.classes.index(self.positive_label)
            self._calibrators = [_calibrator(proba[:, column], labels == column)]
        else:
            self._calibrators = [_calibrator(proba[:, k], labels == k) for k in range(len(self.classes))]
        return self

    # -- estimating
    def calibrate(self, proba: Any) -> FloatArray:
        """``proba`` (rows x classes) with each class's probability calibrated as ``fit`` learned."""
        return self._calibrate(self._probabilities(proba, "proba"))

    def estimate(self, proba: Any, predictions: Any = None) -> dict[str, float]:
        """The expected metrics on rows with these probabilities. ``predictions`` are the classes the model
        answered (default: the most probable class of each row, the first on a tie, as ``predict`` of a
        scikit-learn classifier does). No rows give ``{}``."""
        raw = self._probabilities(proba, "proba")
        self._require_fit()
        if len(raw) == 0:
            return {}
        predicted = (
            np.argmax(raw, axis=1)
            if predictions is None
            else self._label_indices(predictions, len(raw), "predictions")
        )
        calibrated = self._calibrate(raw)
        if self.binary:
            column = self.classes.index(self.positive_label)
            return _binary(calibrated[:, column], raw[:, column], predicted == column)
        return _multiclass(calibrated, raw, predicted)

    def stream(self, exact_rows: int | None = None) -> ExpectedConfusion:
        """An estimate over rows that come in batches (``ExpectedConfusion``), in bounded memory."""
        self._require_fit()
        return ExpectedConfusion(self, exact_rows)

    # -- storage
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; ``CBPE.from_dict`` gives the same estimates back."""
        calibrators = self._require_fit()
        return {
            "format": FORMAT,
            "classes": list(self.classes),
            "positive_label": self.positive_label,
            "calibrators": [
                None if cal is None else {"x": cal.x.tolist(), "y": cal.y.tolist()} for cal in calibrators
            ],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CBPE:
        if doc.get("format") != FORMAT:
            raise InvalidArgumentError(
                f"this is not a CBPE this loopml can read (format {doc.get('format')!r}, expected "
                f"{FORMAT!r}); fit it again on the reference"
            )
        try:
            cbpe = cls(doc["classes"], doc.get("positive_label"))
            calibrators = [
                None if c is None else _Isotonic(np.asarray(c["x"], float), np.asarray(c["y"], float))
                for c in doc["calibrators"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidArgumentError):
                raise
            raise InvalidArgumentError(f"a stored CBPE is malformed ({exc!r}); fit it again") from exc
        if len(calibrators) != (1 if cbpe.binary else len(cbpe.classes)):
            raise InvalidArgumentError("a stored CBPE has calibrators for other classes; fit it again")
        cbpe._calibrators = calibrators
        return cbpe

    # -- helpers
    def _require_fit(self) -> list[_Isotonic | None]:
        if self._calibrators is None:
            raise UnsupportedOperationError(
                "this CBPE is not fitted: call fit(reference_proba, reference_labels) first"
            )
        return self._calibrators

    def _calibrate(self, raw: FloatArray) -> FloatArray:
        calibrators = self._require_fit()
        out = raw.copy()
        if self.binary:
            column = self.classes.index(self.positive_label)
            if calibrators[0] is not None:
                out[:, column] = calibrators[0](raw[:, column])
                out[:, 1 - column] = 1.0 - out[:, column]
            return out
        if all(cal is None for cal in calibrators):
            return out
        for k, cal in enumerate(calibrators):
            if cal is not None:
                out[:, k] = cal(raw[:, k])
        totals = out.sum(axis=1, keepdims=True)
        # a row every calibrator sends to 0 keeps the model's own probabilities
        return np.where(totals > 0, out / np.where(totals > 0, totals, 1.0), raw)

    def _probabilities(self, proba: Any, name: str) -> FloatArray:
        array = self._as_matrix(proba, name)
        k = len(self.classes)
        if array.ndim != 2 or array.shape[1] != k:
            raise InvalidArgumentError(
                f"{name} has shape {array.shape}; expected (rows, {k}): one column per class "
                f"({', '.join(map(str, self.classes))}), as predict_proba returns them"
            )
        if not np.isfinite(array).all():
            bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
            raise InvalidArgumentError(
                f"{name} has missing or infinite values (first in row {bad}): estimate on rows with "
                "probabilities only"
            )
        if len(array) and (array.min() < -SUM_TOLERANCE or array.max() > 1 + SUM_TOLERANCE):
            raise InvalidArgumentError(
                f"{name} holds values outside [0, 1] (from {array.min():g} to {array.max():g}): pass "
                "probabilities, not scores or logits (apply a softmax or use predict_proba)"
            )
        sums = array.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
        if len(off):
            raise InvalidArgumentError(
                f"the probabilities of {len(off)} rows of {name} do not sum to 1 (row {int(off[0])} sums to "
                f"{sums[off[0]]:g}): pass one column for every class the model predicts"
            )
        return np.clip(array, 0.0, 1.0)

    def _as_matrix(self, proba: Any, name: str) -> FloatArray:
        columns = getattr(proba, "columns", None)
        if columns is not None:  # a DataFrame: its columns name the classes, "a" or "proba.a"
            names = [str(c).removeprefix("proba.") for c in columns]
            wanted = [str(c) for c in self.classes]
            missing = [w for w in wanted if w not in names]
            if missing:
                raise InvalidArgumentError(
                    f"{name} has no column for the classes {missing!r} (columns: "
                    f"{', '.join(map(str, columns))}); name the columns after the classes"
                )
            proba = proba.iloc[:, [names.index(w) for w in wanted]].to_numpy()
        try:
            return np.asarray(proba, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"{name} must be numbers (probabilities): {exc}") from None

    def _label_indices(self, labels: Any, n: int, name: str) -> np.ndarray[Any, Any]:
        values = labels.to_numpy() if hasattr(labels, "to_numpy") else np.asarray(labels, dtype=object)
        if values.ndim != 1 or len(values) != n:
            raise InvalidArgumentError(
                f"{name} has {values.shape} values for {n} rows of probabilities: give one label per row"
            )
        import pandas as pd

        out = pd.Index(self.classes, dtype=object).get_indexer(pd.Index(values, dtype=object))
        missed = np.flatnonzero(out < 0)
        if len(missed):  # labels read back as text ("1" for the class 1)
            text = {str(c): i for i, c in enumerate(self.classes)}
            for i in missed.tolist():
                out[i] = text.get(str(_plain(values[i])), -1)
        unknown = [_plain(values[i]) for i in np.flatnonzero(out < 0).tolist()]
        if unknown:
            shown = sorted({repr(v) for v in unknown})[:5]
            raise InvalidArgumentError(
                f"{name} holds {len(unknown)} labels that are not classes of the model "
                f"({', '.join(shown)}; classes: {self.classes!r}); drop unlabelled rows and pass the "
                "classes the model's probability columns stand for"
            )
        return np.asarray(out, dtype=np.int64)


class ExpectedConfusion:
    """``CBPE.estimate`` over rows added batch by batch (a window read segment by segment), predictions the
    most probable class. Up to ``exact_rows`` rows (default ``_streaming.EXACT_ROWS``) it keeps the
    probabilities and gives ``estimate``'s result exactly; past that it keeps the expected confusion sums
    (which add up across batches) and each class's scores in ``ScoreBins`` for the expected ROC AUC, whose
    distance from the exact one is at most ``auc_bound``. A batch whose probabilities ``estimate`` would
    refuse makes the whole estimate empty, as one such row does for ``estimate``."""

    def __init__(self, cbpe: CBPE, exact_rows: int | None = None) -> None:
        from loopml.monitoring import _streaming

        self.cbpe = cbpe
        self.exact_rows = _streaming.EXACT_ROWS if exact_rows is None else exact_rows
        self.rows = 0
        self.refused = False
        self._raw: list[FloatArray] = []
        k = 1 if cbpe.binary else len(cbpe.classes)
        self._summed = False
        self._support, self._tp, self._fp = np.zeros(k), np.zeros(k), np.zeros(k)
        self._right = 0.0
        self._bins: list[Any] = []

    def refuse(self) -> None:
        """Rows without probabilities came: no estimate (as ``Estimator.estimate`` gives none)."""
        self.refused, self._raw = True, []

    def add(self, proba: Any) -> None:
        if self.refused:
            return
        try:
            raw = self.cbpe._probabilities(proba, "proba")
        except InvalidArgumentError:
            self.refuse()
            return
        if not len(raw):
            return
        self.rows += len(raw)
        if not self._summed:
            self._raw.append(raw)
            if self.rows <= self.exact_rows:
                return
            raw, self._raw = np.concatenate(self._raw), []
            self._summed = True
        self._add(raw)

    def _add(self, raw: FloatArray) -> None:
        from loopml.monitoring._streaming import ScoreBins

        calibrated = self.cbpe._calibrate(raw)
        predicted = np.argmax(raw, axis=1)
        if self.cbpe.binary:
            column = self.cbpe.classes.index(self.cbpe.positive_label)
            p, mine = calibrated[:, column], predicted == column
            self._tp[0] += float(p[mine].sum())
            self._fp[0] += float((1.0 - p[mine]).sum())
            self._support[0] += float(p.sum())
            self._right += float((1.0 - p[~mine]).sum())  # the true negatives
            columns = [column]
        else:
            self._support += calibrated.sum(axis=0)
            for c in range(calibrated.shape[1]):
                mine = predicted == c
                self._tp[c] += float(calibrated[mine, c].sum())
                self._fp[c] += float((1.0 - calibrated[mine, c]).sum())
            self._right += float(calibrated[np.arange(len(raw)), predicted].sum())
            columns = list(range(calibrated.shape[1]))
        if not self._bins:
            self._bins = [ScoreBins() for _ in columns]
        for bins, c in zip(self._bins, columns, strict=True):
            bins.add(raw[:, c], calibrated[:, c], 1.0 - calibrated[:, c])

    @property
    def exact(self) -> bool:
        return not self._summed

    def estimate(self) -> dict[str, float]:
        """``CBPE.estimate`` of every row added; ``{}`` without rows or after a refused batch."""
        if self.refused or not self.rows:
            return {}
        if not self._summed:
            return self.cbpe.estimate(np.concatenate(self._raw))
        aucs = [bins.auc() for bins in self._bins]
        if self.cbpe.binary:
            tp, fp = float(self._tp[0]), float(self._fp[0])
            fn, tn = float(self._support[0]) - tp, self._right
            return _binary_metrics(tp, fp, fn, tn, self.rows, aucs[0])
        return _multiclass_metrics(self._support, self._tp, self._fp, self._right, self.rows, aucs)

    def auc_bound(self) -> float | None:
        """How far the estimated ROC AUC may be from the exact one (0 while exact; the classes' largest
        bound for a multiclass estimate, which is a weighted mean of the classes' AUCs)."""
        if not self._summed:
            return 0.0
        return max((bins.auc_bound() for bins in self._bins), default=None)


# --- calibration ------------------------------------------------------------------------------------------


def _calibrator(p: FloatArray, y: np.ndarray[Any, Any]) -> _Isotonic | None:
    """An isotonic calibration of ``p`` for the event ``y`` when NannyML's rule says it helps, else None."""
    return _Isotonic.fit(p, y) if needs_calibration(p, y) else None


def needs_calibration(p: FloatArray, y: np.ndarray[Any, Any]) -> bool:
    """Whether isotonic calibration lowers the expected calibration error of ``p`` (probabilities of the
    event ``y``, booleans) on held-out reference rows (NannyML's rule; see the module docstring)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedShuffleSplit

    positives = int(y.sum())
    if positives < 2 or len(y) - positives < 2:  # one class (or a lone row of one): nothing to learn from
        return False
    if float(roc_auc_score(y, p)) > AUC_ALREADY_SEPARATED:
        return False
    splits = StratifiedShuffleSplit(
        n_splits=CALIBRATION_SPLITS, test_size=CALIBRATION_HELD_OUT, random_state=CALIBRATION_SEED
    )
    held_y, raw, calibrated = [], [], []
    for train, test in splits.split(np.zeros(len(y)), y):
        calibration = _Isotonic.fit(p[train], y[train])
        held_y.append(y[test])
        raw.append(p[test])
        calibrated.append(calibration(p[test]))
    truth = np.concatenate(held_y)
    before = expected_calibration_error(np.concatenate(raw), truth)
    after = expected_calibration_error(np.concatenate(calibrated), truth)
    return after < before


def expected_calibration_error(p: FloatArray, y: np.ndarray[Any, Any], bins: int = CALIBRATION_BINS) -> float:
    """Mean |predicted - observed| over bins of equal count of the sorted probabilities, weighted by each
    bin's share of rows. Bins hold ``len // bins`` rows (the last also the remainder); fewer than twice
    ``bins`` rows make bins of two."""
    n = len(p)
    if n < 4:
        raise InvalidArgumentError(f"the expected calibration error needs at least 4 rows, not {n}")
    if n <= 2 * bins:
        bins = n // 2
    order = np.argsort(p, kind="stable")
    p_sorted, y_sorted = p[order], np.asarray(y, dtype=float)[order]
    width = n // bins
    edges = np.arange(0, n + 1, width)
    edges[-1] = n
    total = 0.0
    for left, right in itertools.pairwise(edges.tolist()):
        gap = float(p_sorted[left:right].mean()) - float(y_sorted[left:right].mean())
        total += (right - left) / n * abs(gap)
    return total


# --- the estimates ----------------------------------------------------------------------------------------


def _binary(p: FloatArray, score: FloatArray, predicted: np.ndarray[Any, Any]) -> dict[str, float]:
    """Expected metrics of the positive class: ``p`` calibrated probabilities, ``score`` the model's own
    (for the ranking), ``predicted`` whether each row was predicted positive."""
    tp = float(p[predicted].sum())
    fp = float((1.0 - p[predicted]).sum())
    fn = float(p[~predicted].sum())
    tn = float((1.0 - p[~predicted]).sum())
    return _binary_metrics(tp, fp, fn, tn, len(p), estimated_roc_auc(p, score))


def _binary_metrics(
    tp: float, fp: float, fn: float, tn: float, n: int, auc: float | None
) -> dict[str, float]:
    out = {
        "accuracy": (tp + tn) / n,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(tp, tp + 0.5 * (fp + fn)),
    }
    if auc is not None:
        out["roc_auc"] = auc
    return out


def _multiclass(calibrated: FloatArray, raw: FloatArray, predicted: np.ndarray[Any, Any]) -> dict[str, float]:
    n, k = calibrated.shape
    tp, fp = np.zeros(k), np.zeros(k)
    aucs: list[float | None] = []
    for c in range(k):
        mine = predicted == c
        tp[c] = float(calibrated[mine, c].sum())
        fp[c] = float((1.0 - calibrated[mine, c]).sum())
        aucs.append(estimated_roc_auc(calibrated[:, c], raw[:, c]))
    right = float(calibrated[np.arange(n), predicted].sum())
    return _multiclass_metrics(calibrated.sum(axis=0), tp, fp, right, n, aucs)


def _multiclass_metrics(
    support: FloatArray, tp: FloatArray, fp: FloatArray, right: float, n: int, aucs: Sequence[float | None]
) -> dict[str, float]:
    """``support``: expected true rows of each class; ``tp``/``fp``: expected true and false positives of
    each class; ``right``: the expected count of right predictions; ``aucs``: each class's expected AUC."""
    k = len(support)
    weights = support / n
    precision, recall, f1, auc = np.zeros(k), np.zeros(k), np.zeros(k), []
    for c in range(k):
        fn = float(support[c]) - float(tp[c])
        precision[c] = _ratio(float(tp[c]), float(tp[c] + fp[c]))
        recall[c] = _ratio(float(tp[c]), float(tp[c]) + fn)
        f1[c] = _ratio(float(tp[c]), float(tp[c]) + 0.5 * (float(fp[c]) + fn))
        if aucs[c] is not None:
            auc.append((weights[c], aucs[c]))
    out = {
        "accuracy": right / n,
        "precision_weighted": float(precision @ weights),
        "recall_weighted": float(recall @ weights),
        "f1_weighted": float(f1 @ weights),
        "f1_macro": float(f1.mean()),
    }
    if auc:
        total = sum(w for w, _ in auc)
        if total > 0:
            out["roc_auc_ovr_weighted"] = float(sum(w * v for w, v in auc) / total)
    return out


def estimated_roc_auc(p: FloatArray, score: FloatArray) -> float | None:
    """The expected ROC AUC of ``score`` when each row is positive with probability ``p``; None when the
    rows are certainly all positive or all negative."""
    order = np.argsort(-score, kind="stable")
    p_sorted, s_sorted = p[order], score[order]
    tps = np.cumsum(p_sorted)
    fps = np.arange(1, len(p) + 1) - tps
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(p) - 1]  # the end of each run of one score
    tps, fps = np.r_[0.0, tps[last]], np.r_[0.0, fps[last]]
    if tps[-1] <= 1e-12 or fps[-1] <= 1e-12:
        return None
    tpr, fpr = tps / tps[-1], fps / fps[-1]
    return float(np.clip(np.trapezoid(tpr, fpr), 0.0, 1.0))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else 0.0


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
