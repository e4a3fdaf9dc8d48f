"""Routine fitting on simulated households: hour-of-week in local time, unusual days, JSON round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from anomaly.routine import (
    HOURS_PER_WEEK,
    FitParams,
    Routine,
    _features,
    _fit_p_active,
    _quantile,
    fit_routine,
    hour_of_week,
)

SEOUL = "Asia/Seoul"


def local_ts(day: datetime, hour: int, minute: int = 0, zone: str = SEOUL) -> int:
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))
    return int(local.timestamp())


def simulate(
    days: int,
    *,
    zone: str = SEOUL,
    hours: tuple[int, ...] = (7, 8, 12, 18, 21),
    away: frozenset[int] = frozenset(),
    start: datetime = datetime(2026, 1, 5),  # a Monday
) -> tuple[list[tuple[int, str]], dict[int, int], int]:
    """A resident active at the given local hours every day (none on ``away`` days); full data."""
    events = []
    for d in range(days):
        if d in away:
            continue
        day = start + timedelta(days=d)
        events += [(local_ts(day, h, 10, zone), "kettle" if h == 7 else "tv") for h in hours]
    first = local_ts(start, 0, 0, zone)
    end = first + days * 86400
    coverage = dict.fromkeys(range(first - first % 3600, end, 3600), 3600)
    return sorted(events), coverage, end


def test_no_routine_until_enough_usual_days() -> None:
    needed = FitParams().min_days
    events, coverage, end = simulate(needed - 1)
    assert fit_routine(events, coverage, now=end, timezone=SEOUL) is None
    events, coverage, end = simulate(needed)
    assert fit_routine(events, coverage, now=end, timezone=SEOUL) is not None


def test_activity_probability_follows_local_hours() -> None:
    events, coverage, end = simulate(21)
    routine = fit_routine(events, coverage, now=end, timezone=SEOUL)
    assert routine is not None
    monday_7 = 7
    monday_3 = 3
    assert routine.p_active[monday_7] > 0.7
    assert routine.p_active[monday_3] < 0.2


def test_quiet_gap_after_evening_activity_covers_the_night() -> None:
    events, coverage, end = simulate(21)
    routine = fit_routine(events, coverage, now=end, timezone=SEOUL)
    assert routine is not None
    # after the 21:10 activity the next is 07:10: a 10 h gap; after 08:10 the next is 12:10.
    assert routine.quiet_gap_h[21] == pytest.approx(10.0, abs=0.01)
    assert routine.quiet_gap_h[8] < 5.0
    assert routine.first_activity_min == 7 * 60 + 10
    assert routine.first_activity_channel == "kettle"


def test_away_days_are_excluded_and_do_not_stretch_quiet_gaps() -> None:
    away = frozenset(range(10, 15))
    events, coverage, end = simulate(21, away=away)
    routine = fit_routine(events, coverage, now=end, timezone=SEOUL)
    assert routine is not None
    assert len(routine.days_excluded) == 5
    assert routine.days_used == 16
    assert max(routine.quiet_gap_h) <= 10.0 + 1e-6  # the five-day silence taught nothing


def test_missing_data_is_not_a_quiet_day() -> None:
    events, coverage, end = simulate(21)
    # remove all data for days 3..6: those days are unknown, not unusual
    first = min(coverage)
    for h in list(coverage):
        if first + 3 * 86400 <= h < first + 7 * 86400:
            del coverage[h]
    events = [(ts, ch) for ts, ch in events if not first + 3 * 86400 <= ts < first + 7 * 86400]
    routine = fit_routine(events, coverage, now=end, timezone=SEOUL)
    assert routine is not None
    assert routine.days_excluded == []
    assert routine.days_used == 17


def test_hour_of_week_is_local_across_dst() -> None:
    zone = ZoneInfo("Europe/London")
    # 07:10 local on the Saturday before and the Monday after the March 2026 change (29 March).
    before = int(datetime(2026, 3, 28, 7, 10, tzinfo=zone).timestamp())
    after = int(datetime(2026, 3, 30, 7, 10, tzinfo=zone).timestamp())
    assert hour_of_week(before, zone) == 5 * 24 + 7
    assert hour_of_week(after, zone) == 7
    assert datetime.fromtimestamp(after, UTC).hour == 6  # BST: the UTC hour moved, the local one did not


def test_routine_fitted_across_dst_keeps_the_local_morning() -> None:
    # Four weeks from 9 March 2026: the clocks go forward on 29 March in the middle.
    events, coverage, end = simulate(28, zone="Europe/London", start=datetime(2026, 3, 9))
    routine = fit_routine(events, coverage, now=end, timezone="Europe/London")
    assert routine is not None
    assert routine.p_active[7] > 0.7  # Monday 07:00 local, before and after the change
    assert routine.p_active[6] < 0.3
    assert routine.quiet_gap_h[21] == pytest.approx(10.0, abs=0.01)


def test_json_round_trip_is_plain_readable_data() -> None:
    events, coverage, end = simulate(10)
    routine = fit_routine(events, coverage, now=end, timezone=SEOUL, automatic={"fridge": {13}})
    assert routine is not None
    text = json.dumps(routine.to_json())
    back = Routine.from_json(json.loads(text))
    assert back.p_active == pytest.approx(routine.p_active, abs=1e-4)
    assert back.automatic == {"fridge": [13]}
    assert len(back.quiet_gap_h) == HOURS_PER_WEEK


def test_corrupt_model_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="168"):
        Routine.from_json(
            {
                "version": 1,
                "timezone": SEOUL,
                "fitted_at": 0,
                "days_used": 9,
                "p_active": [0.1],
                "quiet_gap_h": [1],
            }
        )
    with pytest.raises(ValueError, match="version"):
        Routine.from_json({"version": 99})


def test_window_only_uses_recent_weeks() -> None:
    events, coverage, end = simulate(60)
    routine = fit_routine(events, coverage, now=end, timezone=SEOUL, params=FitParams(window_days=14))
    assert routine is not None
    assert routine.days_used == 14


def test_explanation_names_a_plug_rather_than_the_whole_house_meter() -> None:
    events, coverage, end = simulate(10)
    # the whole-house meter steps up at 06:50 each day, before the 07:10 kettle
    start = datetime(2026, 1, 5)
    events += [(local_ts(start + timedelta(days=d), 6, 50), "aggregate") for d in range(10)]
    routine = fit_routine(sorted(events), coverage, now=end, timezone=SEOUL)
    assert routine is not None
    assert routine.first_activity_min == 6 * 60 + 50
    assert routine.first_activity_channel == "kettle"


def test_latest_first_activity_is_the_latest_usual_morning() -> None:
    events, coverage, end = simulate(14)
    start = datetime(2026, 1, 5)
    # one usual day began late (a lie-in until 10:40); a 02:00 snack is the night, not the morning
    lie_in = (start + timedelta(days=9)).date()
    local = ZoneInfo(SEOUL)
    events = [
        e
        for e in events
        if datetime.fromtimestamp(e[0], local).date() != lie_in
        or datetime.fromtimestamp(e[0], local).hour > 8
    ]
    events += [
        (local_ts(start + timedelta(days=9), 10, 40), "kettle"),
        (local_ts(start + timedelta(days=3), 2, 0), "tv"),
    ]
    routine = fit_routine(sorted(events), coverage, now=end, timezone=SEOUL)
    assert routine is not None
    assert routine.first_activity_latest_min == 10 * 60 + 40
    assert routine.first_activity_min == 7 * 60 + 10  # the usual (75th percentile) morning is unchanged
    back = Routine.from_json(json.loads(json.dumps(routine.to_json())))
    assert back.first_activity_latest_min == 10 * 60 + 40


def test_a_model_stored_before_the_morning_check_still_loads_without_it() -> None:
    events, coverage, end = simulate(10)
    routine = fit_routine(events, coverage, now=end, timezone=SEOUL)
    assert routine is not None
    data = routine.to_json()
    del data["first_activity_latest_min"]
    assert Routine.from_json(data).first_activity_latest_min is None


@given(st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), min_size=1, max_size=80))
def test_the_largest_quiet_gap_is_numpys_quantile_of_one_exactly(values: list[float]) -> None:
    """The fit's shortcut for the default ``gap_quantile`` (issue 15.3) gives numpy's figure, bit for bit."""
    assert _quantile(values, 1.0) == float(np.quantile(values, 1.0))
    assert _quantile(values, 0.9) == float(np.quantile(values, 0.9))


def test_p_active_on_one_thread_is_p_active_on_the_machines_threads() -> None:
    """The logistic regression runs on one BLAS/OpenMP thread (issue 15.3); the numbers do not change."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        how = rng.integers(0, HOURS_PER_WEEK, int(rng.integers(200, 1400)))
        y = (rng.random(len(how)) < (rng.random(HOURS_PER_WEEK) * rng.random())[how]).astype(int)
        model = LogisticRegression(C=1.0, max_iter=500).fit(_features(how), y)
        want = [float(v) for v in model.predict_proba(_features(np.arange(HOURS_PER_WEEK)))[:, 1]]
        assert _fit_p_active(how, y, 1.0) == want
