"""The metadata Store: one small repository per entity family.

``store.runs`` holds experiments and runs (params, tags, metrics, artifacts). Later layers add their own
repositories (``store.datasets``, ``store.models``, ...) next to it. Every implementation passes the contract
suite in ``tests/store``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from loopml.store._entities import Artifact, Experiment, Metric, MetricRecord, Run, RunStatus


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


class Store(Protocol):
    """Everything loopml knows about, except blob bytes (those live in an ArtifactStore)."""

    @property
    def runs(self) -> RunRepository: ...
    @property
    def url(self) -> str: ...
    def schema_revision(self) -> str | None: ...
    def referenced_digests(self) -> Iterable[str]:
        """Every blob digest some record refers to (manifests are expanded by the caller)."""
        ...

    def close(self) -> None: ...
