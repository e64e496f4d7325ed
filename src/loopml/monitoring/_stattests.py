"""Drift statistics: the tests Evidently 0.7 runs, with its definitions, computed once per column from numpy.

A test compares one column's reference values with its current values (nulls and infinities already
dropped) and says whether the column drifted. The tests and what makes them drift:

    name               kinds                      statistic                       default   drifts when
    ks                 numerical                  two-sample Kolmogorov-Smirnov   0.05      p <= threshold
    chisquare          categorical, numerical     chi-squared goodness of fit     0.05      p <  threshold
    z                  categorical, numerical     two-proportion z-test           0.05      p <  threshold
    wasserstein        numerical                  Wasserstein-1 / reference std   0.1       d >= threshold
    jensenshannon      categorical, numerical     Jensen-Shannon distance         0.1       d >= threshold
    psi                categorical, numerical     population stability index      0.1       d >= threshold
    kl_div             categorical, numerical     Kullback-Leibler divergence     0.1       d >= threshold
    hellinger          categorical, numerical     Hellinger distance              0.1       d >= threshold
    domain_classifier  text                       ROC AUC of a domain classifier  0.55      AUC > threshold

The details that move a verdict follow Evidently:

- chi-squared expects the reference's counts scaled to the current's size, over every value either side
  has; a value the reference never had expects 0, so the statistic is infinite and p is 0 (drift).
- the z-test compares the shares of rows that are not the smallest value (of both sides together); p is
  ``2 (1 - Φ(|z|))``, and 1 when both sides hold the same single value.
- the Wasserstein distance is divided by the reference's population standard deviation (ddof 0), floored
  at 0.001 so that a constant reference does not divide by zero.
- the distance tests bin the values: a numerical column whose reference has more than 20 distinct values
  into Sturges' equal-width bins over both sides' range (``numpy.histogram_bin_edges(..., "sturges")``),
  every other column by value; shares are counts divided by each side's size. PSI and KL replace a share
  of 0 by the side's smallest share divided by a million when that is at most 0.0001, else by 0.0001
  (Jensen-Shannon keeps the zeros); KL and Jensen-Shannon normalise the shares, PSI does not.
- Hellinger bins by itself: by value (categorical), or into Sturges' bins over the distinct values of both
  sides, as densities (numerical); it is ``sqrt(1 - Σ sqrt(p q))``.
- the domain classifier (TF-IDF and a linear model) learns on half the rows, shuffled with a fixed seed, to
  tell current text from reference text, and is scored on the other half. Above 1,000 reference rows the
  column drifts when the ROC AUC exceeds 0.55; at or below, when it exceeds the 95th percentile of the AUC
  of 1,000 random classifiers on the same held-out rows (seeded as Evidently seeds them).

Speed: a numerical column arrives sorted (its nulls and infinities sliced off the ends), and every test reads
the sorted arrays: distinct values are runs, histogram counts are ``searchsorted`` on a few edges, and the
Wasserstein distance merges the two sorted runs instead of sorting again. Categorical columns arrive as
value counts, which profiles can supply too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from loopml.errors import InvalidArgumentError

Kind = Literal["numerical", "categorical", "text"]
KINDS: tuple[Kind, ...] = ("numerical", "categorical", "text")

SMALL_REFERENCE = 1000  # at most this many reference rows: p-value tests; more: distances
FEW_VALUES = 5  # a numerical column with at most this many distinct values is tested as categorical
HISTOGRAM_DISTINCT = 20  # a numerical reference with more distinct values is binned, not counted by value
STD_FLOOR = 0.001  # the Wasserstein distance is divided by max(reference std, this)
RANDOM_AUC_RUNS = 1000  # random classifiers behind the AUC bar of a small reference's text test
RANDOM_AUC_QUANTILE = 0.95


class ColumnSkipped(InvalidArgumentError):
    """This column cannot be compared (the message says why); a report lists it and goes on."""


@dataclass(frozen=True)
class Outcome:
    """What one test found: ``score`` (the p-value of a p-value test, else the statistic) against
    ``threshold`` decides ``drifted``."""

    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.statistic if self.p_value is None else self.p_value


class ColumnPair:
    """One column's reference and current values, with what several tests share computed once.

    Build it with ``numerical`` (sorted finite numbers), ``categorical`` (value counts) or ``text`` (strings).
    """

    def __init__(
        self,
        kind: Kind,
        reference: np.ndarray | None = None,
        current: np.ndarray | None = None,
        counts: tuple[list[Any], np.ndarray, np.ndarray] | None = None,
        integer: bool = False,
    ) -> None:
        self.kind = kind
        self.integer = integer  # the numbers were integers: numpy floors Sturges' bin width at 1 for them
        if counts is not None:
            self.__dict__["counts"] = counts  # fills the cached property
            self.reference_rows, self.current_rows = round(counts[1].sum()), round(counts[2].sum())
        else:
            assert reference is not None and current is not None
            self.reference_rows, self.current_rows = len(reference), len(current)
        self._reference, self._current = reference, current
        if self.reference_rows == 0 or self.current_rows == 0:
            side = "reference" if self.reference_rows == 0 else "current"
            raise ColumnSkipped(f"The {side} values are empty: there is nothing to compare.")

    @classmethod
    def numerical(cls, reference: np.ndarray, current: np.ndarray, integer: bool = False) -> ColumnPair:
        """From sorted arrays of finite numbers (``integer``: they were integers before becoming floats)."""
        return cls(
            "numerical", np.asarray(reference, np.float64), np.asarray(current, np.float64), integer=integer
        )

    @classmethod
    def categorical(cls, reference: Mapping[Any, float], current: Mapping[Any, float]) -> ColumnPair:
        """From the value counts of each side (values counted 0 times are left out)."""
        keys = [k for k, n in reference.items() if n > 0]
        keys += [k for k, n in current.items() if n > 0 and reference.get(k, 0) == 0]
        ref_counts = np.array([reference.get(k, 0) for k in keys], dtype=np.float64)
        cur_counts = np.array([current.get(k, 0) for k in keys], dtype=np.float64)
        return cls("categorical", counts=(keys, ref_counts, cur_counts))

    @classmethod
    def text(cls, reference: np.ndarray, current: np.ndarray) -> ColumnPair:
        return cls("text", np.asarray(reference, dtype=object), np.asarray(current, dtype=object))

    @property
    def reference(self) -> np.ndarray:
        """The reference values: sorted numbers, or text (not kept for a categorical pair)."""
        if self._reference is None:
            raise InvalidArgumentError(
                "This test needs the values themselves, and only their counts are known."
            )
        return self._reference

    @property
    def current(self) -> np.ndarray:
        if self._current is None:
            raise InvalidArgumentError(
                "This test needs the values themselves, and only their counts are known."
            )
        return self._current

    # -- shared pieces
    @cached_property
    def counts(self) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """Every value either side has, with each side's count of it (as floats)."""
        if self.kind != "numerical":
            raise InvalidArgumentError(f"A {self.kind} column is not compared by its value counts.")
        ref_values, ref_counts = runs(self.reference)
        cur_values, cur_counts = runs(self.current)
        keys = np.union1d(ref_values, cur_values)
        ref_aligned = np.zeros(len(keys))
        cur_aligned = np.zeros(len(keys))
        ref_aligned[np.searchsorted(keys, ref_values)] = ref_counts
        cur_aligned[np.searchsorted(keys, cur_values)] = cur_counts
        return keys.tolist(), ref_aligned, cur_aligned

    @cached_property
    def reference_distinct(self) -> int:
        if self.kind == "numerical":
            return distinct_sorted(self.reference)
        return int(np.count_nonzero(self.counts[1]))

    @cached_property
    def distinct(self) -> int:
        """Distinct values of both sides together."""
        if self.kind == "numerical" and "counts" not in self.__dict__:
            merged = np.concatenate((self.reference, self.current))
            merged.sort(kind="stable")  # two sorted runs: a linear merge
            return distinct_sorted(merged)
        return len(self.counts[0])

    def distinct_up_to(self, limit: int) -> int:
        """``distinct``, or ``limit + 1`` when either side alone has more than ``limit`` (cheaper)."""
        many = self.kind == "numerical" and "distinct" not in self.__dict__
        if many and (self.reference_distinct > limit or distinct_sorted(self.current) > limit):
            return limit + 1
        return min(self.distinct, limit + 1)

    # -- what the numerical tests read; a pair built from profiles answers them from its sketches
    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value of both sides."""
        ref, cur = self.reference, self.current
        return float(min(ref[0], cur[0])), float(max(ref[-1], cur[-1]))

    def histogram(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each side's count per bin (``numpy.histogram``'s bins: closed on the left, the last on both)."""
        return histogram_sorted(self.reference, edges), histogram_sorted(self.current, edges)

    def reference_std(self) -> float:
        """The reference's population standard deviation (ddof 0)."""
        return float(np.std(self.reference))

    def wasserstein(self) -> float:
        return wasserstein_sorted(self.reference, self.current)

    def ks(self) -> tuple[float, float]:
        """The two-sample Kolmogorov-Smirnov statistic and its p-value."""
        from scipy.stats import ks_2samp

        result = ks_2samp(self.reference, self.current)
        return float(result.statistic), float(result.pvalue)

    def new_values(self) -> list[Any]:
        """Values the current side has and the reference has not."""
        keys, ref, cur = self.counts
        return [k for k, r, c in zip(keys, ref, cur, strict=True) if r == 0 and c > 0]


def runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a sorted array and how often each occurs."""
    if len(sorted_values) == 0:
        return sorted_values[:0], np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    return sorted_values[starts], np.diff(np.append(starts, len(sorted_values)))


def distinct_sorted(sorted_values: np.ndarray) -> int:
    if len(sorted_values) == 0:
        return 0
    return 1 + int(np.count_nonzero(sorted_values[1:] != sorted_values[:-1]))


# -- the tests


def _ks(pair: ColumnPair, threshold: float) -> Outcome:
    statistic, p = pair.ks()
    return Outcome(statistic, p, threshold, p <= threshold)


def _chisquare(pair: ColumnPair, threshold: float) -> Outcome:
    from scipy.stats import chisquare

    _, ref, cur = pair.counts
    expected = ref * (pair.current_rows / pair.reference_rows)
    with np.errstate(divide="ignore", invalid="ignore"):  # a value the reference lacks: infinite statistic
        result = chisquare(cur, expected)
    p = float(result.pvalue)
    return Outcome(float(result.statistic), p, threshold, p < threshold, _new_values(pair))


def _z(pair: ColumnPair, threshold: float) -> Outcome:
    from scipy.stats import norm

    keys, ref, cur = pair.counts
    n1, n2 = pair.reference_rows, pair.current_rows
    if np.count_nonzero(ref) == 1 and np.count_nonzero(cur) == 1 and np.argmax(ref) == np.argmax(cur):
        return Outcome(0.0, 1.0, threshold, threshold > 1.0)
    first = min(range(len(keys)), key=lambda i: _sort_key(keys[i]))
    # shares of rows that are not the smallest value
    p1, p2 = float(n1 - ref[first]) / n1, float(n2 - cur[first]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    p = float(2 * (1 - norm.cdf(np.abs(z))))
    return Outcome(float(z), p, threshold, p < threshold, _new_values(pair))


def _sort_key(value: Any) -> tuple[int, Any]:
    """Orders numbers, booleans and text like ``sorted`` does, and mixed values by type name."""
    if isinstance(value, bool | int | float | np.number | np.bool_):
        return (0, float(value))
    return (1, str(value))


def _wasserstein(pair: ColumnPair, threshold: float) -> Outcome:
    std = pair.reference_std()
    distance = pair.wasserstein() / max(std, STD_FLOOR)
    details = {"reference_std": std, "std_floored": std < STD_FLOOR}
    return Outcome(distance, None, threshold, distance >= threshold, details)


def wasserstein_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """The Wasserstein-1 distance of two samples given sorted: the area between their CDFs.

    ``scipy.stats.wasserstein_distance`` sorts both again and looks each merged value up in both; merging
    the two sorted runs (a stable sort of their concatenation is a linear merge) gives the same CDFs, and
    samples of equal size need no merge at all.
    """
    if len(u) == len(v):
        # equal sizes: both quantile functions step at i/n, so the area is the mean gap of sorted pairs
        return float(np.abs(u - v).sum() / len(u))
    merged = np.concatenate((u, v))
    order = np.argsort(merged, kind="stable")
    values = merged[order]
    counter: type[np.signedinteger[Any]] = np.int32 if len(merged) < 2**31 else np.int64
    # cumulative sums of int32 are ten times faster than of the default int64
    from_u: np.ndarray = np.cumsum(order < len(u), dtype=counter)[:-1]
    from_v: np.ndarray = np.cumsum(order >= len(u), dtype=counter)[:-1]
    # within a run of equal values the CDFs are not yet whole, but the gap to the next value is 0 there
    gaps = np.abs(from_u / len(u) - from_v / len(v))
    # not ``np.dot``: handing 200,000 values to BLAS threads costs milliseconds
    return float(np.multiply(gaps, np.diff(values), out=gaps).sum())


def sturges_edges(low: float, high: float, size: int, integer: bool = False) -> np.ndarray:
    """``numpy.histogram_bin_edges(a, bins="sturges")`` for ``size`` values from low to high (``integer``:
    the values are integers, whose bins numpy makes at least 1 wide)."""
    width = (high - low) / (np.log2(size) + 1.0)
    if integer and width and width < 1:
        width = 1.0
    bins = int(np.ceil((high - low) / width)) if width else 1
    if low == high:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def histogram_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``numpy.histogram(values, edges)[0]`` of sorted values: bins closed on the left, the last on both."""
    cumulative = np.concatenate(
        (
            np.searchsorted(sorted_values, edges[:-1], "left"),
            np.searchsorted(sorted_values, edges[-1:], "right"),
        )
    )
    return np.diff(cumulative)


def shares(pair: ColumnPair, fill_zeros: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each side's share of rows per bin: Sturges' bins for a numerical column with more than 20 distinct
    reference values, one bin per value otherwise."""
    if pair.kind == "numerical" and pair.reference_distinct > HISTOGRAM_DISTINCT:
        low, high = pair.bounds()
        edges = sturges_edges(low, high, pair.reference_rows + pair.current_rows, pair.integer)
        ref_counts, cur_counts = pair.histogram(edges)
        p, q = ref_counts / pair.reference_rows, cur_counts / pair.current_rows
    else:
        _, ref_counts, cur_counts = pair.counts
        p, q = ref_counts / pair.reference_rows, cur_counts / pair.current_rows
    if fill_zeros:
        p, q = fill_zero_shares(p), fill_zero_shares(q)
    return p, q


def fill_zero_shares(p: np.ndarray) -> np.ndarray:
    """Empty bins get a small share (so logarithms stay finite): the smallest share / 10⁶, or 0.0001."""
    nonzero = p[p != 0]
    if len(nonzero) == len(p) or len(nonzero) == 0:
        return p
    smallest = float(nonzero.min())
    return np.where(p == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001, p)


def psi(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum((p - q) * np.log(p / q)))


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    from scipy.stats import entropy

    return float(entropy(p, q))


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(p, q))


def _distance_test(measure: Callable[[np.ndarray, np.ndarray], float], fill_zeros: bool) -> Runner:
    def run(pair: ColumnPair, threshold: float) -> Outcome:
        p, q = shares(pair, fill_zeros)
        value = measure(p, q)
        return Outcome(value, None, threshold, value >= threshold, _new_values(pair))

    return run


def _hellinger(pair: ColumnPair, threshold: float) -> Outcome:
    if pair.kind == "categorical":
        _, ref, cur = pair.counts
        overlap = float(np.sum(np.sqrt((ref / pair.reference_rows) * (cur / pair.current_rows))))
    else:
        low, high = pair.bounds()
        # the bins span the distinct values of both sides, so their count follows from how many there are
        edges = sturges_edges(low, high, pair.distinct, pair.integer)
        widths = np.diff(edges)
        ref_counts, cur_counts = pair.histogram(edges)
        ref_density = ref_counts / widths / pair.reference_rows
        cur_density = cur_counts / widths / pair.current_rows
        width = (edges[-1] - edges[0]) / (len(edges) - 1)
        overlap = float(np.sum(np.sqrt(ref_density * cur_density)) * width)
    value = math.sqrt(1 - min(max(overlap, 0.0), 1.0))
    return Outcome(value, None, threshold, value >= threshold, _new_values(pair))


def _new_values(pair: ColumnPair) -> dict[str, Any]:
    if pair.kind != "categorical":
        return {}
    new = pair.new_values()
    return {"new_values": len(new)} if new else {}


def _domain_classifier(pair: ColumnPair, threshold: float | None) -> Outcome:
    """Text: how well a classifier tells current rows from reference rows it did not learn on."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline

    texts = np.concatenate((pair.reference, pair.current))
    labels = np.concatenate((np.zeros(len(pair.reference), np.int64), np.ones(len(pair.current), np.int64)))
    x_train, x_test, y_train, y_test = train_test_split(
        texts, labels, test_size=0.5, random_state=42, shuffle=True
    )
    if len(set(y_train.tolist())) < 2 or len(set(y_test.tolist())) < 2:
        raise ColumnSkipped(
            "Too few rows to train and score a domain classifier: give both sides more text rows."
        )
    model = Pipeline(
        [
            ("tfidf", TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words="english")),
            (
                "classifier",
                SGDClassifier(
                    alpha=0.0001, max_iter=50, penalty="l1", loss="modified_huber", random_state=42
                ),
            ),
        ]
    )
    try:
        with warnings.catch_warnings():  # 50 passes are Evidently's budget, converged or not
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, y_train)
    except ValueError as exc:  # no words left once the stop words and the too frequent ones are out
        raise ColumnSkipped(f"The text holds too few distinct words to compare ({exc}).") from None
    auc = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
    details: dict[str, Any] = {"words": _separating_words(model)}
    if threshold is None:
        if pair.reference_rows > SMALL_REFERENCE:
            threshold = 0.55
        else:
            threshold = random_auc_percentile(y_test, RANDOM_AUC_QUANTILE)
            details["random_auc_quantile"] = RANDOM_AUC_QUANTILE
    return Outcome(auc, None, threshold, auc > threshold, details)


def _separating_words(model: Any, top: int = 10) -> dict[str, list[str]]:
    """The words whose weights push hardest towards current (positive) and towards reference."""
    weights = model.named_steps["classifier"].coef_[0]
    vocabulary = model.named_steps["tfidf"].get_feature_names_out()
    order = np.argsort(weights, kind="stable")
    current = [str(vocabulary[i]) for i in order[::-1][:top] if weights[i] > 0]
    reference = [str(vocabulary[i]) for i in order[:top] if weights[i] < 0]
    return {"current": current, "reference": reference}


def random_auc_percentile(labels: np.ndarray, quantile: float, runs: int = RANDOM_AUC_RUNS) -> float:
    """The ``quantile`` of the ROC AUC of ``runs`` classifiers that score uniformly at random.

    Seeded as Evidently seeds them (seed 42 draws one seed per run), so the bar is the same; each AUC comes
    from the ranks of the positive rows (random scores do not tie), many runs at a time.
    """
    labels = np.asarray(labels)
    positive = labels == 1
    n_pos = int(positive.sum())
    n_neg = len(labels) - n_pos
    seeds = np.random.RandomState(42).randint(0, runs * 10, size=runs)
    aucs = np.empty(runs)
    block = max(1, 2_000_000 // max(len(labels), 1))
    for start in range(0, runs, block):
        chunk = seeds[start : start + block]
        scores = np.stack([np.random.RandomState(int(seed)).rand(len(labels)) for seed in chunk])
        ranks = np.empty_like(scores)
        order = np.argsort(scores, axis=1)
        np.put_along_axis(ranks, order, np.arange(1, len(labels) + 1, dtype=np.float64)[None, :], axis=1)
        rank_sum = ranks[:, positive].sum(axis=1)
        aucs[start : start + len(chunk)] = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(np.percentile(aucs, 100 * quantile))


Runner = Callable[[ColumnPair, float], Outcome]


@dataclass(frozen=True)
class StatTest:
    """A drift test: its name, the kinds of column it takes, its default threshold and how it decides."""

    name: str
    kinds: tuple[Kind, ...]
    default_threshold: float
    p_value: bool  # the threshold bounds a p-value (drift below it) rather than a distance (drift above)
    describe: str
    run: Callable[[ColumnPair, float], Outcome]


def _text_runner(pair: ColumnPair, threshold: float) -> Outcome:
    return _domain_classifier(pair, threshold)


TESTS: dict[str, StatTest] = {
    t.name: t
    for t in (
        StatTest("ks", ("numerical",), 0.05, True, "Kolmogorov-Smirnov: drift when p <= threshold", _ks),
        StatTest(
            "chisquare",
            ("categorical", "numerical"),
            0.05,
            True,
            "chi-squared: drift when p < threshold",
            _chisquare,
        ),
        StatTest(
            "z",
            ("categorical", "numerical"),
            0.05,
            True,
            "two-proportion z-test: drift when p < threshold",
            _z,
        ),
        StatTest(
            "wasserstein",
            ("numerical",),
            0.1,
            False,
            "Wasserstein distance / reference std: drift when >= threshold",
            _wasserstein,
        ),
        StatTest(
            "jensenshannon",
            ("categorical", "numerical"),
            0.1,
            False,
            "Jensen-Shannon distance: drift when >= threshold",
            _distance_test(jensen_shannon, fill_zeros=False),
        ),
        StatTest(
            "psi",
            ("categorical", "numerical"),
            0.1,
            False,
            "population stability index: drift when >= threshold",
            _distance_test(psi, fill_zeros=True),
        ),
        StatTest(
            "kl_div",
            ("categorical", "numerical"),
            0.1,
            False,
            "Kullback-Leibler divergence: drift when >= threshold",
            _distance_test(kl_divergence, fill_zeros=True),
        ),
        StatTest(
            "hellinger",
            ("categorical", "numerical"),
            0.1,
            False,
            "Hellinger distance: drift when >= threshold",
            _hellinger,
        ),
        StatTest(
            "domain_classifier",
            ("text",),
            0.55,
            False,
            "ROC AUC of a classifier telling current text from reference text: drift when > threshold",
            _text_runner,
        ),
    )
}


def get_test(name: str) -> StatTest:
    test = TESTS.get(name)
    if test is None:
        raise InvalidArgumentError(f"Unknown drift test {name!r}: use one of {', '.join(TESTS)}.")
    return test


def default_test(kind: Kind, reference_rows: int, distinct: int) -> str:
    """Evidently's choice: p-value tests for a small reference, distances for a large one; a numerical
    column with few distinct values (of both sides together) is tested like a categorical one."""
    if kind == "text":
        return "domain_classifier"
    categorical = kind == "categorical" or distinct <= FEW_VALUES
    if reference_rows <= SMALL_REFERENCE:
        if not categorical:
            return "ks"
        return "chisquare" if distinct > 2 else "z"
    return "jensenshannon" if categorical else "wasserstein"


def run_test(
    pair: ColumnPair, name: str | None = None, threshold: float | None = None
) -> tuple[str, Outcome]:
    """Run ``name`` (default: Evidently's pick for this column) at ``threshold`` (default: the test's)."""
    if name is None:
        distinct = 0 if pair.kind == "text" else pair.distinct_up_to(FEW_VALUES)
        name = default_test(pair.kind, pair.reference_rows, distinct)
    test = get_test(name)
    if pair.kind not in test.kinds:
        raise InvalidArgumentError(
            f"The {name} test does not take {pair.kind} columns: use one of "
            f"{', '.join(t.name for t in TESTS.values() if pair.kind in t.kinds)}."
        )
    if name == "domain_classifier":
        return name, _domain_classifier(pair, threshold)
    return name, test.run(pair, test.default_threshold if threshold is None else threshold)
