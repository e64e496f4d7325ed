"""Store contract for datasets: numbering, content dedup, latest, tags, run links (SQLite, PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from loopml.errors import NotFoundError
from loopml.store import DatasetStatus, SqlStore


def add(store: SqlStore, name: str, digest: str, status: DatasetStatus = DatasetStatus.OK, **kw: Any):  # type: ignore[no-untyped-def]
    return store.datasets.add_version(
        name,
        digest=digest,
        kind="file",
        num_rows=10,
        num_bytes=100,
        schema={"columns": []},
        status=status,
        description="",
        environment={"loopml": "x"},
        created_ms=1,
        **kw,
    )


class TestDatasetVersions:
    def test_versions_count_per_name_and_same_content_is_the_same_version(self, store: SqlStore) -> None:
        v1, new1 = add(store, "sensors", "a" * 64)
        v2, new2 = add(store, "sensors", "b" * 64)
        again, new3 = add(store, "sensors", "a" * 64)
        other, _ = add(store, "weather", "a" * 64)
        assert (v1.version, v2.version, other.version) == (1, 2, 1)
        assert (new1, new2, new3) == (True, True, False) and again.id == v1.id
        assert [v.version for v in store.datasets.list_versions("sensors")] == [1, 2]
        assert [(d.name, n) for d, n in store.datasets.list_datasets()] == [("sensors", 2), ("weather", 1)]
        assert set(store.referenced_digests()) >= {"a" * 64, "b" * 64}

    def test_latest_skips_quarantined_versions(self, store: SqlStore) -> None:
        add(store, "s", "a" * 64)
        add(store, "s", "b" * 64, status=DatasetStatus.QUARANTINED)
        assert store.datasets.get_latest("s").version == 1
        assert store.datasets.get_version("s", 2).status is DatasetStatus.QUARANTINED

    def test_tags_name_one_version_and_move(self, store: SqlStore) -> None:
        add(store, "s", "a" * 64, tags=["prod"])
        add(store, "s", "b" * 64)
        assert store.datasets.get_tagged("s", "prod").version == 1
        moved = store.datasets.set_tag("s", "prod", 2)
        assert moved.tags == ("prod",) and store.datasets.get_version("s", 1).tags == ()
        assert store.datasets.get_tagged("s", "prod").version == 2

    def test_missing_things_say_what_is_missing(self, store: SqlStore) -> None:
        add(store, "s", "a" * 64)
        with pytest.raises(NotFoundError, match="No dataset named 'x'"):
            store.datasets.get_latest("x")
        with pytest.raises(NotFoundError, match="no version 9"):
            store.datasets.get_version("s", 9)
        with pytest.raises(NotFoundError, match="no tag 'gold'"):
            store.datasets.get_tagged("s", "gold")

    def test_runs_record_inputs_and_outputs(self, store: SqlStore) -> None:
        exp = store.runs.create_experiment("e")
        run = store.runs.create_run(exp.id, start_ms=1)
        v1, _ = add(store, "s", "a" * 64)
        v2, _ = add(store, "t", "b" * 64)
        store.datasets.link_run(run.id, v1.id, "input")
        store.datasets.link_run(run.id, v1.id, "input")  # twice is harmless
        store.datasets.link_run(run.id, v2.id, "output")
        assert [(v.ref, d) for v, d in store.datasets.run_datasets(run.id)] == [
            ("s:1", "input"),
            ("t:1", "output"),
        ]
