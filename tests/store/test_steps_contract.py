"""Store contract for pipeline steps: a step's run in one transaction, the step cache (SQLite, PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from loopml.errors import NotFoundError
from loopml.store import Artifact, RunStatus, SqlStore, StepRecord


def _pipeline_run(store: SqlStore) -> tuple[str, str]:
    exp = store.runs.get_or_create_experiment("pipe")
    return exp.id, store.runs.create_run(exp.id, name="pipe", start_ms=1).id


def _record(store: SqlStore, exp: str, parent: str, **kw: Any) -> str:
    fields: dict[str, Any] = {
        "experiment_id": exp,
        "parent_id": parent,
        "name": "train",
        "status": RunStatus.FINISHED,
        "start_ms": 10,
        "end_ms": 20,
    }
    fields.update(kw)
    return store.steps.record(StepRecord(**fields))


def test_a_cached_step_is_one_finished_child_run_with_everything(store: SqlStore) -> None:
    exp, parent = _pipeline_run(store)
    version, _ = store.datasets.add_version(
        "d",
        digest="d" * 64,
        kind="file",
        num_rows=1,
        num_bytes=1,
        schema={},
        status="ok",  # type: ignore[arg-type]
        description="",
        environment={},
        created_ms=1,
    )
    run_id = _record(
        store,
        exp,
        parent,
        params={"n": "200", "name": "x"},
        tags={"loopml.cached": "true"},
        artifacts=[Artifact("outputs/output", "a" * 64, 5, "file", 20)],
        dataset_inputs=[version.id, version.id],
    )
    run = store.runs.get_run(run_id)
    assert (run.parent_id, run.status, run.start_ms, run.end_ms) == (parent, RunStatus.FINISHED, 10, 20)
    assert run.params == {"n": "200", "name": "x"} and run.tags == {"loopml.cached": "true"}
    assert [a.digest for a in run.artifacts] == ["a" * 64]
    assert [(v.id, d) for v, d in store.datasets.run_datasets(run_id)] == [(version.id, "input")]
    assert [r.id for r in store.runs.search_runs(None, "params.n > 100")] == [run_id]  # as numbers
    assert store.steps.children(parent) == [run_id]
    assert store.steps.producers("a" * 64) == [run_id]
    assert "a" * 64 in set(store.referenced_digests())


def test_finishing_a_started_step_and_the_cache_entry(store: SqlStore) -> None:
    exp, parent = _pipeline_run(store)
    started = store.runs.create_run(exp, name="train", start_ms=5, parent_id=parent).id
    assert store.steps.find_cached("k" * 64) is None
    _record(
        store,
        exp,
        parent,
        run_id=started,
        status=RunStatus.FAILED,
        error="ValueError: no",
        cache_key="k" * 64,
    )
    assert store.runs.get_run(started).status is RunStatus.FAILED
    assert store.steps.find_cached("k" * 64) is None  # a failed step answers no key
    _record(store, exp, parent, run_id=started, cache_key="k" * 64, outputs_json='[{"digest": "x"}]')
    hit = store.steps.find_cached("k" * 64)
    assert hit is not None and (hit.run_id, hit.outputs_json) == (started, '[{"digest": "x"}]')
    newer = _record(store, exp, parent, cache_key="k" * 64, outputs_json="[]", end_ms=30)
    hit = store.steps.find_cached("k" * 64)
    assert hit is not None and hit.run_id == newer  # the newest successful run answers
    store.steps.forget("k" * 64)
    assert store.steps.find_cached("k" * 64) is None


def test_a_step_for_a_missing_run_or_parent_writes_nothing(store: SqlStore) -> None:
    exp, parent = _pipeline_run(store)
    with pytest.raises(NotFoundError):
        _record(store, exp, parent, run_id="0" * 32, cache_key="z" * 64)
    assert store.steps.find_cached("z" * 64) is None
    with pytest.raises(Exception):  # noqa: B017  (the database refuses the foreign key)
        _record(store, exp, "f" * 32, cache_key="y" * 64, tags={"a": "b"})
    assert store.steps.find_cached("y" * 64) is None and store.steps.children("f" * 32) == []
