"""The scheduling loop: plan the graph, answer what the cache can, hand the rest to an executor, record all.

Only this loop writes a pipeline's state. It creates the pipeline run (a tracked run) and one child run per
step (created when the step starts, or at once, finished, when the cache or a resume answers it), and ends
them from the executors' results. A failed step skips what depends on it; independent branches go on.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from loopml.data import DatasetRef
from loopml.errors import PipelineFailedError
from loopml.pipelines._executors import Executor
from loopml.pipelines._keys import cache_key, describe_param
from loopml.pipelines._materializers import StoredValue
from loopml.pipelines._runs import PipelineRun, StepRun, StepStatus
from loopml.pipelines._step import (
    Handle,
    Node,
    PipelineDefinitionError,
    Planner,
    data_refs,
    leaves,
    map_leaves,
    planning,
    stop_planning,
)
from loopml.pipelines._worker import StepResult, StepTask
from loopml.store import Artifact, DatasetVersion, RunStatus, StepRecord

OnEvent = Callable[[PipelineRun, StepRun], None]

TAG_KIND = "loopml.kind"
TAG_PIPELINE = "loopml.pipeline"
TAG_PARAMS = "loopml.params"
TAG_DATA = "loopml.data"
TAG_NODE = "loopml.node"
TAG_POSITION = "loopml.position"  # the node's place in the plan: how `show` orders steps
TAG_STEP = "loopml.step"
TAG_KEY = "loopml.cache_key"
TAG_CACHED = "loopml.cached"
TAG_OUTPUTS = "loopml.outputs"
TAG_REUSED = "loopml.reused_from"
TAG_RESUMED = "loopml.resumed_from"
OUTPUT_PATH = "outputs/output"


def plan(fn: Callable[..., Any], params: Mapping[str, Any]) -> dict[str, Node]:
    """Call the pipeline's function with step calls recorded, not run; the nodes come in a valid order."""
    planner = Planner()
    token = planning(planner)
    try:
        fn(**params)
    finally:
        stop_planning(token)
    if not planner.nodes:
        raise PipelineDefinitionError(
            "The pipeline calls no steps: decorate the functions it calls with @lm.step."
        )
    return planner.nodes


class Reuse:
    """Finished steps of an earlier run that a resume may take instead of running them (same cache key)."""

    def __init__(self, run_id: str, steps: dict[str, tuple[str, str, StoredValue]]) -> None:
        self.run_id = run_id
        self.steps = steps  # node -> (cache key, step run id, output)


def run_graph(
    *,
    name: str,
    ref: str,
    nodes: dict[str, Node],
    params: dict[str, Any],
    experiment: str,
    executor: Executor,
    cache: bool,
    pinned_data: Mapping[str, str] | None = None,
    reuse: Reuse | None = None,
    on_event: OnEvent | None = None,
    raise_on_failure: bool = True,
) -> PipelineRun:
    from loopml._version import __version__
    from loopml.data import get as get_dataset
    from loopml.tracking import active_run, get_client, get_settings
    from loopml.tracking._source import source_info

    client = get_client()
    settings = get_settings()
    store = client.store

    # dataset references resolve to one version each, for the whole run
    refs: dict[str, DatasetRef] = {}
    for node in nodes.values():
        data_refs(node.arguments, refs)
    versions: dict[str, DatasetVersion] = {}
    for key, dref in refs.items():
        if pinned_data and key in pinned_data:
            versions[key] = store.datasets.get_by_id(pinned_data[key])
        else:
            versions[key] = get_dataset(dref, client)

    parent = active_run()
    tags = {
        TAG_KIND: "pipeline",
        TAG_PIPELINE: ref,
        TAG_PARAMS: json.dumps(params, sort_keys=True, default=str),
        TAG_DATA: json.dumps({k: v.id for k, v in versions.items()}, sort_keys=True),
        "loopml.executor": executor.name,
        "loopml.cache": "on" if cache else "off",
        "loopml.version": __version__,
    }
    if reuse is not None:
        tags[TAG_RESUMED] = reuse.run_id
    prun_record = client.create_run(experiment, name, parent.id if parent else None, tags)
    exp_id = prun_record.experiment_id
    described = {k: d for k, v in params.items() if (d := describe_param(v)) is not None}
    if described:
        client.log_params(prun_record.id, described)
    for version in versions.values():
        store.datasets.link_run(prun_record.id, version.id, "input")

    started = time.monotonic()
    prun = PipelineRun(prun_record.id, name, StepStatus.RUNNING, params, executor.name)
    states = {nid: StepRun(nid, node.step.name, list(node.upstream)) for nid, node in nodes.items()}
    prun.steps = list(states.values())
    dependents: dict[str, list[str]] = collections.defaultdict(list)
    waiting: dict[str, int] = {}
    for nid, node in nodes.items():
        waiting[nid] = len(node.upstream)
        for up in node.upstream:
            dependents[up].append(nid)
    ready = collections.deque(nid for nid, n in waiting.items() if n == 0)
    src = source_info()
    positions = {nid: i for i, nid in enumerate(nodes)}
    arguments: dict[str, dict[str, Any]] = {}
    in_flight = 0

    def emit(state: StepRun) -> None:
        if on_event is not None:
            on_event(prun, state)

    def record_base(node: Node, state: StepRun, args: dict[str, Any]) -> dict[str, Any]:
        step_params = {k: d for k, v in args.items() if (d := describe_param(v)) is not None}
        step_tags = {
            TAG_KIND: "step",
            TAG_STEP: node.step.name,
            TAG_NODE: node.id,
            TAG_POSITION: str(positions[node.id]),
            TAG_KEY: state.cache_key or "",
            "loopml.source": node.step.source_digest,
        }
        if node.step.cache_version is not None:
            step_tags["loopml.cache_version"] = node.step.cache_version
        for k, v in args.items():
            if type(v) is StoredValue:
                step_tags[f"loopml.input.{k}"] = v.digest
        return {"params": step_params, "tags": step_tags}

    def used_versions(value: Any, found: list[str]) -> list[str]:
        found.extend(leaf.id for leaf in leaves(value) if type(leaf) is DatasetVersion)
        return found

    def output_json(stored: StoredValue) -> str:
        return json.dumps([{"name": "output", **stored.as_json()}])

    def complete(nid: str) -> None:
        for child in dependents.get(nid, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)

    def skip_after(nid: str) -> None:
        stack = list(dependents.get(nid, ()))
        while stack:
            child = stack.pop()
            state = states[child]
            if state.status == StepStatus.PENDING:
                state.status = StepStatus.SKIPPED
                emit(state)
                stack.extend(dependents.get(child, ()))

    def start(nid: str) -> None:
        nonlocal in_flight
        node, state = nodes[nid], states[nid]
        args = _substitute(node.arguments, states, versions)
        arguments[nid] = args
        state.cache_key = key = cache_key(node.step.source_digest, node.step.cache_version, args, __version__)
        answer = _reused(reuse, nid, key) or (
            _cached(store, client.artifacts, key) if cache and node.step.cache else None
        )
        if answer is not None:
            from_run, stored = answer
            now = client.now_ms()
            base = record_base(node, state, args)
            base["tags"].update({TAG_CACHED: "true", TAG_REUSED: from_run, TAG_OUTPUTS: output_json(stored)})
            state.run_id = store.steps.record(
                StepRecord(
                    experiment_id=exp_id,
                    parent_id=prun.id,
                    name=nid,
                    status=RunStatus.FINISHED,
                    start_ms=now,
                    end_ms=now,
                    user=src.user,
                    git_commit=src.git_commit,
                    git_dirty=src.git_dirty,
                    entry_point=src.entry_point,
                    artifacts=[Artifact(OUTPUT_PATH, stored.digest, stored.size, "file", now)],
                    dataset_inputs=used_versions(args, []),
                    **base,
                )
            )
            state.status, state.cached, state.output, state.reused_from = (
                StepStatus.FINISHED,
                True,
                stored,
                from_run,
            )
            state.duration_s = 0.0
            emit(state)
            complete(nid)
            return
        base = record_base(node, state, args)
        base["tags"][TAG_CACHED] = "false"
        run = client.create_run(experiment, nid, prun.id, base["tags"])
        state.run_id, state.status = run.id, StepStatus.RUNNING
        emit(state)
        executor.submit(StepTask(nid, node.step, args, run.id, experiment, prun.id, settings))
        in_flight += 1

    def finish(result: StepResult) -> None:
        nid = result.node_id
        node, state = nodes[nid], states[nid]
        args = arguments.pop(nid)
        base = record_base(node, state, args)
        artifacts: list[Artifact] = []
        if result.logs:
            blob = client.artifacts.put_bytes(result.logs.encode())
            artifacts.append(Artifact("logs.txt", blob.digest, blob.size, "file", result.end_ms))
        base["tags"]["loopml.attempts"] = str(result.attempts)
        outputs = None
        if result.ok and result.output is not None:
            outputs = output_json(result.output)
            base["tags"][TAG_OUTPUTS] = outputs
            artifacts.append(
                Artifact(OUTPUT_PATH, result.output.digest, result.output.size, "file", result.end_ms)
            )
        status = RunStatus.FINISHED if result.ok else RunStatus.FAILED
        store.steps.record(
            StepRecord(
                run_id=state.run_id,
                experiment_id=exp_id,
                parent_id=prun.id,
                name=nid,
                status=status,
                start_ms=result.start_ms,
                end_ms=result.end_ms,
                error=result.error,
                artifacts=artifacts,
                dataset_inputs=used_versions(args, []),
                cache_key=state.cache_key if node.step.cache else None,
                outputs_json=outputs,
                **base,
            )
        )
        state.attempts = result.attempts
        state.duration_s = (result.end_ms - result.start_ms) / 1000
        if result.ok:
            state.status, state.output = StepStatus.FINISHED, result.output
            emit(state)
            complete(nid)
        else:
            state.status, state.error = StepStatus.FAILED, result.error
            emit(state)
            skip_after(nid)

    status, error = RunStatus.FINISHED, None
    try:
        while ready or in_flight:
            while ready:
                start(ready.popleft())
            if in_flight:
                results = executor.wait()
                in_flight -= len(results)
                for result in results:
                    finish(result)
    except BaseException as exc:
        status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
        error = f"{type(exc).__name__}: {exc}"
        for state in prun.steps:
            if state.status == StepStatus.RUNNING and state.run_id is not None:
                state.status = StepStatus.KILLED
                client.end_run(state.run_id, status, error)
        prun.status, prun.error = status.value, error
        client.end_run(prun.id, status, error)
        raise
    finally:
        executor.close()
    failed = [s for s in prun.steps if s.status == StepStatus.FAILED]
    if failed:
        first = failed[0]
        status = RunStatus.FAILED
        error = f"step {first.name!r} failed: {(first.error or '').splitlines()[0] if first.error else ''}"
    prun.status, prun.error = status.value, error
    prun.duration_s = time.monotonic() - started
    client.end_run(prun.id, status, error)
    if failed and raise_on_failure:
        raise PipelineFailedError(
            f"Pipeline {name!r} failed: {error}. Its run is {prun.id}; see `loopml pipeline show {prun.id}`, "
            f"and once fixed, `loopml pipeline resume {prun.id}` re-runs from the failed step.",
            prun,
        )
    return prun


def _substitute(value: Any, states: dict[str, StepRun], versions: dict[str, DatasetVersion]) -> Any:
    """A node's arguments as a task takes them: handles become stored outputs, references dataset versions."""

    def one(leaf: Any) -> Any:
        kind = type(leaf)
        if kind is Handle:
            stored = states[leaf.node_id].output
            assert stored is not None, leaf.node_id
            return stored
        if kind is DatasetRef:
            return versions[str(leaf)]
        return leaf

    return map_leaves(value, one)


def _reused(reuse: Reuse | None, nid: str, key: str) -> tuple[str, StoredValue] | None:
    if reuse is None:
        return None
    found = reuse.steps.get(nid)
    if found is None or found[0] != key:
        return None
    return found[1], found[2]


def _cached(store: Any, artifacts: Any, key: str) -> tuple[str, StoredValue] | None:
    hit = store.steps.find_cached(key)
    if hit is None:
        return None
    outputs = [StoredValue.from_json(o) for o in json.loads(hit.outputs_json)]
    if not outputs or not all(artifacts.exists(o.digest) for o in outputs):
        store.steps.forget(key)  # its outputs were collected: run the step again
        return None
    return hit.run_id, outputs[0]
