"""The model server for tests: in process (``asgi_client``: the app with its startup and shutdown, no
socket), or ``loopml serve`` in a process of its own, as a user starts it, over real HTTP (``serving``);
and a reload watcher's sleep that the test drives (``Ticks``)."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from loopml.serving import ModelServer


@asynccontextmanager
async def asgi_client(server: ModelServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``server``'s app in process (no socket), with the app's startup and shutdown run (so
    its prediction log is closed, every accepted row written, when the block ends)."""
    app = server.app()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        yield c


class Ticks:
    """The reload watcher's sleep (``ModelServer(..., sleep=ticks.sleep)``), driven by the test: ``tick()``
    lets one check run and returns once it is done (the watcher has gone back to sleep), so no test waits
    for a reload interval or polls for its effect."""

    def __init__(self) -> None:
        self.asleep = asyncio.Event()
        self.go = asyncio.Event()
        self.intervals: list[float] = []  # what the watcher asked to sleep, each time

    async def sleep(self, seconds: float) -> None:
        self.intervals.append(seconds)
        self.go.clear()
        self.asleep.set()
        await self.go.wait()

    async def tick(self) -> None:
        await self.asleep.wait()
        self.asleep.clear()
        self.go.set()
        await self.asleep.wait()


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    output: str = ""  # what the server printed, once it has stopped


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    ref: str | None, env: Mapping[str, str] | None = None, timeout: float = 60, args: tuple[str, ...] = ()
) -> Iterator[Served]:
    """Start ``loopml serve REF [ARGS]`` (no REF: ``--deployment NAME`` among the args) on a free port,
    wait until it is ready, and stop it cleanly (SIGINT: the prediction log is closed) when the block
    ends."""
    port = free_port()
    what = [] if ref is None else [ref]
    process = subprocess.Popen(
        [sys.executable, "-m", "loopml", "serve", *what, "--port", str(port), *args],
        env=None if env is None else dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(served.url + "/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(process.communicate()[0].decode() or "the server did not start")
            time.sleep(0.2)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        served.output = process.communicate(timeout=60)[0].decode()
