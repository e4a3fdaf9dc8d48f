"""The routine learns from confirmed false alarms: the confirmed quiet becomes a usual one, bounded."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from anomaly.ladder import ladder
from anomaly.routine import HOURS_PER_WEEK, ConfirmedQuiet, FitParams, Routine, fit_routine
from tests.unit.anomaly.test_routine_model import SEOUL, local_ts, simulate

START = datetime(2026, 1, 5)  # a Monday (simulate's default)
WED_12 = 2 * 24 + 12  # hour-of-week of Wednesday 12:00 local


def _fit(confirmed: list[ConfirmedQuiet], days: int = 21) -> Routine:
    events, coverage, end = simulate(days)
    routine = fit_routine(events, coverage, now=end, timezone=SEOUL, confirmed=confirmed)
    assert routine is not None
    return routine


def _wednesday(week: int) -> datetime:
    return START + timedelta(days=7 * week + 2)


def test_a_confirmed_quiet_raises_the_usual_gap_at_its_hour_of_week_only() -> None:
    before = _fit([])
    # Last activity Wednesday 12:10 (usually 18:10 comes next: a 6 h gap); confirmed 23:40.
    day = _wednesday(2)
    quiet = ConfirmedQuiet(start=local_ts(day, 12, 10), end=local_ts(day, 23, 40))
    after = _fit([quiet])
    assert before.quiet_gap_h[WED_12] == pytest.approx(6.0, abs=0.01)
    for h in (WED_12 - 1, WED_12, WED_12 + 1):  # its hour and the ±1 h the fit pools over
        assert after.quiet_gap_h[h] == pytest.approx(11.5, abs=0.01)
    others = [h for h in range(HOURS_PER_WEEK) if abs(h - WED_12) > 1]
    assert [after.quiet_gap_h[h] for h in others] == [before.quiet_gap_h[h] for h in others]
    assert after.quiet_gap_h[WED_12 - 24] == before.quiet_gap_h[WED_12 - 24]  # Tuesday noon unchanged
    assert after.p_active == before.p_active
    assert after.confirmed_false_alarms == 1 and before.confirmed_false_alarms == 0


def test_the_same_quiet_gets_a_deadline_after_its_confirmation() -> None:
    day = _wednesday(2)
    start = local_ts(day, 12, 10)
    before = _fit([])
    old = ladder(start, before).alert
    confirmed_at = old + 20 * 60  # the resident answered the call 20 min after the alert
    after = _fit([ConfirmedQuiet(start=start, end=confirmed_at)])
    next_week = start + 7 * 86400
    new = ladder(next_week, after).alert - 7 * 86400
    assert new > confirmed_at > old


def test_one_confirmation_raises_a_gap_by_at_most_the_cap() -> None:
    before = _fit([])
    day = _wednesday(2)
    cap = FitParams().confirmed_gap_max_raise_h
    # 30 h of quiet confirmed fine (e.g. staff resolved it "resident fine" the next day)
    quiet = ConfirmedQuiet(start=local_ts(day, 12, 10), end=local_ts(day, 12, 10) + 30 * 3600)
    after = _fit([quiet])
    assert after.quiet_gap_h[WED_12] == pytest.approx(before.quiet_gap_h[WED_12] + cap, abs=0.01)
    # Two confirmations at the same hour do not add up: the larger one applies.
    twice = _fit([quiet, ConfirmedQuiet(start=quiet.start - 7 * 86400, end=quiet.end - 7 * 86400)])
    assert twice.quiet_gap_h == after.quiet_gap_h
    assert twice.confirmed_false_alarms == 2


def test_a_confirmation_ages_out_with_the_training_window() -> None:
    events, coverage, end = simulate(42)
    window = FitParams().window_days * 86400
    old_start = end - window - 2 * 86400
    old = ConfirmedQuiet(start=old_start, end=old_start + 11 * 3600)  # before the last 28 days
    without = fit_routine(events, coverage, now=end, timezone=SEOUL)
    with_old = fit_routine(events, coverage, now=end, timezone=SEOUL, confirmed=[old])
    assert without is not None and with_old is not None
    assert with_old.to_json() == without.to_json()
    future = ConfirmedQuiet(start=end - 3600, end=end + 3600)  # not confirmed by the fit's "now"
    assert fit_routine(events, coverage, now=end, timezone=SEOUL, confirmed=[future]) == without


def test_a_confirmed_late_morning_moves_the_morning_check_bounded() -> None:
    before = _fit([])
    assert before.first_activity_latest_min == 7 * 60 + 10
    tue, wed = _wednesday(2) - timedelta(days=1), _wednesday(2)
    night = ConfirmedQuiet(start=local_ts(tue, 21, 10), end=local_ts(wed, 9, 30))
    after = _fit([night])
    assert after.first_activity_latest_min == 9 * 60 + 30
    # The same quiet next week: the morning check (latest start + 1.5 h) now comes after 09:30.
    old = ladder(night.start + 7 * 86400, before)
    new = ladder(night.start + 7 * 86400, after)
    assert old.morning_alert and old.alert == local_ts(wed + timedelta(days=7), 8, 40)
    assert new.alert > night.end + 7 * 86400 > old.alert
    # A very late confirmation moves it by at most the cap.
    shift = FitParams().confirmed_morning_max_shift_min
    late = ConfirmedQuiet(start=night.start, end=local_ts(wed, 15, 0))
    assert _fit([late]).first_activity_latest_min == 7 * 60 + 10 + shift
    # A quiet that began after the day started says nothing about the morning.
    day_quiet = ConfirmedQuiet(start=local_ts(wed, 12, 10), end=local_ts(wed, 23, 40))
    assert _fit([day_quiet]).first_activity_latest_min == before.first_activity_latest_min


def test_without_confirmations_the_fit_is_unchanged() -> None:
    events, coverage, end = simulate(21)
    plain = fit_routine(events, coverage, now=end, timezone=SEOUL)
    empty = fit_routine(events, coverage, now=end, timezone=SEOUL, confirmed=())
    assert plain is not None and empty == plain


def test_a_model_stored_before_false_alarms_were_learned_still_loads() -> None:
    data = _fit([]).to_json()
    del data["confirmed_false_alarms"]
    routine = Routine.from_json(data)
    assert routine.confirmed_false_alarms == 0
    assert routine.to_json()["confirmed_false_alarms"] == 0
    day = _wednesday(2)
    learned = _fit([ConfirmedQuiet(start=local_ts(day, 12, 10), end=local_ts(day, 23, 40))])
    assert Routine.from_json(learned.to_json()).confirmed_false_alarms == 1
