"""Switch-on events from power, and learning which loads are automatic (simulated series)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from anomaly.activity import (
    PowerEvent,
    StepDetector,
    StepParams,
    is_human,
    learn_automatic,
    power_band,
)

T0 = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())  # a Monday, 00:00 UTC


def feed(detector: StepDetector, series: list[float], start: int = T0) -> list[PowerEvent]:
    events = []
    for i, watts in enumerate(series):
        event = detector.feed(start + 60 * i, watts)
        if event is not None:
            events.append(event)
    return events


def test_plug_switch_on_is_one_event_at_the_first_minute_above_threshold() -> None:
    events = feed(StepDetector("kettle"), [0, 0, 2000, 2100, 2000, 0, 0])
    assert [(e.ts - T0) // 60 for e in events] == [2]
    assert events[0].level_w == 2000


def test_hysteresis_keeps_a_flickering_appliance_as_one_event() -> None:
    # 15 W is between off (10 W) and on (20 W): still on, no new event when it rises again.
    events = feed(StepDetector("tv"), [0, 80, 15, 80, 15, 90])
    assert len(events) == 1


def test_restart_within_programme_gap_is_the_same_programme() -> None:
    det = StepDetector("dishwasher")
    series = [0.0] * 5 + [2000.0] * 10 + [0.0] * 20 + [2000.0] * 10 + [0.0] * 40 + [2000.0] * 5
    events = feed(det, series)
    # second heating phase 20 min after stopping is the same run; the one 40 min later is new.
    assert [(e.ts - T0) // 60 for e in events] == [5, 85]


def test_aggregate_counts_steps_above_the_previous_minute_not_the_level() -> None:
    det = StepDetector("aggregate")
    # base load 300 W (always above any plug threshold), a kettle step of 2 kW, a 100 W fridge step.
    series = [300.0, 300.0, 2300.0, 2300.0, 300.0, 400.0, 300.0]
    events = feed(det, series)
    assert [(e.ts - T0) // 60 for e in events] == [2]
    assert events[0].level_w == 2000.0


def test_no_step_is_detected_across_a_data_gap() -> None:
    det = StepDetector("aggregate")
    assert det.feed(T0, 200.0) is None
    assert det.feed(T0 + 3 * 3600, 2500.0) is None  # three hours of no data: not a step
    assert det.feed(T0 + 3 * 3600 + 60, 5000.0) is not None


def test_late_readings_are_ignored() -> None:
    det = StepDetector("kettle")
    det.feed(T0 + 120, 0.0)
    assert det.feed(T0, 3000.0) is None
    assert det.feed(T0 + 180, 3000.0) is not None


def fridge_and_kettle(days: int) -> list[PowerEvent]:
    events = []
    for day in range(days):
        base = T0 + day * 86400
        events += [PowerEvent(base + k * 2400, "laundry_room", 110.0) for k in range(36)]  # every 40 min
        events += [PowerEvent(base + h * 3600, "laundry_room", 2200.0) for h in (8, 13, 19)]  # a person
    return events


def test_round_the_clock_cycling_is_learned_as_automatic_and_daytime_use_is_not() -> None:
    auto = learn_automatic(fridge_and_kettle(7), days=7, timezone="UTC")
    assert auto == {"laundry_room": {power_band(110.0)}}
    assert not is_human(PowerEvent(T0, "laundry_room", 105.0), auto)
    assert is_human(PowerEvent(T0, "laundry_room", 2100.0), auto)


def test_night_timer_load_is_automatic_but_a_regular_morning_kettle_is_human() -> None:
    events = []
    for day in range(10):
        base = T0 + day * 86400
        events.append(PowerEvent(base + 1 * 3600 + 300, "water_heater", 3000.0))  # 01:05 every night
        events.append(PowerEvent(base + 7 * 3600, "kettle", 2000.0))  # 07:00 every morning
    auto = learn_automatic(events, days=10, timezone="UTC")
    assert auto == {"water_heater": {power_band(3000.0)}}


def test_timer_slot_is_in_local_time() -> None:
    # 16:05 UTC is 01:05 in Seoul: a night-tariff heater there, an afternoon event in UTC terms.
    events = [PowerEvent(T0 + d * 86400 + 16 * 3600 + 300, "water_heater", 3000.0) for d in range(10)]
    assert learn_automatic(events, days=10, timezone="Asia/Seoul") == {"water_heater": {power_band(3000.0)}}
    assert learn_automatic(events, days=10, timezone="UTC") == {}


def test_nothing_is_learned_from_too_little_history() -> None:
    assert learn_automatic(fridge_and_kettle(2), days=2, timezone="UTC") == {}


# --- state kept between batches (the live gateway stores it per channel) -----------------------

readings_strategy = st.lists(
    st.tuples(st.integers(1, 600), st.sampled_from([0.0, 5.0, 15.0, 25.0, 300.0, 2000.0])),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    channel=st.sampled_from(["kettle", "aggregate"]),
    steps=readings_strategy,
    cuts=st.sets(st.integers(0, 60)),
)
def test_a_detector_restored_from_its_state_continues_exactly(
    channel: str, steps: list[tuple[int, float]], cuts: set[int]
) -> None:
    """Feeding in one go, or in batches with the state stored and restored between them
    (a gateway restart at any reading), gives the same events and the same final state."""
    series, ts = [], T0
    for gap, watts in steps:
        ts += gap
        series.append((ts, watts))
    whole = StepDetector(channel)
    expected = [e for t, w in series if (e := whole.feed(t, w)) is not None]
    detector, got = StepDetector(channel), []
    for i, (t, w) in enumerate(series):
        if i in cuts:  # stored and restored, as between two gateway batches
            detector = StepDetector(channel, state=detector.state)
        if (event := detector.feed(t, w)) is not None:
            got.append(event)
    assert got == expected
    assert detector.state == whole.state


def test_with_threshold_keeps_the_hysteresis_ratio() -> None:
    params = StepParams().with_threshold(8.0)
    assert (params.on_w, params.off_w) == (8.0, 4.0)
    assert StepParams().with_threshold(StepParams().on_w) == StepParams()
    lamp = StepDetector("lamp", params)
    feed(lamp, [0, 9, 6])
    assert lamp.is_on  # 6 W: below on (8 W) but above off (4 W)
    feed(lamp, [3], start=T0 + 180)
    assert not lamp.is_on


def test_on_means_strictly_above_the_threshold() -> None:
    assert feed(StepDetector("lamp", StepParams().with_threshold(8.0)), [0, 8.0]) == []
    assert len(feed(StepDetector("lamp", StepParams().with_threshold(8.0)), [0, 8.01])) == 1
    assert feed(StepDetector("lamp", StepParams().with_threshold(0.0)), [0.0]) == []
    assert len(feed(StepDetector("lamp", StepParams().with_threshold(0.0)), [0.1])) == 1
