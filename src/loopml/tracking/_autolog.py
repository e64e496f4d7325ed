"""``lm.autolog()``: every scikit-learn ``fit`` inside a run records itself.

    lm.autolog()
    with lm.start_run():
        RandomForestClassifier(n_estimators=50).fit(X, y)   # params, training_* metrics, model/model.joblib

``fit`` is patched on every class of scikit-learn's estimators that defines it (found through
``sklearn.utils.all_estimators()`` and the classes they inherit ``fit`` from). Only the outermost fit records:
``GridSearchCV(...).fit`` or ``Pipeline(...).fit`` is one record, not one per inner fit. Outside a run the
patched ``fit`` only calls the original. Recording never breaks the user's code: anything that goes wrong
while recording becomes a warning, and ``fit`` returns as it would have.

Several fits in one run: params are write-once, so the first fit's params stay; a later fit logs the params
that are new and warns about those that differ (start a run per fit to keep each one's params). Metrics are
logged at step 0 for the first fit in the run, 1 for the second, and so on; ``model/model.joblib`` holds the
model of the latest fit.
"""

from __future__ import annotations

import functools
import io
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from loopml.errors import ConflictError
from loopml.tracking._fluent import ActiveRun, active_run

MODEL_PATH = "model/model.joblib"
MAX_PARAM_LENGTH = 1000
_METHOD = "fit"

_lock = threading.Lock()
_originals: dict[type, Callable[..., Any]] = {}  # class defining fit -> its own fit, while patched
_options: dict[str, bool] = {"log_models": True}
_local = threading.local()  # .depth: how many patched fits are running in this thread
_fits_per_run: dict[str, int] = {}


class AutologWarning(UserWarning):
    """Something could not be recorded for a fit; the fit itself went through."""


def autolog(disable: bool = False, *, log_models: bool = True) -> None:
    """Record the params, training metrics and fitted model of every scikit-learn ``fit`` inside a run.

    ``disable=True`` puts the original ``fit`` methods back. Calling it again is harmless (and updates
    ``log_models``). Nothing is recorded outside a run.
    """
    with _lock:
        if disable:
            for cls, original in _originals.items():
                setattr(cls, _METHOD, original)
            _originals.clear()
            return
        _options["log_models"] = bool(log_models)
        if _originals:
            return
        for cls in _classes_defining_fit():
            original = vars(cls)["fit"]
            _originals[cls] = original
            setattr(cls, _METHOD, _patched(original))


def is_enabled() -> bool:
    return bool(_originals)


def _classes_defining_fit() -> list[type]:
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # importing every estimator module may warn about deprecations
        estimators = all_estimators()
    found: dict[type, None] = {}
    for _, estimator in estimators:
        owner = next((k for k in estimator.__mro__ if "fit" in vars(k)), None)
        if owner is not None and callable(vars(owner)["fit"]):
            found[owner] = None
    return list(found)


def _patched(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_local, "depth", 0)
        run = active_run() if depth == 0 else None
        if run is None:  # an inner fit of a meta-estimator, or no run: just fit
            return original(self, *args, **kwargs)
        _local.depth = depth + 1  # fits inside this one, or inside the metrics computed after it, are its own
        try:
            result = original(self, *args, **kwargs)
            try:
                _record(run, self, args, kwargs)
            except Exception as exc:
                warnings.warn(
                    f"loopml autolog could not record {type(self).__name__}.fit in run {run.id}: "
                    f"{type(exc).__name__}: {exc}",
                    AutologWarning,
                    stacklevel=2,
                )
        finally:
            _local.depth = depth
        return result

    fit.__loopml_autolog__ = True  # type: ignore[attr-defined]
    return fit


def _record(run: ActiveRun, estimator: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    cls = type(estimator)
    run.set_tags({"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"})
    params = {k: _param_text(v) for k, v in estimator.get_params(deep=False).items()}
    if hasattr(estimator, "best_params_"):  # a search: its best params, like a user would log them
        params.update({f"best_{k}": _param_text(v) for k, v in estimator.best_params_.items()})
    _log_params(run, params)
    step = _fits_per_run.get(run.id, 0)
    _fits_per_run[run.id] = step + 1
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    metrics = training_metrics(estimator, X, y, kwargs.get("sample_weight")) if X is not None else {}
    best_score = getattr(estimator, "best_score_", None)
    if isinstance(best_score, int | float):
        metrics["best_cv_score"] = float(best_score)
    if metrics:
        run.log_metrics(metrics, step=step)
    if _options["log_models"]:
        import joblib

        buffer = io.BytesIO()
        joblib.dump(estimator, buffer)
        run.client.log_bytes(run.id, buffer.getvalue(), MODEL_PATH)


def _param_text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_LENGTH else text[: MAX_PARAM_LENGTH - 3] + "..."


def _log_params(run: ActiveRun, params: dict[str, str]) -> None:
    try:
        run.log_params(params)
        return
    except ConflictError:
        pass
    logged = run.client.store.runs.get_run(run.id).params
    changed = sorted(k for k, v in params.items() if k in logged and logged[k] != v)
    run.log_params({k: v for k, v in params.items() if k not in logged})
    warnings.warn(
        f"loopml autolog: run {run.id} already has params from an earlier fit, and params are write-once; "
        f"kept the earlier {', '.join(changed)}. Start a run per fit to record each one's params.",
        AutologWarning,
        stacklevel=4,
    )


def training_metrics(estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
    """Scores of a fitted estimator on its training data, as ``training_*`` metrics; whatever applies."""
    if y is None:
        return {}
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}

    def add(name: str, compute: Callable[[], Any]) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[f"training_{name}"] = float(compute())
        except Exception:  # a metric that does not apply (no predict_proba, one class, ...) is left out
            pass

    if not (is_classifier(estimator) or is_regressor(estimator)):
        return out  # clusterers, transformers: no training metrics
    sw = {"sample_weight": sample_weight}
    if sample_weight is None:
        add("score", lambda: estimator.score(X, y))
    else:
        add("score", lambda: estimator.score(X, y, sample_weight=sample_weight))
    from sklearn import metrics as m

    if is_classifier(estimator):
        try:
            y_pred = estimator.predict(X)
        except Exception:
            return out
        add("accuracy_score", lambda: m.accuracy_score(y, y_pred, **sw))
        for name, fn in (("precision", m.precision_score), ("recall", m.recall_score), ("f1", m.f1_score)):
            add(f"{name}_score", functools.partial(fn, y, y_pred, average="weighted", zero_division=0, **sw))
        try:
            proba = estimator.predict_proba(X)
        except Exception:  # no probabilities (an SVC without probability=True, a hard-voting ensemble)
            return out
        classes = getattr(estimator, "classes_", None)
        add("log_loss", lambda: m.log_loss(y, proba, labels=classes, **sw))
        if proba.ndim == 2 and proba.shape[1] == 2:
            add("roc_auc", lambda: m.roc_auc_score(y, proba[:, 1], **sw))
        else:
            add("roc_auc", lambda: m.roc_auc_score(y, proba, multi_class="ovr", average="weighted", **sw))
    else:
        try:
            y_pred = estimator.predict(X)
        except Exception:
            return out
        add("r2_score", lambda: m.r2_score(y, y_pred, **sw))
        add("mean_squared_error", lambda: m.mean_squared_error(y, y_pred, **sw))
        add("root_mean_squared_error", lambda: m.mean_squared_error(y, y_pred, **sw) ** 0.5)
        add("mean_absolute_error", lambda: m.mean_absolute_error(y, y_pred, **sw))
    return out


__all__ = ["MODEL_PATH", "AutologWarning", "autolog", "is_enabled", "training_metrics"]
