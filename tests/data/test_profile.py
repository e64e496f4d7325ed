"""Profiles: what they say about each column, that they merge into the profile of the union, and storage."""

from __future__ import annotations

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

    def test_profiles_of_other_columns_or_types_do_not_merge(self, frame: pd.DataFrame) -> None:
        profile = _profile_of(frame)
        with pytest.raises(InvalidArgumentError, match="different columns"):
            profile.merge(_profile_of(frame.drop(columns=["rpm"])))
        with pytest.raises(InvalidArgumentError, match="same columns and types"):
            profile.merge(_profile_of(frame.assign(rpm=frame.rpm.astype(float))))

    def test_serialized_profiles_read_back_the_same_and_still_merge(self, frame: pd.DataFrame) -> None:
        profile = _profile_of(frame)
        again = Profile.from_bytes(profile.to_bytes())
        assert again.summary() == profile.summary()
        assert again.merge(again)["temp"].count == 2 * profile["temp"].count

    def test_an_unknown_format_is_refused(self, frame: pd.DataFrame) -> None:
        raw = _profile_of(frame.head(10)).to_bytes().replace(b'"format":1', b'"format":99')
        with pytest.raises(InvalidArgumentError, match="Upgrade loopml"):
            Profile.from_bytes(raw)


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
