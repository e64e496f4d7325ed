"""The monitor gauges on /metrics: the newest window of each monitor of the served model, read from the
store, the same in every worker; and /labels requests counted like the others."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.serving import ModelServer, ServedModel, ServerOptions
from loopml.store import Monitor, SqlStore, WindowResult
from loopml.tracking import get_client

from ._http import asgi_client

pytestmark = pytest.mark.anyio
HOUR = 3600 * 1000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Recording:
    """A monitors repository that notes the ``since_ms`` of each windows() call."""

    def __init__(self, repository: Any) -> None:
        self.repository = repository
        self.calls: list[int | None] = []
        self.fail = False

    def list(self, model: str | None = None) -> list[Monitor]:
        if self.fail:
            raise ConnectionError("the database went away")
        return self.repository.list(model=model)  # type: ignore[no-any-return]

    def windows(self, monitor_id: str, **kwargs: Any) -> list[WindowResult]:
        self.calls.append(kwargs.get("since_ms"))
        return self.repository.windows(monitor_id, **kwargs)  # type: ignore[no-any-return]


def _create(repository: Any, name: str, model: str) -> Monitor:
    return repository.create(  # type: ignore[no-any-return]
        name, model=model, route=None, config={}, reference={}, created_ms=0, created_by="test"
    )


def _put(repository: Any, monitor: Monitor, hour: int, metrics: dict[str, float | None], **kw: Any) -> None:
    window = WindowResult(monitor.id, hour * HOUR, (hour + 1) * HOUR, 1, "", metrics, {}, hour * HOUR)
    repository.put_windows(monitor.id, [replace(window, **kw)])


@pytest.fixture
def served() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 2)), columns=["temperature", "pressure"])
    y = (x["temperature"] > 0).astype(int)
    version = lm.register_model("pump", LogisticRegression().fit(x, y), input_example=x.head(5))
    lm.set_alias("pump", "champion", version.version)


NOW_HOUR = int(time.time() * 1000) // HOUR


def _fill(repository: Any) -> Monitor:
    """A monitor of the served model with three windows (the newest: drift, estimates, no labels yet), one
    of a slice, and a monitor of another model."""
    monitor = _create(repository, "pump-daily", "pump")
    other = _create(repository, "other", "someone-else")
    _put(repository, monitor, NOW_HOUR - 3, {"drift_share": 0.0, "drift(temperature)": 0.01, "f1": 0.9})
    _put(
        repository,
        monitor,
        NOW_HOUR - 2,
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
    _put(repository, monitor, NOW_HOUR - 2, {"drift_share": 1.0}, slice="site=berlin")  # not on the gauges
    _put(repository, other, NOW_HOUR - 2, {"drift_share": 1.0})
    return monitor


@pytest.fixture
def monitors() -> _Recording:
    """The monitors of the loopml home's store, the one the server reads by default."""
    repository = get_client().store.monitors
    _fill(repository)
    return _Recording(repository)


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


def _server(repo: Any, interval: float = 0) -> ModelServer:
    options = ServerOptions(reload_interval=interval, log_predictions=False, batching=False)
    return ModelServer(ServedModel.load("pump@champion"), options, monitors=repo)


async def _scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return _samples((await client.get("/metrics")).text)


M = (("monitor", "pump-daily"),)


async def test_the_newest_window_of_each_monitor_of_the_served_model(served: None, store: SqlStore) -> None:
    _fill(store.monitors)  # on SQLite and PostgreSQL
    server = _server(store.monitors)
    async with asgi_client(server) as client:
        await _refresh(server)
        samples = await _scrape(client)
    assert samples[("loopml_monitor_drift_share", M)] == 0.5
    assert samples[("loopml_monitor_drift_score", (("column", "temperature"), *M))] == 0.31
    assert samples[("loopml_monitor_drift_score", (("column", "pressure"), *M))] == 0.02
    assert samples[("loopml_monitor_label_coverage", M)] == 0.25
    performance = {
        dict(labels)["metric"]: value
        for (name, labels), value in samples.items()
        if name == "loopml_monitor_performance"
    }
    assert performance == {"estimated.f1": 0.74, "estimated.roc_auc": 0.81, "accuracy": 0.88}  # f1: None
    end = samples[("loopml_monitor_window_end_timestamp_seconds", M)]
    assert end == (NOW_HOUR - 1) * 3600
    assert all(dict(labels)["monitor"] == "pump-daily" for _, labels in samples)  # not another model's
    assert not any(name.endswith(("_rows", "latency_p99_ms")) for name, _ in samples)


async def test_every_worker_reports_the_same_values_and_follows_the_store(
    served: None, monitors: _Recording
) -> None:
    workers = [_server(None), _server(None)]  # two processes' servers: each reads the configured store
    repository = monitors.repository
    monitor = repository.get("pump-daily")
    async with asgi_client(workers[0]) as one, asgi_client(workers[1]) as two:
        for worker in workers:
            await _refresh(worker)
        first = [await _scrape(c) for c in (one, two)]
        assert first[0] == first[1] and first[0]

        _put(repository, monitor, NOW_HOUR - 1, {"drift_share": 0.0, "drift(pressure)": 0.05})
        for worker in workers:
            await _refresh(worker)
        after = [await _scrape(c) for c in (one, two)]
        assert after[0] == after[1]
        assert after[0][("loopml_monitor_drift_share", M)] == 0.0
        assert ("loopml_monitor_drift_score", (("column", "temperature"), *M)) not in after[0]  # gone
        assert not any(name == "loopml_monitor_performance" for name, _ in after[0])

        repository.delete("pump-daily")
        await _refresh(workers[0])
        assert await _scrape(one) == {}


async def test_later_reads_ask_only_for_windows_from_the_newest_seen(
    served: None, monitors: _Recording
) -> None:
    server = _server(monitors)
    async with asgi_client(server):
        await _refresh(server)
        monitors.calls.clear()
        await server.refresh_monitors()
    assert monitors.calls == [(NOW_HOUR - 2) * HOUR]


async def test_an_old_monitor_is_read_in_full_once(served: None) -> None:
    repository = get_client().store.monitors
    _put(repository, _create(repository, "stale", "pump"), 10, {"drift_share": 0.2})  # 1970: long ago
    recording = _Recording(repository)
    server = _server(recording)
    async with asgi_client(server) as client:
        await _refresh(server)
        samples = await _scrape(client)
    assert samples[("loopml_monitor_drift_share", (("monitor", "stale"),))] == 0.2
    assert samples[("loopml_monitor_window_end_timestamp_seconds", (("monitor", "stale"),))] == 11 * 3600
    assert recording.calls[-1] == 10 * HOUR  # once seen, only from its newest window on


async def test_a_failing_store_keeps_the_last_values_and_is_counted(
    served: None, monitors: _Recording
) -> None:
    server = _server(monitors)
    async with asgi_client(server) as client:
        await _refresh(server)
        before = await _scrape(client)
        monitors.fail = True
        await server.refresh_monitors()
        text = (await client.get("/metrics")).text
    assert _samples(text) == before and before
    assert "loopml_monitor_read_failures_total 1.0" in text
    assert server.last_monitor_error == "ConnectionError: the database went away"


async def test_the_gauges_refresh_every_reload_interval(served: None, monitors: _Recording) -> None:
    server = _server(monitors, interval=0.02)
    key = ("loopml_monitor_drift_share", M)
    async with asgi_client(server) as client:
        for expected in (0.5, 0.75):  # read at start, then again without being asked
            if expected == 0.75:
                monitor = monitors.repository.get("pump-daily")
                _put(monitors.repository, monitor, NOW_HOUR - 1, {"drift_share": 0.75})
            for _ in range(300):
                if (await _scrape(client)).get(key) == expected:
                    break
                await asyncio.sleep(0.01)
            assert (await _scrape(client))[key] == expected


async def test_labels_requests_are_counted(served: None, monitors: _Recording) -> None:
    server = _server(monitors)
    async with asgi_client(server) as client:
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


async def test_a_bundle_served_without_a_log_reads_no_store(served: None, tmp_path: Any) -> None:
    folder = lm.registry.export_model("pump:1", tmp_path / "image")
    server = ModelServer(ServedModel.load(str(folder / "model")), ServerOptions(log_predictions=False))
    async with asgi_client(server) as client:
        assert server._monitor_watcher is None
        assert "loopml_monitor_drift_share{" not in (await client.get("/metrics")).text
