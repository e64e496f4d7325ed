"""Triggers: what starts a retrain. Each kind keeps what it has already seen in the loop's state, so a
trigger fires once per event, across passes and restarts.

- ``alert``: a monitor's alert that opened since the last one seen (optionally only one rule's alerts).
  Alerts that were already open when the agent first looked count as seen: the agent acts on news.
- ``schedule``: a cron expression (UTC) whose next time after the last firing has come. The first pass
  starts the count, so a new agent does not retrain for every schedule time of the past.
- ``dataset``: a version of the dataset newer than the newest one seen.

``fired(policy, memory, client, now_ms)`` returns what fired and the memory to store with the next state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loopml.errors import NotFoundError

if TYPE_CHECKING:
    from loopml.store import Store


@dataclass(frozen=True)
class Fired:
    """One trigger that fired: its kind ("alert", "schedule", "dataset"), what it names, and why, in words."""

    kind: str
    name: str
    reason: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "reason": self.reason, **self.details}


def _utc(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, tz=UTC):%Y-%m-%d %H:%M} UTC"


def next_cron_ms(expression: str, after_ms: int) -> int:
    """The first time of ``expression`` (cron, UTC) strictly after ``after_ms``."""
    from croniter import croniter

    start = datetime.fromtimestamp(after_ms / 1000, tz=UTC)
    following = croniter(expression, start).get_next(datetime)
    return int(following.timestamp() * 1000)


def fired(
    triggers: list[Any], memory: dict[str, Any], store: Store, now_ms: int
) -> tuple[list[Fired], dict[str, Any]]:
    """The triggers that fired since ``memory`` (the loop state's ``data["seen"]``), and the new memory."""
    seen = {kind: dict(memory.get(kind, {})) for kind in ("alert", "schedule", "dataset")}
    out: list[Fired] = []
    for trigger in triggers:
        if trigger.alert is not None:
            out.extend(_alerts(trigger.alert, trigger.rule, seen["alert"], store))
        elif trigger.schedule is not None:
            hit = _schedule(trigger.schedule, seen["schedule"], now_ms)
            if hit is not None:
                out.append(hit)
        elif trigger.dataset is not None:
            hit = _dataset(trigger.dataset, seen["dataset"], store)
            if hit is not None:
                out.append(hit)
    return out, seen


def _alerts(monitor_name: str, rule: str | None, seen: dict[str, Any], store: Store) -> list[Fired]:
    try:
        monitor = store.monitors.get(monitor_name)
    except NotFoundError:  # the monitor was deleted after the policy was checked: nothing can fire
        return []
    alerts = [a for a in store.monitors.alerts(monitor.id) if rule is None or a.rule == rule]
    newest = max((a.opened_ms for a in alerts), default=0)
    if monitor_name not in seen:  # first look: what is open already is old news
        seen[monitor_name] = newest
        return []
    since = int(seen[monitor_name])
    new = sorted((a for a in alerts if a.opened_ms > since), key=lambda a: a.opened_ms)
    if not new:
        return []
    seen[monitor_name] = max(a.opened_ms for a in new)
    first = new[0]
    return [
        Fired(
            "alert",
            monitor_name,
            f"monitor {monitor_name}: {first.rule}" + (f" [{first.key}]" if first.key else ""),
            {"alerts": [a.id for a in new], "rule": first.rule, "value": first.value},
        )
    ]


def _schedule(expression: str, seen: dict[str, Any], now_ms: int) -> Fired | None:
    last = seen.get(expression)
    if last is None:
        seen[expression] = now_ms
        return None
    due = next_cron_ms(expression, int(last))
    if due > now_ms:
        return None
    seen[expression] = now_ms
    return Fired(
        "schedule",
        expression,
        f"schedule {expression!r} came due at {_utc(due)}",
        {"due_ms": due},
    )


def _dataset(name: str, seen: dict[str, Any], store: Store) -> Fired | None:
    try:
        latest = store.datasets.get_latest(name)
    except NotFoundError:
        return None
    if name not in seen:
        seen[name] = latest.version
        return None
    if latest.version <= int(seen[name]):
        return None
    before, seen[name] = int(seen[name]), latest.version
    return Fired(
        "dataset",
        name,
        f"dataset {name} has a new version: {latest.ref}",
        {"version": latest.version, "previous": before},
    )
