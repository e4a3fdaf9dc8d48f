"""`anbu backup OUT` and `anbu restore IN`: a whole database to one file and back.

SQLite: the online backup API (``sqlite3.Connection.backup``), a consistent copy taken while
gateway, worker and API keep writing (WAL: readers never block writers), written beside OUT and
renamed into place when complete. PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore`` (the
PostgreSQL client tools, of the server's major version or newer), the documented recipe in
docs/operations.md; the password goes to them in the environment, never on a command line.

Restore goes into a fresh (empty) database unless ``force``: restoring over live data is a
decision for an operator, with the roles stopped. On PostgreSQL ``force`` empties the schema first
(one transaction), then restores (another): if the restore then fails, the database is empty and
the backup file is still there to restore again.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from core.db import make_engine, normalise_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead, with what to do about it."""


@dataclass(frozen=True)
class Done:
    path: Path
    bytes: int


def backup(database_url: str, out: Path, *, force: bool = False) -> Done:
    if out.exists() and not force:
        raise BackupError(f"{out} exists; choose another file or pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    url = make_url(normalise_url(database_url))
    try:
        if url.get_backend_name() == "sqlite":
            _sqlite_backup(_sqlite_path(url), partial)
        elif url.get_backend_name() == "postgresql":
            _run(
                ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", *_pg_schema(url)],
                url,
                partial,
            )
        else:
            raise BackupError(f"no backup for {url.get_backend_name()}: use the database's own tools")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return Done(out, out.stat().st_size)


def restore(database_url: str, src: Path, *, force: bool = False) -> None:
    if not src.is_file():
        raise BackupError(f"{src}: no such backup file")
    url = make_url(normalise_url(database_url))
    head = _first_bytes(src, 16)
    if not force and _has_tables(database_url):
        raise BackupError(
            "the target database is not empty; restore into a fresh database, or stop every role "
            "and pass --force to replace what is there"
        )
    if url.get_backend_name() == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"{src} is not a SQLite backup (made by anbu backup on SQLite?)")
        _sqlite_restore(src, _sqlite_path(url))
    elif url.get_backend_name() == "postgresql":
        if not head.startswith(PGDUMP_MAGIC):
            raise BackupError(
                f"{src} is not a pg_dump custom-format file (made by anbu backup on PostgreSQL?)"
            )
        if force:
            # Not pg_restore --clean: it drops each partition's inherited primary key on its own,
            # which PostgreSQL refuses (``reading`` is partitioned: core/reading_partitions.py).
            _pg_empty(database_url)
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
            ],
            url,
            None,
            src,
        )
    else:
        raise BackupError(f"no restore for {url.get_backend_name()}: use the database's own tools")


# ---------------------------------------------------------------------------------- SQLite


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up or restore into")
    return Path(url.database)


def _sqlite_backup(path: Path, out: Path) -> None:
    if not path.is_file():
        raise BackupError(f"{path}: no such database file")
    # Read-only: a backup never creates or changes the live database.
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(out)
    try:
        source.backup(target)  # one step: a consistent snapshot; WAL writers go on meanwhile
        # One self-contained file (the copy inherits the source's WAL mode otherwise).
        target.execute("PRAGMA journal_mode=DELETE")
        if target.execute("PRAGMA quick_check").fetchone() != ("ok",):
            raise BackupError("the copy failed its integrity check; the database itself may be damaged")
    finally:
        target.close()
        source.close()


def _sqlite_restore(src: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    # Through the backup API, not a file copy: it takes SQLite's locks and leaves no stale WAL.
    target = sqlite3.connect(path, timeout=30)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=WAL")  # as core.db opens it
    finally:
        target.close()
        source.close()


def _first_bytes(path: Path, n: int) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def _has_tables(database_url: str) -> bool:
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite" and not _sqlite_path(url).exists():
        return False
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return bool(inspect(conn).get_table_names())
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------- PostgreSQL


def _pg_empty(database_url: str) -> None:
    """Drop every table and sequence of the schema we restore into, in one transaction."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            tables = conn.execute(
                text(
                    "SELECT quote_ident(c.relname) FROM pg_class c WHERE c.relkind IN ('r', 'p') "
                    "AND c.relnamespace = to_regnamespace(current_schema())::oid AND NOT c.relispartition"
                )
            ).scalars()
            names = ", ".join(tables)
            if names:
                conn.execute(text(f"DROP TABLE IF EXISTS {names} CASCADE"))
            for sequence in conn.execute(
                text(
                    "SELECT quote_ident(relname) FROM pg_class WHERE relkind = 'S' "
                    "AND relnamespace = to_regnamespace(current_schema())::oid"
                )
            ).scalars():
                conn.execute(text(f"DROP SEQUENCE IF EXISTS {sequence}"))
    finally:
        engine.dispose()


def _pg_schema(url: URL) -> list[str]:
    """Only the schema the URL's ``search_path`` names, if it names one (else the whole database)."""
    options = str(url.query.get("options", ""))
    for part in options.split():
        for prefix in ("-csearch_path=", "--search_path="):
            if part.startswith(prefix):
                schema = part[len(prefix) :].split(",")[0].strip('"')
                return [f"--schema={schema}"]
    return []


def pg_connection(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq conninfo for the client tools, and the environment carrying the password."""

    def quote(value: Any) -> str:
        text = str(value).replace("\\", "\\\\").replace("'", "\\'")
        return f"'{text}'"

    parts = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    for key, value in url.query.items():  # sslmode, options, ...: libpq keywords in psycopg URLs
        parts[key] = value if isinstance(value, str) else value[-1]
    conninfo = " ".join(f"{k}={quote(v)}" for k, v in parts.items() if v not in (None, ""))
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _run(argv: list[str], url: URL, out: Path | None, src: Path | None = None) -> None:
    tool = argv[0]
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client)")
    conninfo, env = pg_connection(url)
    command = [*argv, f"--dbname={conninfo}"]
    if out is not None:
        command.append(f"--file={out}")
    if src is not None:
        command.append(str(src))
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{tool} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
