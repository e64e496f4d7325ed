"""The demo's monitoring and loop chapter: simulated days of traffic to the deployment, checked day by day,
with the agent running the project's ``loopml.yaml``.

Requests (rows of the held-out readings the champion was evaluated on, with their true outcome kept aside) go
to the deployment as servers following it would answer them (``loopml.agent.Traffic``): the champion, or the
canary for its share of traffic, each row logged with its simulated timestamp. From day 3 the sensors of the
first eight kinds (temperature … torque) read high, more each day for three days, then hold (a calibration
fault: the machines themselves are unchanged). The outcomes arrive as labels two days late. Each morning, as
cron would, ``check_monitor`` computes the day's window, computes earlier windows again when their labels
land, and hands them to the alert manager: the drift shows in day 3's window and its alert opens on the second
drifted window; the F1 alert opens once the labels of the drifted days land. The agent, every six hours, sees
that alert and retrains on the base data plus production's newest labelled rows, gates the candidate on rows
newer than its training data, gives it 25 % then 50 % of the traffic, and promotes it. Then a broken export of
the sensor data lands (labels scrambled, every check passing): the agent retrains on it and the gate stops the
candidate. Time is simulated: the days start at the next UTC midnight and nothing waits for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape

from loopml.cli._output import console, fmt_time, table

MONITOR = "failure-predictor-daily"
RULE = "drift_share >= 0.3 for 2 windows"
PERF_RULE = "f1 < 0.7"
DAYS = 10
BROKEN_DAY = 7  # the morning after this day, a broken export of the sensor data lands
AGENT_EVERY_HOURS = 6
DRIFT_FROM = 3  # the first day whose readings run high
DRIFT_STEP = 0.5  # the offset added per drifted day, in standard deviations of each sensor
DRIFT_DAYS = 3  # the fault grows for three days, then holds
LABEL_DELAY_DAYS = 2
REQUESTS_PER_HOUR = 60
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def sensor_offset(day: int) -> float:
    """How far (in standard deviations) the drifting sensors read above the truth on ``day``."""
    return min(max(0, day - DRIFT_FROM + 1), DRIFT_DAYS) * DRIFT_STEP


def first_midnight_after(ms: int) -> int:
    return (ms // DAY_MS + 1) * DAY_MS


POLICY = """\
# the demo's closed loop: retrain when the daily F1 falls or new sensor data lands, gate, canary, promote
models:
  {model}:
    target: {target}
    triggers:
      - alert: {monitor}
        rule: "{perf_rule}"
      - dataset: demo-sensors
    cooldown: 12h
    retrain:
      pipeline: loopml.cli._demo_pipeline:failure_retrain
      output: train
      data:
        param: dataset
        base: demo-sensors@latest
        feedback: {{since: 3d}}
    gate:
      rules: ["f1 >= baseline", "roc_auc >= 0.75"]
      min_rows: 300
      holdout: 0.3
    rollout:
      steps: [25, 50]
      min_requests: 150
      min_duration: 6h
      rollback:
        error_rate: {{max_increase: 0.02}}
        latency_p95_ms: {{max_ratio: 3}}
        performance: {{metric: f1, max_drop: 0.05, min_label_coverage: 0.5}}
    notify: [{{type: log}}]
"""


def run_monitoring(
    model_ref: str, fleet: Any, drifting: Sequence[str], target: str, home: Path, quiet: bool, now_ms: int
) -> dict[str, Any]:
    """``fleet``: the held-out rows traffic is drawn from (the features and ``target``). Add the monitor and
    the policy, simulate ``DAYS`` days with the agent running, and write the report; returns what the demo's
    test checks."""
    import numpy as np

    import loopml as lm
    from loopml.agent import Agent, Decision, Traffic, load_policy
    from loopml.monitoring import add_monitor, check_monitor, log_labels, monitor_report, monitor_windows
    from loopml.tracking import get_client

    client = get_client()
    version = lm.get_model_version(model_ref)
    name = version.name
    model = lm.load_model(model_ref)
    features = list(model.signature.input_names) if model.signature is not None else []
    start = first_midnight_after(now_ms)
    clock_ms = start  # the simulated time

    def clock() -> float:
        return clock_ms / 1000

    add_monitor(
        MONITOR, model_ref, window="1d", rules=[RULE, PERF_RULE], notifiers=[{"type": "log"}], clock=clock
    )
    lm.deploy(name, name, reason="the demo's deployment: servers and the loop follow it")
    policy_file = home / "loopml.yaml"
    policy_file.write_text(
        POLICY.format(model=name, target=target, monitor=MONITOR, perf_rule=PERF_RULE), encoding="utf-8"
    )
    policy = load_policy(policy_file, check=True)
    timeline: list[Decision] = []

    def noted(decision: Decision) -> None:
        if decision.action in ("waiting", "held", "paused"):
            return
        timeline.append(decision)
        if not quiet or decision.action in ("promoted", "rejected", "rolled_back"):
            day = (decision.at_ms - start) / DAY_MS
            console.print(
                f"  day {day:.1f}: [bold]{decision.action.replace('_', ' ')}[/] {escape(decision.reason)}",
                highlight=False,
                soft_wrap=True,
            )

    agent = Agent(policy, clock=lambda: clock_ms, holder="demo-agent", on_decision=noted)
    console.print(
        f"Monitoring [bold]{version.ref}[/] through the deployment [bold]{name}[/]: daily windows against "
        f"its held-out evaluation data, rules [cyan]{RULE}[/] and [cyan]{PERF_RULE}[/]; {DAYS} simulated "
        f"days of {REQUESTS_PER_HOUR * 24:,} requests, the {len(drifting)} sensors {drifting[0]} … "
        f"{drifting[-1]} reading high from day {DRIFT_FROM}, labels {LABEL_DELAY_DAYS} days late. The agent "
        f"runs {policy_file.name} every {AGENT_EVERY_HOURS} hours: retrain when the F1 alert opens or new "
        "sensor data lands, gate, canary, promote or roll back.",
        highlight=False,
        soft_wrap=True,
    )
    agent.run_once()  # the triggers note what exists: only news starts a retrain

    rng = np.random.default_rng(11)
    spread = fleet[list(drifting)].std(ddof=0)
    truth: dict[int, dict[str, Any]] = {}
    opened: list[str] = []
    traffic = Traffic(name, seed=11)
    for day in range(DAYS):
        day_start = start + day * DAY_MS
        truth[day] = {}
        for hour in range(24):
            rows = fleet.iloc[rng.integers(0, len(fleet), REQUESTS_PER_HOUR)].reset_index(drop=True)
            x = rows[features].copy()
            offset = sensor_offset(day)
            if offset:
                x[list(drifting)] = x[list(drifting)] + offset * spread.to_numpy()
            hour_start = day_start + hour * HOUR_MS
            times = [hour_start + i * (HOUR_MS // REQUESTS_PER_HOUR) for i in range(len(x))]
            ids = traffic.send(x, times, prefix=f"demo-d{day}-h{hour:02d}")
            truth[day].update(zip(ids, rows[target].tolist(), strict=True))
            clock_ms = hour_start + HOUR_MS
            if (hour + 1) % AGENT_EVERY_HOURS == 0 and hour != 23:
                agent.run_once()
        # the next morning: the labels of two days ago come in, cron runs the check, then the agent
        clock_ms = day_start + DAY_MS + 5 * 60_000
        late = day - LABEL_DELAY_DAYS
        if late >= 0:
            log_labels(client.store, name, truth[late], clock=clock)
        if day == BROKEN_DAY:
            broken = _broken_export(lm.data.load("demo-sensors@latest"), target, rng)
            from loopml.cli._demo import demo_checks

            added = lm.data.add(
                "demo-sensors",
                broken,
                checks=demo_checks(),
                description="A sensor export whose labels are scrambled.",
            )
            console.print(
                f"  day {day + 1}: a new version of demo-sensors lands ({added.ref}); its labels are "
                "scrambled (a broken export), and every data check passes on it.",
                highlight=False,
            )
        clock_ms += 5 * 60_000
        outcome = check_monitor(MONITOR, clock=clock)
        if not quiet:
            console.print(_progress(day, outcome.computed, start), highlight=False, soft_wrap=True)
        for alert in outcome.firing:
            if alert.id not in opened:
                opened.append(alert.id)
                console.print(
                    f"  day {day + 1}: [bold red]alert[/] {alert.rule} (value {alert.value:.2f}), opened on "
                    f"the window of {fmt_time(alert.window_start_ms)}",
                    highlight=False,
                )
        clock_ms += 5 * 60_000
        agent.run_once()
    # the last labels arrive, and one more check fills in their windows
    clock_ms = start + (DAYS + LABEL_DELAY_DAYS) * DAY_MS + 5 * 60_000
    for late in range(max(0, DAYS - LABEL_DELAY_DAYS), DAYS):
        log_labels(client.store, name, truth[late], clock=clock)
    check_monitor(MONITOR, clock=clock)

    windows = [
        w for w in monitor_windows(MONITOR) if not w.slice and start <= w.start_ms < start + DAYS * DAY_MS
    ]
    rows_shown = []
    for w in sorted(windows, key=lambda w: (w.start_ms, w.model_version)):
        day = (w.start_ms - start) // DAY_MS
        m = w.metrics
        rows_shown.append(
            (
                f"{day} · {fmt_time(w.start_ms)[5:10]}",
                str(w.model_version),
                f"{int(m.get('rows') or 0):,}",
                f"{sensor_offset(day):.2f}",
                _fmt(m.get("drift_share")),
                _fmt(m.get("f1")),
                _fmt(m.get("estimated.f1")),
            )
        )
    if not quiet:
        table(
            f"{MONITOR}: daily windows per version, once every label came",
            ["Day", "Version", "Rows", "Offset σ", "Drift share", "F1", "Est. F1"],
            rows_shown,
        )
    table(
        "The loop's timeline (simulated time)",
        ["Day", "Decision", "Detail"],
        [
            (
                f"{(d.at_ms - start) / DAY_MS:.2f}",
                d.action.replace("_", " "),
                d.reason,
            )
            for d in timeline
        ],
    )
    stored = client.store.monitors.alerts(client.store.monitors.get(MONITOR).id)
    report = home / "monitor-report.html"
    report.write_text(monitor_report(MONITOR, window="1d"), encoding="utf-8")
    drifted_days = sorted({(w.start_ms - start) // DAY_MS for w in windows if drifted_features(w)})
    f1 = {((w.start_ms - start) // DAY_MS, w.model_version): w.metrics.get("f1") for w in windows}
    champion = lm.get_model_version(f"{name}@champion")
    promoted = [d for d in timeline if d.action == "promoted"]
    stopped = [d for d in timeline if d.action in ("rejected", "rolled_back")]
    console.print(
        f"Drift first in the window of day {drifted_days[0] if drifted_days else '—'} "
        f"(the readings ran high from day {DRIFT_FROM}); {len(stored)} alert(s). The loop "
        + (
            f"promoted {', '.join(str(d.details.get('version')) for d in promoted)}"
            if promoted
            else "promoted nothing"
        )
        + (
            f" and stopped {len(stopped)} bad candidate(s) ({', '.join(d.action for d in stopped)})"
            if stopped
            else ""
        )
        + f"; the champion is now {champion.ref}. Report: {report}",
        highlight=False,
        soft_wrap=True,
    )
    return {
        "drifted_days": drifted_days,
        "f1": f1,
        "alerts": stored,
        "report": report,
        "start_ms": start,
        "timeline": timeline,
    }


def _broken_export(frame: Any, target: str, rng: Any) -> Any:
    """``frame`` with its labels shuffled: the same readings and class balance, no relation between them."""
    broken = frame.copy()
    broken[target] = rng.permutation(broken[target].to_numpy())
    return broken


def drifted_features(window: Any) -> list[str]:
    """The features whose drift test fired in ``window`` (not the prediction nor the target)."""
    skip = {"output", "failure"}
    return [
        key[len("drifted(") : -1]
        for key, value in window.metrics.items()
        if key.startswith("drifted(") and value and key[len("drifted(") : -1] not in skip
    ]


def _progress(day: int, computed: Sequence[Any], start: int) -> str:
    """One line per simulated morning: the new window's drift, and the F1 of windows whose labels came."""
    parts = []
    for w in computed:
        if w.slice:
            continue
        d = (w.start_ms - start) // DAY_MS
        m = w.metrics
        if d == day:
            parts.append(
                f"day {d}: {int(m.get('rows') or 0):,} rows, drift share {_fmt(m.get('drift_share'))} "
                f"({len(drifted_features(w))} features drifting), estimated F1 {_fmt(m.get('estimated.f1'))}"
            )
        elif m.get("f1") is not None:
            what = "today's served requests" if d < 0 else f"day {d}"
            parts.append(f"labels of {what} came: F1 {_fmt(m.get('f1'))}")
    return "  " + "; ".join(parts)


def _fmt(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.3f}"
