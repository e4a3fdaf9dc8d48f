"""The bulk insert binds datetimes exactly as SQLAlchemy would (same stored text, same unique keys)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from core.bulk import db_datetime, insert_ignore_sql
from core.models import Reading
from core.types import UTCDateTime

SAMPLES = [
    datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    datetime(2026, 3, 2, 9, 30, 1, 5, tzinfo=UTC),
    datetime(2026, 3, 2, 18, 30, 59, 999_999, tzinfo=timezone(timedelta(hours=9))),
    datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
]


@pytest.mark.parametrize("value", SAMPLES)
def test_sqlite_text_matches_sqlalchemys(value: datetime) -> None:
    dialect = sqlite.dialect()
    expected = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)(value)  # type: ignore[misc]
    assert db_datetime(value, "sqlite") == expected


@pytest.mark.parametrize("value", SAMPLES)
def test_postgresql_gets_the_same_instant_in_utc(value: datetime) -> None:
    bound = db_datetime(value, "postgresql")
    assert bound == value and bound.tzinfo == UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        db_datetime(datetime(2026, 3, 2, 9, 30), "sqlite")


def test_statement_names_real_columns_and_works_on_sqlite() -> None:
    table = Reading.__table__  # type: ignore[attr-defined]
    sql = insert_ignore_sql(table, ["device_id", "channel", "ts"], ["device_id", "channel", "ts"], "sqlite")
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE reading (device_id INT, channel TEXT, ts TEXT, UNIQUE (device_id, channel, ts))")
    cur = db.executemany(sql, [(1, "0", "a"), (1, "0", "a"), (2, "0", "a")])
    assert cur.rowcount == 2  # the duplicate is skipped and not counted: ingest relies on this count
    with pytest.raises(ValueError, match="no column"):
        insert_ignore_sql(table, ["device_id", "nope"], ["device_id"], "sqlite")
    with pytest.raises(NotImplementedError):
        insert_ignore_sql(table, ["device_id"], ["device_id"], "mysql")
    assert "%s" in insert_ignore_sql(table, ["device_id"], ["device_id"], postgresql.dialect.name)
