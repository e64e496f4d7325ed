"""Store contract for the registry: versions, aliases, evaluations, gates, audit (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from loopml.errors import NotFoundError
from loopml.store import ModelVersion, SqlStore


def register(store: SqlStore, name: str, digest: str, **kw: Any) -> tuple[ModelVersion, bool]:
    fields: dict[str, Any] = {
        "bundle_digest": digest,
        "flavor": "sklearn",
        "created_ms": 10,
        "created_by": "ada",
    }
    fields.update(kw)
    return store.models.create_version(name, **fields)


def test_versions_are_numbered_per_model_and_the_same_bundle_is_the_same_version(store: SqlStore) -> None:
    v1, new1 = register(store, "churn", "a" * 64, metrics={"f1": 0.8}, tags={"team": "growth"})
    v2, new2 = register(store, "churn", "b" * 64, reason="retrained")
    again, new3 = register(store, "churn", "a" * 64)
    other, _ = register(store, "fraud", "a" * 64)
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert (new1, new2, new3) == (True, True, False) and again.id == v1.id
    assert v1.metrics == {"f1": 0.8} and v1.ref == "churn:1"
    model = store.models.get_model("churn")
    assert model.tags == {"team": "growth"} and model.latest_version == 2
    assert [m.name for m in store.models.list_models()] == ["churn", "fraud"]
    assert store.models.get_latest("churn").id == v2.id
    assert set(store.referenced_digests()) >= {"a" * 64, "b" * 64}
    events = store.audit.events("model", "churn")
    assert [(e.action, e.details["version"], e.reason) for e in events] == [
        ("model.register", 1, ""),
        ("model.register", 2, "retrained"),
    ]


def test_aliases_move_and_say_who_and_why(store: SqlStore) -> None:
    register(store, "churn", "a" * 64)
    register(store, "churn", "b" * 64)
    store.models.set_alias("churn", "champion", 1, actor="ada", at_ms=20, reason="first")
    moved = store.models.set_alias("churn", "champion", 2, actor="bob", at_ms=30, reason="gate passed")
    assert moved.version == 2 and moved.aliases == ("champion",)
    assert store.models.get_by_alias("churn", "champion").version == 2
    assert store.models.get_version("churn", 1).aliases == ()
    assert store.models.get_model("churn").aliases == {"champion": 2}
    last = store.audit.events("model", "churn")[-1]
    assert (last.action, last.actor, last.reason, last.details) == (
        "alias.set",
        "bob",
        "gate passed",
        {"alias": "champion", "version": 2, "previous": 1},
    )
    with pytest.raises(NotFoundError, match="has no alias 'staging' \\(its aliases: champion\\)"):
        store.models.get_by_alias("churn", "staging")
    with pytest.raises(NotFoundError, match="has no version 9"):
        store.models.set_alias("churn", "champion", 9, actor="ada", at_ms=40)
    assert store.models.get_by_alias("churn", "champion").version == 2  # a refused move changes nothing
    store.models.delete_alias("churn", "champion", actor="ada", at_ms=50, reason="retired")
    assert store.models.get_model("churn").aliases == {}
    assert store.audit.events("model", "churn")[-1].action == "alias.delete"
    with pytest.raises(NotFoundError, match="No registered model named 'nope'"):
        store.models.get_by_alias("nope", "champion")


def test_evaluations_and_gate_decisions_are_kept_on_the_version(store: SqlStore) -> None:
    v1, _ = register(store, "churn", "a" * 64, metrics={"train_f1": 0.9})
    store.models.add_evaluation(
        v1.id, {"metrics": {"f1": 0.81}, "n_rows": 100}, created_ms=11, dataset_version_id=None
    )
    assert store.models.get_version("churn", 1).metrics == {"train_f1": 0.9, "f1": 0.81}
    assert [e.evaluation["n_rows"] for e in store.models.evaluations(v1.id)] == [100]
    gate = store.models.record_gate(
        candidate_version_id=v1.id,
        baseline_version_id=None,
        passed=True,
        decision={"passed": True, "results": []},
        created_ms=12,
        created_by="ci",
    )
    assert [g.id for g in store.models.gate_records(v1.id)] == [gate.id]
    assert store.audit.events("model", "churn")[-1].details == {
        "version": 1,
        "passed": True,
        "gate_id": gate.id,
    }


def test_concurrent_registrations_get_distinct_numbers(store: SqlStore) -> None:
    register(store, "churn", "0" * 64)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            register(store, "churn", f"{i:064d}"[-64:].replace("0", "c", 1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(1, 9)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert [v.version for v in store.models.list_versions("churn")] == list(range(1, 10))
