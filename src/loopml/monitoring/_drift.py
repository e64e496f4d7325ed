"""Drift: has each column's distribution moved between a reference and now? One call answers per column and
for the dataset, with the tests, defaults and thresholds Evidently users know.

    report = lm.drift("sensors:1", todays_rows)             # DataFrames or dataset references
    report.drifted, report.drift_share                      # the dataset verdict
    report.to_frame()                                       # column, kind, test, statistic, p_value, ...
    report.columns["temperature"]                           # a ColumnDrift
    Path("drift.html").write_text(report.to_html())

Each column gets a kind, inferred from the current data as Evidently infers it: floats are numerical;
integers numerical with more than 10 distinct values, categorical otherwise; text categorical, or ``text``
when more than half its values are distinct (or when named in ``text_columns``); booleans and pandas
categories categorical. Datetime columns and objects that are not text are left out (``report.skipped``).
Nulls and infinities are dropped before testing.

The default test (Evidently's rule): at most 1,000 non-null reference values, the Kolmogorov-Smirnov test
for a numerical column with more than 5 distinct values (both sides together), chi-squared for other
columns with more than 2 values, the z-test for 2; above 1,000, the Wasserstein distance over the
reference's standard deviation for such numerical columns and the Jensen-Shannon distance for the others;
text gets a domain classifier. The dataset drifts when the share of drifted columns reaches ``drift_share``.
``_stattests`` holds the definitions.

A column that cannot be compared (all values null on one side, its type changed, a datetime) is reported in
``skipped`` with the reason instead of failing the report. ``profile_drift`` (``_profile_drift``) gives the
same report from two profiles, without rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.errors import InvalidArgumentError
from loopml.monitoring._stattests import (
    KINDS,
    TESTS,
    ColumnPair,
    ColumnSkipped,
    Kind,
    Outcome,
    distinct_sorted,
    get_test,
    run_test,
    runs,
)

if TYPE_CHECKING:
    import pandas as pd

INTEGER_CATEGORIES = 10  # an integer column with at most this many distinct current values is categorical
HISTOGRAM_BINS = 20  # bins of the distribution a report shows for a numerical column
TOP_VALUES = 20  # values a report shows for a categorical column (the rest are summed as "other")
FILE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".parquet", ".pq")

TestSpec = str | tuple[str, float]


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict: ``test`` found ``statistic`` (and ``p_value`` where the test has one), compared
    with ``threshold``. ``details`` holds what a report shows: row counts, the two distributions, the words
    that separate two texts, values the reference never had."""

    column: str
    kind: str  # "numerical", "categorical" or "text"
    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def score(self) -> float:
        """What the threshold is compared with: the p-value of a p-value test, the statistic otherwise
        (Evidently's drift score)."""
        return self.statistic if self.p_value is None else self.p_value

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "test": self.test,
            "statistic": _finite(self.statistic),
            "p_value": None if self.p_value is None else _finite(self.p_value),
            "threshold": _finite(self.threshold),
            "drifted": self.drifted,
            "details": self.details,
        }


@dataclass(frozen=True)
class DriftReport:
    """Per column verdicts (``columns``, in column order) and the dataset's: it drifts when the share of
    drifted columns reaches ``drift_share_threshold``."""

    columns: dict[str, ColumnDrift]
    drift_share_threshold: float = 0.5
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it was not compared
    reference_rows: int = 0
    current_rows: int = 0
    approximate: bool = False  # computed from profiles (sketches), not from the rows

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, c in self.columns.items() if c.drifted]

    @property
    def drift_share(self) -> float:
        """The share of compared columns that drift."""
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    @property
    def drifted(self) -> bool:
        return bool(self.columns) and self.drift_share >= self.drift_share_threshold

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        names = ["column", "kind", "test", "statistic", "p_value", "threshold", "drifted"]
        rows = [
            (c.column, c.kind, c.test, c.statistic, c.p_value, c.threshold, c.drifted)
            for c in self.columns.values()
        ]
        frame = pd.DataFrame(rows, columns=names)
        return frame.astype({"statistic": float, "p_value": float, "threshold": float, "drifted": bool})

    def to_dict(self) -> dict[str, Any]:
        """JSON types only: non-finite numbers become null."""
        return {
            "drifted": self.drifted,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "number_of_columns": len(self.columns),
            "number_of_drifted_columns": len(self.drifted_columns),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "approximate": self.approximate,
            "columns": [c.to_dict() for c in self.columns.values()],
            "skipped": dict(self.skipped),
        }

    def to_html(self, title: str = "Drift report") -> str:
        """A self-contained page (no scripts, nothing from the network): the verdicts, then per column its
        test, statistic, threshold and the reference and current distributions."""
        from loopml.monitoring._drift_html import render_drift_report

        return render_drift_report(self, title)


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    tests: TestSpec | Mapping[str, TestSpec] | None = None,
    text_columns: Sequence[str] = (),
    drift_share: float = 0.5,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column.

    ``reference`` / ``current``: DataFrames, dataset references (``"sensors:3"``, ``"sensors@latest"``) or
    paths of CSV / Parquet files. ``columns``: the columns to compare (default: every column both have).
    ``tests``: one test for every column (a name, or ``(name, threshold)``), or ``{column: name | (name,
    threshold)}`` for some; the others get the default. Test names: ks, chisquare, z, wasserstein,
    jensenshannon, psi, kl_div, hellinger, domain_classifier. ``text_columns``: columns holding free text.
    """
    check_drift_share(drift_share)
    ref = load_frame(reference, "reference")
    cur = load_frame(current, "current")
    selected = select_columns(list(ref.columns), list(cur.columns), columns)
    for what, frame in (("reference", ref), ("current", cur)):
        repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()] if c in selected})
        if repeated:
            raise InvalidArgumentError(
                f"The {what} has more than one column named {_names(repeated)}: rename them apart."
            )
    per_column = per_column_tests(tests, selected)
    unknown_text = [c for c in text_columns if c not in selected]
    if unknown_text:
        raise InvalidArgumentError(
            f"text_columns names {_names(unknown_text)}, which {_is(unknown_text)} not compared: name only "
            f"columns of {_names(selected)}."
        )
    results, skipped = compare_each(
        selected,
        per_column,
        lambda name, test, threshold: column_drift(
            name,
            ref[name],
            cur[name],
            kind="text" if name in text_columns else None,
            test=test,
            threshold=threshold,
        ),
    )
    return DriftReport(results, float(drift_share), skipped, len(ref), len(cur))


def check_drift_share(drift_share: Any) -> None:
    if not (isinstance(drift_share, int | float) and 0 < drift_share <= 1):
        raise InvalidArgumentError(f"drift_share is a share of columns in (0, 1], not {drift_share!r}.")


def compare_each(
    selected: Sequence[Any],
    per_column: Mapping[Any, tuple[str, float | None]],
    compare: Callable[[Any, str | None, float | None], ColumnDrift],
) -> tuple[dict[Any, ColumnDrift], dict[Any, str]]:
    """Each selected column's drift by ``compare(name, test, threshold)``, and the columns it skipped with
    the reason; ``InvalidArgumentError`` with every reason when none could be compared."""
    results: dict[Any, ColumnDrift] = {}
    skipped: dict[Any, str] = {}
    for name in selected:
        test, threshold = per_column.get(name, (None, None))
        try:
            results[name] = compare(name, test, threshold)
        except ColumnSkipped as exc:
            skipped[name] = str(exc)
    if not results:
        reasons = "; ".join(f"{name}: {why.rstrip('.')}" for name, why in skipped.items())
        raise InvalidArgumentError(f"No column could be compared ({reasons}).")
    return results, skipped


def column_drift(
    name: str,
    reference_values: Any,
    current_values: Any,
    *,
    kind: str | None = None,
    test: str | None = None,
    threshold: float | None = None,
) -> ColumnDrift:
    """One column's drift: ``reference_values`` and ``current_values`` are pandas Series (or anything
    ``pandas.Series`` takes). ``kind`` (numerical, categorical, text) is inferred when not given; ``test``
    and ``threshold`` default to Evidently's choice. Raises ``InvalidArgumentError`` (``ColumnSkipped``
    when the column itself cannot be compared: all null, its type changed, a datetime)."""
    import pandas as pd

    if kind is not None and kind not in KINDS:
        raise InvalidArgumentError(f"kind is one of {', '.join(KINDS)}, not {kind!r}.")
    if test is not None:
        spec = get_test(test)
        if threshold is not None:
            check_threshold(name, test, threshold)
    else:
        spec = None
        if threshold is not None:
            raise InvalidArgumentError(
                f"Column {name!r}: a threshold needs a test, as in ('psi', {threshold}): the default test "
                "depends on the data, and so does the meaning of its threshold."
            )
    ref = reference_values if isinstance(reference_values, pd.Series) else pd.Series(reference_values)
    cur = current_values if isinstance(current_values, pd.Series) else pd.Series(current_values)
    pair, resolved = _pair(name, ref, cur, kind, spec.kinds if spec else None)
    chosen, outcome = run_test(pair, test, threshold)
    return ColumnDrift(
        name,
        resolved,
        chosen,
        outcome.statistic,
        outcome.p_value,
        outcome.threshold,
        bool(outcome.drifted),
        _details(pair, outcome, ref, cur),
    )


# -- inputs


def load_frame(source: Any, what: str) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a CSV / Parquet file, or a dataset reference."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        frame = source
    elif isinstance(source, Path) or (isinstance(source, str) and _looks_like_file(source)):
        frame = read_file(Path(source))
    elif isinstance(source, str):
        from loopml.data import load

        frame = load(source)
    else:
        raise InvalidArgumentError(
            f"The {what} is a DataFrame, a dataset reference such as 'sensors:3', or a CSV / Parquet file, "
            f"not {type(source).__name__}."
        )
    if len(frame) == 0:
        raise InvalidArgumentError(f"The {what} has no rows: drift needs rows on both sides.")
    return frame


def _looks_like_file(text: str) -> bool:
    return text.lower().endswith(FILE_SUFFIXES) or "/" in text or Path(text).exists()


def read_file(path: Path) -> pd.DataFrame:
    """A CSV (TSV) or Parquet file, or a folder of Parquet files, read as ``loopml data add`` reads it."""
    import pyarrow as pa

    if not path.exists():
        raise InvalidArgumentError(
            f"{path} does not exist: give a CSV or Parquet file, or a dataset reference."
        )
    lower = path.name.lower()
    try:
        if lower.endswith((".csv", ".tsv", ".csv.gz")):
            import pyarrow.csv as pacsv

            options = pacsv.ParseOptions(delimiter="\t") if lower.endswith(".tsv") else None
            table = pacsv.read_csv(path, parse_options=options)
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgumentError(f"{path} is not a readable CSV or Parquet file: {exc}") from None
    frame: pd.DataFrame = table.to_pandas()
    return frame


def select_columns(
    reference: Sequence[Any], current: Sequence[Any], columns: Sequence[str] | None
) -> list[str]:
    """The columns to compare: ``columns`` (each must be on both sides), or every column both have."""
    in_current = set(current)
    if columns is None:
        common = [c for c in reference if c in in_current]
        if not common:
            raise InvalidArgumentError(
                f"The reference ({_names(list(reference))}) and the current data ({_names(list(current))}) "
                "have no column in common: compare data with the same columns (or rename them)."
            )
        return common
    if isinstance(columns, str):
        columns = [columns]
    in_reference = set(reference)
    missing = []
    for c in columns:
        sides = [
            side for side, names in (("reference", in_reference), ("current", in_current)) if c not in names
        ]
        if sides:
            missing.append(f"{c!r} in the {' and the '.join(sides)}")
    if missing:
        raise InvalidArgumentError(f"No column {', '.join(missing)}: columns= names columns both sides have.")
    if not columns:
        raise InvalidArgumentError("columns= is empty: name at least one column, or leave it out for all.")
    return list(dict.fromkeys(columns))


def per_column_tests(
    tests: TestSpec | Mapping[str, TestSpec] | None, selected: list[str]
) -> dict[str, tuple[str, float | None]]:
    if tests is None:
        return {}
    if isinstance(tests, str | tuple):
        return {name: _spec(name, tests) for name in selected}
    if not isinstance(tests, Mapping):
        raise InvalidArgumentError(
            "tests is a test name, (name, threshold), or {column: name | (name, threshold)}, "
            f"not {type(tests).__name__}."
        )
    unknown = [c for c in tests if c not in selected]
    if unknown:
        raise InvalidArgumentError(
            f"tests names {_names(unknown)}, which {_is(unknown)} not compared: "
            f"name only columns of {_names(selected)} (or add them to columns=)."
        )
    return {name: _spec(name, spec) for name, spec in tests.items()}


def _spec(column: str, spec: Any) -> tuple[str, float | None]:
    if isinstance(spec, str):
        get_test(spec)
        return spec, None
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        get_test(spec[0])
        check_threshold(column, spec[0], spec[1])
        return spec[0], float(spec[1])
    raise InvalidArgumentError(
        f"The test of column {column!r} is a name or (name, threshold), such as ('psi', 0.2), not {spec!r}."
    )


def check_threshold(column: str, test: str, threshold: Any) -> None:
    ok = isinstance(threshold, int | float) and not isinstance(threshold, bool) and math.isfinite(threshold)
    if ok and get_test(test).p_value:
        ok = 0 < threshold < 1
    elif ok:
        ok = threshold >= 0
    if not ok:
        bound = "a p-value in (0, 1)" if get_test(test).p_value else "a number >= 0"
        raise InvalidArgumentError(
            f"The {test} threshold of column {column!r} is {bound}, not {threshold!r}."
        )


def _is(names: Sequence[Any]) -> str:
    return "is" if len(names) == 1 else "are"


def _names(names: Sequence[Any]) -> str:
    shown = ", ".join(repr(n) for n in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


# -- one column's values


def _family(series: pd.Series) -> str | None:
    """What the values are, to tell a changed type: numeric, boolean, string, datetime, other; None when
    every value is null (an all-null column has no type to compare)."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _family(pd.Series(dtype.categories)) if len(dtype.categories) else None
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if pd.api.types.is_string_dtype(dtype):
        values = series.dropna()
        if len(values) == 0:
            return None
        # as Evidently: an object column is text when its first and last values are
        first, last = values.iloc[0], values.iloc[-1]
        if isinstance(first, str) and isinstance(last, str):
            return "string"
        if all(isinstance(v, bool | np.bool_) for v in (first, last)):
            return "boolean"
        return "other"
    return "other"


ALLOWED_KINDS: dict[str, tuple[Kind, ...]] = {
    "numeric": ("numerical", "categorical"),
    "boolean": ("categorical",),
    "string": ("categorical", "text"),
}


def _pair(
    name: str, ref: pd.Series, cur: pd.Series, kind: Kind | None, test_kinds: tuple[Kind, ...] | None
) -> tuple[ColumnPair, Kind]:
    """The column's values prepared for its tests, and its kind."""
    import pandas as pd

    families = tuple(_family(s) if s.notna().any() else None for s in (ref, cur))
    family = common_family(name, (families[0], families[1]), (ref.dtype, cur.dtype))
    categories = any(isinstance(s.dtype, pd.CategoricalDtype) for s in (ref, cur))
    numbers = (_sorted_numbers(ref), _sorted_numbers(cur)) if family == "numeric" else None
    if numbers is not None and (len(numbers[0]) == 0 or len(numbers[1]) == 0):
        side = "reference" if len(numbers[0]) == 0 else "current"
        raise ColumnSkipped(
            f"Column {name!r} has no finite {side} value (only infinities): nothing to compare."
        )
    counts: tuple[dict[Any, int], dict[Any, int]] | None = None
    declared = kind is not None
    if kind is None:
        if categories or family == "boolean":
            kind = "categorical"
        elif numbers is not None:
            integer = pd.api.types.is_integer_dtype(cur.dtype)
            few = integer and distinct_sorted(numbers[1]) <= INTEGER_CATEGORIES
            kind = "categorical" if few else "numerical"
        else:
            counts = (_value_counts(ref), _value_counts(cur))
            # as Evidently: text when more than half the current's non-null values are distinct
            kind = "text" if len(counts[1]) > 0.5 * cur.count() else "categorical"
    kind = choose_kind(name, family, kind, declared, test_kinds)
    if kind == "numerical":
        assert numbers is not None
        integer = all(pd.api.types.is_integer_dtype(s.dtype) for s in (ref, cur))
        return ColumnPair.numerical(numbers[0], numbers[1], integer), kind
    if kind == "text":
        return ColumnPair.text(_texts(ref), _texts(cur)), kind
    if counts is None:
        if numbers is not None and not categories:
            counts = (_run_counts(numbers[0]), _run_counts(numbers[1]))
        else:
            counts = (_value_counts(ref), _value_counts(cur))
    return ColumnPair.categorical(counts[0], counts[1]), kind


def choose_kind(
    name: str, family: str, kind: Kind, declared: bool, test_kinds: tuple[Kind, ...] | None
) -> Kind:
    """The kind to test a column as: the inferred one, unless the test asked for takes another kind the
    values allow (an integer column tested with ks is numerical); errors say what fits."""
    allowed = ALLOWED_KINDS[family]
    if not declared and test_kinds is not None and kind not in test_kinds:
        usable = [k for k in test_kinds if k in allowed]
        if usable:
            kind = usable[0]
    if kind not in allowed:
        values = {"numeric": "numbers", "boolean": "booleans", "string": "text"}[family]
        raise InvalidArgumentError(f"Column {name!r} holds {values}, which cannot be tested as {kind}.")
    if test_kinds is not None and kind not in test_kinds:
        raise InvalidArgumentError(
            f"Column {name!r} is {kind}, and its test does not take {kind} columns: choose one of "
            f"{', '.join(_tests_for(kind))}."
        )
    return kind


def common_family(name: str, families: tuple[str | None, str | None], types: tuple[Any, Any]) -> str:
    """The values' family on both sides; ``ColumnSkipped`` when a side is all null (None), the type
    changed, or the column holds what no test takes."""
    for side, family in zip(("reference", "current"), families, strict=True):
        if family is None:
            raise ColumnSkipped(all_null(name, side))
    if families[0] != families[1]:
        raise ColumnSkipped(
            f"Column {name!r} changed type: {types[0]} ({families[0]}) in the reference, {types[1]} "
            f"({families[1]}) in the current data. Cast one side to the other's type, or leave the column "
            "out."
        )
    family = families[0]
    assert family is not None
    if family not in ALLOWED_KINDS:
        raise ColumnSkipped(
            f"Column {name!r} ({types[1]}) is not compared: drift tests take numbers, booleans and text "
            "(convert it, for example with astype(float) or astype(str))."
        )
    return family


def all_null(name: str, side: str) -> str:
    return f"Column {name!r} is null in every {side} row: nothing to compare (check where it comes from)."


def _tests_for(kind: str) -> list[str]:
    return [t.name for t in TESTS.values() if kind in t.kinds]


def _sorted_numbers(series: pd.Series) -> np.ndarray:
    """The finite values, sorted (NaN sorts last and the infinities sit at the ends: slicing drops them)."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        values = np.sort(series.to_numpy())
    elif pd.api.types.is_integer_dtype(dtype):  # a nullable integer column
        values = np.sort(series.dropna().to_numpy(dtype=np.int64))
    else:
        values = np.sort(series.to_numpy(dtype=np.float64, na_value=np.nan))
    if values.dtype.kind == "f":
        low = int(np.searchsorted(values, -np.inf, "right"))
        high = int(np.searchsorted(values, np.inf, "left"))
        values = values[low:high]
    return values


def _run_counts(sorted_values: np.ndarray) -> dict[Any, int]:
    values, counts = runs(sorted_values)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def _value_counts(series: pd.Series) -> dict[Any, int]:
    values = series.replace([np.inf, -np.inf], np.nan) if series.dtype == object else series
    counts = values.value_counts(dropna=True, sort=False)
    return {
        _plain(k): int(n) for k, n in zip(counts.index.tolist(), counts.to_numpy().tolist(), strict=True) if n
    }


def _texts(series: pd.Series) -> np.ndarray:
    values = series.dropna()
    return np.array([v if isinstance(v, str) else str(v) for v in values.tolist()], dtype=object)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# -- what a report shows


def _details(pair: ColumnPair, outcome: Outcome, ref: pd.Series, cur: pd.Series) -> dict[str, Any]:
    details: dict[str, Any] = {
        "reference_rows": pair.reference_rows,
        "current_rows": pair.current_rows,
        "reference_nulls": len(ref) - pair.reference_rows,
        "current_nulls": len(cur) - pair.current_rows,
        **{k: json_value(v) for k, v in outcome.details.items()},
    }
    if pair.kind == "numerical":
        details["histogram"] = histogram_detail(pair)
    elif pair.kind == "categorical":
        details.update(category_detail(pair))
    return details


def histogram_detail(pair: ColumnPair, bins: int = HISTOGRAM_BINS) -> dict[str, list[float]]:
    """Both sides' counts over the same equal-width bins spanning both."""
    low, high = pair.bounds()
    edges = np.linspace(low, high, bins + 1) if high > low else np.array([low - 0.5, low + 0.5])
    ref, cur = pair.histogram(edges)
    return {"edges": edges.tolist(), "reference": ref.tolist(), "current": cur.tolist()}


def category_detail(pair: ColumnPair, top: int = TOP_VALUES) -> dict[str, Any]:
    """The most frequent values (of both sides) with each side's count, the rest summed; values new in the
    current data."""
    keys, ref, cur = pair.counts
    weight = ref / max(pair.reference_rows, 1) + cur / max(pair.current_rows, 1)
    order = sorted(range(len(keys)), key=lambda i: (-weight[i], str(keys[i])))
    shown = order[:top]
    detail: dict[str, Any] = {
        "categories": {
            "values": [json_value(keys[i]) for i in shown],
            "reference": [int(ref[i]) for i in shown],
            "current": [int(cur[i]) for i in shown],
            "other_reference": int(ref.sum() - sum(ref[i] for i in shown)),
            "other_current": int(cur.sum() - sum(cur[i] for i in shown)),
        }
    }
    new = pair.new_values()
    detail["new_values"] = len(new)
    if new:
        detail["new_examples"] = [json_value(v) for v in sorted(new, key=str)[:10]]
    return detail


def json_value(value: Any) -> Any:
    """``value`` in JSON types, nested ones too: numpy scalars as Python numbers, NaN and infinities as
    null, keys as text, anything else as its text."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        try:
            value = value.item()
        except (ValueError, TypeError):
            value = str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


__all__ = ["ColumnDrift", "ColumnSkipped", "DriftReport", "column_drift", "drift", "json_value"]
