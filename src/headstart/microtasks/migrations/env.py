"""Alembic's environment: the connection comes from `database.upgrade`, the tables from `schema`."""

from __future__ import annotations

from alembic import context

from headstart.microtasks.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
