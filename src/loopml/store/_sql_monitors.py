"""Monitors in SQL: the ``store.monitors`` repository of SqlStore.

A monitor's row says what it watches and against which reference; ``monitor_windows`` holds one row per
computed window (monitor, start, end, model version, slice), replaced when the window is computed again, so
checking twice stores the same rows; ``monitor_alerts`` holds the incidents, at most one firing per
(monitor, rule, slice), enforced by the database; ``monitor_alert_events`` is each alert's history.
Deleting a monitor deletes all of these in one transaction.
"""

from __future__ import annotations

import builtins
import json
import math
import numbers
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.store import _schema as t
from loopml.store._monitor_entities import (
    ALERT_EVENT_KINDS,
    ALERT_STATES,
    Alert,
    AlertEvent,
    Monitor,
    WindowResult,
)

if TYPE_CHECKING:
    from loopml.store._sql import SqlStore

_M = t.monitors.c
_W = t.monitor_windows.c
_A = t.monitor_alerts.c
_E = t.monitor_alert_events.c
_RULE_LENGTH = 500  # the column's width in _schema.monitor_alerts
_CHUNK = 500  # rows per statement: well under every database's limit on bound parameters


class SqlMonitorRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        windows = store.upsert_insert(t.monitor_windows)
        # a window computed again replaces its row, unless the stored one was computed later
        self._upsert_windows = windows.on_conflict_do_update(
            index_elements=["monitor_id", "start_ms", "end_ms", "model_version", "slice"],
            set_={
                "metrics_json": windows.excluded.metrics_json,
                "details_json": windows.excluded.details_json,
                "computed_ms": windows.excluded.computed_ms,
            },
            where=_W.computed_ms <= windows.excluded.computed_ms,
        )
        alerts = store.upsert_insert(t.monitor_alerts)
        self._upsert_alert = alerts.on_conflict_do_update(
            index_elements=["id"],
            set_={c.name: alerts.excluded[c.name] for c in t.monitor_alerts.c if c.name != "id"},
        )

    # -- monitors
    def create(
        self,
        name: str,
        *,
        model: str,
        route: str | None,
        config: Mapping[str, Any],
        reference: Mapping[str, Any],
        created_ms: int,
        created_by: str,
    ) -> Monitor:
        """Record a new monitor; a name already taken raises ``ConflictError``."""
        if not name or not model:
            raise InvalidArgumentError("a monitor needs a name and a model (both non-empty).")
        monitor = Monitor(
            id=uuid.uuid4().hex,
            name=name,
            model=model,
            route=route,
            config=_json_copy(config, f"the config of monitor {name!r}"),
            reference=_json_copy(reference, f"the reference of monitor {name!r}"),
            created_ms=created_ms,
            created_by=created_by,
            updated_ms=created_ms,
        )

        def write(conn: Connection) -> None:
            if conn.execute(select(_M.id).where(_M.name == name)).first() is not None:
                raise _taken(name)
            conn.execute(t.monitors.insert(), _monitor_row(monitor))

        try:
            self._store.write(write)
        except SqlIntegrityError as exc:  # created at the same moment by another process
            raise _taken(name) from exc
        return monitor

    def get(self, name: str) -> Monitor:
        with self._store.read() as conn:
            row = conn.execute(select(t.monitors).where(_M.name == name)).first()
        if row is None:
            raise NotFoundError(f"No monitor named {name!r}; `loopml monitor ls` lists them.")
        return _monitor(row)

    # the methods after this one write builtins.list: here `list` is the method
    def list(self, model: str | None = None) -> list[Monitor]:
        """Every monitor (of ``model``), by name."""
        query = select(t.monitors)
        if model is not None:
            query = query.where(_M.model == model)
        with self._store.read() as conn:
            return [_monitor(r) for r in conn.execute(query.order_by(_M.name))]

    def update(
        self,
        name: str,
        *,
        config: Mapping[str, Any] | None = None,
        reference: Mapping[str, Any] | None = None,
        updated_ms: int,
    ) -> Monitor:
        """Replace a monitor's config and/or reference (None keeps it)."""
        values: dict[str, Any] = {"updated_ms": updated_ms}
        if config is not None:
            values["config_json"] = _dumps(config, f"the config of monitor {name!r}")
        if reference is not None:
            values["reference_json"] = _dumps(reference, f"the reference of monitor {name!r}")

        def write(conn: Connection) -> None:
            if conn.execute(t.monitors.update().where(_M.name == name).values(**values)).rowcount == 0:
                raise NotFoundError(f"No monitor named {name!r}; `loopml monitor ls` lists them.")

        self._store.write(write)
        return self.get(name)

    def delete(self, name: str) -> None:
        """Delete a monitor with its windows, alerts and alert history."""

        def write(conn: Connection) -> None:
            monitor_id = conn.execute(select(_M.id).where(_M.name == name)).scalar()
            if monitor_id is None:
                raise NotFoundError(f"No monitor named {name!r}; `loopml monitor ls` lists them.")
            alert_ids = select(_A.id).where(_A.monitor_id == monitor_id).scalar_subquery()
            conn.execute(t.monitor_alert_events.delete().where(_E.alert_id.in_(alert_ids)))
            conn.execute(t.monitor_alerts.delete().where(_A.monitor_id == monitor_id))
            conn.execute(t.monitor_windows.delete().where(_W.monitor_id == monitor_id))
            conn.execute(t.monitors.delete().where(_M.id == monitor_id))

        self._store.write(write)

    # -- windows
    def put_windows(self, monitor_id: str, results: Sequence[WindowResult]) -> None:
        """Store window results; a window (monitor, start, end, model version, slice) stored again is
        replaced by the result computed later, so checking twice gives the same rows. A window's results are
        one computation: those given replace every result of the window computed before them, and one they
        do not include goes (the placeholder of a window that was empty before late rows came, a slice no
        longer among the top); given after a later computation of the window was stored, they are dropped."""
        latest: dict[tuple[int, int, int, str], dict[str, Any]] = {}
        for r in results:
            if r.monitor_id != monitor_id:
                raise InvalidArgumentError(
                    f"a window result of monitor {r.monitor_id!r} was given to monitor {monitor_id!r}."
                )
            if r.start_ms >= r.end_ms:
                raise InvalidArgumentError(
                    f"a window needs start_ms < end_ms (got {r.start_ms}..{r.end_ms})."
                )
            key = (r.start_ms, r.end_ms, r.model_version, r.slice)
            where = f"the window {r.start_ms}..{r.end_ms} (version {r.model_version}, slice {r.slice!r})"
            row = {
                "monitor_id": monitor_id,
                "start_ms": r.start_ms,
                "end_ms": r.end_ms,
                "model_version": r.model_version,
                "slice": r.slice,
                "metrics_json": json.dumps(_metrics(r.metrics, where), sort_keys=True),
                "details_json": _dumps(r.details, f"the details of {where}"),
                "computed_ms": r.computed_ms,
            }
            # one statement may not touch a row twice (PostgreSQL): the later result of a key wins
            if key not in latest or latest[key]["computed_ms"] <= r.computed_ms:
                latest[key] = row
        by_window: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for (start, end, _, _), row in latest.items():
            by_window.setdefault((start, end), []).append(row)

        def write(conn: Connection) -> None:
            _require_monitor(conn, monitor_id)
            rows = []
            for (start, end), given in by_window.items():
                window = (_W.monitor_id == monitor_id) & (_W.start_ms == start) & (_W.end_ms == end)
                stored = conn.execute(select(_W.model_version, _W.slice, _W.computed_ms).where(window)).all()
                if any(when > max(r["computed_ms"] for r in given) for _, _, when in stored):
                    continue  # a later computation of this window is stored: this one is outdated
                keys = {(r["model_version"], r["slice"]) for r in given}
                computed = min(r["computed_ms"] for r in given)
                for version, slice_, when in stored:
                    if (version, slice_) not in keys and when < computed:
                        conn.execute(
                            delete(t.monitor_windows).where(
                                window, _W.model_version == version, _W.slice == slice_
                            )
                        )
                rows.extend(given)
            for i in range(0, len(rows), _CHUNK):
                conn.execute(self._upsert_windows, rows[i : i + _CHUNK])

        if by_window:
            self._store.write(write)

    def windows(
        self,
        monitor_id: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        model_version: int | None = None,
        slice: str | None = None,
    ) -> builtins.list[WindowResult]:
        """The windows of a monitor that overlap [since_ms, until_ms), by start (then end, version, slice)."""
        query = select(t.monitor_windows).where(_W.monitor_id == monitor_id)
        if since_ms is not None:
            query = query.where(_W.end_ms > since_ms)
        if until_ms is not None:
            query = query.where(_W.start_ms < until_ms)
        if model_version is not None:
            query = query.where(_W.model_version == model_version)
        if slice is not None:
            query = query.where(_W.slice == slice)
        query = query.order_by(_W.start_ms, _W.end_ms, _W.model_version, _W.slice)
        with self._store.read() as conn:
            return [_window(r) for r in conn.execute(query)]

    # -- alerts
    def save_alert(self, alert: Alert) -> Alert:
        """Insert an alert (a new id when ``alert.id`` is "") or update the one with its id. A second firing
        alert of the same monitor, rule and slice raises ``ConflictError``."""
        if alert.state not in ALERT_STATES:
            raise InvalidArgumentError(
                f"an alert's state is one of {', '.join(ALERT_STATES)} (got {alert.state!r})."
            )
        if len(alert.rule) > _RULE_LENGTH:
            raise InvalidArgumentError(
                f"an alert rule has at most {_RULE_LENGTH} characters (got {len(alert.rule)})."
            )
        saved = alert if alert.id else replace(alert, id=uuid.uuid4().hex)
        row = {
            "id": saved.id,
            "monitor_id": saved.monitor_id,
            "rule": saved.rule,
            "key": saved.key,
            "state": saved.state,
            "firing": True if saved.state == "firing" else None,
            "opened_ms": saved.opened_ms,
            "updated_ms": saved.updated_ms,
            "resolved_ms": saved.resolved_ms,
            "value": _number(saved.value, "an alert's value"),
            "window_start_ms": saved.window_start_ms,
            "last_notified_ms": saved.last_notified_ms,
            "details_json": _dumps(saved.details, "an alert's details"),
        }

        def write(conn: Connection) -> Alert:
            _require_monitor(conn, saved.monitor_id)
            conn.execute(self._upsert_alert, row)
            return _alert(conn.execute(select(t.monitor_alerts).where(_A.id == saved.id)).one())

        try:
            return self._store.write(write)
        except SqlIntegrityError as exc:
            raise ConflictError(
                f"monitor {saved.monitor_id!r} already has a firing alert for {saved.rule!r} on slice "
                f"{saved.key!r}; update that one (or resolve it) instead."
            ) from exc

    def alerts(self, monitor_id: str | None = None, state: str | None = None) -> builtins.list[Alert]:
        """Alerts (of a monitor; in a state), oldest first (by when they opened, then by window)."""
        if state is not None and state not in ALERT_STATES:
            raise InvalidArgumentError(
                f"an alert's state is one of {', '.join(ALERT_STATES)} (got {state!r})."
            )
        query = select(t.monitor_alerts)
        if monitor_id is not None:
            query = query.where(_A.monitor_id == monitor_id)
        if state is not None:
            query = query.where(_A.state == state)
        with self._store.read() as conn:
            rows = conn.execute(query.order_by(_A.opened_ms, _A.window_start_ms, _A.id))
            return [_alert(r) for r in rows]

    def add_alert_event(
        self,
        alert_id: str,
        *,
        at_ms: int,
        kind: str,
        notifier: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> AlertEvent:
        """Append to an alert's history; ``kind`` is one of ALERT_EVENT_KINDS."""
        if kind not in ALERT_EVENT_KINDS:
            raise InvalidArgumentError(
                f"an alert event's kind is one of {', '.join(ALERT_EVENT_KINDS)} (got {kind!r})."
            )
        stored = _json_copy(details or {}, "an alert event's details")
        row = {
            "alert_id": alert_id,
            "at_ms": at_ms,
            "kind": kind,
            "notifier": notifier,
            "details_json": json.dumps(stored, sort_keys=True),
        }

        def write(conn: Connection) -> int:
            if conn.execute(select(_A.id).where(_A.id == alert_id)).first() is None:
                raise NotFoundError(f"No alert with id {alert_id!r}.")
            key = conn.execute(t.monitor_alert_events.insert(), row).inserted_primary_key
            assert key is not None
            return int(key[0])

        event_id = self._store.write(write)
        return AlertEvent(event_id, alert_id, at_ms, kind, notifier, stored)

    def alert_events(
        self, alert_id: str | None = None, monitor_id: str | None = None
    ) -> builtins.list[AlertEvent]:
        """The history of an alert (or of every alert of a monitor), in the order it happened."""
        query = select(t.monitor_alert_events)
        if alert_id is not None:
            query = query.where(_E.alert_id == alert_id)
        if monitor_id is not None:
            query = query.where(_E.alert_id.in_(select(_A.id).where(_A.monitor_id == monitor_id)))
        with self._store.read() as conn:
            rows = conn.execute(query.order_by(_E.at_ms, _E.id)).all()
        return [
            AlertEvent(r.id, r.alert_id, r.at_ms, r.kind, r.notifier, json.loads(r.details_json))
            for r in rows
        ]

    def referenced_digests(self) -> Iterator[str]:
        """The blobs monitors' references point at: every ``*_digest`` key of ``Monitor.reference``
        (``profile_digest``, ``data_digest``, ``predictions_digest``)."""
        with self._store.read() as conn:
            rows = conn.execute(select(_M.reference_json)).all()
        for row in rows:
            for key, value in json.loads(row[0]).items():
                if key.endswith("_digest") and isinstance(value, str) and value:
                    yield value


def _taken(name: str) -> ConflictError:
    return ConflictError(
        f"A monitor named {name!r} exists; pick another name or `loopml monitor rm {name}` first."
    )


def _require_monitor(conn: Connection, monitor_id: str) -> None:
    if conn.execute(select(_M.id).where(_M.id == monitor_id)).first() is None:
        raise NotFoundError(f"No monitor with id {monitor_id!r}; `loopml monitor ls` lists them.")


def _dumps(value: Mapping[str, Any], what: str) -> str:
    try:
        return json.dumps(dict(value), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{what} must be JSON (numbers, text, lists, objects): {exc}.") from exc


def _json_copy(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The value as it reads back from the database (a deep copy with JSON types)."""
    loaded: dict[str, Any] = json.loads(_dumps(value, what))
    return loaded


def _number(value: Any, what: str) -> float | None:
    """A metric as stored: a float, or None when missing (NaN counts as missing)."""
    if value is None:
        return None
    if not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{what} must be a number or None (got {value!r}).")
    number = float(value)
    return None if math.isnan(number) else number


def _metrics(metrics: Mapping[str, Any], where: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"the metric names of {where} must be text (got {key!r}).")
        out[key] = _number(value, f"metric {key!r} of {where}")
    return out


def _monitor_row(m: Monitor) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "model": m.model,
        "route": m.route,
        "config_json": json.dumps(m.config, sort_keys=True),
        "reference_json": json.dumps(m.reference, sort_keys=True),
        "created_ms": m.created_ms,
        "created_by": m.created_by,
        "updated_ms": m.updated_ms,
    }


def _monitor(row: Row[Any]) -> Monitor:
    return Monitor(
        id=row.id,
        name=row.name,
        model=row.model,
        route=row.route,
        config=json.loads(row.config_json),
        reference=json.loads(row.reference_json),
        created_ms=row.created_ms,
        created_by=row.created_by,
        updated_ms=row.updated_ms,
    )


def _window(row: Row[Any]) -> WindowResult:
    return WindowResult(
        monitor_id=row.monitor_id,
        start_ms=row.start_ms,
        end_ms=row.end_ms,
        model_version=row.model_version,
        slice=row.slice,
        metrics=json.loads(row.metrics_json),
        details=json.loads(row.details_json),
        computed_ms=row.computed_ms,
    )


def _alert(row: Row[Any]) -> Alert:
    return Alert(
        id=row.id,
        monitor_id=row.monitor_id,
        rule=row.rule,
        key=row.key,
        state=row.state,
        opened_ms=row.opened_ms,
        updated_ms=row.updated_ms,
        resolved_ms=row.resolved_ms,
        value=row.value,
        window_start_ms=row.window_start_ms,
        last_notified_ms=row.last_notified_ms,
        details=json.loads(row.details_json),
    )
