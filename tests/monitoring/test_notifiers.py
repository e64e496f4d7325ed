"""Notifiers: a contract every notifier passes, then the webhook against a real local HTTP server and email
against a real local SMTP server (aiosmtpd), both on 127.0.0.1 only, and building notifiers from config."""

from __future__ import annotations

import email.policy
import json
import logging
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from typing import Any

import pytest
from _servers import Hook, Mailbox, free_port

from loopml.errors import ConfigError, NotificationError
from loopml.monitoring import AlertMessage, EmailNotifier, LogNotifier, Notifier, WebhookNotifier
from loopml.monitoring._notifiers import notifier_from_config

HOUR = 3_600_000
WINDOW_START = 1_714_557_600_000  # 2024-05-01T10:00:00Z
WINDOW_ISO = "2024-05-01T10:00:00+00:00"


def make_message(**kw: Any) -> AlertMessage:
    fields: dict[str, Any] = {
        "alert_id": "a1",
        "monitor": "churn-live",
        "model": "churn",
        "route": "champion",
        "rule": "drift_share >= 0.3 for 2 windows",
        "metric": "drift_share",
        "state": "firing",
        "value": 0.42,
        "slice": "",
        "window_start_ms": WINDOW_START,
        "window_end_ms": WINDOW_START + HOUR,
        "opened_ms": WINDOW_START + HOUR + 60_000,
        "at_ms": WINDOW_START + HOUR + 60_000,
        "model_version": 3,
    }
    fields.update(kw)
    return AlertMessage(**fields)


# --- the contract: every notifier -----------------------------------------------------------------------


class MemoryNotifier(Notifier):
    """The smallest notifier: the base asks for one method."""

    name = "memory"

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[AlertMessage] = []
        self.fail = fail

    def send(self, message: AlertMessage) -> None:
        if self.fail:
            raise RuntimeError("the memory is full")
        self.sent.append(message)


Delivered = Callable[[], list[str]]  # everything each delivered message carried, as text


@pytest.fixture(params=["log", "webhook", "email", "memory"])
def working(
    request: pytest.FixtureRequest,
    hook: Callable[..., Hook],
    smtp: Callable[..., tuple[Mailbox, int]],
    caplog: pytest.LogCaptureFixture,
) -> tuple[Notifier, Delivered]:
    kind = request.param
    if kind == "log":
        caplog.set_level(logging.INFO, logger="loopml.alerts")
        return LogNotifier(), lambda: [
            f"{r.levelname} {r.getMessage()} {json.dumps(r.__dict__['alert'])}" for r in caplog.records
        ]
    if kind == "webhook":
        h = hook(200)
        return WebhookNotifier(h.url, sleep=lambda s: None), lambda: [json.dumps(b) for b in h.bodies]
    if kind == "email":
        box, port = smtp()
        notifier = EmailNotifier("127.0.0.1", port, sender="loopml@example.com", to=["oncall@example.com"])
        return notifier, lambda: [content.decode() for _, _, content in box.mails]
    memory = MemoryNotifier()
    return memory, lambda: [json.dumps(m.to_dict()) for m in memory.sent]


@pytest.fixture(params=["webhook", "email", "memory"])
def broken(
    request: pytest.FixtureRequest, hook: Callable[..., Hook], smtp: Callable[..., tuple[Mailbox, int]]
) -> Notifier:
    if request.param == "webhook":
        return WebhookNotifier(hook(500).url, retries=1, sleep=lambda s: None)
    if request.param == "email":
        _, port = smtp(refuse="rcpt")
        return EmailNotifier("127.0.0.1", port, sender="loopml@example.com", to="oncall@example.com")
    return MemoryNotifier(fail=True)


class TestContract:
    def test_a_delivered_message_carries_monitor_rule_value_window_and_state(
        self, working: tuple[Notifier, Delivered]
    ) -> None:
        notifier, delivered = working
        notifier.send(make_message())
        notifier.send(make_message(state="resolved", value=0.12, resolved_ms=WINDOW_START + 3 * HOUR))
        firing, resolved = delivered()
        for text, state, value in ((firing, "firing", "0.42"), (resolved, "resolved", "0.12")):
            assert "churn-live" in text and "drift_share >= 0.3 for 2 windows" in text
            assert value in text and WINDOW_ISO in text and state in text.lower()

    def test_a_failure_raises(self, broken: Notifier) -> None:
        with pytest.raises(Exception) as info:
            broken.send(make_message())
        if not isinstance(broken, MemoryNotifier):
            assert isinstance(info.value, NotificationError)

    def test_every_notifier_has_a_name_for_the_alert_history(self) -> None:
        assert [n.name for n in (LogNotifier(), WebhookNotifier("http://127.0.0.1:1/"))] == ["log", "webhook"]
        assert EmailNotifier("127.0.0.1", sender="a@b", to="c@d", name="oncall").name == "oncall"


def test_a_message_reads_as_one_line_and_as_json() -> None:
    message = make_message(slice="region=eu")
    assert message.subject == (
        "[loopml] FIRING churn-live [region=eu]: drift_share >= 0.3 for 2 windows (drift_share = 0.42)"
    )
    doc = message.to_dict()
    assert doc["text"] == message.subject
    assert doc["window"] == {
        "start_ms": WINDOW_START,
        "end_ms": WINDOW_START + HOUR,
        "start": WINDOW_ISO,
        "end": "2024-05-01T11:00:00+00:00",
    }
    assert json.loads(json.dumps(doc)) == doc
    assert "version 3" in message.text and "slice:    region=eu" in message.text
    assert "missing" in make_message(value=None).subject


# --- the webhook ----------------------------------------------------------------------------------------


class TestWebhook:
    def test_the_message_is_posted_as_json(self, hook: Callable[..., Hook]) -> None:
        h = hook(200)
        WebhookNotifier(h.url, headers={"Authorization": "Bearer x"}).send(make_message())
        assert h.bodies == [make_message().to_dict()]
        assert h.headers[0]["Content-Type"] == "application/json"
        assert h.headers[0]["Authorization"] == "Bearer x"

    def test_a_500_is_retried_with_backoff(self, hook: Callable[..., Hook]) -> None:
        h = hook(500, 200)
        sleeps: list[float] = []
        WebhookNotifier(h.url, backoff=0.5, sleep=sleeps.append).send(make_message())
        assert len(h.bodies) == 2 and sleeps == [0.5]

    def test_always_500_fails_after_every_retry_with_exponential_waits(
        self, hook: Callable[..., Hook]
    ) -> None:
        h = hook(500)
        sleeps: list[float] = []
        notifier = WebhookNotifier(h.url, retries=3, backoff=0.5, sleep=sleeps.append)
        with pytest.raises(NotificationError, match="failed after 4 attempts: HTTP 500") as info:
            notifier.send(make_message())
        assert len(h.bodies) == 4 and sleeps == [0.5, 1.0, 2.0]
        assert "s3cr3t" not in str(info.value) and "s3cr3t" not in repr(notifier)  # the path may be a secret
        assert str(info.value).startswith(f"webhook to http://127.0.0.1:{h.server.server_address[1]} failed")

    def test_the_wait_is_capped(self, hook: Callable[..., Hook]) -> None:
        sleeps: list[float] = []
        notifier = WebhookNotifier(hook(503).url, retries=4, backoff=1, max_backoff=3, sleep=sleeps.append)
        with pytest.raises(NotificationError):
            notifier.send(make_message())
        assert sleeps == [1, 2, 3, 3]

    def test_a_server_that_never_answers_in_time_times_out(self, hook: Callable[..., Hook]) -> None:
        h = hook("hang")
        sleeps: list[float] = []
        notifier = WebhookNotifier(h.url, timeout=0.2, retries=1, sleep=sleeps.append)
        with pytest.raises(NotificationError, match=r"after 2 attempts: no answer within 0.2 s"):
            notifier.send(make_message())
        assert len(h.bodies) == 2 and sleeps == [0.5]

    def test_a_client_error_is_not_retried(self, hook: Callable[..., Hook]) -> None:
        h = hook(404)
        with pytest.raises(NotificationError, match="after 1 attempt: HTTP 404"):
            WebhookNotifier(h.url, sleep=lambda s: None).send(make_message())
        assert len(h.bodies) == 1

    def test_a_redirect_is_not_followed(self, hook: Callable[..., Hook]) -> None:
        h = hook(302)
        with pytest.raises(NotificationError, match="HTTP 302"):
            WebhookNotifier(h.url, sleep=lambda s: None).send(make_message())
        assert len(h.bodies) == 1

    def test_nobody_listening_is_a_connection_failure(self) -> None:
        notifier = WebhookNotifier(f"http://127.0.0.1:{free_port()}/", retries=2, sleep=lambda s: None)
        with pytest.raises(NotificationError, match="after 3 attempts: cannot connect"):
            notifier.send(make_message())

    @pytest.mark.parametrize(
        "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "http:///nohost", "127.0.0.1"]
    )
    def test_only_http_urls_are_accepted(self, url: str) -> None:
        with pytest.raises(ConfigError, match="http:// or https://"):
            WebhookNotifier(url)


# --- email ----------------------------------------------------------------------------------------------


class TestEmail:
    def test_the_message_is_mailed_to_every_recipient(self, smtp: Callable[..., tuple[Mailbox, int]]) -> None:
        box, port = smtp()
        EmailNotifier(
            "127.0.0.1", port, sender="loopml@example.com", to=["a@example.com", "b@example.com"]
        ).send(make_message())
        [(sender, recipients, content)] = box.mails
        assert (sender, recipients) == ("loopml@example.com", ["a@example.com", "b@example.com"])
        mail = message_from_bytes(content, policy=email.policy.default)
        assert mail["Subject"] == make_message().subject
        assert mail["To"] == "a@example.com, b@example.com"
        assert isinstance(mail, EmailMessage)
        body = mail.get_body()
        assert body is not None and f"window:   {WINDOW_ISO}" in body.get_content()

    def test_a_login_is_used_when_configured(self, smtp: Callable[..., tuple[Mailbox, int]]) -> None:
        box, port = smtp(users={"loopml": "pw"})
        EmailNotifier(
            "127.0.0.1",
            port,
            sender="loopml@example.com",
            to="a@example.com",
            username="loopml",
            password="pw",
        ).send(make_message())
        assert box.logins == ["loopml"] and len(box.mails) == 1
        wrong = EmailNotifier(
            "127.0.0.1",
            port,
            sender="loopml@example.com",
            to="a@example.com",
            username="loopml",
            password="no",
        )
        with pytest.raises(NotificationError, match="535"):
            wrong.send(make_message())

    def test_a_refused_recipient_fails_with_the_servers_reply(
        self, smtp: Callable[..., tuple[Mailbox, int]]
    ) -> None:
        _, port = smtp(refuse="rcpt")
        notifier = EmailNotifier("127.0.0.1", port, sender="loopml@example.com", to="a@example.com")
        with pytest.raises(NotificationError, match=r"recipients refused \(a@example.com: 550 5.1.1 mailbox"):
            notifier.send(make_message())

    def test_a_refused_message_fails_with_the_servers_reply(
        self, smtp: Callable[..., tuple[Mailbox, int]]
    ) -> None:
        _, port = smtp(refuse="data")
        notifier = EmailNotifier("127.0.0.1", port, sender="loopml@example.com", to="a@example.com")
        with pytest.raises(NotificationError, match=r"550 5\.7\.1 message rejected"):
            notifier.send(make_message())

    def test_starttls_against_a_server_without_it_is_a_failure(
        self, smtp: Callable[..., tuple[Mailbox, int]]
    ) -> None:
        box, port = smtp()
        notifier = EmailNotifier("127.0.0.1", port, sender="l@example.com", to="a@example.com", starttls=True)
        with pytest.raises(NotificationError, match="STARTTLS"):
            notifier.send(make_message())
        assert box.mails == []  # nothing went out in the clear

    def test_no_server_is_a_failure(self) -> None:
        notifier = EmailNotifier(
            "127.0.0.1", free_port(), sender="l@example.com", to="a@example.com", timeout=1
        )
        with pytest.raises(NotificationError, match=r"via 127.0.0.1:\d+ failed"):
            notifier.send(make_message())


# --- from config ----------------------------------------------------------------------------------------


class TestFromConfig:
    def test_each_type_is_built(self) -> None:
        log = notifier_from_config({"type": "log", "logger": "ops"})
        assert isinstance(log, LogNotifier) and log.logger.name == "ops" and log.name == "log"
        hook = notifier_from_config(
            {
                "type": "webhook",
                "url": "https://hooks.example.com/x",
                "timeout": 2,
                "retries": 1,
                "name": "slack",
            }
        )
        assert isinstance(hook, WebhookNotifier)
        assert (hook.timeout, hook.retries, hook.backoff, hook.name) == (2.0, 1, 0.5, "slack")
        mail = notifier_from_config(
            {
                "type": "email",
                "host": "smtp.example.com",
                "port": 587,
                "sender": "loopml@example.com",
                "to": "oncall@example.com",
                "starttls": True,
                "username": "loopml",
                "password_env": "SMTP_PASSWORD",
            },
            environ={"SMTP_PASSWORD": "pw"},
        )
        assert isinstance(mail, EmailNotifier)
        assert (mail.port, mail.to, mail.starttls, mail.username) == (
            587,
            ["oncall@example.com"],
            True,
            "loopml",
        )

    @pytest.mark.parametrize(
        ("config", "message"),
        [
            ("log", "configured by an object"),
            ({}, "'type' is one of log, webhook, email"),
            ({"type": "pager"}, "'type' is one of log, webhook, email \\(got 'pager'\\)"),
            ({"type": "webhook"}, "needs 'url'"),
            ({"type": "webhook", "url": "file:///etc/passwd"}, "http:// or https://"),
            (
                {"type": "webhook", "url": "http://h/", "retires": 2},
                "unknown key 'retires'.*it takes type, name, url",
            ),
            ({"type": "webhook", "url": "http://h/", "timeout": "5"}, "'timeout' must be a number"),
            ({"type": "webhook", "url": "http://h/", "timeout": 0}, "timeout > 0"),
            ({"type": "webhook", "url": "http://h/", "retries": 1.5}, "'retries' must be a whole number"),
            ({"type": "webhook", "url": "http://h/", "headers": {"X": 1}}, "'headers' is an object of text"),
            ({"type": "email", "host": "h", "sender": "s@x", "to": "t@x", "password": "pw"}, "password_env"),
            ({"type": "email", "host": "h", "sender": "s@x", "to": []}, "'to' is an address or a list"),
            (
                {"type": "email", "host": "h", "sender": "s@x", "to": "t@x", "port": True},
                "'port' must be a whole",
            ),
            ({"type": "email", "host": "h", "sender": "s@x", "to": "t@x", "port": 70000}, "port in 1..65535"),
            (
                {"type": "email", "host": "h", "sender": "s@x", "to": "t@x", "starttls": "yes"},
                "true or false",
            ),
            (
                {"type": "email", "host": "h", "sender": "s@x", "to": "t@x", "username": "u"},
                "both 'username'",
            ),
            (
                {
                    "type": "email",
                    "host": "h",
                    "sender": "s@x",
                    "to": "t@x",
                    "username": "u",
                    "password_env": "NOPE",
                },
                "\\$NOPE, which is not set",
            ),
            ({"type": "email", "sender": "s@x", "to": "t@x"}, "needs 'host'"),
        ],
    )
    def test_a_bad_config_says_what_is_wrong(self, config: Any, message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            notifier_from_config(config, environ={})
