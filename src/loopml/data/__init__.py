"""Data: versioned, content-addressed datasets with inferred schemas, checks and profiles, recorded as runs'
inputs and outputs.

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
    profile,
    tag,
    validate,
    versions,
)
from loopml.data._derive import Lineage, clean, join_asof, lineage, transform
from loopml.data._refs import DatasetRef, check_name, parse_ref, ref

_LAZY = {
    "checks": "loopml.data.checks",
    "fixes": "loopml.data.fixes",
    "CATEGORY_LIMIT": "loopml.data._schema",
    "infer_schema": "loopml.data._schema",
    "schema_changes": "loopml.data._schema",
    "Profile": "loopml.data._profile",
    "ColumnProfile": "loopml.data._profile",
    "profile_frame": "loopml.data._profile",
    "DatasetDiff": "loopml.data._diff",
    "diff": "loopml.data._diff",
}

__all__ = [
    "CATEGORY_LIMIT",
    "ColumnProfile",
    "DataCheckWarning",
    "DatasetDiff",
    "DatasetRef",
    "Lineage",
    "Profile",
    "SchemaChangeWarning",
    "add",
    "check_name",
    "checks",
    "clean",
    "diff",
    "fixes",
    "get",
    "infer_schema",
    "join_asof",
    "lineage",
    "load",
    "parse_ref",
    "profile",
    "profile_frame",
    "ref",
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
    from loopml.data._diff import DatasetDiff, diff
    from loopml.data._profile import ColumnProfile, Profile, profile_frame
    from loopml.data._schema import CATEGORY_LIMIT, infer_schema, schema_changes
