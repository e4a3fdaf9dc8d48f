"""Every scheduled check-in that is skipped or held leaves its reason on the schedule (``last_skip_*``)
for the household page: when, which slot, why, and for a hold until when. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from core.db import session_scope
from core.enums import CheckinSkip, MonitoringState
from core.models import CheckinSchedule, Household
from notifier import checkins
from tests.factories import load, make_call_attempt, make_household, make_open_case, make_team, set_policy
from tests.ticks import checkins_at

TEN_SEOUL = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 10:00 in Seoul, the schedule's slot
NOON_SEOUL = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
CALL_FIRST: dict[str, object] = {"steps": [{"action": "call_resident", "wait_minutes": 30}]}


def _household(engine: Engine, policy: dict[str, object]) -> int:
    with session_scope(engine) as s:
        hh = make_household(s, team=make_team(s, policy=policy), contacts=0)
        assert hh.id is not None
        checkins.set_schedule(
            s, hh.id, weekdays=[1, 4], local_time="10:00", now=TEN_SEOUL - timedelta(hours=1)
        )
        return hh.id


def _paused(engine: Engine, household_id: int) -> None:
    with session_scope(engine) as s:
        hh = s.get(Household, household_id)
        assert hh is not None
        hh.monitoring = MonitoringState.PAUSED
        s.add(hh)


def _active_case(engine: Engine, household_id: int) -> None:
    with session_scope(engine) as s:
        hh = s.get(Household, household_id)
        assert hh is not None
        make_open_case(s, hh, now=TEN_SEOUL - timedelta(minutes=30))


def _limit_used(engine: Engine, household_id: int) -> None:
    with session_scope(engine) as s:
        hh = s.get(Household, household_id)
        assert hh is not None
        make_call_attempt(s, hh, now=TEN_SEOUL - timedelta(hours=2))  # 08:00 Seoul, the same local day


LIMIT_ONE = {**CALL_FIRST, "limits": {"calls_per_household_per_day": 1}}


@pytest.mark.parametrize(
    ("reason", "policy", "prepare", "now"),
    [
        (CheckinSkip.PAUSED, CALL_FIRST, _paused, TEN_SEOUL),
        (CheckinSkip.ACTIVE_CASE, CALL_FIRST, _active_case, TEN_SEOUL),
        (CheckinSkip.CALL_LIMIT, LIMIT_ONE, _limit_used, TEN_SEOUL),
        (CheckinSkip.TOO_LATE, CALL_FIRST, None, TEN_SEOUL + timedelta(hours=3)),
    ],
)
def test_each_skip_reason_is_recorded_with_its_slot(
    engine: Engine, reason: CheckinSkip, policy: dict[str, object], prepare: object, now: datetime
) -> None:
    household_id = _household(engine, policy)
    assert load(engine, CheckinSchedule, household_id).last_skip_reason is None
    if callable(prepare):
        prepare(engine, household_id)
    assert checkins_at(engine, now) == 0
    schedule = load(engine, CheckinSchedule, household_id)
    assert (schedule.last_skip_reason, schedule.last_skip_slot, schedule.last_skip_at) == (
        reason,
        TEN_SEOUL,
        now,
    )
    assert schedule.last_skip_until is None  # skipped, not held: the next call is the next slot
    assert schedule.next_due_at == datetime(2026, 3, 5, 1, 0, tzinfo=UTC)


def test_a_hold_in_quiet_hours_is_recorded_with_when_it_will_be_placed(engine: Engine) -> None:
    household_id = _household(engine, CALL_FIRST)
    # The organisation adds quiet hours over the schedule's time after the schedule was set.
    with session_scope(engine) as s:
        set_policy(s, household_id, {**CALL_FIRST, "quiet_hours": {"start": "09:00", "end": "12:00"}})
    assert checkins_at(engine, TEN_SEOUL) == 0
    schedule = load(engine, CheckinSchedule, household_id)
    assert (schedule.last_skip_reason, schedule.last_skip_slot, schedule.last_skip_until) == (
        CheckinSkip.QUIET_HOURS,
        TEN_SEOUL,
        NOON_SEOUL,
    )
    assert schedule.next_due_at == NOON_SEOUL  # the hold's record did not disturb the claim


def test_a_placed_check_in_records_no_skip(engine: Engine) -> None:
    household_id = _household(engine, CALL_FIRST)
    assert checkins_at(engine, TEN_SEOUL) == 1
    assert load(engine, CheckinSchedule, household_id).last_skip_reason is None
