"""Prediction-log segments: buffered records become one Parquet table, typed as the data is.

A segment has the columns ``request_id``, ``row`` (the row's index within its request), ``timestamp_ms``,
``model``, ``model_version``, ``route``, ``latency_ms`` and ``status`` (200 for an answered prediction, the
HTTP status of a failed request); then ``input.<column>`` for each input column (personal ones hashed, or
left out), ``output`` (or ``output.<i>`` / ``output.<name>`` for a model with several outputs) and, for a
classifier, ``proba.<class>`` for each class's probability. A failed request is one row with its status and
latency and no inputs or outputs; a segment holds its answered rows first, then its error rows. A column
whose values do not share one type is stored as text (JSON for nested values), so a record is never refused
for its types.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError

if TYPE_CHECKING:
    import pyarrow as pa

ROUTES = ("champion", "canary", "shadow")  # the routes a model server logs requests under
BASE_COLUMNS = (
    "request_id",
    "row",
    "timestamp_ms",
    "model",
    "model_version",
    "route",
    "latency_ms",
    "status",
)
INPUT_PREFIX = "input."
OUTPUT = "output"
PROBA_PREFIX = "proba."
ANSWERED = 200  # the status of a logged prediction; error rows have the 4xx or 5xx the client got
HOUR_MS = 3_600_000  # segments (and their compaction) never hold rows of two hours: windows merge whole ones


def hour_of(timestamp_ms: int) -> int:
    """The hour (UTC, counted from the epoch) a row timed ``timestamp_ms`` belongs to."""
    return timestamp_ms // HOUR_MS


def is_profiled(column: str) -> bool:
    """Whether a segment column is in the segment's profiles: inputs, outputs, probabilities, latency."""
    return (
        column.startswith((INPUT_PREFIX, PROBA_PREFIX))
        or column == OUTPUT
        or column.startswith(OUTPUT + ".")
        or column == "latency_ms"
    )


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One logged request as the server handed it over; turned into columns only when its segment is built."""

    request_id: str
    model_version: int
    route: str
    inputs: Any  # a DataFrame, a list of row dicts, one row dict, or a 2-D array whose columns are ``names``
    outputs: Any  # a sequence, an array (n,) or (n, k), a Series or a DataFrame
    latency_ms: float
    timestamp_ms: int
    rows: int
    names: tuple[str, ...] | None = None  # the columns of an array of inputs
    nbytes: int = 0  # about how much memory the record holds, for the buffer's bound
    status: int = ANSWERED  # a failed request: its status, and no inputs or outputs (None)
    proba: Any = None  # class probabilities, an array (rows, classes), or None
    classes: tuple[str, ...] = ()  # the class of each column of ``proba``, as text

    @property
    def failed(self) -> bool:
        return self.status != ANSWERED


def count_rows(inputs: Any) -> int:
    """How many rows a request's inputs hold (cheap: no conversion)."""
    if isinstance(inputs, Mapping):
        return 1
    if isinstance(inputs, list | tuple) or (hasattr(inputs, "columns") and hasattr(inputs, "iloc")):
        return len(inputs)
    if getattr(inputs, "ndim", None) == 2:  # an array of rows, named by input_names
        return int(inputs.shape[0])
    raise InvalidArgumentError(
        "prediction-log inputs must be a DataFrame, a list of row dicts or a 2-D array, "
        f"not {type(inputs).__name__}."
    )


def estimate_bytes(inputs: Any, rows: int) -> int:
    """About how many bytes a request's inputs hold (cheap: no conversion)."""
    if hasattr(inputs, "nbytes"):  # an array
        return int(inputs.nbytes)
    if hasattr(inputs, "columns"):  # a DataFrame: numbers take 8 bytes, text more; 16 a value on average
        return rows * len(inputs.columns) * 16
    first = inputs if isinstance(inputs, Mapping) else (inputs[0] if inputs else {})
    return rows * max(1, len(first)) * 32


def count_outputs(outputs: Any) -> int:
    shape = getattr(outputs, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) else 1
    try:
        return len(outputs)
    except TypeError:
        raise InvalidArgumentError(
            "prediction-log outputs must be one per row (a sequence or an array), "
            f"not {type(outputs).__name__}."
        ) from None


def _is_missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or type(value).__name__ in ("NaTType", "NAType")
    )


def _input_columns(inputs: Any, names: Sequence[str] | None) -> Iterable[tuple[str, list[Any]]]:
    if names is not None:  # a 2-D array
        return list(zip(names, inputs.T.tolist(), strict=True))
    if isinstance(inputs, Mapping):
        return [(str(k), [v]) for k, v in inputs.items()]
    if hasattr(inputs, "iloc"):  # a DataFrame
        if inputs.columns.is_unique:
            return [(str(name), values) for name, values in inputs.to_dict(orient="list").items()]
        return [(str(name), inputs.iloc[:, i].tolist()) for i, name in enumerate(inputs.columns)]
    seen: dict[str, None] = {}
    for row in inputs:
        seen.update(dict.fromkeys(row))
    return [(str(k), [row.get(k) for row in inputs]) for k in seen]


def _output_columns(outputs: Any, n: int) -> Iterable[tuple[str, list[Any]]]:
    if hasattr(outputs, "iloc") and hasattr(outputs, "columns"):  # a DataFrame
        return [(f"{OUTPUT}.{name}", outputs.iloc[:, i].tolist()) for i, name in enumerate(outputs.columns)]
    if hasattr(outputs, "tolist") and getattr(outputs, "ndim", 1) == 2:  # an array (n, k)
        values = outputs.tolist()
        width = len(values[0]) if values else 0
        return [(f"{OUTPUT}.{i}", [row[i] for row in values]) for i in range(width)]
    values = outputs.tolist() if hasattr(outputs, "tolist") else list(outputs)
    if values and all(isinstance(v, Mapping) for v in values):
        keys: dict[str, None] = {}
        for v in values:
            keys.update(dict.fromkeys(str(k) for k in v))
        return [(f"{OUTPUT}.{k}", [v.get(k) for v in values]) for k in keys]
    if values and all(isinstance(v, list | tuple) for v in values):
        width = max(len(v) for v in values)
        return [(f"{OUTPUT}.{i}", [v[i] if i < len(v) else None for v in values]) for i in range(width)]
    return [(OUTPUT, values)]


def _array(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return text_column(values)


def text_column(values: list[Any]) -> pa.Array:
    """``values`` as a text column: strings as they are, anything else as JSON, missing values as null."""
    import pyarrow as pa

    return pa.array(
        [
            None
            if _is_missing(v)
            else v
            if isinstance(v, str)
            else json.dumps(v.tolist() if hasattr(v, "tolist") else v, default=str)
            for v in values
        ],
        type=pa.string(),
    )


def _shared_names(records: Sequence[LogRecord]) -> tuple[str, ...] | None:
    """The column names shared by records that all hold arrays; None when any holds something else or the
    names differ."""
    names = records[0].names if records else None
    if names is None or any(r.names != names for r in records):
        return None
    return names


def build_table(
    model: str,
    records: Sequence[LogRecord],
    *,
    personal: frozenset[str] = frozenset(),
    hasher: Callable[[Any], str] | None = None,
) -> pa.Table:
    """The segment table of ``records``; personal input columns are hashed with ``hasher``, or left out when
    it is None."""
    import pyarrow as pa

    answered = [r for r in records if not r.failed]
    records = answered + [r for r in records if r.failed]  # error rows last: the bulk paths cover the rest
    total = sum(r.rows for r in records)
    request_ids: list[str] = []
    row_index: list[int] = []
    timestamps: list[int] = []
    versions: list[int] = []
    routes: list[str] = []
    latencies: list[float] = []
    statuses: list[int] = []
    data: dict[str, list[Any]] = {}  # input.* then output* and proba.*, in the order first seen
    offset = 0

    def add(name: str, values: list[Any]) -> None:
        column = data.get(name)
        if column is None:
            column = data[name] = [None] * offset
        elif len(column) < offset:
            column.extend([None] * (offset - len(column)))
        column.extend(values)

    # requests that all sent a DataFrame of the same columns, or all an array of the same columns (the
    # server's cases), are converted at once
    frames = [r.inputs for r in answered]
    first: Any = frames[0] if frames else None
    arrays = len(frames) > 1 and _shared_names(answered) is not None
    bulk = arrays or (
        len(frames) > 1
        and hasattr(first, "columns")
        and first.columns.is_unique
        and all(hasattr(f, "columns") and f.columns.equals(first.columns) for f in frames)
    )
    # probabilities of the same classes (one model version's answers) are stacked as numbers, not listed
    classes = answered[0].classes if answered else ()
    same_classes = bool(classes) and all(r.proba is not None and r.classes == classes for r in answered)
    for r in records:
        n = r.rows
        request_ids.extend([r.request_id] * n)
        row_index.extend(range(n))
        timestamps.extend([r.timestamp_ms] * n)
        versions.extend([r.model_version] * n)
        routes.extend([r.route] * n)
        latencies.extend([r.latency_ms] * n)
        statuses.extend([r.status] * n)
        if r.failed:
            offset += n
            continue
        for name, values in [] if bulk else _input_columns(r.inputs, r.names):
            if name in personal:
                if hasher is None:
                    continue
                values = [None if _is_missing(v) else hasher(v) for v in values]
            add(INPUT_PREFIX + name, values)
        for name, values in _output_columns(r.outputs, n):
            add(name, values)
        if r.proba is not None and not same_classes:
            for j, label in enumerate(r.classes):
                add(PROBA_PREFIX + label, r.proba[:, j].tolist())
        offset += n

    if bulk:
        if arrays:
            import numpy as np

            merged_columns = _input_columns(np.concatenate(frames), answered[0].names)
        else:
            import pandas as pd

            merged = pd.concat(frames, ignore_index=True)
            merged_columns = [(str(c), merged[c].tolist()) for c in merged.columns]
        for name, values in merged_columns:
            if name in personal:
                if hasher is None:
                    continue
                data[INPUT_PREFIX + name] = [None if _is_missing(v) else hasher(v) for v in values]
            else:
                data[INPUT_PREFIX + name] = values

    columns: dict[str, pa.Array] = {
        "request_id": pa.array(request_ids, type=pa.string()),
        "row": pa.array(row_index, type=pa.int32()),
        "timestamp_ms": pa.array(timestamps, type=pa.int64()),
        "model": pa.array([model] * total, type=pa.string()),
        "model_version": pa.array(versions, type=pa.int64()),
        "route": pa.array(routes, type=pa.string()),
        "latency_ms": pa.array(latencies, type=pa.float64()),
        "status": pa.array(statuses, type=pa.int32()),
    }
    inputs = [k for k in data if k.startswith(INPUT_PREFIX)]
    outputs = [k for k in data if not k.startswith(INPUT_PREFIX)]
    for name in inputs + outputs:
        values = data[name]
        values.extend([None] * (total - len(values)))
        columns[name] = _array(values)
    if same_classes:
        import numpy as np

        stacked = np.concatenate([r.proba for r in answered]).astype(np.float64, copy=False)
        missing = pa.nulls(total - len(stacked), pa.float64())  # the error rows
        for j, label in enumerate(classes):
            columns[PROBA_PREFIX + label] = pa.concat_arrays([pa.array(stacked[:, j]), missing])
    return pa.table(columns)


def as_text(table: pa.Table) -> pa.Table:
    """``table`` with its input and output columns as text (JSON for nested values): the form every value
    can take, for a segment Parquet would not write as typed (an empty struct, say)."""
    import pyarrow as pa

    columns = {}
    for name in table.column_names:
        column = table[name]
        if name in BASE_COLUMNS or pa.types.is_string(column.type):
            columns[name] = column
            continue
        columns[name] = text_column(column.to_pylist())
    return pa.table(columns)


def to_parquet(table: pa.Table, metadata: Mapping[str, str]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def from_parquet(data: bytes) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(data))
