"""Opening a database: a new one is created, an older one migrated, a newer one refused."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from loopml.errors import SchemaError, SchemaTooNewError
from loopml.store import HEAD, REVISIONS, SqlStore
from loopml.store._schema import metadata
from loopml.store._sql import alembic_config


def test_revisions_constant_matches_the_migration_scripts() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    ordered = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert tuple(ordered) == REVISIONS
    assert script.get_current_head() == HEAD


def test_new_database_is_created_at_head_and_matches_the_table_definitions(store_url: str) -> None:
    store = SqlStore(store_url)
    assert store.schema_revision() == HEAD
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    store.close()


def test_the_migrations_build_the_same_schema_as_a_new_database(store_url: str) -> None:
    engine = create_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []
    store = SqlStore(store_url)
    assert store.schema_revision() == HEAD
    store.close()


def test_older_database_is_migrated_and_keeps_its_data(store_url: str) -> None:
    engine = create_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(
            text("INSERT INTO experiments (id, name, description, created_ms) VALUES ('e1', 'old', '', 1)")
        )
        conn.execute(
            text(
                "INSERT INTO runs (id, experiment_id, name, status, start_ms, user_name) "
                "VALUES ('r1', 'e1', 'old-run', 'FINISHED', 5, 'ada')"
            )
        )
    engine.dispose()

    store = SqlStore(store_url)
    assert store.schema_revision() == HEAD
    run = store.runs.get_run("r1")
    assert (run.name, run.user, run.experiment_name) == ("old-run", "ada", "old")
    assert store.runs.list_artifacts("r1") == []  # a table that 0002 added
    store.close()


def test_newer_database_is_refused_with_a_clear_message(store_url: str) -> None:
    SqlStore(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaTooNewError, match=r"newer loopml.*Upgrade loopml"):
        SqlStore(store_url)


def test_foreign_database_is_refused(store_url: str) -> None:
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE runs (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(SchemaError, match="no loopml schema version"):
        SqlStore(store_url)


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SqlStore(f"sqlite:///{tmp_path / 'x.db'}", busy_timeout=12)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 12000
    store.close()


def test_prediction_segments_of_an_older_database_read_with_no_profile_and_no_errors(store_url: str) -> None:
    engine = create_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0009")
        conn.execute(
            text(
                "INSERT INTO prediction_segments (id, model, digest, num_rows, min_ts, max_ts, "
                "versions_json, routes_json, created_ms) "
                "VALUES ('s1', 'm', 'd', 4, 1, 2, '[1]', '[\"champion\"]', 3)"
            )
        )
    engine.dispose()
    store = SqlStore(store_url)
    [segment] = store.predictions.segments("m")
    assert (segment.num_rows, segment.profile_digest, segment.error_rows) == (4, None, 0)
    store.close()


def test_a_database_from_before_deployments_gets_them_and_keeps_its_models(store_url: str) -> None:
    engine = create_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0011")
        conn.execute(
            text(
                "INSERT INTO registered_models (id, name, description, created_ms, updated_ms) "
                "VALUES ('m1', 'churn', '', 1, 1)"
            )
        )
    engine.dispose()
    store = SqlStore(store_url)
    assert store.schema_revision() == HEAD
    assert store.models.get_model("churn").name == "churn"
    deployment = store.deployments.create("churn", model="churn", at_ms=2, actor="ada")
    assert store.deployments.history("churn") == [deployment]
    assert store.loops.acquire_lease("churn", "agent", now_ms=2, ttl_ms=10)
    store.close()
