"""The demo's training pipeline: split, tune a gradient-boosting model, train it and a baseline, evaluate.

A module of its own so that any executor can import its steps by name.
"""

from __future__ import annotations

from typing import Any

import loopml as lm

FEATURES_DROP = ("machine_id", "failure", "is_test")


def _xy(frame: Any) -> tuple[Any, Any]:
    return frame.drop(columns=[c for c in FEATURES_DROP if c in frame]), frame["failure"].to_numpy()


def _estimator(kind: str, params: dict[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    if kind == "random_forest":
        return RandomForestClassifier(n_jobs=-1, random_state=0, **params)
    return HistGradientBoostingClassifier(random_state=0, **params)


@lm.step
def prepare(data: Any, test_size: float = 0.25) -> Any:
    """Mark a stratified test split (a column, so the split itself is stored and cached)."""
    from sklearn.model_selection import train_test_split

    _, test_index = train_test_split(
        data.index, test_size=test_size, stratify=data["failure"], random_state=0
    )
    prepared = data.copy()
    prepared["is_test"] = prepared.index.isin(test_index)
    return prepared


@lm.step
def tune_gbm(prepared: Any, n_trials: int = 8) -> dict[str, Any]:
    """A small Optuna study over the gradient-boosting model; each trial is a child run of this step."""
    from sklearn.model_selection import cross_val_score

    x, y = _xy(prepared[~prepared["is_test"]])

    def objective(params: dict[str, Any]) -> float:
        model = _estimator("hist_gradient_boosting", params)
        return float(cross_val_score(model, x, y, cv=3, scoring="f1").mean())

    study = lm.tune(
        objective,
        {
            "learning_rate": lm.pipelines.log_uniform(0.05, 0.3),
            "max_depth": (3, 6),
            "max_iter": (30, 100),
        },
        n_trials=n_trials,
        direction="maximize",
        metric="cv_f1",
        seed=0,
    )
    return dict(study.best_params)


@lm.step
def train(prepared: Any, kind: str, params: dict[str, Any]) -> Any:
    """Cross-validate (5 folds, logged per fold) and fit on the whole training split."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    x, y = _xy(prepared[~prepared["is_test"]])
    estimator = _estimator(kind, params)
    lm.log_params({"model": kind, **params, "n_rows": len(x), "n_features": x.shape[1]})
    scores = []
    for fold, (tr, va) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(x, y)):
        model = clone(estimator).fit(x.iloc[tr], y[tr])
        scores.append(f1_score(y[va], model.predict(x.iloc[va])))
        lm.log_metric("cv_f1", scores[-1], step=fold)
    lm.log_metrics({"cv_f1_mean": float(np.mean(scores)), "cv_f1_std": float(np.std(scores))})
    return clone(estimator).fit(x, y)


@lm.step
def evaluate(model: Any, prepared: Any) -> dict[str, float]:
    """Scores on the held-out split, logged on the step's run and returned."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    x, y = _xy(prepared[prepared["is_test"]])
    proba = model.predict_proba(x)[:, 1]
    pred = (proba >= 0.5).astype(int)
    scores = {
        "test_accuracy": float(accuracy_score(y, pred)),
        "test_f1": float(f1_score(y, pred)),
        "test_roc_auc": float(roc_auc_score(y, proba)),
    }
    lm.log_metrics(scores)
    return scores


@lm.pipeline(experiment="demo-failure-prediction")
def failure_training(dataset: str = "demo-sensors@latest", n_trials: int = 8) -> None:
    prepared = prepare(lm.data.ref(dataset))
    baseline = train(prepared, "random_forest", {"n_estimators": 150, "max_depth": 10})
    evaluate(baseline, prepared)
    tuned = train(prepared, "hist_gradient_boosting", tune_gbm(prepared, n_trials))
    evaluate(tuned, prepared)


@lm.pipeline(experiment="demo-failure-retrain")
def failure_retrain(dataset: str = "demo-sensors@latest", max_iter: int = 100) -> None:
    """What the loop retrains with: the same split and model family, on the data the agent hands it."""
    prepared = prepare(lm.data.ref(dataset))
    train(prepared, "hist_gradient_boosting", {"max_iter": max_iter, "learning_rate": 0.1})
