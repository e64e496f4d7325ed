"""Data: versioned, content-addressed datasets with inferred schemas and checks, recorded as runs' inputs and
outputs.

    sensors = lm.data.add("sensors", df, checks=[lm.data.checks.not_null("temp")])   # -> sensors:1
    df = lm.data.load("sensors@latest")           # or "sensors:1", or a tag: "sensors@prod"

``checks`` and the schema helpers load on first use: they bring in pyarrow, which a lookup does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loopml.data._api import (
    DataCheckWarning,
    SchemaChangeWarning,
    add,
    get,
    load,
    tag,
    validate,
    versions,
)
from loopml.data._derive import Lineage, clean, join_asof, lineage, transform
from loopml.data._refs import DatasetRef, check_name, parse_ref

_LAZY = {
    "checks": "loopml.data.checks",
    "fixes": "loopml.data.fixes",
    "CATEGORY_LIMIT": "loopml.data._schema",
    "infer_schema": "loopml.data._schema",
    "schema_changes": "loopml.data._schema",
}

__all__ = [
    "CATEGORY_LIMIT",
    "DataCheckWarning",
    "DatasetRef",
    "Lineage",
    "SchemaChangeWarning",
    "add",
    "check_name",
    "checks",
    "clean",
    "fixes",
    "get",
    "infer_schema",
    "join_asof",
    "lineage",
    "load",
    "parse_ref",
    "schema_changes",
    "tag",
    "transform",
    "validate",
    "versions",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loopml.data' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if name in ("checks", "fixes") else getattr(mod, name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from loopml.data import checks, fixes
    from loopml.data._schema import CATEGORY_LIMIT, infer_schema, schema_changes
