"""Monitoring's entities as the Store hands them out: a monitor, the results of its windows, its alerts and
what happened to each alert (opened, notified, a notifier that failed, resolved).

A monitor watches one registered model (optionally one route of it) against a reference. Each time window
(per model version and slice) gets one ``WindowResult``: flat metrics that alert rules read. An ``Alert`` is
one incident of one rule on one slice, from the window where its condition first held until it resolves;
its ``AlertEvent`` rows are its history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

AlertState = Literal["firing", "resolved"]
ALERT_STATES: tuple[str, ...] = ("firing", "resolved")
# what an AlertEvent records; "suppressed": the condition held again inside the cooldown, so nothing was sent
ALERT_EVENT_KINDS: tuple[str, ...] = ("opened", "resolved", "notified", "notify_failed", "suppressed")


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class Monitor:
    """What to watch (``model``, ``route`` or None for every route), how (``config``: columns, windows,
    rules, notifiers), and against what (``reference``: where the reference data and its profile are)."""

    id: str
    name: str
    model: str
    route: str | None
    config: dict[str, Any]
    reference: dict[str, Any]
    created_ms: int
    created_by: str
    updated_ms: int

    @property
    def created_at(self) -> datetime:
        return _at(self.created_ms)


@dataclass(frozen=True)
class WindowResult:
    """The metrics of one window ``[start_ms, end_ms)`` of one model version and slice ("" = all rows).

    ``metrics`` is flat (``"drift_share"``, ``"psi(temperature)"``, ``"f1"``); None means not computed or
    not computable (no labels yet). ``details`` holds what a report shows but no rule reads."""

    monitor_id: str
    start_ms: int
    end_ms: int
    model_version: int
    slice: str
    metrics: dict[str, float | None]
    details: dict[str, Any] = field(default_factory=dict)
    computed_ms: int = 0

    @property
    def start(self) -> datetime:
        return _at(self.start_ms)

    @property
    def end(self) -> datetime:
        return _at(self.end_ms)


@dataclass(frozen=True)
class Alert:
    """One incident: ``rule`` held on the slice ``key`` ("" = all rows) from the window starting at
    ``window_start_ms``; ``value`` is the rule's metric in the newest window seen. An ``id`` of "" asks
    ``save_alert`` for a new one."""

    id: str
    monitor_id: str
    rule: str
    key: str
    state: AlertState
    opened_ms: int
    updated_ms: int
    resolved_ms: int | None
    value: float | None
    window_start_ms: int
    last_notified_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        return self.state == "firing"


@dataclass(frozen=True)
class AlertEvent:
    """One step of an alert's history: ``kind`` is one of ALERT_EVENT_KINDS; ``notifier`` names the
    notifier for "notified" and "notify_failed" (whose ``details`` carry the error)."""

    id: int
    alert_id: str
    at_ms: int
    kind: str
    notifier: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def at(self) -> datetime:
        return _at(self.at_ms)
