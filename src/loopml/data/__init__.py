"""Data: versioned, content-addressed datasets with inferred schemas, recorded as runs' inputs and outputs.

sensors = lm.data.add("sensors", df)          # -> DatasetVersion sensors:1
df = lm.data.load("sensors@latest")           # or "sensors:1", or a tag: "sensors@prod"
"""

from loopml.data import checks
from loopml.data._api import DataCheckWarning, SchemaChangeWarning, add, get, load, tag, validate, versions
from loopml.data._refs import DatasetRef, check_name, parse_ref
from loopml.data._schema import CATEGORY_LIMIT, infer_schema, schema_changes

__all__ = [
    "CATEGORY_LIMIT",
    "DataCheckWarning",
    "DatasetRef",
    "SchemaChangeWarning",
    "add",
    "check_name",
    "checks",
    "get",
    "infer_schema",
    "load",
    "parse_ref",
    "schema_changes",
    "tag",
    "validate",
    "versions",
]
