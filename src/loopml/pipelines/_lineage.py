"""From a stored output back to where it came from: the step, its pipeline run, the code and the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopml.errors import NotFoundError
from loopml.store import Artifact, Run


@dataclass(frozen=True)
class ArtifactLineage:
    """Where a blob came from. ``step_run`` made it (the first run holding it that actually ran, not a
    cache hit); ``pipeline_run`` is that step's pipeline; ``datasets`` are the dataset versions the step and
    its pipeline read, as ``name:version``; ``inputs`` are the lineages of the step outputs it took."""

    digest: str
    step_run: Run
    pipeline_run: Run | None
    git_commit: str | None
    git_dirty: bool | None
    source_digest: str | None
    datasets: list[str]
    inputs: dict[str, ArtifactLineage] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "step_run": self.step_run.id,
            "step": self.step_run.tags.get("loopml.step", self.step_run.name),
            "pipeline_run": None if self.pipeline_run is None else self.pipeline_run.id,
            "pipeline": None if self.pipeline_run is None else self.pipeline_run.tags.get("loopml.pipeline"),
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "source_digest": self.source_digest,
            "params": self.step_run.params,
            "datasets": self.datasets,
            "inputs": {k: v.as_json() for k, v in self.inputs.items()},
        }


def trace(artifact: str | Artifact, *, depth: int = 20) -> ArtifactLineage:
    """Walk back from a blob (a digest, or a run's artifact) to the step that made it, its pipeline run, the
    code version and the dataset versions, and on through the step outputs that step took."""
    from loopml.tracking import get_client

    client = get_client()
    digest = artifact.digest if isinstance(artifact, Artifact) else artifact
    runs = [client.store.runs.get_run(r) for r in client.store.steps.producers(digest)]
    if not runs:
        raise NotFoundError(f"No run holds the blob {digest}; it was not made by a tracked run or step.")
    made = next((r for r in runs if r.tags.get("loopml.cached") == "false"), runs[0])
    parent = client.store.runs.get_run(made.parent_id) if made.parent_id else None
    datasets: dict[str, None] = {}
    for run in (made, parent):
        if run is not None:
            for version, _ in client.store.datasets.run_datasets(run.id):
                datasets[f"{version.name}:{version.version}"] = None
    inputs: dict[str, ArtifactLineage] = {}
    if depth > 0:
        for key, value in made.tags.items():
            if key.startswith("loopml.input."):
                inputs[key.removeprefix("loopml.input.")] = trace(value, depth=depth - 1)
    return ArtifactLineage(
        digest=digest,
        step_run=made,
        pipeline_run=parent,
        git_commit=made.git_commit,
        git_dirty=made.git_dirty,
        source_digest=made.tags.get("loopml.source"),
        datasets=list(datasets),
        inputs=inputs,
    )
