"""``loopml monitor add|ls|check|windows|report|rm``: tables on a terminal, --json for scripts, errors as
one line. The log is written with explicit timestamps in the past, so every window is complete now."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import loopml as lm
from loopml.cli import app
from loopml.monitoring import PredictionLogger
from loopml.tracking import get_client

runner = CliRunner()
DAY_MS = 86_400_000


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _frame(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    x = rng.normal(shift, 1.0, n)
    return pd.DataFrame({"x": x, "z": rng.normal(0, 1, n), "y": (x + rng.normal(0, 0.5, n) > 0).astype(int)})


@pytest.fixture
def logged() -> None:
    """A model evaluated on a held-out dataset, and two days of its predictions, the second shifted in x."""
    rng = np.random.default_rng(3)
    train = _frame(400, rng)
    model = LogisticRegression().fit(train[["x", "z"]], train["y"])
    lm.register_model("churn", model, input_example=train[["x", "z"]].head())
    holdout = lm.data.add("churn-holdout", _frame(300, rng))
    lm.evaluate("churn:1", holdout, target="y")
    client = get_client()
    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    with PredictionLogger(client.store, client.artifacts, model="churn", flush_interval=3600.0) as logger:
        for day, shift in ((2, 0.0), (1, 2.0)):
            frame = _frame(200, rng, shift)
            for i in range(len(frame)):
                x = frame[["x", "z"]].iloc[[i]]
                logger.log(
                    request_id=f"d{day}-{i}",
                    model_version=1,
                    route="champion",
                    inputs=x,
                    outputs=model.predict(x),
                    latency_ms=3.0,
                    timestamp_ms=today - day * DAY_MS + i * 1000,
                )
            logger.flush()


def test_add_check_windows_ls_and_rm(logged: None) -> None:
    code, out = invoke("monitor", "add", "churn-watch", "churn", "--rule", "drifted(x) >= 1", "--json")
    assert code == 0, out
    added = json.loads(out)
    assert added["config"]["features"] == ["x", "z"] and added["reference"]["dataset"] == "churn-holdout:1"
    code, out = invoke("monitor", "add", "psi-watch", "churn", "--test", "psi:0.3", "--json")
    assert code == 0 and json.loads(out)["config"]["tests"]["x"] == ["psi", 0.3], out
    per_column = ["--test", "x=ks:0.01", "--test", "z=psi"]
    code, out = invoke("monitor", "add", "ks-watch", "churn", *per_column, "--json")
    assert code == 0 and json.loads(out)["config"]["tests"] == {"x": ["ks", 0.01], "z": "psi"}, out
    assert invoke("monitor", "rm", "psi-watch")[0] == 0 and invoke("monitor", "rm", "ks-watch")[0] == 0

    code, out = invoke("monitor", "check", "churn-watch", "--json")
    assert code == 0, out
    (checked,) = json.loads(out)
    assert checked["windows_computed"] == 2
    drifted = [r["metrics"]["drifted(x)"] for r in checked["results"]]
    assert drifted == [0, 1]
    assert [a["rule"] for a in checked["firing"]] == ["drifted(x) >= 1"]

    code, out = invoke("monitor", "check")
    assert code == 0 and "nothing new" in out and "firing" in out

    code, out = invoke("monitor", "windows", "churn-watch")
    assert code == 0 and "Windows of churn-watch" in out
    code, out = invoke("monitor", "windows", "churn-watch", "--json")
    assert [w["metrics"]["rows"] for w in json.loads(out)] == [200, 200]

    code, out = invoke("monitor", "ls")
    assert code == 0 and "churn-watch" in out
    code, out = invoke("monitor", "ls", "--json")
    (listed,) = json.loads(out)
    assert listed["name"] == "churn-watch" and listed["firing_alerts"] == 1

    code, out = invoke("monitor", "rm", "churn-watch")
    assert code == 0
    code, out = invoke("monitor", "ls", "--json")
    assert json.loads(out) == []


def test_report_writes_a_page(logged: None, tmp_path: Path) -> None:
    assert invoke("monitor", "add", "churn-watch", "churn")[0] == 0
    assert invoke("monitor", "check", "churn-watch")[0] == 0
    target = tmp_path / "report.html"
    code, out = invoke("monitor", "report", "churn-watch", "--window", "1d", "-o", str(target))
    assert code == 0, out
    page = target.read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and "churn-watch" in page
    # opens without a network: nothing is loaded from elsewhere (an SVG's namespace is only a name)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) and "@import" not in page


def test_errors_are_one_line(logged: None) -> None:
    code, out = invoke("monitor", "add", "bad", "churn", "--rule", "psi(xx) > 0.2")
    assert code == 1 and out.startswith("error:") and "unknown column 'xx'" in out and "Traceback" not in out
    code, out = invoke("monitor", "check", "nothing-here")
    assert code == 1 and out.startswith("error:")
    code, out = invoke("monitor", "add", "u", "no-such-model")
    assert code == 1 and out.startswith("error: No registered model named 'no-such-model'")
    lm.register_model("churn-new", LogisticRegression().fit([[0.0], [1.0]], [0, 1]))  # never evaluated
    code, out = invoke("monitor", "add", "n", "churn-new")
    assert code == 1 and out.startswith("error: churn-new:1 has no reference") and "reference=" in out
    code, out = invoke("monitor", "add", "n", "churn-new", "--reference", "churn-holdout:1", "--target", "z")
    assert code == 1 and "error: the model cannot predict the reference rows (X has 2 features" in out, out
    code, out = invoke("monitor", "add", "w", "churn", "--window", "10m")
    assert code == 1 and "'1h', '6h', '1d'" in out
    code, out = invoke("monitor", "add", "t", "churn", "--test", "x")
    assert code == 1 and "error:" in out
    code, out = invoke("monitor", "add", "t", "churn", "--test", "x=ks:7")
    assert code == 1 and "ks threshold of column 'x' is a p-value" in out
    code, out = invoke("monitor", "add", "t", "churn", "--test", "x=psi:high")
    assert code == 1 and "the threshold 'high' is not a number" in out
    assert invoke("monitor", "add", "churn-watch", "churn")[0] == 0
    code, out = invoke("monitor", "report", "churn-watch", "-o", "no/such/folder/report.html")
    assert code == 1 and out.startswith("error: Cannot write") and "Traceback" not in out


def test_one_failing_monitor_does_not_stop_the_others(logged: None) -> None:
    assert invoke("monitor", "add", "a-watch", "churn", "--features", "x")[0] == 0
    assert invoke("monitor", "add", "b-watch", "churn")[0] == 0
    client = get_client()
    digest = client.store.monitors.get("a-watch").reference["profile_digest"]
    (Path(client.artifacts.root) / "objects" / digest[:2] / digest[2:]).write_bytes(b"damaged")
    code, out = invoke("monitor", "check")
    assert code == 1 and "Traceback" not in out
    assert "b-watch: 2 window(s) computed" in out
    (error,) = [line for line in out.splitlines() if line.startswith("error:")]
    assert error.startswith("error: a-watch: ")
    code, out = invoke("monitor", "check", "--json")
    assert code == 1
    assert [(c["monitor"], "error" in c) for c in json.loads(out)] == [("b-watch", False), ("a-watch", True)]
