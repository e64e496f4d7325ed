"""``evaluate``: how well a model predicts a labelled DataFrame, overall and per slice, and how fast.

The model is anything with ``predict`` (and, for classifiers, optionally ``predict_proba``): a fitted
scikit-learn estimator or a loaded model bundle whose ``predict`` takes a DataFrame. ``predict=`` and
``predict_proba=`` replace the model's own methods (then ``model`` may be ``None``).

**Features.** The model receives ``data`` without the target column, as a DataFrame. Slice columns are
regular columns of ``data``: when the model does not take them as inputs, pass ``features=`` (the columns
the model reads), or let the model pick its own columns: a loaded bundle's signature, or a scikit-learn
estimator fitted on a DataFrame (``feature_names_in_``).

**Task.** ``task=None`` infers it: a model with ``predict_proba`` is a classifier; otherwise a numeric (not
boolean) target with more than 20 distinct values is a regression target, and anything else a
classification target. Pass ``task=`` when in doubt.

**Metrics** (``Evaluation.metrics``; a metric that is undefined on the data, such as ROC AUC when only one
class occurs, is left out rather than stored as NaN):

- classification: ``accuracy``; binary: ``precision``, ``recall``, ``f1`` of the positive class (the larger
  of the two labels unless ``pos_label=``), ``roc_auc`` and ``calibration_error`` (expected calibration
  error over ten equal-width bins) with ``predict_proba``; multiclass: ``precision_weighted``,
  ``recall_weighted``, ``f1_weighted`` (per-class values weighted by each class's share of the true labels),
  ``f1_macro``, and ``roc_auc_ovr_weighted`` (one-vs-rest) with ``predict_proba``; both: ``log_loss`` with
  ``predict_proba``. A confusion matrix (rows: true label, columns: predicted label), and for binary
  classifiers with ``predict_proba`` a calibration table.
- regression: ``mae``, ``rmse``, ``r2`` (needs two rows or more) and ``mape`` (a fraction, 0.05 = 5 %, over
  the rows whose target is not zero).

**Slices.** For each column of ``slices``, the same metrics for every distinct value of it (missing values
form the slice ``"<missing>"``), each with ``n_rows``.

**Latency.** ``predict`` on the first ``batch_size`` rows, timed ``repeats`` times after the full prediction
has warmed the model up: ``batch_rows``, ``batch_ms`` (mean), ``p50_ms``, ``p95_ms`` and ``per_row_us``
(mean per row).

``Evaluation.to_json()`` gives plain JSON types and ``Evaluation.from_json`` reads it back unchanged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from loopml.errors import InvalidArgumentError

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")

FORMAT = "loopml.evaluation/1"
MISSING_SLICE = "<missing>"
MAX_SLICE_VALUES = 100
REGRESSION_MIN_DISTINCT = 21  # a numeric target with this many distinct values or more is a regression target
CALIBRATION_BINS = 10

# Every metric evaluate can produce, and whether a larger value is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "precision_weighted": True,
    "recall_weighted": True,
    "f1_weighted": True,
    "f1_macro": True,
    "roc_auc_ovr_weighted": True,
    "log_loss": False,
    "calibration_error": False,
    "mae": False,
    "rmse": False,
    "r2": True,
    "mape": False,
}
METRICS: tuple[str, ...] = tuple(HIGHER_IS_BETTER)
LATENCY_KEYS: tuple[str, ...] = ("batch_rows", "batch_ms", "per_row_us", "p50_ms", "p95_ms")


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (true label, predicted label); ``labels`` name both the rows and the columns, as text."""

    labels: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]

    def to_json(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "matrix": [list(row) for row in self.matrix]}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ConfusionMatrix:
        return cls(
            labels=tuple(str(label) for label in doc["labels"]),
            matrix=tuple(tuple(int(n) for n in row) for row in doc["matrix"]),
        )


@dataclass(frozen=True)
class CalibrationBin:
    """Rows whose predicted probability of the positive class lies in [lower, upper) ([lower, 1] last)."""

    lower: float
    upper: float
    mean_predicted: float
    observed_rate: float
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "lower": self.lower,
            "upper": self.upper,
            "mean_predicted": self.mean_predicted,
            "observed_rate": self.observed_rate,
            "count": self.count,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CalibrationBin:
        return cls(
            lower=float(doc["lower"]),
            upper=float(doc["upper"]),
            mean_predicted=float(doc["mean_predicted"]),
            observed_rate=float(doc["observed_rate"]),
            count=int(doc["count"]),
        )


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` measured. ``slices[column][value]`` holds a slice's metrics and its ``n_rows``."""

    task: Task
    target: str
    n_rows: int
    metrics: dict[str, float]
    latency: dict[str, float]
    slices: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    confusion_matrix: ConfusionMatrix | None = None
    calibration: tuple[CalibrationBin, ...] | None = None
    positive_label: str | None = None  # binary classification: the class precision, recall and f1 are of

    def metric(self, name: str) -> float | None:
        """A metric, or ``latency.<key>`` for a latency figure; ``None`` when it was not measured."""
        if name.startswith("latency."):
            return self.latency.get(name.removeprefix("latency."))
        return self.metrics.get(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "task": self.task,
            "target": self.target,
            "n_rows": self.n_rows,
            "metrics": dict(self.metrics),
            "latency": dict(self.latency),
            "slices": {
                column: {value: dict(metrics) for value, metrics in values.items()}
                for column, values in self.slices.items()
            },
            "confusion_matrix": None if self.confusion_matrix is None else self.confusion_matrix.to_json(),
            "calibration": None if self.calibration is None else [b.to_json() for b in self.calibration],
            "positive_label": self.positive_label,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Evaluation:
        fmt = doc.get("format", FORMAT)
        if fmt != FORMAT:
            raise InvalidArgumentError(
                f"this is not a loopml evaluation this version can read (format {fmt!r}, "
                f"expected {FORMAT!r}); upgrade loopml or evaluate the model again"
            )
        try:
            task = doc["task"]
            if task not in TASKS:
                raise InvalidArgumentError(f"unknown task {task!r} in a stored evaluation")
            cm = doc.get("confusion_matrix")
            cal = doc.get("calibration")
            return cls(
                task=task,
                target=str(doc["target"]),
                n_rows=int(doc["n_rows"]),
                metrics={str(k): float(v) for k, v in doc["metrics"].items()},
                latency={str(k): float(v) for k, v in doc.get("latency", {}).items()},
                slices={
                    str(column): {
                        str(value): {str(k): float(v) for k, v in metrics.items()}
                        for value, metrics in values.items()
                    }
                    for column, values in doc.get("slices", {}).items()
                },
                confusion_matrix=None if cm is None else ConfusionMatrix.from_json(cm),
                calibration=None if cal is None else tuple(CalibrationBin.from_json(b) for b in cal),
                positive_label=doc.get("positive_label"),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            if isinstance(exc, InvalidArgumentError):
                raise
            raise InvalidArgumentError(
                f"a stored evaluation is malformed ({type(exc).__name__}: {exc}); evaluate the model again"
            ) from exc


PredictFn = Callable[[pd.DataFrame], Any]


def evaluate(
    model: Any,
    data: pd.DataFrame,
    *,
    target: str,
    task: str | None = None,
    slices: Sequence[str] = (),
    batch_size: int = 1000,
    repeats: int = 5,
    predict: PredictFn | None = None,
    predict_proba: PredictFn | None = None,
    features: Sequence[str] | None = None,
    pos_label: Any = None,
) -> Evaluation:
    """Measures ``model`` on ``data`` (which holds the ``target`` column): metrics overall and for each value
    of each column in ``slices``, and the latency of ``predict`` on a batch of ``batch_size`` rows."""
    predict_fn, proba_fn = _methods(model, predict, predict_proba)
    _check_data(data, target, slices, batch_size, repeats)
    x = _features(model, data, target, features)
    y = data[target]
    resolved = _resolve_task(task, y, proba_fn is not None)

    y_pred = _as_1d(predict_fn(x), len(data), "predict")
    latency = _latency(predict_fn, x, batch_size, repeats)

    if resolved == "regression":
        y_true = _numeric(
            y, f"the target column {target!r}", "pass task='classification' if it holds classes"
        )
        y_hat = _numeric(pd.Series(y_pred), "the predictions", "check that the model is a regressor")
        metrics = _regression_metrics(y_true, y_hat)
        slice_metrics = _per_slice(
            data, slices, lambda idx: _regression_metrics(y_true[idx], y_hat[idx]) if len(idx) else {}
        )
        return Evaluation(
            task="regression",
            target=target,
            n_rows=len(data),
            metrics=metrics,
            latency=latency,
            slices=slice_metrics,
        )

    y_true_c = np.asarray(y.to_numpy())
    y_pred_c = y_pred
    proba = None
    classes: list[Any]
    if proba_fn is not None:
        raw = proba_fn(x)
        classes = _proba_classes(model, raw, y_true_c, y_pred_c)
        proba = np.asarray(raw, dtype=float)
        if proba.ndim != 2 or proba.shape != (len(data), len(classes)):
            raise InvalidArgumentError(
                f"predict_proba returned an array of shape {proba.shape}; expected "
                f"({len(data)}, {len(classes)}): one row per row of data and one column per class"
            )
    else:
        classes = _model_classes(model) or _sorted_labels(np.concatenate([y_true_c, y_pred_c]))
    if pos_label is not None and pos_label not in classes:
        raise InvalidArgumentError(f"pos_label {pos_label!r} is not one of the classes {classes!r}")
    binary = len(classes) == 2
    positive = (pos_label if pos_label is not None else classes[1]) if binary else None

    def measure(idx: np.ndarray[Any, Any]) -> dict[str, float]:
        if not len(idx):
            return {}
        out = _classification_metrics(
            y_true_c[idx], y_pred_c[idx], None if proba is None else proba[idx], classes, positive
        )
        if binary and proba is not None:
            _, out["calibration_error"] = _calibration(
                proba[idx, classes.index(positive)], y_true_c[idx] == positive
            )
        return out

    metrics = measure(np.arange(len(data)))
    calibration: tuple[CalibrationBin, ...] | None = None
    if binary and proba is not None:
        calibration, _ = _calibration(proba[:, classes.index(positive)], y_true_c == positive)
    return Evaluation(
        task="classification",
        target=target,
        n_rows=len(data),
        metrics=metrics,
        latency=latency,
        slices=_per_slice(data, slices, measure),
        confusion_matrix=_confusion(y_true_c, y_pred_c, classes),
        calibration=calibration,
        positive_label=None if positive is None else str(positive),
    )


# --- input checks -----------------------------------------------------------------------------------------


def _methods(
    model: Any, predict: PredictFn | None, predict_proba: PredictFn | None
) -> tuple[PredictFn, PredictFn | None]:
    if predict is None:
        predict = getattr(model, "predict", None)
        if not callable(predict):
            raise InvalidArgumentError(
                f"the model ({type(model).__name__}) has no predict method: pass a fitted estimator "
                "or a loaded model bundle, or give predict= a function that takes a DataFrame"
            )
    if predict_proba is None:
        method = getattr(model, "predict_proba", None)
        # a loaded bundle always has the method; its has_proba says whether the model behind it does
        predict_proba = method if callable(method) and getattr(model, "has_proba", True) else None
    return cast(PredictFn, predict), cast("PredictFn | None", predict_proba)


def _check_data(data: Any, target: str, slices: Sequence[str], batch_size: int, repeats: int) -> None:
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgumentError(
            f"data must be a pandas DataFrame holding the features and the target, not {type(data).__name__}"
        )
    if target not in data.columns:
        raise InvalidArgumentError(
            f"the target column {target!r} is not in data (columns: {_names(data.columns)}); "
            "pass target= the column that holds the true labels or values"
        )
    if len(data) == 0:
        raise InvalidArgumentError("data has no rows: evaluate on a DataFrame with labelled rows")
    if data[target].isna().any():
        raise InvalidArgumentError(
            f"the target column {target!r} has {int(data[target].isna().sum())} missing values: evaluate on "
            "labelled rows only (drop the others first)"
        )
    if isinstance(slices, str):
        raise InvalidArgumentError(f"slices must be a list of column names, e.g. slices=[{slices!r}]")
    for column in slices:
        if column not in data.columns:
            raise InvalidArgumentError(
                f"the slice column {column!r} is not in data (columns: {_names(data.columns)}); "
                "slice by a column of data"
            )
        if column == target:
            raise InvalidArgumentError(f"the target column {target!r} cannot be a slice column")
        n = data[column].nunique(dropna=False)
        if n > MAX_SLICE_VALUES:
            raise InvalidArgumentError(
                f"the slice column {column!r} has {n} distinct values (at most {MAX_SLICE_VALUES}): "
                "bin it into a few groups first, e.g. with pandas.cut"
            )
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be 1 or more, not {batch_size}")
    if repeats < 1:
        raise InvalidArgumentError(f"repeats must be 1 or more, not {repeats}")


def _inputs(model: Any) -> list[str] | None:
    """The columns a model takes: a loaded bundle's signature's, or those its estimator was fitted on."""
    signature = getattr(model, "signature", None)
    if signature is not None and getattr(signature, "input_format", "dataframe") == "dataframe":
        return list(signature.input_names)
    fitted = getattr(getattr(model, "raw", model), "feature_names_in_", None)
    return None if fitted is None else [str(c) for c in fitted]


def _features(model: Any, data: pd.DataFrame, target: str, features: Sequence[str] | None) -> pd.DataFrame:
    if features is None:
        names = _inputs(model)
        if names is not None and all(name in data.columns for name in names) and target not in list(names):
            return data[list(names)]
        return data.drop(columns=[target])
    if isinstance(features, str):
        raise InvalidArgumentError(f"features must be a list of column names, e.g. features=[{features!r}]")
    missing = [name for name in features if name not in data.columns]
    if missing:
        raise InvalidArgumentError(
            f"feature columns {missing!r} are not in data (columns: {_names(data.columns)})"
        )
    if target in features:
        raise InvalidArgumentError(f"the target column {target!r} cannot be a feature")
    return data[list(features)]


def _resolve_task(task: str | None, y: pd.Series[Any], has_proba: bool) -> Task:
    if task is not None:
        if task not in TASKS:
            raise InvalidArgumentError(f"unknown task {task!r}: use 'classification' or 'regression'")
        return task
    if has_proba:
        return "classification"
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if numeric and y.nunique() >= REGRESSION_MIN_DISTINCT:
        return "regression"
    return "classification"


def _numeric(values: pd.Series[Any], what: str, hint: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    if pd.api.types.is_bool_dtype(values):
        raise InvalidArgumentError(f"{what} must be numbers for a regression, but holds booleans; {hint}")
    if not pd.api.types.is_numeric_dtype(values):
        converted = pd.to_numeric(values, errors="coerce")
        bad = values[converted.isna() & values.notna()]
        if len(bad):
            raise InvalidArgumentError(
                f"{what} must be numbers for a regression, but holds values such as "
                f"{bad.head(3).tolist()!r}; {hint}"
            )
        values = converted
    array = values.to_numpy(dtype=float)
    if np.isnan(array).any():
        raise InvalidArgumentError(f"{what} has missing values: drop those rows before evaluating")
    return array


def _as_1d(predictions: Any, n_rows: int, name: str) -> np.ndarray[Any, Any]:
    array = np.asarray(
        predictions.to_numpy() if isinstance(predictions, pd.DataFrame | pd.Series) else predictions
    )
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or len(array) != n_rows:
        raise InvalidArgumentError(
            f"{name} returned {array.shape} values for {n_rows} rows: it must return one prediction per row"
        )
    return array


def _names(columns: Any, limit: int = 12) -> str:
    names = [str(c) for c in columns]
    return ", ".join(names[:limit]) + (f", … ({len(names)} in all)" if len(names) > limit else "")


# --- classes ----------------------------------------------------------------------------------------------


def _model_classes(model: Any) -> list[Any] | None:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    return [_plain(c) for c in np.asarray(classes).tolist()]


def _proba_classes(
    model: Any, raw: Any, y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any]
) -> list[Any]:
    if isinstance(raw, pd.DataFrame):
        return [_plain(c) for c in raw.columns]
    classes = _model_classes(model)
    if classes is not None:
        return classes
    seen = _sorted_labels(np.concatenate([y_true, y_pred]))
    width = np.asarray(raw).shape[1] if np.asarray(raw).ndim == 2 else 0
    if width != len(seen):
        raise InvalidArgumentError(
            f"predict_proba returned {width} columns but {len(seen)} classes occur in the data and the model "
            "names none (no classes_): return a DataFrame whose columns are the classes"
        )
    return seen


def _sorted_labels(values: np.ndarray[Any, Any]) -> list[Any]:
    unique = {_plain(v) for v in values.tolist()}
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=str)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --- metrics ----------------------------------------------------------------------------------------------


def _classification_metrics(
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    proba: np.ndarray[Any, Any] | None,
    classes: list[Any],
    positive: Any,
) -> dict[str, float]:
    from sklearn import metrics as skm

    out: dict[str, float] = {"accuracy": float(skm.accuracy_score(y_true, y_pred))}
    if positive is not None:
        for name, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            out[name] = float(fn(y_true, y_pred, pos_label=positive, zero_division=0))
    else:
        for name, fn in (
            ("precision_weighted", skm.precision_score),
            ("recall_weighted", skm.recall_score),
            ("f1_weighted", skm.f1_score),
        ):
            out[name] = float(fn(y_true, y_pred, average="weighted", zero_division=0))
        out["f1_macro"] = float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    if proba is not None:
        present = {_plain(v) for v in y_true.tolist()}
        if positive is not None:
            if len(present) == 2:
                out["roc_auc"] = float(
                    skm.roc_auc_score(y_true == positive, proba[:, classes.index(positive)])
                )
        elif len(present) > 1:
            keep = [i for i, c in enumerate(classes) if c in present]
            sub = proba[:, keep]
            sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
            labels = [classes[i] for i in keep]
            if len(labels) == 2:
                out["roc_auc_ovr_weighted"] = float(skm.roc_auc_score(y_true == labels[1], sub[:, 1]))
            else:
                out["roc_auc_ovr_weighted"] = float(
                    skm.roc_auc_score(y_true, sub, multi_class="ovr", average="weighted", labels=labels)
                )
        out["log_loss"] = float(skm.log_loss(y_true, np.clip(proba, 0.0, 1.0), labels=classes))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _regression_metrics(
    y_true: np.ndarray[Any, np.dtype[np.float64]], y_pred: np.ndarray[Any, np.dtype[np.float64]]
) -> dict[str, float]:
    err = y_pred - y_true
    out = {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
    if len(y_true) >= 2:
        ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
        if ss_tot > 0:
            out["r2"] = 1.0 - float(np.sum(err**2)) / ss_tot
    nonzero = y_true != 0
    if nonzero.any():
        out["mape"] = float(np.mean(np.abs(err[nonzero] / y_true[nonzero])))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _confusion(
    y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any], classes: list[Any]
) -> ConfusionMatrix:
    index = {c: i for i, c in enumerate(classes)}
    labels = list(classes)
    for value in (*y_true.tolist(), *y_pred.tolist()):  # labels the model never named still get a row
        value = _plain(value)
        if value not in index:
            index[value] = len(labels)
            labels.append(value)
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, ([index[_plain(v)] for v in y_true], [index[_plain(v)] for v in y_pred]), 1)
    return ConfusionMatrix(
        labels=tuple(str(label) for label in labels),
        matrix=tuple(tuple(int(n) for n in row) for row in matrix.tolist()),
    )


def _calibration(
    p: np.ndarray[Any, Any], observed: np.ndarray[Any, Any]
) -> tuple[tuple[CalibrationBin, ...], float]:
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, CALIBRATION_BINS - 1)
    bins: list[CalibrationBin] = []
    ece = 0.0
    for i in range(CALIBRATION_BINS):
        mask = which == i
        count = int(mask.sum())
        if not count:
            continue
        mean_p = float(p[mask].mean())
        rate = float(observed[mask].astype(float).mean())
        ece += count / len(p) * abs(mean_p - rate)
        lower, upper = i / CALIBRATION_BINS, (i + 1) / CALIBRATION_BINS
        bins.append(CalibrationBin(lower, upper, mean_p, rate, count))
    return tuple(bins), float(ece)


def _per_slice(
    data: pd.DataFrame, columns: Sequence[str], measure: Callable[[np.ndarray[Any, Any]], dict[str, float]]
) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for column in columns:
        values = data[column]
        keys = values.map(lambda v: MISSING_SLICE if _is_missing(v) else str(v)).to_numpy(dtype=object)
        groups: dict[str, dict[str, float]] = {}
        for key in sorted(set(keys.tolist())):
            idx = np.flatnonzero(keys == key)
            groups[key] = {**measure(idx), "n_rows": float(len(idx))}
        out[column] = groups
    return out


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# --- latency ----------------------------------------------------------------------------------------------


def _latency(predict: PredictFn, x: pd.DataFrame, batch_size: int, repeats: int) -> dict[str, float]:
    batch = x.iloc[: min(batch_size, len(x))]
    times: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        predict(batch)
        times.append(max(time.perf_counter_ns() - start, 1) / 1e6)  # ms; never 0 on a coarse clock
    ms = np.asarray(times)
    mean = float(ms.mean())
    return {
        "batch_rows": float(len(batch)),
        "batch_ms": mean,
        "per_row_us": mean * 1000.0 / len(batch),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
    }
