"""The registry's entities as the Store hands them out: registered models, their versions, aliases,
evaluations, gate decisions, and the audit trail of every change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class RegisteredModel:
    id: str
    name: str
    description: str
    created_ms: int
    updated_ms: int
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version number
    latest_version: int | None = None


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: a model bundle (a folder in the blob store) with where it came from."""

    id: str
    model_id: str
    name: str
    version: int
    bundle_digest: str
    flavor: str
    source_run_id: str | None
    description: str
    created_ms: int
    created_by: str
    metrics: dict[str, float] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()  # ids of the dataset versions it was trained on
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class ModelEvaluation:
    id: str
    version_id: str
    dataset_version_id: str | None
    created_ms: int
    evaluation: dict[str, Any]


@dataclass(frozen=True)
class GateRecord:
    id: str
    model_id: str
    candidate_version_id: str
    baseline_version_id: str | None
    passed: bool
    decision: dict[str, Any]
    created_ms: int
    created_by: str


@dataclass(frozen=True)
class AuditEvent:
    """Who did what to which entity, when, and why."""

    id: int
    at_ms: int
    actor: str
    action: str  # e.g. "model.register", "alias.set", "alias.delete", "gate.decide"
    entity_type: str
    entity: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, tz=UTC)
