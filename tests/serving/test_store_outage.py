"""A server following a deployment whose Store goes away for a while: the champion keeps answering, each
failed check is counted with its reason, and once the Store answers again the server follows the changes
made meanwhile. The outage is real: the server reaches PostgreSQL through a TCP relay that the test stops
(existing connections cut, new ones refused) and starts again on the same port."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sqlalchemy.engine import make_url

import loopml as lm
from loopml.serving import ModelServer, ServerOptions
from loopml.tracking import get_client

from ._http import asgi_client

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Relay:
    """Forwards TCP connections from a local port to ``target``; ``stop()`` closes the listener and cuts
    every open connection, ``start()`` listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def relay(postgres_schema_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    url = make_url(postgres_schema_url)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    relay.start()
    relayed = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    monkeypatch.setenv("LOOPML_DATABASE_URL", relayed)
    from loopml import tracking

    tracking.reset()
    yield relay
    relay.stop()
    tracking.reset()


def _tensor(row: list[float]) -> dict[str, Any]:
    return {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": row}]}


async def test_a_server_keeps_serving_while_the_store_is_away(relay: Relay) -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "c", "d"])
    for version, column in ((1, "a"), (2, "b")):
        model = RandomForestClassifier(5, max_depth=3, random_state=version).fit(x, x[column] > 0)
        lm.register_model("rf", model, input_example=x.head(10))
    lm.set_alias("rf", "champion", 1)
    lm.deploy("rf-prod", "rf")
    server = ModelServer.follow("rf-prod", ServerOptions(reload_interval=0, log_predictions=False))
    rows = x.to_numpy().tolist()
    async with asgi_client(server) as c:

        async def answered_by(n: int = 10) -> set[str]:
            out = set()
            for row in rows[:n]:
                response = await c.post("/v2/models/rf/infer", json=_tensor(row))
                assert response.status_code == 200, response.text
                out.add(response.json()["model_version"])
            return out

        assert await answered_by() == {"1"}
        relay.stop()  # the Store goes away
        assert await server.reload() is False
        assert "OperationalError" in (server.last_reload_error or ""), server.last_reload_error
        assert await answered_by() == {"1"}  # the champion keeps answering
        assert await server.reload() is False  # and each check fails again, counted
        failures = server.metrics.exposition()[0].decode()
        assert "loopml_model_reload_failures_total 2.0" in failures

        relay.start()  # it is back; meanwhile someone moved the champion
        lm.set_alias("rf", "champion", 2, client=get_client())
        assert await server.reload() is True
        assert await answered_by() == {"2"}
