"""Store contract for monitoring: monitors, window results, alerts and their history (SQLite, PostgreSQL)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from loopml.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.store import Alert, Monitor, SqlStore, WindowResult

HOUR = 3_600_000


def add_monitor(store: SqlStore, name: str = "churn-live", **kw: Any) -> Monitor:
    fields: dict[str, Any] = {
        "model": "churn",
        "route": "champion",
        "config": {"window": "1h", "rules": ["drift_share >= 0.3 for 2 windows"]},
        "reference": {"dataset": "churn-eval:3", "profile_digest": "a" * 64},
        "created_ms": 10,
        "created_by": "ada",
    }
    fields.update(kw)
    return store.monitors.create(name, **fields)


def window(monitor: Monitor, hour: int, **kw: Any) -> WindowResult:
    fields: dict[str, Any] = {
        "model_version": 1,
        "slice": "",
        "metrics": {"rows": 100.0, "drift_share": 0.1},
        "details": {},
        "computed_ms": 1000 + hour,
    }
    fields.update(kw)
    return WindowResult(monitor.id, hour * HOUR, (hour + 1) * HOUR, **fields)


def firing(monitor: Monitor, rule: str = "f1 < 0.8", key: str = "", **kw: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": "",
        "monitor_id": monitor.id,
        "rule": rule,
        "key": key,
        "state": "firing",
        "opened_ms": 5 * HOUR,
        "updated_ms": 5 * HOUR,
        "resolved_ms": None,
        "value": 0.7,
        "window_start_ms": 4 * HOUR,
    }
    fields.update(kw)
    return Alert(**fields)


class TestMonitors:
    def test_a_monitor_is_created_read_listed_and_updated(self, store: SqlStore) -> None:
        m = add_monitor(store)
        add_monitor(store, "fraud-canary", model="fraud", route="canary")
        add_monitor(store, "churn-all", route=None)
        assert store.monitors.get("churn-live") == m
        assert (m.model, m.route, m.created_by, m.created_ms, m.updated_ms) == (
            "churn",
            "champion",
            "ada",
            10,
            10,
        )
        assert m.config["rules"] == ["drift_share >= 0.3 for 2 windows"]
        assert [x.name for x in store.monitors.list()] == ["churn-all", "churn-live", "fraud-canary"]
        assert [x.name for x in store.monitors.list(model="churn")] == ["churn-all", "churn-live"]
        assert store.monitors.get("churn-all").route is None

        updated = store.monitors.update("churn-live", config={"window": "1d"}, updated_ms=20)
        assert (updated.config, updated.reference, updated.updated_ms) == ({"window": "1d"}, m.reference, 20)
        moved = store.monitors.update("churn-live", reference={"profile_digest": "b" * 64}, updated_ms=30)
        assert (moved.config, moved.reference["profile_digest"]) == ({"window": "1d"}, "b" * 64)
        assert store.monitors.get("churn-live") == moved

    def test_a_name_is_taken_once(self, store: SqlStore) -> None:
        add_monitor(store)
        with pytest.raises(ConflictError, match="named 'churn-live' exists"):
            add_monitor(store, model="other")
        assert len(store.monitors.list()) == 1

    def test_an_unknown_monitor_is_not_found(self, store: SqlStore) -> None:
        with pytest.raises(NotFoundError, match="monitor ls"):
            store.monitors.get("nope")
        with pytest.raises(NotFoundError):
            store.monitors.update("nope", config={}, updated_ms=1)
        with pytest.raises(NotFoundError):
            store.monitors.delete("nope")
        with pytest.raises(NotFoundError):
            store.monitors.put_windows("no-such-id", [WindowResult("no-such-id", 0, 1, 1, "", {})])

    def test_config_that_is_not_json_is_refused(self, store: SqlStore) -> None:
        with pytest.raises(InvalidArgumentError, match="must be JSON"):
            add_monitor(store, config={"when": object()})
        with pytest.raises(InvalidArgumentError, match="name and a model"):
            add_monitor(store, "")

    def test_the_reference_blobs_are_referenced(self, store: SqlStore) -> None:
        add_monitor(
            store,
            reference={"profile_digest": "a" * 64, "data_digest": "b" * 64, "predictions_digest": "c" * 64},
        )
        add_monitor(store, "other", reference={"dataset": "x:1", "profile_digest": None})
        assert {"a" * 64, "b" * 64, "c" * 64} <= set(store.referenced_digests())
        store.monitors.delete("churn-live")
        assert "a" * 64 not in set(store.referenced_digests())


class TestWindows:
    def test_windows_are_stored_and_read_by_time_version_and_slice(self, store: SqlStore) -> None:
        m = add_monitor(store)
        store.monitors.put_windows(
            m.id,
            [
                window(m, 2),
                window(m, 0, details={"top": ["temperature"]}),
                window(m, 1),
                window(m, 1, model_version=2),
                window(m, 1, slice="region=eu", metrics={"rows": 40.0, "f1": None}),
            ],
        )
        got = store.monitors.windows(m.id)
        assert [(w.start_ms // HOUR, w.model_version, w.slice) for w in got] == [
            (0, 1, ""),
            (1, 1, ""),
            (1, 1, "region=eu"),
            (1, 2, ""),
            (2, 1, ""),
        ]
        assert got[0] == window(m, 0, details={"top": ["temperature"]})
        assert got[2].metrics == {"rows": 40.0, "f1": None}
        assert got[0].end_ms - got[0].start_ms == HOUR
        # windows overlapping [since, until)
        assert [
            w.start_ms // HOUR for w in store.monitors.windows(m.id, since_ms=HOUR, until_ms=2 * HOUR)
        ] == [
            1,
            1,
            1,
        ]
        assert [w.start_ms // HOUR for w in store.monitors.windows(m.id, since_ms=2 * HOUR)] == [2]
        assert len(store.monitors.windows(m.id, model_version=2)) == 1
        assert [w.slice for w in store.monitors.windows(m.id, slice="region=eu")] == ["region=eu"]
        assert store.monitors.windows("other") == []

    def test_computing_a_window_again_stores_one_row_with_the_newer_values(self, store: SqlStore) -> None:
        m = add_monitor(store)
        store.monitors.put_windows(m.id, [window(m, 0, metrics={"f1": None}, computed_ms=100)])
        store.monitors.put_windows(
            m.id, [window(m, 0, metrics={"f1": 0.9, "labelled_rows": 80}, computed_ms=200)]
        )
        assert [(w.metrics, w.computed_ms) for w in store.monitors.windows(m.id)] == [
            ({"f1": 0.9, "labelled_rows": 80.0}, 200)
        ]
        # a result computed before the stored one (a slower concurrent check) does not overwrite it
        store.monitors.put_windows(m.id, [window(m, 0, metrics={"f1": 0.5}, computed_ms=150)])
        assert store.monitors.windows(m.id)[0].metrics["f1"] == 0.9
        # the same window twice in one call: the later computation wins
        store.monitors.put_windows(
            m.id,
            [
                window(m, 0, metrics={"f1": 0.7}, computed_ms=400),
                window(m, 0, metrics={"f1": 0.6}, computed_ms=300),
            ],
        )
        assert [w.metrics["f1"] for w in store.monitors.windows(m.id)] == [0.7]

    def test_a_window_computed_again_drops_the_results_it_no_longer_has(self, store: SqlStore) -> None:
        m = add_monitor(store)
        # empty at first (a placeholder of the version before), with a slice; then late rows of version 2
        store.monitors.put_windows(
            m.id, [window(m, 0, metrics={"rows": 0.0}), window(m, 0, slice="region=eu"), window(m, 1)]
        )
        store.monitors.put_windows(m.id, [window(m, 0, model_version=2, computed_ms=2000)])
        assert [(w.start_ms // HOUR, w.model_version, w.slice) for w in store.monitors.windows(m.id)] == [
            (0, 2, ""),
            (1, 1, ""),
        ]
        # a slower check's older results neither come back nor remove the newer ones
        store.monitors.put_windows(m.id, [window(m, 0, model_version=1, computed_ms=1500)])
        assert [(w.start_ms // HOUR, w.model_version) for w in store.monitors.windows(m.id)] == [
            (0, 2),
            (1, 1),
        ]

    def test_metrics_are_numbers_or_null(self, store: SqlStore) -> None:
        m = add_monitor(store)
        store.monitors.put_windows(
            m.id,
            [window(m, 0, metrics={"rows": 3, "drifted": True, "psi(x)": math.nan, "kl_div(x)": math.inf})],
        )
        assert store.monitors.windows(m.id)[0].metrics == {
            "rows": 3.0,
            "drifted": 1.0,
            "psi(x)": None,
            "kl_div(x)": math.inf,
        }
        with pytest.raises(
            InvalidArgumentError,
            match=r"metric .rows.*number or None|metrics\.rows: Input should be a valid number",
        ):
            store.monitors.put_windows(m.id, [window(m, 1, metrics={"rows": "many"})])

    def test_a_bad_window_is_refused(self, store: SqlStore) -> None:
        m = add_monitor(store)
        other = add_monitor(store, "other")
        with pytest.raises(InvalidArgumentError, match="start_ms < end_ms"):
            store.monitors.put_windows(m.id, [WindowResult(m.id, 5, 5, 1, "", {})])
        with pytest.raises(InvalidArgumentError, match="was given to monitor"):
            store.monitors.put_windows(m.id, [window(other, 0)])
        store.monitors.put_windows(m.id, [])
        assert store.monitors.windows(m.id) == []


class TestAlerts:
    def test_an_alert_is_saved_updated_and_listed(self, store: SqlStore) -> None:
        m = add_monitor(store)
        a = store.monitors.save_alert(firing(m, details={"slice": ""}))
        assert len(a.id) == 32 and a.state == "firing" and a.details == {"slice": ""}
        assert store.monitors.alerts() == [a]
        notified = store.monitors.save_alert(replace(a, last_notified_ms=6 * HOUR, value=0.65))
        assert store.monitors.alerts(m.id) == [notified]
        resolved = store.monitors.save_alert(
            replace(notified, state="resolved", resolved_ms=8 * HOUR, updated_ms=8 * HOUR)
        )
        assert store.monitors.alerts(m.id, state="firing") == []
        assert store.monitors.alerts(m.id, state="resolved") == [resolved]
        assert resolved.resolved_ms == 8 * HOUR and resolved.last_notified_ms == 6 * HOUR
        with pytest.raises(InvalidArgumentError, match="firing, resolved"):
            store.monitors.alerts(state="open")

    def test_one_firing_alert_per_monitor_rule_and_slice(self, store: SqlStore) -> None:
        m = add_monitor(store)
        first = store.monitors.save_alert(firing(m))
        with pytest.raises(ConflictError, match="already has a firing alert"):
            store.monitors.save_alert(firing(m, opened_ms=6 * HOUR))
        # another slice, another rule, or once the first has resolved: allowed
        store.monitors.save_alert(firing(m, key="region=eu", opened_ms=6 * HOUR))
        store.monitors.save_alert(firing(m, rule="error_rate > 0.01", opened_ms=7 * HOUR))
        store.monitors.save_alert(replace(first, state="resolved", resolved_ms=8 * HOUR))
        again = store.monitors.save_alert(firing(m, opened_ms=9 * HOUR))
        store.monitors.save_alert(replace(again, state="resolved", resolved_ms=10 * HOUR))
        rules = [(a.rule, a.key, a.state) for a in store.monitors.alerts(m.id)]
        assert rules == [
            ("f1 < 0.8", "", "resolved"),
            ("f1 < 0.8", "region=eu", "firing"),
            ("error_rate > 0.01", "", "firing"),
            ("f1 < 0.8", "", "resolved"),
        ]

    def test_a_bad_alert_is_refused(self, store: SqlStore) -> None:
        m = add_monitor(store)
        with pytest.raises(
            InvalidArgumentError,
            match=r"state is one of|alert\.state: Input should be 'firing' or 'resolved'",
        ):
            store.monitors.save_alert(firing(m, state="open"))
        with pytest.raises(NotFoundError):
            store.monitors.save_alert(firing(m, monitor_id="nope"))
        with pytest.raises(InvalidArgumentError, match="at most 500"):
            store.monitors.save_alert(firing(m, rule="x" * 501))

    def test_alert_events_are_the_alerts_history(self, store: SqlStore) -> None:
        m = add_monitor(store)
        a = store.monitors.save_alert(firing(m))
        b = store.monitors.save_alert(firing(m, rule="error_rate > 0.01", opened_ms=6 * HOUR))
        store.monitors.add_alert_event(a.id, at_ms=5 * HOUR, kind="opened")
        failed = store.monitors.add_alert_event(
            a.id, at_ms=5 * HOUR, kind="notify_failed", notifier="webhook", details={"error": "HTTP 500"}
        )
        store.monitors.add_alert_event(b.id, at_ms=6 * HOUR, kind="opened")
        store.monitors.add_alert_event(a.id, at_ms=7 * HOUR, kind="resolved", details={"value": 0.85})
        assert (failed.kind, failed.notifier, failed.details, failed.alert_id) == (
            "notify_failed",
            "webhook",
            {"error": "HTTP 500"},
            a.id,
        )
        assert [e.kind for e in store.monitors.alert_events(a.id)] == ["opened", "notify_failed", "resolved"]
        assert store.monitors.alert_events(a.id)[1] == failed
        assert [e.kind for e in store.monitors.alert_events(monitor_id=m.id)] == [
            "opened",
            "notify_failed",
            "opened",
            "resolved",
        ]
        assert len(store.monitors.alert_events()) == 4
        with pytest.raises(InvalidArgumentError, match="kind is one of"):
            store.monitors.add_alert_event(a.id, at_ms=1, kind="exploded")
        with pytest.raises(NotFoundError):
            store.monitors.add_alert_event("nope", at_ms=1, kind="opened")


def test_deleting_a_monitor_deletes_its_windows_alerts_and_events(store: SqlStore) -> None:
    m, keep = add_monitor(store), add_monitor(store, "keep")
    for mon in (m, keep):
        store.monitors.put_windows(mon.id, [window(mon, 0), window(mon, 1)])
        alert = store.monitors.save_alert(firing(mon))
        store.monitors.add_alert_event(alert.id, at_ms=1, kind="opened")
    store.monitors.delete("churn-live")
    with pytest.raises(NotFoundError):
        store.monitors.get("churn-live")
    assert store.monitors.windows(m.id) == [] and store.monitors.alerts(m.id) == []
    assert store.monitors.alert_events(monitor_id=m.id) == []
    assert len(store.monitors.windows(keep.id)) == 2 and len(store.monitors.alert_events()) == 1
    again = add_monitor(store)  # the name is free again
    assert again.id != m.id
