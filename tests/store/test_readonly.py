"""Quick read-only lookups with sqlite3 alone: the same version the Store gives, or None when not certain."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loopml.store import DatasetStatus, SqlStore, find_dataset_version
from loopml.store._readonly import sqlite_file

A, B, C = "a" * 64, "b" * 64, "c" * 64


def add(store: SqlStore, name: str, digest: str, **kw: Any):  # type: ignore[no-untyped-def]
    options: dict[str, Any] = {
        "kind": "file",
        "num_rows": 10,
        "num_bytes": 100,
        "schema": {"columns": [{"name": "x", "type": "double", "min": -1.5, "max": 2.0}]},
        "status": DatasetStatus.OK,
        "description": "first",
        "environment": {"loopml": "0.1.0", "pyarrow": "20"},
        "created_ms": 1_767_225_600_123,
    }
    options.update(kw)
    return store.datasets.add_version(name, digest=digest, **options)[0]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'loopml.db'}"


def test_the_same_version_as_the_store(url: str) -> None:
    store = SqlStore(url)
    first = add(store, "sensors", A, tags=["prod", "audited"])
    add(store, "sensors", B, status=DatasetStatus.QUARANTINED, checks={"passed": False, "results": []})
    add(store, "features", C, kind="dir", parents=[first.id, first.id], transform={"function": "m.f"})
    for name, digest in [("sensors", A), ("sensors", B), ("features", C)]:
        expected = store.datasets.find_version(name, digest)
        assert expected is not None
        assert find_dataset_version(url, name, digest) == expected
    store.close()


def test_none_when_there_is_no_such_version(url: str) -> None:
    store = SqlStore(url)
    add(store, "sensors", A)
    assert find_dataset_version(url, "sensors", B) is None
    assert find_dataset_version(url, "weather", A) is None
    assert find_dataset_version(url, "Sensors", A) is None
    store.close()


def test_none_for_a_database_at_another_revision(url: str) -> None:
    store = SqlStore(url)
    add(store, "sensors", A)
    store.close()
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0004'")
    assert find_dataset_version(url, "sensors", A) is None
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    assert find_dataset_version(url, "sensors", A) is None
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE alembic_version")
    assert find_dataset_version(url, "sensors", A) is None


def test_none_for_a_missing_or_broken_database_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "loopml.db"
    assert find_dataset_version(f"sqlite:///{missing}", "sensors", A) is None
    assert not missing.parent.exists()
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database" * 100)
    assert find_dataset_version(f"sqlite:///{broken}", "sensors", A) is None
    assert broken.read_bytes() == b"not a database" * 100


@pytest.mark.parametrize(
    "other",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:////tmp/x.db?mode=ro",
        "sqlite:////tmp/with%20space.db",
        "mysql://u@h/db",
    ],
)
def test_other_databases_are_left_to_the_store(other: str) -> None:
    assert sqlite_file(other) is None
    assert find_dataset_version(other, "sensors", A) is None


def test_sqlite_file_of_the_urls_settings_give(tmp_path: Path) -> None:
    assert sqlite_file(f"sqlite:///{tmp_path / 'a b' / 'loopml.db'}") == str(tmp_path / "a b" / "loopml.db")


def test_reads_while_another_connection_writes(url: str) -> None:
    store = SqlStore(url)
    add(store, "sensors", A)
    writer = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE datasets SET description = 'changing'")
    try:
        found = find_dataset_version(url, "sensors", A, timeout=0.1)
        assert found is not None and found.version == 1  # WAL: a reader never waits for a writer
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        store.close()


def test_loads_neither_sqlalchemy_nor_the_sql_store(url: str) -> None:
    store = SqlStore(url)
    add(store, "sensors", A)
    store.close()
    code = (
        "import sys\n"
        "from loopml.store import find_dataset_version\n"
        f"assert find_dataset_version({url!r}, 'sensors', {A!r}).version == 1\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')"
        " or m == 'loopml.store._sql'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
