"""``RestStore``: the Store, through a loopml server.

Every repository method is one HTTP call, built from the same route table the server mounts
(``_routes.py``): the method's arguments go into the path, the query or a JSON body, and the answer is read
back into the entity the method returns. An error the server answers with is raised here as the same
loopml error class, with the server's message. A server that cannot be reached (the connection refused or
timing out before the request is sent) is asked again with backoff for ``retry_seconds``, so a restart
costs a pause rather than an error; nothing is retried once a request may have reached the server, except
reads.
"""

from __future__ import annotations

import getpass
import inspect
import json
import time
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import httpx
from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError

from loopml import errors
from loopml.store._base import (
    AuditRepository,
    DatasetRepository,
    DeploymentRepository,
    LoopRepository,
    ModelRepository,
    MonitorRepository,
    PredictionRepository,
    RunRepository,
    StepRepository,
)
from loopml.store._entities import MetricRecord
from loopml.store._routes import PROTOCOLS, ROUTES, Route, Spec, StoreInfo, method_of, spec_of

_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_READ_RETRYABLE = (*_RETRYABLE, httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout)


METRICS_PER_REQUEST = 50_000  # about 5 MB of JSON, well under the server's body limit


class RestStore:
    """A Store whose repositories call the loopml server at ``base_url`` (``LOOPML_SERVER_URL``), sending
    ``token`` (``LOOPML_TOKEN``) as a bearer token when given."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retry_seconds: float = 15.0,
        user: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        headers = {"user-agent": "loopml", "x-loopml-user": user if user is not None else _user()}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self._base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )
        self.retry_seconds = retry_seconds
        self._repos: dict[str, _Repository] = {name: _Repository(self, name) for name in PROTOCOLS}
        self._own = {r.method: _caller(self, spec_of(r)) for r in ROUTES if not r.repo}

    # -- the repositories
    @property
    def runs(self) -> RunRepository:
        return cast(RunRepository, self._repos["runs"])

    @property
    def datasets(self) -> DatasetRepository:
        return cast(DatasetRepository, self._repos["datasets"])

    @property
    def steps(self) -> StepRepository:
        return cast(StepRepository, self._repos["steps"])

    @property
    def models(self) -> ModelRepository:
        return cast(ModelRepository, self._repos["models"])

    @property
    def audit(self) -> AuditRepository:
        return cast(AuditRepository, self._repos["audit"])

    @property
    def predictions(self) -> PredictionRepository:
        return cast(PredictionRepository, self._repos["predictions"])

    @property
    def monitors(self) -> MonitorRepository:
        return cast(MonitorRepository, self._repos["monitors"])

    @property
    def deployments(self) -> DeploymentRepository:
        return cast(DeploymentRepository, self._repos["deployments"])

    @property
    def loops(self) -> LoopRepository:
        return cast(LoopRepository, self._repos["loops"])

    # -- the Store itself
    @property
    def url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"RestStore({self._base_url!r})"

    def info(self) -> StoreInfo:
        """The server's Store: its database URL (without password) and schema revision."""
        return cast(StoreInfo, self._own["info"]())

    def schema_revision(self) -> str | None:
        return self.info().schema_revision

    def referenced_digests(self) -> Iterable[str]:
        return cast(list[str], self._own["referenced_digests"]())

    def close(self) -> None:
        self._http.close()

    # -- one call
    def call(self, route: Route, path: str, *, params: Any = None, body: Any = None) -> httpx.Response:
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"content-type": "application/json"} if content is not None else None
        retryable = _READ_RETRYABLE if route.verb == "GET" else _RETRYABLE
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.1
        while True:
            try:
                response = self._http.request(
                    route.verb, path, params=params, content=content, headers=headers
                )
                break
            except retryable as exc:
                if time.monotonic() + pause > deadline:
                    raise errors.ServerUnavailableError(
                        f"the loopml server at {self._base_url} does not answer ({type(exc).__name__}: "
                        f"{exc}); start it with `loopml server`, or check LOOPML_SERVER_URL."
                    ) from exc
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
        if response.status_code >= 400:
            raise _error_of(response, f"{route.verb} {path}")
        return response


class _Repository:
    """One repository of a RestStore: a method per route of the table."""

    def __init__(self, store: RestStore, name: str) -> None:
        self._name = name
        for route in ROUTES:
            if route.repo == name:
                setattr(self, route.method, _caller(store, spec_of(route)))
        if name == "runs":
            write: Callable[[Sequence[MetricRecord]], None] = vars(self)["log_metrics"]

            def log_metrics(records: Sequence[MetricRecord]) -> None:
                """Write metric values in requests of at most METRICS_PER_REQUEST values each."""
                records = list(records)
                for start in range(0, len(records), METRICS_PER_REQUEST):
                    write(records[start : start + METRICS_PER_REQUEST])

            vars(self)["log_metrics"] = log_metrics

    def __repr__(self) -> str:
        return f"<remote {self._name} repository>"


def _caller(store: RestStore, spec: Spec) -> Callable[..., Any]:
    route = spec.route
    signature = inspect.signature(method_of(route))
    adapters = {p.name: TypeAdapter(p.annotation) for p in spec.params}
    result = TypeAdapter(spec.returns) if spec.returns is not None else None
    where = {p.name: p.where for p in spec.params}
    kinds = {p.name: _kind(p.annotation) for p in spec.params}

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{route.name}(): {exc}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        values.pop(next(iter(signature.parameters)))
        path_values: dict[str, Any] = {}
        query: dict[str, Any] = {}
        body: dict[str, Any] = {}
        for name, value in values.items():
            try:
                encoded = adapters[name].dump_python(_as(kinds[name], value), mode="json", warnings=False)
            except (PydanticSerializationError, ValueError, TypeError) as exc:
                raise errors.InvalidArgumentError(
                    f"{route.name}: {name} must be JSON to be sent to the server ({exc})"
                ) from None
            if where[name] == "path":
                path_values[name] = encoded
            elif where[name] == "query":
                if encoded is not None:
                    query[name] = encoded
            else:
                body[name] = encoded
        response = store.call(
            route, route.url_path(path_values), params=query or None, body=body if spec.body_params else None
        )
        if result is None:
            return None
        return result.validate_json(response.content)

    call.__name__ = route.method
    call.__doc__ = inspect.getdoc(method_of(route))
    return call


def _kind(annotation: Any) -> type | None:
    """list or dict when every non-None form of the annotation is one (to convert tuples, generators and
    mappings before they travel), else None."""
    forms = (
        [a for a in typing.get_args(annotation) if a is not type(None)]
        if _is_union(annotation)
        else [annotation]
    )
    origins = {typing.get_origin(a) or a for a in forms}
    if origins == {list}:
        return list
    if origins == {dict}:
        return dict
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _as(kind: type | None, value: Any) -> Any:
    if kind is None or value is None or isinstance(value, (kind, str, bytes)):
        return value
    return kind(value)


def _error_of(response: httpx.Response, what: str) -> errors.LoopmlError:
    kind, message, fields = "", "", {}
    try:
        payload = response.json()
        kind = str(payload["error"]["type"])
        message = str(payload["error"]["message"])
        fields = dict(payload["error"].get("fields") or {})
    except Exception:
        message = f"the server answered {response.status_code} to {what}: {response.text[:300]}"
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.LoopmlError)):
        cls = {404: errors.NotFoundError, 409: errors.ConflictError}.get(response.status_code)
        cls = cls or (errors.InvalidArgumentError if response.status_code < 500 else errors.LoopmlError)
    error = cls.__new__(cls)
    Exception.__init__(error, message)  # the server's message as it is (not formatted again)
    for key, value in fields.items():
        if isinstance(key, str) and key.isidentifier() and not key.startswith("_"):
            setattr(error, key, value)
    return error


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""
