"""Profiles: per-column statistics from mergeable sketches, built in the pass that reads the data.

The profile of two datasets' union is the merge of their profiles (``a.merge(b)``), so reference statistics
are computed once and windows of live data merge without re-reading anything:

- count, nulls, min, max, mean and standard deviation are exact (means and variances merge with Chan's
  formula);
- distinct values: a HyperLogLog of 4,096 registers (about 1.6 % error; exact below 50 values);
- value counts: the exact count of every distinct value while a numeric or categorical column has at most
  ``CATEGORY_LIMIT`` of them (a low-cardinality numeric column is categorical to a drift test);
- quantiles and histograms of numeric columns: DataSketches' KLL sketch (k=200, about 1.3 % rank error;
  ``kll_k=`` asks for another size) over a systematic sample of at most ``SAMPLE_BUDGET`` values per
  column: feeding every value of 10 million rows x 20 columns costs 6 s, the sample a tenth of it, for a
  sampling error well under the sketch's own;
- top values of text and boolean columns: DataSketches' frequent-items sketch, fed each batch's value
  counts (exact while a column has fewer than 768 distinct values).

A profile is stored as a JSON blob in the blob store; the version refers to it by digest. Format 2 added the
value counts (and stores the HyperLogLog registers compressed); format-1 blobs still read, with the counts of
a categorical column recovered from its frequent-items sketch while that is exact.

Merging tolerates a column on one side only (the other side's rows are nulls of it) and a type that widens
(integers and floats merge as floats; text types as text); any other change of type is refused, naming the
column.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import math
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml._version import package_versions
from loopml.data._sketches import HyperLogLog, hash_numbers, hash_strings, thin_kll
from loopml.errors import InvalidArgumentError

CATEGORY_LIMIT = 50  # a text column with at most this many distinct values is treated as categorical
SAMPLE_BUDGET = 1 << 20  # values per column fed to the quantile sketch before the sample rate halves
KLL_K = 200  # a dataset version's quantile sketches; monitoring asks for more (``kll_k=``)
FREQUENT_LG_K = 10  # frequent-items map of 1,024 slots: exact up to 768 distinct values
BATCH_TOP = 1024  # per batch, at most this many of the most frequent values feed the frequent-items sketch
_PARALLEL_ROWS = 16_384  # smaller batches are profiled in the calling thread: handing over costs more
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
FORMAT = 2  # 2: value counts, compressed HyperLogLog registers
READS = (1, 2)  # the formats this loopml reads
_PROBE = 1024  # a numeric batch's first values: more than CATEGORY_LIMIT distinct among them ends counting


def column_kind(kind: pa.DataType) -> str:
    """``numeric``, ``temporal``, ``categorical`` (text, booleans) or ``other`` (nested, binary…)."""
    if pa.types.is_boolean(kind):
        return "categorical"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "numeric"
    if pa.types.is_temporal(kind):
        return "temporal"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        return "categorical"
    return "other"


@dataclass
class ColumnProfile:
    """What one column of a dataset looks like; ``merge`` gives the profile of the union of two."""

    name: str
    type: str
    kind: str
    count: int = 0  # non-null values
    nulls: int = 0
    finite: int = 0  # numeric values that are neither NaN nor infinite: what mean, std and quantiles cover
    min: Any = None
    max: Any = None
    mean: float | None = None
    m2: float = 0.0  # sum of squared deviations from the mean
    categories: list[Any] | None = None  # every distinct value, while there are at most CATEGORY_LIMIT
    # the count of every distinct value while there are at most CATEGORY_LIMIT (numeric columns: of the
    # finite values, so the counts add up to ``finite``; categorical: to ``count``); None above, or unknown
    counts: dict[Any, int] | None = None
    hll: HyperLogLog | None = None
    kll: Any = None  # datasketches.kll_doubles_sketch over every ``sample_step``-th value
    sample_step: int = 1
    frequent: Any = None  # datasketches.frequent_strings_sketch

    @property
    def rows(self) -> int:
        return self.count + self.nulls

    @property
    def null_fraction(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def std(self) -> float | None:
        return math.sqrt(self.m2 / (self.finite - 1)) if self.mean is not None and self.finite > 1 else None

    @property
    def distinct(self) -> int | None:
        """Distinct non-null values: exact when there are few, estimated otherwise."""
        if self.categories is not None:
            return len(self.categories)
        if self.counts is not None and self.finite == self.count:
            return len(self.counts)
        return None if self.hll is None else round(self.hll.estimate())

    def quantiles(self, qs: Sequence[float] = QUANTILES) -> dict[float, float]:
        if self.kll is None or self.kll.is_empty():
            return {}
        values = self.kll.get_quantiles(list(qs))
        return {q: float(min(max(v, self.min), self.max)) for q, v in zip(qs, values, strict=True)}

    def cdf(self, points: Sequence[float]) -> list[float]:
        """Fraction of non-null values at or below each point (from the quantile sketch)."""
        if self.kll is None or self.kll.is_empty():
            return []
        return [float(v) for v in self.kll.get_cdf(list(points), True)[:-1]]

    def histogram(self, bins: int = 10) -> tuple[list[float], list[int]]:
        """Equal-width bins from min to max: their edges and estimated counts."""
        if self.kll is None or self.kll.is_empty() or self.min is None:
            return [], []
        low, high = float(self.min), float(self.max)
        if low == high:
            return [low, high], [self.finite]
        edges = np.linspace(low, high, bins + 1).tolist()
        masses = self.kll.get_pmf(edges[1:-1], True)  # (-inf, e1], (e1, e2], …
        return edges, [round(m * self.finite) for m in masses]

    def top(self, n: int = 10) -> list[tuple[str, int]]:
        """The most frequent values with their counts (exact while the column has few distinct values)."""
        if self.frequent is None or self.frequent.is_empty():
            return []
        from datasketches import frequent_items_error_type

        # only values certainly more frequent than the sketch's error: none for a column of unique values
        items = self.frequent.get_frequent_items(frequent_items_error_type.NO_FALSE_POSITIVES)
        return [(item, int(estimate)) for item, estimate, *_ in items[:n]]

    # -- merging
    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """The profile of both columns' values together; types widen as ``widen_type`` says."""
        if self.name != other.name:
            raise InvalidArgumentError(
                f"Cannot merge column {self.name!r} with column {other.name!r}: columns merge by name."
            )
        # a side without values (nulls only, or no rows) adds its nulls and nothing else, whatever its type
        if other.count == 0 and (self.count or self.type != "null"):
            return self.with_nulls(other.nulls)
        if self.count == 0:
            return other.with_nulls(self.nulls)
        widened = widen_type(self.name, self.type, other.type)
        merged = ColumnProfile(self.name, widened, self.kind, self.count + other.count)
        merged.nulls = self.nulls + other.nulls
        merged.finite = self.finite + other.finite
        merged.min = _smaller(self.min, other.min)
        merged.max = _larger(self.max, other.max)
        merged.mean, merged.m2 = _combine_moments(
            (self.finite, self.mean, self.m2), (other.finite, other.mean, other.m2)
        )
        if self.categories is not None and other.categories is not None:
            union = set(self.categories) | set(other.categories)
            merged.categories = sorted(union, key=str) if len(union) <= CATEGORY_LIMIT else None
        merged.counts = _merge_counts(self.counts, other.counts)
        if self.hll is not None and other.hll is not None:
            merged.hll = self.hll.merge(other.hll)
        merged.kll, merged.sample_step = _merge_kll(self, other)
        if self.frequent is not None and other.frequent is not None:
            merged.frequent = _copy_sketch(self.frequent)
            merged.frequent.merge(other.frequent)
        return merged

    def with_nulls(self, nulls: int) -> ColumnProfile:
        """This column with ``nulls`` more rows of nulls (a merge with data that lacked the column). The
        sketches are shared, not copied: a profile's sketches are never changed once it is built."""
        return dataclasses.replace(self, nulls=self.nulls + nulls)

    # -- storage
    def _basics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "min": _jsonable(self.min),
            "max": _jsonable(self.max),
        }

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            **self._basics(),
            "finite": self.finite,
            "mean": self.mean,
            "m2": self.m2,
            "categories": None if self.categories is None else [_jsonable(c) for c in self.categories],
            # pairs, not an object: JSON keys are text, and 1, 1.0, True and "1" are different values
            "counts": None
            if self.counts is None
            else [[_jsonable(v), c] for v, c in sorted(self.counts.items(), key=_count_key)],
            "sample_step": self.sample_step,
        }
        if self.hll is not None:  # mostly zeros while few values were seen: compressed, it is a few bytes
            data["hll"] = base64.b64encode(zlib.compress(self.hll.to_bytes(), 1)).decode("ascii")
        for key, sketch in (("kll", self.kll), ("frequent", self.frequent)):
            if sketch is not None:
                data[key] = base64.b64encode(sketch.serialize()).decode("ascii")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], format: int = FORMAT) -> ColumnProfile:
        from datasketches import frequent_strings_sketch, kll_doubles_sketch

        column = cls(data["name"], data["type"], data["kind"], data["count"], data["nulls"])
        column.min, column.max = data.get("min"), data.get("max")
        column.mean, column.m2, column.finite = data.get("mean"), data.get("m2", 0.0), data.get("finite", 0)
        column.categories = data.get("categories")
        column.sample_step = data.get("sample_step", 1)
        if "hll" in data:
            raw = base64.b64decode(data["hll"])
            column.hll = HyperLogLog.from_bytes(raw if format < 2 else zlib.decompress(raw))
        if "kll" in data:
            column.kll = kll_doubles_sketch.deserialize(base64.b64decode(data["kll"]))
        if "frequent" in data:
            column.frequent = frequent_strings_sketch.deserialize(base64.b64decode(data["frequent"]))
        if format >= 2:
            pairs = data.get("counts")
            column.counts = None if pairs is None else {v: int(c) for v, c in pairs}
        else:
            column.counts = column._counts_from_frequent()
        return column

    def _counts_from_frequent(self) -> dict[Any, int] | None:
        """A format-1 categorical column's counts, from its frequent-items sketch while that is exact (it
        holds every one of the few values with an exact count); None otherwise."""
        if self.categories is None or self.frequent is None:
            return None
        counts: dict[Any, int] = {}
        for value in self.categories:
            key = ("true" if value else "false") if isinstance(value, bool) else str(value)
            low, high = self.frequent.get_lower_bound(key), self.frequent.get_upper_bound(key)
            if low != high:
                return None
            counts[value] = int(low)
        return counts if sum(counts.values()) == self.count else None

    def summary(self, bins: int = 10, top: int = 10) -> dict[str, Any]:
        """What a person reads: the statistics, quantiles, and a histogram or the top values."""
        data: dict[str, Any] = {
            **self._basics(),
            "null_fraction": self.null_fraction,
            "distinct": self.distinct,
        }
        if self.kind == "numeric":
            data["mean"], data["std"] = self.mean, self.std
            data["quantiles"] = {f"p{round(q * 100)}": v for q, v in self.quantiles().items()}
            edges, counts = self.histogram(bins)
            data["histogram"] = {"edges": edges, "counts": counts}
        if self.frequent is not None:
            data["top"] = [{"value": v, "count": c} for v, c in self.top(top)]
        return data


@dataclass
class Profile:
    """A dataset version's profile: one ``ColumnProfile`` per column, in schema order."""

    num_rows: int
    columns: list[ColumnProfile]
    environment: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def merge(self, other: Profile) -> Profile:
        """The profile of the union of both datasets. A column of one side only is kept, the other side's
        rows counting as its nulls; a column's type may widen (``widen_type``), not change otherwise."""
        theirs = {c.name: c for c in other.columns}
        columns = []
        for column in self.columns:
            match = theirs.pop(column.name, None)
            columns.append(column.with_nulls(other.num_rows) if match is None else column.merge(match))
        columns.extend(c.with_nulls(self.num_rows) for c in theirs.values())
        return Profile(self.num_rows + other.num_rows, columns, dict(self.environment))

    @classmethod
    def merge_all(cls, profiles: Iterable[Profile]) -> Profile | None:
        """The merge of ``profiles`` (None when there are none), e.g. a window's from its segments'."""
        merged: Profile | None = None
        for profile in profiles:
            merged = profile if merged is None else merged.merge(profile)
        return merged

    def summary(self, bins: int = 10, top: int = 10) -> dict[str, Any]:
        return {"num_rows": self.num_rows, "columns": [c.summary(bins, top) for c in self.columns]}

    def to_dict(self) -> dict[str, Any]:
        """JSON types, with the format: what ``to_bytes`` writes, for embedding in a larger document."""
        return {
            "format": FORMAT,
            "num_rows": self.num_rows,
            "environment": self.environment,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Profile:
        form = body.get("format")
        if form not in READS:
            raise InvalidArgumentError(
                f"This profile has format {form!r}; this loopml reads formats "
                f"{', '.join(map(str, READS))}. Upgrade loopml."
            )
        columns = [ColumnProfile.from_dict(c, form) for c in body["columns"]]
        return cls(body["num_rows"], columns, body["environment"])

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        return cls.from_dict(json.loads(data))


class ProfileBuilder:
    """Feed record batches; ``result()`` is the profile and ``schema()`` the version's schema summary.

    ``total_rows``, when known in advance, fixes the sampling step of the quantile sketches; otherwise the
    step doubles (and the sketch is thinned) each time the sample outgrows its budget.
    """

    def __init__(
        self, schema: pa.Schema, total_rows: int | None = None, threads: int = 2, kll_k: int = KLL_K
    ) -> None:
        from datasketches import frequent_strings_sketch, kll_doubles_sketch

        self.arrow_schema = schema
        self.num_rows = 0
        step = 1
        while total_rows is not None and total_rows > step * SAMPLE_BUDGET:
            step *= 2
        self.columns: list[ColumnProfile] = []
        self._counts: list[dict[Any, int] | None] = []  # exact value counts while there are few values
        self._positions: list[int] = []  # non-null values seen, for systematic sampling across batches
        for f in schema:
            kind = column_kind(f.type)
            column = ColumnProfile(f.name, str(f.type), kind, sample_step=step)
            if kind != "other":
                column.hll = HyperLogLog()
            if kind == "numeric":
                column.kll = kll_doubles_sketch(kll_k)
            if kind == "categorical":
                column.frequent = frequent_strings_sketch(FREQUENT_LG_K)
            self.columns.append(column)
            self._counts.append({} if kind in ("numeric", "categorical") else None)
            self._positions.append(0)
        self._pool: ThreadPoolExecutor | None = None
        if threads > 1:
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="loopml-profile")

    def update(self, batch: pa.RecordBatch) -> None:
        self.num_rows += batch.num_rows
        if self._pool is None or batch.num_rows < _PARALLEL_ROWS or batch.num_columns < 2:
            for i, array in enumerate(batch.columns):
                self._column(i, array)
            return
        # columns are independent and numpy and Arrow release the GIL: two threads share them
        list(self._pool.map(self._column, range(batch.num_columns), batch.columns))

    def _column(self, i: int, array: pa.Array) -> None:
        column = self.columns[i]
        nulls = array.null_count
        column.nulls += nulls
        column.count += len(array) - nulls
        if len(array) == nulls:
            return
        if column.kind == "numeric":
            self._numeric(i, column, array)
        elif column.kind == "temporal":
            self._temporal(column, array)
        elif column.kind == "categorical":
            self._categorical(i, column, array)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _numeric(self, i: int, column: ColumnProfile, array: pa.Array) -> None:
        if pa.types.is_decimal(array.type):
            array = array.cast(pa.float64())
        values = _numbers(pc.drop_null(array) if array.null_count else array)
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            if not finite.all():
                values = values[finite]
        n = len(values)
        if n == 0:
            return
        column.min = _smaller(column.min, values.min().item())
        column.max = _larger(column.max, values.max().item())
        column.hll.update(hash_numbers(values))  # type: ignore[union-attr]
        as_float = values.astype(np.float64, copy=False)
        # moments around a value of the batch, which keeps the sum of squares well conditioned
        shifted = as_float - as_float[0]
        total = float(shifted.sum())
        squares = float(np.square(shifted, out=shifted).sum())  # not ``@``: BLAS threads cost ms per call
        batch = (n, float(as_float[0]) + total / n, max(squares - total * total / n, 0.0))
        column.mean, column.m2 = _combine_moments((column.finite, column.mean, column.m2), batch)
        column.finite += n
        self._sample(i, column, as_float)
        if self._counts[i] is not None:
            self._count_numbers(i, values)

    def _count_numbers(self, i: int, values: np.ndarray) -> None:
        # a look at the first values ends it for most columns: one of many values shows many at once
        if len(values) > _PROBE and len(np.unique(values[:_PROBE])) > CATEGORY_LIMIT:
            self._counts[i] = None
            return
        distinct, weights = np.unique(values, return_counts=True)
        many = len(distinct) > CATEGORY_LIMIT
        self._add_counts(i, [] if many else distinct.tolist(), [] if many else weights.tolist(), many)

    def _add_counts(self, i: int, values: list[Any], weights: list[int], too_many: bool = False) -> None:
        counts = self._counts[i]
        if counts is None:
            return
        if too_many:
            self._counts[i] = None
            return
        for value, weight in zip(values, weights, strict=True):
            counts[value] = counts.get(value, 0) + weight
        if len(counts) > CATEGORY_LIMIT:
            self._counts[i] = None

    def _sample(self, i: int, column: ColumnProfile, values: np.ndarray) -> None:
        step = column.sample_step
        start = (-self._positions[i]) % step
        self._positions[i] += len(values)
        sample = values[start::step]
        if not (sample.flags.writeable and sample.flags.c_contiguous):  # the sketch takes writable arrays
            sample = sample.copy()
        column.kll.update(sample)
        if column.kll.n > 2 * SAMPLE_BUDGET:
            column.kll = thin_kll(column.kll, 2)
            column.sample_step *= 2

    def _temporal(self, column: ColumnProfile, array: pa.Array) -> None:
        low, high = pc.min_max(array).values()
        column.min = _smaller(column.min, low.as_py())
        column.max = _larger(column.max, high.as_py())
        width = array.type.bit_width
        if column.hll is not None and width in (32, 64):
            ints = pc.drop_null(array).view(pa.int64() if width == 64 else pa.int32())
            column.hll.update(hash_numbers(ints.to_numpy()))

    def _categorical(self, i: int, column: ColumnProfile, array: pa.Array) -> None:
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        counts = pc.value_counts(array)
        values, weights = counts.field("values"), _numbers(counts.field("counts"))
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        if not valid.all():
            values, weights = values.filter(pa.array(valid)), weights[valid]
        if self._counts[i] is not None:  # a batch of many values ends the counting before any conversion
            many = len(values) > CATEGORY_LIMIT
            self._add_counts(i, [] if many else values.to_pylist(), [] if many else weights.tolist(), many)
        if pa.types.is_boolean(values.type):
            keys = ["true" if v else "false" for v in values.to_pylist()]
            column.hll.update(hash_numbers(np.asarray(values.to_pylist(), np.int64)))  # type: ignore[union-attr]
        else:
            column.hll.update(hash_strings(values))  # type: ignore[union-attr]
            if len(weights) > BATCH_TOP:
                keep = _most_frequent(weights, BATCH_TOP)
                values, weights = values.take(pa.array(keep)), weights[keep]
            keys = values.to_pylist()
        update = column.frequent.update
        for key, weight in zip(keys, weights.tolist(), strict=True):
            update(key, weight)

    def result(self) -> Profile:
        self.close()
        for column, counts in zip(self.columns, self._counts, strict=True):
            if counts is None:
                continue
            column.counts = counts
            if column.kind == "categorical" and self.num_rows > 0:
                column.categories = sorted(counts, key=str)
        return Profile(self.num_rows, self.columns, _environment())

    def schema(self) -> dict[str, Any]:
        """The schema summary a version keeps: type, nullability, nulls, range, and bounded categories."""
        columns = []
        for column in self.columns:
            entry: dict[str, Any] = {
                "name": column.name,
                "type": column.type,
                "nullable": column.nulls > 0,
                "null_count": column.nulls,
            }
            if column.min is not None:
                entry["min"], entry["max"] = _jsonable(column.min), _jsonable(column.max)
            if column.categories is not None:
                entry["categories"] = [_jsonable(c) for c in column.categories]
            columns.append(entry)
        return {"num_rows": self.num_rows, "columns": columns}


def _numbers(array: pa.Array) -> np.ndarray:
    """The values of a primitive array without nulls, as numpy, without a copy (``to_numpy`` goes through
    pyarrow's pandas machinery, and imports pandas)."""
    kind = array.type
    if (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and not pa.types.is_float16(kind):
        dtype = np.dtype(kind.to_pandas_dtype())
        return np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * dtype.itemsize)
    return np.asarray(array.to_numpy(zero_copy_only=False))


def _most_frequent(weights: np.ndarray, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` of the largest weights (all above a threshold): counts are small
    integers, so a histogram of them finds the threshold in one pass, ties and all."""
    histogram = np.bincount(np.minimum(weights, 1 << 20))
    above = np.cumsum(histogram[::-1])[::-1]  # how many weights are >= each value
    threshold = int(np.argmax(above <= limit)) if (above <= limit).any() else len(histogram) - 1
    return np.flatnonzero(weights >= max(threshold, 1))[:limit]


def build_profile(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    total_rows: int | None = None,
    threads: int = 2,
    kll_k: int = KLL_K,
) -> Profile:
    builder = ProfileBuilder(schema, total_rows, threads, kll_k)
    for batch in batches:
        builder.update(batch)
    return builder.result()


def profile_frame(df: Any, *, kll_k: int = KLL_K) -> Profile:
    """The profile of a DataFrame (or an Arrow table), without adding it as a dataset version: what
    ``lm.data.profile`` gives for a version, for data at hand (a window of live rows, a reference sample).
    ``kll_k``: the size of the quantile sketches (rank error about 1.65 / k; merged sketches keep the
    smaller k).

        reference = lm.data.profile_frame(train_df)
        current = lm.data.profile_frame(last_hour_df)
        reference.merge(current)   # the profile of both
    """
    from loopml.data._sources import BATCH_ROWS, frame_to_table

    if isinstance(df, pa.Table):
        table = df
    elif type(df).__name__ == "DataFrame" and type(df).__module__.startswith("pandas"):
        table = frame_to_table(df, preserve_index=False)  # the index is not data
    else:
        raise InvalidArgumentError(
            f"profile_frame takes a pandas DataFrame or a PyArrow table, not {type(df).__name__}."
        )
    return build_profile(table.schema, table.to_batches(BATCH_ROWS), table.num_rows, kll_k=kll_k)


@functools.cache
def _environment() -> dict[str, str]:
    """The versions a profile records (read once: package metadata costs a millisecond or so a call)."""
    return package_versions("datasketches", "pyarrow", "numpy")


def widen_type(column: str, a: str, b: str) -> str:
    """The type that holds values of types ``a`` and ``b`` (Arrow type names): integers and floats widen
    to a float (integers of two widths to the wider), text types to ``string``; InvalidArgumentError naming
    the column for any other pair."""
    if a == b:
        return a
    ints, floats = _INTEGERS.get(a), _FLOATS.get(a)
    other_int, other_float = _INTEGERS.get(b), _FLOATS.get(b)
    if ints is not None and other_int is not None:
        return a if ints >= other_int else b
    if (ints is not None or floats is not None) and (other_int is not None or other_float is not None):
        return "double" if max(floats or 0, other_float or 0) > 32 or (ints or other_int) else "float"
    if _is_text(a) and _is_text(b):
        return "string"
    raise InvalidArgumentError(
        f"Column {column!r} changed type from {a} to {b}, and the two do not widen to one type "
        "(integers and floats do, text types do): profile it under another name, or cast it to one type "
        "before profiling."
    )


_INTEGERS = {f"{s}int{w}": w for s in ("", "u") for w in (8, 16, 32, 64)}
_FLOATS = {"halffloat": 16, "float": 32, "double": 64}


def _is_text(kind: str) -> bool:
    return kind in ("string", "large_string") or (kind.startswith("dictionary<values=") and "string" in kind)


def _merge_counts(a: dict[Any, int] | None, b: dict[Any, int] | None) -> dict[Any, int] | None:
    if a is None or b is None:
        return None
    merged = dict(a)
    for value, count in b.items():
        merged[value] = merged.get(value, 0) + count
    return merged if len(merged) <= CATEGORY_LIMIT else None


def _count_key(item: tuple[Any, int]) -> tuple[int, float, str]:
    """Numbers in order, then everything else by its text (a column's counts are of one kind)."""
    value = item[0]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _combine_moments(
    a: tuple[int, float | None, float], b: tuple[int, float | None, float]
) -> tuple[float | None, float]:
    (na, mean_a, m2a), (nb, mean_b, m2b) = a, b
    if mean_a is None or na <= 0:
        return mean_b, m2b
    if mean_b is None or nb <= 0:
        return mean_a, m2a
    n = na + nb
    delta = mean_b - mean_a
    return mean_a + delta * nb / n, m2a + m2b + delta * delta * na * nb / n


def _merge_kll(a: ColumnProfile, b: ColumnProfile) -> tuple[Any, int]:
    if a.kll is None or b.kll is None:
        return None, max(a.sample_step, b.sample_step)
    step = max(a.sample_step, b.sample_step)
    left = a.kll if a.sample_step == step else thin_kll(a.kll, step // a.sample_step)
    right = b.kll if b.sample_step == step else thin_kll(b.kll, step // b.sample_step)
    merged = _copy_sketch(left)
    merged.merge(right)
    if merged.n > 2 * SAMPLE_BUDGET:
        merged, step = thin_kll(merged, 2), step * 2
    return merged, step


def _copy_sketch(sketch: Any) -> Any:
    return type(sketch).deserialize(sketch.serialize())


def _smaller(a: Any, b: Any) -> Any:
    return b if a is None or (b is not None and b < a) else a


def _larger(a: Any, b: Any) -> Any:
    return b if a is None or (b is not None and b > a) else a


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, int | float | str | bool):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)  # dates and times as ISO text
