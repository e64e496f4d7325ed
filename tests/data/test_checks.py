"""Declared data checks: each rule, the report, and what on_fail does with data that fails."""

from __future__ import annotations

import warnings

import pandas as pd
import pyarrow as pa
import pytest

import loopml as lm
from loopml.data import checks as C
from loopml.errors import DataCheckError, InvalidArgumentError
from loopml.store import DatasetStatus
from loopml.tracking import get_client


@pytest.fixture
def readings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "machine_id": [1, 2, 3, 4, None, 6],
            "temp": [20.0, 150.0, -50.0, 30.0, 25.0, 26.0],
            "status": ["ok", "ok", "fail", "broken", "ok", None],
            "serial": ["SN-001", "SN-002", "bad", "SN-004", "SN-002", "SN-006"],
        }
    )


def report_for(frame: pd.DataFrame, *checks: C.Check) -> C.CheckReport:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return C.run_checks(list(checks), table.schema, table.to_batches(max_chunksize=2))  # several batches


class TestEachCheck:
    @pytest.mark.parametrize(
        ("check", "failed_rows", "failing"),
        [
            (C.not_null("machine_id"), 1, [4]),
            (C.in_range("temp", -40, 120), 2, [1, 2]),
            (C.in_set("status", ["ok", "fail"]), 1, [3]),
            (C.matches_regex("serial", r"^SN-\d{3}$"), 1, [2]),
            (C.unique("serial"), 1, [4]),
            (C.custom("warm", lambda df: df["temp"] > 0), 1, [2]),
        ],
    )
    def test_row_checks_count_rows_and_show_which(
        self, readings: pd.DataFrame, check: C.Check, failed_rows: int, failing: list[int]
    ) -> None:
        (result,) = report_for(readings, check).results
        assert not result.passed and result.failed_rows == failed_rows
        assert [row["_row"] for row in result.sample] == failing  # row numbers across batches
        assert set(result.sample[0]) >= {"_row", "machine_id", "temp"}

    @pytest.mark.parametrize(
        "check",
        [
            C.not_null("temp"),
            C.in_range("temp", -60, 200),
            C.in_set("status", ["ok", "fail", "broken"]),
            C.unique("temp"),
            C.max_null_fraction("status", 0.2),
            C.row_count(1, 10),
            C.has_column("temp", "float"),
            C.has_column("temp", "double"),
            C.has_column("machine_id"),
            C.custom("small", lambda df: len(df) < 5),
        ],
    )
    def test_checks_pass_on_good_data(self, readings: pd.DataFrame, check: C.Check) -> None:
        (result,) = report_for(readings, check).results
        assert result.passed, result.message

    def test_dataset_level_checks_fail_with_a_reason(self, readings: pd.DataFrame) -> None:
        report = report_for(
            readings,
            C.max_null_fraction("status", 0.1),
            C.row_count(min=10),
            C.has_column("status", "integer"),
            C.has_column("pressure"),
            C.not_null("pressure"),
            C.custom("never", lambda df: False),
        )
        messages = [r.message for r in report.results]
        assert not report.passed and len(report.failures) == 6
        assert messages[0].startswith("16.7% nulls") and "6 rows" in messages[1]
        assert "not integer" in messages[2] and "missing" in messages[3] and "missing" in messages[4]
        assert "6 checks failed on 6 rows" in report.summary()

    def test_bad_check_definitions(self, readings: pd.DataFrame) -> None:
        with pytest.raises(InvalidArgumentError, match="bad pattern"):
            C.matches_regex("serial", "(")
        with pytest.raises(InvalidArgumentError, match="callable"):
            C.custom("x", 3)
        with pytest.raises(InvalidArgumentError, match="one boolean per row"):
            report_for(readings, C.custom("short", lambda df: [True]))
        with pytest.raises(InvalidArgumentError, match="column name"):
            C.not_null("")


class TestOnFail:
    def test_raise_stores_nothing_and_carries_the_report(self, readings: pd.DataFrame) -> None:
        with pytest.raises(DataCheckError, match="Nothing was stored") as err:
            lm.data.add("r", readings, checks=[C.in_range("temp", -40, 120)])
        assert isinstance(err.value.report, C.CheckReport) and err.value.report.failures[0].failed_rows == 2
        assert list(get_client().artifacts.iter_objects()) == []
        assert get_client().store.datasets.list_datasets() == []  # not even the dataset row

    def test_warn_stores_and_warns(self, readings: pd.DataFrame) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            version = lm.data.add("r", readings, checks=[C.not_null("status")], on_fail="warn")
        assert version.status is DatasetStatus.OK and version.checks is not None
        assert version.checks["passed"] is False and version.checks["results"][0]["failed_rows"] == 1
        assert any(issubclass(w.category, lm.data.DataCheckWarning) for w in caught)

    def test_quarantined_versions_are_kept_but_never_latest(self, readings: pd.DataFrame) -> None:
        good = lm.data.add("r", readings.dropna(), checks=[C.not_null("status")])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bad = lm.data.add("r", readings, checks=[C.not_null("status")], on_fail="quarantine")
        assert bad.status is DatasetStatus.QUARANTINED and bad.version == 2
        assert lm.data.get("r@latest").id == good.id
        assert len(lm.data.load("r:2")) == len(readings)  # still there when asked for by number

    def test_passing_checks_are_recorded(self, readings: pd.DataFrame) -> None:
        version = lm.data.add("r", readings, checks=[C.row_count(1)])
        assert version.checks is not None and version.checks["passed"] is True
        assert C.CheckReport.from_dict(version.checks).passed

    def test_bad_arguments(self, readings: pd.DataFrame) -> None:
        with pytest.raises(InvalidArgumentError, match="on_fail"):
            lm.data.add("r", readings, on_fail="ignore")
        with pytest.raises(InvalidArgumentError, match="not a check"):
            lm.data.add("r", readings, checks=["not_null(a)"])  # type: ignore[list-item]

    def test_bad_checks_are_refused_even_for_known_content(self, readings: pd.DataFrame, tmp_path) -> None:  # type: ignore[no-untyped-def]
        import os
        import time

        path = tmp_path / "r.parquet"
        readings.to_parquet(path)
        os.utime(path, (time.time() - 60, time.time() - 60))
        lm.data.add("r", path)
        with pytest.raises(InvalidArgumentError, match="not a check"):
            lm.data.add("r", path, checks=["not_null(a)"])  # type: ignore[list-item]

    def test_checks_run_over_files_too(self, readings: pd.DataFrame, tmp_path) -> None:  # type: ignore[no-untyped-def]
        path = tmp_path / "r.csv"
        readings.to_csv(path, index=False)
        with pytest.raises(DataCheckError):
            lm.data.add("r", path, checks=[C.in_set("status", ["ok"])])
        assert list(get_client().artifacts.iter_objects()) == []


def test_validate_a_stored_version(readings: pd.DataFrame) -> None:
    lm.data.add("r", readings)
    report = lm.data.validate("r:1", [C.not_null("machine_id"), C.row_count(6, 6)])
    assert [r.passed for r in report.results] == [False, True] and report.num_rows == 6
    assert lm.data.get("r:1").checks is None  # validating does not change the version
