"""`anbu eval`'s scoring on a simulated household (never the real data set)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from anomaly.activity import AGGREGATE
from anomaly.evaluation import (
    Minutes,
    _warning_row,
    evaluate_household,
    fixed_rule,
    hindsight_floor_h,
    injection_times,
    markdown_report,
    next_activity_h,
    normal_days,
    routine_method,
)
from anomaly.injection import ALL_OFF, FROZEN, all_off, frozen
from anomaly.ladder import LadderParams

ZONE = "Europe/London"
START = datetime(2026, 1, 5, tzinfo=ZoneInfo(ZONE))  # Monday 00:00 local


def household(days: int) -> Minutes:
    """A kettle at 07:30, 10:30, ... 22:30 local every day; a 60 W idle water heater that heats
    at 03:00 (automatic, kept running by the injection); full data."""
    out: Minutes = []
    for minute in range(days * 1440):
        t = START + timedelta(minutes=minute)
        local = t.astimezone(ZoneInfo(ZONE))
        kettle = 2000.0 if local.minute == 30 and local.hour in range(7, 23, 3) else 0.0
        heater = 1500.0 if local.hour == 3 and local.minute < 30 else 60.0
        out.append(
            (
                int(t.timestamp()),
                {"aggregate": 200.0 + kettle + heater, "kettle": kettle, "water_heater_aircon": heater},
            )
        )
    return out


def test_incapacitation_keeps_only_automatic_loads() -> None:
    after = all_off(260.0).apply(0, {"aggregate": 3800.0, "kettle": 2000.0, "water_heater_aircon": 1500.0})
    assert after == {"aggregate": 1760.0, "kettle": 1.0, "water_heater_aircon": 1500.0}


def _minute(t: int, aggregate: float, **channels: float) -> tuple[int, dict[str, float]]:
    return t, {"aggregate": aggregate, **channels}


def test_frozen_house_is_the_all_off_house_plus_what_was_left_on() -> None:
    # Before the event (t = 3600): a 300 W lamp and TV (unmetered) on over a 100 W base for the
    # last 40 minutes, an unmetered fridge cycling (90 W, 20 min in every 40), a kettle boiled
    # a minute before (metered, stops by itself), a dishwasher between two heating phases
    # (metered, off for 5 min), and the water heater idling.
    def sub_meters(t: int) -> dict[str, float]:
        return {
            "kettle": 2000.0 if t == 3540 else 0.0,
            "dishwasher": 1800.0 if t < 3300 else 2.0,
            "water_heater_aircon": 60.0,
        }

    before = [
        _minute(
            t,
            100.0
            + (300.0 if t >= 1200 else 0.0)
            + (90.0 if t % 2400 < 1200 else 0.0)
            + sum(sub_meters(t).values()),
            **sub_meters(t),
        )
        for t in range(0, 3600, 60)
    ]
    model = frozen(before, len(before), 3600, base_w=162.0, residual_base_w=100.0)
    assert model.name == FROZEN
    assert model.elevated_w == 300.0  # the lamp and TV; not the fridge, nor the kettle's one minute
    assert set(model.running) == {"kettle", "dishwasher"}

    def after(t: int, rest: float, **channels: float) -> dict[str, float]:
        return model.apply(t, {"aggregate": rest + sum(channels.values()), **channels})

    # After, the real trace: the resident away from the lamp (the rest back at its 100 W base),
    # the dishwasher's second phase, its end; later a 2 kW oven, a kettle and a heater cycle.
    assert after(3600, 100.0, dishwasher=2.0, kettle=0.0, water_heater_aircon=60.0) == {
        "dishwasher": 2.0,
        "kettle": 0.0,
        "water_heater_aircon": 60.0,
        "aggregate": 162.0 + 300.0,  # the base (with the sub-meters' standby) and the lamp
    }
    phase = after(4200, 100.0, dishwasher=1800.0, kettle=0.0, water_heater_aircon=60.0)
    assert phase["dishwasher"] == 1800.0 and phase["aggregate"] == 100.0 + 300.0 + 1800.0 + 60.0
    assert after(5000, 100.0, dishwasher=2.0, kettle=0.0, water_heater_aircon=60.0)["aggregate"] == 462.0
    # A programme gap after its last phase the dishwasher has finished and never starts again;
    # the resident's oven and kettle never show; the water heater's cycle does.
    assert after(10800, 2100.0, dishwasher=1800.0, kettle=2000.0, water_heater_aircon=1500.0) == {
        "dishwasher": 1.0,
        "kettle": 1.0,
        "water_heater_aircon": 1500.0,
        "aggregate": 162.0 + 1500.0 + 300.0,
    }
    # The house below its base passes through (as all-off's), with the lamp still on.
    assert after(14400, 40.0, dishwasher=2.0, kettle=0.0, water_heater_aircon=60.0)["aggregate"] == 402.0


def test_frozen_house_at_base_load_is_the_all_off_house() -> None:
    before = [_minute(t, 150.0, kettle=0.0) for t in range(0, 3600, 60)]
    model = frozen(before, len(before), 3600, base_w=150.0, residual_base_w=150.0)
    assert model.elevated_w == 0.0 and model.running == {}
    readings = {"aggregate": 2150.0, "kettle": 2000.0}
    assert (
        model.apply(3600, readings)
        == all_off(150.0).apply(3600, readings)
        == {"kettle": 1.0, "aggregate": 150.0}
    )


def test_routine_detects_every_injected_event_and_warns_staff_no_later() -> None:
    minutes = household(20)
    result = evaluate_household("sim_eval", minutes, ZONE, routine_method())
    assert result.events > 0
    assert result.missed == 0 and result.false_alarms == 0
    for name in (ALL_OFF, FROZEN):  # each event injected both ways
        injected = result.injected[name]
        assert injected.events == result.events and injected.missed == 0
        assert len(injected.warning_delays_h) == result.events
        # a staff warning is never later than the alert for the same injected event
        assert all(w <= a for w, a in zip(injected.warning_delays_h, injected.delays_h, strict=True))
        row = _warning_row("sim", [result], name)
        assert row.startswith(f"| sim | {name} | ") and row.endswith("| 0 (0 %) |")
    # A kettle-only house is at its base load between uses: frozen is the all-off house.
    assert result.injected[FROZEN].delays_h == result.injected[ALL_OFF].delays_h


def test_fixed_rule_on_the_raw_aggregate_is_kept_alive_by_the_heater() -> None:
    # The deployed-style rule sees the heater's nightly 1.4 kW step on the whole-house meter
    # as someone switching on, so a fixed 36 h window never runs out.
    result = evaluate_household("sim_eval", household(20), ZONE, fixed_rule(36))
    assert result.events > 0 and result.missed == result.events


def test_hindsight_floor_waits_for_the_longest_real_gap_from_that_start_hour() -> None:
    zone = ZoneInfo("UTC")
    day = 86400
    # Activity at 08:00 on days 0-2, at 09:00 and 20:00 on day 1; day 3 is not a normal day.
    humans = [
        8 * 3600,
        day + 8 * 3600,
        day + 9 * 3600,
        day + 20 * 3600,
        2 * day + 8 * 3600,
        3 * day + 8 * 3600,
    ]
    normal = {datetime.fromtimestamp(k * day, ZoneInfo("UTC")).date() for k in range(3)}
    floor = hindsight_floor_h([8 * 3600 + 1800, day + 21 * 3600], humans, [], normal, zone)
    # From 08:00 the longest real gap is 24 h (day 0 -> day 1); from 20:00, 12 h.
    assert floor == [23.5, 11.0]
    # A data gap inside the 24 h gap takes it out: the next longest from 08:00 is 1 h.
    assert hindsight_floor_h([8 * 3600 + 1800], humans, [(3600 * 12, 3600 * 15)], normal, zone) == [0.5]


def test_next_activity_is_the_first_human_event_after_each_injection_capped_at_48_h() -> None:
    humans = [50, 200, 3_800, 400_000]
    assert next_activity_h([100, 200, 500, 10_000, 500_000], humans) == [
        100 / 3600,
        0.0,  # activity at the very moment of the event: nothing to detect
        3_300 / 3600,
        48.0,  # the next activity came 108 h later: beyond the horizon
        48.0,  # none followed within the recording
    ]
    assert next_activity_h([100], []) == [48.0]


def test_floor_is_when_the_simulated_resident_really_used_the_kettle_next() -> None:
    minutes = household(20)
    result = evaluate_household("sim_eval", minutes, ZONE, routine_method())
    # independent of the detector: the kettle switch-ons straight from the readings
    kettle = [
        ts
        for (ts, r), (_, prev) in zip(minutes[1:], minutes, strict=False)
        if r["kettle"] and not prev["kettle"]
    ]
    injections = injection_times("sim_eval", minutes, normal_days("sim_eval", minutes))
    expected = [(min(k for k in kettle if k >= t) - t) / 3600 for t in injections]
    assert len(result.floor_h) == result.events == len(expected)
    assert result.floor_h == expected
    # kettle every 3 h by day, 9 h over the night: some events fall in each
    assert max(expected) > 3.0 and min(expected) < 3.0 and max(expected) <= 9.0
    report = markdown_report([result], LadderParams(), "anbu eval --data sim")
    assert "## Floor: when the resident was really next active" in report


def test_frozen_house_keeps_a_tv_plug_on_at_its_last_reading() -> None:
    """A TV on its own plug, on in the minute before the event, stays on (nobody switches it off),
    where the all-off house drops it to standby; the whole-house meter still shows it."""
    before = [_minute(t, 100.0 + 120.0, tv=120.0) for t in range(0, 3600, 60)]
    model = frozen(before, len(before), 3600, base_w=100.0, residual_base_w=100.0)
    after = model.apply(7200, {AGGREGATE: 100.0, "tv": 0.0})
    assert after["tv"] == 120.0 and after[AGGREGATE] == 220.0
    assert all_off(100.0).apply(7200, {AGGREGATE: 220.0, "tv": 120.0})["tv"] == 1.0
