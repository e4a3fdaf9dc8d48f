"""``INSERT … ON CONFLICT DO NOTHING`` of many plain tuples straight through the DB-API ``executemany``.

For the two tables that get a row per message (readings, activity edges), SQLAlchemy's per-row
parameter processing (a dict per row, a bind processor per datetime) cost more than the database
did (profile in docs/benchmarks.md). Here values are converted the way ``core.types.UTCDateTime``
would store them, in one pass, and handed to the driver as tuples. Only SQLite and PostgreSQL are
supported, as everywhere in ingest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table


def table_of(model: type[Any]) -> Table:
    """A SQLModel table class's Core ``Table`` (typed: SQLModel declares ``__table__`` loosely)."""
    return cast(Table, model.__table__)


def insert_ignore_sql(table: Table, columns: Sequence[str], conflict: Sequence[str], dialect: str) -> str:
    """The statement text for *dialect* (``sqlite`` or ``postgresql``); column names come from the table."""
    for name in (*columns, *conflict):
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    marker = _marker(dialect)
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    )


def _marker(dialect: str) -> str:
    if dialect == "sqlite":
        return "?"
    if dialect == "postgresql":
        return "%s"
    raise NotImplementedError(f"bulk statements support sqlite and postgresql, not {dialect}")


def update_sql(table: Table, columns: Sequence[str], key: str, dialect: str) -> str:
    """``UPDATE <table> SET c1 = ?, ... WHERE <key> = ?``: parameters are the new values, then the key."""
    for name in (*columns, key):
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    marker = _marker(dialect)
    assignments = ", ".join(f"{name} = {marker}" for name in columns)
    return f"UPDATE {table.name} SET {assignments} WHERE {key} = {marker}"


def upsert_sql(table: Table, columns: Sequence[str], conflict: Sequence[str], dialect: str) -> str:
    """``INSERT … ON CONFLICT (<conflict>) DO UPDATE`` setting every other column to the new row's value."""
    for name in (*columns, *conflict):
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    marker = _marker(dialect)
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name not in conflict)
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}"
    )


def select_in_sql(table: Table, columns: Sequence[str], key: str, count: int, dialect: str) -> str:
    """``SELECT <columns> FROM <table> WHERE <key> IN (?, ... count times)``."""
    for name in (*columns, key):
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    if count < 1:
        raise ValueError("an IN list needs at least one value")
    marker = _marker(dialect)
    return f"SELECT {', '.join(columns)} FROM {table.name} WHERE {key} IN ({', '.join([marker] * count)})"


def fetch_all(connection: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Raw DB-API rows (no SQLAlchemy result processing: convert with the helpers below)."""
    return [tuple(row) for row in connection.exec_driver_sql(sql, tuple(params)).fetchall()]


def from_db_datetime(value: Any) -> datetime | None:
    """What ``UTCDateTime`` returns for a raw column value: aware UTC (SQLite hands back its text form)."""
    if value is None:
        return None
    parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def from_db_bool(value: Any) -> bool | None:
    """SQLite stores booleans as 0/1."""
    return None if value is None else bool(value)


def db_datetime_or_none(value: datetime | None, dialect: str) -> Any:
    return None if value is None else db_datetime(value, dialect)


def db_datetime(value: datetime, dialect: str) -> Any:
    """What ``UTCDateTime`` + the dialect's DateTime would bind: aware UTC; on SQLite the naive text form.

    SQLAlchemy's SQLite DATETIME stores ``YYYY-MM-DD HH:MM:SS.ffffff``: ``isoformat(" ", "microseconds")``
    of the naive UTC value is exactly that (tested against SQLAlchemy in test_bulk_insert).
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: store aware UTC timestamps only")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if dialect == "sqlite":
        return value.isoformat(" ", "microseconds")[:-6]  # without the "+00:00" of an aware UTC value
    return value


def insert_ignore(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    conflict: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> int:
    """``INSERT … ON CONFLICT DO NOTHING`` of *rows* (executemany); the number inserted, -1 if unknown.

    (A single ``INSERT … SELECT FROM unnest(arrays)`` on PostgreSQL was tried: no faster than
    psycopg's pipelined executemany; the server's per-row work, foreign key check included, dominates.)
    """
    if not rows:
        return 0
    return execute_many(
        connection, insert_ignore_sql(table, columns, conflict, connection.dialect.name), rows
    )


def execute_many(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> int:
    """Run *sql* for every row; the number of rows the database reports changed (-1 if it cannot tell)."""
    if not rows:
        return 0
    result = connection.exec_driver_sql(sql, rows)
    return int(result.rowcount)
