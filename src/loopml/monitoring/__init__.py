"""Monitoring: the prediction log (segments and their profiles, writer, reader) and late labels; drift (from
rows or from profiles); monitors that cut the log into windows and compare them with a reference (drift,
performance, checks); alert rules, notifiers and the alert manager.

Names resolve on first use, so importing ``loopml.monitoring`` loads neither pyarrow nor pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "CBPE": "loopml.monitoring._cbpe",
    "AlertManager": "loopml.monitoring._alerts",
    **{name: "loopml.monitoring._drift" for name in ("ColumnDrift", "DriftReport", "column_drift", "drift")},
    "PredictionLogger": "loopml.monitoring._logger",
    "render_monitor_report": "loopml.monitoring._report",
    **{
        name: "loopml.monitoring._thresholds"
        for name in (
            "Threshold",
            "chunk_values",
            "fixed",
            "learned",
            "metric_bounds",
            "reference_chunk_thresholds",
            "split_chunks",
        )
    },
    **{
        name: "loopml.monitoring._profiles"
        for name in ("SegmentProfile", "merge_segment_profiles", "segment_profiles")
    },
    "Rule": "loopml.monitoring._rules",
    **{name: "loopml.errors" for name in ("NotificationError", "RuleError")},
    **{
        name: "loopml.monitoring._notifiers"
        for name in (
            "AlertMessage",
            "EmailNotifier",
            "LogNotifier",
            "Message",
            "Notifier",
            "WebhookNotifier",
            "notifier_from_config",
        )
    },
    **{name: "loopml.monitoring._personal" for name in ("hash_value", "prediction_salt")},
    "profile_drift": "loopml.monitoring._profile_drift",
    **{
        name: "loopml.monitoring._monitor"
        for name in (
            "MonitorCheck",
            "add_monitor",
            "check_monitor",
            "delete_monitor",
            "get_monitor",
            "list_monitors",
            "monitor_report",
            "monitor_windows",
        )
    },
    **{
        name: "loopml.monitoring._reader"
        for name in ("compact_segments", "join_labels", "log_labels", "read_labels", "read_predictions")
    },
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from loopml.errors import NotificationError, RuleError
    from loopml.monitoring._alerts import AlertManager
    from loopml.monitoring._cbpe import CBPE
    from loopml.monitoring._drift import ColumnDrift, DriftReport, column_drift, drift
    from loopml.monitoring._logger import PredictionLogger
    from loopml.monitoring._monitor import (
        MonitorCheck,
        add_monitor,
        check_monitor,
        delete_monitor,
        get_monitor,
        list_monitors,
        monitor_report,
        monitor_windows,
    )
    from loopml.monitoring._notifiers import (
        AlertMessage,
        EmailNotifier,
        LogNotifier,
        Message,
        Notifier,
        WebhookNotifier,
        notifier_from_config,
    )
    from loopml.monitoring._personal import hash_value, prediction_salt
    from loopml.monitoring._profile_drift import profile_drift
    from loopml.monitoring._profiles import SegmentProfile, merge_segment_profiles, segment_profiles
    from loopml.monitoring._reader import (
        compact_segments,
        join_labels,
        log_labels,
        read_labels,
        read_predictions,
    )
    from loopml.monitoring._report import render_monitor_report
    from loopml.monitoring._rules import Rule
    from loopml.monitoring._thresholds import (
        Threshold,
        chunk_values,
        fixed,
        learned,
        metric_bounds,
        reference_chunk_thresholds,
        split_chunks,
    )

__all__ = [
    "AlertManager",
    "AlertMessage",
    "CBPE",
    "ColumnDrift",
    "DriftReport",
    "EmailNotifier",
    "LogNotifier",
    "Message",
    "MonitorCheck",
    "NotificationError",
    "Notifier",
    "PredictionLogger",
    "Rule",
    "RuleError",
    "SegmentProfile",
    "Threshold",
    "WebhookNotifier",
    "add_monitor",
    "check_monitor",
    "chunk_values",
    "column_drift",
    "compact_segments",
    "delete_monitor",
    "drift",
    "fixed",
    "get_monitor",
    "hash_value",
    "join_labels",
    "learned",
    "list_monitors",
    "log_labels",
    "merge_segment_profiles",
    "metric_bounds",
    "monitor_report",
    "monitor_windows",
    "notifier_from_config",
    "prediction_salt",
    "profile_drift",
    "read_labels",
    "read_predictions",
    "reference_chunk_thresholds",
    "render_monitor_report",
    "segment_profiles",
    "split_chunks",
]
