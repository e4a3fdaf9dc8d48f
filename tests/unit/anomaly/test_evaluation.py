"""`anbu eval`'s scoring on a simulated household (never the real data set)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from anomaly.evaluation import (
    Minutes,
    _warning_row,
    evaluate_household,
    fixed_rule,
    incapacitated,
    injection_times,
    markdown_report,
    next_activity_h,
    normal_days,
    routine_method,
)
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
    after = incapacitated(
        {"aggregate": 3800.0, "kettle": 2000.0, "water_heater_aircon": 1500.0}, base_w=260.0
    )
    assert after == {"aggregate": 1760.0, "kettle": 1.0, "water_heater_aircon": 1500.0}


def test_routine_detects_every_injected_event_and_warns_staff_no_later() -> None:
    minutes = household(20)
    result = evaluate_household("sim_eval", minutes, ZONE, routine_method())
    assert result.events > 0
    assert result.missed == 0 and result.false_alarms == 0
    assert len(result.warning_delays_h) == result.events
    # a staff warning is never later than the alert for the same injected event
    assert all(w <= a for w, a in zip(result.warning_delays_h, result.delays_h, strict=True))
    row = _warning_row("sim", [result])
    assert row.startswith("| sim | ") and row.endswith("| 0 (0 %) |")


def test_fixed_rule_on_the_raw_aggregate_is_kept_alive_by_the_heater() -> None:
    # The deployed-style rule sees the heater's nightly 1.4 kW step on the whole-house meter
    # as someone switching on, so a fixed 36 h window never runs out.
    result = evaluate_household("sim_eval", household(20), ZONE, fixed_rule(36))
    assert result.events > 0 and result.missed == result.events


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
