"""The drift statistics, each against an independent computation: scipy and numpy on the raw values, or a
small case worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import roc_auc_score

from loopml.errors import InvalidArgumentError
from loopml.monitoring._stattests import (
    TESTS,
    ColumnPair,
    default_test,
    random_auc_percentile,
    run_test,
    sturges_edges,
    wasserstein_sorted,
)


def numerical(ref: np.ndarray, cur: np.ndarray) -> ColumnPair:
    integer = ref.dtype.kind in "iu" and cur.dtype.kind in "iu"
    return ColumnPair.numerical(np.sort(ref), np.sort(cur), integer)


def counted(ref: list[str], cur: list[str]) -> ColumnPair:
    return ColumnPair.categorical({v: ref.count(v) for v in set(ref)}, {v: cur.count(v) for v in set(cur)})


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(5)


class TestPValueTests:
    def test_ks_is_scipys_two_sample_test(self, rng: np.random.Generator) -> None:
        ref, cur = rng.normal(0, 1, 400), rng.normal(0.3, 1, 350)
        _, out = run_test(numerical(ref, cur), "ks")
        expected = stats.ks_2samp(ref, cur)
        assert out.p_value == pytest.approx(expected.pvalue, rel=1e-12)
        assert out.statistic == pytest.approx(expected.statistic)
        assert out.drifted and out.threshold == 0.05

    def test_chisquare_by_hand(self) -> None:
        # expected: the reference's counts scaled to the current's size: 100 rows -> 50, 50; observed 30, 70
        pair = counted(["a"] * 100 + ["b"] * 100, ["a"] * 30 + ["b"] * 70)
        _, out = run_test(pair, "chisquare")
        assert out.statistic == pytest.approx(20**2 / 50 * 2)
        assert out.p_value == pytest.approx(stats.chi2.sf(16, 1))
        assert out.drifted

    def test_chisquare_of_a_value_the_reference_never_had_is_infinite(self) -> None:
        pair = counted(["a"] * 50 + ["b"] * 50, ["a"] * 50 + ["b"] * 45 + ["new"] * 5)
        _, out = run_test(pair, "chisquare")
        assert math.isinf(out.statistic) and out.p_value == 0.0 and out.drifted
        assert out.details == {"new_values": 1}

    def test_z_by_hand(self) -> None:
        # shares of "not the smallest value" (not "a"): 0.6 and 0.4; pooled 0.5
        pair = counted(["a"] * 40 + ["b"] * 60, ["a"] * 60 + ["b"] * 40)
        _, out = run_test(pair, "z")
        z = 0.2 / math.sqrt(0.25 * (1 / 100 + 1 / 100))
        assert out.statistic == pytest.approx(z)
        assert out.p_value == pytest.approx(2 * (1 - stats.norm.cdf(z)))
        assert out.drifted

    def test_z_of_the_same_single_value_is_one(self) -> None:
        _, out = run_test(counted(["a"] * 10, ["a"] * 20), "z")
        assert (out.p_value, out.drifted) == (1.0, False)

    def test_comparisons_follow_evidently(self, rng: np.random.Generator) -> None:
        """ks drifts at p == threshold, chi-squared and z only below it; the distances at == threshold."""
        pair = numerical(rng.normal(0, 1, 300), rng.normal(0.1, 1, 300))
        for name, drifts_at_equal in [
            ("ks", True),
            ("wasserstein", True),
            ("psi", True),
            ("hellinger", True),
        ]:
            _, first = run_test(pair, name)
            _, again = run_test(pair, name, first.score)
            assert again.drifted is drifts_at_equal, name
        cats = counted(["a"] * 40 + ["b"] * 60 + ["c"] * 5, ["a"] * 50 + ["b"] * 50 + ["c"] * 5)
        for name in ("chisquare", "z"):
            _, first = run_test(cats, name)
            _, again = run_test(cats, name, first.score)
            assert again.drifted is False, name
        assert [t.name for t in TESTS.values() if t.p_value] == ["ks", "chisquare", "z"]


class TestDistances:
    def test_wasserstein_over_the_population_std(self, rng: np.random.Generator) -> None:
        ref, cur = rng.normal(0, 2, 3000).round(1), rng.normal(0.5, 2, 1700).round(1)  # ties on both sides
        _, out = run_test(numerical(ref, cur), "wasserstein")
        expected = stats.wasserstein_distance(ref, cur) / np.std(ref, ddof=0)
        assert out.statistic == pytest.approx(expected, rel=1e-9)
        assert out.drifted and out.details["std_floored"] is False

    def test_wasserstein_of_sorted_samples_is_scipys(self, rng: np.random.Generator) -> None:
        for n, m in [(1, 1), (5, 3), (1000, 999), (20, 2000), (777, 777)]:  # equal sizes take a shortcut
            u, v = np.sort(rng.integers(0, 7, n).astype(float)), np.sort(rng.normal(3, 2, m))
            assert wasserstein_sorted(u, v) == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-12)

    def test_a_constant_reference_divides_by_the_floor(self) -> None:
        ref, cur = np.full(1500, 5.0), np.full(1500, 5.002)
        _, out = run_test(numerical(ref, cur), "wasserstein")
        assert out.statistic == pytest.approx(0.002 / 0.001)
        assert out.drifted and out.details["std_floored"] is True

    def test_jensenshannon_bins_a_numerical_column_like_numpy(self, rng: np.random.Generator) -> None:
        ref, cur = rng.normal(0, 1, 2500), rng.normal(0.2, 1.2, 2000)
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        p = np.histogram(ref, edges)[0] / len(ref)
        q = np.histogram(cur, edges)[0] / len(cur)
        _, out = run_test(numerical(ref, cur), "jensenshannon")
        assert out.statistic == pytest.approx(jensenshannon(p, q), rel=1e-12)

    def test_few_distinct_values_are_counted_by_value(self, rng: np.random.Generator) -> None:
        ref, cur = rng.integers(0, 4, 2000), rng.integers(0, 5, 2000)  # 4 distinct in the reference
        p = np.bincount(ref, minlength=5) / len(ref)
        q = np.bincount(cur, minlength=5) / len(cur)
        _, out = run_test(numerical(ref, cur), "jensenshannon")
        assert out.statistic == pytest.approx(jensenshannon(p, q), rel=1e-12)

    def test_psi_by_hand(self) -> None:
        _, out = run_test(counted(["a"] * 50 + ["b"] * 50, ["a"] * 25 + ["b"] * 75), "psi")
        expected = (0.5 - 0.25) * math.log(0.5 / 0.25) + (0.5 - 0.75) * math.log(0.5 / 0.75)
        assert out.statistic == pytest.approx(expected)
        assert out.drifted

    def test_psi_and_kl_fill_empty_shares(self) -> None:
        pair = counted(["a"] * 50 + ["b"] * 50, ["a"] * 45 + ["b"] * 45 + ["c"] * 10)
        # the reference has no "c": its share becomes 0.0001 (its smallest share, 0.5, is above 0.0001)
        p, q = np.array([0.5, 0.5, 0.0001]), np.array([0.45, 0.45, 0.1])
        _, psi = run_test(pair, "psi")
        assert psi.statistic == pytest.approx(float(np.sum((p - q) * np.log(p / q))))
        _, kl = run_test(pair, "kl_div")
        assert kl.statistic == pytest.approx(stats.entropy(p, q))  # entropy normalises the filled shares
        _, js = run_test(pair, "jensenshannon")
        assert js.statistic == pytest.approx(jensenshannon([0.5, 0.5, 0.0], [0.45, 0.45, 0.1]))

    def test_tiny_shares_are_filled_with_a_millionth_of_the_smallest(self) -> None:
        ref = ["a"] * 99_995 + ["b"] * 5  # "b": 0.00005 <= 0.0001
        pair = counted(ref, ["a"] * 50 + ["c"] * 50)
        p = np.array([0.99995, 0.00005, 0.00005 / 1e6])
        q = np.array([0.5, 0.0001, 0.5])  # the current's smallest share, 0.5, is above 0.0001
        _, out = run_test(pair, "psi")
        assert out.statistic == pytest.approx(float(np.sum((p - q) * np.log(p / q))))

    def test_hellinger_of_categories_by_hand(self) -> None:
        _, out = run_test(counted(["a"] * 50 + ["b"] * 50, ["a"] * 80), "hellinger")
        assert out.statistic == pytest.approx(math.sqrt(1 - math.sqrt(0.5 * 1.0)))

    def test_hellinger_of_numbers_bins_the_distinct_values(self, rng: np.random.Generator) -> None:
        ref, cur = rng.integers(0, 9, 700), rng.integers(2, 12, 900)
        keys = np.union1d(ref, cur)
        edges = np.histogram_bin_edges(keys, bins="sturges")  # integers: numpy keeps bins at least 1 wide
        h1 = np.histogram(ref, edges, density=True)[0]
        h2 = np.histogram(cur, edges, density=True)[0]
        width = (edges[-1] - edges[0]) / (len(edges) - 1)
        expected = math.sqrt(1 - min(1.0, float(np.sum(np.sqrt(h1 * h2)) * width)))
        _, out = run_test(numerical(ref, cur), "hellinger")
        assert out.statistic == pytest.approx(expected, rel=1e-12)

    @pytest.mark.parametrize("integer", [False, True])
    def test_sturges_edges_are_numpys(self, rng: np.random.Generator, integer: bool) -> None:
        for _ in range(200):
            n = int(rng.integers(1, 3000))
            a = rng.integers(-20, 20, n) if integer else rng.normal(0, rng.uniform(0.01, 50), n)
            edges = sturges_edges(a.min(), a.max(), n, integer)
            np.testing.assert_array_equal(edges, np.histogram_bin_edges(a, bins="sturges"))


class TestDefaultChoice:
    @pytest.mark.parametrize(
        ("kind", "rows", "distinct", "expected"),
        [
            ("numerical", 1000, 6, "ks"),
            ("numerical", 1000, 5, "chisquare"),
            ("numerical", 1000, 3, "chisquare"),
            ("numerical", 1000, 2, "z"),
            ("categorical", 1000, 50, "chisquare"),
            ("categorical", 1000, 2, "z"),
            ("numerical", 1001, 6, "wasserstein"),
            ("numerical", 1001, 5, "jensenshannon"),
            ("categorical", 1001, 2, "jensenshannon"),
            ("text", 10, 0, "domain_classifier"),
            ("text", 5000, 0, "domain_classifier"),
        ],
    )
    def test_evidentlys_rule(self, kind: str, rows: int, distinct: int, expected: str) -> None:
        assert default_test(kind, rows, distinct) == expected  # type: ignore[arg-type]

    def test_distinct_values_of_both_sides_together(self) -> None:
        # three values on each side, six together: a numerical column with more than five
        pair = numerical(np.repeat([1.0, 2.0, 3.0], 100), np.repeat([4.0, 5.0, 6.0], 100))
        assert run_test(pair)[0] == "ks"
        assert (
            run_test(numerical(np.repeat([1.0, 2.0, 3.0], 100), np.repeat([1.0, 2.0], 100)))[0] == "chisquare"
        )

    def test_a_test_refuses_a_kind_it_does_not_take(self) -> None:
        with pytest.raises(InvalidArgumentError, match=r"ks test does not take categorical.*chisquare"):
            run_test(counted(["a", "b"], ["a"]), "ks")
        with pytest.raises(InvalidArgumentError, match=r"Unknown drift test .kolmogorov.*wasserstein"):
            run_test(counted(["a", "b"], ["a"]), "kolmogorov")

    def test_empty_sides_cannot_be_compared(self) -> None:
        with pytest.raises(InvalidArgumentError, match="current values are empty"):
            ColumnPair.numerical(np.array([1.0]), np.array([]))


class TestDomainClassifier:
    words = ("pump", "valve", "motor", "sensor", "belt", "fan", "gear", "shaft")

    def texts(self, rng: np.random.Generator, n: int, extra: list[str]) -> np.ndarray:
        pool = [*self.words, *extra]
        return np.array([" ".join(rng.choice(pool, 5)) for _ in range(n)], dtype=object)

    def test_new_words_drift_and_are_named(self, rng: np.random.Generator) -> None:
        ref = self.texts(rng, 300, [])
        cur = self.texts(rng, 300, ["overheating", "smoke"])
        _, out = run_test(ColumnPair.text(ref, cur))
        assert out.drifted and out.statistic > 0.7
        assert set(out.details["words"]["current"][:2]) == {"overheating", "smoke"}
        # a small reference: the bar is the 95th percentile of random classifiers' AUC, not 0.55
        assert out.details["random_auc_quantile"] == 0.95 and 0.5 < out.threshold < 0.6

    def test_the_same_text_does_not_drift(self, rng: np.random.Generator) -> None:
        _, out = run_test(ColumnPair.text(self.texts(rng, 400, []), self.texts(rng, 400, [])))
        assert not out.drifted and out.statistic < 0.6

    def test_a_given_threshold_is_an_auc(self, rng: np.random.Generator) -> None:
        pair = ColumnPair.text(self.texts(rng, 200, []), self.texts(rng, 200, ["smoke"]))
        _, out = run_test(pair, "domain_classifier", 0.99)
        assert out.threshold == 0.99 and not out.drifted and "random_auc_quantile" not in out.details

    def test_the_random_bar_is_evidentlys(self) -> None:
        labels = (np.random.default_rng(1).random(60) < 0.4).astype(int)
        seeds = np.random.RandomState(42).randint(0, 1000, size=100)
        aucs = []
        for seed in seeds:  # one classifier per seed, scored with sklearn
            aucs.append(roc_auc_score(labels, np.random.RandomState(seed).rand(len(labels))))
        expected = np.percentile(aucs, 95)
        assert random_auc_percentile(labels, 0.95, runs=100) == pytest.approx(expected, rel=1e-12)

    def test_too_little_text_says_so(self) -> None:
        pair = ColumnPair.text(np.array(["the"], dtype=object), np.array(["a"], dtype=object))
        with pytest.raises(InvalidArgumentError, match="Too few rows"):
            run_test(pair)
