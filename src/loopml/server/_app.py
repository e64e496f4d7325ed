"""The team server: a FastAPI app over one Store and one ArtifactStore.

Every route of the Store's REST API comes from the table in ``loopml.store._routes``: the request model of
each (path, query and JSON body) and its response model are built from the signature of the repository
method it calls, so ``/openapi.json`` describes exactly what is served and ``RestStore`` calls the same
table. Errors are JSON ``{"error": {"type": "<loopml error class>", "message": "..."}}`` with the status of
their class (``STATUS``); a request that does not fit its model is a 422 ``InvalidArgumentError`` naming
each field. Request bodies are capped (``max_body_bytes``; blobs have their own, larger limit); no CORS
header is sent, so a browser page of another origin cannot read the API.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopml import errors
from loopml.artifacts import ArtifactStore
from loopml.store import Store
from loopml.store._routes import API_PREFIX, ROUTES, Param, Spec, StoreInfo, method_of, spec_of

# HTTP status of each error class (the nearest listed ancestor decides)
STATUS: dict[type[Exception], int] = {
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.InvalidArgumentError: 400,
    errors.DataCheckError: 422,
    errors.IntegrityError: 409,
    errors.ConfigError: 400,
    errors.UnsupportedOperationError: 400,
    errors.SchemaError: 503,
}
for _name, _status in (("UnauthorizedError", 401), ("ForbiddenError", 403)):
    if hasattr(errors, _name):
        STATUS[getattr(errors, _name)] = _status

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024

Require = Callable[[str], Callable[..., Any]]


@dataclass(frozen=True)
class LocalActor:
    """Who calls a server that checks no tokens: the user the client names, or ``local``."""

    name: str
    role: str = "admin"


def local_require(role: str) -> Callable[..., Any]:
    def dependency(request: Request) -> LocalActor:
        user = request.headers.get("x-loopml-user", "").strip()
        return LocalActor(user[:200] if user else "local")

    return dependency


def status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400 if isinstance(exc, errors.LoopmlError) else 500


def error_response(
    status: int, kind: str, message: str, fields: dict[str, Any] | None = None
) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    error: dict[str, Any] = {"type": kind, "message": message}
    if fields:
        error["fields"] = fields
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def error_fields(exc: Exception) -> dict[str, Any]:
    """The error's own plain attributes (a FilterError's text and position, a SignatureError's problems),
    so that a client can raise it again whole."""
    plain = (str, int, float, bool, type(None))
    return {
        k: v
        for k, v in vars(exc).items()
        if not k.startswith("_")
        and (isinstance(v, plain) or (isinstance(v, list) and all(isinstance(i, plain) for i in v)))
    }


def create_app(
    store: Store,
    artifacts: ArtifactStore | None = None,
    *,
    require: Require | None = None,
    auth: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_upload_bytes: int | None = None,
    clock: Callable[[], int] | None = None,
    ui: bool = True,
) -> FastAPI:
    """The server's app. ``require(role)`` gives the dependency that checks a caller's token for ``role``
    and returns its actor (``loopml.server._auth.Access.require``); without it nobody is checked and the
    actor is the user the client names. ``auth`` says whether actors come from tokens (then the ``actor``
    and ``created_by`` a client sends are replaced by its token's)."""
    from loopml._version import __version__

    now_ms = clock or (lambda: time.time_ns() // 1_000_000)
    require = require or local_require
    app = FastAPI(
        title="loopml",
        version=__version__,
        description="The loopml team server: the Store's REST API, blobs, and the web UI.",
    )
    app.state.store = store
    app.state.artifacts = artifacts

    @app.exception_handler(errors.LoopmlError)
    async def _loopml_error(request: Request, exc: errors.LoopmlError) -> JSONResponse:
        return error_response(status_of(exc), type(exc).__name__, str(exc), error_fields(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "NotFoundError", 401: "UnauthorizedError", 403: "ForbiddenError"}.get(
            exc.status_code, "InvalidArgumentError"
        )
        return error_response(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors()[:20]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        return error_response(422, "InvalidArgumentError", "the request does not fit: " + "; ".join(problems))

    app.state.body_models = []
    for route in ROUTES:
        _add_route(app, spec_of(route), store, require, auth=auth, now_ms=now_ms)

    if artifacts is not None:
        try:
            from loopml.server._blobs import blob_router
        except ImportError:  # pragma: no cover - the blob routes land with the remote artifact store
            pass
        else:
            app.include_router(blob_router(artifacts, require, max_upload_bytes=max_upload_bytes or 2**40))
    if ui and artifacts is not None:
        try:
            from loopml.ui import create_ui
        except ImportError:  # pragma: no cover - the UI lands separately
            pass
        else:
            app.include_router(create_ui(lambda: store, lambda: artifacts, require))

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.openapi = _openapi_with_bodies(app)  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app


def _add_route(
    app: FastAPI, spec: Spec, store: Store, require: Require, *, auth: bool, now_ms: Callable[[], int]
) -> None:
    route = spec.route
    target = _target(store, route.repo, route.method)
    result_adapter = TypeAdapter(spec.returns) if spec.returns is not None else None
    body_params = spec.body_params
    body_model = _body_model(route.name, body_params) if body_params else None

    parameters = [
        inspect.Parameter(
            "actor", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[Any, Depends(require(route.need))]
        )
    ]
    for p in spec.params:
        if p.where == "path":
            parameters.append(
                inspect.Parameter(
                    p.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[p.annotation, Path()]
                )
            )
        elif p.where == "query":
            default = None if p.required else p.default
            if isinstance(default, tuple):
                default = list(default)
            parameters.append(
                inspect.Parameter(
                    p.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=Annotated[p.annotation, Query()],
                    default=inspect.Parameter.empty if p.required else default,
                )
            )
    parameters.append(inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request))
    replaced = {"actor", "created_by"} if auth else set()

    def call(kwargs: dict[str, Any], actor: Any) -> Response:
        for name in replaced & kwargs.keys():
            kwargs[name] = actor.name
        result = target(**kwargs)
        if route.audited_by_server:
            _audit(store, spec, kwargs, result, actor=actor.name, at_ms=now_ms())
        if result_adapter is None:
            return Response(status_code=204)
        content = json.dumps(result_adapter.dump_python(result, mode="json"), separators=(",", ":"))
        return Response(content, media_type="application/json")

    async def endpoint(**kwargs: Any) -> Response:
        actor = kwargs.pop("actor")
        request: Request = kwargs.pop("request")
        if body_model is not None:
            # strict, from the JSON itself: "7" is not a version number, nor "FINISHED" a float
            raw = await request.body()
            try:
                body = body_model.model_validate_json(raw or b"{}", strict=True)
            except ValidationError as exc:
                raise RequestValidationError(exc.errors()) from None
            kwargs.update({p.name: getattr(body, _field(p.name)) for p in body_params})
        return await run_in_threadpool(call, kwargs, actor)

    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = route.name.replace(".", "_")
    responses = {
        status: {"description": "an error with its message"} for status in (400, 401, 403, 404, 409, 422)
    }
    app.add_api_route(
        API_PREFIX + route.path,
        endpoint,
        methods=[route.verb],
        name=route.name,
        operation_id=route.name.replace(".", "_"),
        tags=[route.repo or "store"],
        summary=_summary(route),
        response_model=spec.returns,
        status_code=204 if spec.returns is None else 200,
        responses=responses,  # type: ignore[arg-type]
        description=f"Needs the role `{route.need}`. Calls `store.{route.name}`.",
        openapi_extra=(
            {
                "requestBody": {
                    "required": any(p.required for p in body_params),
                    "content": {"application/json": {"schema": {"$ref": _REF + body_model.__name__}}},
                }
            }
            if body_model is not None
            else None
        ),
    )
    if body_model is not None:
        app.state.body_models.append(body_model)


_REF = "#/components/schemas/"


def _openapi_with_bodies(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's document, with the request-body models (validated by the routes themselves) added to its
    components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _, extra = models_json_schema(
                [(m, "validation") for m in app.state.body_models], ref_template=_REF + "{model}"
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in extra.get("$defs", {}).items():
                schemas.setdefault(name, schema)
            app.openapi_schema = document
        return app.openapi_schema

    return openapi


def _field(name: str) -> str:
    """The request model's attribute for a parameter (one that would shadow a BaseModel attribute gets a
    trailing underscore; its JSON name stays the parameter's)."""
    return name + "_" if hasattr(BaseModel, name) else name


def _body_model(name: str, params: tuple[Param, ...]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for p in params:
        default = ... if p.required else (list(p.default) if isinstance(p.default, tuple) else p.default)
        fields[_field(p.name)] = (p.annotation, Field(default, alias=p.name))
    title = "".join(w.capitalize() for w in name.replace(".", "_").split("_")) + "Request"
    return create_model(
        title, __config__=ConfigDict(populate_by_name=True, extra="forbid", strict=True), **fields
    )


def _target(store: Store, repo: str, method: str) -> Callable[..., Any]:
    if repo:
        bound: Callable[..., Any] = getattr(getattr(store, repo), method)
        return bound
    if method == "info":
        return lambda: StoreInfo(store.url, store.schema_revision())
    return lambda: sorted(set(store.referenced_digests()))


def _audit(store: Store, spec: Spec, kwargs: dict[str, Any], result: Any, *, actor: str, at_ms: int) -> None:
    """Record a change the repository does not record itself: which route, on what, by whom (no values)."""
    route = spec.route
    entity = ""
    for name in route.path_params:
        entity = str(kwargs[name])
        break
    else:
        entity = str(getattr(result, "id", "") or kwargs.get("name") or kwargs.get("run_id") or "")
    if isinstance(result, str) and not entity:
        entity = result
    details: dict[str, Any] = {"route": f"{route.verb} {API_PREFIX}{route.path}"}
    keys = kwargs.get("params") or kwargs.get("tags")
    if isinstance(keys, dict):
        details["keys"] = sorted(keys)[:50]
    store.audit.record(
        at_ms=at_ms,
        actor=actor,
        action=route.name,
        entity_type=route.repo or "store",
        entity=entity,
        details=details,
    )


def _summary(route: Any) -> str:
    doc = inspect.getdoc(method_of(route)) or ""
    first = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return first[:120] if first else route.name


class BodyLimit:
    """Refuses a request body over ``limit`` bytes (413) before the app reads it all; the blob routes keep
    their own limit."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http" or scope["path"].startswith(API_PREFIX + "/blobs"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise StarletteHTTPException(413, _too_large_message(self.limit))
            return message

        await self.app(scope, counted, send)


def _too_large_message(limit: int) -> str:
    return f"the request body is over the server's limit of {limit:,} bytes"


def _too_large(limit: int) -> JSONResponse:
    return error_response(413, "InvalidArgumentError", _too_large_message(limit))
