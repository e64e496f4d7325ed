"""Profiles: what they say about each column, that they merge into the profile of the union, and storage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import loopml as lm
from loopml.data import _profile
from loopml.data._profile import Profile, ProfileBuilder, build_profile
from loopml.data._sketches import HyperLogLog, hash_numbers, hash_strings
from loopml.errors import InvalidArgumentError
from loopml.tracking import get_client


def _table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _profile_of(frame: pd.DataFrame, batch_rows: int = 10_000, total: bool = True) -> Profile:
    table = _table(frame)
    return build_profile(table.schema, table.to_batches(batch_rows), table.num_rows if total else None)


def _rank_error(values: np.ndarray, quantiles: dict[float, float]) -> float:
    """How far, in rank, each reported quantile is from where it should be."""
    ordered = np.sort(values)
    return max(abs(np.searchsorted(ordered, v) / len(ordered) - q) for q, v in quantiles.items())


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 60_000
    temp = rng.normal(50, 10, n)
    temp[::9] = np.nan
    return pd.DataFrame(
        {
            "temp": temp,
            "rpm": rng.integers(0, 300, n),
            "status": rng.choice(["ok", "warn", "fail"], n, p=[0.7, 0.2, 0.1]),
            "serial": [f"SN-{i}" for i in range(n)],
            "alarm": rng.random(n) < 0.25,
            "ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"),
        }
    )


class TestColumnStatistics:
    def test_numeric_statistics_match_the_data(self, frame: pd.DataFrame) -> None:
        temp = _profile_of(frame)["temp"]
        values = frame["temp"].dropna().to_numpy()
        assert (temp.kind, temp.count, temp.nulls, temp.finite) == (
            "numeric",
            len(values),
            6_667,
            len(values),
        )
        assert temp.min == values.min() and temp.max == values.max()
        assert temp.mean == pytest.approx(values.mean(), rel=1e-12)
        assert temp.std == pytest.approx(values.std(ddof=1), rel=1e-9)
        assert _rank_error(values, temp.quantiles()) < 0.02
        edges, counts = temp.histogram(8)
        assert len(edges) == 9 and sum(counts) == pytest.approx(len(values), abs=8)
        exact, _ = np.histogram(values, bins=edges)
        assert max(abs(c - e) for c, e in zip(counts, exact, strict=True)) < 0.02 * len(values)

    def test_distinct_counts_are_close_and_exact_for_categories(self, frame: pd.DataFrame) -> None:
        profile = _profile_of(frame)
        assert profile["status"].distinct == 3 and profile["status"].categories == ["fail", "ok", "warn"]
        assert profile["alarm"].categories == [False, True]
        assert profile["serial"].categories is None  # free text: more than CATEGORY_LIMIT values
        assert profile["serial"].distinct == pytest.approx(60_000, rel=0.05)
        assert profile["rpm"].distinct == pytest.approx(300, rel=0.05)
        assert profile["ts"].distinct == pytest.approx(60_000, rel=0.05)

    def test_top_values_are_exact_for_few_values_and_absent_for_unique_ones(
        self, frame: pd.DataFrame
    ) -> None:
        profile = _profile_of(frame)
        expected = frame["status"].value_counts()
        assert profile["status"].top() == list(zip(expected.index, expected.tolist(), strict=True))
        assert dict(profile["alarm"].top()) == {
            "false": int((~frame.alarm).sum()),
            "true": int(frame.alarm.sum()),
        }
        assert profile["serial"].top() == []  # every value once: nothing stands out

    def test_temporal_columns_have_their_range(self, frame: pd.DataFrame) -> None:
        ts = _profile_of(frame)["ts"]
        assert ts.kind == "temporal" and ts.min == frame.ts.min() and ts.max == frame.ts.max()

    def test_infinities_are_counted_but_kept_out_of_moments(self) -> None:
        column = _profile_of(pd.DataFrame({"x": [1.0, np.inf, 3.0, -np.inf, None]}))["x"]
        assert (column.count, column.nulls, column.finite) == (4, 1, 2)
        assert (column.min, column.max, column.mean) == (1.0, 3.0, 2.0)

    def test_a_column_of_nulls_only(self) -> None:
        frame = pd.DataFrame(
            {"x": pd.Series([None] * 5, dtype="float64"), "s": pd.Series([None] * 5, dtype=object)}
        )
        profile = _profile_of(frame)
        assert (profile["x"].count, profile["x"].nulls, profile["x"].mean) == (0, 5, None)
        assert profile["x"].quantiles() == {} and profile["x"].histogram() == ([], [])
        assert profile["s"].top() == []

    def test_schema_summary_comes_from_the_same_pass(self, frame: pd.DataFrame) -> None:
        table = _table(frame)
        builder = ProfileBuilder(table.schema, table.num_rows)
        for batch in table.to_batches(5_000):
            builder.update(batch)
        builder.result()
        columns = {c["name"]: c for c in builder.schema()["columns"]}
        assert columns["temp"]["null_count"] == 6_667 and columns["temp"]["nullable"]
        assert columns["status"]["categories"] == ["fail", "ok", "warn"]
        assert "categories" not in columns["serial"]


class TestMerging:
    def test_merge_is_the_profile_of_the_union(self, frame: pd.DataFrame) -> None:
        whole = _profile_of(frame)
        merged = _profile_of(frame.iloc[:25_000]).merge(_profile_of(frame.iloc[25_000:]))
        assert merged.num_rows == whole.num_rows
        for name in whole.names:
            a, b = merged[name], whole[name]
            assert (a.count, a.nulls, a.min, a.max, a.categories) == (
                b.count,
                b.nulls,
                b.min,
                b.max,
                b.categories,
            )
            assert a.distinct == b.distinct  # HyperLogLog registers merge exactly
        assert merged["temp"].mean == pytest.approx(whole["temp"].mean, rel=1e-12)
        assert merged["temp"].std == pytest.approx(whole["temp"].std, rel=1e-9)
        assert merged["status"].top() == whole["status"].top()
        assert _rank_error(frame["temp"].dropna().to_numpy(), merged["temp"].quantiles()) < 0.02

    def test_merging_samples_of_different_rates_weighs_each_side_by_its_rows(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_profile, "SAMPLE_BUDGET", 2_000)
        rng = np.random.default_rng(3)
        big, small = rng.normal(0, 1, 200_000), rng.normal(10, 1, 20_000)
        a = _profile_of(pd.DataFrame({"x": big}), total=False)  # the sample rate halves as rows arrive
        b = _profile_of(pd.DataFrame({"x": small}))  # the rate is fixed up front
        assert a["x"].sample_step > b["x"].sample_step > 1
        assert a["x"].kll.n <= 2 * 2_000
        merged = a.merge(b)
        union = np.concatenate([big, small])
        assert _rank_error(union, merged["x"].quantiles()) < 0.03
        assert merged["x"].mean == pytest.approx(union.mean(), rel=1e-9)
        assert _rank_error(big, a["x"].quantiles()) < 0.03

    def test_a_column_on_one_side_only_counts_the_other_sides_rows_as_nulls(
        self, frame: pd.DataFrame
    ) -> None:
        left, right = frame.iloc[:20_000].drop(columns=["rpm"]), frame.iloc[20_000:].drop(columns=["status"])
        merged = _profile_of(left).merge(_profile_of(right))
        union = _profile_of(pd.concat([left, right], ignore_index=True))  # the missing values as nulls
        assert merged.names == [*left.columns, "rpm"] and merged.num_rows == 60_000
        for name in ("rpm", "status"):
            a, b = merged[name], union[name]
            assert (a.count, a.nulls, a.min, a.max, a.counts) == (b.count, b.nulls, b.min, b.max, b.counts)
        assert merged["status"].nulls == 40_000 and merged["rpm"].nulls == 20_000
        assert merged["status"].categories == ["fail", "ok", "warn"]

    def test_integers_and_floats_widen_to_floats(self, frame: pd.DataFrame) -> None:
        ints = _profile_of(frame.iloc[:30_000])
        floats = _profile_of(frame.iloc[30_000:].assign(rpm=frame.rpm.iloc[30_000:].astype(float)))
        merged = ints.merge(floats)
        assert merged["rpm"].type == "double" and merged["rpm"].count == 60_000
        assert merged["rpm"].mean == pytest.approx(frame.rpm.mean(), rel=1e-12)
        assert floats.merge(ints)["rpm"].type == "double"
        small = _profile_of(pd.DataFrame({"n": np.array([1, 2, 2], np.int32)}))
        big = _profile_of(pd.DataFrame({"n": np.array([2, 3], np.int64)}))
        assert small.merge(big)["n"].type == "int64" and small.merge(big)["n"].counts == {1: 1, 2: 3, 3: 1}

    def test_a_side_of_nulls_only_takes_the_other_sides_type(self) -> None:
        nulls = _profile_of(pd.DataFrame({"x": [None, None]}))  # no values: Arrow's null type
        values = _profile_of(pd.DataFrame({"x": ["a", "b", "a"]}))
        empty = _profile_of(pd.DataFrame({"x": pd.Series([], dtype=object)}))  # no rows at all
        for merged in (nulls.merge(values), values.merge(nulls), empty.merge(values).merge(nulls)):
            x = merged["x"]
            assert (x.type, x.count, x.nulls) == (values["x"].type, 3, 2)
            assert (x.counts, x.categories) == ({"a": 2, "b": 1}, ["a", "b"])

    def test_a_type_that_cannot_widen_is_refused_naming_the_column(self, frame: pd.DataFrame) -> None:
        profile = _profile_of(frame)
        with pytest.raises(InvalidArgumentError, match=r"Column 'rpm' changed type from int64 to \w*string"):
            profile.merge(_profile_of(frame.assign(rpm=frame.rpm.astype(str))))
        with pytest.raises(InvalidArgumentError, match=r"'alarm' changed type from bool to (large_)?string"):
            profile.merge(_profile_of(frame.assign(alarm=frame.alarm.map({True: "y", False: "n"}))))

    def test_serialized_profiles_read_back_the_same_and_still_merge(self, frame: pd.DataFrame) -> None:
        profile = _profile_of(frame)
        again = Profile.from_bytes(profile.to_bytes())
        assert again.summary() == profile.summary()
        assert again.merge(again)["temp"].count == 2 * profile["temp"].count

    def test_an_unknown_format_is_refused(self, frame: pd.DataFrame) -> None:
        raw = _profile_of(frame.head(10)).to_bytes().replace(b'"format":2', b'"format":99')
        with pytest.raises(InvalidArgumentError, match="Upgrade loopml"):
            Profile.from_bytes(raw)


class TestCounts:
    """Exact value counts while a column has few values, numeric or not: what a drift test of a
    low-cardinality column needs, and what merging must keep exact."""

    def test_every_value_of_a_low_cardinality_column_is_counted(self, frame: pd.DataFrame) -> None:
        frame = frame.assign(
            gear=np.random.default_rng(1).integers(1, 6, len(frame)),
            level=np.where(np.arange(len(frame)) % 4 == 0, np.nan, (np.arange(len(frame)) % 3) * 0.5),
        )
        profile = _profile_of(frame, batch_rows=7_000)
        for name in ("gear", "status", "alarm", "level"):
            expected = frame[name].value_counts().to_dict()
            assert profile[name].counts == expected, name
        assert profile["level"].distinct == 3 and profile["gear"].distinct == 5
        for name in ("temp", "rpm", "serial", "ts"):  # many values (or times): not counted
            assert profile[name].counts is None, name

    def test_counts_stop_at_the_limit_even_when_the_first_values_are_few(self) -> None:
        values = np.concatenate([np.zeros(5_000), np.arange(1, 100)])  # the 51st value comes late
        assert _profile_of(pd.DataFrame({"x": values}), batch_rows=1_000)["x"].counts is None
        few = np.arange(60_000) % _profile.CATEGORY_LIMIT
        assert len(_profile_of(pd.DataFrame({"x": few}))["x"].counts or {}) == _profile.CATEGORY_LIMIT

    def test_infinities_are_left_out_of_the_counts_of_finite_values(self) -> None:
        column = _profile_of(pd.DataFrame({"x": [1.0, np.inf, 1.0, 2.0, None]}))["x"]
        assert column.counts == {1.0: 2, 2.0: 1} and sum(column.counts.values()) == column.finite

    def test_merged_counts_are_exact_until_the_union_has_too_many_values(self) -> None:
        a = _profile_of(pd.DataFrame({"x": np.arange(30) % 30, "s": [f"v{i}" for i in range(30)]}))
        b = _profile_of(pd.DataFrame({"x": np.arange(10, 40) % 40, "s": [f"v{i}" for i in range(10, 40)]}))
        merged = a.merge(b)
        assert merged["x"].counts == {i: 1 + (10 <= i < 30) for i in range(40)}
        assert merged["s"].counts is not None and sum(merged["s"].counts.values()) == 60
        c = _profile_of(pd.DataFrame({"x": np.arange(40, 60), "s": [f"w{i}" for i in range(20)]}))
        assert merged.merge(c)["x"].counts is None and merged.merge(c)["s"].categories is None

    def test_counts_survive_storage_with_their_types(self) -> None:
        frame = pd.DataFrame(
            {"i": [1, 2, 2], "f": [0.5, 0.5, 1.0], "b": [True, False, True], "s": ["1", "a", "1"]}
        )
        again = Profile.from_bytes(_profile_of(frame).to_bytes())
        assert again["i"].counts == {1: 1, 2: 2} and all(type(k) is int for k in again["i"].counts)
        assert again["f"].counts == {0.5: 2, 1.0: 1}
        assert again["b"].counts == {True: 2, False: 1} and all(type(k) is bool for k in again["b"].counts)
        assert again["s"].counts == {"1": 2, "a": 1}

    def test_a_format_1_profile_still_reads_and_merges(self) -> None:
        """A blob written by loopml before value counts existed: categorical counts come back from its
        exact frequent-items sketch, numeric ones are unknown, and it merges with a new profile."""
        fixtures = Path(__file__).parent / "fixtures"
        raw = (fixtures / "profile-format1.json").read_bytes()
        assert b'"format":1' in raw
        old = Profile.from_bytes(raw)
        frame = pd.read_csv(fixtures / "profile-format1.csv")
        assert old.num_rows == len(frame) and old["temp"].mean == pytest.approx(frame.temp.mean())
        assert old["status"].counts == frame.status.value_counts().to_dict()
        assert old["alarm"].counts == frame.alarm.value_counts().to_dict()
        assert old["gear"].counts is None and old["gear"].distinct == 5  # the sketch's estimate
        new = lm.data.profile_frame(frame)
        merged = old.merge(new)
        assert merged["gear"].counts is None  # one side does not know its counts
        assert merged["status"].counts == {k: 2 * v for k, v in new["status"].counts.items()}  # type: ignore[union-attr]
        assert Profile.from_bytes(merged.to_bytes())["status"].counts == merged["status"].counts


class TestProfileFrame:
    def test_a_frame_is_profiled_without_adding_a_version(self, frame: pd.DataFrame) -> None:
        profile = lm.data.profile_frame(frame.iloc[5:])  # a filtered frame: its index is not a column
        assert profile.names == list(frame.columns) and profile.num_rows == len(frame) - 5
        assert profile["status"].counts == frame.status.iloc[5:].value_counts().to_dict()
        assert get_client().store.datasets.list_datasets() == []
        table = pa.Table.from_pandas(frame, preserve_index=False)
        from_table, from_frame = lm.data.profile_frame(table), lm.data.profile_frame(frame)
        for a, b in zip(from_table.columns, from_frame.columns, strict=True):  # quantile sketches are random
            assert (a.type, a.count, a.nulls, a.min, a.max, a.mean, a.counts) == (
                b.type,
                b.count,
                b.nulls,
                b.min,
                b.max,
                b.mean,
                b.counts,
            )

    def test_what_cannot_be_profiled_says_so(self) -> None:
        with pytest.raises(InvalidArgumentError, match="DataFrame or a PyArrow table"):
            lm.data.profile_frame([{"x": 1}])
        with pytest.raises(InvalidArgumentError, match="mixes value types"):
            lm.data.profile_frame(pd.DataFrame({"x": [1, "a"]}))


class TestSketches:
    @pytest.mark.parametrize("n", [1, 40, 3_000, 250_000])
    def test_hyperloglog_estimates_within_a_few_percent(self, n: int) -> None:
        sketch = HyperLogLog()
        sketch.update(hash_numbers(np.arange(n, dtype=np.int64)))
        sketch.update(hash_numbers(np.arange(n, dtype=np.int64)))  # repeats change nothing
        assert sketch.estimate() == pytest.approx(n, rel=0.05)
        assert HyperLogLog().estimate() == 0.0

    def test_string_hashes_depend_on_the_value_only(self) -> None:
        words = pa.array(["a", "bb", None, "", "a", "ab", "ba"])
        hashed = hash_strings(words)
        assert len(hashed) == 6 and hashed[0] == hashed[3] and len(set(hashed.tolist())) == 5
        assert (hash_strings(words.slice(4)) == hashed[3:]).all()  # an offset into the buffers
        assert (hash_strings(pa.array(["a", "ab"], pa.large_string())) == hashed[[0, 4]]).all()
        assert hash_numbers(np.array([-0.0])) == hash_numbers(np.array([0.0]))
        same_length = hash_strings(pa.array(["ab", "cd", "ba"]))  # the fixed-width path
        assert (same_length == hash_strings(pa.array(["ab", "cd", "ba", "xyz"]))[:3]).all()

    def test_most_frequent_values_keep_the_largest_counts_ties_and_all(self) -> None:
        weights = np.array([1, 5, 2, 5, 1, 3, 1, 9])
        assert sorted(_profile._most_frequent(weights, 3).tolist()) == [1, 3, 7]
        assert sorted(_profile._most_frequent(weights, 4).tolist()) == [1, 3, 5, 7]
        assert len(_profile._most_frequent(np.ones(50, np.int64), 10)) == 10  # all tied: the first ten


class TestStoredProfiles:
    def test_every_added_version_has_a_stored_profile(self, frame: pd.DataFrame) -> None:
        version = lm.data.add("sensors", frame)
        assert version.profile_digest is not None
        profile = lm.data.profile("sensors:1")
        assert profile.num_rows == 60_000 and profile.names == list(frame.columns)
        assert version.profile_digest in set(get_client().store.referenced_digests())
        with pytest.warns(lm.data.SchemaChangeWarning):
            derived = lm.data.clean("sensors:1", [lm.data.fixes.drop_columns(["serial"])])
        assert derived.profile_digest is not None and "serial" not in lm.data.profile(derived).names

    def test_a_version_without_a_profile_is_profiled_on_demand_and_keeps_it(
        self, frame: pd.DataFrame
    ) -> None:
        from sqlalchemy import update

        from loopml.store import _schema

        version = lm.data.add("sensors", frame)
        client = get_client()
        with client.store.engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(update(_schema.dataset_versions).values(profile_digest=None))
        assert lm.data.get("sensors:1").profile_digest is None
        profile = lm.data.profile("sensors:1")
        assert profile["temp"].count == frame.temp.count()
        stored = lm.data.get("sensors:1").profile_digest
        assert stored is not None and version.profile_digest is not None
        assert lm.data.profile("sensors:1").summary() == profile.summary()  # read back, not built again

    def test_millions_of_distinct_text_values_are_estimated_not_refused(self) -> None:
        frame = pd.DataFrame({"session": [f"s{i:07d}" for i in range(400_000)]})
        lm.data.add("sessions", frame)
        column = lm.data.profile("sessions:1")["session"]
        assert column.categories is None and column.top() == []
        assert column.distinct == pytest.approx(400_000, rel=0.05)
