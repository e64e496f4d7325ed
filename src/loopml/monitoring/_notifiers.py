"""Notifiers: how someone is told that an alert opened or resolved.

A notifier is one method: ``send(message)`` delivers a ``Message`` (an ``AlertMessage``, or the closed
loop's news of a promotion or a rollback) or raises (any exception; the
built-in ones raise ``NotificationError``). The alert manager records a failure as an alert event and
carries on, so a notifier never needs to protect its caller. Writing one::

    class SlackBot(Notifier):
        name = "slack"

        def send(self, message: AlertMessage) -> None:
            post_to_channel(message.subject)

Built in: ``LogNotifier`` (Python logging; WARNING when an alert opens, INFO when it resolves),
``WebhookNotifier`` (a JSON POST, retried with exponential backoff on timeouts, connection errors, 429 and
5xx; its JSON has a ``text`` field, so Slack- and Mattermost-style incoming webhooks show it as is) and
``EmailNotifier`` (SMTP, optionally STARTTLS or TLS, and a login whose password comes from an environment
variable). A monitor's config lists its notifiers as dicts; ``notifier_from_config`` builds one::

    {"type": "log"}
    {"type": "webhook", "url": "https://hooks.example.com/T0/B0/x", "timeout": 5, "retries": 3}
    {"type": "email", "host": "smtp.example.com", "port": 587, "sender": "loopml@example.com",
     "to": ["oncall@example.com"], "starttls": true, "username": "loopml", "password_env": "SMTP_PASSWORD"}

Secrets stay out of messages: errors and reprs show a webhook's scheme and host only (a webhook's path is
often its secret), and a password is never part of a monitor's config, only the name of its variable.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.client import HTTPException
from typing import Any, Literal, Protocol

from loopml.errors import ConfigError, NotificationError

NOTIFIER_TYPES: tuple[str, ...] = ("log", "webhook", "email")
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


class Message(Protocol):
    """What every notifier can deliver: a one-line ``subject``, a few lines of ``text``, the fields as JSON
    (``to_dict``, what a webhook posts), and a ``state``: "firing" is bad news (logged as a warning)."""

    @property
    def state(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def text(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AlertMessage:
    """What a notifier delivers: an alert of ``monitor`` that opened (``state`` "firing") or resolved.
    The window is the one where it happened; ``value`` is the rule's metric there."""

    alert_id: str
    monitor: str
    model: str
    route: str | None
    rule: str
    metric: str
    state: Literal["firing", "resolved"]
    value: float | None
    slice: str  # "" = all rows
    window_start_ms: int
    window_end_ms: int
    opened_ms: int
    at_ms: int  # when the message was made
    model_version: int | None = None
    resolved_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """One line: ``[loopml] FIRING churn-live: drift_share >= 0.3 for 2 windows (drift_share = 0.42)``."""
        where = f" [{self.slice}]" if self.slice else ""
        shown = "missing" if self.value is None else f"{self.value:.6g}"
        return f"[loopml] {self.state.upper()} {self.monitor}{where}: {self.rule} ({self.metric} = {shown})"

    @property
    def text(self) -> str:
        """A few lines for a human: what, where, which window, since when."""
        lines = [
            self.subject,
            "",
            f"monitor:  {self.monitor} (model {self.model}"
            + (f", route {self.route}" if self.route else "")
            + (f", version {self.model_version}" if self.model_version is not None else "")
            + ")",
            f"rule:     {self.rule}",
            f"value:    {'missing' if self.value is None else f'{self.value:.6g}'}",
            f"window:   {_iso(self.window_start_ms)} to {_iso(self.window_end_ms)}",
            f"slice:    {self.slice or 'all rows'}",
            f"opened:   {_iso(self.opened_ms)}",
        ]
        if self.resolved_ms is not None:
            lines.append(f"resolved: {_iso(self.resolved_ms)}")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The message as JSON types (what a webhook receives); times in ms since the epoch and ISO 8601."""
        return {
            "text": self.subject,
            "alert_id": self.alert_id,
            "monitor": self.monitor,
            "model": self.model,
            "route": self.route,
            "model_version": self.model_version,
            "rule": self.rule,
            "metric": self.metric,
            "state": self.state,
            "value": self.value,
            "slice": self.slice,
            "window": {
                "start_ms": self.window_start_ms,
                "end_ms": self.window_end_ms,
                "start": _iso(self.window_start_ms),
                "end": _iso(self.window_end_ms),
            },
            "opened_ms": self.opened_ms,
            "resolved_ms": self.resolved_ms,
            "at_ms": self.at_ms,
            "details": self.details,
        }


class Notifier(ABC):
    """Delivers alert messages. Subclasses write ``send``; raising means the message was not delivered.
    ``name`` is what alert events record as the notifier."""

    name: str = "notifier"

    @abstractmethod
    def send(self, message: Message) -> None: ...


class LogNotifier(Notifier):
    """Writes each message to a logger (``loopml.alerts``): WARNING when an alert opens, INFO when it
    resolves, with the message's fields in ``extra["alert"]`` for structured handlers."""

    def __init__(self, logger: logging.Logger | str = "loopml.alerts", *, name: str = "log") -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.name = name

    def send(self, message: Message) -> None:
        level = logging.WARNING if message.state == "firing" else logging.INFO
        self.logger.log(level, message.subject, extra={"alert": message.to_dict()})

    def __repr__(self) -> str:
        return f"LogNotifier({self.logger.name!r})"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # a redirected POST would turn into a GET without the message: count it as a failure instead
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookNotifier(Notifier):
    """POSTs each message as JSON to ``url``. A timeout, a connection error, 408, 425, 429 or a 5xx
    answer is retried ``retries`` times, waiting ``backoff``, then twice that, and so on (at most
    ``max_backoff`` seconds); any other answer outside 2xx fails at once. ``sleep`` is injectable so
    that tests do not wait."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        name: str = "webhook",
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"a webhook needs an http:// or https:// URL with a host (got {_redact(url)!r})."
            )
        if timeout <= 0 or retries < 0 or backoff < 0 or max_backoff < 0:
            raise ConfigError(
                "a webhook needs timeout > 0, retries >= 0, backoff >= 0 and max_backoff >= 0 "
                f"(got timeout={timeout}, retries={retries}, backoff={backoff}, max_backoff={max_backoff})."
            )
        self.url = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.headers = {"Content-Type": "application/json", "User-Agent": "loopml-alerts", **(headers or {})}
        self.sleep = sleep
        self.name = name
        self._opener = urllib.request.build_opener(_NoRedirects)

    def send(self, message: Message) -> None:
        body = json.dumps(message.to_dict(), allow_nan=False, default=str).encode()
        attempt, problem = 0, ""
        for attempt in range(1, self.retries + 2):
            if attempt > 1:
                self.sleep(min(self.backoff * 2 ** (attempt - 2), self.max_backoff))
            retry, problem = self._post(body)
            if not problem:
                return
            if not retry:
                break
        tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
        raise NotificationError(f"webhook to {_redact(self.url)} failed after {tries}: {problem}")

    def _post(self, body: bytes) -> tuple[bool, str]:
        """One POST: (False, "") when delivered, else whether to retry and what went wrong."""
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(65536)  # drain a little so the connection closes cleanly
                status = response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code in _RETRY_STATUSES, f"HTTP {exc.code} {exc.reason}"
        except urllib.error.URLError as exc:
            return True, f"cannot connect ({exc.reason})"
        except TimeoutError:
            return True, f"no answer within {self.timeout:g} s"
        except (OSError, HTTPException) as exc:
            return True, f"{type(exc).__name__}: {exc}"
        if 200 <= status < 300:
            return False, ""
        return status in _RETRY_STATUSES, f"HTTP {status}"

    def __repr__(self) -> str:
        return f"WebhookNotifier({_redact(self.url)!r}, timeout={self.timeout:g}, retries={self.retries})"


class EmailNotifier(Notifier):
    """Sends each message as a plain-text email over SMTP: ``starttls`` upgrades a plain connection,
    ``use_tls`` connects over TLS from the start (port 465); ``username`` and ``password`` log in."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        to: str | Sequence[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_tls: bool = False,
        timeout: float = 10.0,
        name: str = "email",
    ) -> None:
        recipients = [to] if isinstance(to, str) else list(to)
        if not host or not sender or not recipients or not all(isinstance(r, str) and r for r in recipients):
            raise ConfigError("an email notifier needs a host, a sender and at least one recipient (to).")
        if not 0 < int(port) < 65536 or timeout <= 0:
            raise ConfigError(
                f"an email notifier needs a port in 1..65535 and timeout > 0 (got {port}, {timeout})."
            )
        if starttls and use_tls:
            raise ConfigError("an email notifier uses starttls or use_tls, not both.")
        if (username is None) != (password is None):
            raise ConfigError("an email notifier that logs in needs both a username and a password.")
        self.host, self.port = host, int(port)
        self.sender, self.to = sender, recipients
        self.username, self._password = username, password
        self.starttls, self.use_tls = bool(starttls), bool(use_tls)
        self.timeout = float(timeout)
        self.name = name

    def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail.set_content(message.text)
        try:
            self._deliver(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise NotificationError(
                f"email to {', '.join(self.to)} via {self.host}:{self.port} failed: {_smtp_problem(exc)}"
            ) from exc

    def _deliver(self, mail: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.use_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.username is not None and self._password is not None:
                smtp.login(self.username, self._password)
            smtp.send_message(mail, from_addr=self.sender, to_addrs=self.to)

    def __repr__(self) -> str:
        return f"EmailNotifier({self.host!r}, {self.port}, to={self.to!r})"


def _smtp_problem(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(
            f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in exc.recipients.items()
        )
        return f"recipients refused ({refused})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _redact(url: str) -> str:
    """The scheme and host of a URL: its path, query and credentials may be secrets."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<malformed URL>"
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


# --- from config ------------------------------------------------------------------------------------------

_KEYS: dict[str, tuple[str, ...]] = {
    "log": ("type", "name", "logger"),
    "webhook": ("type", "name", "url", "timeout", "retries", "backoff", "max_backoff", "headers"),
    "email": (
        "type",
        "name",
        "host",
        "port",
        "sender",
        "to",
        "username",
        "password_env",
        "starttls",
        "use_tls",
        "timeout",
    ),
}


def notifier_from_config(config: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> Notifier:
    """Build a notifier from a monitor's config entry (see the module documentation); ``ConfigError``
    says which key is wrong. ``environ`` (default ``os.environ``) holds the email password's variable."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"a notifier is configured by an object such as {{'type': 'log'}}, not {config!r}.")
    kind = config.get("type")
    if kind not in _KEYS:
        raise ConfigError(f"a notifier's 'type' is one of {', '.join(NOTIFIER_TYPES)} (got {kind!r}).")
    if kind == "email" and "password" in config:
        raise ConfigError(
            "an email notifier's config holds no password (a monitor's config is stored in plain text): "
            "put it in an environment variable and name the variable with 'password_env'."
        )
    unknown = sorted(set(config) - set(_KEYS[kind]))
    if unknown:
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in a {kind} "
            f"notifier's config; it takes {', '.join(_KEYS[kind])}."
        )
    get = _Getter(kind, config)
    name = get.text("name", default=kind)
    if kind == "log":
        return LogNotifier(get.text("logger", default="loopml.alerts"), name=name)
    if kind == "webhook":
        headers = config.get("headers", {})
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ConfigError("a webhook notifier's 'headers' is an object of text values.")
        return WebhookNotifier(
            get.text("url"),
            timeout=get.number("timeout", 5.0),
            retries=get.integer("retries", 3),
            backoff=get.number("backoff", 0.5),
            max_backoff=get.number("max_backoff", 30.0),
            headers=dict(headers),
            name=name,
        )
    password_env = get.text("password_env", default="")
    password: str | None = None
    if password_env:
        env = os.environ if environ is None else environ
        if password_env not in env:
            raise ConfigError(
                f"the email notifier's password is read from ${password_env}, which is not set; set it where "
                "`loopml monitor check` runs."
            )
        password = env[password_env]
    username = get.text("username", default="") or None
    if (username is None) != (password is None):
        raise ConfigError("an email notifier that logs in needs both 'username' and 'password_env'.")
    to = config.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or not all(isinstance(r, str) and r for r in to):
        raise ConfigError("an email notifier's 'to' is an address or a list of addresses.")
    return EmailNotifier(
        get.text("host"),
        get.integer("port", 25),
        sender=get.text("sender"),
        to=to,
        username=username,
        password=password,
        starttls=get.flag("starttls"),
        use_tls=get.flag("use_tls"),
        timeout=get.number("timeout", 10.0),
        name=name,
    )


class _Unbuilt(Notifier):
    """Stands for a notifier whose stored config no longer builds where the check runs (its password
    variable is not set there, say): every send fails with the reason, so the alert still opens and its
    history says why nobody was told."""

    def __init__(self, config: Mapping[str, Any], reason: str) -> None:
        name = config.get("name") if isinstance(config, Mapping) else None
        kind = config.get("type") if isinstance(config, Mapping) else None
        self.name = str(name or kind or "notifier")
        self.reason = reason

    def send(self, message: Message) -> None:
        raise NotificationError(f"the {self.name} notifier cannot be built from its config: {self.reason}")


def notifiers_from_configs(
    configs: Sequence[Mapping[str, Any]], *, environ: Mapping[str, str] | None = None
) -> list[Notifier]:
    """The notifiers of a monitor's stored configs; one that no longer builds fails each send with the
    reason instead of failing the check (whose windows would then never reach the alerts)."""
    out: list[Notifier] = []
    for config in configs:
        try:
            out.append(notifier_from_config(config, environ=environ))
        except ConfigError as exc:
            out.append(_Unbuilt(config, str(exc)))
    return out


class _Getter:
    """Typed reads of one notifier's config, with errors that name the key."""

    def __init__(self, kind: str, config: Mapping[str, Any]) -> None:
        self.kind, self.config = kind, config

    def _fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"a {self.kind} notifier's {key!r} must be {what} (got {self.config.get(key)!r}).")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.config.get(key, default)
        if value is None:
            raise ConfigError(f"a {self.kind} notifier needs {key!r}.")
        if not isinstance(value, str):
            raise self._fail(key, "text")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self._fail(key, "a number of 0 or more")
        return float(value)

    def integer(self, key: str, default: int) -> int:
        value = self.config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._fail(key, "a whole number of 0 or more")
        return value

    def flag(self, key: str) -> bool:
        value = self.config.get(key, False)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value
