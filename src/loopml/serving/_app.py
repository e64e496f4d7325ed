"""The model server: an ASGI app (Starlette) that answers the Open Inference Protocol (V2) and MLflow's
scoring format, checks input against the model's signature, batches concurrent requests, and counts it all
for Prometheus.

A client mistake is always a 4xx with a JSON body naming the problem: malformed JSON 400, a body that does not
fit the signature 422, too large 413, a wrong content type 415. Only a fault of the server or the model
itself is a 500.

Which version answers: the champion's lane, the canary's for its share of traffic (sticky on a request key
when the routes say so: ``_routing``), and the shadow's copy, never returned. The routes come from the
options at start (``--canary``, ``--shadow``) and ``PUT /admin/routes``, or, with ``--deployment NAME``,
from a Deployment kept in the Store (``_follow``): every reload interval each worker re-reads it and the
aliases it names, and swaps the lanes whose version changed (loaded and warmed first; a lane that will not
load leaves every route as it was, and counts a reload failure). ``PUT /admin/routes`` then writes the
deployment (actor ``admin-api``) and applies it at once in the worker that answered; the others follow
within their interval. Without a deployment, a champion named by an alias follows the alias the same way.

Every answered request goes to the prediction log: a prediction as its rows (with a classifier's class
probabilities, computed in the same predict call: ``_proba``), a failed request (any 4xx or 5xx above) as one
error row with its status and latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loopml.errors import ConflictError, InvalidArgumentError, LoopmlError, NotFoundError, SignatureError
from loopml.serving._codec import (
    RequestError,
    decode_csv,
    decode_mlflow,
    decode_v2,
    numeric_rows,
    to_list,
    v2_datatype,
)
from loopml.serving._deployment import UNSET, deploy, normalize_ref, route_ref
from loopml.serving._follow import RoutePlan, RouteTarget, plan_routes, read_plan
from loopml.serving._metrics import MonitorReader, ServerMetrics
from loopml.serving._openapi import openapi_document
from loopml.serving._proba import Mode, Scored, classes_of, plan, score
from loopml.serving._routing import Lane, Sticky, pick_canary

MAX_BODY = 16 * 1024 * 1024
MAX_SHADOW_PENDING = 256  # copies of requests waiting for the shadow; more are dropped (and counted)
ADMIN_ACTOR = "admin-api"  # who changed a deployment through PUT /admin/routes, in its history


@dataclass
class ServedModel:
    """The model version being served: what it answers to, and how it predicts.

    Requests reach it as rows: a DataFrame, or, for a model whose inputs are all float columns, a float64
    array already checked against the signature (``numeric_rows``), which becomes a DataFrame only once per
    predict call, for the whole batch.
    """

    name: str
    version: int
    ref: str
    model: Any  # loopml.models.LoadedModel
    columns: list[str] = field(default_factory=list)
    numeric: bool = field(init=False, default=False)
    proba_mode: Mode | None = field(init=False, default=None)  # None: no probabilities are computed
    classes: tuple[str, ...] = field(init=False, default=())  # the probabilities' classes, as text
    _index: Any = field(init=False, default=None, repr=False)
    _classes: Any = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        signature = self.model.signature
        self.numeric = signature is not None and all(
            spec.type == "float" and spec.categories is None for spec in signature.inputs
        )
        self._index = pd.Index(self.columns)

    @classmethod
    def load(cls, ref: str, served_as: str | None = None) -> ServedModel:
        """``NAME@ALIAS`` / ``NAME:V`` from the registry, or a bundle folder (an exported model), which
        answers to and is logged as ``served_as`` (``NAME:V``; default: the folder's name, version 0)."""
        from loopml.models import load_model_dir

        path = Path(ref)
        if path.is_dir():
            name, number = parse_served_as(served_as) if served_as else (path.resolve().name, 0)
            model = load_model_dir(path)
            return cls(name, number, str(path), model, _columns(model))
        if served_as is not None:
            raise InvalidArgumentError(
                f"--as names a bundle folder's model; {ref!r} is a registered model, served as itself."
            )
        from loopml.registry import get_model_version, load_model

        version = get_model_version(ref)
        model = load_model(version)
        return cls(version.name, version.version, ref, model, _columns(model))

    def frame(self, rows: Any) -> pd.DataFrame:
        """``rows`` as a DataFrame of the signature's columns (an array of rows is wrapped, not copied)."""
        if isinstance(rows, np.ndarray):
            return pd.DataFrame(rows, columns=self._index, copy=False)
        return rows  # type: ignore[no-any-return]

    def check(self, rows: Any) -> Any:
        """``rows`` as the model takes them; ``SignatureError`` when they do not fit its signature."""
        if isinstance(rows, np.ndarray) or self.model.signature is None:
            return rows  # an array comes from numeric_rows, checked already
        checked, _notes = self.model.validate(rows)
        return checked

    def merge(self, parts: list[Any]) -> Any:
        """The rows of several requests as one batch, in order."""
        if all(isinstance(p, np.ndarray) for p in parts):
            return np.concatenate(parts)
        return pd.concat([self.frame(p) for p in parts], ignore_index=True)

    def predict(self, rows: Any) -> Any:
        return self.model.predict(self.frame(rows), validate=False)

    def score(self, rows: Any) -> Any:
        """What the lanes call: the prediction, or, once ``plan_probabilities`` found the model has class
        probabilities, a ``Scored`` with both."""
        if self.proba_mode is None:
            return self.predict(rows)
        return score(self.model, self._classes, self.proba_mode, self.frame(rows))

    def plan_probabilities(self, example: pd.DataFrame | None) -> None:
        """Compute class probabilities with every prediction from now on, if the model has them (``example``:
        checked rows of its input example, to compare the one-call answer with ``predict`` on)."""
        classes = classes_of(self.model)
        if classes is None:
            return
        mode = plan(self.model, classes, example)
        if mode is not None:
            self._classes, self.classes, self.proba_mode = classes, tuple(str(c) for c in classes), mode


def _columns(model: Any) -> list[str]:
    signature = model.signature
    return [] if signature is None else list(signature.input_names)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


@dataclass
class ServerOptions:
    batching: bool = True
    max_batch: int = 64
    max_wait_ms: float = 2.0
    max_body: int = MAX_BODY
    reload_interval: float = 2.0  # seconds between checks of the deployment or champion's alias; 0: never
    admin_token: str | None = None  # when set, /admin needs "Authorization: Bearer <token>"
    canary: tuple[str, float] | None = None  # (reference, percent of traffic) at start
    shadow: str | None = None  # a reference that answers a copy of the traffic, at start
    log_predictions: bool = True  # every answered request into the prediction log
    log_probabilities: bool = True  # a classifier's class probabilities too (computed with its predictions)
    workers: int = 1  # server processes sharing the port (each holds its own routes)
    deployment: str | None = None  # follow this Deployment of the Store (instead of canary and shadow)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ModelServer:
    """Holds the lanes (champion, canary, shadow) and the metrics; builds the Starlette app.

    A watcher follows the deployment (``options.deployment``; see ``follow``) or, without one, a champion
    named by an alias, and swaps new versions in (loaded and warmed first) without failing a request.
    ``sleep`` is what it waits with between checks and ``clock`` (epoch milliseconds) what it stamps a
    deployment change with, so tests drive it without waiting; ``reload()`` checks once, now.
    """

    def __init__(
        self,
        served: ServedModel,
        options: ServerOptions | None = None,
        monitors: Any = None,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], int] = _now_ms,
        plan: RoutePlan | None = None,
    ) -> None:
        self.options = options or ServerOptions()
        self._sleep = sleep
        self._clock = clock
        self.plan: RoutePlan | None = None  # the deployment's routes as last applied (None: none followed)
        self._start_plan = plan  # the deployment's routes read before startup (``follow``)
        self.sticky: Sticky | None = None  # the canary's request key, from the deployment
        self._routes_lock = asyncio.Lock()  # one route change at a time: the watcher's or the admin's
        self._monitors: MonitorReader | None = None
        self._monitor_repository = monitors  # store.monitors; None: the configured store's
        self._monitor_watcher: asyncio.Task[None] | None = None
        self._monitor_lock = asyncio.Lock()
        self.last_monitor_error: str | None = None
        self.metrics = ServerMetrics()
        self.champion = Lane("champion", served, self.options, self.metrics)
        self.canary: Lane | None = None
        self.canary_percent = 0.0
        self.shadow: Lane | None = None
        self._publish_routes()
        self.ready = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self.logger: Any = None  # loopml.monitoring.PredictionLogger while serving
        self.last_reload_error: str | None = None
        self._shadow_pending = 0

    @classmethod
    def follow(
        cls,
        deployment: str,
        options: ServerOptions | None = None,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], int] = _now_ms,
    ) -> ModelServer:
        """A server of the deployment ``deployment`` (kept in the Store): its champion loaded now (so a
        deployment that does not exist or cannot be served fails here), its canary and shadow at startup,
        and every route followed from then on."""
        options = dataclasses.replace(options or ServerOptions(), deployment=deployment)
        if options.canary is not None or options.shadow is not None:
            raise InvalidArgumentError(
                f"Deployment {deployment!r} names the canary and the shadow; change them with "
                f"`loopml deploy set {deployment}` instead of --canary/--shadow."
            )
        plan = read_plan(deployment)
        served = ServedModel.load(plan.champion.version_ref)
        served.ref = plan.champion.ref
        return cls(served, options, sleep=sleep, clock=clock, plan=plan)

    @property
    def served(self) -> ServedModel:
        return self.champion.served

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.champion.start()
        if self.options.log_predictions:
            self.logger = await asyncio.to_thread(self._open_log)
            self.metrics.watch_log(self.logger)
        if self.options.deployment is not None:
            plan = self._start_plan
            if plan is None:
                plan = await asyncio.to_thread(read_plan, self.options.deployment)
            await self._apply(plan)
        elif self.options.canary is not None or self.options.shadow is not None:
            await self.set_routes(self.options.canary, self.options.shadow)
        follows = self.options.deployment is not None or "@" in self.served.ref
        if follows and self.options.reload_interval > 0:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        if self._uses_store():
            self._monitor_watcher = asyncio.get_running_loop().create_task(self._watch_monitors())
        self.ready = True
        try:
            yield
        finally:
            self.ready = False
            for watcher in (self._watcher, self._monitor_watcher):
                if watcher is not None:
                    watcher.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(Exception):
                    await task
            for lane in (self.champion, self.canary, self.shadow):
                if lane is not None:
                    await lane.close()
            if self.logger is not None:
                await asyncio.to_thread(self.logger.close)  # nothing accepted is lost

    def _open_log(self) -> Any:
        from loopml.monitoring import PredictionLogger
        from loopml.tracking import get_client

        client = get_client()
        signature = self.served.model.signature
        personal = [] if signature is None else list(signature.personal_columns)
        return PredictionLogger(client.store, client.artifacts, model=self.served.name, personal=personal)

    def _log(
        self,
        lane: Lane,
        request_id: str,
        rows: Any,
        result: Any,
        seconds: float,
        nbytes: int | None = None,
        proba: Any = None,
    ) -> None:
        if self.logger is None:
            return
        accepted = self.logger.log(
            request_id=request_id,
            model_version=lane.served.version,
            route=lane.route,
            inputs=rows,
            outputs=result,
            latency_ms=seconds * 1000,
            input_names=lane.served.columns if isinstance(rows, np.ndarray) else None,
            nbytes=nbytes,
            probabilities=proba,
            classes=lane.served.classes if proba is not None else (),
        )
        if not accepted:
            self.metrics.log_dropped.inc()

    def _log_error(self, lane: Lane, request_id: str, status: int, seconds: float) -> None:
        if self.logger is None:
            return
        accepted = self.logger.log_error(
            request_id=request_id,
            model_version=lane.served.version,
            route=lane.route,
            status=status,
            latency_ms=seconds * 1000,
        )
        if not accepted:
            self.metrics.log_dropped.inc()

    # -- model changes
    async def _watch(self) -> None:
        while True:
            await self._sleep(self.options.reload_interval)
            await self.reload()

    async def reload(self) -> bool:
        """Check the deployment (or the champion's alias) once, now, and swap in what changed; whether a
        lane was swapped. A Store that cannot be reached, or a version that will not load, leaves the routes
        as they were and counts a reload failure."""
        from loopml.registry import get_model_version

        try:
            if self.options.deployment is not None:
                return await self._apply(await asyncio.to_thread(read_plan, self.options.deployment))
            version = await asyncio.to_thread(get_model_version, self.served.ref)
            if version.version == self.served.version:
                return False
            await self.swap_champion(version.ref)
            return True
        except Exception as exc:  # the registry is unreachable or the new version will not load: keep serving
            self.metrics.reload_failures.inc()
            self.last_reload_error = _describe(exc)
            return False

    def _uses_store(self) -> bool:
        """Whether this server has a store to read monitors from: a registered model's, the prediction
        log's, or one given; a bundle folder served without a log opens none (nor creates one)."""
        registered = not Path(self.served.ref).is_dir()
        return self._monitor_repository is not None or self.logger is not None or registered

    async def _watch_monitors(self) -> None:
        """The monitor gauges, from the store's window results: now, then every reload interval."""
        while True:
            await self.refresh_monitors()
            if self.options.reload_interval <= 0:
                return
            await asyncio.sleep(self.options.reload_interval)

    async def refresh_monitors(self) -> None:
        """Read the newest window of each monitor of the served model (in a thread) and publish it."""
        async with self._monitor_lock:  # one read at a time: the reader remembers what it saw
            await self._refresh_monitors()

    async def _refresh_monitors(self) -> None:
        try:
            readings = await asyncio.to_thread(self._read_monitors)
        except Exception as exc:  # the store is unreachable or a row is odd: keep the last values
            self.metrics.monitor_read_failures.inc()
            self.last_monitor_error = f"{type(exc).__name__}: {exc}"
            return
        if readings is not None:
            self.metrics.set_monitors(readings)

    def _read_monitors(self) -> Any:
        if self._monitors is None:
            repository = self._monitor_repository
            if repository is None:
                from loopml.tracking import get_client

                repository = getattr(get_client().store, "monitors", None)
            if repository is None:  # a store without monitors: no gauges to show
                return None
            self._monitors = MonitorReader(repository, self.served.name)
        return self._monitors.read()

    async def _load_lane(self, route: str, ref: str) -> Lane:
        served = await asyncio.to_thread(ServedModel.load, ref)
        if served.name != self.served.name:
            raise InvalidArgumentError(
                f"{ref} is a version of {served.name!r}; this server serves {self.served.name!r}, and its "
                f"{route} must be another version of it."
            )
        lane = Lane(route, served, self.options, self.metrics)
        await lane.start()  # loaded and warmed before it takes a request
        self._watch_personal(served)
        return lane

    def _watch_personal(self, served: ServedModel) -> None:
        """The prediction log hashes (or drops) every column personal in any version this server answers
        with, from before that version's first request."""
        signature = served.model.signature
        if self.logger is not None and signature is not None:
            self.logger.add_personal(signature.personal_columns)

    async def swap_champion(self, ref: str) -> None:
        """Serve ``ref`` from now on; requests already answered by the old version finish on it."""
        new = await self._load_lane("champion", ref)
        new.served.ref = self.champion.served.ref  # keep following the alias
        old, self.champion = self.champion, new
        self._publish_routes()
        await old.close()

    async def _apply(self, plan: RoutePlan, commit: Callable[[], Awaitable[Any]] | None = None) -> bool:
        """Serve ``plan``: load and warm the lanes whose version changed (all of them, or none: a failure
        leaves every route as it was), ``commit`` (the admin's write to the Store, whose revision the plan
        takes), then swap them in at once; the replaced lanes close once their requests are answered.
        Whether a lane changed: a new percent or sticky key alone swaps nothing."""
        async with self._routes_lock:
            current = {"champion": self.champion, "canary": self.canary, "shadow": self.shadow}
            lanes: dict[str, Lane | None] = {}
            fresh: list[Lane] = []
            try:
                for route, target in plan.targets().items():
                    lane = current[route]
                    if target is None or (lane is not None and lane.served.version == target.version):
                        lanes[route] = None if target is None else lane
                        continue
                    try:
                        lanes[route] = new = await self._target_lane(route, target, current)
                    except Exception as exc:
                        exc.add_note(f"the {route}, {target.ref} (version {target.version}), did not load")
                        raise
                    fresh.append(new)
                if commit is not None:
                    plan = dataclasses.replace(plan, revision=(await commit()).revision)
            except BaseException:
                for lane in fresh:
                    await lane.close()
                raise
            for route, target in plan.targets().items():
                kept = lanes[route]
                if kept is not None and target is not None:
                    kept.served.ref = target.ref
            champion = lanes["champion"]
            assert champion is not None  # a plan always has a champion
            self.champion, self.canary, self.shadow = champion, lanes["canary"], lanes["shadow"]
            self.canary_percent = plan.canary_percent if self.canary is not None else 0.0
            self.sticky, self.plan = plan.sticky, plan
            self._publish_routes()
            for route, old in current.items():
                if old is not None and lanes[route] is not old:
                    self._background(old.close())
            return bool(fresh)

    async def _target_lane(self, route: str, target: RouteTarget, current: dict[str, Lane | None]) -> Lane:
        """A lane of ``target`` on ``route``: a version another route serves already (a canary becoming the
        champion) is not loaded again, only warmed in its new lane."""
        for lane in current.values():
            if lane is not None and lane.served.version == target.version:
                served = copy.copy(lane.served)
                served.ref = target.ref
                new = Lane(route, served, self.options, self.metrics)
                await new.start()
                return new
        lane = await self._load_lane(route, target.version_ref)
        lane.served.ref = target.ref
        return lane

    async def set_routes(self, canary: tuple[str, float] | None, shadow: str | None) -> None:
        """Route ``canary`` (reference, percent) and ``shadow`` (reference); None removes the route. Both load
        (or neither: a failure leaves the routes as they were); the replaced lanes close in the background
        once their requests are answered."""
        new_canary = None if canary is None else await self._load_lane("canary", canary[0])
        try:
            new_shadow = None if shadow is None else await self._load_lane("shadow", shadow)
        except BaseException:
            if new_canary is not None:
                await new_canary.close()
            raise
        old = [lane for lane in (self.canary, self.shadow) if lane is not None]
        self.canary, self.canary_percent = new_canary, (0.0 if canary is None else canary[1])
        self.shadow = new_shadow
        self._publish_routes()
        for lane in old:
            self._background(lane.close())

    def _publish_routes(self) -> None:
        lanes = {"champion": self.champion, "canary": self.canary, "shadow": self.shadow}
        self.metrics.set_routes(
            {
                route: (lane.served.name, lane.served.version)
                for route, lane in lanes.items()
                if lane is not None
            },
            canary_percent=self.canary_percent if self.canary is not None else 0.0,
            deployment=None if self.plan is None else (self.plan.deployment, self.plan.revision),
        )

    def routes(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "champion": self.champion.describe(),
            "canary": None
            if self.canary is None
            else {**self.canary.describe(), "percent": self.canary_percent},
            "shadow": None if self.shadow is None else self.shadow.describe(),
            "sticky": None if self.sticky is None else str(self.sticky),
            "deployment": None if plan is None else {"name": plan.deployment, "revision": plan.revision},
        }

    def app(self) -> Starlette:
        name_route = "/v2/models/{name}"
        routes = [
            Route("/v2", self.v2_server, methods=["GET"]),
            Route("/v2/health/live", self.live, methods=["GET"]),
            Route("/v2/health/ready", self.ready_check, methods=["GET"]),
            Route(name_route, self.v2_model, methods=["GET"]),
            Route(name_route + "/ready", self.v2_model_ready, methods=["GET"]),
            Route(name_route + "/infer", self.v2_infer, methods=["POST"]),
            Route(name_route + "/versions/{version}/infer", self.v2_infer, methods=["POST"]),
            Route("/invocations", self.invocations, methods=["POST"]),
            Route("/ping", self.ping, methods=["GET"]),
            Route("/health", self.ping, methods=["GET"]),
            Route("/metrics", self.prometheus, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/admin/routes", self.admin_routes, methods=["GET", "PUT"]),
            Route(name_route + "/labels", self.labels, methods=["POST"]),
            Route("/labels", self.labels, methods=["POST"]),
        ]
        return _ServerApp(self, routes=routes, lifespan=self.lifespan)

    def _inference_route(self, path: str) -> tuple[Callable[[Request], Any], dict[str, str]] | None:
        """The handler and path parameters of a prediction request's path, or None for any other path."""
        if path == "/invocations":
            return self.invocations, {}
        if path.startswith("/v2/models/") and path.endswith("/infer"):
            name = path[len("/v2/models/") : -len("/infer")]
            if name and "/" not in name:
                return self.v2_infer, {"name": name}
        return None

    # -- health and metadata
    async def live(self, request: Request) -> Response:
        return _json({"live": True})

    async def ready_check(self, request: Request) -> Response:
        return _json({"ready": self.ready}, 200 if self.ready else 503)

    async def ping(self, request: Request) -> Response:
        return Response("\n", status_code=200 if self.ready else 503, media_type="text/plain")

    async def v2_server(self, request: Request) -> Response:
        from loopml._version import __version__

        return _json({"name": "loopml", "version": __version__, "extensions": []})

    def _known(self, request: Request) -> Response | None:
        name = request.path_params["name"]
        if name != self.served.name:
            return _json(
                {"error": f"no model named {name!r} here; this server serves {self.served.name!r}"}, 404
            )
        version = request.path_params.get("version")
        served_versions = {str(self.served.version)} | {
            str(lane.served.version) for lane in (self.canary, self.shadow) if lane is not None
        }
        if version is not None and version not in served_versions:
            return _json({"error": f"version {version} is not served; {self.served.version} is"}, 404)
        return None

    async def v2_model(self, request: Request) -> Response:
        unknown = self._known(request)
        if unknown is not None:
            return unknown
        signature = self.served.model.signature
        inputs = (
            []
            if signature is None
            else [
                {"name": c.name, "datatype": _spec_datatype(c.type), "shape": [-1]} for c in signature.inputs
            ]
        )
        outputs = (
            []
            if signature is None
            else [
                {"name": c.name, "datatype": _spec_datatype(c.type), "shape": [-1]} for c in signature.outputs
            ]
        )
        return _json(
            {
                "name": self.served.name,
                "versions": [str(self.served.version)],
                "platform": f"loopml-{self.served.model.flavor}",
                "inputs": inputs,
                "outputs": outputs,
            }
        )

    async def v2_model_ready(self, request: Request) -> Response:
        unknown = self._known(request)
        if unknown is not None:
            return unknown
        return _json({"name": self.served.name, "ready": self.ready}, 200 if self.ready else 503)

    async def prometheus(self, request: Request) -> Response:
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)

    async def openapi(self, request: Request) -> Response:
        return _json(openapi_document(self.served.name, self.served.columns))

    # -- inference
    async def v2_infer(self, request: Request) -> Response:
        unknown = self._known(request)
        if unknown is not None:
            self.metrics.requests.labels(protocol="v2", route="none", status=str(unknown.status_code)).inc()
            return unknown
        return await self._handle(request, "v2", self._decode_v2, self._encode_v2)

    async def invocations(self, request: Request) -> Response:
        return await self._handle(request, "invocations", self._decode_mlflow, _encode_mlflow)

    def _decode_v2(self, body: bytes, content_type: str, served: ServedModel) -> tuple[Any, dict[str, Any]]:
        if not content_type.startswith("application/json") and content_type:
            raise RequestError(415, f"send application/json, not {content_type}")
        parsed = _parse_json(body)
        rows: Any = numeric_rows(parsed, "v2", served.columns) if served.numeric else None
        if rows is None:
            rows = decode_v2(parsed, served.columns)
        context = {"id": parsed.get("id") if isinstance(parsed.get("id"), str) else None}
        return rows, context

    def _encode_v2(
        self, result: Any, context: dict[str, Any], request_id: str, served: ServedModel
    ) -> dict[str, Any]:
        import numpy as np

        values = np.asarray(result)
        return {
            "model_name": served.name,
            "model_version": str(served.version),
            "id": context.get("id") or request_id,
            "outputs": [
                {
                    "name": "predict",
                    "shape": list(values.shape),
                    "datatype": v2_datatype(values),
                    "data": to_list(values.reshape(-1))
                    if values.dtype.kind != "O"
                    else [str(v) for v in values.reshape(-1)],
                }
            ],
        }

    def _decode_mlflow(
        self, body: bytes, content_type: str, served: ServedModel
    ) -> tuple[Any, dict[str, Any]]:
        if content_type.startswith("text/csv"):
            return decode_csv(body.decode("utf-8", errors="replace")), {}
        if not content_type.startswith("application/json"):
            raise RequestError(
                415, f"send application/json or text/csv, not {content_type or 'no content type'}"
            )
        parsed = _parse_json(body)
        rows = numeric_rows(parsed, "mlflow", served.columns) if served.numeric else None
        return (decode_mlflow(parsed, served.columns) if rows is None else rows), {}

    async def _handle(
        self,
        request: Request,
        route: str,
        decode: Callable[[bytes, str, ServedModel], tuple[Any, dict[str, Any]]],
        encode: Callable[[Any, dict[str, Any], str, ServedModel], dict[str, Any]],
    ) -> Response:
        started = time.perf_counter()
        given_id = request.headers.get("x-request-id")
        request_id = given_id or uuid.uuid4().hex
        headers = {"X-Request-ID": request_id}
        metrics = self.metrics
        metrics.in_flight.inc()
        version = request.path_params.get("version")
        sticky = self.sticky
        by_column = sticky is not None and sticky.kind == "column" and version is None
        # by column: the champion holds the request until its first row names the lane
        lane = self.champion if by_column else self._lane_for(version, request.headers)
        lane.enter()
        status = 200
        frame = None
        try:
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self.options.max_body:
                raise RequestError(
                    413, f"the body is larger than {self.options.max_body} bytes; send fewer rows"
                )
            body = await _read_body(request, self.options.max_body)
            content_type = request.headers.get("content-type", "").lower()
            frame, context = decode(body, content_type, lane.served)
            if given_id is None and context.get("id"):  # a V2 request's own id is its id everywhere
                request_id = headers["X-Request-ID"] = str(context["id"])
            if len(frame) == 0:
                raise RequestError(400, "the request holds no rows")
            canary = self.canary
            if by_column and canary is not None and sticky is not None:
                key = sticky.key_of(frame, lane.served.columns)
                if pick_canary(self.canary_percent, key):
                    held, lane = lane, canary
                    held.leave()
                    lane.enter()
                    same = (held.served.numeric, held.served.columns) == (
                        canary.served.numeric,
                        canary.served.columns,
                    )
                    if not same:  # decoded for the champion's signature: decode for the canary's
                        frame, context = decode(body, content_type, canary.served)
            try:
                frame = lane.served.check(frame)
            except SignatureError as exc:
                raise RequestError(422, str(exc), exc.column) from None
            except (
                ValueError,
                TypeError,
                OverflowError,
            ) as exc:  # values no check foresaw: still the input's
                raise RequestError(422, f"the input does not fit the model's signature: {exc}") from None
            try:
                result, predict_s = await lane.predict(frame)
            except (ValueError, TypeError) as exc:  # the model refused these values
                raise RequestError(422, f"the model cannot predict on this input: {exc}") from None
            result, proba = (result.labels, result.proba) if isinstance(result, Scored) else (result, None)
            headers["Server-Timing"] = f"predict;dur={predict_s * 1000:.3f}"
            response = _json(encode(result, context, request_id, lane.served), headers=headers)
            self._log(lane, request_id, frame, result, time.perf_counter() - started, len(body), proba)
        except RequestError as exc:
            status = exc.status
            response = _json(exc.body(), status, headers)
        except LoopmlError as exc:
            status = 422
            response = _json({"error": str(exc)}, status, headers)
        except Exception as exc:  # a fault of the server or the model: never a client's
            status = 500
            response = _json({"error": f"{type(exc).__name__}: {exc}"}, status, headers)
        finally:
            metrics.in_flight.dec()
            lane.leave()
        seconds = time.perf_counter() - started
        metrics.observe(route, status, seconds, lane.route)
        if status != 200:
            self._log_error(lane, request_id, status, seconds)
        if status == 200 and self.shadow is not None and frame is not None and lane is not self.shadow:
            if self._shadow_pending >= MAX_SHADOW_PENDING:  # the shadow falls behind: memory stays bounded
                metrics.shadow_dropped.inc()
            else:
                self._shadow_pending += 1
                self._background(self._run_shadow(self.shadow, lane.served.frame(frame), request_id))
        return response

    def _lane_for(self, version: str | None, headers: Any) -> Lane:
        """The lane a request takes: the one serving ``version`` when the request names one (the path
        ``/v2/models/{name}/versions/{version}/infer``), else the canary for its share of traffic (by the
        sticky header's value when the routes have one), else the champion."""
        if version is not None:
            for lane in (self.champion, self.canary, self.shadow):
                if lane is not None and str(lane.served.version) == version:
                    return lane
        canary = self.canary
        if canary is not None:
            sticky = self.sticky
            key = headers.get(sticky.name) if sticky is not None and sticky.kind == "header" else None
            if pick_canary(self.canary_percent, key):
                return canary
        return self.champion

    def _background(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_shadow(self, lane: Lane, frame: pd.DataFrame, request_id: str) -> None:
        """The shadow answers a copy of the request; its answer is counted (and logged), never returned."""
        lane.enter()
        started = time.perf_counter()
        status = 200
        try:
            checked = lane.served.check(frame)
            result, _ = await lane.predict(checked)
            result, proba = (result.labels, result.proba) if isinstance(result, Scored) else (result, None)
            self._log(lane, request_id, checked, result, time.perf_counter() - started, proba=proba)
        except Exception:
            status = 500
        finally:
            lane.leave()
            self._shadow_pending -= 1
        seconds = time.perf_counter() - started
        self.metrics.observe("shadow", status, seconds, "shadow")
        if status != 200:
            self._log_error(lane, request_id, status, seconds)

    async def labels(self, request: Request) -> Response:
        """Ground truth by request id, for joining with the prediction log later: ``{"labels": {"<request
        id>": label, ...}}`` or ``{"labels": [{"request_id": ..., "label": ...}]}``."""
        try:
            response = await self._labels(request)
        except LoopmlError as exc:  # labels the log cannot take
            response = _json({"error": str(exc)}, 422)
        except Exception as exc:  # the store failed: still an answer, and counted
            response = _json({"error": f"{type(exc).__name__}: {exc}"}, 500)
        self.metrics.requests.labels(protocol="labels", route="none", status=str(response.status_code)).inc()
        return response

    async def _labels(self, request: Request) -> Response:
        if "name" in request.path_params:
            unknown = self._known(request)
            if unknown is not None:
                return unknown
        try:
            body = _parse_json(await _read_body(request, self.options.max_body))
            given = body.get("labels") if isinstance(body, dict) else None
            pairs: list[tuple[str, Any]]
            if isinstance(given, dict):
                pairs = [(str(k), v) for k, v in given.items()]
            elif isinstance(given, list) and all(
                isinstance(i, dict) and isinstance(i.get("request_id"), str) and "label" in i for i in given
            ):
                pairs = [(i["request_id"], i["label"]) for i in given]
            else:
                raise RequestError(
                    400, 'send {"labels": {request_id: label}} or a list of {request_id, label}', "labels"
                )
            if not pairs:
                raise RequestError(400, "the request holds no labels", "labels")
        except RequestError as exc:
            return _json(exc.body(), exc.status)
        from loopml.monitoring import log_labels
        from loopml.tracking import get_client

        accepted = await asyncio.to_thread(log_labels, get_client().store, self.served.name, pairs)
        return _json({"accepted": accepted})

    async def admin_routes(self, request: Request) -> Response:
        """GET: what each route serves. PUT {"canary": {"ref": "m:2", "percent": 10} | null,
        "shadow": {"ref": "m:3"} | null}: change the canary and the shadow while serving. Following a
        deployment, the PUT writes it (also "champion": "m@alias", "sticky": "header:x-id" | null, and
        "reason": why, kept in its history) and applies it here at once; other workers and servers follow
        within their reload interval."""
        token = self.options.admin_token
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            return _json({"error": "send Authorization: Bearer <admin token>"}, 401)
        if request.method == "GET":
            return _json(self.routes())
        if self.options.deployment is not None:
            return await self._admin_deployment(request, self.options.deployment)
        if self.options.workers > 1:
            return _json(
                {
                    "error": f"this server runs {self.options.workers} worker processes, each with its own "
                    "routes, and a change would reach only one of them; follow a deployment (--deployment "
                    "NAME) to change routes in every worker, or start it with --canary/--shadow, or with "
                    "--workers 1"
                },
                409,
            )
        try:
            body = _parse_json(await _read_body(request, 65536))
            if not isinstance(body, dict):
                raise RequestError(400, "send a JSON object with 'canary' and/or 'shadow'")
            canary = body.get("canary", self.routes()["canary"])
            shadow = body.get("shadow", self.routes()["shadow"])
            canary_route = None
            if canary is not None:
                percent = canary.get("percent") if isinstance(canary, dict) else None
                if not isinstance(canary, dict) or not isinstance(canary.get("ref"), str):
                    raise RequestError(400, "canary needs a 'ref' such as 'model:2'", "canary")
                if (
                    not isinstance(percent, int | float)
                    or isinstance(percent, bool)
                    or not 0 <= percent <= 100
                ):
                    raise RequestError(400, "canary needs a 'percent' from 0 to 100", "canary")
                canary_route = (canary["ref"], float(percent))
            if shadow is not None and (
                not isinstance(shadow, dict) or not isinstance(shadow.get("ref"), str)
            ):
                raise RequestError(400, "shadow needs a 'ref' such as 'model:3'", "shadow")
            await self.set_routes(canary_route, None if shadow is None else shadow["ref"])
        except RequestError as exc:
            return _json(exc.body(), exc.status)
        except LoopmlError as exc:
            return _json({"error": str(exc)}, 404 if isinstance(exc, NotFoundError) else 422)
        except Exception as exc:  # the version would not load (its code cannot be imported, say)
            return _json({"error": f"cannot serve that version: {type(exc).__name__}: {exc}"}, 422)
        return _json(self.routes())

    async def _admin_deployment(self, request: Request, name: str) -> Response:
        try:
            body = _parse_json(await _read_body(request, 65536))
            if not isinstance(body, dict):
                raise RequestError(400, "send a JSON object with 'champion', 'canary', 'shadow' or 'sticky'")
            unknown = sorted(set(body) - {"champion", "canary", "shadow", "sticky", "reason"})
            if unknown:
                raise RequestError(
                    400, f"unknown keys {unknown}: send champion, canary, shadow, sticky, reason", unknown[0]
                )
            reason = body.get("reason", "")
            if not isinstance(reason, str):
                raise RequestError(400, "reason is text: why the routes change", "reason")
            from loopml.tracking import get_client

            client = get_client()
            current = await asyncio.to_thread(client.store.deployments.get, name)
            changes = _deployment_changes(body, current, self.champion.served.columns)
            if not changes:
                return _json(self.routes())
            await asyncio.to_thread(_check_refs, current.model, changes, client)
            plan = await asyncio.to_thread(plan_routes, dataclasses.replace(current, **changes), client)

            def write() -> Any:  # checked again as every deployment change is, then written
                return deploy(
                    name,
                    **{key: changes.get(key, UNSET) for key in ("canary", "shadow", "sticky")},
                    champion=changes.get("champion"),
                    canary_percent=changes.get("canary_percent"),
                    reason=reason,
                    actor=ADMIN_ACTOR,
                    expected_revision=current.revision,
                    client=client,
                )

            await self._apply(plan, commit=lambda: asyncio.to_thread(write))
        except RequestError as exc:
            return _json(exc.body(), exc.status)
        except ConflictError as exc:
            return _json({"error": f"{exc}; read the routes again and send the change again"}, 409)
        except LoopmlError as exc:
            return _json({"error": str(exc)}, 404 if isinstance(exc, NotFoundError) else 422)
        except Exception as exc:  # the version would not load, or the Store failed
            return _json({"error": f"cannot serve that change: {_describe(exc)}"}, 422)
        return _json(self.routes())


def _describe(exc: BaseException) -> str:
    """An exception in one line: its type, message and notes (which route would not load)."""
    return "; ".join([f"{type(exc).__name__}: {exc}", *getattr(exc, "__notes__", ())])


def _deployment_changes(body: dict[str, Any], current: Any, columns: list[str]) -> dict[str, Any]:
    """The fields of the deployment ``current`` that ``body`` (a PUT /admin/routes) changes, as route
    references of its model; a canary's ref or percent left out stays as it is."""
    model = current.model
    changes: dict[str, Any] = {}
    if "champion" in body:
        if not isinstance(body["champion"], str):
            raise RequestError(400, "champion needs a reference such as '@champion' or 'model:2'", "champion")
        changes["champion"] = normalize_ref(model, body["champion"], "champion")
    if "canary" in body:
        canary = body["canary"]
        if canary is None:
            changes.update(canary=None, canary_percent=0.0)
        elif not isinstance(canary, dict):
            raise RequestError(400, "canary needs a 'ref' such as 'model:2' and a 'percent'", "canary")
        else:
            ref = canary.get("ref", current.canary)
            percent = canary.get("percent", current.canary_percent)
            if not isinstance(ref, str):
                raise RequestError(400, "canary needs a 'ref' such as 'model:2'", "canary")
            if not isinstance(percent, int | float) or isinstance(percent, bool) or not 0 < percent <= 100:
                raise RequestError(
                    400, "canary needs a 'percent' above 0, up to 100 (send null to remove it)", "canary"
                )
            changes.update(canary=normalize_ref(model, ref, "canary"), canary_percent=float(percent))
    if "shadow" in body:
        shadow = body["shadow"]
        if shadow is not None and (not isinstance(shadow, dict) or not isinstance(shadow.get("ref"), str)):
            raise RequestError(400, "shadow needs a 'ref' such as 'model:3'", "shadow")
        changes["shadow"] = None if shadow is None else normalize_ref(model, shadow["ref"], "shadow")
    if "sticky" in body:
        sticky = body["sticky"]
        if sticky is not None and not isinstance(sticky, str):
            raise RequestError(400, "sticky is header:<name>, column:<name> or null", "sticky")
        parsed = None if sticky is None else Sticky.parse(sticky)
        if parsed is not None and parsed.kind == "column" and parsed.name not in columns:
            raise RequestError(
                422, f"sticky column {parsed.name!r} is not an input of the model; its inputs: {columns}"
            )
        changes["sticky"] = None if parsed is None else str(parsed)
    return {key: value for key, value in changes.items() if getattr(current, key) != value}


def _check_refs(model: str, changes: dict[str, Any], client: Any) -> None:
    """Each route reference ``changes`` sets names a version that exists (else ``NotFoundError``)."""
    from loopml.registry import get_model_version

    for route in ("champion", "canary", "shadow"):
        ref = changes.get(route)
        if ref is not None:
            get_model_version(route_ref(model, ref), client)


class _ServerApp(Starlette):
    """The Starlette app, except that prediction requests (``POST /invocations``, ``POST
    /v2/models/{name}/infer``) go straight to their handler: they are most of the traffic, their handler
    answers every error itself, and Starlette's router and middleware would cost each of them about a fifth
    of the event loop's time."""

    def __init__(self, server: ModelServer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._server = server

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = self._server._inference_route(scope["path"])
            if route is not None:
                handler, params = route
                scope["app"] = self
                scope["path_params"] = params
                response = await handler(Request(scope, receive))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _encode_mlflow(
    result: Any, context: dict[str, Any], request_id: str, served: ServedModel
) -> dict[str, Any]:
    return {"predictions": to_list(result)}


def _parse_json(body: bytes) -> Any:
    if not body:
        raise RequestError(400, "the request body is empty; send JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"the body is not valid JSON: {exc}") from None


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body is larger than {limit} bytes; send fewer rows")
        chunks.append(chunk)
    return b"".join(chunks)


def _spec_datatype(kind: str) -> str:
    return {"boolean": "BOOL", "integer": "INT64", "float": "FP64"}.get(kind, "BYTES")


def create_app(ref: str, options: ServerOptions | None = None) -> Starlette:
    """The server app for a registered model (``NAME@ALIAS``, ``NAME:V``) or a bundle folder."""
    return ModelServer(ServedModel.load(ref), options).app()


def app_from_environment() -> Starlette:
    """The app each worker process of ``loopml serve --workers N`` builds, from the options it was given."""
    import os

    options = ServerOptions(
        reload_interval=float(os.environ.get("LOOPML_SERVE_RELOAD_INTERVAL", "2")),
        batching=os.environ.get("LOOPML_SERVE_BATCHING", "1") == "1",
        max_batch=int(os.environ.get("LOOPML_SERVE_MAX_BATCH", "64")),
        max_wait_ms=float(os.environ.get("LOOPML_SERVE_MAX_WAIT_MS", "2")),
        canary=parse_canary(os.environ.get("LOOPML_SERVE_CANARY") or None),
        shadow=os.environ.get("LOOPML_SERVE_SHADOW") or None,
        admin_token=os.environ.get("LOOPML_ADMIN_TOKEN") or None,
        workers=int(os.environ.get("LOOPML_SERVE_WORKERS", "1")),
        log_probabilities=os.environ.get("LOOPML_SERVE_LOG_PROBA", "1") == "1",
    )
    deployment = os.environ.get("LOOPML_SERVE_DEPLOYMENT") or None
    if deployment is not None:
        return ModelServer.follow(deployment, options).app()
    served = ServedModel.load(os.environ["LOOPML_SERVE_REF"], os.environ.get("LOOPML_SERVE_AS") or None)
    return ModelServer(served, options).app()


def parse_served_as(text: str) -> tuple[str, int]:
    """``NAME:V``, the identity a bundle folder is served and logged under."""
    from loopml.data._refs import check_name

    name, sep, version = text.rpartition(":")
    if not sep or not name or not version.isdigit():
        raise InvalidArgumentError(f"Write --as as NAME:VERSION, e.g. churn:4, not {text!r}.")
    check_name(name, "model name")
    return name, int(version)


def parse_canary(text: str | None) -> tuple[str, float] | None:
    """``NAME:V=10`` (10 % of traffic to NAME:V)."""
    if text is None:
        return None
    ref, sep, percent = text.rpartition("=")
    try:
        share = float(percent)
    except ValueError:
        share = -1.0
    if not sep or not ref or not 0 <= share <= 100:
        raise InvalidArgumentError(f"Write the canary as NAME:V=PERCENT, e.g. churn:4=10, not {text!r}.")
    return ref, share
