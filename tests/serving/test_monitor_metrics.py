"""The monitor gauges on /metrics: the newest window of each monitor of the served model, read from the
store, the same in every worker; and /labels requests counted like the others."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.serving import ModelServer, ServedModel, ServerOptions

from ._http import asgi_client

pytestmark = pytest.mark.anyio
HOUR = 3600 * 1000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class _Monitor:  # the fields of loopml.store.Monitor the server reads
    id: str
    name: str
    model: str
    route: str | None = None


@dataclass(frozen=True)
class _Window:  # the fields of loopml.store.WindowResult
    monitor_id: str
    start_ms: int
    end_ms: int
    model_version: int
    slice: str
    metrics: dict[str, float | None]
    details: dict[str, Any] = field(default_factory=dict)
    computed_ms: int = 0


class _Monitors:
    """``store.monitors`` in memory: list and windows, as the store contract has them."""

    def __init__(self) -> None:
        self.monitors: list[_Monitor] = []
        self.rows: list[_Window] = []
        self.calls: list[int | None] = []
        self.fail = False

    def list(self, model: str | None = None) -> list[_Monitor]:
        if self.fail:
            raise ConnectionError("the database went away")
        return [m for m in self.monitors if model is None or m.model == model]

    def windows(
        self,
        monitor_id: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        model_version: int | None = None,
        slice: str | None = None,
    ) -> list[_Window]:
        self.calls.append(since_ms)
        rows = [
            w
            for w in self.rows
            if w.monitor_id == monitor_id
            and (since_ms is None or w.end_ms > since_ms)
            and (until_ms is None or w.start_ms < until_ms)
            and (model_version is None or w.model_version == model_version)
            and (slice is None or w.slice == slice)
        ]
        return sorted(rows, key=lambda w: (w.start_ms, w.end_ms, w.model_version, w.slice))

    def put(self, monitor_id: str, start_hour: int, metrics: dict[str, float | None], **kw: Any) -> None:
        window = _Window(monitor_id, start_hour * HOUR, (start_hour + 1) * HOUR, 1, "", metrics)
        window = replace(window, **kw)
        self.rows = [
            w
            for w in self.rows
            if (w.monitor_id, w.start_ms, w.end_ms, w.model_version, w.slice)
            != (window.monitor_id, window.start_ms, window.end_ms, window.model_version, window.slice)
        ] + [window]


@pytest.fixture
def served() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 2)), columns=["temperature", "pressure"])
    y = (x["temperature"] > 0).astype(int)
    version = lm.register_model("pump", LogisticRegression().fit(x, y), input_example=x.head(5))
    lm.set_alias("pump", "champion", version.version)


@pytest.fixture
def monitors() -> _Monitors:
    repo = _Monitors()
    now_hour = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000) // HOUR
    repo.monitors = [_Monitor("m1", "pump-daily", "pump"), _Monitor("m2", "other", "someone-else")]
    repo.put("m1", now_hour - 3, {"drift_share": 0.0, "drift(temperature)": 0.01, "f1": 0.9})
    repo.put(
        "m1",
        now_hour - 2,
        {
            "drift_share": 0.5,
            "drift(temperature)": 0.31,
            "drift(pressure)": 0.02,
            "drifted(temperature)": 1,
            "f1": None,  # no labels yet
            "estimated.f1": 0.74,
            "estimated.roc_auc": 0.81,
            "accuracy": 0.88,
            "label_coverage": 0.25,
            "rows": 5000,
            "latency_p99_ms": 12.0,
        },
    )
    repo.put("m1", now_hour - 2, {"drift_share": 1.0}, slice="site=berlin")  # slices stay off the gauges
    repo.put("m2", now_hour - 2, {"drift_share": 1.0})
    return repo


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("loopml_monitor_") and "read_failures" not in sample.name:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def _refresh(server: ModelServer) -> None:
    """Once the read at start is done (reload interval 0: it reads once), read again now."""
    if server._monitor_watcher is not None:
        await server._monitor_watcher
    await server.refresh_monitors()


def _server(repo: _Monitors, interval: float = 0) -> ModelServer:
    options = ServerOptions(reload_interval=interval, log_predictions=False, batching=False)
    return ModelServer(ServedModel.load("pump@champion"), options, monitors=repo)


async def test_the_newest_window_of_each_monitor_of_the_served_model(
    served: None, monitors: _Monitors
) -> None:
    server = _server(monitors)
    async with asgi_client(server.app()) as client:
        await _refresh(server)
        samples = _samples((await client.get("/metrics")).text)
    m = (("monitor", "pump-daily"),)
    assert samples[("loopml_monitor_drift_share", m)] == 0.5
    assert samples[("loopml_monitor_drift_score", (("column", "temperature"), *m))] == 0.31
    assert samples[("loopml_monitor_drift_score", (("column", "pressure"), *m))] == 0.02
    assert samples[("loopml_monitor_label_coverage", m)] == 0.25
    performance = {
        dict(labels)["metric"]: value
        for (name, labels), value in samples.items()
        if name == "loopml_monitor_performance"
    }
    assert performance == {"estimated.f1": 0.74, "estimated.roc_auc": 0.81, "accuracy": 0.88}  # f1: None
    end = [v for (name, _), v in samples.items() if name == "loopml_monitor_window_end_timestamp_seconds"]
    assert len(end) == 1
    assert all(dict(labels)["monitor"] == "pump-daily" for _, labels in samples)  # not another model's
    assert not any(name.endswith(("_rows", "latency_p99_ms")) for name, _ in samples)


async def test_every_worker_reports_the_same_values_and_follows_the_store(
    served: None, monitors: _Monitors
) -> None:
    workers = [_server(monitors), _server(monitors)]
    async with asgi_client(workers[0].app()) as one, asgi_client(workers[1].app()) as two:
        for worker in workers:
            await _refresh(worker)
        first = [_samples((await c.get("/metrics")).text) for c in (one, two)]
        assert first[0] == first[1] and first[0]

        latest = monitors.rows[1]
        monitors.put("m1", latest.start_ms // HOUR + 1, {"drift_share": 0.0, "drift(pressure)": 0.05})
        for worker in workers:
            await _refresh(worker)
        after = [_samples((await c.get("/metrics")).text) for c in (one, two)]
        assert after[0] == after[1]
        m = (("monitor", "pump-daily"),)
        assert after[0][("loopml_monitor_drift_share", m)] == 0.0
        assert ("loopml_monitor_drift_score", (("column", "temperature"), *m)) not in after[0]  # gone
        assert not any(name == "loopml_monitor_performance" for name, _ in after[0])

        monitors.monitors = monitors.monitors[1:]  # the monitor is deleted
        await _refresh(workers[0])
        assert _samples((await one.get("/metrics")).text) == {}


async def test_later_reads_ask_only_for_windows_from_the_newest_seen(
    served: None, monitors: _Monitors
) -> None:
    server = _server(monitors)
    async with asgi_client(server.app()):
        await _refresh(server)
        monitors.calls.clear()
        await _refresh(server)
    assert monitors.calls == [monitors.rows[1].start_ms]


async def test_an_old_monitor_is_read_in_full_once(served: None) -> None:
    repo = _Monitors()
    repo.monitors = [_Monitor("m1", "stale", "pump")]
    repo.put("m1", 10, {"drift_share": 0.2})  # 1970: older than a week
    server = _server(repo)
    async with asgi_client(server.app()) as client:
        await _refresh(server)
        samples = _samples((await client.get("/metrics")).text)
    assert samples[("loopml_monitor_drift_share", (("monitor", "stale"),))] == 0.2
    assert samples[("loopml_monitor_window_end_timestamp_seconds", (("monitor", "stale"),))] == 11 * 3600


async def test_a_failing_store_keeps_the_last_values_and_is_counted(
    served: None, monitors: _Monitors
) -> None:
    server = _server(monitors)
    async with asgi_client(server.app()) as client:
        await _refresh(server)
        before = _samples((await client.get("/metrics")).text)
        monitors.fail = True
        await _refresh(server)
        text = (await client.get("/metrics")).text
    assert _samples(text) == before
    assert "loopml_monitor_read_failures_total 1.0" in text
    assert server.last_monitor_error == "ConnectionError: the database went away"


async def test_the_gauges_refresh_every_reload_interval(served: None, monitors: _Monitors) -> None:
    server = _server(monitors, interval=0.02)
    async with asgi_client(server.app()) as client:
        key = ("loopml_monitor_drift_share", (("monitor", "pump-daily"),))
        for _ in range(200):  # read at start, without being asked
            if _samples((await client.get("/metrics")).text).get(key) == 0.5:
                break
            await asyncio.sleep(0.01)
        latest = monitors.rows[1]
        monitors.put("m1", latest.start_ms // HOUR + 1, {"drift_share": 0.75})
        for _ in range(200):
            if _samples((await client.get("/metrics")).text).get(key) == 0.75:
                break
            await asyncio.sleep(0.01)
        assert _samples((await client.get("/metrics")).text)[key] == 0.75


async def test_labels_requests_are_counted(served: None, monitors: _Monitors) -> None:
    server = _server(monitors)
    async with asgi_client(server.app()) as client:
        assert (await client.post("/labels", json={"labels": {"r1": 1, "r2": 0}})).status_code == 200
        assert (await client.post("/v2/models/pump/labels", json={"labels": {"r3": 1}})).status_code == 200
        assert (await client.post("/labels", json={"labels": []})).status_code == 400
        assert (await client.post("/v2/models/nope/labels", json={"labels": {"r": 1}})).status_code == 404
        text = (await client.get("/metrics")).text
    counted = {
        sample.labels["status"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "loopml_requests_total" and sample.labels["protocol"] == "labels"
    }
    assert counted == {"200": 2.0, "400": 1.0, "404": 1.0}
