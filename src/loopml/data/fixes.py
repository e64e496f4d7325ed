"""Declarative fixes for ``lm.data.clean``: each is a small step that says what it does, so the derived
version records exactly how it was made.

    lm.data.clean("sensors:3", [fixes.drop_duplicates(), fixes.fill_nulls({"temp": 0.0}),
                                fixes.clip("temp", -40, 120), fixes.cast({"machine_id": "int64"}),
                                fixes.drop_columns(["debug"])], name="sensors-clean")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loopml.errors import InvalidArgumentError


class Fix:
    """One cleaning step: ``apply`` a DataFrame, ``describe`` it as JSON."""

    kind = "fix"

    def apply(self, frame: Any) -> Any:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"fix": self.kind, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}

    def _need(self, frame: Any, columns: Sequence[str]) -> None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InvalidArgumentError(
                f"{self.kind}: no column(s) {missing}; the data has {list(frame.columns)}."
            )


class _DropDuplicates(Fix):
    kind = "drop_duplicates"

    def __init__(self, subset: Sequence[str] | None) -> None:
        self.subset = None if subset is None else list(subset)

    def apply(self, frame: Any) -> Any:
        if self.subset:
            self._need(frame, self.subset)
        return frame.drop_duplicates(subset=self.subset).reset_index(drop=True)


class _FillNulls(Fix):
    kind = "fill_nulls"

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def apply(self, frame: Any) -> Any:
        self._need(frame, list(self.values))
        return frame.fillna(self.values)


class _Clip(Fix):
    kind = "clip"

    def __init__(self, column: str, low: float | None, high: float | None) -> None:
        self.column, self.low, self.high = column, low, high

    def apply(self, frame: Any) -> Any:
        self._need(frame, [self.column])
        return frame.assign(**{self.column: frame[self.column].clip(self.low, self.high)})


class _Cast(Fix):
    kind = "cast"

    def __init__(self, types: Mapping[str, str]) -> None:
        self.types = dict(types)

    def apply(self, frame: Any) -> Any:
        self._need(frame, list(self.types))
        try:
            return frame.astype(self.types)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"cast {self.types}: {exc}") from exc


class _DropColumns(Fix):
    kind = "drop_columns"

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)

    def apply(self, frame: Any) -> Any:
        self._need(frame, self.columns)
        return frame.drop(columns=self.columns)


def drop_duplicates(subset: Sequence[str] | None = None) -> Fix:
    """Drop rows equal to an earlier row (on ``subset`` columns when given)."""
    return _DropDuplicates(subset)


def fill_nulls(values: Mapping[str, Any]) -> Fix:
    """Replace nulls of each named column with its value: ``fill_nulls({"temp": 0.0})``."""
    return _FillNulls(values)


def clip(column: str, low: float | None = None, high: float | None = None) -> Fix:
    """Bound the values of ``column`` to [low, high]."""
    return _Clip(column, low, high)


def cast(types: Mapping[str, str]) -> Fix:
    """Convert columns to types: ``cast({"machine_id": "int64", "status": "category"})``."""
    return _Cast(types)


def drop_columns(columns: Sequence[str]) -> Fix:
    return _DropColumns(columns)


__all__ = ["Fix", "cast", "clip", "drop_columns", "drop_duplicates", "fill_nulls"]
