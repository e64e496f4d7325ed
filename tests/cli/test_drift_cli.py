"""``loopml drift REF CUR``: a table, JSON, an HTML page; bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import loopml as lm
from loopml.cli import app
from loopml.cli._drift import parse_tests
from loopml.errors import InvalidArgumentError

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(4)
    n = 1500
    ref = pd.DataFrame(
        {"temp": rng.normal(20, 2, n), "pressure": rng.normal(5, 1, n), "mode": rng.choice(["a", "b"], n)}
    )
    cur = ref.assign(temp=rng.normal(24, 2, n))
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_csv(tmp_path / "cur.csv", index=False)
    return tmp_path / "ref.parquet", tmp_path / "cur.csv"


def test_a_table_on_a_terminal(files: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["drift", str(files[0]), str(files[1])])
    assert result.exit_code == 0, result.output  # a finding, not a failure
    assert "does not drift (1 of 3 columns, 33%; it drifts at 50%)" in result.output
    assert "wasserstein" in result.output and "jensenshannon" in result.output


def test_json_tests_and_a_page(files: tuple[Path, Path], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    args = [
        "drift",
        *map(str, files),
        "--json",
        "-t",
        "pressure=psi:0.5",
        "-t",
        "mode=chisquare",
        "-o",
        str(page),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    tests = {c["column"]: (c["test"], c["threshold"], c["drifted"]) for c in data["columns"]}
    assert tests == {
        "temp": ("wasserstein", 0.1, True),
        "pressure": ("psi", 0.5, False),
        "mode": ("chisquare", 0.05, False),
    }
    assert data["drift_share"] == pytest.approx(1 / 3) and data["current"].endswith("cur.csv")
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "pressure" in html


def test_columns_drift_share_and_fail_on_drift(files: tuple[Path, Path]) -> None:
    args = ["drift", *map(str, files), "--columns", "temp,mode", "--json"]
    data = json.loads(runner.invoke(app, args).output)
    assert [c["column"] for c in data["columns"]] == ["temp", "mode"] and data["drifted"] is True
    assert runner.invoke(app, [*args, "--fail-on-drift"]).exit_code == 1
    assert runner.invoke(app, [*args, "--drift-share", "0.6", "--fail-on-drift"]).exit_code == 0


def test_dataset_references(files: tuple[Path, Path]) -> None:
    lm.data.add("sensors", files[0])
    result = runner.invoke(app, ["drift", "sensors:1", str(files[1]), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["reference_rows"] == 1500


def test_bad_input_is_one_line(files: tuple[Path, Path], tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    pd.DataFrame({"x": [1, 2]}).to_csv(other, index=False)
    for args, message in [
        ([str(files[0]), str(other)], "no column in common"),
        ([str(files[0]), "missing:1"], "No dataset named"),
        ([*map(str, files), "-t", "temp"], "is COLUMN=TEST or COLUMN=TEST:THRESHOLD"),
        ([*map(str, files), "-t", "temp=psi:high"], "threshold 'high' is not a number"),
        ([*map(str, files), "-t", "temp=kstest"], "Unknown drift test 'kstest'"),
        ([*map(str, files), "-t", "wind=ks"], "tests names 'wind', which is not compared"),
    ]:
        result = runner.invoke(app, ["drift", *args])
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, result.output


def test_bad_data_is_one_line(files: tuple[Path, Path], tmp_path: Path) -> None:
    empty, nulls, broken = tmp_path / "empty.csv", tmp_path / "nulls.csv", tmp_path / "broken.parquet"
    empty.write_text("temp,pressure,mode\n")
    pd.DataFrame({"temp": [None] * 5, "pressure": [None] * 5}).to_csv(nulls, index=False)
    broken.write_bytes(b"nope")
    for args, message in [
        ([str(files[0]), str(empty)], "The current has no rows"),
        ([str(files[0]), str(nulls)], "No column could be compared (temp: Column 'temp' is null in every"),
        ([str(files[0]), str(broken)], "broken.parquet is not a readable CSV or Parquet file"),
        ([str(files[0]), str(tmp_path / "gone.csv")], "gone.csv does not exist"),
        ([*map(str, files), "-o", str(tmp_path / "no" / "such" / "r.html")], "Cannot write"),
    ]:
        result = runner.invoke(app, ["drift", *args])
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith("error:") and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and ".;" not in result.output, result.output


def test_a_column_not_compared_is_named_with_the_reason(files: tuple[Path, Path], tmp_path: Path) -> None:
    changed = tmp_path / "changed.csv"
    pd.read_csv(files[1]).assign(pressure=lambda f: [f"{v:.1f} bar" for v in f.pressure]).to_csv(
        changed, index=False
    )
    result = runner.invoke(app, ["drift", str(files[0]), str(changed)])
    assert result.exit_code == 0, result.output
    assert "not compared: pressure: Column 'pressure' changed type" in result.output
    assert "[yellow]" not in result.output


def test_parse_tests() -> None:
    assert parse_tests(["a=psi", "b=ks:0.01", "c=d=hellinger:0.2"]) == {
        "a": "psi",
        "b": ("ks", 0.01),
        "c=d": ("hellinger", 0.2),
    }
    with pytest.raises(InvalidArgumentError):
        parse_tests(["=psi"])
