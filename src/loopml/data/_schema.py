"""A version's schema summary (types, nulls, ranges, bounded categories) and how two schemas differ.

The summary comes out of the same streaming pass that builds the profile (``_profile.ProfileBuilder``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from loopml.data._profile import CATEGORY_LIMIT, ProfileBuilder

__all__ = ["CATEGORY_LIMIT", "infer_schema", "schema_changes"]


def infer_schema(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> dict[str, Any]:
    builder = ProfileBuilder(schema)
    for batch in batches:
        builder.update(batch)
    builder.result()
    return builder.schema()


def schema_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How ``new`` differs from ``old``: columns added, removed and retyped, in words."""
    before = {c["name"]: c["type"] for c in old.get("columns", [])}
    after = {c["name"]: c["type"] for c in new.get("columns", [])}
    changes = [f"column {n!r} added ({after[n]})" for n in after if n not in before]
    changes += [f"column {n!r} removed" for n in before if n not in after]
    changes += [
        f"column {n!r} retyped {before[n]} -> {after[n]}"
        for n in after
        if n in before and before[n] != after[n]
    ]
    return changes
