"""The prediction log's entities as the Store hands them out: the index of a Parquet segment, and a label."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PredictionSegment:
    """One Parquet blob of logged requests of a model: rows timed ``min_ts`` to ``max_ts`` (ms, inclusive),
    all within one hour (UTC). ``num_rows`` counts every row, ``error_rows`` those of failed requests (one
    each); ``profile_digest`` is the blob of the segment's profiles (``loopml.monitoring.segment_profiles``),
    None for a segment written before segments had them."""

    id: str
    model: str
    digest: str
    num_rows: int
    min_ts: int
    max_ts: int
    versions: tuple[int, ...]
    routes: tuple[str, ...]
    created_ms: int
    profile_digest: str | None = None
    error_rows: int = 0


@dataclass(frozen=True)
class PredictionLabel:
    """The ground truth of one logged request, received at ``at_ms``."""

    model: str
    request_id: str
    label: Any
    at_ms: int
