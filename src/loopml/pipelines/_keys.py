"""Cache keys: what decides that a step's earlier result can stand in for running it again.

A key covers the step's normalized source (its syntax tree without docstring, decorators, comments or
formatting), the user's ``cache_version``, every argument (literal values by content, step outputs and dataset
versions by digest, with the materializer that reads them), the registered materializers' versions, and
loopml's version.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import math
import pickle
import textwrap
from collections.abc import Callable
from typing import Any

import blake3

from loopml.pipelines._materializers import StoredValue, registry_fingerprint
from loopml.store import DatasetVersion


def source_digest(fn: Callable[..., Any]) -> str:
    """A digest of what the function does, blind to formatting, comments, its docstring and decorators."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        code = getattr(fn, "__code__", None)
        if code is None:
            return blake3.blake3(repr(fn).encode()).hexdigest()
        return blake3.blake3(code.co_code + repr(code.co_consts).encode()).hexdigest()
    node = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)),
        tree,
    )
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        node.decorator_list = []
        body = node.body
        first = body[0] if body else None
        docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        if docstring and isinstance(first.value.value, str):  # type: ignore[union-attr]
            node.body = body[1:] or [ast.Pass()]
    return blake3.blake3(ast.dump(node, annotate_fields=False).encode()).hexdigest()


def _encode(value: Any) -> Any:
    """A JSON-able stand-in for an argument that differs whenever the argument's content differs."""
    kind = type(value)
    if kind is StoredValue:
        return {"$out": value.digest, "m": f"{value.materializer}:{value.version}"}
    if kind is DatasetVersion:
        return {"$data": value.digest}
    if kind in (str, int, bool) or value is None:
        return value
    if kind is float:
        return {"$f": repr(value)} if math.isnan(value) or math.isinf(value) else value
    if kind in (list, tuple):
        return {"$" + kind.__name__: [_encode(v) for v in value]}
    if kind is dict and all(type(k) is str for k in value):
        return {"$dict": {k: _encode(v) for k, v in value.items()}}
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception:
        data = repr(value).encode()
    return {"$obj": f"{kind.__module__}.{kind.__qualname__}", "h": hashlib.blake2b(data).hexdigest()}


def cache_key(
    source: str,
    cache_version: str | None,
    arguments: dict[str, Any],
    loopml_version: str,
) -> str:
    payload = {
        "source": source,
        "cache_version": cache_version,
        "arguments": {k: _encode(v) for k, v in sorted(arguments.items())},
        "materializers": registry_fingerprint(),
        "loopml": loopml_version,
    }
    return blake3.blake3(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def describe_param(value: Any) -> str | None:
    """How an argument shows among a step run's params: literal scalars only (outputs show as inputs)."""
    if type(value) in (str, int, float, bool) or value is None:
        text = str(value)
        return text if len(text) <= 500 else text[:497] + "..."
    return None
