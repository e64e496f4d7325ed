"""Drift from profiles: ``lm.drift``'s tests and verdicts computed from two mergeable profiles instead of
rows, so a window of any size (hours merged into days, days into weeks) is compared without reading a row.

    reference = lm.data.profile("sensors:1")
    window = profiles_of_the_day[0].merge(...)            # Profile.merge of segment profiles
    report = profile_drift(reference, window)             # a DriftReport with approximate=True

Each statistic comes from what a ``ColumnProfile`` keeps (row counts, nulls, min, max, mean and m2 are exact):

- value counts: a column with few distinct values keeps their exact counts (``ColumnProfile.counts``), and
  then every test of it is exact. Otherwise a categorical column's counts come from its frequent-items
  sketch (exact below 768 distinct values; beyond, the values it cannot vouch for are summed as one other
  value), and a numerical column's from the values its quantile sketch retains, with their weights.
- Wasserstein: the distance between the two quantile sketches (their retained values, weighted), over the
  reference's population standard deviation from m2 / finite values (ddof 0, floored at 0.001).
- the binned distances (Jensen-Shannon, PSI, KL, Hellinger): the same Sturges' edges as on rows (they need
  only the exact min, max and counts), each bin's mass from the sketch's CDF.
- Kolmogorov-Smirnov: the largest gap between the two sketch CDFs, with the asymptotic p-value.
- text needs its rows (a classifier learns from them): such a column is left out, with the reason.

Accuracy follows the quantile sketches' rank error (``details["rank_error"]``): at k=200 (1.3 %) a
Wasserstein distance moves by up to a third of its threshold, at k=2,000 (0.15 %) by a few per cent, so
verdicts agree with the rows' except for close calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.errors import InvalidArgumentError
from loopml.monitoring._drift import (
    INTEGER_CATEGORIES,
    ColumnDrift,
    DriftReport,
    TestSpec,
    category_detail,
    check_drift_share,
    choose_kind,
    common_family,
    compare_each,
    histogram_detail,
    per_column_tests,
    select_columns,
)
from loopml.monitoring._stattests import (
    ColumnPair,
    ColumnSkipped,
    Kind,
    get_test,
    run_test,
)

if TYPE_CHECKING:
    from loopml.data import ColumnProfile, Profile

OTHER = "(other values)"  # the mass of values a frequent-items sketch cannot vouch for


def profile_drift(
    reference: Profile,
    current: Profile,
    *,
    columns: Sequence[str] | None = None,
    tests: TestSpec | Mapping[str, TestSpec] | None = None,
    drift_share: float = 0.5,
) -> DriftReport:
    """Compare two profiles column by column, as ``lm.drift`` compares rows (``approximate=True``).

    ``columns`` and ``tests`` are ``lm.drift``'s: the columns to compare (default: all both have), and one
    test for every column or ``{column: name | (name, threshold)}``.
    """
    check_drift_share(drift_share)
    for what, profile in (("reference", reference), ("current", current)):
        if profile.num_rows == 0:
            raise InvalidArgumentError(f"The {what} profile has no rows: drift needs rows on both sides.")
    selected = select_columns(reference.names, current.names, columns)
    per_column = per_column_tests(tests, selected)
    results, skipped = compare_each(
        selected,
        per_column,
        lambda name, test, threshold: column_profile_drift(
            name, reference[name], current[name], test=test, threshold=threshold
        ),
    )
    return DriftReport(
        results, float(drift_share), skipped, reference.num_rows, current.num_rows, approximate=True
    )


def column_profile_drift(
    name: str,
    reference: ColumnProfile,
    current: ColumnProfile,
    *,
    test: str | None = None,
    threshold: float | None = None,
) -> ColumnDrift:
    """One column's drift from its two column profiles."""
    spec = get_test(test) if test is not None else None
    family = common_family(name, (_family(reference), _family(current)), (reference.type, current.type))
    exact = _exact_counts(reference) is not None and _exact_counts(current) is not None
    kind: Kind
    if family == "numeric":
        for side, column in (("reference", reference), ("current", current)):
            if column.finite == 0:
                raise ColumnSkipped(f"Column {name!r} has no finite {side} value: nothing to compare.")
        integer = _is_integer(current.type)
        few = integer and _distinct(current) <= INTEGER_CATEGORIES
        kind = "categorical" if few else "numerical"
    elif (
        family == "string"
        and not current.type.startswith("dictionary")
        and _distinct(current) > 0.5 * current.count
    ):
        kind = "text"
    else:
        kind = "categorical"
    kind = choose_kind(name, family, kind, False, spec.kinds if spec else None)
    if kind == "text":
        raise ColumnSkipped(
            f"Column {name!r} is text (most values are distinct): its test learns from rows, which a profile "
            "does not keep; compare rows with lm.drift, or name a categorical test for it."
        )
    pair: ColumnPair
    if kind == "numerical":
        pair = SketchPair(reference, current, _is_integer(reference.type) and _is_integer(current.type))
    else:
        ref_counts, ref_exact = _counts(reference)
        cur_counts, cur_exact = _counts(current)
        exact = ref_exact and cur_exact
        pair = ColumnPair.categorical(ref_counts, cur_counts)
    chosen, outcome = run_test(pair, test, threshold)
    details: dict[str, Any] = {
        "reference_rows": pair.reference_rows,
        "current_rows": pair.current_rows,
        "reference_nulls": reference.rows - pair.reference_rows,
        "current_nulls": current.rows - pair.current_rows,
        **outcome.details,
        "approximate": not exact,
    }
    if kind == "numerical":
        details["histogram"] = histogram_detail(pair)
        errors = [c.kll.normalized_rank_error(False) for c in (reference, current) if c.kll is not None]
        if errors and not exact:
            details["rank_error"] = max(errors)  # of the quantile sketches: what the estimates rest on
    else:
        details.update(category_detail(pair))
        if OTHER in pair.counts[0]:
            details["new_values"] = None  # values the sketch summed as one cannot be told apart
    return ColumnDrift(
        name,
        kind,
        chosen,
        outcome.statistic,
        outcome.p_value,
        outcome.threshold,
        bool(outcome.drifted),
        details,
    )


class SketchPair(ColumnPair):
    """A numerical column's two profiles, answering the numerical tests from exact value counts where both
    sides have them, from the quantile sketches otherwise."""

    def __init__(self, reference: ColumnProfile, current: ColumnProfile, integer: bool) -> None:
        self.kind = "numerical"
        self.integer = integer
        self._reference = self._current = None
        self.ref_profile, self.cur_profile = reference, current
        self.reference_rows, self.current_rows = reference.finite, current.finite
        if self.reference_rows == 0 or self.current_rows == 0:
            raise ColumnSkipped("A side has no finite values: there is nothing to compare.")

    @cached_property
    def _sides(self) -> tuple[tuple[np.ndarray, np.ndarray, bool], tuple[np.ndarray, np.ndarray, bool]]:
        """Each side as (sorted values, weights adding up to its finite count, exact)."""
        return _distribution(self.ref_profile), _distribution(self.cur_profile)

    @cached_property
    def counts(self) -> tuple[list[Any], np.ndarray, np.ndarray]:
        (ref_values, ref_weights, _), (cur_values, cur_weights, _) = self._sides
        keys = np.union1d(ref_values, cur_values)
        ref = np.zeros(len(keys))
        cur = np.zeros(len(keys))
        np.add.at(ref, np.searchsorted(keys, ref_values), ref_weights)
        np.add.at(cur, np.searchsorted(keys, cur_values), cur_weights)
        return keys.tolist(), ref, cur

    @cached_property
    def reference_distinct(self) -> int:
        return _distinct(self.ref_profile)

    @cached_property
    def distinct(self) -> int:
        ref, cur = _exact_counts(self.ref_profile), _exact_counts(self.cur_profile)
        if ref is not None and cur is not None:
            return len(set(ref) | set(cur))
        if self.ref_profile.hll is not None and self.cur_profile.hll is not None:
            return max(round(self.ref_profile.hll.merge(self.cur_profile.hll).estimate()), 1)
        return max(_distinct(self.ref_profile), _distinct(self.cur_profile))

    def distinct_up_to(self, limit: int) -> int:
        return min(self.distinct, limit + 1)

    def bounds(self) -> tuple[float, float]:
        return (
            float(min(self.ref_profile.min, self.cur_profile.min)),
            float(max(self.ref_profile.max, self.cur_profile.max)),
        )

    def histogram(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _binned(self.ref_profile, self._sides[0], edges), _binned(
            self.cur_profile, self._sides[1], edges
        )

    def reference_std(self) -> float:
        return math.sqrt(self.ref_profile.m2 / self.ref_profile.finite)

    def wasserstein(self) -> float:
        from scipy.stats import wasserstein_distance

        (u, uw, _), (v, vw, _) = self._sides
        return float(wasserstein_distance(u, v, uw, vw))

    def ks(self) -> tuple[float, float]:
        from scipy.stats import kstwo

        (u, uw, _), (v, vw, _) = self._sides
        points = np.union1d(u, v)
        gap = float(np.max(np.abs(_cdf(u, uw, points) - _cdf(v, vw, points))))
        n, m = self.reference_rows, self.current_rows
        return gap, float(kstwo.sf(gap, round(n * m / (n + m))))


def _cdf(values: np.ndarray, weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The share of weight at or below each point (values sorted)."""
    cumulative = np.concatenate(([0.0], np.cumsum(weights)))
    shares: np.ndarray = cumulative[np.searchsorted(values, points, "right")] / cumulative[-1]
    return shares


def _distribution(column: ColumnProfile) -> tuple[np.ndarray, np.ndarray, bool]:
    """A numerical column's values with weights adding up to its finite count: exact counts, or the quantile
    sketch's retained values (each standing for its weight in values)."""
    counts = _exact_counts(column)
    if counts is not None:
        keys = sorted(counts)
        return np.array(keys, dtype=np.float64), np.array([counts[k] for k in keys], dtype=np.float64), True
    if column.kll is None or column.kll.is_empty():
        raise ColumnSkipped(f"Column {column.name!r} has no quantile sketch to compare.")
    items = np.array(list(column.kll), dtype=np.float64)
    order = np.argsort(items[:, 0], kind="stable")
    values, weights = items[order, 0], items[order, 1]
    return values, weights * (column.finite / weights.sum()), False


def _binned(
    column: ColumnProfile, side: tuple[np.ndarray, np.ndarray, bool], edges: np.ndarray
) -> np.ndarray:
    """How many of the column's values fall in each bin: exact from counts, else from the sketch's CDF
    (bins closed on the left, the last one on both sides)."""
    values, weights, exact = side
    if exact:
        below = np.concatenate(([0.0], np.cumsum(weights)))
        cut = np.concatenate(
            (np.searchsorted(values, edges[:-1], "left"), np.searchsorted(values, edges[-1:], "right"))
        )
        return np.diff(below[cut])
    shares = np.array([*column.kll.get_cdf([float(e) for e in edges[:-1]], False)[:-1], 1.0])
    shares[0] = 0.0  # the first edge is the smallest value of both sides: nothing lies below it
    return np.diff(shares) * column.finite if len(edges) > 1 else np.zeros(0)


def _exact_counts(column: ColumnProfile) -> dict[Any, int] | None:
    """The exact value counts a profile keeps of a low-cardinality column, if any (and if they add up)."""
    counts = column.counts
    if counts is None:
        return None
    total = sum(counts.values())
    expected = column.finite if column.kind == "numeric" else column.count
    return dict(counts) if total == expected else None


def _counts(column: ColumnProfile) -> tuple[dict[Any, float], bool]:
    """A categorical column's value counts and whether they are exact."""
    exact = _exact_counts(column)
    if exact is not None:
        return dict(exact), True
    if column.kind == "numeric":
        values, weights, _ = _distribution(column)
        grouped: dict[Any, float] = {}
        for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
            key = int(value) if value.is_integer() and _is_integer(column.type) else value
            grouped[key] = grouped.get(key, 0) + weight
        return grouped, False
    if column.frequent is None or column.frequent.is_empty():
        raise ColumnSkipped(
            f"Column {column.name!r} has no value counts or frequent-items sketch to compare."
        )
    from datasketches import frequent_items_error_type

    items = column.frequent.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES, 0)
    boolean = column.type == "bool"
    counts: dict[Any, float] = {}
    for item, _estimate, lower, _upper in items:
        key = (item == "true") if boolean else item
        counts[key] = int(lower)  # what the sketch vouches for; the rest is summed below
    rest = column.count - sum(counts.values())
    if rest > 0:
        counts[OTHER] = rest
    return counts, rest == 0


def _distinct(column: ColumnProfile) -> int:
    exact = _exact_counts(column)
    if exact is not None:
        return len(exact)
    distinct = column.distinct
    return column.count if distinct is None else int(distinct)


def _is_integer(arrow_type: str) -> bool:
    return arrow_type.startswith(("int", "uint"))


def _family(column: ColumnProfile) -> str | None:
    """numeric, boolean, string, datetime or other, as the exact mode tells them; None when all null."""
    if column.count == 0:
        return None
    if column.kind == "numeric":
        return "numeric"
    if column.type == "bool":
        return "boolean"
    if column.kind == "categorical":
        return "string"
    return "datetime" if column.kind == "temporal" else "other"


__all__ = ["SketchPair", "column_profile_drift", "profile_drift"]
