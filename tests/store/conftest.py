"""The store contract suites run on every backend: SQLite, PostgreSQL, and RestStore through a real
``loopml server`` app (uvicorn on loopback) over SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopml.server._app import create_app
from loopml.server._run import serving
from loopml.store import SqlStore
from loopml.store._rest import RestStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "rest"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "postgres":
        s = SqlStore(str(request.getfixturevalue("postgres_schema_url")))
        yield s
        s.close()
        return
    backend = SqlStore(f"sqlite:///{tmp_path / 'loopml.db'}")
    if request.param == "sqlite":
        yield backend
        backend.close()
        return
    with serving(create_app(backend, ui=False)) as server:
        rest = RestStore(server.url, retry_seconds=2.0)
        rest.engine = backend.engine  # type: ignore[attr-defined]  # for the tests that race other processes on the database
        yield rest
        rest.close()
    backend.close()
