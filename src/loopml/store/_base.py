"""The metadata Store: one small repository per entity family.

``store.runs`` holds experiments and runs (params, tags, metrics, artifacts); ``store.datasets`` the
dataset versions, their tags, and which runs read or wrote them; ``store.predictions`` the index of the
prediction log; ``store.monitors`` the monitors, their window results and alerts. Later layers add their own
repositories next to these. Every implementation passes the contract
suite in ``tests/store``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from loopml.store._deployment_entities import Deployment, Lease, LoopState
from loopml.store._entities import (
    Artifact,
    CachedStep,
    Dataset,
    DatasetStatus,
    DatasetVersion,
    Experiment,
    Metric,
    MetricRecord,
    Run,
    RunStatus,
    StepRecord,
)
from loopml.store._model_entities import (
    AuditEvent,
    GateRecord,
    ModelEvaluation,
    ModelVersion,
    RegisteredModel,
)
from loopml.store._monitor_entities import Alert, AlertEvent, Monitor, WindowResult
from loopml.store._prediction_entities import PredictionLabel, PredictionSegment


class RunRepository(Protocol):
    # -- experiments
    def create_experiment(self, name: str, description: str = "") -> Experiment: ...
    def get_experiment(self, id_or_name: str) -> Experiment: ...
    def get_or_create_experiment(self, name: str) -> Experiment: ...
    def list_experiments(self) -> list[tuple[Experiment, int]]:
        """Every experiment with its number of runs, oldest first."""
        ...

    # -- runs
    def create_run(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        start_ms: int,
        parent_id: str | None = None,
        user: str = "",
        git_commit: str | None = None,
        git_dirty: bool | None = None,
        entry_point: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run: ...
    def end_run(self, run_id: str, status: RunStatus, end_ms: int, error: str | None = None) -> None: ...
    def get_run(self, run_id: str) -> Run: ...
    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Run]: ...

    # -- what runs record
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        """Params are write-once: logging a key again with another value raises ``ConflictError``."""
        ...

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...
    def delete_tag(self, run_id: str, key: str) -> None: ...
    def log_metrics(self, records: Sequence[MetricRecord]) -> None:
        """Write many metric values (of any runs) in one transaction."""
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: ...
    def add_artifact(self, run_id: str, artifact: Artifact) -> None: ...
    def list_artifacts(self, run_id: str) -> list[Artifact]: ...
    def referenced_digests(self) -> Iterator[str]: ...


class DatasetRepository(Protocol):
    def add_version(
        self,
        name: str,
        *,
        digest: str,
        kind: str,
        num_rows: int,
        num_bytes: int,
        schema: dict[str, Any],
        status: DatasetStatus,
        description: str,
        environment: dict[str, str],
        created_ms: int,
        tags: Sequence[str] = (),
        checks: dict[str, Any] | None = None,
        parents: Sequence[str] = (),
        transform: dict[str, Any] | None = None,
        profile_digest: str | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Record a version (the same digest again returns the existing one); also says whether it is new."""
        ...

    def set_profile(self, version_id: str, digest: str) -> DatasetVersion:
        """Attach a profile blob to a version that has none (versions stored before profiles existed)."""
        ...

    def set_tag(self, name: str, tag: str, version: int) -> DatasetVersion: ...
    def link_run(self, run_id: str, version_id: str, direction: str) -> None: ...
    def get_dataset(self, name: str) -> Dataset: ...
    def get_version(self, name: str, version: int) -> DatasetVersion: ...
    def find_version(self, name: str, digest: str) -> DatasetVersion | None: ...
    def get_by_id(self, version_id: str) -> DatasetVersion: ...
    def get_latest(self, name: str) -> DatasetVersion: ...
    def get_tagged(self, name: str, tag: str) -> DatasetVersion: ...
    def list_datasets(self) -> list[tuple[Dataset, int]]: ...
    def list_versions(self, name: str) -> list[DatasetVersion]: ...
    def run_datasets(self, run_id: str) -> list[tuple[DatasetVersion, str]]: ...
    def referenced_digests(self) -> Iterator[str]: ...


class StepRepository(Protocol):
    def record(self, step: StepRecord) -> str:
        """Write a pipeline step's run (params, tags, artifacts, dataset inputs, cache entry) at once."""
        ...

    def find_cached(self, cache_key: str) -> CachedStep | None: ...
    def forget(self, cache_key: str) -> None: ...
    def children(self, parent_id: str) -> list[str]: ...
    def child_runs(self, parent_id: str) -> list[Run]: ...
    def producers(self, digest: str) -> list[str]: ...


class ModelRepository(Protocol):
    """Registered models, their versions and aliases, evaluations and gate decisions (``_sql_models.py``).
    Registrations, alias moves and gate decisions write their audit event in the same transaction."""

    def create_version(
        self,
        name: str,
        *,
        bundle_digest: str,
        flavor: str,
        created_ms: int,
        created_by: str,
        source_run_id: str | None = None,
        description: str = "",
        metrics: Mapping[str, float] | None = None,
        datasets: Sequence[str] = (),
        model_description: str = "",
        tags: Mapping[str, str] | None = None,
        reason: str = "",
    ) -> tuple[ModelVersion, bool]: ...
    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str, at_ms: int, reason: str = ""
    ) -> ModelVersion: ...
    def delete_alias(self, name: str, alias: str, *, actor: str, at_ms: int, reason: str = "") -> None: ...
    def add_evaluation(
        self,
        version_id: str,
        evaluation: Mapping[str, Any],
        *,
        created_ms: int,
        dataset_version_id: str | None,
    ) -> ModelEvaluation: ...
    def record_gate(
        self,
        *,
        candidate_version_id: str,
        baseline_version_id: str | None,
        passed: bool,
        decision: Mapping[str, Any],
        created_ms: int,
        created_by: str,
        reason: str = "",
    ) -> GateRecord: ...
    def get_model(self, name: str) -> RegisteredModel: ...
    def list_models(self) -> list[RegisteredModel]: ...
    def get_version(self, name: str, version: int) -> ModelVersion: ...
    def get_latest(self, name: str) -> ModelVersion: ...
    def get_by_alias(self, name: str, alias: str) -> ModelVersion: ...
    def get_version_by_id(self, version_id: str) -> ModelVersion: ...
    def list_versions(self, name: str) -> list[ModelVersion]: ...
    def versions_with_digest(self, bundle_digest: str) -> list[ModelVersion]: ...
    def evaluations(self, version_id: str) -> list[ModelEvaluation]: ...
    def gate_records(self, candidate_version_id: str) -> list[GateRecord]: ...
    def referenced_digests(self) -> Iterator[str]: ...


class AuditRepository(Protocol):
    def record(
        self,
        *,
        at_ms: int,
        actor: str,
        action: str,
        entity_type: str,
        entity: str,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None: ...
    def events(
        self, entity_type: str | None = None, entity: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]: ...


class PredictionRepository(Protocol):
    """The prediction log's index: Parquet segments of logged requests, and labels by request id
    (``_sql_predictions.py``). The rows live in the segment blobs, which ``loopml.monitoring`` writes."""

    def add_segment(
        self,
        model: str,
        *,
        digest: str,
        num_rows: int,
        min_ts: int,
        max_ts: int,
        versions: Iterable[int],
        routes: Iterable[str],
        created_ms: int,
        profile_digest: str | None = None,
        error_rows: int = 0,
    ) -> PredictionSegment:
        """Index a segment blob (and its profile blob); the same digest again for the same model returns the
        segment there."""
        ...

    def segments(
        self, model: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[PredictionSegment]:
        """The segments of ``model`` holding rows timed in [since_ms, until_ms), oldest first."""
        ...

    def replace_segments(
        self, model: str, old_ids: Sequence[str], new: Sequence[PredictionSegment]
    ) -> list[PredictionSegment]:
        """Swap segments for others holding the same rows (compaction), in one transaction."""
        ...

    def models(self) -> list[str]: ...
    def add_labels(self, model: str, labels: Sequence[tuple[str, Any]], *, at_ms: int) -> int:
        """Store ground truth by request id; a label replaces an older one of the same request."""
        ...

    def labels(
        self,
        model: str,
        request_ids: Iterable[str] | None = None,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[PredictionLabel]: ...
    def referenced_digests(self) -> Iterator[str]:
        """The segments' blobs and their profile blobs, for ``loopml gc``."""
        ...


class MonitorRepository(Protocol):
    """Monitors, the results of their windows, their alerts and each alert's history (``_sql_monitors.py``).
    Deleting a monitor deletes its windows, alerts and alert events with it."""

    def create(
        self,
        name: str,
        *,
        model: str,
        route: str | None,
        config: Mapping[str, Any],
        reference: Mapping[str, Any],
        created_ms: int,
        created_by: str,
    ) -> Monitor:
        """Record a new monitor; a name already taken raises ``ConflictError``."""
        ...

    def get(self, name: str) -> Monitor: ...
    # the methods after this one write builtins.list: here `list` is the method
    def list(self, model: str | None = None) -> list[Monitor]: ...
    def update(
        self,
        name: str,
        *,
        config: Mapping[str, Any] | None = None,
        reference: Mapping[str, Any] | None = None,
        updated_ms: int,
    ) -> Monitor: ...
    def delete(self, name: str) -> None: ...
    def put_windows(self, monitor_id: str, results: Sequence[WindowResult]) -> None:
        """Upsert on (monitor_id, start_ms, end_ms, model_version, slice): the later computation of a window
        wins, whole: results given for a window also remove its earlier results that they do not include,
        and are dropped when a later computation of the window is stored."""
        ...

    def windows(
        self,
        monitor_id: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        model_version: int | None = None,
        slice: str | None = None,
    ) -> builtins.list[WindowResult]:
        """The windows overlapping [since_ms, until_ms), by start."""
        ...

    def save_alert(self, alert: Alert) -> Alert:
        """Insert (``id`` "" gets a new one) or update by id; a second firing alert of the same monitor, rule
        and key raises ``ConflictError``."""
        ...

    def alerts(self, monitor_id: str | None = None, state: str | None = None) -> builtins.list[Alert]: ...
    def add_alert_event(
        self,
        alert_id: str,
        *,
        at_ms: int,
        kind: str,
        notifier: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> AlertEvent: ...
    def alert_events(
        self, alert_id: str | None = None, monitor_id: str | None = None
    ) -> builtins.list[AlertEvent]: ...
    def referenced_digests(self) -> Iterator[str]: ...


class DeploymentRepository(Protocol):
    """Deployments and their history (``_sql_deployments.py``). Every change writes its audit event
    (``deployment.create`` / ``deployment.set``, entity type ``deployment``) in the same transaction."""

    def create(
        self,
        name: str,
        *,
        model: str,
        champion: str = "@champion",
        canary: str | None = None,
        canary_percent: float = 0.0,
        shadow: str | None = None,
        sticky: str | None = None,
        at_ms: int,
        actor: str,
        reason: str = "",
    ) -> Deployment:
        """Record revision 1 of a new deployment; a name already taken raises ``ConflictError``."""
        ...

    def update(
        self,
        name: str,
        changes: Mapping[str, Any],
        *,
        at_ms: int,
        actor: str,
        reason: str = "",
        expected_revision: int | None = None,
    ) -> Deployment:
        """Write the next revision: the current one with ``changes`` (keys among ``champion``, ``canary``,
        ``canary_percent``, ``shadow``, ``sticky``; others raise ``InvalidArgumentError``). With
        ``expected_revision``, a deployment changed since raises ``ConflictError`` and nothing is written.
        Changes that change nothing write no revision (and no audit event) and return the current one."""
        ...

    def get(self, name: str) -> Deployment:
        """The current revision; ``NotFoundError`` naming the deployments that exist."""
        ...

    def list(self, model: str | None = None) -> list[Deployment]: ...
    def history(self, name: str) -> builtins.list[Deployment]:
        """Every revision, oldest first."""
        ...


class LoopRepository(Protocol):
    """The agent's state per model and the leases that keep two agents apart (``_sql_deployments.py``)."""

    def acquire_lease(self, model: str, holder: str, *, now_ms: int, ttl_ms: int) -> bool:
        """Take (or renew) the lease on ``model`` for ``holder`` until ``now_ms + ttl_ms``: True when it is
        free, expired (``expires_ms < now_ms``), or ``holder``'s already; False when another holder's lease
        is still live. Atomic: of two agents asking at once, one wins."""
        ...

    def release_lease(self, model: str, holder: str) -> None:
        """Give the lease up (only ``holder``'s own; another's is left alone)."""
        ...

    def lease(self, model: str) -> Lease | None:
        """The stored lease, live or expired (compare ``expires_ms`` with now), or None."""
        ...

    def get_state(self, model: str) -> LoopState:
        """The stored state, or a fresh ``LoopState(model)`` (revision 0) for a model never written."""
        ...

    def put_state(self, state: LoopState, *, at_ms: int) -> LoopState:
        """Write ``state`` if the stored revision is still ``state.revision`` (0: none stored); returns it
        with the next revision and ``updated_ms = at_ms``. Otherwise ``ConflictError``, nothing written."""
        ...

    def states(self) -> builtins.list[LoopState]: ...


class Store(Protocol):
    """Everything loopml knows about, except blob bytes (those live in an ArtifactStore)."""

    @property
    def runs(self) -> RunRepository: ...
    @property
    def datasets(self) -> DatasetRepository: ...
    @property
    def steps(self) -> StepRepository: ...
    @property
    def models(self) -> ModelRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def predictions(self) -> PredictionRepository: ...
    @property
    def monitors(self) -> MonitorRepository: ...
    @property
    def deployments(self) -> DeploymentRepository: ...
    @property
    def loops(self) -> LoopRepository: ...
    @property
    def url(self) -> str: ...
    def schema_revision(self) -> str | None: ...
    def referenced_digests(self) -> Iterable[str]:
        """Every blob digest some record refers to (manifests are expanded by the caller)."""
        ...

    def close(self) -> None: ...
