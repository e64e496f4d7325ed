"""Shared fixtures: an isolated loopml home per test, and stores on SQLite and a real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml import tracking
from loopml.store import SqlStore

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_postgres_status: tuple[bool, str] | None = None


def postgres_base_url() -> str:
    return os.environ.get("LOOPML_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def require_postgres() -> str:
    """The PostgreSQL URL, or skip with the reason (fail instead when LOOPML_REQUIRE_POSTGRES=1)."""
    global _postgres_status
    url = postgres_base_url()
    if _postgres_status is None:
        try:
            with _psycopg_conn(url, connect_timeout=3):
                pass
            _postgres_status = (True, "")
        except Exception as exc:
            _postgres_status = (False, f"no PostgreSQL answers at {url} ({type(exc).__name__}: {exc})")
    ok, reason = _postgres_status
    if not ok:
        if os.environ.get("LOOPML_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"LOOPML_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return url


def _psycopg_conn(url: str, connect_timeout: int = 10):  # type: ignore[no-untyped-def]
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return psycopg.connect(
        host=u.host,
        port=u.port or 5432,
        user=u.username,
        password=u.password,
        dbname=u.database,
        autocommit=True,
        connect_timeout=connect_timeout,
    )


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    base = require_postgres()
    schema = f"lm_test_{uuid.uuid4().hex[:12]}"
    with _psycopg_conn(base) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with _psycopg_conn(base) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for an empty metadata database, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loopml.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = SqlStore(store_url)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def loopml_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own loopml home, so nothing is written to the working tree."""
    home = tmp_path / "loopml-home"
    for var in ("LOOPML_DATABASE_URL", "LOOPML_ARTIFACT_ROOT", "LOOPML_CONFIG", "LOOPML_FLUSH_INTERVAL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LOOPML_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    tracking.reset()
    yield home
    tracking.reset()
