"""Hourly summaries of readings (issue 15.3): the routine fitted from them is the one fitted from raw
rows, late readings are summarised again, and the routine and the household page stay right once
raw retention has removed the old readings (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, delete, insert, update
from sqlmodel import Session, col, select

from anomaly import patterns, reading_hours, rollup, training
from anomaly.detector import DetectorParams
from anomaly.patterns import PatternParams
from anomaly.training import last_local_midnight
from api.activity_day import activity_day
from api.household_queries import activity_heatmap, household_detail
from core.clock import ManualClock
from core.db import session_scope
from core.enums import EdgeKind
from core.models import (
    ActivityEdge,
    Device,
    Household,
    Reading,
    ReadingHour,
    ReadingRollup,
    RoutineModel,
    RoutineRefit,
)
from core.settings import Settings
from tests.factories import make_device, make_household, make_watch

# Raw readings kept 45 days here (the default is 14), so the 33-day history's late backlog below is
# still summarised; the default's limit has its own test.
SETTINGS = Settings(inactivity_default_hours=12, retention_readings_days=45)
PARAMS = DetectorParams()
GAP = PARAMS.coverage_gap_s
DAYS = 33
# Seoul's midnight is a whole UTC hour; Kolkata's is half past one.
ZONES = ["Asia/Seoul", "Asia/Kolkata"]
NOW = datetime(2026, 3, 30, 17, 40, tzinfo=UTC)


def _local(day0: date, zone: str, day: int, hour: float) -> datetime:
    start = datetime.combine(day0 + timedelta(days=day), datetime.min.time(), ZoneInfo(zone))
    return (start + timedelta(hours=hour)).astimezone(UTC)


def _seed(engine: Engine, zone: str, now: datetime, seed: int = 7) -> int:
    """A household of three plugs over :data:`DAYS` days up to ``now``: each reporting about every
    140 s with jitter and sub-second times, dropping readings now and then, each plug off the
    network for a few hours some days, all of them for a day and a half (day 12-13), and one
    plug alone for half a day; a kettle at meals, the TV in the evening, a quiet Sunday."""
    rng = random.Random(seed)
    day0 = (now - timedelta(days=DAYS)).astimezone(ZoneInfo(zone)).date()
    with session_scope(engine) as s:
        household = make_household(s, tz=zone)
        devices = [make_device(s, household=household, appliance=a) for a in ("kettle", "tv", "aggregate")]
        assert household.id is not None
        hid = household.id
        begin = _local(day0, zone, 0, 9.3)  # the first reading mid-morning
        all_out = (_local(day0, zone, 12, 6), _local(day0, zone, 13, 18))
        readings: list[dict[str, Any]] = []
        for k, device in enumerate(devices):
            outages = [all_out]
            for day in range(DAYS):
                if rng.random() < 0.3:
                    at = _local(day0, zone, day, rng.uniform(0, 24))
                    outages.append((at, at + timedelta(hours=rng.uniform(0.5, 4))))
            if k == 1:
                outages.append((_local(day0, zone, 20, 8), _local(day0, zone, 20, 20)))
            t = begin + timedelta(seconds=rng.uniform(0, 90))
            while t < now - timedelta(minutes=1):
                if rng.random() > 0.03 and not any(a <= t < b for a, b in outages):
                    readings.append(
                        {
                            "device_id": device.id,
                            "channel": "0",
                            "ts": t,
                            "received_at": t + timedelta(seconds=1),
                            "power_w": 1800.0 if k == 0 and rng.random() < 0.01 else rng.uniform(0, 200),
                        }
                    )
                t += timedelta(seconds=rng.uniform(110, 170) + rng.random() / 7)
        s.execute(insert(Reading), readings)
        edges = []
        for day in range(DAYS):
            local_day = day0 + timedelta(days=day)
            meals = (7.2, 12.5, 19.0) if local_day.weekday() != 6 else (9.5,)
            for hour in meals:
                on = _local(day0, zone, day, hour + rng.uniform(-0.7, 0.7))
                edges += [
                    (devices[0], on, EdgeKind.ON),
                    (devices[0], on + timedelta(minutes=3), EdgeKind.OFF),
                ]
            on = _local(day0, zone, day, 20 + rng.uniform(-1, 1))
            edges += [(devices[1], on, EdgeKind.ON), (devices[1], on + timedelta(hours=2.5), EdgeKind.OFF)]
        s.add_all(
            ActivityEdge(
                household_id=hid,
                device_id=d.id or 0,  # flushed: never 0
                ts=ts,
                kind=kind,
                power_w=1800 if d is devices[0] else 90,
            )
            for d, ts, kind in edges
            if ts < now and not (all_out[0] <= ts < all_out[1])
        )
        last = max(ts for _d, ts, kind in edges if kind == EdgeKind.ON and ts < now)
        make_watch(s, household, last_activity_at=last, alert_after=last + timedelta(hours=12))
    return hid


def _devices(session: Session, hid: int) -> list[int | None]:
    return list(session.exec(select(Device.id).where(Device.household_id == hid)).all())


def _fit(engine: Engine, hid: int, now: datetime, *, raw: bool = False) -> dict[str, Any] | None:
    """The routine a refit at ``now`` stores (nothing kept); ``raw``: as if nothing were rolled up."""
    with Session(engine) as s:
        try:
            s.execute(delete(RoutineModel).where(col(RoutineModel.household_id) == hid))
            if raw:
                s.execute(delete(ReadingRollup).where(col(ReadingRollup.household_id) == hid))
            training.retrain_household(s, hid, now, SETTINGS, PARAMS)
            s.flush()
            row = s.get(RoutineModel, hid)
            return None if row is None else dict(row.model)
        finally:
            s.rollback()


def _window(zone: str, now: datetime) -> tuple[datetime, datetime]:
    end = last_local_midnight(now, zone)
    return end - timedelta(days=PARAMS.fit.window_days), end


def _coverages(engine: Engine, hid: int, zone: str, now: datetime) -> tuple[dict[int, int], dict[int, int]]:
    start, end = _window(zone, now)
    with Session(engine) as s:
        devices = _devices(s, hid)
        raw = reading_hours.raw_coverage(s, devices, start - timedelta(seconds=GAP), end, GAP)
        summary = reading_hours.household_coverage(
            s, hid, devices, start, end, GAP, rollup=reading_hours.rollup_of(s, hid)
        )
    first = int(start.timestamp())
    return {h: v for h, v in raw.items() if h >= first}, {h: v for h, v in summary.items() if h >= first}


def _days(engine: Engine, hid: int, now: datetime) -> list[patterns.DayFeatures]:
    with Session(engine) as s:
        household = s.get_one(Household, hid)
        start = now - timedelta(days=44)
        head = start.astimezone(ZoneInfo(household.timezone)).date()
        days = patterns.load_days(s, household, start, now, PatternParams())
    return [d for d in days if d.day > head]  # the window's first, partial hour: never judged


def _roll(engine: Engine, clock: ManualClock) -> None:
    assert rollup.tick(engine, clock, SETTINGS, budget_s=600) >= 1


def _rolled_up(engine: Engine, clock: ManualClock, zone: str) -> int:
    """The household seeded up to :data:`NOW`, its readings rolled up."""
    clock.set(NOW)
    hid = _seed(engine, zone, NOW)
    _roll(engine, clock)
    return hid


@pytest.mark.slow
@pytest.mark.parametrize("zone", ZONES)
def test_the_routine_from_hourly_summaries_is_the_routine_from_raw_readings(
    engine: Engine, clock: ManualClock, zone: str
) -> None:
    now = NOW
    clock.set(now)
    hid = _seed(engine, zone, now)
    from_raw = _fit(engine, hid, now, raw=True)
    days_from_raw = _days(engine, hid, now)
    assert from_raw is not None and from_raw["days_used"] >= 20

    _roll(engine, clock)
    with Session(engine) as s:
        state = s.get_one(ReadingRollup, hid)
        assert state.rolled_until == reading_hours.floor_hour(now - rollup.SETTLE - timedelta(seconds=GAP))
        assert state.rolled_until is not None and state.rolled_until > last_local_midnight(now, zone)
        assert s.exec(select(ReadingHour).where(ReadingHour.household_id == hid)).first() is not None
    raw, summary = _coverages(engine, hid, zone, now)
    assert summary == raw
    assert _fit(engine, hid, now) == from_raw
    assert _days(engine, hid, now) == days_from_raw
    # Rolling up again changes nothing.
    assert rollup.tick(engine, clock, SETTINGS, budget_s=600) == 0
    assert _fit(engine, hid, now) == from_raw


@pytest.mark.slow
def test_readings_that_arrive_late_are_summarised_again(engine: Engine, clock: ManualClock) -> None:
    """A broker's backlog after a gateway outage: readings for hours already rolled up."""
    zone, now = ZONES[0], NOW
    hid = _rolled_up(engine, clock, zone)
    day0 = (now - timedelta(days=DAYS)).astimezone(ZoneInfo(zone)).date()
    late_from, late_to = _local(day0, zone, 13, 10), _local(day0, zone, 13, 17)  # inside the long outage
    with session_scope(engine) as s:
        device = _devices(s, hid)[0]
        s.execute(
            insert(Reading),
            [
                {
                    "device_id": device,
                    "channel": "0",
                    "ts": late_from + timedelta(seconds=60 * i + 0.5),
                    "received_at": now,
                    "power_w": 5.0,
                }
                for i in range(int((late_to - late_from).total_seconds() // 60))
            ],
        )
    later = now + rollup.SETTLE + timedelta(minutes=1)
    clock.set(later)
    raw, summary = _coverages(engine, hid, zone, later)
    assert summary != raw  # the summary has not seen them yet
    rollup.tick(engine, clock, SETTINGS, budget_s=600)
    raw, summary = _coverages(engine, hid, zone, later)
    assert summary == raw
    assert raw[int(late_from.timestamp()) + 3600] == 3600
    assert _fit(engine, hid, later) == _fit(engine, hid, later, raw=True)


@pytest.mark.slow
def test_a_backlog_older_than_the_raw_window_is_not_summarised_again(
    engine: Engine, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Hours older than the raw readings' window may have lost their other readings: rolling them
    up again would lower what the summary says, so a reading that late leaves them as they are."""
    zone, now = ZONES[0], NOW
    hid = _rolled_up(engine, clock, zone)
    before = _coverages(engine, hid, zone, now)[1]
    day0 = (now - timedelta(days=DAYS)).astimezone(ZoneInfo(zone)).date()
    late = _local(day0, zone, 13, 10)  # 33 days old: past the default 14-day window
    with session_scope(engine) as s:
        device = _devices(s, hid)[0]
        s.execute(
            insert(Reading),
            [{"device_id": device, "channel": "0", "ts": late, "received_at": now, "power_w": 5.0}],
        )
    clock.set(now + rollup.SETTLE + timedelta(minutes=1))
    default = Settings(inactivity_default_hours=12)
    assert default.retention_readings_days == 14
    rollup.tick(engine, clock, default, budget_s=600)
    assert _coverages(engine, hid, zone, now)[1] == before
    assert "came too late to be summarised" in caplog.text


@pytest.mark.slow
def test_routine_and_household_page_stay_right_once_retention_removed_the_raw_readings(
    engine: Engine, clock: ManualClock
) -> None:
    zone, now = ZONES[0], NOW
    hid = _rolled_up(engine, clock, zone)
    assert training.tick(engine, clock, SETTINGS) == 1
    yesterday = (now - timedelta(days=1)).astimezone(ZoneInfo(zone)).date()

    def page() -> tuple[Any, ...]:
        with Session(engine) as s:
            household = s.get_one(Household, hid)
            return (
                household_detail(s, household, now=now, settings=SETTINGS).model_dump(),
                activity_heatmap(s, household, days=7, now=now).model_dump(),
                activity_heatmap(s, household, days=30, now=now).model_dump(),
                activity_day(s, household, day=yesterday, now=now).model_dump(),
            )

    before = page()
    routine = _fit(engine, hid, now)
    days = _days(engine, hid, now)
    assert routine is not None and before[0]["routine"]["learned"]

    # Raw retention of 9 days (the "looks away" suggestion reads the last 8.5 days of the meter).
    with session_scope(engine) as s:
        s.execute(delete(Reading).where(col(Reading.ts) < now - timedelta(days=9)))
    assert _fit(engine, hid, now, raw=True) != routine  # from raw rows alone it is not the same
    assert _fit(engine, hid, now) == routine
    assert _days(engine, hid, now) == days
    with session_scope(engine) as s:
        s.execute(delete(RoutineRefit).where(col(RoutineRefit.household_id) == hid))
        s.execute(delete(RoutineModel).where(col(RoutineModel.household_id) == hid))
    assert training.tick(engine, clock, SETTINGS) == 1
    assert page() == before


@pytest.mark.slow
def test_a_roll_up_overtaken_by_a_late_reading_is_rolled_back(
    postgres_engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A late reading committed (and its household moved back) while a roll-up is under way: the
    roll-up, which read the raw rows before it, must not mark those hours done (PostgreSQL: on
    SQLite the roll-up holds the write lock, so nothing commits meanwhile)."""
    engine, zone = postgres_engine, ZONES[0]
    hid = _rolled_up(engine, clock, zone)
    with Session(engine) as s:
        device = _devices(s, hid)[0]
        rolled = s.get_one(ReadingRollup, hid).rolled_until
    assert rolled is not None
    later = NOW + timedelta(hours=2)
    clock.set(later)
    hole = rolled - timedelta(hours=30)  # an hour rolled up and in the refit's window
    real = reading_hours.reading_times

    def late_reading_meanwhile(*args: Any) -> list[int]:
        times = real(*args)
        monkeypatch.setattr(rollup, "reading_times", real)
        with session_scope(engine) as other:  # committed while the roll-up's transaction is open
            other.execute(
                insert(Reading),
                [
                    {
                        "device_id": device,
                        "channel": "0",
                        "ts": hole + timedelta(minutes=30, seconds=10 * i),
                        "received_at": later,
                        "power_w": 5.0,
                    }
                    for i in range(6)
                ],
            )
            other.execute(
                update(ReadingRollup).where(col(ReadingRollup.household_id) == hid).values(rolled_until=hole)
            )
        return times

    monkeypatch.setattr(rollup, "reading_times", late_reading_meanwhile)
    rollup.tick(engine, clock, SETTINGS, budget_s=600)
    with Session(engine) as s:
        state = s.get_one(ReadingRollup, hid)
        assert state.rolled_until == hole  # not the roll-up's: it was rolled back
        assert state.claimed_until is None
    rollup.tick(engine, clock, SETTINGS, budget_s=600)
    raw, summary = _coverages(engine, hid, zone, later)
    assert summary == raw
