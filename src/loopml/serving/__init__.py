"""Serving: an ASGI model server for the Open Inference Protocol (V2) and MLflow's scoring format, with
signature checks, adaptive batching and Prometheus metrics; and deployments, what each route of a served
model answers with, kept in the Store.

    loopml serve failure-predictor@champion --port 8080
    lm.deploy("failure-predictor", "failure-predictor", canary="@challenger", canary_percent=10)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    **{name: "loopml.serving._app" for name in ("ModelServer", "ServedModel", "ServerOptions", "create_app")},
    **{
        name: "loopml.serving._deployment"
        for name in (
            "UNSET",
            "deploy",
            "deployment_history",
            "get_deployment",
            "list_deployments",
            "normalize_ref",
            "resolve_routes",
            "route_ref",
        )
    },
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
    "UNSET",
    "create_app",
    "deploy",
    "deployment_history",
    "get_deployment",
    "list_deployments",
    "normalize_ref",
    "openapi_document",
    "resolve_routes",
    "route_ref",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from loopml.serving._app import ModelServer, ServedModel, ServerOptions, create_app
    from loopml.serving._batcher import Batcher
    from loopml.serving._codec import RequestError
    from loopml.serving._deployment import (
        UNSET,
        deploy,
        deployment_history,
        get_deployment,
        list_deployments,
        normalize_ref,
        resolve_routes,
        route_ref,
    )
    from loopml.serving._openapi import openapi_document
