"""Alembic environment: loopml always hands in the connection (and its open transaction) to migrate."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("loopml migrations run through SqlStore, which passes a connection")

context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
