"""The retraining pipeline the CI workflow runs on every pull request.

    loopml pipeline run pipeline.py:retrain --config params.yaml

Its steps are cached by code, inputs and parameters, so a pull request that changes only ``fit`` (or only
``params.yaml``) reuses the data steps from the shared Store. The newest quarter of the rows is held out:
the gate judges the candidate and the champion on rows strictly newer than anything the candidate trained on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier

import loopml as lm

TARGET = "failure"
NOT_FEATURES = [TARGET, "site", "timestamp_ms"]  # the label, a slice column, the time the row was seen
HOLDOUT = 0.25


@lm.step
def sensors(n_rows: int = 4000, seed: int = 7) -> pd.DataFrame:
    """Labelled sensor readings, oldest first. In your project: ``lm.data.load("sensors@latest")``."""
    x, y = make_classification(
        n_samples=n_rows, n_features=12, n_informative=6, weights=[0.8, 0.2], random_state=seed
    )
    frame = pd.DataFrame(x, columns=[f"sensor_{i}" for i in range(12)])
    frame["site"] = np.random.default_rng(seed).choice(["north", "south", "east"], size=n_rows)
    frame["timestamp_ms"] = 1_767_225_600_000 + np.arange(n_rows, dtype=np.int64) * 60_000
    frame[TARGET] = y
    return frame


@lm.step
def train_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("timestamp_ms").iloc[: int(len(frame) * (1 - HOLDOUT))].reset_index(drop=True)


@lm.step
def holdout_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("timestamp_ms").iloc[int(len(frame) * (1 - HOLDOUT)) :].reset_index(drop=True)


@lm.step
def fit(
    train: pd.DataFrame, n_estimators: int = 100, learning_rate: float = 0.1
) -> GradientBoostingClassifier:
    model = GradientBoostingClassifier(n_estimators=n_estimators, learning_rate=learning_rate, random_state=0)
    return model.fit(train.drop(columns=NOT_FEATURES), train[TARGET])


@lm.pipeline(experiment="ci-retrain")
def retrain(n_estimators: int = 100, learning_rate: float = 0.1, seed: int = 7) -> None:
    frame = sensors(seed=seed)
    holdout_rows(frame)
    fit(train_rows(frame), n_estimators, learning_rate)
