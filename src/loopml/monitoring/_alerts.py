"""The alert manager: from a monitor's window results to alerts in the Store and messages to people.

``AlertManager(store, monitor, rules, notifiers).evaluate(windows)`` walks each rule over the monitor's
stored windows of each slice, oldest first, and acts on the windows it is given (the ones a check just
computed):

- **One incident, one alert.** When a rule fires on a slice and no alert of that rule and slice is open,
  an ``Alert`` opens (event "opened") and every notifier is sent one message; while the rule keeps firing,
  the alert only follows its value, without a message per window. When the condition stops holding, the
  alert resolves (event "resolved") and a second message says so. A window where the metric is missing
  (no labels yet) changes nothing: an open alert stays open, none opens.
- **A cooldown.** A rule that fires again on a window starting less than ``cooldown_s`` after the end of
  the window that resolved its last alert does not re-open it: the resolved alert gets a "suppressed"
  event and nobody is told. Time here is the windows' time, not the clock's, so checking ten days of
  windows at once gives the alerts the same ten days would have given live.
- **Idempotent.** Each alert remembers the newest window it has taken into account; windows at or before
  it are passed over, so running a check twice over the same windows changes nothing, and a late label
  that changes an old window does not re-open a closed incident. The database keeps at most one firing
  alert per (monitor, rule, slice), so two checks at once cannot open (and announce) an incident twice.
- **Delivery failures are history, not exceptions.** A notifier that raises gets a "notify_failed" event
  with the error; the others are still sent; ``evaluate`` never raises for a notifier.

``evaluate`` returns the alert events it recorded, in order, so a caller can say what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from loopml.errors import ConflictError, InvalidArgumentError
from loopml.monitoring._notifiers import AlertMessage, Notifier
from loopml.monitoring._rules import Rule, RuleOutcome

if TYPE_CHECKING:
    from loopml.store import Alert, AlertEvent, Monitor, Store, WindowResult

Position = tuple[int, int, int]  # (start_ms, end_ms, model_version): where a window sits in time order
_ERROR_LIMIT = 1000  # characters of a notifier's error kept in its event


def _position(window: WindowResult) -> Position:
    return (window.start_ms, window.end_ms, window.model_version)


class AlertManager:
    """Keeps the alerts of one monitor (see the module documentation). ``clock`` gives the time recorded
    on alerts and events (seconds since the epoch); ``cooldown_s`` is how long, in window time, a resolved
    alert stays quiet."""

    def __init__(
        self,
        store: Store,
        monitor: Monitor,
        rules: Iterable[str | Rule],
        notifiers: Sequence[Notifier] = (),
        *,
        clock: Callable[[], float] = time.time,
        cooldown_s: float = 3600.0,
    ) -> None:
        if cooldown_s < 0:
            raise InvalidArgumentError(f"cooldown_s is 0 or more seconds (got {cooldown_s}).")
        parsed = [Rule.parse(r) for r in rules]
        self.store = store
        self.monitor = monitor
        self.rules = list({r.text: r for r in parsed}.values())  # the same rule twice is one rule
        self.notifiers = list(notifiers)
        self.clock = clock
        self.cooldown_ms = int(cooldown_s * 1000)

    def evaluate(self, windows: Sequence[WindowResult]) -> list[AlertEvent]:
        """Act on ``windows`` (new or recomputed results of this monitor), reading the stored windows
        before them for ``for N windows``; returns the events recorded."""
        for w in windows:
            if w.monitor_id != self.monitor.id:
                raise InvalidArgumentError(
                    f"a window of monitor {w.monitor_id!r} was given to the alerts of {self.monitor.name!r}."
                )
        if not windows or not self.rules:
            return []
        new = {(*_position(w), w.slice): w for w in windows}
        until = max(w.end_ms for w in windows)
        known = {
            (*_position(w), w.slice): w for w in self.store.monitors.windows(self.monitor.id, until_ms=until)
        }
        known.update(new)  # what we were given wins over what is stored
        by_slice: dict[str, list[WindowResult]] = {}
        for w in sorted(known.values(), key=_position):
            by_slice.setdefault(w.slice, []).append(w)
        slices = sorted({w.slice for w in windows})
        stored: dict[tuple[str, str], list[Alert]] = {}
        for alert in self.store.monitors.alerts(self.monitor.id):
            stored.setdefault((alert.rule, alert.key), []).append(alert)
        recorded: list[AlertEvent] = []
        for rule in self.rules:
            for key in slices:
                sequence = by_slice[key]
                outcomes = rule.evaluate([w.metrics for w in sequence])
                acted = [
                    (w, o) for w, o in zip(sequence, outcomes, strict=True) if (*_position(w), key) in new
                ]
                current = _current(stored.get((rule.text, key), []))
                recorded.extend(self._walk(rule, key, current, acted))
        return recorded

    # -- one rule on one slice
    def _walk(
        self, rule: Rule, key: str, current: Alert | None, steps: list[tuple[WindowResult, RuleOutcome]]
    ) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for window, outcome in steps:
            if current is not None and _position(window) <= _last_window(current):
                continue  # already taken into account
            if outcome.state == "firing":
                if current is not None and current.firing:
                    current = self._follow(current, window, outcome)
                elif current is not None and window.start_ms < _quiet_until(current, self.cooldown_ms):
                    current = self._suppress(current, window, outcome, events)
                else:
                    current = self._open(rule, key, window, outcome, events)
            elif outcome.state == "ok" and current is not None and current.firing:
                current = self._resolve(rule, current, window, outcome, events)
        return events

    def _now(self) -> int:
        return int(self.clock() * 1000)

    def _follow(self, alert: Alert, window: WindowResult, outcome: RuleOutcome) -> Alert:
        details = {**alert.details, "last_window": list(_position(window)), "streak": outcome.streak}
        return self.store.monitors.save_alert(
            replace(alert, value=outcome.value, updated_ms=self._now(), details=details)
        )

    def _open(
        self, rule: Rule, key: str, window: WindowResult, outcome: RuleOutcome, events: list[AlertEvent]
    ) -> Alert | None:
        now = self._now()
        try:
            opened = self.store.monitors.save_alert(
                _new_alert(self.monitor.id, rule, key, window, outcome, now)
            )
        except ConflictError:  # another check opened it a moment ago, and tells people itself
            alerts = self.store.monitors.alerts(self.monitor.id, state="firing")
            return _current([a for a in alerts if a.rule == rule.text and a.key == key])
        details = {"value": outcome.value, "window": list(_position(window)), "streak": outcome.streak}
        events.append(
            self.store.monitors.add_alert_event(opened.id, at_ms=now, kind="opened", details=details)
        )
        return self._notify(opened, rule, window, events)

    def _resolve(
        self, rule: Rule, alert: Alert, window: WindowResult, outcome: RuleOutcome, events: list[AlertEvent]
    ) -> Alert:
        now = self._now()
        position = list(_position(window))
        resolved = self.store.monitors.save_alert(
            replace(
                alert,
                state="resolved",
                resolved_ms=now,
                updated_ms=now,
                value=outcome.value,
                details={**alert.details, "last_window": position, "resolved_window": position, "streak": 0},
            )
        )
        details = {"value": outcome.value, "window": position}
        events.append(
            self.store.monitors.add_alert_event(resolved.id, at_ms=now, kind="resolved", details=details)
        )
        return self._notify(resolved, rule, window, events)

    def _suppress(
        self, alert: Alert, window: WindowResult, outcome: RuleOutcome, events: list[AlertEvent]
    ) -> Alert:
        now = self._now()
        position = list(_position(window))
        details = {
            "value": outcome.value,
            "window": position,
            "quiet_until_ms": _quiet_until(alert, self.cooldown_ms),
        }
        events.append(
            self.store.monitors.add_alert_event(alert.id, at_ms=now, kind="suppressed", details=details)
        )
        return self.store.monitors.save_alert(
            replace(alert, updated_ms=now, details={**alert.details, "last_window": position})
        )

    def _notify(self, alert: Alert, rule: Rule, window: WindowResult, events: list[AlertEvent]) -> Alert:
        """Send the alert's news to every notifier; a failure is recorded and the next notifier tried."""
        if not self.notifiers:
            return alert
        message = self._message(alert, rule, window)
        delivered = False
        for notifier in self.notifiers:
            name = getattr(notifier, "name", type(notifier).__name__)
            try:
                notifier.send(message)
            except Exception as exc:  # any notifier, ours or a user's: record it, never raise
                error = f"{type(exc).__name__}: {exc}"[:_ERROR_LIMIT]
                kind, details = "notify_failed", {"state": alert.state, "error": error}
            else:
                delivered = True
                kind, details = "notified", {"state": alert.state}
            events.append(
                self.store.monitors.add_alert_event(
                    alert.id, at_ms=self._now(), kind=kind, notifier=str(name), details=details
                )
            )
        if not delivered:
            return alert
        return self.store.monitors.save_alert(replace(alert, last_notified_ms=self._now()))

    def _message(self, alert: Alert, rule: Rule, window: WindowResult) -> AlertMessage:
        return AlertMessage(
            alert_id=alert.id,
            monitor=self.monitor.name,
            model=self.monitor.model,
            route=self.monitor.route,
            rule=rule.text,
            metric=rule.metric,
            state=alert.state,
            value=alert.value,
            slice=alert.key,
            window_start_ms=window.start_ms,
            window_end_ms=window.end_ms,
            opened_ms=alert.opened_ms,
            at_ms=self._now(),
            model_version=window.model_version,
            resolved_ms=alert.resolved_ms,
            details={"opened_window_start_ms": alert.window_start_ms, "streak": alert.details.get("streak")},
        )


def _new_alert(
    monitor_id: str, rule: Rule, key: str, window: WindowResult, outcome: RuleOutcome, now: int
) -> Alert:
    from loopml.store import Alert

    details: dict[str, Any] = {
        "metric": rule.metric,
        "model_version": window.model_version,
        "window_end_ms": window.end_ms,
        "last_window": list(_position(window)),
        "streak": outcome.streak,
    }
    return Alert(
        id="",
        monitor_id=monitor_id,
        rule=rule.text,
        key=key,
        state="firing",
        opened_ms=now,
        updated_ms=now,
        resolved_ms=None,
        value=outcome.value,
        window_start_ms=window.start_ms,
        details=details,
    )


def _current(alerts: Sequence[Alert]) -> Alert | None:
    """Of the alerts of one rule on one slice: the firing one, else the newest resolved one, else None."""
    firing = [a for a in alerts if a.firing]
    if firing:
        return firing[0]
    # alerts opened by one check share a clock time: the newest is the one that saw the newest window
    return max(alerts, key=lambda a: (_last_window(a), a.opened_ms), default=None)


def _last_window(alert: Alert) -> Position:
    last = alert.details.get("last_window")
    if isinstance(last, list) and len(last) == 3:
        return (int(last[0]), int(last[1]), int(last[2]))
    return (alert.window_start_ms, alert.window_start_ms, -1)


def _quiet_until(alert: Alert, cooldown_ms: int) -> int:
    """Windows starting before this are inside the cooldown of a resolved alert."""
    resolved = alert.details.get("resolved_window")
    end = int(resolved[1]) if isinstance(resolved, list) and len(resolved) == 3 else _last_window(alert)[1]
    return end + cooldown_ms
