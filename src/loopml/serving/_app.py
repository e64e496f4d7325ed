"""The model server: an ASGI app (Starlette) that answers the Open Inference Protocol (V2) and MLflow's
scoring format, checks input against the model's signature, batches concurrent requests, and counts it all
for Prometheus.

A client mistake is always a 4xx with a JSON body naming the problem: malformed JSON 400, a body that does not
fit the signature 422, too large 413, a wrong content type 415. Only a fault of the server or the model
itself is a 500.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loopml.errors import LoopmlError, SignatureError
from loopml.serving._batcher import Batcher
from loopml.serving._codec import RequestError, decode_csv, decode_mlflow, decode_v2, to_list, v2_datatype
from loopml.serving._metrics import ServerMetrics
from loopml.serving._openapi import openapi_document

MAX_BODY = 16 * 1024 * 1024


@dataclass
class ServedModel:
    """The model version being served: what it answers to, and how it predicts."""

    name: str
    version: int
    ref: str
    model: Any  # loopml.models.LoadedModel
    columns: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, ref: str) -> ServedModel:
        """``NAME@ALIAS`` / ``NAME:V`` from the registry, or a bundle folder (an exported model)."""
        from loopml.models import load_model_dir

        path = Path(ref)
        if path.is_dir():
            model = load_model_dir(path)
            name = path.resolve().name
            return cls(name, 0, str(path), model, _columns(model))
        from loopml.registry import get_model_version, load_model

        version = get_model_version(ref)
        model = load_model(version)
        return cls(version.name, version.version, ref, model, _columns(model))

    def check(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.model.signature is None:
            return frame
        checked, _notes = self.model.validate(frame)
        return checked  # type: ignore[no-any-return]

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.model.predict(frame, validate=False)


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


class ModelServer:
    """Holds the served model, the batcher and the metrics; builds the Starlette app."""

    def __init__(self, served: ServedModel, options: ServerOptions | None = None) -> None:
        self.served = served
        self.options = options or ServerOptions()
        self.metrics = ServerMetrics()
        self.metrics.set_model(served.name, served.version)
        self.batcher: Batcher | None = None
        if self.options.batching:
            self.batcher = Batcher(
                self._predict,
                max_batch=self.options.max_batch,
                max_wait=self.options.max_wait_ms / 1000,
                on_batch=self.metrics.batch_size.observe,
            )
        self.ready = False

    def _predict(self, frame: pd.DataFrame) -> Any:
        return self.served.predict(frame)

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        if self.batcher is not None:
            await self.batcher.start()
        self.ready = True
        try:
            yield
        finally:
            self.ready = False
            if self.batcher is not None:
                await self.batcher.stop()

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
        ]
        return Starlette(routes=routes, lifespan=self.lifespan)

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
        if version is not None and version != str(self.served.version):
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
            return unknown
        return await self._handle(request, "v2", self._decode_v2, self._encode_v2)

    async def invocations(self, request: Request) -> Response:
        return await self._handle(request, "invocations", self._decode_mlflow, _encode_mlflow)

    def _decode_v2(self, body: bytes, content_type: str) -> tuple[pd.DataFrame, dict[str, Any]]:
        if not content_type.startswith("application/json") and content_type:
            raise RequestError(415, f"send application/json, not {content_type}")
        parsed = _parse_json(body)
        frame = decode_v2(parsed, self.served.columns)
        context = {"id": parsed.get("id") if isinstance(parsed.get("id"), str) else None}
        return frame, context

    def _encode_v2(self, result: Any, context: dict[str, Any], request_id: str) -> dict[str, Any]:
        import numpy as np

        values = np.asarray(result)
        return {
            "model_name": self.served.name,
            "model_version": str(self.served.version),
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

    def _decode_mlflow(self, body: bytes, content_type: str) -> tuple[pd.DataFrame, dict[str, Any]]:
        if content_type.startswith("text/csv"):
            return decode_csv(body.decode("utf-8", errors="replace")), {}
        if not content_type.startswith("application/json"):
            raise RequestError(
                415, f"send application/json or text/csv, not {content_type or 'no content type'}"
            )
        return decode_mlflow(_parse_json(body), self.served.columns), {}

    async def _handle(
        self,
        request: Request,
        route: str,
        decode: Callable[[bytes, str], tuple[pd.DataFrame, dict[str, Any]]],
        encode: Callable[[Any, dict[str, Any], str], dict[str, Any]],
    ) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        headers = {"X-Request-ID": request_id}
        metrics = self.metrics
        metrics.in_flight.inc()
        batcher = self.batcher
        if batcher is not None:
            batcher.pending += 1
        status = 200
        try:
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self.options.max_body:
                raise RequestError(
                    413, f"the body is larger than {self.options.max_body} bytes; send fewer rows"
                )
            body = await _read_body(request, self.options.max_body)
            frame, context = decode(body, request.headers.get("content-type", "").lower())
            if len(frame) == 0:
                raise RequestError(400, "the request holds no rows")
            try:
                frame = self.served.check(frame)
            except SignatureError as exc:
                raise RequestError(422, str(exc), exc.column) from None
            try:
                result = await batcher.submit(frame) if batcher is not None else self.served.predict(frame)
            except (ValueError, TypeError) as exc:  # the model refused these values (NaN, inf, …)
                raise RequestError(422, f"the model cannot predict on this input: {exc}") from None
            response = _json(encode(result, context, request_id), headers=headers)
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
            if batcher is not None:
                batcher.pending -= 1
        metrics.observe(route, status, time.perf_counter() - started)
        return response


def _encode_mlflow(result: Any, context: dict[str, Any], request_id: str) -> dict[str, Any]:
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
        batching=os.environ.get("LOOPML_SERVE_BATCHING", "1") == "1",
        max_batch=int(os.environ.get("LOOPML_SERVE_MAX_BATCH", "64")),
        max_wait_ms=float(os.environ.get("LOOPML_SERVE_MAX_WAIT_MS", "2")),
    )
    return create_app(os.environ["LOOPML_SERVE_REF"], options)
