"""Track a scikit-learn training run with loopml, then find the best run by a metric search.

.venv/bin/python examples/track_sklearn.py
.venv/bin/loopml runs ls -e iris -o "metrics.accuracy desc"
"""

from __future__ import annotations

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

import loopml as lm


def main() -> None:
    x, y = load_iris(return_X_y=True)
    for c in (0.01, 0.1, 1.0, 10.0):
        with lm.start_run(experiment="iris", name=f"logreg-C{c}"):
            lm.log_params({"model": "logreg", "C": c})
            scores = cross_val_score(LogisticRegression(C=c, max_iter=500), x, y, cv=5)
            for fold, score in enumerate(scores):
                lm.log_metric("fold_accuracy", float(score), step=fold)
            lm.log_metric("accuracy", float(scores.mean()))
    best = lm.search_runs(
        "params.model = 'logreg'", experiment="iris", order_by="metrics.accuracy desc", limit=1
    )
    print(f"best: {best[0].name} accuracy={best[0].metrics['accuracy']:.3f}")


if __name__ == "__main__":
    main()
