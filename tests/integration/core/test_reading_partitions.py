"""Issue 15.3: readings partitioned by day on PostgreSQL, made ahead, dropped whole by retention.

PostgreSQL only (SQLite has no partitions and keeps deleting in batches: tests/integration/notifier).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, func, select

from anomaly import training
from core import reading_partitions
from core.clock import ManualClock
from core.db import session_scope
from core.migrate import upgrade
from core.models import Reading, RoutineModel, RoutineRefit
from core.reading_partitions import DEFAULT_PARTITION, partition_name
from core.settings import Settings
from notifier import retention
from tests.conftest import needs_postgres, private_pg_schema
from tests.factories import make_device, make_household, seed_kettle_use

pytestmark = needs_postgres


def _home_of(engine: Engine, reading_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT tableoid::regclass::text FROM reading WHERE id = :i"), {"i": reading_id}
            ).scalar()
        )


def _add(engine: Engine, device_id: int, *times: datetime) -> list[int]:
    with session_scope(engine) as s:
        rows = [Reading(device_id=device_id, ts=t, received_at=t, power_w=1.0) for t in times]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows if r.id is not None]


def _device(engine: Engine) -> int:
    with session_scope(engine) as s:
        device = make_device(s, household=make_household(s))
        assert device.id is not None
        return device.id


def test_head_has_daily_partitions_from_yesterday_to_two_weeks_ahead(postgres_engine: Engine) -> None:
    with postgres_engine.connect() as conn:
        assert reading_partitions.is_partitioned(conn)
        days = reading_partitions.existing_days(conn)
        today = conn.execute(text("SELECT (now() AT TIME ZONE 'UTC')::date")).scalar_one()
    assert days[0] <= today - timedelta(days=1)
    assert days[-1] == today + timedelta(days=reading_partitions.AHEAD_DAYS)
    assert days == [days[0] + timedelta(days=n) for n in range(len(days))]  # no holes


def test_a_reading_lands_in_its_days_partition_and_a_far_one_in_the_default(postgres_engine: Engine) -> None:
    device = _device(postgres_engine)
    now = datetime.now(UTC)
    far = now + timedelta(days=60)
    near_id, far_id = _add(postgres_engine, device, now, far)
    assert _home_of(postgres_engine, near_id) == partition_name(now.date())
    assert _home_of(postgres_engine, far_id) == DEFAULT_PARTITION
    # Its day's partition made later takes it over; nothing lost, the key still unique.
    with postgres_engine.begin() as conn:
        made = reading_partitions.ensure_partitions(conn, far.date(), ahead_days=0)
    assert far.date() in made
    assert _home_of(postgres_engine, far_id) == partition_name(far.date())
    with Session(postgres_engine) as s:
        assert s.exec(select(func.count()).select_from(Reading)).one() == 2


def test_the_same_reading_twice_is_still_one_row(postgres_engine: Engine) -> None:
    from core.bulk import insert_ignore, table_of  # the ingest's own ON CONFLICT path

    device = _device(postgres_engine)
    now = datetime.now(UTC)
    columns = ("device_id", "channel", "ts", "received_at", "clock_suspect")
    row = (device, "0", now, now, False)
    with postgres_engine.begin() as conn:
        first = insert_ignore(conn, table_of(Reading), columns, ("device_id", "channel", "ts"), [row])
        again = insert_ignore(conn, table_of(Reading), columns, ("device_id", "channel", "ts"), [row])
    assert (first, again) == (1, 0)


def test_retention_drops_whole_old_days_and_keeps_the_rest(postgres_engine: Engine) -> None:
    device = _device(postgres_engine)
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    old_days = [now - timedelta(days=d) for d in (100, 95)]
    with postgres_engine.begin() as conn:
        for day in old_days:
            reading_partitions.make_partition(conn, day.date())
    old = _add(postgres_engine, device, *[d + timedelta(minutes=m) for d in old_days for m in range(3)])
    edge = now - timedelta(days=90, hours=-1)  # 89 days 23 h ago: its day straddles the cutoff
    kept = _add(postgres_engine, device, edge, now - timedelta(days=10), now)
    assert {_home_of(postgres_engine, i) for i in old} == {partition_name(d.date()) for d in old_days}

    deleted = retention.prune_readings(postgres_engine, older_than=now - timedelta(days=90))

    with postgres_engine.connect() as conn:
        days = reading_partitions.existing_days(conn)
    assert not {d.date() for d in old_days} & set(days)  # dropped whole
    with Session(postgres_engine) as s:
        left = set(s.exec(select(Reading.id)).all())
    assert left == set(kept)
    assert deleted >= 0  # an estimate from reltuples for dropped days (0 before autovacuum ran)


@pytest.fixture
def long_history() -> Iterator[tuple[Engine, int]]:
    """A household with 100 days of kettle use and readings every 5 minutes, in partitions."""
    with private_pg_schema() as (_url, engine):
        yield engine, _seed(engine)


DAY0 = datetime(2026, 8, 1, 15, 0, tzinfo=UTC)  # 2 August 00:00 in Seoul
DAYS = 100


def _seed(engine: Engine) -> int:
    with engine.begin() as conn:
        for n in range(-1, DAYS + 1):
            day: date = (DAY0 + timedelta(days=n)).date()
            if day not in reading_partitions.existing_days(conn):
                reading_partitions.make_partition(conn, day)
    with session_scope(engine) as s:
        return seed_kettle_use(s, DAY0, DAYS)[0]


def _refit(engine: Engine, household_id: int, clock: ManualClock) -> dict[str, Any]:
    with session_scope(engine) as s:  # forget the last fit, so the tick fits again as of tonight
        for row in (s.get(RoutineModel, household_id), s.get(RoutineRefit, household_id)):
            if row is not None:
                s.delete(row)
    assert training.tick(engine, clock, Settings(inactivity_default_hours=12)) == 1
    with Session(engine) as s:
        return s.get_one(RoutineModel, household_id).model


@pytest.mark.slow
def test_the_routine_is_the_same_after_retention_dropped_the_old_days(
    long_history: tuple[Engine, int],
) -> None:
    engine, household_id = long_history
    clock = ManualClock(DAY0 + timedelta(days=DAYS, hours=1))  # 01:00 Seoul after the last day
    before = _refit(engine, household_id, clock)
    with engine.connect() as conn:
        days_before = len(reading_partitions.existing_days(conn))
    retention.prune_readings(engine, older_than=clock.now() - timedelta(days=45))
    with engine.connect() as conn:
        days_after = len(reading_partitions.existing_days(conn))
    assert days_after < days_before - 50  # the old days are gone...
    with Session(engine) as s:
        oldest = s.exec(select(func.min(Reading.ts))).one()
    assert oldest is not None and oldest >= clock.now() - timedelta(days=46)
    assert _refit(engine, household_id, clock) == before  # ...and the routine did not notice


def test_the_migration_keeps_every_reading_with_its_id() -> None:
    with private_pg_schema("0019") as (url, engine):  # before the partitions
        device = _device(engine)
        now = datetime.now(UTC)
        times = [now - timedelta(days=500), now - timedelta(days=3), now, now + timedelta(days=40)]
        ids = _add(engine, device, *times)
        upgrade(url)
        with engine.connect() as conn:
            assert reading_partitions.is_partitioned(conn)
        with Session(engine) as s:
            assert sorted(s.exec(select(Reading.id, Reading.ts)).all()) == sorted(
                zip(ids, times, strict=True)
            )
        assert _home_of(engine, ids[0]) == DEFAULT_PARTITION  # older than the backfill
        assert _home_of(engine, ids[1]) == partition_name(times[1].date())
        (new_id,) = _add(engine, device, now + timedelta(seconds=1))
        assert new_id > max(ids)  # the id sequence carried over
