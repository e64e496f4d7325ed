"""Thresholds: the band a window's metric should stay in, fixed by hand or learned from the reference.

A **fixed** threshold is what a person writes (``f1`` at least 0.8). A **learned** one is what the reference
says is normal, the way NannyML learns it: split the reference into chunks the size of a window, compute
the metric on each, and take the mean plus and minus three standard deviations (the population standard
deviation, ``ddof=0``) of those chunk values. Where a metric has a range (f1 lies in [0, 1], a distance
is never negative), a band reaching beyond it is cut at the range's end.

To see how often the reference itself would breach its band, compare each chunk with a band learned from
the *other* chunks (``reference_chunk_thresholds``): a chunk counted in its own statistics can hardly fall
outside them.

    >>> values = chunk_values(reference, lambda chunk: f1_of(chunk), chunks=10)
    >>> band = learned(values, metric="f1")
    >>> band.breached(0.62)
    True

Either side of a band may be open (``None``): ``Threshold(lower=0.8)`` alerts only on a fall.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_SIGMAS = 3.0
DEFAULT_CHUNKS = 10

Bounds = tuple[float | None, float | None]

_UNIT: Bounds = (0.0, 1.0)
_NON_NEGATIVE: Bounds = (0.0, None)
# the range of each window metric (WindowResult.metrics) that has one; a band never reaches past it
METRIC_BOUNDS: dict[str, Bounds] = {
    **dict.fromkeys(
        (
            "accuracy",
            "precision",
            "recall",
            "f1",
            "roc_auc",
            "precision_weighted",
            "recall_weighted",
            "f1_weighted",
            "f1_macro",
            "roc_auc_ovr_weighted",
            "calibration_error",
            "drift_share",
            "drifted",
            "error_rate",
            "label_coverage",
            "null_fraction",
            "ks",
            "jensenshannon",
            "hellinger",
            "domain_classifier",
            "check",
        ),
        _UNIT,
    ),
    **dict.fromkeys(
        (
            "log_loss",
            "mae",
            "rmse",
            "mape",
            "rows",
            "errors",
            "labelled_rows",
            "latency_p50_ms",
            "latency_p99_ms",
            "prediction_rate",
            "new_categories",
            "new_classes",
            "drift",  # a column's test statistic: never negative, unbounded for some tests
            "wasserstein",
            "psi",
            "kl_div",
            "chisquare",
            "z",
        ),
        _NON_NEGATIVE,
    ),
    "r2": (None, 1.0),
}


def metric_bounds(name: str) -> Bounds:
    """The range of a window metric: ``f1`` and ``estimated.f1`` (0, 1), ``psi(temperature)`` (0, None),
    ``check.<name>`` (0, 1); (None, None) for a metric without one."""
    key = name.removeprefix("estimated.")
    if key.startswith("check."):
        key = "check"
    elif "(" in key:
        key = key.split("(", 1)[0]
    return METRIC_BOUNDS.get(key, (None, None))


@dataclass(frozen=True)
class Threshold:
    """The band ``[lower, upper]`` a value should stay in; ``None`` leaves that side open."""

    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        for side in ("lower", "upper"):
            value = getattr(self, side)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            ):
                raise InvalidArgumentError(
                    f"a threshold's {side} side must be a finite number or None, not {value!r}"
                )
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise InvalidArgumentError(
                f"a threshold's lower side ({self.lower:g}) must not exceed its upper side ({self.upper:g})"
            )

    def breached(self, value: float | None) -> bool:
        """Whether ``value`` lies outside the band; a missing value (None, NaN) breaches nothing."""
        if value is None or math.isnan(value):
            return False
        return (self.lower is not None and value < self.lower) or (
            self.upper is not None and value > self.upper
        )

    def __str__(self) -> str:
        if self.lower is not None and self.upper is not None:
            return f"{self.lower:.4g} .. {self.upper:.4g}"
        if self.lower is not None:
            return f">= {self.lower:.4g}"
        if self.upper is not None:
            return f"<= {self.upper:.4g}"
        return "any value"

    def to_dict(self) -> dict[str, float | None]:
        return {"lower": self.lower, "upper": self.upper}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Threshold:
        unknown = set(doc) - {"lower", "upper"}
        if unknown:
            raise InvalidArgumentError(f"a threshold has 'lower' and 'upper' only, not {sorted(unknown)!r}")
        return cls(_number(doc.get("lower")), _number(doc.get("upper")))


def fixed(lower: float | None = None, upper: float | None = None) -> Threshold:
    """A band written by hand: ``fixed(lower=0.8)`` for "f1 at least 0.8", ``fixed(upper=0.2)`` for a PSI."""
    if lower is None and upper is None:
        raise InvalidArgumentError("a fixed threshold needs lower=, upper= or both")
    if lower is not None and upper is not None and not lower < upper:
        raise InvalidArgumentError(
            f"a fixed threshold's lower ({lower:g}) must be below its upper ({upper:g})"
        )
    return Threshold(lower, upper)


def learned(
    chunk_values: Sequence[float | None],
    sigmas: float = DEFAULT_SIGMAS,
    *,
    metric: str | None = None,
    bounds: Bounds | None = None,
) -> Threshold:
    """Mean ± ``sigmas`` population standard deviations of a metric over reference chunks, cut at the
    metric's range (``bounds``, or the range of the window metric named ``metric``). Chunks on which the
    metric is undefined (None, NaN) are left out; at least two must remain."""
    values = _values(chunk_values)
    if len(values) < 2:
        raise InvalidArgumentError(
            f"learning a threshold needs the metric on at least 2 reference chunks, got {len(values)}: split "
            "the reference into more chunks (or give the threshold by hand with fixed())"
        )
    return _band(values, _sigmas(sigmas), _bounds(metric, bounds))


def reference_chunk_thresholds(
    chunk_values: Sequence[float | None],
    sigmas: float = DEFAULT_SIGMAS,
    *,
    metric: str | None = None,
    bounds: Bounds | None = None,
) -> list[Threshold]:
    """For each reference chunk, the band learned from every other chunk (chunk ``i`` left out of the
    statistics it is compared with), so ``thresholds[i].breached(values[i])`` tells whether that chunk
    would have raised an alert. Needs three chunks with values or more."""
    values = [_value(v) for v in chunk_values]
    known = [v for v in values if v is not None]
    if len(known) < 3:
        raise InvalidArgumentError(
            f"leaving each chunk out needs the metric on at least 3 reference chunks, got {len(known)}: "
            "split the reference into more chunks"
        )
    width, limits = _sigmas(sigmas), _bounds(metric, bounds)
    out = []
    for own in values:
        others = list(known)
        if own is not None:
            others.remove(own)  # equal values are interchangeable: removing any one leaves the same list
        out.append(_band(others, width, limits))
    return out


# --- chunks of a reference --------------------------------------------------------------------------------


def split_chunks(
    frame: pd.DataFrame, *, chunks: int | None = None, size: int | None = None
) -> list[pd.DataFrame]:
    """The rows of ``frame`` in order, cut into ``chunks`` pieces of nearly equal size (they differ by one
    row at most), or into pieces of ``size`` rows whose remainder joins the last piece (so none is smaller
    than ``size``). Sort by time first to make the chunks periods. Default: 10 chunks."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidArgumentError(f"split_chunks takes a pandas DataFrame, not {type(frame).__name__}")
    if chunks is not None and size is not None:
        raise InvalidArgumentError("give chunks= (how many) or size= (rows in each), not both")
    n = len(frame)
    if size is not None:
        _positive(size, "size")
        if n < size:
            raise InvalidArgumentError(f"the reference has {n} rows, fewer than one chunk of size={size}")
        starts = [i * size for i in range(n // size)]
        ends = [*starts[1:], n]
    else:
        count = DEFAULT_CHUNKS if chunks is None else chunks
        _positive(count, "chunks")
        if n < count:
            raise InvalidArgumentError(
                f"the reference has {n} rows, fewer than chunks={count}: use fewer chunks or a larger "
                "reference"
            )
        base, extra = divmod(n, count)
        ends = [(i + 1) * base + min(i + 1, extra) for i in range(count)]
        starts = [0, *ends[:-1]]
    return [frame.iloc[start:end] for start, end in zip(starts, ends, strict=True)]


def chunk_values(
    frame: pd.DataFrame,
    metric: Callable[[pd.DataFrame], float | None],
    *,
    chunks: int | None = None,
    size: int | None = None,
) -> list[float | None]:
    """``metric`` computed on each chunk of ``frame`` (see ``split_chunks``); None where it is undefined."""
    out: list[float | None] = []
    for chunk in split_chunks(frame, chunks=chunks, size=size):
        value = metric(chunk)
        out.append(_value(value))
    return out


# --- helpers ----------------------------------------------------------------------------------------------


def _band(values: Sequence[float], sigmas: float, limits: Bounds) -> Threshold:
    mean = math.fsum(values) / len(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    lower, upper = mean - sigmas * std, mean + sigmas * std
    low_limit, high_limit = limits
    if low_limit is not None:
        lower = max(lower, low_limit)
        upper = max(upper, low_limit)
    if high_limit is not None:
        upper = min(upper, high_limit)
        lower = min(lower, high_limit)
    return Threshold(lower, upper)


def _bounds(metric: str | None, bounds: Bounds | None) -> Bounds:
    if bounds is not None:
        if not isinstance(bounds, tuple) or len(bounds) != 2:
            raise InvalidArgumentError(
                f"bounds must be a (lower, upper) pair, None for an open side, not {bounds!r}"
            )
        return bounds
    return (None, None) if metric is None else metric_bounds(metric)


def _sigmas(sigmas: float) -> float:
    if isinstance(sigmas, bool) or not isinstance(sigmas, int | float) or not sigmas >= 0:
        raise InvalidArgumentError(
            f"sigmas must be a number of standard deviations, 0 or more, not {sigmas!r}"
        )
    return float(sigmas)


def _positive(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be a whole number, 1 or more, not {value!r}")


def _value(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"a chunk's metric must be a number or None, not {value!r}") from None
    if math.isinf(number):
        raise InvalidArgumentError(f"a chunk's metric is {number}: thresholds are learned from finite values")
    return None if math.isnan(number) else number


def _values(values: Sequence[float | None]) -> list[float]:
    if isinstance(values, str | bytes):
        raise InvalidArgumentError("chunk_values must be a list of numbers, one per reference chunk")
    return [v for v in (_value(x) for x in values) if v is not None]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(f"a threshold's side must be a number or null, not {value!r}")
    return float(value)
