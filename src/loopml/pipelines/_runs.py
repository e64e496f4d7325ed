"""What a pipeline run reports: its steps, each with status, cache hit, duration and output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopml.errors import NotFoundError
from loopml.pipelines._materializers import StoredValue, load_value


class StepStatus:
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # an upstream step failed
    KILLED = "KILLED"


@dataclass
class StepRun:
    """One node of a pipeline run. ``name`` is the node (``train``, or ``train_2`` for a second call)."""

    name: str
    step: str
    upstream: list[str]
    status: str = StepStatus.PENDING
    cached: bool = False
    run_id: str | None = None
    duration_s: float | None = None
    attempts: int = 0
    output: StoredValue | None = None
    error: str | None = None
    cache_key: str | None = None
    reused_from: str | None = None  # the step run whose output stood in (cache hit or resume)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "step": self.step,
            "status": self.status,
            "cached": self.cached,
            "run_id": self.run_id,
            "duration_s": self.duration_s,
            "attempts": self.attempts,
            "upstream": self.upstream,
            "output": None if self.output is None else self.output.as_json(),
            "error": self.error,
            "cache_key": self.cache_key,
            "reused_from": self.reused_from,
        }


@dataclass
class PipelineRun:
    """A pipeline's run: a tracked run (``id``) whose steps are its child runs."""

    id: str
    name: str
    status: str
    params: dict[str, Any]
    executor: str
    steps: list[StepRun] = field(default_factory=list)
    error: str | None = None
    duration_s: float | None = None

    def __repr__(self) -> str:
        cached = sum(s.cached for s in self.steps)
        return f"<PipelineRun {self.name} id={self.id} {self.status} steps={len(self.steps)} cached={cached}>"

    def step(self, name: str) -> StepRun:
        for s in self.steps:
            if s.name == name:
                return s
        names = ", ".join(s.name for s in self.steps)
        raise NotFoundError(f"Pipeline run {self.id} has no step {name!r}; its steps: {names}.")

    __getitem__ = step

    def output(self, name: str) -> Any:
        """The value step ``name`` returned, read back from the blob store."""
        from loopml.tracking import get_client

        stored = self.step(name).output
        if stored is None:
            raise NotFoundError(
                f"Step {name!r} of run {self.id} has no output (status {self.step(name).status})."
            )
        return load_value(stored, get_client().artifacts)

    @property
    def cached_steps(self) -> list[str]:
        return [s.name for s in self.steps if s.cached]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "params": self.params,
            "executor": self.executor,
            "duration_s": self.duration_s,
            "error": self.error,
            "steps": [s.as_json() for s in self.steps],
        }
