"""The dataset entities as the Store hands them out: plain, immutable values."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class DatasetStatus(enum.StrEnum):
    OK = "ok"
    QUARANTINED = "quarantined"  # kept, but never what ``name@latest`` resolves to


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    description: str
    created_ms: int


@dataclass(frozen=True)
class DatasetVersion:
    """One content of a dataset: a Parquet file or a folder of them in the blob store, numbered 1, 2, 3…"""

    id: str
    dataset_id: str
    name: str
    version: int
    digest: str
    kind: str  # "file" (one Parquet file) or "dir" (a manifest of Parquet files)
    num_rows: int
    num_bytes: int
    schema: dict[str, Any]
    status: DatasetStatus
    description: str
    environment: dict[str, str]
    created_ms: int
    tags: tuple[str, ...] = ()
    checks: dict[str, Any] | None = None  # the report of the checks it was added with, if any
    transform: dict[str, Any] | None = None  # how a derived version was made (None for a source)
    parents: tuple[str, ...] = ()  # ids of the versions it was made from
    profile_digest: str | None = None  # blob of its profile (``lm.data.profile``)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_ms / 1000, tz=UTC)
