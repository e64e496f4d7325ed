"""The Store's REST routes, as data: one row per repository method.

``loopml server`` mounts one route per row (``loopml.server._app``) and ``RestStore`` calls them
(``_rest.py``); both read the arguments and the result of each route from the signature of the method it
stands for in ``_base.py``, so the OpenAPI document, the server and the client cannot disagree. A route's
path parameters are the method's arguments of the same name; a GET route takes the others as query
parameters (scalars and lists of scalars only), every other route as one JSON object.

``role`` is the least role a token must hold (``reader`` < ``editor`` < ``admin``). ``audit`` says who
records the change: ``"repo"`` (the repository writes its own audit event in the same transaction),
``"server"`` (the server records ``<repository>.<method>`` with the caller as actor once the write has
succeeded), or ``""`` (a read, or a write too frequent to audit one by one: metric batches, leases,
prediction-log segments and labels, monitor windows).
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopml.store import _base

API_PREFIX = "/api/v1"

_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Route:
    verb: str
    path: str  # under API_PREFIX; ``{name}`` or ``{name:path}`` for a path parameter
    repo: str  # the Store's attribute ("runs", ...), or "" for the Store itself
    method: str
    role: str = ""  # "" = reader for GET, editor otherwise
    audit: str = "server"

    @property
    def need(self) -> str:
        return self.role or ("reader" if self.verb == "GET" else "editor")

    @property
    def audited_by_server(self) -> bool:
        return self.verb != "GET" and self.need != "reader" and self.audit == "server"

    @property
    def name(self) -> str:
        return f"{self.repo or 'store'}.{self.method}"

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAM.findall(self.path))

    def url_path(self, values: Mapping[str, Any]) -> str:
        from urllib.parse import quote

        def fill(m: re.Match[str]) -> str:
            value = str(values[m.group(1)])
            return quote(value, safe="/" if ":path" in m.group(0) else "")

        return API_PREFIX + _PATH_PARAM.sub(fill, self.path)


def _r(verb: str, path: str, name: str, role: str = "", audit: str = "server") -> Route:
    repo, _, method = name.rpartition(".")
    return Route(verb, path, repo, method, role, audit)


ROUTES: tuple[Route, ...] = (
    # -- the Store itself
    _r("GET", "/store", ".info"),
    _r("GET", "/referenced-digests", ".referenced_digests"),
    # -- experiments and runs
    _r("GET", "/experiments", "runs.list_experiments"),
    _r("POST", "/experiments", "runs.create_experiment"),
    _r("PUT", "/experiments/{name}", "runs.get_or_create_experiment", audit=""),
    _r("GET", "/experiments/{id_or_name}", "runs.get_experiment"),
    _r("POST", "/runs", "runs.create_run"),
    _r("POST", "/runs/search", "runs.search_runs", role="reader", audit=""),
    _r("GET", "/runs/{run_id}", "runs.get_run"),
    _r("POST", "/runs/{run_id}/end", "runs.end_run"),
    _r("POST", "/runs/{run_id}/params", "runs.log_params"),
    _r("PATCH", "/runs/{run_id}/tags", "runs.set_tags"),
    _r("DELETE", "/runs/{run_id}/tags/{key:path}", "runs.delete_tag"),
    _r("POST", "/metrics", "runs.log_metrics", audit=""),
    _r("GET", "/runs/{run_id}/metrics/{key:path}", "runs.get_metric_history"),
    _r("POST", "/runs/{run_id}/artifacts", "runs.add_artifact"),
    _r("GET", "/runs/{run_id}/artifacts", "runs.list_artifacts"),
    _r("GET", "/runs/{run_id}/datasets", "datasets.run_datasets"),
    _r("GET", "/referenced-digests/runs", "runs.referenced_digests"),
    # -- datasets
    _r("GET", "/datasets", "datasets.list_datasets"),
    _r("GET", "/datasets/{name}", "datasets.get_dataset"),
    _r("POST", "/datasets/{name}/versions", "datasets.add_version"),
    _r("GET", "/datasets/{name}/versions", "datasets.list_versions"),
    _r("GET", "/datasets/{name}/versions/{version}", "datasets.get_version"),
    _r("GET", "/datasets/{name}/latest", "datasets.get_latest"),
    _r("GET", "/datasets/{name}/by-digest/{digest}", "datasets.find_version"),
    _r("GET", "/datasets/{name}/tags/{tag}", "datasets.get_tagged"),
    _r("PUT", "/datasets/{name}/tags/{tag}", "datasets.set_tag"),
    _r("GET", "/dataset-versions/{version_id}", "datasets.get_by_id"),
    _r("PUT", "/dataset-versions/{version_id}/profile", "datasets.set_profile"),
    _r("POST", "/dataset-links", "datasets.link_run"),
    _r("GET", "/referenced-digests/datasets", "datasets.referenced_digests"),
    # -- pipeline steps
    _r("POST", "/steps", "steps.record"),
    _r("GET", "/step-cache/{cache_key}", "steps.find_cached"),
    _r("DELETE", "/step-cache/{cache_key}", "steps.forget"),
    _r("GET", "/runs/{parent_id}/children", "steps.children"),
    _r("GET", "/runs/{parent_id}/child-runs", "steps.child_runs"),
    _r("GET", "/blob-producers/{digest}", "steps.producers"),
    # -- models
    _r("GET", "/models", "models.list_models"),
    _r("GET", "/models/{name}", "models.get_model"),
    _r("POST", "/models/{name}/versions", "models.create_version", audit="repo"),
    _r("GET", "/models/{name}/versions", "models.list_versions"),
    _r("GET", "/models/{name}/versions/{version}", "models.get_version"),
    _r("GET", "/models/{name}/latest", "models.get_latest"),
    _r("GET", "/models/{name}/aliases/{alias}", "models.get_by_alias"),
    _r("PUT", "/models/{name}/aliases/{alias}", "models.set_alias", audit="repo"),
    _r("DELETE", "/models/{name}/aliases/{alias}", "models.delete_alias", audit="repo"),
    _r("GET", "/model-versions/{version_id}", "models.get_version_by_id"),
    _r("GET", "/model-versions/{version_id}/evaluations", "models.evaluations"),
    _r("POST", "/model-versions/{version_id}/evaluations", "models.add_evaluation"),
    _r("GET", "/model-versions/{candidate_version_id}/gate-records", "models.gate_records"),
    _r("POST", "/gate-records", "models.record_gate", audit="repo"),
    _r("GET", "/bundles/{bundle_digest}/versions", "models.versions_with_digest"),
    _r("GET", "/referenced-digests/models", "models.referenced_digests"),
    # -- the audit trail
    _r("GET", "/audit", "audit.events"),
    _r("POST", "/audit", "audit.record", audit=""),
    # -- the prediction log's index
    _r("GET", "/predictions", "predictions.models"),
    _r("GET", "/predictions/{model}/segments", "predictions.segments"),
    _r("POST", "/predictions/{model}/segments", "predictions.add_segment", audit=""),
    _r("POST", "/predictions/{model}/segments/replace", "predictions.replace_segments"),
    _r("POST", "/predictions/{model}/labels", "predictions.add_labels", audit=""),
    _r("POST", "/predictions/{model}/labels/query", "predictions.labels", role="reader", audit=""),
    _r("GET", "/predictions/{model}/has-labels", "predictions.has_labels"),
    _r("GET", "/referenced-digests/predictions", "predictions.referenced_digests"),
    # -- monitors, windows, alerts
    _r("GET", "/monitors", "monitors.list"),
    _r("POST", "/monitors", "monitors.create"),
    _r("GET", "/monitors/{name}", "monitors.get"),
    _r("PATCH", "/monitors/{name}", "monitors.update"),
    _r("DELETE", "/monitors/{name}", "monitors.delete"),
    _r("GET", "/monitor-windows/{monitor_id}", "monitors.windows"),
    _r("PUT", "/monitor-windows/{monitor_id}", "monitors.put_windows", audit=""),
    _r("GET", "/alerts", "monitors.alerts"),
    _r("POST", "/alerts", "monitors.save_alert"),
    _r("GET", "/alert-events", "monitors.alert_events"),
    _r("POST", "/alerts/{alert_id}/events", "monitors.add_alert_event"),
    _r("GET", "/referenced-digests/monitors", "monitors.referenced_digests"),
    # -- deployments
    _r("GET", "/deployments", "deployments.list"),
    _r("POST", "/deployments", "deployments.create", audit="repo"),
    _r("GET", "/deployments/{name}", "deployments.get"),
    _r("PATCH", "/deployments/{name}", "deployments.update", audit="repo"),
    _r("GET", "/deployments/{name}/history", "deployments.history"),
    # -- the loop's state and leases
    _r("GET", "/loops", "loops.states"),
    _r("GET", "/loops/{model}/lease", "loops.lease"),
    _r("POST", "/loops/{model}/lease", "loops.acquire_lease", audit=""),
    _r("DELETE", "/loops/{model}/lease", "loops.release_lease", audit=""),
    _r("GET", "/loops/{model}/state", "loops.get_state"),
    _r("POST", "/loop-states", "loops.put_state"),
)

# which Protocol describes each repository (the Store's attribute of that name)
PROTOCOLS: dict[str, type] = {
    "runs": _base.RunRepository,
    "datasets": _base.DatasetRepository,
    "steps": _base.StepRepository,
    "models": _base.ModelRepository,
    "audit": _base.AuditRepository,
    "predictions": _base.PredictionRepository,
    "monitors": _base.MonitorRepository,
    "deployments": _base.DeploymentRepository,
    "loops": _base.LoopRepository,
}


class StoreInfo(typing.NamedTuple):
    url: str
    schema_revision: str | None


class _StoreMethods(typing.Protocol):
    """The Store's own routes, as methods (the server answers them from the Store's properties)."""

    def info(self) -> StoreInfo: ...
    def referenced_digests(self) -> list[str]: ...


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any  # as transported (Iterator / Iterable / Sequence / Mapping made concrete)
    default: Any  # inspect.Parameter.empty when required
    where: str  # "path", "query" or "body"

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


@dataclass(frozen=True)
class Spec:
    """A route with its parameters and result type, read from the repository method's signature."""

    route: Route
    params: tuple[Param, ...]
    returns: Any  # None for a method that returns nothing

    @property
    def body_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.where == "body")


def _concrete(tp: Any) -> Any:
    """The type as it travels in JSON: abstract collections become lists and dicts."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Iterator, Iterable, Sequence, list) and args:
        return list[_concrete(args[0])]  # type: ignore[misc]
    if origin in (Mapping, dict) and args:
        return dict[_concrete(args[0]), _concrete(args[1])]  # type: ignore[misc]
    if origin is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            return list[_concrete(args[0])]  # type: ignore[misc]
        return tuple[tuple(_concrete(a) for a in args)]  # type: ignore[misc]
    if origin in (typing.Union, __import__("types").UnionType):
        concrete = tuple(_concrete(a) for a in args)
        return functools.reduce(lambda a, b: a | b, concrete)
    return tp


def _scalar(tp: Any) -> bool:
    if tp in (str, int, float, bool, type(None)):
        return True
    if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType):
        return all(_scalar(a) for a in typing.get_args(tp))
    return isinstance(tp, type) and issubclass(tp, str)  # str enums


def _query_type(tp: Any) -> bool:
    if _scalar(tp):
        return True
    parts = (
        typing.get_args(tp)
        if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType)
        else (tp,)
    )
    return all(_scalar(p) or (typing.get_origin(p) is list and _scalar(typing.get_args(p)[0])) for p in parts)


def method_of(route: Route) -> Callable[..., Any]:
    proto = PROTOCOLS[route.repo] if route.repo else _StoreMethods
    fn = getattr(proto, route.method, None)
    if fn is None:
        raise AssertionError(f"route {route.path}: {proto.__name__} has no method {route.method}")
    return fn  # type: ignore[no-any-return]


@functools.cache
def spec_of(route: Route) -> Spec:
    fn = method_of(route)
    hints = typing.get_type_hints(fn, include_extras=False)
    signature = inspect.signature(fn)
    in_path = set(route.path_params)
    params = []
    for p in list(signature.parameters.values())[1:]:
        tp = _concrete(hints[p.name])
        where = "path" if p.name in in_path else ("query" if route.verb == "GET" else "body")
        if where == "query" and not _query_type(tp):
            raise AssertionError(f"route GET {route.path}: {p.name} cannot travel as a query parameter")
        params.append(Param(p.name, tp, p.default, where))
    missing = in_path - {p.name for p in params}
    if missing:
        raise AssertionError(f"route {route.path}: no parameter named {sorted(missing)}")
    returns = hints.get("return")
    return Spec(route, tuple(params), None if returns is type(None) else _concrete(returns))


def specs() -> list[Spec]:
    return [spec_of(r) for r in ROUTES]
