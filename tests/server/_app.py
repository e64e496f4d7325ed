"""A FastAPI app served by a real uvicorn in a thread on 127.0.0.1 (a free port), for tests that need HTTP
over a socket; and a stand-in for the server's access check: the bearer token *is* the role."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request

from loopml.artifacts import ArtifactStore
from loopml.server._blobs import blob_router

ROLES = ("reader", "editor", "admin")


def stand_in_require(role: str) -> Callable[..., Any]:
    """``Authorization: Bearer <role>`` admits that role and the ones below it; none is 401, too weak 403."""

    def check(request: Request) -> str:
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ")
        if not header.startswith("Bearer ") or given not in ROLES:
            raise HTTPException(401, "a bearer token is needed")
        if ROLES.index(given) < ROLES.index(role):
            raise HTTPException(403, f"the {role} role is needed")
        return given

    return check


def blob_app(
    artifacts: ArtifactStore, *, max_upload_bytes: int = 1 << 30, spool_dir: Path | None = None
) -> FastAPI:
    app = FastAPI()
    app.include_router(
        blob_router(artifacts, stand_in_require, max_upload_bytes=max_upload_bytes, spool_dir=spool_dir)
    )
    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        assert not thread.is_alive(), "the test server did not stop"
