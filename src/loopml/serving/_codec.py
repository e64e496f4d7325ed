"""Request and response bodies: the Open Inference Protocol (V2) and MLflow's scoring formats.

Every decoding error is a ``RequestError`` with its HTTP status and a message naming the field at fault;
nothing a client sends reaches the model without becoming a DataFrame first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


class RequestError(Exception):
    """A client mistake: the status to answer with, a message, and the column or field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            out["column"] = self.field
        return out


_V2_TYPES = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}


def v2_datatype(values: np.ndarray) -> str:
    kind = values.dtype
    if kind == np.bool_:
        return "BOOL"
    if np.issubdtype(kind, np.integer):
        return (
            {1: "INT8", 2: "INT16", 4: "INT32"}.get(kind.itemsize, "INT64") if kind.kind == "i" else "UINT64"
        )
    if np.issubdtype(kind, np.floating):
        return {2: "FP16", 4: "FP32"}.get(kind.itemsize, "FP64")
    return "BYTES"


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in data:
        if isinstance(value, list):
            out.extend(_flatten(value))
        else:
            out.append(value)
    return out


def decode_v2(body: Any, columns: Sequence[str]) -> pd.DataFrame:
    """A V2 inference request as a DataFrame: one input per column (shape [n] or [n, 1]), or one 2-D input
    of shape [n, k] whose k columns are the signature's, in order."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object with an 'inputs' list")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, "the request needs a non-empty 'inputs' list", "inputs")
    parsed: list[tuple[str, list[int], str, list[Any]]] = []
    for i, item in enumerate(inputs):
        if not isinstance(item, dict):
            raise RequestError(
                400, f"inputs[{i}] must be an object with name, shape, datatype and data", "inputs"
            )
        name = item.get("name")
        shape = item.get("shape")
        datatype = item.get("datatype")
        if not isinstance(name, str) or not name:
            raise RequestError(400, f"inputs[{i}] needs a 'name'", "inputs")
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise RequestError(400, f"input {name!r}: 'shape' must be a list of whole numbers", name)
        if datatype not in _V2_TYPES:
            raise RequestError(
                400, f"input {name!r}: unknown datatype {datatype!r}; use one of {', '.join(_V2_TYPES)}", name
            )
        raw = item.get("data")
        if not isinstance(raw, list):
            raise RequestError(400, f"input {name!r}: 'data' must be a list", name)
        if 0 in shape:
            raise RequestError(400, f"input {name!r}: shape {shape} holds no values; send at least one", name)
        data = _flatten(raw)
        size = 1
        for d in shape:
            size *= d
        if size != len(data):
            raise RequestError(
                400, f"input {name!r}: shape {shape} holds {size} values, 'data' has {len(data)}", name
            )
        parsed.append((name, shape, datatype, data))
    if len(parsed) == 1 and len(parsed[0][1]) == 2 and parsed[0][0] not in columns:
        name, shape, _, data = parsed[0]
        rows, width = shape
        if columns and width != len(columns):
            raise RequestError(
                422,
                f"input {name!r} has {width} columns per row; "
                f"the model takes {len(columns)}: {', '.join(columns)}",
                name,
            )
        names = list(columns) if columns else [f"c{j}" for j in range(width)]
        return pd.DataFrame([data[r * width : (r + 1) * width] for r in range(rows)], columns=names)
    frame: dict[str, list[Any]] = {}
    rows_seen: int | None = None
    for name, shape, _, data in parsed:
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise RequestError(
                400, f"input {name!r}: one column per input takes shape [n] or [n, 1], not {shape}", name
            )
        if rows_seen is not None and shape[0] != rows_seen:
            raise RequestError(400, f"input {name!r} has {shape[0]} rows, the others {rows_seen}", name)
        rows_seen = shape[0]
        frame[name] = data
    return pd.DataFrame(frame)


MAX_EXTRA_KEYS = 1000  # names beyond the signature's that records may carry (ignored) before being refused


def _from_records(rows: list[dict[str, Any]], columns: Sequence[str], key: str) -> pd.DataFrame:
    """Row objects as a DataFrame. Their names are counted first: rows that each bring new names would
    make a table of rows × names, so a small body could take the server's memory."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
        if len(names) > len(columns) + MAX_EXTRA_KEYS:
            raise RequestError(
                422,
                f"{key!r} rows name more than {len(columns) + MAX_EXTRA_KEYS} different columns; "
                + (f"the model takes {len(columns)}: {', '.join(columns)}" if columns else "send fewer"),
                key,
            )
    return pd.DataFrame.from_records(rows, columns=list(names))


def decode_mlflow(body: Any, columns: Sequence[str]) -> pd.DataFrame:
    """MLflow's scoring formats: dataframe_split, dataframe_records, instances or inputs."""
    if not isinstance(body, dict):
        raise RequestError(
            400,
            "the body must be a JSON object with one of "
            "dataframe_split, dataframe_records, instances, inputs",
        )
    keys = [k for k in ("dataframe_split", "dataframe_records", "instances", "inputs") if k in body]
    if len(keys) != 1:
        raise RequestError(
            400,
            "send exactly one of dataframe_split, dataframe_records, instances or inputs",
            keys[0] if keys else None,
        )
    key = keys[0]
    value = body[key]
    try:
        if key == "dataframe_split":
            if not isinstance(value, dict) or not isinstance(value.get("data"), list):
                raise RequestError(400, "dataframe_split needs 'columns' and a 'data' list of rows", key)
            data = value["data"]
            names = value.get("columns")
            if names is not None and (
                not isinstance(names, list) or not all(isinstance(c, str) for c in names)
            ):
                raise RequestError(400, "dataframe_split 'columns' must be a list of names", key)
            if any(not isinstance(row, list) for row in data):
                raise RequestError(400, "dataframe_split 'data' must be a list of rows (lists)", key)
            width = len(names) if names is not None else (len(columns) or None)
            if width is not None and any(len(row) != width for row in data):
                raise RequestError(400, f"every row of dataframe_split 'data' must have {width} values", key)
            return pd.DataFrame(data, columns=names if names is not None else (list(columns) or None))
        rows = value
        if key == "inputs" and isinstance(value, dict):
            lengths = {len(v) if isinstance(v, list) else 1 for v in value.values()}
            if len(lengths) > 1:
                raise RequestError(400, "every column of 'inputs' must have the same number of values", key)
            return pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in value.items()})
        if not isinstance(rows, list):
            raise RequestError(400, f"{key!r} must be a list of rows", key)
        if all(isinstance(r, dict) for r in rows):
            return _from_records(rows, columns, key)
        if all(isinstance(r, list) for r in rows):
            width = len(columns) or (len(rows[0]) if rows else 0)
            if any(len(r) != width for r in rows):
                raise RequestError(
                    422, f"every row of {key!r} must have {width} values: {', '.join(columns)}", key
                )
            return pd.DataFrame(rows, columns=list(columns) or None)
        raise RequestError(400, f"{key!r} must be a list of row objects or of row lists", key)
    except RequestError:
        raise
    except (ValueError, TypeError) as exc:
        raise RequestError(400, f"{key!r} does not make a table: {exc}", key) from None


_NUMERIC_V2 = {
    "FP64",
    "FP32",
    "FP16",
    "INT64",
    "INT32",
    "INT16",
    "INT8",
    "UINT64",
    "UINT32",
    "UINT16",
    "UINT8",
}


def numeric_rows(body: Any, protocol: str, columns: Sequence[str]) -> np.ndarray | None:
    """The rows of a request made only of numbers, in the signature's column order, as one float64 array:
    MLflow's ``dataframe_split`` (with the signature's columns, in order), ``instances`` or ``inputs`` as
    lists of rows, or a V2 request with one [n, k] tensor. None for any other shape or value; the full
    decoding and signature check then answer, and explain what does not fit."""
    if not isinstance(body, dict) or not columns:
        return None
    data: Any = None
    if protocol == "v2":
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            return None
        tensor = inputs[0]
        shape = tensor.get("shape")
        if (
            tensor.get("name") in columns
            or tensor.get("datatype") not in _NUMERIC_V2
            or not isinstance(shape, list)
            or len(shape) != 2
            or shape[1] != len(columns)
        ):
            return None
        data = tensor.get("data")
        if isinstance(data, list) and data and not isinstance(data[0], list):  # flat, row-major
            if len(data) != shape[0] * shape[1]:
                return None
            data = [data[i : i + shape[1]] for i in range(0, len(data), shape[1])]
        elif not isinstance(data, list) or len(data) != shape[0]:
            return None
    elif len(body) == 1:
        ((key, value),) = body.items()
        if key == "dataframe_split" and isinstance(value, dict):
            names = value.get("columns")
            if names is not None and names != list(columns):
                return None
            data = value.get("data")
        elif key in ("instances", "inputs"):
            data = value
    if not isinstance(data, list) or not data or not all(type(row) is list for row in data):
        return None
    if any(v is True or v is False for row in data for v in row):  # numpy would take them for 1 and 0
        return None
    try:
        values = np.array(data)
    except (ValueError, TypeError, OverflowError):  # ragged rows, values numpy will not hold
        return None
    if values.ndim != 2 or values.shape[1] != len(columns) or values.dtype.kind not in "fiu":
        return None
    return values.astype(np.float64, copy=False)


def decode_csv(text: str) -> pd.DataFrame:
    import io

    try:
        return pd.read_csv(io.StringIO(text))
    except Exception as exc:
        raise RequestError(400, f"the CSV body does not parse: {exc}") from None


def to_list(values: Any) -> list[Any]:
    """Predictions as JSON-able values (NaN becomes null)."""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        return [None if v != v else v for v in array.tolist()]
    return array.tolist()  # type: ignore[no-any-return]
