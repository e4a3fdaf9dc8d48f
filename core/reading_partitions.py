"""Raw readings on PostgreSQL: one partition per UTC day of ``ts``, made ahead, dropped whole.

Readings are most of what Anbu stores (issue 15.3: 146–152 bytes a reading, ~0.5 TB a year for a
2,000-household district), and deleting old ones row by row costs as much as writing them. On
PostgreSQL ``reading`` is therefore partitioned by range of ``ts`` (migration 0020):

- **Daily partitions** ``reading_dYYYYMMDD``, made ``AHEAD_DAYS`` ahead by the worker's retention
  tick (and by the migration), so an insert never waits for DDL.
- **A default partition** ``reading_default`` catches any reading outside the partitions made
  (a plug clock far ahead, a worker that did not run for weeks): nothing is ever refused. When
  the day's partition is made later, its rows move out of the default partition in the same
  transaction (PostgreSQL refuses to attach a range the default partition still holds rows of).
- **Retention drops** every daily partition that ends before the cutoff: one catalogue change,
  however many rows (notifier/retention.py then deletes what is left, in batches, by arrival).

Why ``ts`` and not the arrival time: a partitioned table's unique keys must contain the partition
key, and ``(device_id, channel, ts)`` is what makes a redelivered reading count once.
The primary key is ``(id, ts)`` here for the same reason (the models keep ``id``; SQLite has no
partitions, and its rowid must stay the key). Pure SQL through the session's connection; no-ops
on SQLite.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, text

TABLE = "reading"
DEFAULT_PARTITION = "reading_default"
AHEAD_DAYS = 14
_NAME = re.compile(r"^reading_d(\d{8})$")


def partition_name(day: date) -> str:
    return f"reading_d{day:%Y%m%d}"


def is_partition(name: str | None) -> bool:
    """A partition of ``reading`` (not in the models: autogenerate must leave it alone)."""
    return name is not None and (name == DEFAULT_PARTITION or _NAME.match(name) is not None)


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's filter: reading's partitions are made at run time, not declared by the models."""
    return not (type_ == "table" and is_partition(name))


def _day_of(name: str) -> date | None:
    match = _NAME.match(name)
    return None if match is None else datetime.strptime(match.group(1), "%Y%m%d").date()


def _bounds(day: date) -> tuple[str, str]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start.isoformat(), (start + timedelta(days=1)).isoformat()


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                "WHERE c.relname = :t AND c.relnamespace = to_regnamespace(current_schema())::oid)"
            ),
            {"t": TABLE},
        ).scalar()
    )


def existing_days(conn: Connection) -> list[date]:
    """The days that have a partition, oldest first."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = :t AND p.relnamespace = to_regnamespace(current_schema())::oid"
        ),
        {"t": TABLE},
    ).scalars()
    return sorted(d for d in (_day_of(n) for n in names) if d is not None)


def ensure_partitions(conn: Connection, today: date, *, ahead_days: int = AHEAD_DAYS) -> list[date]:
    """Make the partitions from yesterday to ``today + ahead_days`` that are missing; the days made.

    A day whose rows already sit in the default partition gets them moved in the same transaction.
    Call inside a transaction (the caller commits).
    """
    if not is_partitioned(conn):
        return []
    have = set(existing_days(conn))
    made = []
    for offset in range(-1, ahead_days + 1):
        day = today + timedelta(days=offset)
        if day not in have:
            make_partition(conn, day)
            made.append(day)
    return made


def make_partition(conn: Connection, day: date) -> None:
    """Create one day's partition, moving its rows out of the default partition first."""
    name = partition_name(day)
    start, end = _bounds(day)
    conn.execute(text(f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'))
    conn.execute(
        text(
            f'WITH gone AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE ts >= :start AND ts < :end RETURNING *) '
            f'INSERT INTO "{name}" SELECT * FROM gone'
        ),
        {"start": start, "end": end},
    )
    conn.execute(
        text(f"ALTER TABLE \"{TABLE}\" ATTACH PARTITION \"{name}\" FOR VALUES FROM ('{start}') TO ('{end}')")
    )


def drop_partitions_before(conn: Connection, cutoff: datetime) -> tuple[int, int]:
    """Drop every daily partition that ends at or before *cutoff*: (partitions, rows) dropped.

    The row count is PostgreSQL's estimate (``reltuples``, kept by autovacuum): exact counting
    would read what we are about to throw away.
    """
    if not is_partitioned(conn):
        return 0, 0
    dropped = rows = 0
    for day in existing_days(conn):
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        if end > cutoff:
            break
        name = partition_name(day)
        estimate = conn.execute(
            text("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(:n)"),
            {"n": name},
        ).scalar()
        conn.execute(text(f'DROP TABLE "{name}"'))  # a partition dropped leaves its parent
        dropped += 1
        rows += int(estimate or 0)
    return dropped, rows


def maintain(engine: Engine, now: datetime, *, ahead_days: int = AHEAD_DAYS) -> list[date]:
    """Make the missing partitions up to *ahead_days* after *now*'s UTC day (one transaction)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.begin() as conn:
        return ensure_partitions(conn, now.astimezone(UTC).date(), ahead_days=ahead_days)


def drop_old(engine: Engine, cutoff: datetime) -> tuple[int, int]:
    """Drop the partitions that end at or before *cutoff* (one transaction): (partitions, rows)."""
    if engine.dialect.name != "postgresql":
        return 0, 0
    with engine.begin() as conn:
        return drop_partitions_before(conn, cutoff)
