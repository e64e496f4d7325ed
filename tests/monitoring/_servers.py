"""Local servers for notifier tests, on 127.0.0.1 only: an HTTP server that answers each POST with the next
scripted status (``hook``), and an SMTP server (aiosmtpd) that may refuse (``smtp``)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, Session

# --- a local HTTP server: answers each POST with the next scripted status ("hang": never in time) ---------


class Hook:
    def __init__(self, script: list[int | str]) -> None:
        self.script = script
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()  # lets a hanging handler go when the test ends
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/s3cr3t-t0ken"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                hook.headers.append(dict(self.headers))
                step = hook.script.pop(0) if len(hook.script) > 1 else hook.script[0]
                if step == "hang":
                    hook.release.wait(5)  # bounded: the client gave up long before
                    return
                assert isinstance(step, int)
                self.send_response(step)
                if 300 <= step < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def hook() -> Iterator[Callable[..., Hook]]:
    started: list[Hook] = []

    def start(*script: int | str) -> Hook:
        started.append(Hook(list(script)))
        return started[-1]

    yield start
    for h in started:
        h.close()


# --- a local SMTP server --------------------------------------------------------------------------------


class Mailbox:
    """What an aiosmtpd handler received; ``refuse`` answers RCPT or DATA with a 550."""

    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.mails: list[tuple[str, list[str], bytes]] = []
        self.logins: list[str] = []

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse == "rcpt":
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.refuse == "data":
            return "550 5.7.1 message rejected as spam"
        assert envelope.mail_from is not None and isinstance(envelope.content, bytes)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[Callable[..., tuple[Mailbox, int]]]:
    controllers: list[Controller] = []

    def start(refuse: str = "", users: dict[str, str] | None = None) -> tuple[Mailbox, int]:
        box = Mailbox(refuse)
        kwargs: dict[str, Any] = {}
        if users is not None:

            def authenticate(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> AuthResult:
                ok = users.get(data.login.decode()) == data.password.decode()
                if ok:
                    box.logins.append(data.login.decode())
                return AuthResult(success=ok, handled=False)  # False: the server answers 535

            kwargs = {"authenticator": authenticate, "auth_require_tls": False}
        port = free_port()
        controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return box, port

    yield start
    for c in controllers:
        c.stop()
