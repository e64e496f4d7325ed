"""Serving: an ASGI model server for the Open Inference Protocol (V2) and MLflow's scoring format, with
signature checks, adaptive batching and Prometheus metrics.

    loopml serve failure-predictor@champion --port 8080
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    **{name: "loopml.serving._app" for name in ("ModelServer", "ServedModel", "ServerOptions", "create_app")},
    "Batcher": "loopml.serving._batcher",
    "RequestError": "loopml.serving._codec",
    "openapi_document": "loopml.serving._openapi",
}

__all__ = [
    "Batcher",
    "ModelServer",
    "RequestError",
    "ServedModel",
    "ServerOptions",
    "create_app",
    "openapi_document",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from loopml.serving._app import ModelServer, ServedModel, ServerOptions, create_app
    from loopml.serving._batcher import Batcher
    from loopml.serving._codec import RequestError
    from loopml.serving._openapi import openapi_document
