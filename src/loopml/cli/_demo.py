"""``loopml demo``: real work on generated data, end to end, in well under two minutes on 2 cores.

Today it stores generated sensor data as a dataset version (checked and profiled), trains two failure
predictors on it inside tracked runs that record it as their input (params, per-fold metrics, a model and its
feature importances as artifacts), and compares them with a metric search.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import typer

from loopml.cli._app import app
from loopml.cli._output import console, err_console, fmt_number, table

EXPERIMENT = "demo-failure-prediction"
DATASET = "demo-sensors"
SENSORS = ("temperature", "vibration", "pressure", "rpm", "voltage", "current", "humidity", "torque")


def make_sensor_data(n_rows: int = 6000, seed: int = 7) -> Any:
    """Readings of machines, of which some fail soon after: a binary classification task."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=n_rows,
        n_features=len(SENSORS) + 12,
        n_informative=8,
        n_redundant=4,
        weights=[0.8, 0.2],
        flip_y=0.02,
        class_sep=0.9,
        random_state=seed,
    )
    columns = [*SENSORS, *(f"sensor_{i:02d}" for i in range(12))]
    frame = pd.DataFrame(x, columns=columns)
    frame.insert(0, "machine_id", np.random.default_rng(seed).integers(1, 51, size=n_rows))
    frame["failure"] = y
    return frame


def demo_checks() -> list[Any]:
    from loopml.data import checks as C

    return [
        C.row_count(min=1000),
        C.not_null("machine_id"),
        C.in_range("machine_id", 1, 50),
        C.in_set("failure", [0, 1]),
        C.max_null_fraction("temperature", 0.01),
        C.has_column("rpm", "float"),
    ]


def _train(name: str, estimator: Any, params: dict[str, Any], data_ref: str, quiet: bool) -> str:
    import joblib
    import numpy as np
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, train_test_split

    import loopml as lm

    with lm.start_run(experiment=EXPERIMENT, name=name, tags={"model_family": name.split("-")[0]}) as run:
        data = lm.data.load(data_ref)  # recorded as the run's input
        features = data.drop(columns=["machine_id", "failure"])
        target = data["failure"].to_numpy()
        x_train, x_test, y_train, y_test = train_test_split(
            features, target, test_size=0.25, stratify=target, random_state=0
        )
        lm.log_params({**params, "n_rows": len(data), "n_features": features.shape[1], "cv_folds": 5})
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
        scores = []
        for fold, (tr, va) in enumerate(folds.split(x_train, y_train)):
            model = clone(estimator).fit(x_train.iloc[tr], y_train[tr])
            proba = model.predict_proba(x_train.iloc[va])[:, 1]
            pred = (proba >= 0.5).astype(int)
            fold_scores = {
                "cv_accuracy": accuracy_score(y_train[va], pred),
                "cv_f1": f1_score(y_train[va], pred),
                "cv_roc_auc": roc_auc_score(y_train[va], proba),
            }
            lm.log_metrics(fold_scores, step=fold)
            scores.append(fold_scores["cv_f1"])
            if not quiet:
                err_console.print(
                    f"  {name}: fold {fold + 1}/5 f1={fold_scores['cv_f1']:.3f}", highlight=False
                )
        model = clone(estimator).fit(x_train, y_train)
        proba = model.predict_proba(x_test)[:, 1]
        pred = (proba >= 0.5).astype(int)
        lm.log_metrics(
            {
                "cv_f1_mean": float(np.mean(scores)),
                "cv_f1_std": float(np.std(scores)),
                "test_accuracy": accuracy_score(y_test, pred),
                "test_f1": f1_score(y_test, pred),
                "test_roc_auc": roc_auc_score(y_test, proba),
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.joblib"
            joblib.dump(model, path)
            lm.log_artifact(path, "model")
        importances = getattr(model, "feature_importances_", None)
        if importances is None and hasattr(model, "coef_"):
            importances = np.abs(model.coef_[0])
        if importances is not None:
            ranked = sorted(zip(features.columns, importances, strict=True), key=lambda kv: -kv[1])
            lm.log_dict({k: float(v) for k, v in ranked}, "feature_importances.json")
        return run.id


@app.command("demo")
def demo_cmd(quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print the summary.")) -> None:
    """Train two failure predictors on generated sensor data, tracked end to end."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    import loopml as lm

    started = time.perf_counter()
    settings = lm.get_settings()
    console.print(
        f"[bold]loopml demo[/]: metadata in {settings.database_url}, blobs in {settings.artifact_root}"
    )
    data = make_sensor_data()
    sensors = lm.data.add(
        DATASET,
        data,
        checks=demo_checks(),
        description="Generated readings of 50 machines; failure is the label.",
    )
    assert sensors.checks is not None
    passed = sum(r["passed"] for r in sensors.checks["results"])
    console.print(
        f"Generated {len(data):,} sensor readings from 50 machines ({data['failure'].mean():.0%} fail), "
        f"stored as dataset version [bold]{sensors.ref}[/] ({sensors.digest[:12]}): "
        f"{passed} of {len(sensors.checks['results'])} checks passed, profile stored."
    )
    temperature = lm.data.profile(sensors)["temperature"]
    console.print(
        f"Profile of temperature: mean {temperature.mean:.2f}, std {temperature.std:.2f}, "
        f"median {temperature.quantiles((0.5,))[0.5]:.2f}, ~{temperature.distinct:,} distinct values.",
        highlight=False,
    )
    rf_params = {"model": "random_forest", "n_estimators": 150, "max_depth": 10}
    gb_params = {"model": "hist_gradient_boosting", "max_iter": 200, "learning_rate": 0.1}
    run_ids = [
        _train(
            "rf-baseline",
            RandomForestClassifier(n_estimators=150, max_depth=10, n_jobs=-1, random_state=0),
            rf_params,
            sensors.ref,
            quiet,
        ),
        _train(
            "gbm-challenger",
            HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=0),
            gb_params,
            sensors.ref,
            quiet,
        ),
    ]
    runs = lm.search_runs(f"id in ('{run_ids[0]}', '{run_ids[1]}')", order_by=["metrics.test_f1 desc"])
    table(
        "Runs of this demo, best test F1 first",
        ["Run", "ID", "CV F1", "Test F1", "Test AUC"],
        [
            (
                r.name,
                r.id[:8],
                f"{r.metrics['cv_f1_mean']:.3f} ± {r.metrics['cv_f1_std']:.3f}",
                f"{r.metrics['test_f1']:.3f}",
                f"{r.metrics['test_roc_auc']:.3f}",
            )
            for r in runs
        ],
    )
    artifacts = ", ".join(a.path for a in lm.get_run(runs[0].id).artifacts)
    console.print(f"Each run stored its params, 5 folds of metrics and artifacts ({artifacts}).")
    best = runs[0]
    console.print(
        f"Best: [bold]{best.name}[/] (test F1 {fmt_number(best.metrics['test_f1'])}). "
        f"Finished in {time.perf_counter() - started:.1f}s."
    )
    console.print(
        f"Next: [cyan]loopml runs ls[/], [cyan]loopml runs show {best.id[:8]}[/], [cyan]loopml doctor[/]"
    )
