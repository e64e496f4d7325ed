"""The tracking entities as the Store hands them out: plain, immutable values."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

# the dataset entities live in their own module (cheap to load for a quick lookup); they are part of this one
from loopml.store._dataset_entities import Dataset, DatasetStatus, DatasetVersion

__all__ = [
    "Artifact",
    "CachedStep",
    "Dataset",
    "DatasetStatus",
    "DatasetVersion",
    "Experiment",
    "Metric",
    "MetricRecord",
    "Run",
    "RunStatus",
    "StepRecord",
    "datetime_to_ms",
    "ms_to_datetime",
]


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


def ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def datetime_to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware (loopml keeps time in UTC)")
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str
    description: str
    created_ms: int

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class Metric:
    """One logged value of a metric: the value at ``step``, logged at ``timestamp_ms``."""

    key: str
    value: float
    step: int
    timestamp_ms: int

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class MetricRecord:
    """A metric value on its way into the store (it names its run)."""

    run_id: str
    key: str
    value: float
    step: int
    timestamp_ms: int


@dataclass(frozen=True)
class Artifact:
    """A blob attached to a run under a relative path; ``kind`` is ``file`` or ``dir`` (a manifest)."""

    path: str
    digest: str
    size: int
    kind: str
    created_ms: int


@dataclass(frozen=True)
class Run:
    """A run as stored: its attributes, params, tags, the latest value of each metric, its artifacts."""

    id: str
    experiment_id: str
    experiment_name: str
    name: str
    status: RunStatus
    start_ms: int
    end_ms: int | None
    parent_id: str | None
    user: str
    git_commit: str | None
    git_dirty: bool | None
    entry_point: str | None
    error: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)

    @property
    def start_time(self) -> datetime:
        return datetime.fromtimestamp(self.start_ms / 1000, tz=UTC)

    @property
    def end_time(self) -> datetime | None:
        return ms_to_datetime(self.end_ms)

    @property
    def duration_s(self) -> float | None:
        return None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000


@dataclass(frozen=True)
class StepRecord:
    """A pipeline step's run as the coordinator records it, in one transaction.

    ``run_id`` names a run created when the step started; ``None`` creates the run here (a step answered
    from the cache or reused by a resume, which never starts). ``cache_key`` set on a finished step makes
    it the cache entry for that key; ``outputs_json`` describes its stored outputs.
    """

    experiment_id: str
    parent_id: str
    name: str
    status: RunStatus
    start_ms: int
    end_ms: int
    run_id: str | None = None
    error: str | None = None
    user: str = ""
    git_commit: str | None = None
    git_dirty: bool | None = None
    entry_point: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    dataset_inputs: list[str] = field(default_factory=list)  # dataset version ids
    cache_key: str | None = None
    outputs_json: str | None = None


@dataclass(frozen=True)
class CachedStep:
    """The step run that answers a cache key, and the outputs it stored."""

    cache_key: str
    run_id: str
    outputs_json: str
    created_ms: int
