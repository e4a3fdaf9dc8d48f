"""The switch-on rule's boundaries and the automatic-load rules one at a time (anomaly/activity.py).

test_activity_from_power.py walks whole series; here each threshold is met exactly, and each
of learn_automatic's two rules (round-the-clock cycling, a night-time timer) is shown alone: a
fridge cycling at the same clock times every day is also a "timer", so a test built on one
would not notice the other rule broken. Which events are automatic decides which are signs of
life: a load wrongly learned as automatic hides a person's use, one wrongly left human hides
a silence.
"""

from __future__ import annotations

from datetime import UTC, datetime

from anomaly.activity import (
    AutomaticParams,
    PowerEvent,
    StepDetector,
    StepParams,
    StepState,
    is_human,
    learn_automatic,
    power_band,
    residual_w,
)

T0 = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())  # a Monday, 00:00 UTC
DAY = 86400
LAMP = "lamp"
BAND = power_band(60.0)


# --- switching on and off -----------------------------------------------------------------------


def test_an_event_names_its_channel_and_the_detector_remembers_it() -> None:
    kettle = StepDetector("kettle")
    assert kettle.feed(T0, 0.0) is None
    assert kettle.feed(T0 + 60, 2000.0) == PowerEvent(T0 + 60, "kettle", 2000.0)
    assert kettle.state == StepState(T0 + 60, 2000.0, True, None, T0 + 60)
    assert kettle.feed(T0 + 120, 3.0) is None
    assert kettle.state == StepState(T0 + 120, 3.0, False, T0 + 120, T0 + 60)
    assert kettle.is_on is False
    mains = StepDetector("aggregate")
    mains.feed(T0, 300.0)
    assert mains.feed(T0 + 60, 2300.0) == PowerEvent(T0 + 60, "aggregate", 2000.0)
    assert mains.state.last_event_ts == T0 + 60


def test_a_plug_stays_on_at_exactly_its_off_level() -> None:
    tv = StepDetector("tv")  # on above 20 W, off below 10 W
    tv.feed(T0, 80.0)
    tv.feed(T0 + 60, 10.0)
    assert tv.is_on
    tv.feed(T0 + 120, 9.9)
    assert not tv.is_on


def test_a_programme_is_over_exactly_thirty_minutes_after_it_stopped() -> None:
    washer = StepDetector("washing_machine")
    washer.feed(T0, 500.0)
    washer.feed(T0 + 60, 0.0)  # stopped
    assert washer.feed(T0 + 60 + 1799, 500.0) is None  # 29:59 later: the same programme
    washer.feed(T0 + 60 + 1860, 0.0)  # stopped again
    assert washer.feed(T0 + 60 + 1860 + 1800, 500.0) is not None  # 30:00 later: a new one


def test_a_second_reading_in_the_same_second_is_read_in_arrival_order_not_dropped() -> None:
    # A backlog from a plug without a clock arrives in one socket read, readings microseconds
    # apart: the same whole second again is fed (gateway/reading_time.py).
    kettle = StepDetector("kettle")
    kettle.feed(T0, 0.0)
    assert kettle.feed(T0, 2000.0) == PowerEvent(T0, "kettle", 2000.0)


def test_whole_house_steps_of_exactly_the_threshold_and_gap_count() -> None:
    mains = StepDetector("aggregate")
    mains.feed(T0, 300.0)
    assert mains.feed(T0 + 300, 500.0) == PowerEvent(T0 + 300, "aggregate", 200.0)  # 5 min later, +200 W
    assert StepDetector("aggregate").feed(T0, 300.0) is None


def test_one_whole_house_event_per_ramp_then_the_next_after_five_minutes() -> None:
    mains = StepDetector("aggregate")
    mains.feed(T0, 300.0)
    assert mains.feed(T0 + 60, 2300.0) is not None
    assert mains.feed(T0 + 120, 4300.0) is None  # a minute after the last event: the same ramp
    assert mains.feed(T0 + 300, 300.0) is None
    assert mains.feed(T0 + 360, 2300.0) is not None  # exactly 5 min after the last event: a new one


def test_the_latest_reading_is_known_for_five_minutes_and_never_from_the_future() -> None:
    kettle = StepDetector("kettle")
    assert kettle.latest(T0) is None  # nothing fed yet
    kettle.feed(T0, 2000.0)
    assert kettle.latest(T0) == 2000.0  # the same second
    assert kettle.latest(T0 + 300) == 2000.0  # five minutes old
    assert kettle.latest(T0 + 301) is None  # older: unknown, not "still 2 kW"
    assert kettle.latest(T0 - 1) is None  # a whole-house reading older than the plug's


def test_the_unmetered_rest_is_the_whole_house_minus_known_sub_meters_never_below_zero() -> None:
    assert residual_w(2300.0, [2000.0, None, 100.0]) == 200.0  # None: unknown, not subtracted
    assert residual_w(300.0, []) == 300.0
    assert residual_w(500.0, [2000.0]) == 0.0  # a sub-meter ahead of the whole-house meter


def test_power_bands_are_half_octaves_from_one_watt() -> None:
    assert [power_band(w) for w in (0.0, 1.0, 1.5, 100.0, 120.0, 2000.0)] == [0, 0, 1, 13, 13, 21]
    assert power_band(90.0) == 12  # the band edge is 2^6.5 = 90.5 W


def test_a_channel_with_nothing_automatic_is_all_human() -> None:
    assert is_human(PowerEvent(T0, "kettle", 2000.0), {"fridge": {power_band(100.0)}})


# --- learning what is automatic -----------------------------------------------------------------


def lamp(at: list[int]) -> list[PowerEvent]:
    return [PowerEvent(ts, LAMP, 60.0) for ts in at]


def night(day: int, minute: int) -> int:
    """``minute`` minutes after midnight of ``day`` (UTC), a night time below 06:00."""
    return T0 + day * DAY + minute * 60


def learned(events: list[PowerEvent], days: float) -> bool:
    return BAND in learn_automatic(events, days=days, timezone="UTC").get(LAMP, set())


def test_three_days_of_history_is_enough_to_learn_from() -> None:
    # A band firing every 3 h 7 min, round the clock: its night slots drift from day to day, so
    # only the cycling rule can call it automatic.
    every_187_min = lamp(list(range(T0, T0 + 3 * DAY, 187 * 60)))
    assert learned(every_187_min, days=3)
    assert learn_automatic(every_187_min, days=2.99, timezone="UTC") == {}


def test_cycling_is_exactly_three_a_day_with_a_fair_share_at_night() -> None:
    # 3 a day for 7 days, one each night at a different half-hour (no slot is a timer's).
    events = []
    for day in range(7):
        events += [night(day, 40 * day), T0 + day * DAY + 10 * 3600, T0 + day * DAY + 18 * 3600]
    assert learned(lamp(events), days=7)
    assert not learned(lamp(events), days=7.01)  # 2.99 a day: not cycling


def test_the_night_share_of_a_cycling_load_is_compared_with_a_uniform_days() -> None:
    # 20 events in 6 days (3.3 a day); a uniform day has 6/24 of its events at night, and
    # cycling needs 0.6 of that: 3 of 20 is exactly 0.15.
    def with_nights(n_night: int, total: int) -> list[PowerEvent]:
        at = [night(d, 35 * d) for d in range(n_night)]
        at += [T0 + (k % 6) * DAY + (8 + k // 6) * 3600 for k in range(total - n_night)]
        return lamp(at)

    assert learned(with_nights(3, 20), days=6)  # 0.15: automatic
    assert not learned(with_nights(2, 20), days=6)  # 0.10: a daytime load, human
    assert not learned(with_nights(7, 48), days=7)  # 0.146: just short of 0.15


def test_a_lamp_used_once_a_night_at_different_times_is_a_person() -> None:
    # Up at night at 00:10, 01:20, 02:30, ... (the toilet, a drink): neither cycling nor a timer.
    assert not learned(lamp([night(day, 10 + 70 * day) for day in range(5)]), days=5)


def test_a_timer_is_a_half_hour_slot_used_on_at_least_half_the_days() -> None:
    at_0130_or_0145 = [night(day, 90 if day % 2 else 105) for day in range(6)]  # the same half-hour
    assert learned(lamp(at_0130_or_0145), days=8)  # 6 of 8 days
    four_of_eight = [night(day, 65) for day in range(4)]  # 01:05
    assert learned(lamp(four_of_eight), days=8)
    assert not learned(lamp(four_of_eight), days=8.01)
    # 01:30 on three nights and 03:00 on three others: two slots, neither on half the days.
    two_slots = [night(day, 90) for day in range(3)] + [night(day, 180) for day in range(3, 6)]
    assert not learned(lamp(two_slots), days=7)


def test_learning_uses_the_given_parameters() -> None:
    strict = AutomaticParams(min_days=10.0)
    assert (
        learn_automatic(lamp([night(d, 65) for d in range(7)]), days=7, timezone="UTC", params=strict) == {}
    )
    assert StepDetector("kettle", StepParams(on_w=5.0, off_w=2.0)).feed(T0, 6.0) is not None
