"""Severity-ladder rules that mutation testing found unpinned (docs/testing.md, anomaly/ladder.py).

Each test names the rule it pins; the stage times are exact, so a changed constant, comparison or
starting value moves at least one of them. The day boundaries run in a process whose own zone is
America/Los_Angeles, so nothing can lean on the machine being in UTC or in the household's zone.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from anomaly.ladder import STEP_S, LadderParams, ladder, morning_check
from anomaly.routine import HOURS_PER_WEEK, Routine
from core.enums import Severity

SEOUL = "Asia/Seoul"
# Only the mass and the usual gap decide: no morning check, no grace, no minimum.
MASS_ONLY = LadderParams(
    watch_mass=0.4,
    warning_mass=3.9,
    alert_mass=5.9,
    gap_margin=1.0,
    grace_hours=0.0,
    min_hours=0.0,
    morning_warning_h=None,
    morning_alert_h=None,
)


def day_routine(zone: str = SEOUL, *, latest_start_min: int | None = None) -> Routine:
    """Active 07–22 local with p = 0.8 an hour (0.8/6 missed per quiet 10-minute step); the usual
    quiet after activity is 3 h by day and 10 h from 21:00."""
    return Routine(
        timezone=zone,
        fitted_at=0,
        days_used=28,
        days_excluded=[],
        p_active=[0.8 if 7 <= h % 24 < 22 else 0.0 for h in range(HOURS_PER_WEEK)],
        quiet_gap_h=[10.0 if h % 24 >= 21 else 3.0 for h in range(HOURS_PER_WEEK)],
        first_activity_min=7 * 60,
        first_activity_channel="kettle",
        first_activity_latest_min=latest_start_min,
    )


def at(zone: str, month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo(zone)).timestamp())


def test_each_stage_has_its_own_amount_of_missed_activity() -> None:
    # From 10:00 each quiet hour misses 0.8 of usual activity. Watch needs 0.4 but the usual
    # 3 h gap first: 13:00. Warning needs 3.9: the 30th step, 15:00. Alert needs 5.9: step 45.
    last = at(SEOUL, 3, 2, 10)
    stages = ladder(last, day_routine(), MASS_ONLY)
    assert stages.watch - last == 3 * 3600
    assert stages.warning - last == 30 * STEP_S
    assert stages.alert - last == 45 * STEP_S
    assert stages.stage_at(stages.watch) is Severity.WATCH
    assert stages.stage_at(stages.warning - 1) is Severity.WATCH


def test_missed_activity_starts_from_nothing_at_the_last_sign_of_life() -> None:
    # The alert is driven by the mass alone (its gap rule allows it from 13:00): counted from 0
    # it comes at 17:30; a mass that started at anything more would bring it forward.
    last = at(SEOUL, 3, 2, 10)
    stages = ladder(last, day_routine(), MASS_ONLY)
    assert stages.alert > last + 3 * 3600
    steps_needed = 45  # 5.9 / (0.8 / 6) = 44.25 -> the 45th step
    assert stages.alert == last + steps_needed * STEP_S


def test_a_quiet_night_adds_no_missed_activity() -> None:
    # From 22:00 the routine expects nothing until 07:00: the warning's 3.9 is reached 5 h after
    # 07:00 (30 steps of the day), not counting a single night step (the 10 h gap ends at 08:00).
    last = at(SEOUL, 3, 2, 22)
    stages = ladder(last, day_routine(), MASS_ONLY)
    assert stages.warning == at(SEOUL, 3, 3, 7) + 30 * STEP_S


def test_a_stage_is_reached_on_the_step_its_amount_is_reached() -> None:
    # p = 0.75 misses exactly 1/8 a step (no rounding): 1.0 is reached on the 8th step, not later.
    r = day_routine()
    r.p_active = [0.75] * HOURS_PER_WEEK
    last = at(SEOUL, 3, 2, 10)
    params = LadderParams(
        watch_mass=1.0, warning_mass=1.0, alert_mass=1.0, gap_margin=0.0, grace_hours=0.0, min_hours=0.0
    )
    assert ladder(last, r, params).alert - last == 8 * STEP_S


def test_a_household_with_no_usual_activity_still_alerts_at_the_cap() -> None:
    r = day_routine()
    r.p_active = [0.0] * HOURS_PER_WEEK  # the missed activity never adds up to anything
    last = at(SEOUL, 3, 2, 10)
    stages = ladder(last, r, LadderParams(max_hours=20.0, morning_warning_h=None, morning_alert_h=None))
    assert stages.watch == stages.warning == stages.alert == last + 20 * 3600
    assert stages.critical == stages.alert + 6 * 3600


def test_without_a_morning_check_no_alert_is_a_morning_alert() -> None:
    night = at(SEOUL, 3, 2, 22)
    assert ladder(night, day_routine()).morning_alert is False  # nothing learned about mornings
    learned = day_routine(latest_start_min=8 * 60)
    assert ladder(night, learned).morning_alert is True  # the default check brings it forward...
    no_check = LadderParams(morning_alert_h=None)
    assert ladder(night, learned, no_check).morning_alert is False  # ...unless it is switched off


def test_a_morning_check_that_ties_with_the_gap_rule_explains_the_alert() -> None:
    # The gap rule alerts at 21:30 + 10 h + 2 h = 09:30; the morning check (08:00 + 1.5 h) too.
    last = at(SEOUL, 3, 2, 21, 30)
    learned = day_routine(latest_start_min=8 * 60)
    tie = LadderParams(alert_mass=0.1, gap_margin=1.0, grace_hours=2.0, morning_alert_h=1.5)
    stages = ladder(last, learned, tie)
    assert stages.alert == at(SEOUL, 3, 3, 9, 30)
    assert stages.morning_alert is True
    later = ladder(
        last, learned, LadderParams(alert_mass=0.1, gap_margin=1.0, grace_hours=2.0, morning_alert_h=1.6)
    )
    assert later.alert == at(SEOUL, 3, 3, 9, 30) and later.morning_alert is False


def test_the_morning_check_never_alerts_sooner_than_the_minimum_quiet() -> None:
    night = at(SEOUL, 3, 3, 2)  # 02:00: the morning of 3 March is due at 08:00 + 0 h
    learned = day_routine(latest_start_min=8 * 60)
    params = LadderParams(min_hours=9.0, morning_alert_h=0.0)
    stages = ladder(night, learned, params)
    assert stages.alert == night + 9 * 3600  # 11:00, not the morning check's 08:00
    assert stages.morning_alert is True


@pytest.mark.usefixtures("process_in_los_angeles")
def test_a_local_day_begins_at_four_in_the_morning() -> None:
    learned = day_routine(latest_start_min=8 * 60)  # every usual day had started by 08:00
    nine_today = at(SEOUL, 3, 3, 9)
    nine_tomorrow = at(SEOUL, 3, 4, 9)
    # 03:59 still belongs to the night before 3 March: that day is overdue at 08:00 + 1 h.
    assert morning_check(at(SEOUL, 3, 3, 3, 59), learned, 1.0) == nine_today
    # From 04:00 the day of 3 March has begun: the next day to check is 4 March.
    assert morning_check(at(SEOUL, 3, 3, 4, 0), learned, 1.0) == nine_tomorrow
    assert morning_check(at(SEOUL, 3, 2, 23, 59), learned, 1.0) == nine_today


@pytest.mark.usefixtures("process_in_los_angeles")
def test_a_morning_check_due_at_midnight_or_later_is_no_check() -> None:
    learned = day_routine(latest_start_min=8 * 60)
    last = at(SEOUL, 3, 2, 22)
    # 08:00 + 15 h 59 min = 23:59: still that day.
    assert morning_check(last, learned, 15 + 59 / 60) == at(SEOUL, 3, 3, 23, 59)
    # 08:00 + 16 h = 24:00 is the next day's midnight, past the day's end: no check at all.
    assert morning_check(last, learned, 16.0) is None


@pytest.mark.usefixtures("process_in_los_angeles")
def test_the_morning_check_reads_the_households_zone_not_the_machines() -> None:
    for zone in (SEOUL, "UTC", "Europe/London"):
        learned = day_routine(zone, latest_start_min=8 * 60)
        due = morning_check(at(zone, 3, 2, 22), learned, 1.5)
        assert due == at(zone, 3, 3, 9, 30), zone
        stages = ladder(at(zone, 3, 2, 22), learned)
        assert stages.morning_alert and stages.alert == at(zone, 3, 3, 9, 30), zone
