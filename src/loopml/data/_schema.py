"""Schema inference in one streaming pass over record batches: types, nulls, ranges, bounded categories."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

CATEGORY_LIMIT = 50  # a text column with at most this many distinct values is treated as categorical


class SchemaBuilder:
    """Feed record batches; ``result()`` is the schema as a JSON-able dict."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.num_rows = 0
        self.nulls = [0] * len(schema)
        self.mins: list[Any] = [None] * len(schema)
        self.maxs: list[Any] = [None] * len(schema)
        # distinct values while they stay few; None once a column has more than CATEGORY_LIMIT
        self.categories: list[set[Any] | None] = [
            set() if _may_be_categorical(f.type) else None for f in schema
        ]

    def update(self, batch: pa.RecordBatch) -> None:
        self.num_rows += batch.num_rows
        for i, column in enumerate(batch.columns):
            self.nulls[i] += column.null_count
            kind = column.type
            if _is_numeric(kind) and column.null_count < len(column):
                low, high = pc.min_max(column).values()
                self.mins[i] = _smaller(self.mins[i], low.as_py())
                self.maxs[i] = _larger(self.maxs[i], high.as_py())
            seen = self.categories[i]
            if seen is not None:
                if pa.types.is_dictionary(kind):
                    column = column.dictionary_decode()
                seen.update(v for v in pc.unique(column).to_pylist() if v is not None)
                if len(seen) > CATEGORY_LIMIT:
                    self.categories[i] = None

    def result(self) -> dict[str, Any]:
        columns = []
        for i, field in enumerate(self.schema):
            entry: dict[str, Any] = {
                "name": field.name,
                "type": str(field.type),
                "nullable": self.nulls[i] > 0,
                "null_count": self.nulls[i],
            }
            if self.mins[i] is not None:
                entry["min"], entry["max"] = _jsonable(self.mins[i]), _jsonable(self.maxs[i])
            seen = self.categories[i]
            if seen is not None and self.num_rows > 0:
                entry["categories"] = sorted(seen, key=str)
            columns.append(entry)
        return {"num_rows": self.num_rows, "columns": columns}


def infer_schema(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> dict[str, Any]:
    builder = SchemaBuilder(schema)
    for batch in batches:
        builder.update(batch)
    return builder.result()


def schema_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How ``new`` differs from ``old``: columns added, removed and retyped, in words."""
    before = {c["name"]: c["type"] for c in old.get("columns", [])}
    after = {c["name"]: c["type"] for c in new.get("columns", [])}
    changes = [f"column {n!r} added ({after[n]})" for n in after if n not in before]
    changes += [f"column {n!r} removed" for n in before if n not in after]
    changes += [
        f"column {n!r} retyped {before[n]} -> {after[n]}"
        for n in after
        if n in before and before[n] != after[n]
    ]
    return changes


def _may_be_categorical(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_dictionary(kind)
    )


def _is_numeric(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_temporal(kind))


def _smaller(a: Any, b: Any) -> Any:
    return b if a is None or (b is not None and b < a) else a


def _larger(a: Any, b: Any) -> Any:
    return b if a is None or (b is not None and b > a) else a


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)  # dates and times as ISO text
