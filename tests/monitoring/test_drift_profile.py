"""``profile_drift``: the verdicts of ``lm.drift`` from profiles. Exact where the profile keeps exact value
counts; from the sketches otherwise, agreeing with the rows' verdicts except close to the threshold."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import loopml as lm
import loopml.data._profile as profiles
from loopml.data import Profile
from loopml.errors import InvalidArgumentError
from loopml.monitoring import profile_drift
from loopml.monitoring._profile_drift import SketchPair
from loopml.monitoring._profiles import MONITOR_KLL_K

SKETCH = {"kll_k": profiles.KLL_K}  # the quantile sketches' size profile_of uses


def profile_of(frame: pd.DataFrame) -> Profile:
    return lm.data.profile_frame(frame, kll_k=SKETCH["kll_k"])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(8)


def few_values(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "level": rng.choice([1.0, 2.0, 3.0, 4.0], n, p=[0.4 - shift, 0.3, 0.2, 0.1 + shift]),
            "gear": rng.integers(0, 4 + int(shift > 0), n),
            "status": rng.choice(["ok", "warn", "fail"], n, p=[0.8 - shift, 0.15, 0.05 + shift]),
            "open": rng.random(n) < 0.2 + shift,
        }
    )


class TestExactCounts:
    def test_counts_give_the_rows_verdicts(self, rng: np.random.Generator) -> None:
        ref, cur = few_values(rng, 3000, 0.0), few_values(rng, 2000, 0.1)
        exact = lm.drift(ref, cur)
        p_ref, p_cur = profile_of(ref), profile_of(cur)
        assert all(c.counts is not None for c in [*p_ref.columns, *p_cur.columns])  # few values: all counted
        approx = profile_drift(p_ref, p_cur)
        assert approx.approximate and list(approx.columns) == list(exact.columns)
        for name, row in exact.columns.items():
            got = approx.columns[name]
            assert (got.kind, got.test, got.drifted) == (row.kind, row.test, row.drifted), name
            assert got.statistic == pytest.approx(row.statistic, rel=1e-9), name
            assert got.details["approximate"] is False
        assert approx.drifted == exact.drifted

    @pytest.mark.parametrize("test", ["chisquare", "z", "psi", "kl_div", "hellinger", "ks", "wasserstein"])
    def test_every_test_from_counts(self, rng: np.random.Generator, test: str) -> None:
        ref, cur = few_values(rng, 3000, 0.0), few_values(rng, 2500, 0.05)
        columns = ["level", "gear"] if test in ("ks", "wasserstein") else list(ref.columns)
        exact = lm.drift(ref, cur, columns=columns, tests=test)
        approx = profile_drift(profile_of(ref), profile_of(cur), columns=columns, tests=test)
        for name, row in exact.columns.items():
            got = approx.columns[name]
            assert got.test == test and got.drifted == row.drifted, name
            if test == "ks":  # the profile's p-value is the asymptotic one, the rows' exact
                assert got.statistic == pytest.approx(row.statistic, rel=1e-9), name
                expected = stats.ks_2samp(ref[name], cur[name], method="asymp").pvalue
                assert got.p_value == pytest.approx(expected, rel=1e-6), name
            else:
                assert got.score == pytest.approx(row.score, rel=1e-9), name


class TestSketches:
    def test_wasserstein_within_the_sketches_rank_error(self, rng: np.random.Generator) -> None:
        ref = pd.DataFrame({"x": rng.lognormal(0, 0.7, 20_000)})
        cur = pd.DataFrame({"x": rng.lognormal(0.1, 0.7, 30_000)})
        p_ref, p_cur = profile_of(ref), profile_of(cur)
        got = profile_drift(p_ref, p_cur).columns["x"]
        std = ref.x.std(ddof=0)
        assert got.details["approximate"] is True and got.test == "wasserstein"
        exact = stats.wasserstein_distance(ref.x, cur.x)
        # the area between the CDFs moves by at most each sketch's rank error times the range
        bound = sum(p["x"].kll.normalized_rank_error(False) for p in (p_ref, p_cur)) * (
            cur.x.max() - ref.x.min()
        )
        assert abs(got.statistic * std - exact) <= bound

    def test_binned_distances_use_the_rows_bins(self, rng: np.random.Generator) -> None:
        ref = pd.DataFrame({"x": rng.normal(0, 1, 5000)})
        cur = pd.DataFrame({"x": rng.normal(0.3, 1, 4000)})
        p_ref, p_cur = profile_of(ref), profile_of(cur)
        pair = SketchPair(p_ref["x"], p_cur["x"], integer=False)
        edges = np.histogram_bin_edges(np.concatenate([ref.x, cur.x]), bins="sturges")
        for counts, frame, column in zip(pair.histogram(edges), (ref, cur), (p_ref, p_cur), strict=True):
            exact = np.histogram(frame.x, edges)[0]
            error = column["x"].kll.normalized_rank_error(False) * len(frame)
            assert np.all(np.abs(counts - exact) <= 2 * error) and counts.sum() == pytest.approx(len(frame))
        # sparse tail bins carry the sketches' noise into the distances, PSI's most (at k=200, over 200 runs:
        # at most 0.073, 0.045, 0.027 and 0.033 off)
        for test, tolerance in (("psi", 0.1), ("kl_div", 0.07), ("jensenshannon", 0.05), ("hellinger", 0.05)):
            exact_row = lm.drift(ref, cur, tests=test).columns["x"]
            got = profile_drift(p_ref, p_cur, tests=test).columns["x"]
            assert got.statistic == pytest.approx(exact_row.statistic, abs=tolerance), test

    def test_many_categories_sum_what_the_sketch_cannot_count(self, rng: np.random.Generator) -> None:
        values = np.minimum(rng.zipf(1.3, 20_000), 1500)  # about a thousand distinct values
        ref = pd.DataFrame({"c": [f"v{v}" for v in values]})
        got = profile_drift(profile_of(ref), profile_of(ref)).columns["c"]
        assert (got.kind, got.test, got.drifted) == ("categorical", "jensenshannon", False)
        assert got.statistic < 0.01 and got.details["approximate"] is True


def test_a_window_merged_from_its_parts(rng: np.random.Generator) -> None:
    """A day's profile merged from hourly ones gives the counted columns' verdicts exactly, and the
    numerical ones within the quantile sketch's error."""
    ref = pd.concat([few_values(rng, 3000, 0.0), pd.DataFrame({"x": rng.normal(0, 1, 3000)})], axis=1)
    cur = pd.concat([few_values(rng, 4800, 0.05), pd.DataFrame({"x": rng.normal(0.2, 1, 4800)})], axis=1)
    hours = [profile_of(cur.iloc[i : i + 200]) for i in range(0, len(cur), 200)]
    day = hours[0]
    for hour in hours[1:]:
        day = day.merge(hour)
    reference = profile_of(ref)
    merged = profile_drift(reference, day)
    exact = lm.drift(ref, cur)
    for name in ("level", "gear", "status", "open"):
        assert merged.columns[name].statistic == pytest.approx(exact.columns[name].statistic, rel=1e-9)
    x = merged.columns["x"]
    assert x.test == "wasserstein" and x.drifted and merged.current_rows == len(cur)
    std = ref.x.std(ddof=0)
    error = sum(p["x"].kll.normalized_rank_error(False) for p in (reference, day)) * (
        cur.x.max() - ref.x.min()
    )
    assert abs(x.statistic - exact.columns["x"].statistic) * std <= error


def generated(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    """Mixed columns with nulls and, when shifted, a category the reference never had."""
    frame = pd.DataFrame(
        {
            "normal": rng.normal(shift, 1, n),
            "skewed": rng.lognormal(0.5 * shift, 0.8, n),
            "count": rng.integers(0, 60 + int(40 * shift), n),
            "level": rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], n),
            "status": rng.choice(["ok", "warn", "fail", "new"] if shift else ["ok", "warn", "fail"], n),
            "open": rng.random(n) < 0.2 + 0.5 * shift,
        }
    )
    frame.loc[rng.random(n) < 0.05, "normal"] = np.nan
    frame.loc[rng.random(n) < 0.05, "status"] = None
    return frame


def agreement(pairs: list[tuple[pd.DataFrame, pd.DataFrame]]) -> tuple[float, list[dict[str, Any]]]:
    """The share of columns whose profile verdict is the rows' verdict, and the columns that disagree."""
    same, disagreements = 0, []
    for ref, cur in pairs:
        exact = lm.drift(ref, cur)
        approx = profile_drift(profile_of(ref), profile_of(cur))
        for name, row in exact.columns.items():
            got = approx.columns[name]
            assert got.test == row.test, name
            if got.drifted == row.drifted:
                same += 1
            else:
                disagreements.append({"column": name, "exact": row.score, "threshold": row.threshold})
    total = same + len(disagreements)
    return same / total, disagreements


@pytest.fixture
def fine_sketches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Quantile sketches of k=2,000, as monitoring's segment and reference profiles have them. At k=200
    (1.3 % rank error) a Wasserstein distance from profiles moves by up to a third of its threshold, so some
    1 in 5 runs of the first test below and most runs of the second miss their goal (the sketch is
    randomised, so a run is one draw)."""
    monkeypatch.setitem(SKETCH, "kll_k", MONITOR_KLL_K)  # the size monitoring's profiles use


@pytest.mark.usefixtures("fine_sketches")
def test_verdicts_agree_with_the_rows(rng: np.random.Generator) -> None:
    """Pairs above 1,000 rows, with and without shift: the verdict of at least 98 % of the columns is the
    rows' verdict, and a column that disagrees is a close call (within 10 % of its threshold)."""
    pairs = [
        (generated(rng, n, 0.0), generated(rng, m, shift))
        for n, m, shift in [(1500, 4000, 0.0), (5000, 2000, 0.4), (20_000, 20_000, 0.0), (3000, 30_000, 0.3)]
    ]
    share, disagreements = agreement(pairs)
    assert share >= 0.98
    assert all(abs(d["exact"] - d["threshold"]) <= 0.1 * d["threshold"] for d in disagreements)


@pytest.mark.usefixtures("fine_sketches")
def test_close_calls(rng: np.random.Generator) -> None:
    """Shifts spread around the thresholds, where the sketches' error decides: many columns are close calls,
    and a column that disagrees with the rows is within 10 % of its threshold."""
    sizes = [(1500, 4000), (5000, 2000), (20_000, 20_000), (3000, 30_000), (2500, 2500)]
    shifts = [0.08, 0.1, 0.12, 0.05, 0.1, 0.09, 0.11, 0.07, 0.13, 0.1]  # 60 columns, many near a threshold
    pairs = [
        (generated(rng, n, 0.0), generated(rng, m, s)) for (n, m), s in zip(sizes * 2, shifts, strict=True)
    ]
    share, disagreements = agreement(pairs)
    assert share >= 0.95
    assert all(abs(d["exact"] - d["threshold"]) <= 0.1 * d["threshold"] for d in disagreements)


class TestBadInput:
    def test_columns_that_cannot_be_compared(self, rng: np.random.Generator) -> None:
        ref = pd.DataFrame({"x": rng.normal(0, 1, 2000), "code": np.arange(2000), "gone": [None] * 2000})
        cur = pd.DataFrame(
            {
                "x": rng.normal(0, 1, 2000),
                "code": [f"c{i}" for i in range(2000)],
                "gone": ["a"] * 2000,
                "note": [f"note {i}" for i in range(2000)],
            }
        )
        ref["note"] = [f"remark {i}" for i in range(2000)]
        report = profile_drift(profile_of(ref), profile_of(cur))
        assert list(report.columns) == ["x"]
        assert "changed type" in report.skipped["code"]
        assert "null in every reference row" in report.skipped["gone"]
        assert "is text" in report.skipped["note"] and "lm.drift" in report.skipped["note"]
        named = profile_drift(profile_of(ref), profile_of(cur), columns=["note"], tests="jensenshannon")
        assert named.columns["note"].kind == "categorical"
        assert json.loads(json.dumps(report.to_dict(), allow_nan=False))["approximate"] is True
        assert "Computed from profiles" in report.to_html()

    def test_arguments(self, rng: np.random.Generator) -> None:
        ref = profile_of(pd.DataFrame({"x": rng.normal(0, 1, 100)}))
        with pytest.raises(InvalidArgumentError, match="no column in common"):
            profile_drift(ref, profile_of(pd.DataFrame({"y": [1.0]})))
        with pytest.raises(InvalidArgumentError, match="The current profile has no rows"):
            profile_drift(ref, profile_of(pd.DataFrame({"x": pd.Series([], dtype=float)})))
        with pytest.raises(InvalidArgumentError, match="Unknown drift test"):
            profile_drift(ref, ref, tests="kstest")
        with pytest.raises(InvalidArgumentError, match="tests names 'y', which is not compared"):
            profile_drift(ref, ref, tests={"y": "psi"})

    def test_a_category_the_reference_never_had(self) -> None:
        ref = pd.DataFrame({"product": ["a"] * 1500 + ["b"] * 1500})
        cur = pd.DataFrame({"product": ["a"] * 1400 + ["b"] * 1400 + ["c"] * 200})
        got = profile_drift(profile_of(ref), profile_of(cur)).columns["product"]
        exact = lm.drift(ref, cur).columns["product"]
        assert got.drifted and got.statistic == pytest.approx(exact.statistic, rel=1e-9)
        assert got.details["new_values"] == 1 and got.details["new_examples"] == ["c"]
