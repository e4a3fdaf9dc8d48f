"""Alembic environment: our engine factory (SQLite pragmas included) and the SQLModel metadata."""

from __future__ import annotations

from alembic import context

from core.db import make_engine
from core.models import metadata
from core.reading_partitions import include_name

config = context.config


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by core.migrate"
    engine = make_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Batch mode rebuilds a table (copy, drop, rename); with foreign keys enforced, dropping a
            # table others point at (household) fails. SQLite's documented recipe: keys off for the
            # rebuild, on this connection only, set outside any transaction (inside it is a no-op).
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
