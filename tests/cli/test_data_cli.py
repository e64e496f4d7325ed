"""``loopml data add | ls | show``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loopml.cli import app

runner = CliRunner()


def test_add_ls_show(tmp_path: Path) -> None:
    path = tmp_path / "readings.csv"
    pd.DataFrame({"machine": [1, 2, 3], "status": ["ok", "ok", "fail"]}).to_csv(path, index=False)
    result = runner.invoke(app, ["data", "add", "sensors", str(path), "-t", "prod", "--json"])
    assert result.exit_code == 0, result.output
    added = json.loads(result.output)
    assert (added["ref"], added["num_rows"], added["tags"]) == ("sensors:1", 3, ["prod"])

    result = runner.invoke(app, ["data", "add", "sensors", str(path)])
    assert result.exit_code == 0 and "sensors:1" in result.output  # unchanged content keeps its version

    listed = json.loads(runner.invoke(app, ["data", "ls", "--json"]).output)
    assert [(d["name"], d["versions"]) for d in listed] == [("sensors", 1)]

    shown = runner.invoke(app, ["data", "show", "sensors@prod"])
    assert shown.exit_code == 0 and "machine" in shown.output and "fail, ok" in shown.output
    versions = json.loads(runner.invoke(app, ["data", "show", "sensors", "--json"]).output)
    assert [v["version"] for v in versions] == [1]


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"nope")
    for args, message in [
        (["data", "add", "sensors", str(bad)], "not a readable Parquet file"),
        (["data", "add", "../x", str(bad)], "not allowed"),
        (["data", "show", "missing:1"], "No dataset named"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_runs_show_lists_the_datasets_a_run_used() -> None:
    import loopml as lm

    lm.data.add("raw", pd.DataFrame({"a": [1, 2]}))
    with lm.start_run() as run:
        lm.data.load("raw")
    shown = json.loads(runner.invoke(app, ["runs", "show", run.id, "--json"]).output)
    assert shown["datasets"] == [{"ref": "raw:1", "direction": "input"}]
    assert "raw:1" in runner.invoke(app, ["runs", "show", run.id]).output


def test_validate_shows_stored_report_or_runs_checks_from_a_file(tmp_path: Path) -> None:
    import warnings

    import loopml as lm

    frame = pd.DataFrame({"temp": [20.0, 500.0], "status": ["ok", None]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm.data.add("r", frame, checks=[lm.data.checks.in_range("temp", -40, 120)], on_fail="warn")
    stored = runner.invoke(app, ["data", "validate", "r:1", "--json"])
    assert stored.exit_code == 1 and json.loads(stored.output)["results"][0]["failed_rows"] == 1

    checks_file = tmp_path / "my_checks.py"
    checks_file.write_text(
        "import loopml as lm\nCHECKS = [lm.data.checks.row_count(1, 5), lm.data.checks.not_null('temp')]\n"
    )
    ran = runner.invoke(app, ["data", "validate", "r@latest", "--checks", f"{checks_file}:CHECKS"])
    assert ran.exit_code == 0, ran.output
    assert "row_count(1, 5)" in ran.output and "pass" in ran.output

    failing = runner.invoke(app, ["data", "validate", "r:1", "-c", f"{checks_file}:NOPE"])
    assert failing.exit_code == 1 and "has no 'NOPE'" in failing.output
    lm.data.add("plain", frame)
    assert "without checks" in runner.invoke(app, ["data", "validate", "plain:1"]).output


def test_profile_and_diff(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    first = pd.DataFrame({"temp": rng.normal(60, 5, 5_000), "status": rng.choice(["ok", "fail"], 5_000)})
    second = first.assign(temp=first.temp + 20)
    for i, frame in enumerate([first, second]):
        frame.to_parquet(tmp_path / f"v{i}.parquet")
        assert runner.invoke(app, ["data", "add", "sensors", str(tmp_path / f"v{i}.parquet")]).exit_code == 0

    shown = runner.invoke(app, ["data", "profile", "sensors:1"])
    assert shown.exit_code == 0, shown.output
    assert "temp" in shown.output and "status" in shown.output and "5,000 rows" in shown.output
    profile = json.loads(runner.invoke(app, ["data", "profile", "sensors:1", "-c", "temp", "--json"]).output)
    (temp,) = profile["columns"]
    assert temp["count"] == 5_000 and temp["mean"] == pytest.approx(first.temp.mean())
    assert len(temp["histogram"]["counts"]) == 10 and set(temp["quantiles"]) >= {"p50", "p99"}
    missing = runner.invoke(app, ["data", "profile", "sensors:1", "-c", "nope"])
    assert missing.exit_code == 1 and "no column 'nope'" in missing.output

    compared = runner.invoke(app, ["data", "diff", "sensors:1", "sensors:2"])
    assert (
        compared.exit_code == 0 and "temp" in compared.output and "same columns and types" in compared.output
    )
    moved = json.loads(runner.invoke(app, ["data", "diff", "sensors:1", "sensors:2", "--json"]).output)
    assert moved["columns"][0]["name"] == "temp" and moved["columns"][0]["score"] > 0.9
    unknown = runner.invoke(app, ["data", "diff", "sensors:1", "sensors:5"])
    assert unknown.exit_code == 1 and "Traceback" not in unknown.output
