"""The demo's monitoring chapter: simulated days of traffic to the champion, checked day by day.

The champion answers a day of requests at a time (rows of the held-out readings it was evaluated on, with
their true outcome kept aside), logged with their timestamps through the prediction log as a server logs
them. From day 3 the sensors of the first eight kinds (temperature … torque) read high, a little more each
day (a calibration fault: the machines themselves are unchanged). The outcomes arrive as labels two days late.
After each day, as cron would, ``check_monitor`` computes the day's window, computes earlier windows again
when their labels landed, and hands them to the alert manager: the drift shows in day 3's window, the
alert opens once (on the second drifted window, as its rule says) and stays open rather than repeating,
and F1 falls as the labels of the drifted days come in. Time is simulated: the days start at the next UTC
midnight and nothing waits for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loopml.cli._output import console, fmt_time, table

MONITOR = "failure-predictor-daily"
RULE = "drift_share >= 0.3 for 2 windows"
DAYS = 8
DRIFT_FROM = 3  # the first day whose readings run high
DRIFT_STEP = 0.3  # the offset added per drifted day, in standard deviations of each sensor
LABEL_DELAY_DAYS = 2
REQUESTS_PER_HOUR = 60
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def sensor_offset(day: int) -> float:
    """How far (in standard deviations) the drifting sensors read above the truth on ``day``."""
    return max(0, day - DRIFT_FROM + 1) * DRIFT_STEP


def first_midnight_after(ms: int) -> int:
    return (ms // DAY_MS + 1) * DAY_MS


def run_monitoring(
    model_ref: str, fleet: Any, drifting: Sequence[str], target: str, home: Path, quiet: bool, now_ms: int
) -> dict[str, Any]:
    """``fleet``: the held-out rows traffic is drawn from (the features and ``target``)."""
    """Add the monitor, simulate ``DAYS`` days, and write the report; returns what the demo's test checks."""
    import numpy as np

    import loopml as lm
    from loopml.monitoring import (
        PredictionLogger,
        add_monitor,
        check_monitor,
        log_labels,
        monitor_report,
        monitor_windows,
    )
    from loopml.tracking import get_client

    client = get_client()
    version = lm.get_model_version(model_ref)
    model = lm.load_model(model_ref)
    features = list(model.signature.input_names) if model.signature is not None else []
    start = first_midnight_after(now_ms)
    clock_ms = start  # the simulated time

    def clock() -> float:
        return clock_ms / 1000

    add_monitor(MONITOR, model_ref, window="1d", rules=[RULE], notifiers=[{"type": "log"}], clock=clock)
    console.print(
        f"Monitoring [bold]{version.ref}[/]: daily windows against its held-out evaluation data, "
        f"rule [cyan]{RULE}[/]; {DAYS} simulated days of {REQUESTS_PER_HOUR * 24:,} requests, the "
        f"{len(drifting)} sensors {drifting[0]} … {drifting[-1]} reading high from day {DRIFT_FROM}, "
        f"labels {LABEL_DELAY_DAYS} days late.",
        highlight=False,
        soft_wrap=True,
    )

    rng = np.random.default_rng(11)
    spread = fleet[list(drifting)].std(ddof=0)
    classes = sorted(fleet[target].unique().tolist())
    truth: dict[int, dict[str, Any]] = {}
    opened: list[str] = []
    for day in range(DAYS):
        day_start = start + day * DAY_MS
        clock_ms = day_start + DAY_MS  # the log writes its segments at the end of the simulated day
        truth[day] = {}
        with PredictionLogger(
            client.store, client.artifacts, model=version.name, flush_interval=3600.0, clock=clock
        ) as logger:
            for hour in range(24):
                rows = fleet.iloc[rng.integers(0, len(fleet), REQUESTS_PER_HOUR)].reset_index(drop=True)
                x = rows[features].copy()
                offset = sensor_offset(day)
                if offset:
                    x[list(drifting)] = x[list(drifting)] + offset * spread.to_numpy()
                predicted = model.predict(x)
                proba = model.predict_proba(x)
                for i in range(len(x)):
                    request_id = f"demo-d{day}-h{hour:02d}-{i:03d}"
                    logger.log(
                        request_id=request_id,
                        model_version=version.version,
                        route="champion",
                        inputs=x.iloc[[i]],
                        outputs=predicted[i : i + 1],
                        probabilities=proba[i : i + 1],
                        classes=classes,
                        latency_ms=3.0 + (i % 7),
                        timestamp_ms=day_start + hour * HOUR_MS + i * (HOUR_MS // REQUESTS_PER_HOUR),
                    )
                    truth[day][request_id] = rows[target].iloc[i].item()
                logger.flush()  # a segment an hour, as a server's would be
        # the next morning: the labels of two days ago come in, then cron runs the check
        clock_ms = day_start + DAY_MS + 5 * 60_000
        late = day - LABEL_DELAY_DAYS
        if late >= 0:
            log_labels(client.store, version.name, truth[late], clock=clock)
        clock_ms += 5 * 60_000
        outcome = check_monitor(MONITOR, clock=clock)
        if not quiet:
            console.print(_progress(day, outcome.computed, start), highlight=False, soft_wrap=True)
        for alert in outcome.firing:
            if alert.id not in opened:
                opened.append(alert.id)
                console.print(
                    f"  day {day}: [bold red]alert[/] {alert.rule} (value {alert.value:.2f}), opened on "
                    f"the window of {fmt_time(alert.window_start_ms)}",
                    highlight=False,
                )
    # the last labels arrive, and one more check fills in their windows
    clock_ms = start + (DAYS + LABEL_DELAY_DAYS) * DAY_MS + 5 * 60_000
    for late in range(max(0, DAYS - LABEL_DELAY_DAYS), DAYS):
        log_labels(client.store, version.name, truth[late], clock=clock)
    check_monitor(MONITOR, clock=clock)

    windows = [
        w for w in monitor_windows(MONITOR) if not w.slice and start <= w.start_ms < start + DAYS * DAY_MS
    ]
    rows = []
    for w in windows:
        day = (w.start_ms - start) // DAY_MS
        m = w.metrics
        rows.append(
            (
                f"{day} · {fmt_time(w.start_ms)[5:10]}",
                f"{sensor_offset(day):.2f}",
                _fmt(m.get("drift_share")),
                str(len(drifted_features(w))),
                _fmt(m.get("f1")),
                _fmt(m.get("estimated.f1")),
            )
        )
    if not quiet:
        table(
            f"{MONITOR}: daily windows, once every label came",
            ["Day", "Offset σ", "Drift share", "Drifting", "F1", "Est. F1"],
            rows,
        )
    stored = client.store.monitors.alerts(client.store.monitors.get(MONITOR).id)
    report = home / "monitor-report.html"
    report.write_text(monitor_report(MONITOR, window="1d"), encoding="utf-8")
    drifted_days = [(w.start_ms - start) // DAY_MS for w in windows if drifted_features(w)]
    f1 = {(w.start_ms - start) // DAY_MS: w.metrics.get("f1") for w in windows}
    console.print(
        f"Drift first in the window of day {drifted_days[0] if drifted_days else '—'} "
        f"(the readings ran high from day {DRIFT_FROM}); F1 {_fmt(f1.get(0))} on day 0, "
        f"{_fmt(f1.get(DAYS - 1))} on day {DAYS - 1} once its labels came; {len(stored)} alert(s) for the "
        f"incident. Report: {report}",
        highlight=False,
        soft_wrap=True,
    )
    return {"drifted_days": drifted_days, "f1": f1, "alerts": stored, "report": report, "start_ms": start}


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
