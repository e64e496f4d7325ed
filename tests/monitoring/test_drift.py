"""``lm.drift`` and ``column_drift``: kinds and default tests as Evidently picks them, the dataset verdict,
the report's shapes, dataset references and files, and every kind of bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import loopml as lm
from loopml.errors import InvalidArgumentError
from loopml.monitoring import ColumnDrift, DriftReport, column_drift
from loopml.monitoring._drift import ColumnSkipped


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(21)


def frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "temperature": rng.normal(20 + shift, 2, n),
            "rpm": rng.integers(1000, 1100 + int(200 * shift), n),
            "gear": rng.integers(1, 4, n),  # few distinct integers: categorical
            "status": rng.choice(["ok", "warn", "fail"], n, p=[0.8 - 0.2 * shift, 0.15, 0.05 + 0.2 * shift]),
            "door_open": rng.random(n) < 0.2 + 0.2 * shift,
        }
    )


class TestDefaults:
    def test_kinds_and_tests_of_a_small_reference(self, rng: np.random.Generator) -> None:
        report = lm.drift(frame(rng, 800), frame(rng, 600, shift=1.0))
        got = {c.column: (c.kind, c.test) for c in report.columns.values()}
        assert got == {
            "temperature": ("numerical", "ks"),
            "rpm": ("numerical", "ks"),
            "gear": ("categorical", "chisquare"),
            "status": ("categorical", "chisquare"),
            "door_open": ("categorical", "z"),
        }
        assert list(report.columns) == ["temperature", "rpm", "gear", "status", "door_open"]
        assert report.drifted and report.drifted_columns == ["temperature", "rpm", "status", "door_open"]

    def test_kinds_and_tests_of_a_large_reference(self, rng: np.random.Generator) -> None:
        report = lm.drift(frame(rng, 1500), frame(rng, 1200))
        got = {c.column: (c.kind, c.test, c.threshold) for c in report.columns.values()}
        assert got == {
            "temperature": ("numerical", "wasserstein", 0.1),
            "rpm": ("numerical", "wasserstein", 0.1),
            "gear": ("categorical", "jensenshannon", 0.1),
            "status": ("categorical", "jensenshannon", 0.1),
            "door_open": ("categorical", "jensenshannon", 0.1),
        }
        assert not report.drifted and report.drift_share == 0.0

    def test_the_statistic_is_scipys_on_the_non_null_values(self, rng: np.random.Generator) -> None:
        ref, cur = frame(rng, 1200), frame(rng, 900, shift=0.3)
        ref.loc[ref.index[:300], "temperature"] = np.nan  # 900 non-null values left: a small reference
        cur.loc[cur.index[:5], "temperature"] = np.inf
        result = lm.drift(ref, cur).columns["temperature"]
        expected = stats.ks_2samp(ref.temperature.dropna(), cur.temperature.iloc[5:])
        assert result.test == "ks" and result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
        assert result.details["reference_rows"] == 900 and result.details["reference_nulls"] == 300
        assert result.details["current_nulls"] == 5  # infinities are dropped as nulls are

    def test_distinct_values_are_counted_over_both_sides(self) -> None:
        ref = pd.DataFrame({"x": np.repeat([1.5, 2.5, 3.5], 100)})
        cur = pd.DataFrame({"x": np.repeat([4.5, 5.5, 6.5], 100)})
        assert lm.drift(ref, cur).columns["x"].test == "ks"  # six values together; three on each side

    def test_text_is_inferred_when_most_values_are_distinct(self, rng: np.random.Generator) -> None:
        words = ["pump", "valve", "motor", "sensor", "belt", "fan"]
        notes = [" ".join(rng.choice(words, 4)) + f" job {i}" for i in range(200)]
        new = [" ".join(rng.choice([*words, "smoke", "leak"], 4)) + f" job {i}" for i in range(200)]
        report = lm.drift(pd.DataFrame({"note": notes}), pd.DataFrame({"note": new}))
        note = report.columns["note"]
        assert (note.kind, note.test, note.drifted) == ("text", "domain_classifier", True)
        assert {"smoke", "leak"} & set(note.details["words"]["current"])

    def test_text_columns_are_declared(self, rng: np.random.Generator) -> None:
        ref = pd.DataFrame({"code": rng.choice(["pump ok", "fan ok", "belt worn"], 300)})
        cur = pd.DataFrame({"code": rng.choice(["pump ok", "fan ok", "belt worn"], 300)})
        assert lm.drift(ref, cur).columns["code"].kind == "categorical"
        assert lm.drift(ref, cur, text_columns=["code"]).columns["code"].kind == "text"

    def test_pandas_categories_and_object_text(self, rng: np.random.Generator) -> None:
        values = rng.choice(["red", "green"], 500)
        ref = pd.DataFrame({"c": pd.Categorical(values), "o": pd.Series(values, dtype=object)})
        cur = pd.DataFrame({"c": pd.Categorical(values[::-1]), "o": pd.Series(values[::-1], dtype=object)})
        report = lm.drift(ref, cur)
        assert report.columns["c"].kind == report.columns["o"].kind == "categorical"
        assert report.columns["c"].p_value == pytest.approx(report.columns["o"].p_value)


class TestVerdicts:
    def drifting(self, drifted: int, total: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = np.random.default_rng(3)
        ref = pd.DataFrame({f"c{i}": rng.normal(0, 1, 2000) for i in range(total)})
        cur = pd.DataFrame({f"c{i}": rng.normal(1.0 if i < drifted else 0.0, 1, 2000) for i in range(total)})
        return ref, cur

    def test_the_dataset_drifts_when_half_its_columns_do(self) -> None:
        assert lm.drift(*self.drifting(2, 4)).drifted  # 0.5 >= 0.5
        assert not lm.drift(*self.drifting(1, 4)).drifted
        report = lm.drift(*self.drifting(1, 4), drift_share=0.25)
        assert report.drifted and report.drift_share == 0.25 and report.drift_share_threshold == 0.25

    def test_tests_and_thresholds_per_column(self, rng: np.random.Generator) -> None:
        ref, cur = frame(rng, 2000), frame(rng, 2000, shift=0.05)
        report = lm.drift(ref, cur, tests={"temperature": ("psi", 0.0001), "status": "chisquare"})
        assert report.columns["temperature"].test == "psi" and report.columns["temperature"].drifted
        assert report.columns["temperature"].threshold == 0.0001
        assert report.columns["status"].test == "chisquare" and report.columns["status"].threshold == 0.05
        assert report.columns["rpm"].test == "wasserstein"  # the rest keep the default
        everywhere = lm.drift(ref, cur, tests="hellinger")
        assert {c.test for c in everywhere.columns.values()} == {"hellinger"}

    def test_a_numerical_test_on_an_integer_column_makes_it_numerical(self, rng: np.random.Generator) -> None:
        ref, cur = frame(rng, 500), frame(rng, 500)
        gear = lm.drift(ref, cur, tests={"gear": "ks"}).columns["gear"]
        assert (gear.kind, gear.test) == ("numerical", "ks")
        assert gear.p_value == pytest.approx(stats.ks_2samp(ref.gear, cur.gear).pvalue)

    def test_a_category_the_reference_never_had(self) -> None:
        ref = pd.DataFrame({"product": ["a"] * 500 + ["b"] * 500})
        cur = pd.DataFrame({"product": ["a"] * 450 + ["b"] * 450 + ["c"] * 100})
        result = lm.drift(ref, cur).columns["product"]
        assert result.test == "chisquare" and result.p_value == 0.0 and result.drifted
        assert result.details["new_values"] == 1 and result.details["new_examples"] == ["c"]
        js = lm.drift(ref, cur, tests="jensenshannon").columns["product"]
        assert js.statistic > 0 and math.isfinite(js.statistic)

    def test_a_constant_reference_column(self) -> None:
        ref = pd.DataFrame({"voltage": np.full(2000, 230.0)})
        same = lm.drift(ref, ref.copy()).columns["voltage"]
        assert same.test == "jensenshannon" and same.statistic == 0.0 and not same.drifted
        noisy = pd.DataFrame({"voltage": np.random.default_rng(1).normal(230, 1, 2000)})
        moved = lm.drift(ref, noisy).columns["voltage"]
        assert moved.test == "wasserstein" and moved.drifted and moved.details["std_floored"]


class TestReport:
    def test_frame_and_dict(self, rng: np.random.Generator) -> None:
        x = rng.normal(0, 1, 300)
        ref = pd.DataFrame({"x": x, "s": ["a"] * 300})
        cur = pd.DataFrame({"x": x[::-1], "s": ["a"] * 290 + ["b"] * 10})
        report = lm.drift(ref, cur, tests={"s": "chisquare"})
        table = report.to_frame()
        assert list(table.columns) == [
            "column",
            "kind",
            "test",
            "statistic",
            "p_value",
            "threshold",
            "drifted",
        ]
        assert table.drifted.dtype == bool and table.column.tolist() == ["x", "s"]
        data = json.loads(json.dumps(report.to_dict(), allow_nan=False))  # JSON types only
        assert data["columns"][1]["statistic"] is None  # an infinite chi-squared statistic
        assert data["columns"][1]["p_value"] == 0.0 and data["number_of_drifted_columns"] == 1
        assert data["drift_share"] == 0.5 and data["drifted"] is True
        assert isinstance(report, DriftReport) and isinstance(report.columns["x"], ColumnDrift)
        assert report.columns["x"].score == report.columns["x"].p_value

    def test_histogram_details_cover_both_sides(self, rng: np.random.Generator) -> None:
        ref, cur = pd.Series(rng.normal(0, 1, 500)), pd.Series(rng.normal(3, 1, 400))
        histogram = column_drift("x", ref, cur).details["histogram"]
        assert histogram["edges"][0] == ref.min() and histogram["edges"][-1] == pytest.approx(cur.max())
        assert sum(histogram["reference"]) == 500 and sum(histogram["current"]) == 400

    def test_column_drift_takes_series_and_kinds(self, rng: np.random.Generator) -> None:
        result = column_drift("x", [1, 2, 3, 4] * 50, [1, 2, 3, 3] * 50, kind="categorical", test="psi")
        assert (result.kind, result.test, result.column) == ("categorical", "psi", "x")
        with pytest.raises(InvalidArgumentError, match="kind is one of"):
            column_drift("x", [1.0], [2.0], kind="ordinal")


class TestSources:
    def test_dataset_references(self, rng: np.random.Generator) -> None:
        lm.data.add("sensors", frame(rng, 1500))
        lm.data.add("sensors", frame(rng, 1500, shift=1.0))
        report = lm.drift("sensors:1", "sensors@latest")
        assert report.drifted and report.reference_rows == report.current_rows == 1500

    def test_csv_and_parquet_files(self, rng: np.random.Generator, tmp_path: Path) -> None:
        frame(rng, 400).to_csv(tmp_path / "ref.csv", index=False)
        frame(rng, 400, shift=1.0).to_parquet(tmp_path / "cur.parquet")
        report = lm.drift(str(tmp_path / "ref.csv"), tmp_path / "cur.parquet")
        assert set(report.columns) == {"temperature", "rpm", "gear", "status", "door_open"}
        with pytest.raises(InvalidArgumentError, match="not a readable CSV or Parquet"):
            (tmp_path / "bad.parquet").write_bytes(b"nope")
            lm.drift(tmp_path / "bad.parquet", tmp_path / "cur.parquet")
        with pytest.raises(InvalidArgumentError, match="does not exist"):
            lm.drift(tmp_path / "missing.csv", tmp_path / "cur.parquet")


class TestBadInput:
    def test_no_common_column(self) -> None:
        with pytest.raises(InvalidArgumentError, match="no column in common"):
            lm.drift(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"b": [1.0]}))

    def test_repeated_and_unnamed_columns(self) -> None:
        twice = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
        with pytest.raises(InvalidArgumentError, match="more than one column named 'a'"):
            lm.drift(twice, twice)
        numbered = pd.DataFrame(np.random.default_rng(0).normal(size=(200, 2)))  # columns 0 and 1
        assert list(lm.drift(numbered, numbered).columns) == [0, 1]

    def test_an_empty_frame(self) -> None:
        with pytest.raises(InvalidArgumentError, match="The current has no rows"):
            lm.drift(pd.DataFrame({"a": [1.0, 2.0]}), pd.DataFrame({"a": pd.Series([], dtype=float)}))

    def test_a_column_whose_type_changed_is_skipped_with_the_reason(self, rng: np.random.Generator) -> None:
        ref = pd.DataFrame({"x": rng.normal(0, 1, 100), "code": np.arange(100)})
        cur = pd.DataFrame({"x": rng.normal(0, 1, 100), "code": [f"c{i}" for i in range(100)]})
        report = lm.drift(ref, cur)
        assert list(report.columns) == ["x"]
        assert "changed type" in report.skipped["code"] and "Cast one side" in report.skipped["code"]
        with pytest.raises(ColumnSkipped, match="changed type"):
            column_drift("code", ref.code, cur.code)

    def test_integers_that_became_floats_did_not_change_type(self, rng: np.random.Generator) -> None:
        ref = pd.DataFrame({"n": rng.integers(0, 100, 300)})
        cur = pd.DataFrame({"n": rng.integers(0, 100, 300).astype(float)})
        cur.loc[0, "n"] = np.nan
        assert lm.drift(ref, cur).columns["n"].test == "ks"

    def test_all_null_columns_are_skipped(self, rng: np.random.Generator) -> None:
        ref = pd.DataFrame({"x": rng.normal(0, 1, 50), "gone": [None] * 50, "nan": np.nan})
        cur = pd.DataFrame({"x": rng.normal(0, 1, 50), "gone": ["a"] * 50, "nan": rng.normal(0, 1, 50)})
        report = lm.drift(ref, cur)
        assert list(report.columns) == ["x"]
        assert "null in every reference row" in report.skipped["gone"]
        assert "null in every reference row" in report.skipped["nan"]
        with pytest.raises(InvalidArgumentError, match=r"No column could be compared \(gone: "):
            lm.drift(ref[["gone"]], cur[["gone"]])

    def test_datetimes_are_not_compared(self) -> None:
        times = pd.DataFrame(
            {"at": pd.date_range("2024-01-01", periods=10, freq="h", tz="UTC"), "x": range(10)}
        )
        report = lm.drift(times, times)
        assert "not compared" in report.skipped["at"] and list(report.columns) == ["x"]

    def test_unknown_tests_and_thresholds(self, rng: np.random.Generator) -> None:
        ref, cur = frame(rng, 100), frame(rng, 100)
        with pytest.raises(
            InvalidArgumentError, match=r"Unknown drift test 'kstest': use one of ks, chisquare"
        ):
            lm.drift(ref, cur, tests={"temperature": "kstest"})
        with pytest.raises(InvalidArgumentError, match=r"tests names 'pressure', which is not compared"):
            lm.drift(ref, cur, tests={"pressure": "ks"})
        with pytest.raises(InvalidArgumentError, match=r"tests names 'rpm', which is not compared"):
            lm.drift(ref, cur, columns=["temperature"], tests={"rpm": "ks"})
        with pytest.raises(InvalidArgumentError, match=r"ks threshold of column 'temperature' is a p-value"):
            lm.drift(ref, cur, tests={"temperature": ("ks", 5)})
        with pytest.raises(InvalidArgumentError, match=r"psi threshold .* a number >= 0"):
            lm.drift(ref, cur, tests={"temperature": ("psi", -1)})
        with pytest.raises(
            InvalidArgumentError, match=r"'status' is categorical.*chisquare, z, jensenshannon"
        ):
            lm.drift(ref, cur, tests={"status": "wasserstein"})
        with pytest.raises(InvalidArgumentError, match="a threshold needs a test"):
            column_drift("x", ref.temperature, cur.temperature, threshold=0.2)

    def test_columns_and_text_columns_must_exist(self, rng: np.random.Generator) -> None:
        ref, cur = frame(rng, 50), frame(rng, 50).drop(columns=["rpm"])
        with pytest.raises(
            InvalidArgumentError, match=r"No column 'rpm' in the current, 'x' in the reference and"
        ):
            lm.drift(ref, cur, columns=["rpm", "x"])
        with pytest.raises(InvalidArgumentError, match="text_columns names 'note'"):
            lm.drift(ref, cur, text_columns=["note"])
        with pytest.raises(InvalidArgumentError, match=r"holds numbers, which cannot be tested as text"):
            lm.drift(ref, cur, text_columns=["temperature"])
        with pytest.raises(InvalidArgumentError, match=r"drift_share is a share of columns in \(0, 1\]"):
            lm.drift(ref, cur, drift_share=0)
        with pytest.raises(InvalidArgumentError, match="a DataFrame, a dataset reference"):
            lm.drift([1, 2, 3], cur)
