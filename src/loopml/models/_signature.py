"""A model's signature: the columns it takes and gives, inferred from data and enforced before it predicts.

Column types are ``boolean``, ``integer``, ``float``, ``string``, ``datetime``, ``category`` (a pandas
categorical: its categories are the only values allowed, and the column is handed to the model as a
categorical) and ``object`` (anything: not checked). A column of another type may also carry ``categories``
(named in ``categorical=``): its values must be among them. ``personal`` marks personal data, which the
prediction log hashes or drops.

Enforcement turns the input into a DataFrame with the signature's columns in its order: a missing column, an
unknown category, a wrong type or missing values in a column that had none are errors; int -> float (and a
float column of whole numbers -> integer, text -> datetime when it parses) are coerced; extra columns are
dropped and reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError, SignatureError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TYPES", "ColumnSpec", "Signature", "infer_signature", "to_frame"]

TYPES = ("boolean", "integer", "float", "string", "datetime", "category", "object")
FRAME, ARRAY = "dataframe", "ndarray"
_SHOWN = 5  # values shown in a message


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its name, type, whether it may hold missing values, the values allowed, personal data."""

    name: str
    type: str
    nullable: bool = False
    categories: list[Any] | None = None
    personal: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise InvalidArgumentError(
                f"column {self.name!r} has type {self.type!r}; a signature type is one of {', '.join(TYPES)}."
            )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.categories is not None:
            out["categories"] = list(self.categories)
        if self.personal:
            out["personal"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        categories = data.get("categories")
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            nullable=bool(data.get("nullable", False)),
            categories=None if categories is None else list(categories),
            personal=bool(data.get("personal", False)),
        )

    def describe(self) -> str:
        text = self.type + (", nullable" if self.nullable else "")
        if self.categories is not None:
            text += f", one of {_show(self.categories)}"
        return text


@dataclass(frozen=True)
class Signature:
    """The input columns a model takes, the output columns it gives, and whether the model was fitted on a
    DataFrame or a plain array (``input_format``: ``dataframe`` or ``ndarray``)."""

    inputs: list[ColumnSpec]
    outputs: list[ColumnSpec] = field(default_factory=list)
    input_format: str = FRAME

    def __post_init__(self) -> None:
        names = [c.name for c in self.inputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidArgumentError(f"signature lists input column(s) {_show(dupes)} more than once.")
        if self.input_format not in (FRAME, ARRAY):
            raise InvalidArgumentError(
                f"input_format {self.input_format!r}: expected {FRAME!r} or {ARRAY!r}."
            )

    @property
    def personal_columns(self) -> list[str]:
        """The input columns marked as personal data, in signature order."""
        return [c.name for c in self.inputs if c.personal]

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def column(self, name: str) -> ColumnSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise InvalidArgumentError(
            f"the signature has no input column {name!r}; it has {_show(self.input_names)}."
        )

    def with_personal(self, personal: Iterable[str]) -> Signature:
        """A copy with the named input columns (and no others) marked personal."""
        wanted = _check_names(personal, self.input_names, "personal")
        return replace(self, inputs=[replace(c, personal=c.name in wanted) for c in self.inputs])

    # -- JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [c.to_dict() for c in self.inputs],
            "outputs": [c.to_dict() for c in self.outputs],
            "input_format": self.input_format,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        try:
            return cls(
                inputs=[ColumnSpec.from_dict(c) for c in data["inputs"]],
                outputs=[ColumnSpec.from_dict(c) for c in data.get("outputs") or []],
                input_format=str(data.get("input_format", FRAME)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidArgumentError(f"not a model signature ({type(exc).__name__}: {exc}).") from None

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Signature:
        return cls.from_dict(json.loads(data) if isinstance(data, str | bytes) else data)

    # -- enforcement
    @cached_property
    def _exact(self) -> tuple[list[str], list[Any], bool] | None:
        """For a signature of numeric and boolean columns only (no categories): the column names, the numpy
        dtype each must have to need no coercion, and whether some float column takes no missing values.
        None for any other signature. Worked out once per signature."""
        import numpy as np

        wanted = []
        for spec in self.inputs:
            dtype = _EXACT.get(spec.type)
            if dtype is None or spec.categories is not None:
                return None
            wanted.append(np.dtype(dtype))
        no_nulls = any(spec.type == "float" and not spec.nullable for spec in self.inputs)
        return self.input_names, wanted, no_nulls

    def _fits_exactly(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        """``frame`` cut to the signature's columns, when each is there with exactly its numeric or boolean
        dtype and has no missing values where the model had none: then nothing needs checking value by
        value. None otherwise (the full check explains what does not fit)."""
        exact = self._exact
        if exact is None:
            return None
        names, wanted, no_nulls = exact
        if frame.columns.tolist() != names:
            if not frame.columns.is_unique or any(n not in frame.columns for n in names):
                return None
            frame = frame[names]
        if frame.dtypes.tolist() != wanted:
            return None
        if no_nulls:
            import numpy as np

            values = frame.to_numpy()  # one block of float64 in the common case: a view, no copy
            if values.dtype.kind == "f" and bool(np.isnan(values).any()):
                return None
        return frame

    def validate(self, data: Any) -> tuple[pd.DataFrame, list[str]]:
        """``data`` (a DataFrame, a dict of columns or of one row, a list of row dicts, a 2-D array in
        signature order) as a DataFrame of the signature's columns, coerced where that is safe, and notes on
        what was changed (extra columns ignored). ``SignatureError`` lists every column that does not fit."""
        frame = to_frame(data, self.input_names)
        notes: list[str] = []
        known = set(self.input_names)
        extra = [str(c) for c in frame.columns if c not in known]
        if extra:
            notes.append(f"column(s) {_show(extra)} not in the signature: ignored")
        exact = self._fits_exactly(frame)
        if exact is not None:  # the common case when serving: nothing to coerce, nothing to report
            return exact, notes
        repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        if repeated:
            raise SignatureError(
                f"input names column(s) {_show(repeated)} more than once; send each column once.",
                problems=[f"column {c!r} is given more than once" for c in repeated],
                column=repeated[0],
            )
        problems: list[tuple[str, str]] = []
        columns: dict[str, Any] = {}
        for spec in self.inputs:
            if spec.name not in frame.columns:
                problems.append(
                    (spec.name, f"column {spec.name!r} is missing (expected {spec.describe()}); add it")
                )
                continue
            try:
                columns[spec.name] = _enforce(spec, frame[spec.name])
            except _Mismatch as exc:
                problems.append((spec.name, str(exc)))
        if problems:
            lines = [p for _, p in problems]
            raise SignatureError(
                "input does not match the model's signature: "
                + "; ".join(lines)
                + ". Send the columns the model was saved with (`model.signature`), or save the model again "
                "with a signature that accepts this input.",
                problems=lines,
                column=problems[0][0],
            )
        import pandas as pd

        return pd.DataFrame(columns, index=frame.index), notes


_EXACT = {"float": "float64", "integer": "int64", "boolean": "bool"}  # numpy dtypes that need no coercion


class _Mismatch(Exception):
    pass


def _enforce(spec: ColumnSpec, series: pd.Series) -> pd.Series:
    import pandas as pd

    nulls = int(series.isna().sum())
    if nulls and not spec.nullable:
        raise _Mismatch(
            f"column {spec.name!r} has {nulls} missing value(s) but the model was saved without any; "
            "fill them in"
        )
    actual = column_type(series)
    expected = spec.type
    out = series
    if expected == "object" or (actual == "object" and nulls == len(series)):
        pass  # not checked / nothing but missing values
    elif expected == "category":
        pass  # made categorical below, once every value is known to be a category
    elif expected == actual:
        pass
    elif expected == "float" and actual in ("integer",):
        out = series.astype("float64")
    elif expected == "integer" and actual == "float":
        values = series.dropna()
        if not (values == values.round()).all():
            raise _wrong(spec, actual, series, "whole numbers")
        if len(values) and not values.between(-(2**63), 2**63 - 1024).all():  # inf, or past int64
            raise _Mismatch(
                f"column {spec.name!r} holds a number too large for a whole number "
                f"(e.g. {values[~values.between(-(2**63), 2**63 - 1024)].iloc[0]!r}); send values within "
                "±9.2e18"
            )
        out = series.astype("int64") if not nulls else series
    elif expected == "string" and actual == "category" and _categories_type(series) == "string":
        out = series.astype(object)
    elif expected == "datetime" and actual == "string":
        try:
            out = pd.to_datetime(series)
        except (ValueError, TypeError):
            raise _wrong(spec, actual, series, "dates and times (ISO 8601)") from None
    else:
        raise _wrong(spec, actual, series, _plural(expected))
    if spec.categories is not None:
        allowed = set(spec.categories)
        present = series.dropna()
        odd = [v for v in present if isinstance(v, list | dict | set)]
        if odd:
            raise _Mismatch(
                f"column {spec.name!r} holds {type(odd[0]).__name__} values (e.g. {odd[0]!r}); send one of "
                f"the known categories: {_show(spec.categories)}"
            )
        unknown = [v for v in pd.unique(present) if v not in allowed]
        if unknown:
            raise _Mismatch(
                f"column {spec.name!r} has unknown categor{'y' if len(unknown) == 1 else 'ies'} "
                f"{_show(unknown)} (known: {_show(spec.categories)}); send one of the known values"
            )
    if expected == "category" and actual != "category":
        out = series.astype(pd.CategoricalDtype(spec.categories))
    return out


def _wrong(spec: ColumnSpec, actual: str, series: pd.Series, wanted: str) -> _Mismatch:
    sample = series.dropna()
    example = f", e.g. {sample.iloc[0]!r}" if len(sample) else ""
    return _Mismatch(
        f"column {spec.name!r} should be {spec.type} but holds {actual} values{example}; send {wanted}"
    )


def _plural(kind: str) -> str:
    return {
        "boolean": "true/false values",
        "integer": "whole numbers",
        "float": "numbers",
        "string": "text",
        "datetime": "dates and times (ISO 8601)",
    }.get(kind, f"{kind} values")


def column_type(series: pd.Series) -> str:
    """The signature type of a pandas column."""
    import pandas as pd
    from pandas.api import types as pt

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pt.is_bool_dtype(dtype):
        return "boolean"
    if pt.is_integer_dtype(dtype):
        return "integer"
    if pt.is_float_dtype(dtype):
        return "float"
    if pt.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pt.is_string_dtype(dtype) and not pt.is_object_dtype(dtype):
        return "string"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {
        "string": "string",
        "integer": "integer",
        "floating": "float",
        "mixed-integer-float": "float",
        "decimal": "float",
        "boolean": "boolean",
        "datetime": "datetime",
        "datetime64": "datetime",
    }.get(inferred, "object")


def _categories_type(series: pd.Series) -> str:
    import pandas as pd

    return column_type(pd.Series(series.cat.categories))


def to_frame(data: Any, names: Sequence[str] | None = None) -> pd.DataFrame:
    """``data`` as a DataFrame: a DataFrame as is, a Series as one column, a dict of columns (or of one
    row's values), a list of row dicts, or a 1-D/2-D array or list of rows (columns named ``names`` when the
    widths match, else ``0``, ``1``, ...)."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame(name=str(data.name) if data.name is not None else (names or ["0"])[0])
    if isinstance(data, Mapping):
        if data and all(np.ndim(v) == 0 for v in data.values()):
            return pd.DataFrame([dict(data)])
        return pd.DataFrame(dict(data))
    if isinstance(data, list | tuple) and data and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame.from_records(list(data))
    try:
        array = np.asarray(data)
    except (ValueError, TypeError):
        array = np.asarray(data, dtype=object)
    if array.ndim == 1:
        array = array.reshape(-1, 1) if names is not None and len(names) == 1 else array.reshape(1, -1)
    if array.ndim != 2:
        raise InvalidArgumentError(
            f"model input of shape {array.shape}: send a DataFrame, a dict of columns, a list of row dicts "
            "or a 2-D array."
        )
    columns = list(names) if names is not None and len(names) == array.shape[1] else None
    if columns is None:
        columns = [str(i) for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=columns)


def infer_signature(
    inputs: Any,
    outputs: Any = None,
    *,
    personal: Iterable[str] = (),
    categorical: Iterable[str] = (),
) -> Signature:
    """The signature of ``inputs`` (training data or an example of it) and, when given, ``outputs`` (the
    model's predictions). A pandas categorical column keeps its categories; text columns named in
    ``categorical`` get their observed values as categories. ``personal`` names columns of personal data."""
    import pandas as pd

    is_array = not isinstance(inputs, pd.DataFrame | pd.Series | Mapping) and not (
        isinstance(inputs, list | tuple) and inputs and all(isinstance(r, Mapping) for r in inputs)
    )
    frame = to_frame(inputs)
    if len(frame.columns) == 0:
        raise InvalidArgumentError("cannot infer a signature from input with no columns.")
    frame.columns = [str(c) for c in frame.columns]
    names = list(frame.columns)
    wanted_categorical = _check_names(categorical, names, "categorical")
    specs = [_spec(str(name), frame[name], str(name) in wanted_categorical) for name in names]
    signature = Signature(
        inputs=specs,
        outputs=_output_specs(outputs) if outputs is not None else [],
        input_format=ARRAY if is_array else FRAME,
    )
    return signature.with_personal(personal)


def _spec(name: str, series: pd.Series, categorical: bool) -> ColumnSpec:
    kind = column_type(series)
    nullable = bool(series.isna().any())
    categories: list[Any] | None = None
    if kind == "category":
        categories = [_jsonable(v) for v in series.cat.categories]
    elif categorical:
        if kind not in ("string", "integer", "boolean"):
            raise InvalidArgumentError(
                f"column {name!r} holds {kind} values; only text, integer or boolean columns can be "
                "categorical."
            )
        categories = sorted({_jsonable(v) for v in series.dropna().unique()}, key=str)
    return ColumnSpec(name=name, type=kind, nullable=nullable, categories=categories)


def _output_specs(outputs: Any) -> list[ColumnSpec]:
    import numpy as np
    import pandas as pd

    if isinstance(outputs, pd.DataFrame):
        return [_spec(str(c), outputs[c], False) for c in outputs.columns]
    if isinstance(outputs, pd.Series):
        return [_spec(str(outputs.name) if outputs.name is not None else "prediction", outputs, False)]
    array = np.asarray(outputs)
    if array.ndim <= 1:
        return [_spec("prediction", pd.Series(array.reshape(-1)), False)]
    frame = pd.DataFrame(array.reshape(array.shape[0], -1))
    return [_spec(str(c), frame[c], False) for c in frame.columns]


def _check_names(given: Iterable[str], names: Sequence[str], what: str) -> set[str]:
    if isinstance(given, str):
        given = [given]
    wanted = set(given)
    unknown = sorted(wanted - set(names))
    if unknown:
        raise InvalidArgumentError(
            f"{what} column(s) {_show(unknown)} are not input columns; the inputs are {_show(list(names))}."
        )
    return wanted


def _jsonable(value: Any) -> Any:
    """A plain Python value for JSON (numpy scalars become int, float, bool; timestamps ISO text)."""
    item = getattr(value, "item", None)
    if callable(item):
        value = item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _show(values: Sequence[Any] | Iterable[Any]) -> str:
    values = list(values)
    shown = ", ".join(repr(_jsonable(v)) for v in values[:_SHOWN])
    return shown + (f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else "")
