"""The alert manager on a real SqlStore (SQLite and PostgreSQL) with simulated clocks: one alert per
incident, a cooldown against flapping, idempotent re-runs, missing metrics, slices, and delivery failures
recorded, never raised."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

import pytest

from loopml.errors import InvalidArgumentError
from loopml.monitoring import AlertManager, AlertMessage, Notifier, WebhookNotifier
from loopml.store import Monitor, SqlStore, WindowResult

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_714_521_600_000  # 2024-05-01T00:00:00Z


class Clock:
    """Simulated time in seconds; tests move it with the windows."""

    def __init__(self, ms: int = T0) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


class Inbox(Notifier):
    name = "inbox"

    def __init__(self) -> None:
        self.messages: list[AlertMessage] = []

    def send(self, message: AlertMessage) -> None:
        self.messages.append(message)

    @property
    def states(self) -> list[str]:
        return [m.state for m in self.messages]


class Broken(Notifier):
    name = "broken"

    def send(self, message: AlertMessage) -> None:
        raise ConnectionError("webhook answered 500")


@pytest.fixture
def monitor(store: SqlStore) -> Monitor:
    return store.monitors.create(
        "churn-live",
        model="churn",
        route="champion",
        config={},
        reference={},
        created_ms=T0,
        created_by="ada",
    )


def windows(
    monitor: Monitor,
    metric: str,
    values: Sequence[float | None],
    *,
    size: int = DAY,
    slice: str = "",
    first: int = 0,
) -> list[WindowResult]:
    return [
        WindowResult(
            monitor.id,
            T0 + (first + i) * size,
            T0 + (first + i + 1) * size,
            1,
            slice,
            {metric: v, "rows": 100.0},
            computed_ms=T0 + (first + i + 1) * size,
        )
        for i, v in enumerate(values)
    ]


def check(
    store: SqlStore, manager: AlertManager, results: Sequence[WindowResult], clock: Clock | None = None
) -> list[str]:
    """What `monitor check` does: store the windows, then evaluate them; returns the event kinds."""
    if clock is not None:
        clock.ms = max(w.end_ms for w in results) + 60_000
    store.monitors.put_windows(manager.monitor.id, results)
    return [e.kind for e in manager.evaluate(results)]


def test_an_incident_is_one_alert_one_message_and_its_resolution_another(
    store: SqlStore, monitor: Monitor
) -> None:
    clock, inbox = Clock(), Inbox()
    manager = AlertManager(store, monitor, ["drift_share >= 0.3 for 2 windows"], [inbox], clock=clock)
    days = windows(monitor, "drift_share", [0.1, 0.1, 0.4, 0.5, 0.6, 0.7, 0.2, 0.1])
    kinds = [check(store, manager, [day], clock) for day in days]  # one check a day, like cron
    assert kinds == [[], [], [], ["opened", "notified"], [], [], ["resolved", "notified"], []]

    [alert] = store.monitors.alerts(monitor.id)
    assert (alert.rule, alert.key, alert.state) == ("drift_share >= 0.3 for 2 windows", "", "resolved")
    assert alert.window_start_ms == T0 + 3 * DAY  # the second window in a row over the threshold
    assert alert.opened_ms == T0 + 4 * DAY + 60_000 and alert.resolved_ms == T0 + 7 * DAY + 60_000
    assert alert.value == 0.2 and alert.last_notified_ms == alert.resolved_ms

    assert inbox.states == ["firing", "resolved"]
    opened, resolved = inbox.messages
    assert (opened.monitor, opened.model, opened.route, opened.rule) == (
        "churn-live",
        "churn",
        "champion",
        "drift_share >= 0.3 for 2 windows",
    )
    assert (opened.value, opened.window_start_ms, opened.window_end_ms) == (0.5, T0 + 3 * DAY, T0 + 4 * DAY)
    assert (resolved.value, resolved.window_start_ms, resolved.resolved_ms) == (
        0.2,
        T0 + 6 * DAY,
        alert.resolved_ms,
    )
    history = [(e.kind, e.notifier) for e in store.monitors.alert_events(alert.id)]
    assert history == [("opened", ""), ("notified", "inbox"), ("resolved", ""), ("notified", "inbox")]


def test_checking_many_windows_at_once_gives_the_same_alerts(store: SqlStore, monitor: Monitor) -> None:
    inbox = Inbox()
    manager = AlertManager(store, monitor, ["drift_share >= 0.3 for 2 windows"], [inbox], clock=Clock())
    days = windows(monitor, "drift_share", [0.1, 0.4, 0.5, 0.2, 0.1, 0.6, 0.6, 0.6])
    assert check(store, manager, days) == ["opened", "notified", "resolved", "notified", "opened", "notified"]
    alerts = store.monitors.alerts(monitor.id)
    assert [(a.state, (a.window_start_ms - T0) // DAY) for a in alerts] == [("resolved", 2), ("firing", 6)]
    assert alerts[1].value == 0.6 and inbox.states == ["firing", "resolved", "firing"]


def test_running_again_over_the_same_windows_changes_nothing(store: SqlStore, monitor: Monitor) -> None:
    clock, inbox = Clock(), Inbox()
    manager = AlertManager(store, monitor, ["error_rate > 0.01", "drift_share > 0.3"], [inbox], clock=clock)
    days = windows(monitor, "error_rate", [0.0, 0.05, 0.02, 0.0, 0.03])
    check(store, manager, days, clock)
    before = (store.monitors.alerts(), store.monitors.alert_events(), len(inbox.messages))
    clock.ms += DAY
    for _ in range(2):
        assert check(store, manager, days, clock) == []
        assert check(store, manager, days[2:3], clock) == []  # one old window again
    assert (store.monitors.alerts(), store.monitors.alert_events(), len(inbox.messages)) == before
    # a new manager (the next `monitor check` process) agrees
    again = AlertManager(store, monitor, ["error_rate > 0.01"], [inbox], clock=clock)
    # opened on day 1, resolved on day 3; day 4 fell in the cooldown (an hour after the resolving window)
    assert again.evaluate(days) == [] and len(inbox.messages) == before[2] == 2


def test_a_flapping_rule_does_not_reopen_within_the_cooldown(store: SqlStore, monitor: Monitor) -> None:
    clock, inbox = Clock(), Inbox()
    manager = AlertManager(store, monitor, ["drift_share > 0.3"], [inbox], clock=clock, cooldown_s=2 * 3600)
    hours = windows(monitor, "drift_share", [0.5, 0.1, 0.5, 0.1, 0.5, 0.6], size=HOUR)
    kinds = [check(store, manager, [h], clock) for h in hours]
    # opens, resolves at hour 1 (quiet until 2 h after that window ends: hour 4), fires at hour 2: suppressed
    assert kinds == [
        ["opened", "notified"],
        ["resolved", "notified"],
        ["suppressed"],
        [],
        ["opened", "notified"],
        [],
    ]
    first, second = store.monitors.alerts(monitor.id)
    assert (first.state, second.state, (second.window_start_ms - T0) // HOUR) == ("resolved", "firing", 4)
    [suppressed] = [e for e in store.monitors.alert_events(first.id) if e.kind == "suppressed"]
    assert suppressed.details["value"] == 0.5 and suppressed.details["quiet_until_ms"] == T0 + 4 * HOUR
    assert inbox.states == ["firing", "resolved", "firing"]
    assert check(store, manager, hours, clock) == []  # and re-running records no second suppression


def test_without_a_cooldown_the_rule_reopens_at_once(store: SqlStore, monitor: Monitor) -> None:
    inbox = Inbox()
    manager = AlertManager(store, monitor, ["drift_share > 0.3"], [inbox], clock=Clock(), cooldown_s=0)
    check(store, manager, windows(monitor, "drift_share", [0.5, 0.1, 0.5], size=HOUR))
    assert inbox.states == ["firing", "resolved", "firing"]


def test_a_missing_metric_neither_opens_nor_resolves(store: SqlStore, monitor: Monitor) -> None:
    clock, inbox = Clock(), Inbox()
    manager = AlertManager(store, monitor, ["f1 < 0.8"], [inbox], clock=clock)
    assert check(store, manager, windows(monitor, "f1", [None, None]), clock) == []
    assert store.monitors.alerts(monitor.id) == []
    check(store, manager, windows(monitor, "f1", [0.7], first=2), clock)
    assert check(store, manager, windows(monitor, "f1", [None, None], first=3), clock) == []  # no labels yet
    assert [a.state for a in store.monitors.alerts(monitor.id)] == ["firing"]
    assert check(store, manager, windows(monitor, "f1", [0.9], first=5), clock) == ["resolved", "notified"]


def test_late_labels_open_an_alert_for_windows_not_yet_seen_but_never_reopen_an_old_one(
    store: SqlStore, monitor: Monitor
) -> None:
    clock, inbox = Clock(), Inbox()
    manager = AlertManager(store, monitor, ["f1 < 0.8"], [inbox], clock=clock)
    check(store, manager, windows(monitor, "f1", [None, None, None]), clock)
    # labels arrive for days 0 and 1: the windows are recomputed and the drop is found
    late = windows(monitor, "f1", [0.9, 0.7])
    assert check(store, manager, late, clock) == ["opened", "notified"]
    assert check(store, manager, windows(monitor, "f1", [0.95], first=2), clock) == ["resolved", "notified"]
    # more labels change day 1 again: it lies before the newest window the alert took into account
    assert check(store, manager, windows(monitor, "f1", [0.6], first=1), clock) == []
    assert inbox.states == ["firing", "resolved"]


def test_each_slice_has_its_own_alert(store: SqlStore, monitor: Monitor) -> None:
    inbox = Inbox()
    manager = AlertManager(store, monitor, ["error_rate > 0.01"], [inbox], clock=Clock())
    eu = windows(monitor, "error_rate", [0.05, 0.05], slice="region=eu")
    us = windows(monitor, "error_rate", [0.0, 0.02], slice="region=us")
    everyone = windows(monitor, "error_rate", [0.02, 0.03])
    check(store, manager, [*eu, *us, *everyone])
    alerts = store.monitors.alerts(monitor.id)
    assert sorted((a.key, (a.window_start_ms - T0) // DAY) for a in alerts) == [
        ("", 0),
        ("region=eu", 0),
        ("region=us", 1),
    ]
    assert sorted(m.slice for m in inbox.messages) == ["", "region=eu", "region=us"]


def test_a_failing_notifier_is_recorded_and_the_others_still_told(store: SqlStore, monitor: Monitor) -> None:
    clock, inbox = Clock(), Inbox()
    manager = AlertManager(store, monitor, ["latency_p99_ms > 50"], [Broken(), inbox], clock=clock)
    kinds = check(store, manager, windows(monitor, "latency_p99_ms", [80.0]), clock)
    assert kinds == ["opened", "notify_failed", "notified"]
    [alert] = store.monitors.alerts(monitor.id)
    failed = store.monitors.alert_events(alert.id)[1]
    assert (failed.notifier, failed.details) == (
        "broken",
        {"state": "firing", "error": "ConnectionError: webhook answered 500"},
    )
    assert alert.last_notified_ms == clock.ms and len(inbox.messages) == 1


def test_when_every_notifier_fails_the_alert_is_still_kept(store: SqlStore, monitor: Monitor) -> None:
    manager = AlertManager(store, monitor, ["latency_p99_ms > 50"], [Broken()], clock=Clock())
    assert check(store, manager, windows(monitor, "latency_p99_ms", [80.0, 20.0])) == [
        "opened",
        "notify_failed",
        "resolved",
        "notify_failed",
    ]
    [alert] = store.monitors.alerts(monitor.id)
    assert alert.state == "resolved" and alert.last_notified_ms is None


def test_for_n_windows_reads_the_stored_windows_before_the_new_ones(
    store: SqlStore, monitor: Monitor
) -> None:
    clock = Clock()
    manager = AlertManager(store, monitor, ["drift_share >= 0.3 for 3 windows"], [], clock=clock)
    store.monitors.put_windows(monitor.id, windows(monitor, "drift_share", [0.4, 0.4]))  # checked earlier
    assert check(store, manager, windows(monitor, "drift_share", [0.5], first=2), clock) == ["opened"]


def test_bad_arguments_are_refused(store: SqlStore, monitor: Monitor) -> None:
    other = store.monitors.create(
        "other", model="m", route=None, config={}, reference={}, created_ms=T0, created_by="ada"
    )
    manager = AlertManager(store, monitor, ["f1 < 0.8"], [])
    with pytest.raises(InvalidArgumentError, match="was given to the alerts of 'churn-live'"):
        manager.evaluate(windows(other, "f1", [0.1]))
    with pytest.raises(InvalidArgumentError, match="cooldown_s"):
        AlertManager(store, monitor, ["f1 < 0.8"], [], cooldown_s=-1)
    assert manager.evaluate([]) == []
    same: Any = AlertManager(store, monitor, ["f1 < 0.8", "f1<0.80"], [])
    assert [r.text for r in same.rules] == ["f1 < 0.8"]


def test_a_webhook_nobody_answers_is_a_recorded_failure(store: SqlStore, monitor: Monitor) -> None:
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = WebhookNotifier(f"http://127.0.0.1:{port}/hook", retries=1, sleep=lambda s: None)
    manager = AlertManager(store, monitor, ["error_rate > 0.01"], [hook], clock=Clock())
    assert check(store, manager, windows(monitor, "error_rate", [0.5])) == ["opened", "notify_failed"]
    failed = store.monitors.alert_events(monitor_id=monitor.id)[-1]
    assert failed.notifier == "webhook"
    assert failed.details["error"].startswith("NotificationError: webhook to http://127.0.0.1")
    assert "after 2 attempts: cannot connect" in failed.details["error"]


def test_two_checks_at_once_open_and_announce_an_incident_once(store: SqlStore, monitor: Monitor) -> None:
    days = windows(monitor, "error_rate", [0.5])
    store.monitors.put_windows(monitor.id, days)
    other_inbox = Inbox()
    other = AlertManager(store, monitor, ["error_rate > 0.1"], [other_inbox], clock=Clock())

    class RacingInbox(Inbox):
        """While the first check announces its first rule, a second check opens the next rule's alert."""

        def send(self, message: AlertMessage) -> None:
            super().send(message)
            if len(self.messages) == 1:
                other.evaluate(days)

    inbox = RacingInbox()
    first = AlertManager(store, monitor, ["error_rate > 0.2", "error_rate > 0.1"], [inbox], clock=Clock())
    assert [e.kind for e in first.evaluate(days)] == ["opened", "notified"]  # the second rule lost the race
    assert [m.rule for m in inbox.messages] == ["error_rate > 0.2"]
    assert [m.rule for m in other_inbox.messages] == ["error_rate > 0.1"]
    assert sorted(a.rule for a in store.monitors.alerts(monitor.id)) == [
        "error_rate > 0.1",
        "error_rate > 0.2",
    ]
