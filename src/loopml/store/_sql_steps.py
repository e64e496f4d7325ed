"""Pipeline steps in SQL: the ``store.steps`` repository of SqlStore.

A step's run is an ordinary run (a child of its pipeline run); this repository writes it, with its params,
tags, artifacts and dataset inputs, in one transaction, and keeps the cache table that maps a step's cache key
to the run whose outputs answer it. One transaction per step keeps a cached step well under a millisecond of
database time.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select

from loopml.errors import NotFoundError
from loopml.store import _schema as t
from loopml.store._entities import CachedStep, Run, RunStatus, StepRecord
from loopml.store._sql_runs import _as_number

if TYPE_CHECKING:
    from loopml.store._sql import SqlStore


class SqlStepRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._insert = insert = store.upsert_insert
        # built once: constructing ON CONFLICT statements costs more than running them on SQLite
        self._update_run = (
            t.runs.update()
            .where(t.runs.c.id == bindparam("run_id"))
            .values(status=bindparam("status"), end_ms=bindparam("end_ms"), error=bindparam("error"))
        )
        self._insert_params = insert(t.params).on_conflict_do_nothing()
        tags = insert(t.tags)
        self._upsert_tags = tags.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": tags.excluded.value}
        )
        arts = insert(t.run_artifacts)
        self._upsert_artifacts = arts.on_conflict_do_update(
            index_elements=["run_id", "path"],
            set_={k: arts.excluded[k] for k in ("digest", "size", "kind", "created_ms")},
        )
        self._link_datasets = insert(t.run_datasets).on_conflict_do_nothing()
        cache = insert(t.step_cache)
        self._upsert_cache = cache.on_conflict_do_update(
            index_elements=["cache_key"],
            set_={k: cache.excluded[k] for k in ("run_id", "outputs_json", "created_ms")},
        )
        self._find_cached = select(t.step_cache).where(t.step_cache.c.cache_key == bindparam("key"))

    def record(self, step: StepRecord) -> str:
        """Write a step's run as one transaction; return its id."""
        run_id = step.run_id or uuid.uuid4().hex

        def write(conn: Connection) -> None:
            status = RunStatus(step.status).value
            if step.run_id is None:
                conn.execute(
                    t.runs.insert(),
                    {
                        "id": run_id,
                        "experiment_id": step.experiment_id,
                        "name": step.name,
                        "status": status,
                        "start_ms": step.start_ms,
                        "end_ms": step.end_ms,
                        "parent_id": step.parent_id,
                        "user_name": step.user,
                        "git_commit": step.git_commit,
                        "git_dirty": step.git_dirty,
                        "entry_point": step.entry_point,
                        "error": step.error,
                    },
                )
            else:
                updated = conn.execute(
                    self._update_run,
                    {"run_id": run_id, "status": status, "end_ms": step.end_ms, "error": step.error},
                )
                if updated.rowcount == 0:
                    raise NotFoundError(f"No step run with id {run_id!r}.")
            if step.params:
                conn.execute(
                    self._insert_params,
                    [
                        {"run_id": run_id, "key": k, "value": v, "value_num": _as_number(v)}
                        for k, v in step.params.items()
                    ],
                )
            if step.tags:
                conn.execute(
                    self._upsert_tags,
                    [{"run_id": run_id, "key": k, "value": v} for k, v in step.tags.items()],
                )
            if step.artifacts:
                conn.execute(
                    self._upsert_artifacts,
                    [
                        {
                            "run_id": run_id,
                            "path": a.path,
                            "digest": a.digest,
                            "size": a.size,
                            "kind": a.kind,
                            "created_ms": a.created_ms,
                        }
                        for a in step.artifacts
                    ],
                )
            if step.dataset_inputs:
                conn.execute(
                    self._link_datasets,
                    [
                        {"run_id": run_id, "version_id": v, "direction": "input"}
                        for v in dict.fromkeys(step.dataset_inputs)
                    ],
                )
            if step.cache_key is not None and step.status is RunStatus.FINISHED:
                row: dict[str, Any] = {
                    "cache_key": step.cache_key,
                    "run_id": run_id,
                    "outputs_json": step.outputs_json or "[]",
                    "created_ms": step.end_ms,
                }
                conn.execute(self._upsert_cache, row)

        self._store.write(write)
        return run_id

    def find_cached(self, cache_key: str) -> CachedStep | None:
        with self._store.read() as conn:
            row = conn.execute(self._find_cached, {"key": cache_key}).first()
        return (
            None if row is None else CachedStep(row.cache_key, row.run_id, row.outputs_json, row.created_ms)
        )

    def forget(self, cache_key: str) -> None:
        """Drop a cache entry (its outputs are gone); the step runs again next time."""
        self._store.write(
            lambda conn: conn.execute(t.step_cache.delete().where(t.step_cache.c.cache_key == cache_key))
        )

    def children(self, parent_id: str) -> list[str]:
        """The ids of a run's child runs, oldest first."""
        r = t.runs.c
        with self._store.read() as conn:
            rows = conn.execute(select(r.id).where(r.parent_id == parent_id).order_by(r.start_ms, r.id))
            return [row[0] for row in rows]

    def child_runs(self, parent_id: str) -> list[Run]:
        """A run's child runs, oldest first, with their params and tags, read at once."""
        return self._store.runs._load_runs(self.children(parent_id))

    def producers(self, digest: str) -> list[str]:
        """The runs that hold a blob as an artifact, oldest first (the first one produced it)."""
        a, r = t.run_artifacts.c, t.runs.c
        query = (
            select(r.id, r.start_ms)
            .join(t.run_artifacts, r.id == a.run_id)
            .where(a.digest == digest)
            .order_by(r.start_ms, r.id)
        )
        with self._store.read() as conn:
            return list(dict.fromkeys(row[0] for row in conn.execute(query)))  # a run may hold it twice
