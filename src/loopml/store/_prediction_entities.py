"""The prediction log's entities as the Store hands them out: the index of a Parquet segment, and a label."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PredictionSegment:
    """One Parquet blob of logged requests of a model: rows timed ``min_ts`` to ``max_ts`` (ms, inclusive)."""

    id: str
    model: str
    digest: str
    num_rows: int
    min_ts: int
    max_ts: int
    versions: tuple[int, ...]
    routes: tuple[str, ...]
    created_ms: int


@dataclass(frozen=True)
class PredictionLabel:
    """The ground truth of one logged request, received at ``at_ms``."""

    model: str
    request_id: str
    label: Any
    at_ms: int
