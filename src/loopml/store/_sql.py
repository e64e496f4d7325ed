"""SqlStore: the metadata Store on SQLAlchemy 2, the same code on SQLite and PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with ``BEGIN IMMEDIATE`` so
that concurrent writers queue on the lock instead of failing when a reader upgrades. Opening a database
migrates it to the newest schema (Alembic); a database migrated by a newer loopml is refused.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

from loopml.errors import ConfigError, SchemaError, SchemaTooNewError
from loopml.store._revisions import HEAD, REVISIONS
from loopml.store._sql_datasets import SqlDatasetRepository
from loopml.store._sql_deployments import SqlDeploymentRepository, SqlLoopRepository
from loopml.store._sql_models import SqlAuditRepository, SqlModelRepository
from loopml.store._sql_monitors import SqlMonitorRepository
from loopml.store._sql_predictions import SqlPredictionRepository
from loopml.store._sql_runs import SqlRunRepository
from loopml.store._sql_steps import SqlStepRepository

_MIGRATION_LOCK_KEY = 0x6C6F6F706D6C  # "loopml": serialises migrations on PostgreSQL

T = TypeVar("T")


class SqlStore:
    """Metadata in a relational database. ``SqlStore("sqlite://")`` is a private in-memory store."""

    def __init__(self, url: str, *, busy_timeout: float = 60.0, migrate: bool = True) -> None:
        self._url = make_url(url)
        self.dialect = self._url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigError(f"Database {self.dialect!r} is not supported; use sqlite or postgresql.")
        self.engine = _create_engine(self._url.render_as_string(hide_password=False), busy_timeout)
        # the dialect's INSERT with ON CONFLICT; importing only the one in use keeps start-up short
        self.upsert_insert: Any = importlib.import_module(f"sqlalchemy.dialects.{self.dialect}").insert
        self._check_schema(migrate)
        self.runs = SqlRunRepository(self)
        self.datasets = SqlDatasetRepository(self)
        self.steps = SqlStepRepository(self)
        self.models = SqlModelRepository(self)
        self.audit = SqlAuditRepository(self)
        self.predictions = SqlPredictionRepository(self)
        self.monitors = SqlMonitorRepository(self)
        self.deployments = SqlDeploymentRepository(self)
        self.loops = SqlLoopRepository(self)

    @property
    def url(self) -> str:
        return self._url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    # -- transactions
    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction; SQLite lock errors outlasting the busy timeout are retried."""
        attempts = 0
        while True:
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(loopml_write=True)
                    with conn.begin():
                        return fn(conn)
            except OperationalError as exc:
                attempts += 1
                if self.dialect != "sqlite" or "locked" not in str(exc) or attempts >= 5:
                    raise
                time.sleep(0.05 * attempts)

    # -- schema
    def schema_revision(self) -> str | None:
        with self.read() as conn:
            return _current_revision(conn)

    def _check_schema(self, migrate: bool) -> None:
        with self.read() as conn:
            if _current_revision(conn) == HEAD:
                return
        if not migrate:
            raise SchemaError(f"{self.url} is not at schema {HEAD}: run `loopml doctor` to see why.")
        self.write(self._migrate)

    def _migrate(self, conn: Connection) -> None:
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        current = _current_revision(conn)  # again, under the lock: another process may have migrated
        if current == HEAD:
            return
        if current is None and inspect(conn).has_table("runs"):
            raise SchemaError(
                f"{self.url} has tables but no loopml schema version; point loopml at another database."
            )
        if current is None:
            # an empty database gets the newest tables at once, without loading Alembic (a third of a cold
            # command's time); the migrations build the same schema, which a test checks
            from loopml.store._schema import metadata

            metadata.create_all(conn)
            conn.execute(
                text(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                )
            )
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD})
            return
        if current is not None and current not in REVISIONS:
            raise SchemaTooNewError(
                f"{self.url} is at schema revision {current!r}, written by a newer loopml than this one "
                f"(which knows up to {HEAD!r}). Upgrade loopml: pip install -U loopml."
            )
        from alembic import command

        command.upgrade(alembic_config(conn), "head")

    def referenced_digests(self) -> Iterator[str]:
        yield from self.runs.referenced_digests()
        yield from self.datasets.referenced_digests()
        yield from self.models.referenced_digests()
        yield from self.predictions.referenced_digests()
        yield from self.monitors.referenced_digests()

    def close(self) -> None:
        self.engine.dispose()


def alembic_config(conn: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "loopml.store:migrations")
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def _current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])


def _create_engine(url: str, busy_timeout: float) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    memory = make_url(url).database in (None, "", ":memory:")
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
        # an in-memory database lives in one connection, so every user must share it
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # loopml issues BEGIN itself (below)
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("loopml_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
