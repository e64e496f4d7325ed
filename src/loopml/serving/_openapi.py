"""The OpenAPI document the server publishes at ``/openapi.json``: V2 and MLflow's scoring endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "column": {"type": "string"}},
    "required": ["error"],
}

_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {
            "type": "string",
            "enum": [
                "BOOL",
                "UINT8",
                "UINT16",
                "UINT32",
                "UINT64",
                "INT8",
                "INT16",
                "INT32",
                "INT64",
                "FP16",
                "FP32",
                "FP64",
                "BYTES",
            ],
        },
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed request",
        404: "Unknown model",
        413: "Body too large",
        415: "Wrong content type",
        422: "Input does not fit the model's signature",
        503: "Not ready",
    }
    return {
        str(c): {
            "description": text[c],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for c in codes
    }


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}


def openapi_document(model: str, columns: Sequence[str]) -> dict[str, Any]:
    row = {"type": "object", "properties": {c: {} for c in columns}} if columns else {"type": "object"}
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    infer_body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "inputs": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/components/schemas/Tensor"},
                        },
                        "outputs": {"type": "array"},
                    },
                }
            }
        },
    }
    infer_response = {
        "type": "object",
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Tensor"}},
        },
    }
    invocations_body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "Exactly one of dataframe_split, dataframe_records, instances, inputs.",
                    "properties": {
                        "dataframe_split": {
                            "type": "object",
                            "properties": {
                                "columns": {"type": "array", "items": {"type": "string"}},
                                "data": {"type": "array", "items": {"type": "array"}},
                            },
                        },
                        "dataframe_records": {"type": "array", "items": row},
                        "instances": {"type": "array"},
                        "inputs": {},
                    },
                }
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    }
    health = {"get": {"responses": {"200": {"description": "OK"}, **_errors(503)}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"loopml model server: {model}", "version": "1"},
        "paths": {
            "/v2": {"get": {"responses": _ok({"type": "object"})}},
            "/v2/health/live": {"get": {"responses": _ok({"type": "object"})}},
            "/v2/health/ready": health,
            "/v2/models/{name}": {
                "get": {"parameters": [name_param], "responses": {**_ok({"type": "object"}), **_errors(404)}}
            },
            "/v2/models/{name}/ready": {
                "get": {
                    "parameters": [name_param],
                    "responses": {**_ok({"type": "object"}), **_errors(404, 503)},
                }
            },
            "/v2/models/{name}/infer": {
                "post": {
                    "parameters": [name_param],
                    "requestBody": infer_body,
                    "responses": {**_ok(infer_response), **_errors(400, 404, 413, 415, 422)},
                }
            },
            "/invocations": {
                "post": {
                    "requestBody": invocations_body,
                    "responses": {
                        **_ok({"type": "object", "properties": {"predictions": {"type": "array"}}}),
                        **_errors(400, 413, 415, 422),
                    },
                }
            },
            "/ping": {"get": {"responses": {"200": {"description": "OK"}, **_errors(503)}}},
            "/health": {"get": {"responses": {"200": {"description": "OK"}, **_errors(503)}}},
            "/metrics": {"get": {"responses": {"200": {"description": "Prometheus metrics"}}}},
        },
        "components": {"schemas": {"Error": _ERROR, "Tensor": _TENSOR}},
    }
