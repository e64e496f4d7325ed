"""Train a candidate and register it: the first half of the CI workflow in this folder.

    python examples/ci/train.py        # prints the candidate's reference, e.g. failure-predictor:4

The workflow then runs `loopml gate` on it against the champion, and moves `champion` when it passes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier

import loopml as lm

MODEL = "failure-predictor"


@lm.step
def make_data(n_rows: int = 4000, seed: int = 7) -> pd.DataFrame:
    x, y = make_classification(
        n_samples=n_rows, n_features=12, n_informative=6, weights=[0.8, 0.2], random_state=seed
    )
    frame = pd.DataFrame(x, columns=[f"sensor_{i}" for i in range(12)])
    frame["site"] = np.random.default_rng(seed).choice(["north", "south", "east"], size=n_rows)
    frame["failure"] = y
    return frame


@lm.step
def fit(frame: pd.DataFrame, max_iter: int = 100) -> HistGradientBoostingClassifier:
    features = frame.drop(columns=["failure", "site"])
    return HistGradientBoostingClassifier(max_iter=max_iter, random_state=0).fit(features, frame["failure"])


@lm.pipeline(experiment="ci")
def training(max_iter: int = 100) -> None:
    fit(make_data(), max_iter)


def main() -> None:
    run = training()
    frame = run.output("make_data")
    train, holdout = frame.iloc[:3000], frame.iloc[3000:]
    lm.data.add("ci-train", train)
    lm.data.add("ci-holdout", holdout)  # what `loopml gate --data ci-holdout` judges on
    version = lm.register_model(
        MODEL,
        run.output("fit"),
        input_example=train.drop(columns=["failure", "site"]).head(5),
        data="ci-train@latest",
        run=run.step("fit").run_id,
        reason="trained by CI",
    )
    print(version.ref)


if __name__ == "__main__":
    main()
