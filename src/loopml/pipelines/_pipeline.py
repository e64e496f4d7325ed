"""``@lm.pipeline``: a function calling steps, run as a DAG with caching, resume and a choice of executor."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, overload

from loopml.errors import InvalidArgumentError
from loopml.pipelines._executors import Executor, get_executor
from loopml.pipelines._materializers import StoredValue
from loopml.pipelines._runner import (
    TAG_CACHED,
    TAG_DATA,
    TAG_KEY,
    TAG_KIND,
    TAG_NODE,
    TAG_OUTPUTS,
    TAG_PARAMS,
    TAG_PIPELINE,
    TAG_POSITION,
    TAG_REUSED,
    OnEvent,
    Reuse,
    plan,
    run_graph,
)
from loopml.pipelines._runs import PipelineRun, StepRun, StepStatus
from loopml.pipelines._step import Node

P = ParamSpec("P")


class Pipeline(Generic[P]):
    """A pipeline. Calling it runs it with those parameters; ``run`` takes options too."""

    def __init__(
        self,
        fn: Callable[P, Any],
        *,
        name: str | None = None,
        experiment: str | None = None,
        executor: str = "local",
        workers: int | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.experiment = experiment or self.name
        self.executor = executor
        self.workers = workers
        self.signature = inspect.signature(fn)
        self.ref = f"{fn.__module__}:{fn.__qualname__}"
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> PipelineRun:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArgumentError(f"Pipeline {self.name!r}: {exc}.") from None
        return self.run(params=dict(bound.arguments))

    # -- parameters
    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        return dict(self.signature.parameters)

    def bind(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """A run's parameters: ``params`` over the function's defaults; unknown or missing ones fail."""
        params = dict(params or {})
        known = self.signature.parameters
        unknown = [k for k in params if k not in known]
        if unknown:
            listed = ", ".join(known) or "none"
            raise InvalidArgumentError(
                f"Pipeline {self.name!r} has no parameter {unknown[0]!r}; its parameters: {listed}."
            )
        bound: dict[str, Any] = {}
        for pname, p in known.items():
            if pname in params:
                bound[pname] = params[pname]
            elif p.default is not inspect.Parameter.empty:
                bound[pname] = p.default
            elif p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise InvalidArgumentError(
                    f"Pipeline {self.name!r} needs a value for {pname!r}: pass it, or --param {pname}=VALUE."
                )
        return bound

    def plan(self, params: Mapping[str, Any] | None = None) -> dict[str, Node]:
        """The graph the pipeline builds with these parameters, without running anything."""
        return plan(self.fn, self.bind(params))

    # -- running
    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        executor: str | Executor | None = None,
        workers: int | None = None,
        cache: bool = True,
        experiment: str | None = None,
        on_event: OnEvent | None = None,
        raise_on_failure: bool = True,
    ) -> PipelineRun:
        """Run the pipeline. ``cache=False`` runs every step (results still refresh the cache);
        ``executor`` is ``"local"`` (in this process, in order) or ``"process"`` (parallel workers)."""
        bound = self.bind(params)
        return run_graph(
            name=self.name,
            ref=self.ref,
            nodes=plan(self.fn, bound),
            params=bound,
            experiment=experiment or self.experiment,
            executor=get_executor(executor or self.executor, workers or self.workers),
            cache=cache,
            on_event=on_event,
            raise_on_failure=raise_on_failure,
        )

    def resume(
        self,
        run_id: str,
        *,
        executor: str | Executor | None = None,
        workers: int | None = None,
        on_event: OnEvent | None = None,
        raise_on_failure: bool = True,
    ) -> PipelineRun:
        """Run again from where run ``run_id`` failed, with the same dataset versions: its finished steps are
        reused (when their code, parameters and inputs are unchanged), the failed and skipped ones run."""
        from loopml.tracking import get_client

        client = get_client()
        old = client.get_run(run_id)
        if old.tags.get(TAG_KIND) != "pipeline":
            raise InvalidArgumentError(f"Run {run_id} is not a pipeline run; see `loopml pipeline ls`.")
        if old.tags.get(TAG_PIPELINE) != self.ref:
            raise InvalidArgumentError(
                f"Run {run_id} is a run of {old.tags.get(TAG_PIPELINE)}, not of {self.ref}."
            )
        params = json.loads(old.tags.get(TAG_PARAMS, "{}"))
        bound = self.bind(params)
        return run_graph(
            name=self.name,
            ref=self.ref,
            nodes=plan(self.fn, bound),
            params=bound,
            experiment=old.experiment_name,
            executor=get_executor(executor or old.tags.get("loopml.executor") or self.executor, workers),
            cache=old.tags.get("loopml.cache", "on") == "on",
            pinned_data=json.loads(old.tags.get(TAG_DATA, "{}")),
            reuse=_finished_steps(run_id),
            on_event=on_event,
            raise_on_failure=raise_on_failure,
        )


def _finished_steps(run_id: str) -> Reuse:
    from loopml.tracking import get_client

    client = get_client()
    found: dict[str, tuple[str, str, StoredValue]] = {}
    for child in client.store.steps.child_runs(run_id):
        outputs = child.tags.get(TAG_OUTPUTS)
        if child.status.value != "FINISHED" or not outputs:
            continue
        stored = [StoredValue.from_json(o) for o in json.loads(outputs)]
        if stored and all(client.artifacts.exists(s.digest) for s in stored):
            found[child.tags.get(TAG_NODE, child.name)] = (child.tags.get(TAG_KEY, ""), child.id, stored[0])
    return Reuse(run_id, found)


@overload
def pipeline(fn: Callable[P, Any], /) -> Pipeline[P]: ...
@overload
def pipeline(
    *,
    name: str | None = None,
    experiment: str | None = None,
    executor: str = "local",
    workers: int | None = None,
) -> Callable[[Callable[P, Any]], Pipeline[P]]: ...
def pipeline(
    fn: Callable[P, Any] | None = None,
    /,
    *,
    name: str | None = None,
    experiment: str | None = None,
    executor: str = "local",
    workers: int | None = None,
) -> Pipeline[P] | Callable[[Callable[P, Any]], Pipeline[P]]:
    """Make a function that calls steps a pipeline: ``@lm.pipeline`` or ``@lm.pipeline(executor="process")``.

    Its runs go to the experiment named after it unless ``experiment`` says otherwise.
    """

    def wrap(f: Callable[P, Any]) -> Pipeline[P]:
        return Pipeline(f, name=name, experiment=experiment, executor=executor, workers=workers)

    return wrap if fn is None else wrap(fn)


# -- finding pipelines and their runs


def load_pipeline(ref: str) -> Pipeline[...]:
    """The pipeline ``module:name`` or ``path/to/file.py:name`` names (the working folder is importable)."""
    from loopml._objects import import_object

    obj = import_object(ref, what="a pipeline", example="training:pipeline")
    if not isinstance(obj, Pipeline):
        raise InvalidArgumentError(f"{ref} is not a pipeline: decorate it with @lm.pipeline.")
    return obj


def resume(
    run_id: str, *, executor: str | Executor | None = None, on_event: OnEvent | None = None
) -> PipelineRun:
    """Resume a failed pipeline run, importing its pipeline by the module and name the run recorded."""
    from loopml.tracking import get_client

    old = get_client().get_run(run_id)
    ref = old.tags.get(TAG_PIPELINE)
    if old.tags.get(TAG_KIND) != "pipeline" or not ref:
        raise InvalidArgumentError(f"Run {run_id} is not a pipeline run; see `loopml pipeline ls`.")
    if ref.startswith("__main__:"):
        raise InvalidArgumentError(
            f"Run {run_id} ran a pipeline defined in a script's __main__; resume it from that script with "
            f"`{ref.split(':', 1)[1]}.resume({run_id!r})`."
        )
    return load_pipeline(ref).resume(run_id, executor=executor, on_event=on_event)


def get_pipeline_run(run_id: str) -> PipelineRun:
    """A stored pipeline run with its steps (steps skipped after a failure are not stored)."""
    from loopml.tracking import get_client

    client = get_client()
    run = client.get_run(run_id)
    if run.tags.get(TAG_KIND) != "pipeline":
        raise InvalidArgumentError(f"Run {run_id} is not a pipeline run; see `loopml pipeline ls`.")
    prun = PipelineRun(
        run.id,
        run.name,
        run.status.value,
        json.loads(run.tags.get(TAG_PARAMS, "{}")),
        run.tags.get("loopml.executor", ""),
        error=run.error,
        duration_s=run.duration_s,
    )
    children = client.store.steps.child_runs(run_id)
    children.sort(key=lambda c: int(c.tags.get(TAG_POSITION, "0")))
    for child in children:
        outputs = child.tags.get(TAG_OUTPUTS)
        stored = [StoredValue.from_json(o) for o in json.loads(outputs)] if outputs else []
        prun.steps.append(
            StepRun(
                name=child.tags.get(TAG_NODE, child.name),
                step=child.tags.get("loopml.step", child.name),
                upstream=[],
                status=child.status.value if child.status.value != "KILLED" else StepStatus.KILLED,
                cached=child.tags.get(TAG_CACHED) == "true",
                run_id=child.id,
                duration_s=child.duration_s,
                attempts=int(child.tags.get("loopml.attempts", "0")),
                output=stored[0] if stored else None,
                error=child.error,
                cache_key=child.tags.get(TAG_KEY) or None,
                reused_from=child.tags.get(TAG_REUSED),
            )
        )
    return prun
