"""Serving an app with uvicorn: in the foreground (``loopml server``) or on a thread (tests, notebooks)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from loopml.errors import LoopmlError


class ThreadServer:
    """A uvicorn server on a thread of this process; ``url`` is where it answers."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="loopml-server", daemon=True)
        self.host = host
        self.port = port

    def start(self, timeout: float = 20.0) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise LoopmlError(f"the server did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)


@contextlib.contextmanager
def serving(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[ThreadServer]:
    server = ThreadServer(app, host=host, port=port).start()
    try:
        yield server
    finally:
        server.stop()
