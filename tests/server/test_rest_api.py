"""The team server's REST API: its OpenAPI document, its limits, and remote metric logging that outlasts a
server restart."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from loopml.server._app import create_app
from loopml.server._run import ThreadServer, serving
from loopml.store import MetricRecord, SqlStore
from loopml.store._rest import RestStore
from loopml.store._routes import API_PREFIX, ROUTES
from loopml.tracking._buffer import MetricBuffer


@pytest.fixture
def backend(tmp_path: Path) -> SqlStore:
    return SqlStore(f"sqlite:///{tmp_path / 'server.db'}")


def test_the_openapi_document_lists_every_route_with_its_models(backend: SqlStore) -> None:
    with serving(create_app(backend, ui=False)) as server:
        doc = httpx.get(server.url + "/openapi.json").json()
    operations = {(verb.upper(), path) for path, item in doc["paths"].items() for verb in item}
    for route in ROUTES:
        path = API_PREFIX + route.path.replace(":path}", "}")
        assert (route.verb, path) in operations, f"{route.verb} {path} is served but not documented"
        op = doc["paths"][path][route.verb.lower()]
        assert op["operationId"] == route.name.replace(".", "_")
        assert {"401", "403", "422"} <= set(op["responses"])
    schemas = doc["components"]["schemas"]
    body = doc["paths"][API_PREFIX + "/runs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    create_run = schemas[body["$ref"].rsplit("/", 1)[1]]
    assert {"experiment_id", "start_ms"} <= set(create_run["required"])
    result = doc["paths"][API_PREFIX + "/runs/{run_id}"]["get"]["responses"]["200"]["content"]
    assert result["application/json"]["schema"]["$ref"].endswith("/Run")
    # every reference resolves
    text = str(doc)
    for name in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in schemas, name


def test_a_body_over_the_limit_is_refused_and_nothing_is_written(backend: SqlStore) -> None:
    with serving(create_app(backend, ui=False, max_body_bytes=10_000)) as server:
        big = {"name": "x", "description": "d" * 20_000}
        r = httpx.post(server.url + API_PREFIX + "/experiments", json=big)
        assert r.status_code == 413
        assert "over the server's limit of 10,000 bytes" in r.json()["error"]["message"]

        def chunks():  # no Content-Length: counted as it arrives
            yield b'{"name": "y", "description": "'
            for _ in range(30):
                yield b"d" * 1000
            yield b'"}'

        r = httpx.post(
            server.url + API_PREFIX + "/experiments",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413
    assert backend.runs.list_experiments() == []


def test_cors_is_closed(backend: SqlStore) -> None:
    with serving(create_app(backend, ui=False)) as server:
        url = server.url + API_PREFIX + "/experiments"
        r = httpx.get(url, headers={"origin": "https://elsewhere.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        pre = httpx.options(
            url, headers={"origin": "https://elsewhere.example", "access-control-request-method": "POST"}
        )
        assert "access-control-allow-origin" not in pre.headers


def test_writes_are_audited_with_their_actor_but_metric_batches_are_not(backend: SqlStore) -> None:
    with serving(create_app(backend, ui=False)) as server:
        rest = RestStore(server.url, user="alice")
        exp = rest.runs.create_experiment("e")
        run = rest.runs.create_run(exp.id, start_ms=1)
        rest.runs.log_params(run.id, {"lr": "0.1"})
        rest.runs.log_metrics([MetricRecord(run.id, "loss", 0.5, i, i) for i in range(100)])
        rest.close()
    events = backend.audit.events()
    assert [(e.action, e.actor, e.entity) for e in events] == [
        ("runs.create_experiment", "alice", exp.id),
        ("runs.create_run", "alice", run.id),
        ("runs.log_params", "alice", run.id),
    ]
    assert events[2].details["keys"] == ["lr"]
    assert "0.1" not in str(events[2].details)


def test_an_unknown_filter_field_is_a_400_naming_it(backend: SqlStore) -> None:
    with serving(create_app(backend, ui=False)) as server:
        r = httpx.post(
            server.url + API_PREFIX + "/runs/search", json={"filter": "params.a = 1 and colour = 2"}
        )
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "FilterError" and "colour" in error["message"]
    assert error["fields"]["position"] == len("params.a = 1 and ")


def test_a_run_needs_its_experiment(backend: SqlStore) -> None:
    with serving(create_app(backend, ui=False)) as server:
        r = httpx.post(server.url + API_PREFIX + "/runs", json={"experiment_id": "nope", "start_ms": 1})
    assert r.status_code == 404, r.text
    assert backend.runs.search_runs() == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_buffered_metrics_outlast_a_server_restart(backend: SqlStore) -> None:
    """The server goes away while a run logs; the values wait in the buffer (and the client retries) and all
    of them arrive once it is back on the same address."""
    port = _free_port()
    app = create_app(backend, ui=False)
    first = ThreadServer(app, port=port).start()
    rest = RestStore(first.url, retry_seconds=1.0)
    run = rest.runs.create_run(rest.runs.create_experiment("e").id, start_ms=1)
    buffer = MetricBuffer(rest.runs.log_metrics, interval=0.2)
    buffer.extend([MetricRecord(run.id, "loss", float(i), i, i) for i in range(500)])
    buffer.flush()
    first.stop()

    for i in range(500, 10_000):
        buffer.add(MetricRecord(run.id, "loss", float(i), i, i))
    time.sleep(1.5)  # a flush or two fail meanwhile
    assert len(backend.runs.get_metric_history(run.id, "loss")) == 500
    restarted = threading.Event()

    def restart() -> None:
        second = ThreadServer(app, port=port).start()
        restarted.set()
        time.sleep(3)
        second.stop()

    threading.Thread(target=restart, daemon=True).start()
    assert restarted.wait(20)
    buffer.close()
    assert buffer.dropped == 0
    history = backend.runs.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(10_000))
    rest.close()


def test_a_server_that_stays_away_is_a_clear_error() -> None:
    rest = RestStore(f"http://127.0.0.1:{_free_port()}", retry_seconds=0.3)
    from loopml.errors import ServerUnavailableError

    with pytest.raises(ServerUnavailableError, match=r"does not answer.*loopml server"):
        rest.runs.list_experiments()
