"""Monitoring: the prediction log (segments, writer, reader), late labels, and drift; later windows, alerts.

Names resolve on first use, so importing ``loopml.monitoring`` loads neither pyarrow nor pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    **{name: "loopml.monitoring._drift" for name in ("ColumnDrift", "DriftReport", "column_drift", "drift")},
    "PredictionLogger": "loopml.monitoring._logger",
    **{name: "loopml.monitoring._personal" for name in ("hash_value", "prediction_salt")},
    **{
        name: "loopml.monitoring._reader"
        for name in ("compact_segments", "join_labels", "log_labels", "read_labels", "read_predictions")
    },
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from loopml.monitoring._drift import ColumnDrift, DriftReport, column_drift, drift
    from loopml.monitoring._logger import PredictionLogger
    from loopml.monitoring._personal import hash_value, prediction_salt
    from loopml.monitoring._reader import (
        compact_segments,
        join_labels,
        log_labels,
        read_labels,
        read_predictions,
    )

__all__ = [
    "ColumnDrift",
    "DriftReport",
    "PredictionLogger",
    "column_drift",
    "compact_segments",
    "drift",
    "hash_value",
    "join_labels",
    "log_labels",
    "prediction_salt",
    "read_labels",
    "read_predictions",
]
