"""Data checks: declared rules that run over record batches while data is read, before anything is stored.

    checks = [lm.data.checks.not_null("machine_id"), lm.data.checks.in_range("temp", -40, 120),
              lm.data.checks.custom("rpm_positive", lambda df: df["rpm"] > 0)]
    lm.data.add("sensors", df, checks=checks, on_fail="quarantine")

Each check yields a ``CheckResult``: passed or not, how many rows failed, and a few failing rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from loopml.errors import InvalidArgumentError

SAMPLE_ROWS = 5


@dataclass
class CheckResult:
    name: str
    column: str | None
    passed: bool
    failed_rows: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)  # a few failing rows, with their "_row" number
    message: str = ""


@dataclass
class CheckReport:
    num_rows: int
    results: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        if self.passed:
            return f"all {len(self.results)} checks passed on {self.num_rows:,} rows"
        parts = [f"{r.name}: {r.message}" for r in self.failures]
        return f"{len(parts)} of {len(self.results)} checks failed on {self.num_rows:,} rows: " + "; ".join(
            parts
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "num_rows": self.num_rows,
            "passed": self.passed,
            "results": [asdict(r) for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckReport:
        return cls(int(data["num_rows"]), [CheckResult(**r) for r in data["results"]])


class Check:
    """A rule over a dataset. Subclasses see the schema once, then every batch, then say how it went."""

    def __init__(self, name: str, column: str | None = None) -> None:
        self.name = name
        self.column = column
        self.missing = False

    def start(self, schema: pa.Schema) -> None:
        self.missing = self.column is not None and self.column not in schema.names
        self.failed = 0
        self.sample: list[dict[str, Any]] = []

    def update(self, batch: pa.RecordBatch, offset: int) -> None:
        """See the batch whose first row is row number ``offset`` of the data."""

    def finish(self, num_rows: int) -> CheckResult:
        if self.missing:
            return self._result(False, f"column {self.column!r} is missing")
        return self._result(self.failed == 0, "" if self.failed == 0 else f"{self.failed:,} rows fail")

    def _result(self, passed: bool, message: str) -> CheckResult:
        return CheckResult(
            self.name, self.column, passed, getattr(self, "failed", 0), getattr(self, "sample", []), message
        )

    def _count(self, batch: pa.RecordBatch, offset: int, failing: pa.Array) -> None:
        failing = pc.fill_null(failing, False)
        n = pc.sum(failing).as_py() or 0
        if n == 0:
            return
        self.failed += n
        if len(self.sample) < SAMPLE_ROWS:
            rows = pc.indices_nonzero(failing).to_pylist()[: SAMPLE_ROWS - len(self.sample)]
            for i, row in zip(rows, batch.take(pa.array(rows)).to_pylist(), strict=True):
                self.sample.append({"_row": offset + i, **{k: _plain(v) for k, v in row.items()}})


class _RowCheck(Check):
    """A check that fails individual rows: ``failing(column)`` marks the rows that break the rule."""

    def failing(self, values: pa.Array) -> pa.Array:
        raise NotImplementedError

    def update(self, batch: pa.RecordBatch, offset: int) -> None:
        if not self.missing:
            self._count(batch, offset, self.failing(batch.column(self.column)))


class _NotNull(_RowCheck):
    def failing(self, values: pa.Array) -> pa.Array:
        return pc.is_null(values)


class _InRange(_RowCheck):
    def __init__(self, column: str, low: float | None, high: float | None) -> None:
        super().__init__(f"in_range({column}, {low}, {high})", column)
        self.low, self.high = low, high

    def failing(self, values: pa.Array) -> pa.Array:
        below = pc.less(values, self.low) if self.low is not None else pa.repeat(False, len(values))
        above = pc.greater(values, self.high) if self.high is not None else pa.repeat(False, len(values))
        return pc.or_(below, above)


class _InSet(_RowCheck):
    def __init__(self, column: str, values: Iterable[Any]) -> None:
        self.allowed = list(values)
        super().__init__(f"in_set({column})", column)

    def failing(self, values: pa.Array) -> pa.Array:
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        return pc.and_(pc.invert(pc.is_in(values, value_set=pa.array(self.allowed))), pc.is_valid(values))


class _Matches(_RowCheck):
    def __init__(self, column: str, pattern: str) -> None:
        try:
            re.compile(pattern)  # a bad pattern fails here, where the user wrote it
        except re.error as exc:
            raise InvalidArgumentError(
                f"matches_regex({column!r}, {pattern!r}): bad pattern: {exc}"
            ) from None
        self.pattern = pattern
        super().__init__(f"matches_regex({column}, {pattern!r})", column)

    def failing(self, values: pa.Array) -> pa.Array:
        return pc.and_(
            pc.invert(pc.match_substring_regex(values.cast(pa.large_string()), self.pattern)),
            pc.is_valid(values),
        )


class _Unique(_RowCheck):
    """Keeps every value seen (memory grows with the number of distinct values)."""

    def start(self, schema: pa.Schema) -> None:
        super().start(schema)
        self.seen: set[Any] = set()

    def failing(self, values: pa.Array) -> pa.Array:
        marks = []
        for value in values.to_pylist():
            marks.append(value is not None and value in self.seen)
            self.seen.add(value)
        return pa.array(marks, type=pa.bool_())


class _MaxNullFraction(Check):
    def __init__(self, column: str, fraction: float) -> None:
        super().__init__(f"max_null_fraction({column}, {fraction})", column)
        self.fraction = fraction

    def update(self, batch: pa.RecordBatch, offset: int) -> None:
        if not self.missing:
            self.failed += batch.column(self.column).null_count

    def finish(self, num_rows: int) -> CheckResult:
        if self.missing:
            return super().finish(num_rows)
        share = self.failed / num_rows if num_rows else 0.0
        ok = share <= self.fraction
        return self._result(ok, "" if ok else f"{share:.1%} nulls, more than {self.fraction:.1%}")


class _RowCount(Check):
    def __init__(self, low: int | None, high: int | None) -> None:
        super().__init__(f"row_count({low}, {high})")
        self.low, self.high = low, high

    def finish(self, num_rows: int) -> CheckResult:
        ok = (self.low is None or num_rows >= self.low) and (self.high is None or num_rows <= self.high)
        return self._result(
            ok, "" if ok else f"{num_rows:,} rows, expected between {self.low} and {self.high}"
        )


_TYPE_FAMILIES: dict[str, Callable[[pa.DataType], bool]] = {
    "integer": pa.types.is_integer,
    "float": pa.types.is_floating,
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "boolean": pa.types.is_boolean,
    "timestamp": pa.types.is_timestamp,
    "date": pa.types.is_date,
    "numeric": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t),
}


class _HasColumn(Check):
    def __init__(self, column: str, type: str | None) -> None:
        super().__init__(f"has_column({column}" + (f", {type})" if type else ")"), column)
        self.type = type
        self.actual: pa.DataType | None = None

    def start(self, schema: pa.Schema) -> None:
        super().start(schema)
        self.actual = None if self.missing else schema.field(self.column).type

    def finish(self, num_rows: int) -> CheckResult:
        if self.missing or self.type is None or self.actual is None:
            return super().finish(num_rows)
        family = _TYPE_FAMILIES.get(self.type)
        ok = family(self.actual) if family else str(self.actual) == self.type
        return self._result(
            bool(ok), "" if ok else f"column {self.column!r} is {self.actual}, not {self.type}"
        )


class _Custom(Check):
    def __init__(self, name: str, fn: Callable[[Any], Any]) -> None:
        super().__init__(name)
        self.fn = fn
        self.frame_level_failure = False

    def update(self, batch: pa.RecordBatch, offset: int) -> None:
        outcome = self.fn(batch.to_pandas())
        if isinstance(outcome, bool) or type(outcome).__name__ == "bool_":
            self.frame_level_failure |= not bool(outcome)
            return
        passing = pa.array(outcome, type=pa.bool_())
        if len(passing) != batch.num_rows:
            raise InvalidArgumentError(
                f"Check {self.name!r} returned {len(passing)} values for {batch.num_rows} rows; return one "
                "boolean per row (True = passes) or a single boolean."
            )
        self._count(batch, offset, pc.invert(passing))

    def finish(self, num_rows: int) -> CheckResult:
        if self.frame_level_failure and self.failed == 0:
            return self._result(False, "returned False")
        return super().finish(num_rows)


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


def _name(column: Any) -> str:
    if not isinstance(column, str) or not column:
        raise InvalidArgumentError(f"A check needs a column name, got {column!r}.")
    return column


def not_null(column: str) -> Check:
    """Every row has a value in ``column``."""
    return _NotNull(f"not_null({column})", _name(column))


def unique(column: str) -> Check:
    """No value of ``column`` appears twice (nulls are not compared)."""
    return _Unique(f"unique({column})", _name(column))


def in_range(column: str, low: float | None = None, high: float | None = None) -> Check:
    """Values lie between ``low`` and ``high``, both included (nulls pass; add not_null to refuse them)."""
    return _InRange(_name(column), low, high)


def in_set(column: str, values: Iterable[Any]) -> Check:
    """Values are among ``values`` (nulls pass)."""
    return _InSet(_name(column), values)


def matches_regex(column: str, pattern: str) -> Check:
    """Text values match ``pattern`` somewhere (anchor it with ^ and $ for the whole value)."""
    return _Matches(_name(column), pattern)


def max_null_fraction(column: str, fraction: float) -> Check:
    """At most this share (0 to 1) of the rows of ``column`` are null."""
    return _MaxNullFraction(_name(column), fraction)


def row_count(min: int | None = None, max: int | None = None) -> Check:
    """The data has between ``min`` and ``max`` rows."""
    return _RowCount(min, max)


def has_column(column: str, type: str | None = None) -> Check:
    """The column exists, and has the type (``int64``…) or family (integer, float, numeric, string,
    boolean, timestamp, date) when given."""
    return _HasColumn(_name(column), type)


def custom(name: str, fn: Any) -> Check:
    """A named rule in Python: ``fn`` gets each batch as a DataFrame and returns one boolean per row
    (True = passes) or one boolean for the batch."""
    if not callable(fn):
        raise InvalidArgumentError(f"Check {name!r} needs a callable, got {fn!r}.")
    return _Custom(name, fn)


def run_checks(checks: Sequence[Check], schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> CheckReport:
    runner = CheckRunner(checks, schema)
    for batch in batches:
        runner.update(batch)
    return runner.finish()


class CheckRunner:
    """Feeds batches to every check, counting rows so failing rows get their number in the whole data."""

    def __init__(self, checks: Sequence[Check], schema: pa.Schema) -> None:
        self.checks = list(checks)
        self.offset = 0
        for check in self.checks:
            check.start(schema)

    def update(self, batch: pa.RecordBatch) -> None:
        for check in self.checks:
            check.update(batch, self.offset)
        self.offset += batch.num_rows

    def finish(self) -> CheckReport:
        return CheckReport(self.offset, [c.finish(self.offset) for c in self.checks])


__all__ = [
    "Check",
    "CheckReport",
    "CheckResult",
    "CheckRunner",
    "custom",
    "has_column",
    "in_range",
    "in_set",
    "matches_regex",
    "max_null_fraction",
    "not_null",
    "row_count",
    "run_checks",
    "unique",
]
