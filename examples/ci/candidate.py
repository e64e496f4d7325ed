"""Register the model of a retraining run as the next version, and its held-out rows as the gate's data.

    loopml pipeline run pipeline.py:retrain --config params.yaml --quiet --json > run.json
    python candidate.py run.json       # prints the candidate's reference, e.g. failure-predictor:4

The version is only a candidate: no alias points at it until `loopml gate` passes it and the workflow's
last step moves one. A rejected version stays in the registry with the gate's reasons recorded on it
(`loopml models show failure-predictor:4`), so the history says what was tried and why it lost.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pipeline import NOT_FEATURES

import loopml as lm
from loopml.pipelines import get_pipeline_run

MODEL = os.environ.get("MODEL", "failure-predictor")


def main(run_json: str) -> None:
    run = get_pipeline_run(json.loads(Path(run_json).read_text())["id"])
    train = run.output("train_rows")
    trained_on = lm.data.add("sensors-train", train)
    lm.data.add("sensors-holdout", run.output("holdout_rows"))  # what `loopml gate --data` judges on
    commit = os.environ.get("GITHUB_SHA", "")[:12] or "a local change"
    version = lm.register_model(
        MODEL,
        run.output("fit"),
        input_example=train.drop(columns=NOT_FEATURES).head(5),
        data=trained_on,
        run=run.step("fit").run_id,
        reason=f"retrained by CI for {commit}",
    )
    print(version.ref)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python candidate.py RUN_JSON (what `loopml pipeline run ... --json` printed)")
    main(sys.argv[1])
