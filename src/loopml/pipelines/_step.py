"""``@lm.step``: a typed function that, inside a pipeline, becomes a node of its graph.

Called outside a pipeline, a step is its function. Called while a pipeline is being planned, it records a node
and returns a ``Handle`` to the node's output, which other steps take as an argument.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from loopml.data import DatasetRef
from loopml.errors import InvalidArgumentError

P = ParamSpec("P")
R = TypeVar("R")


class PipelineDefinitionError(InvalidArgumentError):
    """A pipeline's function does something a plan cannot hold (uses a handle as a value, ...)."""


@dataclass(eq=False)
class Node:
    """One call of a step in a pipeline: its arguments may hold handles and dataset references."""

    id: str
    step: Step[..., Any]
    arguments: dict[str, Any]
    upstream: list[str] = field(default_factory=list)


class Handle:
    """The output of a step that has not run yet: pass it to other steps inside the pipeline."""

    __slots__ = ("node_id",)

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id

    def __repr__(self) -> str:
        return f"<output of step {self.node_id!r}>"

    def _misuse(self, *_: Any, **__: Any) -> Any:
        raise PipelineDefinitionError(
            f"The output of step {self.node_id!r} does not exist while the pipeline is planned: pass it to "
            "another step, and do the work with its value inside that step."
        )

    __bool__ = __iter__ = __len__ = __getitem__ = __call__ = _misuse
    __add__ = __sub__ = __mul__ = __truediv__ = __lt__ = __gt__ = __le__ = __ge__ = _misuse

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._misuse()


class Planner:
    """Collects the nodes of one pipeline while its function runs."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._counts: dict[str, int] = {}

    def add(self, step: Step[..., Any], arguments: dict[str, Any]) -> Handle:
        n = self._counts[step.name] = self._counts.get(step.name, 0) + 1
        node_id = step.name if n == 1 else f"{step.name}_{n}"
        upstream: dict[str, None] = {}
        _collect(arguments, upstream, self.nodes, node_id)
        self.nodes[node_id] = Node(node_id, step, arguments, list(upstream))
        return Handle(node_id)


def leaves(value: Any) -> Iterator[Any]:
    """What a step's argument holds: the value itself, or every value inside its lists, tuples and dicts."""
    kind = type(value)
    if kind is list or kind is tuple:
        for v in value:
            yield from leaves(v)
    elif kind is dict:
        for v in value.values():
            yield from leaves(v)
    else:
        yield value


def map_leaves(value: Any, fn: Callable[[Any], Any]) -> Any:
    """The argument with ``fn`` applied to each value in its lists, tuples and dicts (kept as they are)."""
    kind = type(value)
    if kind is list:
        return [map_leaves(v, fn) for v in value]
    if kind is tuple:
        return tuple(map_leaves(v, fn) for v in value)
    if kind is dict:
        return {k: map_leaves(v, fn) for k, v in value.items()}
    return fn(value)


def _collect(value: Any, found: dict[str, None], nodes: dict[str, Node], where: str) -> None:
    for leaf in leaves(value):
        if type(leaf) is Handle:
            if leaf.node_id not in nodes:
                raise PipelineDefinitionError(f"Step {where!r} got a handle from another pipeline.")
            found[leaf.node_id] = None


_planner: contextvars.ContextVar[Planner | None] = contextvars.ContextVar("loopml_planner", default=None)


def planning(planner: Planner | None) -> contextvars.Token[Planner | None]:
    return _planner.set(planner)


def stop_planning(token: contextvars.Token[Planner | None]) -> None:
    _planner.reset(token)


class Step(Generic[P, R]):
    """A function made a pipeline step. Its options decide caching, retries and the timeout."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        cache: bool = True,
        cache_version: str | None = None,
        retries: int = 0,
        retry_delay: float = 0.0,
        timeout: float | None = None,
    ) -> None:
        if not callable(fn):
            raise InvalidArgumentError("@lm.step decorates a function.")
        if not isinstance(retries, int) or retries < 0:
            raise InvalidArgumentError(f"retries must be a whole number from 0, got {retries!r}.")
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise InvalidArgumentError(f"timeout is a number of seconds above 0, got {timeout!r}.")
        self.fn = fn
        self.name = name or fn.__name__
        self.cache = cache
        self.cache_version = None if cache_version is None else str(cache_version)
        self.retries = retries
        self.retry_delay = float(retry_delay)
        self.timeout = None if timeout is None else float(timeout)
        self.signature = inspect.signature(fn)
        self._source: str | None = None
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    @property
    def source_digest(self) -> str:
        if self._source is None:
            from loopml.pipelines._keys import source_digest

            self._source = source_digest(self.fn)
        return self._source

    @property
    def importable(self) -> bool:
        """Whether a worker process can import this step by its module and name."""
        return "<locals>" not in self.fn.__qualname__ and "<lambda>" not in self.fn.__qualname__

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        planner = _planner.get()
        if planner is None:
            return self.fn(*args, **kwargs)
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise PipelineDefinitionError(f"Step {self.name!r}: {exc}.") from None
        bound.apply_defaults()
        handle: Any = planner.add(self, dict(bound.arguments))
        return handle  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Callable[[str, str], Step[..., Any]], tuple[str, str]]:
        # workers import the step by name: they receive references, never live functions
        return _import_step, (self.fn.__module__, self.fn.__qualname__)


def _import_step(module: str, qualname: str) -> Step[..., Any]:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, Step):
        raise InvalidArgumentError(f"{module}.{qualname} is not a loopml step in this process.")
    return obj


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    cache_version: str | None = None,
    retries: int = 0,
    retry_delay: float = 0.0,
    timeout: float | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...
def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    cache_version: str | None = None,
    retries: int = 0,
    retry_delay: float = 0.0,
    timeout: float | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a function a pipeline step: ``@lm.step`` or ``@lm.step(retries=2, timeout=60, cache=False)``.

    ``cache_version`` is yours to bump when something the step depends on changes outside its own source
    (a helper it calls, a file it reads); ``retries`` re-runs a failing step, ``retry_delay`` seconds apart;
    ``timeout`` fails an attempt that runs longer.
    """

    def wrap(f: Callable[P, R]) -> Step[P, R]:
        return Step(
            f,
            name=name,
            cache=cache,
            cache_version=cache_version,
            retries=retries,
            retry_delay=retry_delay,
            timeout=timeout,
        )

    return wrap if fn is None else wrap(fn)


def data_refs(value: Any, found: dict[str, DatasetRef]) -> None:
    """Every dataset reference among a node's arguments (resolved to versions once, at the start of a run)."""
    for leaf in leaves(value):
        if type(leaf) is DatasetRef:
            found[str(leaf)] = leaf
