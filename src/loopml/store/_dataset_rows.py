"""A dataset version's row as the database holds it, and the ``DatasetVersion`` made from it.

Shared by the SQLAlchemy repository and the quick read-only SQLite reader, so both hand out the same value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from loopml.store._dataset_entities import DatasetStatus, DatasetVersion

# the columns of a version's row, in the order ``version_from_row`` takes them ("name" is the dataset's)
VERSION_COLUMNS = (
    "id",
    "dataset_id",
    "name",
    "version",
    "digest",
    "kind",
    "num_rows",
    "num_bytes",
    "schema_json",
    "status",
    "description",
    "environment_json",
    "created_ms",
    "checks_json",
    "transform_json",
    "profile_digest",
)


def version_from_row(
    row: Sequence[Any], tags: dict[str, list[str]], parents: dict[str, list[str]]
) -> DatasetVersion:
    """The version of ``row`` (``VERSION_COLUMNS``), with its tags and parents from the grouped lookups."""
    vid, dataset_id, name, number, digest, kind, rows, size, schema, status, desc, env, created, *extra = row
    checks, how, profile = extra
    return DatasetVersion(
        id=vid,
        dataset_id=dataset_id,
        name=name,
        version=number,
        digest=digest,
        kind=kind,
        num_rows=rows,
        num_bytes=size,
        schema=json.loads(schema),
        status=DatasetStatus(status),
        description=desc,
        environment=json.loads(env),
        created_ms=created,
        tags=tuple(tags.get(vid, ())),
        checks=None if checks is None else json.loads(checks),
        transform=None if how is None else json.loads(how),
        parents=tuple(parents.get(vid, ())),
        profile_digest=profile,
    )
