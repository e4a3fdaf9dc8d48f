"""Scheduled check-in calls are routine calls: the policy's quiet hours hold them and the daily
call limit (the household's local calendar day) skips them; they count towards that limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseEventType
from core.models import CallAttempt, CheckinSchedule, Household
from core.settings import Settings
from notifier import checkins
from notifier.checkins import ScheduleError
from tests.factories import (
    case_events,
    load_all,
    make_call_attempt,
    make_household,
    make_open_case,
    make_team,
    set_policy,
)
from tests.ticks import checkins_at, run_notifier_ticks

TEN_SEOUL = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 10:00 in Seoul
NOON_SEOUL = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
THURSDAY_TEN_SEOUL = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
NIGHT = {"start": "21:00", "end": "08:00"}
CALL_FIRST: dict[str, object] = {"steps": [{"action": "call_resident", "wait_minutes": 30}]}


def _household(engine: Engine, policy: dict[str, object] | None, *, at: str = "10:00") -> int:
    with session_scope(engine) as s:
        hh = make_household(s, team=make_team(s, policy=policy), contacts=0)
        assert hh.id is not None
        checkins.set_schedule(s, hh.id, weekdays=[1, 4], local_time=at, now=TEN_SEOUL - timedelta(hours=1))
        return hh.id


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, public_base_url="https://care.example.org")


def _set_policy(engine: Engine, household_id: int, policy: dict[str, object]) -> None:
    with session_scope(engine) as s:
        set_policy(s, household_id, policy)


def _next_due(engine: Engine, household_id: int) -> datetime | None:
    with Session(engine) as s:
        schedule = s.get(CheckinSchedule, household_id)
        assert schedule is not None
        return schedule.next_due_at


@pytest.mark.parametrize("at", ["21:00", "23:30", "00:00", "07:59"])
def test_a_schedule_inside_the_quiet_hours_is_refused(engine: Engine, at: str) -> None:
    household_id = _household(engine, {**CALL_FIRST, "quiet_hours": NIGHT})
    with session_scope(engine) as s, pytest.raises(ScheduleError, match="quiet hours"):
        checkins.set_schedule(s, household_id, weekdays=[1], local_time=at, now=TEN_SEOUL)


def test_a_schedule_just_outside_the_quiet_hours_is_accepted(engine: Engine) -> None:
    household_id = _household(engine, {**CALL_FIRST, "quiet_hours": NIGHT}, at="08:00")
    with session_scope(engine) as s:
        checkins.set_schedule(s, household_id, weekdays=[1], local_time="20:59", now=TEN_SEOUL)


@pytest.mark.parametrize("mode", ["skip", "defer"])
def test_a_check_in_due_in_quiet_hours_set_later_is_held_until_they_end(engine: Engine, mode: str) -> None:
    household_id = _household(engine, CALL_FIRST)
    # The organisation adds quiet hours over the schedule's time after the schedule was set.
    _set_policy(
        engine, household_id, {**CALL_FIRST, "quiet_hours": {"start": "09:00", "end": "12:00", "mode": mode}}
    )
    assert checkins_at(engine, TEN_SEOUL) == 0
    assert load_all(engine, CallAttempt) == []
    assert _next_due(engine, household_id) == NOON_SEOUL  # held, not lost
    assert checkins_at(engine, NOON_SEOUL - timedelta(seconds=1)) == 0
    assert checkins_at(engine, NOON_SEOUL) == 1
    assert [c.case_id for c in load_all(engine, CallAttempt)] == [None]
    assert _next_due(engine, household_id) == THURSDAY_TEN_SEOUL  # the weekly rhythm goes on


@pytest.mark.parametrize(
    ("earlier_call", "placed"),
    [
        # 07:00 Seoul the same day: the day's one call is used, the check-in waits for Thursday.
        (datetime(2026, 3, 1, 22, 0, tzinfo=UTC), 0),
        # 23:00 Seoul the day before (within 24 h, but another local day): the check-in goes.
        (datetime(2026, 3, 1, 14, 0, tzinfo=UTC), 1),
    ],
)
def test_the_daily_call_limit_skips_a_check_in_to_the_next_slot(
    engine: Engine, earlier_call: datetime, placed: int
) -> None:
    household_id = _household(engine, {**CALL_FIRST, "limits": {"calls_per_household_per_day": 1}})
    with session_scope(engine) as s:
        hh = s.get(Household, household_id)
        assert hh is not None
        make_call_attempt(s, hh, now=earlier_call)
    assert checkins_at(engine, TEN_SEOUL) == placed
    assert len(load_all(engine, CallAttempt)) == 1 + placed
    assert _next_due(engine, household_id) == THURSDAY_TEN_SEOUL


def test_a_check_in_call_counts_towards_the_daily_limit(engine: Engine, settings: Settings) -> None:
    household_id = _household(engine, {**CALL_FIRST, "limits": {"calls_per_household_per_day": 1}})
    assert checkins_at(engine, TEN_SEOUL) == 1
    clock = ManualClock(NOON_SEOUL)  # later the same day an inactivity case wants to call
    with session_scope(engine) as s:
        hh = s.get(Household, household_id)
        assert hh is not None
        case = make_open_case(s, hh, now=clock.now())
    run_notifier_ticks(engine, clock, settings)
    assert len(load_all(engine, CallAttempt)) == 1
    limited = case_events(engine, case.id, CaseEventType.LIMIT_REACHED)
    assert len(limited) == 1
