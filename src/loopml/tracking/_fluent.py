"""The fluent tracking API: ``lm.start_run`` and friends, over a process-wide client built from Settings."""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from loopml.config import Settings, load_settings
from loopml.errors import InvalidArgumentError
from loopml.store import Artifact, Metric, Run, RunStatus
from loopml.tracking._client import TrackingClient, describe_error, jsonable

_lock = threading.RLock()
_client: TrackingClient | None = None
_settings: Settings | None = None
_local = threading.local()  # .stack: the runs started with start_run in this thread, innermost last


class ActiveRun:
    """A run in progress. Use it as a context manager, or call ``end()``; ``.id`` is its id."""

    def __init__(self, client: TrackingClient, run: Run) -> None:
        self.client = client
        self.id = run.id
        self.name = run.name
        self.experiment = run.experiment_name
        self.parent_id = run.parent_id
        self.ended = False

    def __repr__(self) -> str:
        return f"<ActiveRun {self.name} id={self.id} experiment={self.experiment!r}>"

    def log_param(self, key: str, value: Any) -> None:
        self.client.log_params(self.id, {key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.client.log_params(self.id, params)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.client.log_metric(self.id, key, value, step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.client.log_metrics(self.id, metrics, step)

    def set_tag(self, key: str, value: Any) -> None:
        self.client.set_tags(self.id, {key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.set_tags(self.id, tags)

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> Artifact:
        return self.client.log_artifact(self.id, local_path, artifact_path)

    def log_text(self, text: str, path: str) -> Artifact:
        return self.client.log_bytes(self.id, text.encode(), path)

    def log_dict(self, obj: Any, path: str) -> Artifact:
        return self.client.log_bytes(self.id, jsonable(obj), path)

    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        stack = _stack()
        if self in stack:
            stack.remove(self)
        self.client.end_run(self.id, RunStatus(status), error)

    def info(self) -> Run:
        return self.client.get_run(self.id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.end(RunStatus.FINISHED)
        elif isinstance(exc, KeyboardInterrupt):
            self.end(RunStatus.KILLED, "KeyboardInterrupt")
        else:
            self.end(RunStatus.FAILED, describe_error(exc, tb))


def _stack() -> list[ActiveRun]:
    stack: list[ActiveRun] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def configure(
    home: str | Path | None = None,
    database_url: str | None = None,
    artifact_root: str | None = None,
    flush_interval: float | None = None,
) -> Settings:
    """Point loopml at another home, database or artifact root (others keep their env/toml values)."""
    global _client, _settings
    settings = load_settings(
        home=home, database_url=database_url, artifact_root=artifact_root, flush_interval=flush_interval
    )
    with _lock:
        if _client is not None:
            _client.close()
        _client, _settings = None, settings
    return settings


def reset() -> None:
    """Forget the current client and settings; the next use reads the environment again."""
    global _client, _settings
    with _lock:
        if _client is not None:
            _client.close()
        _client, _settings = None, None
    _stack().clear()


def get_settings() -> Settings:
    global _settings
    with _lock:
        if _settings is None:
            _settings = load_settings()
        return _settings


def get_client() -> TrackingClient:
    """The process-wide client, opened on first use from the current settings."""
    global _client
    client = _client
    if client is not None:
        return client
    with _lock:
        if _client is None:
            _client = client_from_settings(get_settings())
        return _client


def client_from_settings(settings: Settings) -> TrackingClient:
    from loopml.artifacts import open_artifact_store
    from loopml.store import SqlStore

    if settings.server_url:  # remote mode: everything through the team server
        from loopml.artifacts._remote import RemoteArtifactStore
        from loopml.store._rest import RestStore

        return TrackingClient(
            RestStore(settings.server_url, settings.token),
            RemoteArtifactStore(settings.server_url, settings.token),
            flush_interval=settings.flush_interval,
        )
    if settings.database_url.startswith("sqlite:///"):
        settings.home.mkdir(parents=True, exist_ok=True)
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = SqlStore(settings.database_url, busy_timeout=settings.sqlite_busy_timeout)
    return TrackingClient(
        store, open_artifact_store(settings.artifact_root), flush_interval=settings.flush_interval
    )


def start_run(
    experiment: str | None = None,
    name: str | None = None,
    *,
    tags: Mapping[str, Any] | None = None,
    parent: ActiveRun | str | None = None,
) -> ActiveRun:
    """Start a run. A run started while another is active in this thread becomes its child."""
    stack = _stack()
    if parent is None and stack:
        parent = stack[-1]
    parent_id = parent.id if isinstance(parent, ActiveRun) else parent
    if experiment is None and isinstance(parent, ActiveRun):
        experiment = parent.experiment
    client = get_client()
    run = ActiveRun(client, client.create_run(experiment, name, parent_id, tags))
    stack.append(run)
    return run


@contextlib.contextmanager
def attached_run(
    run_id: str,
    *,
    name: str = "",
    experiment: str = "",
    parent_id: str | None = None,
    client: TrackingClient | None = None,
) -> Iterator[ActiveRun]:
    """Make an existing run the active one in this thread while the block runs, without ending it.

    Pipeline workers and tuning trials use it so that ``lm.log_metric`` and friends inside a step or an
    objective record into its run, which the coordinating process created and will end.
    """
    client = client or get_client()
    run = ActiveRun.__new__(ActiveRun)
    run.client, run.id, run.name, run.experiment, run.parent_id = client, run_id, name, experiment, parent_id
    run.ended = False
    stack = _stack()
    stack.append(run)
    try:
        yield run
    finally:
        if run in stack:
            stack.remove(run)
        client.flush()


def active_run() -> ActiveRun | None:
    stack = _stack()
    return stack[-1] if stack else None


def _require_active() -> ActiveRun:
    run = active_run()
    if run is None:
        raise InvalidArgumentError("No active run: wrap the call in `with lm.start_run():`.")
    return run


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    run = active_run()
    if run is not None:
        run.end(status)


def log_param(key: str, value: Any) -> None:
    _require_active().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _require_active().log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    stack = getattr(_local, "stack", None)
    if not stack:
        _require_active()
    stack[-1].client.log_metric(stack[-1].id, key, value, step)  # type: ignore[index]


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    _require_active().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    _require_active().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _require_active().set_tags(tags)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> Artifact:
    return _require_active().log_artifact(local_path, artifact_path)


def log_text(text: str, path: str) -> Artifact:
    return _require_active().log_text(text, path)


def log_dict(obj: Any, path: str) -> Artifact:
    return _require_active().log_dict(obj, path)


def flush() -> None:
    """Block until every buffered metric value is in the store."""
    if _client is not None:
        _client.flush()


def get_run(run_id: str) -> Run:
    return get_client().get_run(run_id)


def search_runs(
    filter: str | None = None,
    experiment: str | Sequence[str] | None = None,
    order_by: str | Sequence[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Run]:
    """Runs matching ``filter`` (``"metrics.f1 > 0.8 and params.model = 'rf'"``), newest first by default."""
    return get_client().search_runs(filter, experiment, order_by, limit, offset)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Every logged value of one metric of a run, in step order."""
    return get_client().get_metric_history(run_id, key)


def download_artifact(run_id: str, path: str, dest: str | Path) -> Path:
    return get_client().download_artifact(run_id, path, dest)


@atexit.register
def _at_exit() -> None:
    """A normal exit ends the runs still open (as finished) and writes every buffered value."""
    client = _client
    if client is None:
        return
    for run in reversed(list(_stack())):
        with contextlib.suppress(Exception):  # the store may be gone; flushing below still tries
            run.end(RunStatus.FINISHED)
    client.buffer.close()
