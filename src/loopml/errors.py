"""Errors a user can cause, each with a message that says what to do.

The CLI prints any ``LoopmlError`` without a traceback and exits non-zero.

    LoopmlError
    ├── ConfigError              a setting has a wrong value (names the variable)
    ├── NotFoundError            a run, experiment or blob does not exist
    │   └── BlobNotFoundError
    ├── InvalidArgumentError     a call got a value it cannot use
    │   ├── FilterError          a search filter does not parse (points at the token)
    │   ├── PathEscapeError      a path leaves the root it must stay under
    │   ├── PolicyError          a loopml.yaml policy is wrong (names the file and line; lists every mistake)
    │   ├── RuleError            an alert rule does not parse or names an unknown column (points at it)
    │   └── SignatureError       model input does not match the model's signature (names each column)
    ├── ConflictError            a write contradicts what is stored (a param re-logged with a new value)
    ├── DataCheckError           data failed its declared checks (carries the report)
    ├── PipelineFailedError      a pipeline run ended with a failed step (carries the run)
    ├── StudyFailedError         no trial of a tuning study completed (shows the first error)
    ├── IntegrityError           stored content does not match its digest (a model bundle: names the file)
    ├── MissingDependencyError   an optional library is not installed (says what to pip install)
    ├── NotificationError        a notifier could not deliver an alert message (says where and why)
    ├── UnsupportedOperationError  the object cannot do what was asked (predict_proba of a regressor)
    ├── SchemaError              the database schema cannot be used
    │   └── SchemaTooNewError    the database was written by a newer loopml
    └── ServerUnavailableError   the loopml server did not answer (after retrying)
"""

from __future__ import annotations


class LoopmlError(Exception):
    """Base class of every error a user can cause or fix."""


class ConfigError(LoopmlError):
    """A configuration value is wrong; the message names the variable."""


class NotFoundError(LoopmlError):
    """The thing asked for does not exist."""


class BlobNotFoundError(NotFoundError):
    """No blob with this digest is in the artifact store."""


class InvalidArgumentError(LoopmlError, ValueError):
    """An argument has a value that cannot be used."""


class FilterError(InvalidArgumentError):
    """A search filter is malformed; the message points at the bad token."""

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        self.text = text
        self.position = position
        if text and position is not None:
            message = f"{message}\n  {text}\n  {' ' * position}^"
        super().__init__(message)


class PathEscapeError(InvalidArgumentError):
    """A path would leave the folder it belongs to (``..``, absolute, or a symlink out)."""


class PolicyError(InvalidArgumentError):
    """A policy file (``loopml.yaml``) is wrong. One mistake has ``path``, ``line`` (from 1), ``column`` and
    ``loc`` (the keys leading to it, as in ``("models", "churn", "gate", "rules", 0)``); ``problem`` is the
    mistake in words without the place. A policy with several mistakes raises one ``PolicyError`` whose
    ``errors`` lists each (a single mistake lists itself) and whose message shows them all, one per line."""

    def __init__(
        self,
        problem: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        loc: tuple[str | int, ...] = (),
        errors: list[PolicyError] | None = None,
    ) -> None:
        self.problem = problem
        self.path = path
        self.line = line
        self.column = column
        self.loc = loc
        self.errors: list[PolicyError] = [self] if errors is None else list(errors)
        if errors is None:
            super().__init__(f"{self.where}: {problem}" if self.where else problem)
        else:
            shown = (str(e).replace("\n", "\n    ") for e in self.errors)
            super().__init__(problem + "".join(f"\n  {e}" for e in shown))

    @property
    def key(self) -> str:
        """``loc`` as written in messages: ``models.churn.gate.rules[0]``."""
        text = ""
        for part in self.loc:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
        return text

    @property
    def where(self) -> str:
        """``loopml.yaml, line 12, models.churn.gate`` (as much of it as is known)."""
        line = None if self.line is None else f"line {self.line}"
        return ", ".join(p for p in (self.path, line, self.key) if p)


class RuleError(InvalidArgumentError):
    """An alert rule is malformed or names something unknown; the message shows the rule with a caret under
    the mistake. ``text`` is the rule, ``position`` the offset of the mistake in it."""

    def __init__(self, message: str, text: str = "", position: int | None = None, hint: str = "") -> None:
        self.text = text
        self.position = position
        if text and position is not None:
            message = f"alert rule {text!r}: {message}\n  {text}\n  {' ' * position}^"
        super().__init__(f"{message}\n  {hint}" if hint else message)


class SignatureError(InvalidArgumentError):
    """Model input does not match the model's signature: a missing column, an unknown category, a wrong
    type or missing values where the model saw none. ``problems`` lists each, one line per column;
    ``column`` is the first column at fault."""

    def __init__(self, message: str, problems: list[str] | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])
        self.column = column


class ConflictError(LoopmlError):
    """A write contradicts what is already stored."""


class DataCheckError(LoopmlError):
    """Data failed the checks it was added with; ``report`` says which and shows failing rows."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class PipelineFailedError(LoopmlError):
    """A pipeline run ended with a failed step; ``run`` is the pipeline run (its steps say which and why)."""

    def __init__(self, message: str, run: object = None) -> None:
        super().__init__(message)
        self.run = run


class StudyFailedError(LoopmlError):
    """No trial of a study completed: every one failed or was pruned. The message shows the first error."""


class IntegrityError(LoopmlError):
    """Stored content does not match the digest it is stored under."""


class MissingDependencyError(LoopmlError, ImportError):
    """An optional library that this needs is not installed; the message says what to ``pip install``."""


class NotificationError(LoopmlError):
    """A notifier could not deliver an alert message (a webhook answered 500, an SMTP server refused); the
    message says where to and why, without the secrets a webhook URL may hold."""


class UnsupportedOperationError(LoopmlError, AttributeError):
    """The object cannot do what was asked (``predict_proba`` of a model that has none)."""


class SchemaError(LoopmlError):
    """The metadata database cannot be used with this version of loopml."""


class SchemaTooNewError(SchemaError):
    """The metadata database was migrated by a newer loopml than this one."""


class ServerUnavailableError(LoopmlError):
    """The loopml server (``LOOPML_SERVER_URL``) did not answer, after retrying."""


__all__ = [
    "BlobNotFoundError",
    "ConfigError",
    "ConflictError",
    "DataCheckError",
    "FilterError",
    "IntegrityError",
    "InvalidArgumentError",
    "LoopmlError",
    "MissingDependencyError",
    "NotFoundError",
    "NotificationError",
    "PathEscapeError",
    "PolicyError",
    "RuleError",
    "SchemaError",
    "SchemaTooNewError",
    "ServerUnavailableError",
    "SignatureError",
    "UnsupportedOperationError",
]
