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
from typing import Any

from sqlalchemy import Connection, Table


def insert_ignore_sql(table: Table, columns: Sequence[str], conflict: Sequence[str], dialect: str) -> str:
    """The statement text for *dialect* (``sqlite`` or ``postgresql``); column names come from the table."""
    for name in (*columns, *conflict):
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    if dialect == "sqlite":
        marker = "?"
    elif dialect == "postgresql":
        marker = "%s"
    else:
        raise NotImplementedError(f"bulk insert supports sqlite and postgresql, not {dialect}")
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    )


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


def execute_many(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> int:
    """Run *sql* for every row; the number of rows the database reports changed (-1 if it cannot tell)."""
    if not rows:
        return 0
    result = connection.exec_driver_sql(sql, rows)
    return int(result.rowcount)
