"""``loopml predictions``: the newest logged requests, a summary per version and route, labels joined."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loopml.cli import app
from loopml.cli._predictions import parse_since
from loopml.errors import InvalidArgumentError
from loopml.monitoring import PredictionLogger, log_labels
from loopml.tracking import get_client

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def logged() -> list[str]:
    """30 requests of one row to version 1 (champion) and 10 to version 2 (canary), an hour ago and now;
    the first five labelled."""
    client = get_client()
    now = int(time.time() * 1000)
    ids = []
    with PredictionLogger(client.store, client.artifacts, model="churn") as logger:
        for i in range(40):
            ids.append(f"req-{i:02d}")
            logger.log(
                request_id=ids[-1],
                model_version=1 if i < 30 else 2,
                route="champion" if i < 30 else "canary",
                inputs=np.array([[float(i), 0.5]]),
                input_names=["age", "score"],
                outputs=np.array([i % 2]),
                latency_ms=2.0 + i,
                timestamp_ms=now - 3_600_000 if i < 20 else now - 1000 + i,
            )
    log_labels(client.store, "churn", {rid: 1 for rid in ids[:5]})
    return ids


def test_the_newest_rows_with_their_labels(logged: list[str]) -> None:
    code, out = invoke("predictions", "churn", "--limit", "3", "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert [r["request_id"] for r in rows] == logged[-3:]
    assert rows[0]["input.age"] == 37.0 and rows[0]["output"] == 1 and rows[0]["route"] == "canary"
    code, out = invoke("predictions", "churn", "-n", "25", "--json")
    rows = json.loads(out)
    assert len(rows) == 25 and rows[0]["request_id"] == logged[15]
    assert [r["label"] for r in rows[:5]] == [None] * 5
    code, out = invoke("predictions", "churn", "-n", "40", "--route", "champion", "--json")
    rows = json.loads(out)
    assert len(rows) == 30 and {r["model_version"] for r in rows} == {1}
    assert [r["label"] for r in rows[:6]] == [1, 1, 1, 1, 1, None]
    code, out = invoke("predictions", "churn")
    assert code == 0 and "Predictions of churn (newest 20)" in out and "req-39" in out and "canary" in out


def test_a_summary_per_version_and_route(logged: list[str]) -> None:
    code, out = invoke("predictions", "churn", "--summary", "--json")
    assert code == 0, out
    groups = json.loads(out)["groups"]
    assert [(g["version"], g["route"], g["requests"], g["labelled_rows"]) for g in groups] == [
        (1, "champion", 30, 5),
        (2, "canary", 10, 0),
    ]
    assert groups[1]["latency_p50_ms"] == pd.Series([32.0 + i for i in range(10)]).quantile(0.5)
    code, out = invoke("predictions", "churn", "--summary", "--since", "10m", "--json")
    groups = json.loads(out)["groups"]
    assert [(g["version"], g["requests"]) for g in groups] == [(1, 10), (2, 10)]  # the older 20 left out
    code, out = invoke("predictions", "churn", "--summary")
    assert code == 0 and "Prediction log of churn" in out and "30" in out


def test_mistakes_are_one_line(logged: list[str]) -> None:
    code, out = invoke("predictions", "nope")
    assert code == 1 and "No predictions are logged for 'nope'" in out and "churn" in out
    assert "Traceback" not in out
    code, out = invoke("predictions", "churn", "--route", "blue")
    assert code == 1 and "--route is one of champion, canary, shadow" in out
    code, out = invoke("predictions", "churn", "--since", "yesterday")
    assert code == 1 and "--since takes a span" in out


def test_since_takes_spans_and_times() -> None:
    now = time.time() * 1000
    assert abs(parse_since("2h") - (now - 7_200_000)) < 5_000
    assert abs(parse_since("1.5d") - (now - 129_600_000)) < 5_000
    assert parse_since("2026-05-01T12:00") == parse_since("2026-05-01T12:00+00:00") == 1_777_636_800_000
    with pytest.raises(InvalidArgumentError):
        parse_since("soon")
