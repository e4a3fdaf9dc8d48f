"""Run Alembic migrations programmatically (``anbu db upgrade``; also when each role starts).

Every role may start at once on a fresh database (systemd or compose starting gateway, worker and
API together), so an upgrade runs behind a lock that only one migrator holds at a time; the others
wait, then find the schema at head and change nothing. PostgreSQL: a session advisory lock, keyed
by the schema migrated (two schemas on one server do not wait for each other). SQLite: an
exclusive ``flock`` on ``<database file>.migrate.lock`` beside the database (SQLite is one host;
``BEGIN IMMEDIATE`` alone serialised them only as long as a migration took less than the 10 s
busy timeout).
"""

from __future__ import annotations

import fcntl
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from core.db import normalise_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_lock(int, int): the first key says "Anbu migrations", the second which schema.
ADVISORY_LOCK_CLASS = 0x616E6275  # "anbu"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    with migration_lock(database_url):
        command.upgrade(alembic_config(database_url), revision)


@contextmanager
def migration_lock(database_url: str) -> Iterator[None]:
    """Hold the database's migration lock (waiting for it) for the ``with`` block."""
    url = make_url(normalise_url(database_url))
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database
        if not database or database == ":memory:":
            yield  # private to this process: nobody to wait for
            return
        path = Path(database)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_name(path.name + ".migrate.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed, or the process dies
            yield
        return
    if backend == "postgresql":
        engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                schema = conn.execute(text("SELECT current_schema()")).scalar() or "public"
                key = _signed_int4(zlib.crc32(schema.encode("utf-8")))
                conn.execute(text("SELECT pg_advisory_lock(:a, :b)"), {"a": ADVISORY_LOCK_CLASS, "b": key})
                try:
                    yield
                finally:
                    # A session lock: also released if this connection or process dies.
                    conn.execute(
                        text("SELECT pg_advisory_unlock(:a, :b)"), {"a": ADVISORY_LOCK_CLASS, "b": key}
                    )
        finally:
            engine.dispose()
        return
    log.warning("no migration lock for %s: start one migrator at a time", backend)
    yield


def _signed_int4(value: int) -> int:
    return value - (1 << 32) if value >= (1 << 31) else value


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
