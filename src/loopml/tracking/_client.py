"""TrackingClient: runs, params, metrics, tags and artifacts over one Store and one ArtifactStore.

The fluent API (``lm.start_run``, ``lm.log_metric``, ...) drives a process-wide client built from Settings;
tests and tools build their own in one line: ``TrackingClient(SqlStore("sqlite://"), MemoryArtifactStore())``.
"""

from __future__ import annotations

import json
import math
import numbers
import posixpath
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from loopml.artifacts import ArtifactStore
from loopml.errors import InvalidArgumentError, NotFoundError, PathEscapeError
from loopml.store import Artifact, Experiment, Metric, MetricRecord, Run, RunStatus, Store
from loopml.tracking._buffer import MetricBuffer
from loopml.tracking._source import source_info

DEFAULT_EXPERIMENT = "default"
MAX_KEY_LENGTH = 250

Clock = Callable[[], float]  # seconds since the epoch, like time.time


def _check_key(kind: str, key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidArgumentError(
            f"{kind} key {key!r} must be a non-empty string of at most {MAX_KEY_LENGTH} characters."
        )
    return key


def _check_value(key: str, value: object) -> float:
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        return float(value)  # type: ignore[arg-type]  # numpy scalars, Decimal, ...
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"Metric {key!r} must be a number, got {value!r}.") from None


def artifact_path(path: str) -> str:
    """A run's artifact path as stored: relative, POSIX, normalized; anything escaping the run is refused."""
    if not isinstance(path, str) or not path.strip():
        raise InvalidArgumentError("An artifact path must be a non-empty string.")
    clean = path.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise PathEscapeError(f"Artifact path {path!r} is absolute; give a path relative to the run.")
    normalized = posixpath.normpath(clean)
    if normalized == ".." or normalized.startswith("../") or normalized == ".":
        raise PathEscapeError(f"Artifact path {path!r} leaves the run's artifact folder.")
    return normalized


class TrackingClient:
    def __init__(
        self,
        store: Store,
        artifacts: ArtifactStore,
        *,
        flush_interval: float = 1.0,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.clock = clock
        self.buffer = MetricBuffer(store.runs.log_metrics, flush_interval)
        self._experiments: dict[str, Experiment] = {}

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- experiments
    def experiment(self, name: str) -> Experiment:
        exp = self._experiments.get(name)
        if exp is None:
            if not isinstance(name, str) or not name.strip():
                raise InvalidArgumentError("An experiment name must be a non-empty string.")
            exp = self._experiments[name] = self.store.runs.get_or_create_experiment(name)
        return exp

    # -- runs
    def create_run(
        self,
        experiment: str | None = None,
        name: str | None = None,
        parent_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Run:
        exp = self.experiment(experiment or DEFAULT_EXPERIMENT)
        src = source_info()
        return self.store.runs.create_run(
            exp.id,
            name=name,
            start_ms=self.now_ms(),
            parent_id=parent_id,
            user=src.user,
            git_commit=src.git_commit,
            git_dirty=src.git_dirty,
            entry_point=src.entry_point,
            tags={_check_key("Tag", k): str(v) for k, v in (tags or {}).items()},
        )

    def end_run(self, run_id: str, status: RunStatus = RunStatus.FINISHED, error: str | None = None) -> None:
        self.flush()
        self.store.runs.end_run(run_id, RunStatus(status), self.now_ms(), error)

    def get_run(self, run_id: str) -> Run:
        self.flush()
        return self.store.runs.get_run(run_id)

    def search_runs(
        self,
        filter: str | None = None,
        experiment: str | Sequence[str] | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Run]:
        self.flush()
        ids = None
        if experiment is not None:
            names = [experiment] if isinstance(experiment, str) else list(experiment)
            ids = [self.store.runs.get_experiment(n).id for n in names]
        return self.store.runs.search_runs(ids, filter, order_by, limit, offset)

    # -- params, tags, metrics
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.store.runs.log_params(run_id, {_check_key("Param", k): str(v) for k, v in params.items()})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.store.runs.set_tags(run_id, {_check_key("Tag", k): str(v) for k, v in tags.items()})

    def log_metric(self, run_id: str, key: str, value: float, step: int | None = None) -> None:
        """Buffered: returns at once; the value reaches the store within one flush interval."""
        if key.__class__ is not str or not key or len(key) > MAX_KEY_LENGTH:
            _check_key("Metric", key)
        if value.__class__ is not float:
            value = _check_value(key, value)
        self.buffer.add(MetricRecord(run_id, key, value, 0 if step is None else int(step), self.now_ms()))

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int | None = None) -> None:
        ts, s = self.now_ms(), 0 if step is None else int(step)
        self.buffer.extend(
            [
                MetricRecord(run_id, _check_key("Metric", k), _check_value(k, v), s, ts)
                for k, v in metrics.items()
            ]
        )

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.flush()
        return self.store.runs.get_metric_history(run_id, key)

    def flush(self) -> None:
        """Write every buffered metric value now."""
        self.buffer.flush()

    # -- artifacts
    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path_: str | None = None
    ) -> Artifact:
        """Store a file or a folder in the blob store and attach it to the run under ``artifact_path_``."""
        source = Path(local_path)
        if not source.exists():
            raise NotFoundError(f"Cannot log artifact {str(local_path)!r}: no such file or folder.")
        name = artifact_path(posixpath.join(artifact_path_, source.name) if artifact_path_ else source.name)
        blob = self.artifacts.put_dir(source) if source.is_dir() else self.artifacts.put_file(source)
        artifact = Artifact(name, blob.digest, blob.size, blob.kind, self.now_ms())
        self.store.runs.add_artifact(run_id, artifact)
        return artifact

    def log_bytes(self, run_id: str, data: bytes, path: str) -> Artifact:
        name = artifact_path(path)
        blob = self.artifacts.put_bytes(data)
        artifact = Artifact(name, blob.digest, blob.size, "file", self.now_ms())
        self.store.runs.add_artifact(run_id, artifact)
        return artifact

    def download_artifact(self, run_id: str, path: str, dest: str | Path) -> Path:
        """Copy the run's artifact at ``path`` (file or folder) into the folder ``dest``; return its path."""
        name = artifact_path(path)
        match = next((a for a in self.store.runs.list_artifacts(run_id) if a.path == name), None)
        if match is None:
            raise NotFoundError(f"Run {run_id} has no artifact {name!r}; see `loopml runs show {run_id}`.")
        target = Path(dest) / posixpath.basename(name)
        if match.kind == "dir":
            return self.artifacts.get_dir(match.digest, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        return self.artifacts.get_file(match.digest, target)

    def close(self) -> None:
        self.buffer.close()
        self.store.close()


def describe_error(exc: BaseException, tb: TracebackType | None) -> str:
    """What a failed run records: the error line first, then the traceback."""
    head = f"{type(exc).__name__}: {exc}"
    return head + "\n\n" + "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


def jsonable(obj: Any) -> bytes:
    def default(value: Any) -> Any:
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return None if math.isnan(float(value)) else float(value)
        if hasattr(value, "tolist"):
            return value.tolist()
        raise InvalidArgumentError(f"Cannot store {type(value).__name__} as JSON.")

    return json.dumps(obj, indent=2, sort_keys=True, default=default).encode()
