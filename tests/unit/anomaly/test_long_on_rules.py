"""The long-on rule's arithmetic and its edges (anomaly/long_on.py; docs/testing.md, mutation testing).

Fast and direct: the alert time to the second, which plugs are judged, how runs are cut and ordered,
and how the usual run is pooled over neighbouring hours. Times are in Asia/Seoul, never the
process's zone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from anomaly.activity import AGGREGATE, PowerEvent, power_band
from anomaly.long_on import LongOn, Run, fit_long_on, long_on_alert, programme_runs, switch_stream

ZONE = "Asia/Seoul"
MONDAY = datetime(2026, 1, 5, tzinfo=ZoneInfo(ZONE))  # 00:00 local
HOUR = 3600


def at(day: int, hour: int, minute: int = 0) -> int:
    return int((MONDAY + timedelta(days=day, hours=hour, minutes=minute)).timestamp())


def usual_at(hour_of_week: int, hours: float) -> list[float | None]:
    usual: list[float | None] = [None] * 168
    usual[hour_of_week] = hours
    return usual


TV_ON = at(0, 19)  # Monday 19:00, hour of the week 19
TV = Run("tv", TV_ON, 110.0)
RULE = {"margin": 1.5, "grace_h": 1.0, "min_quiet_h": 1.0}


def alert(
    runs: list[Run],
    usual: dict[str, list[float | None]],
    *,
    last: int = TV_ON,
    cap: int = TV_ON + 48 * HOUR,
    automatic: dict[str, list[int]] | None = None,
) -> LongOn | None:
    return long_on_alert(last, runs, usual, automatic or {}, timezone=ZONE, cap=cap, **RULE)


# --- long_on_alert --------------------------------------------------------------------------------


def test_the_alert_is_the_margin_times_the_usual_run_plus_the_grace_after_the_switch_on() -> None:
    # usually 2.5 h at Monday 19:00 (Seoul): 1.5 x 2.5 h + 1 h = 4.75 h = 17 100 s
    assert alert([TV], {"tv": usual_at(19, 2.5)}) == LongOn(TV_ON + 17_100, TV, 2.5)


def test_the_alert_waits_for_the_minimum_quiet_after_the_last_sign_of_life() -> None:
    last = TV_ON + 4 * HOUR + 45 * 60  # the person was busy until the rule's own time
    assert alert([TV], {"tv": usual_at(19, 2.5)}, last=last) == LongOn(last + HOUR, TV, 2.5)


def test_an_alert_at_or_after_the_cap_is_no_alert() -> None:
    usual = {"tv": usual_at(19, 2.5)}
    assert alert([TV], usual, cap=TV_ON + 17_100) is None
    assert alert([TV], usual, cap=TV_ON + 17_101) == LongOn(TV_ON + 17_100, TV, 2.5)


def test_the_earliest_alert_of_the_plugs_on_wins_and_a_tie_keeps_the_first() -> None:
    heater = Run("heater", TV_ON, 800.0)
    blanket = Run("blanket", TV_ON, 60.0)
    usual = {"tv": usual_at(19, 2.5), "heater": usual_at(19, 1.0), "blanket": usual_at(19, 1.0)}
    # heater and blanket: 1.5 x 1 h + 1 h = 2.5 h, before the TV's 4.75 h
    assert alert([TV, heater, blanket], usual) == LongOn(TV_ON + 9000, heater, 1.0)
    assert alert([blanket, TV, heater], usual) == LongOn(TV_ON + 9000, blanket, 1.0)


def test_plugs_with_nothing_learned_automatic_or_whole_house_are_skipped_not_the_end() -> None:
    fridge = Run("fridge", TV_ON, 90.0)
    lamp = Run("lamp", TV_ON, 40.0)  # learned, but not at this hour
    house = Run(AGGREGATE, TV_ON, 3000.0)
    unknown = Run("kettle", TV_ON, 2000.0)
    usual = {
        "tv": usual_at(19, 2.5),
        "fridge": usual_at(19, 0.1),
        "lamp": usual_at(20, 0.1),
        AGGREGATE: usual_at(19, 0.1),
    }
    automatic = {"fridge": [power_band(90.0)]}
    found = alert([unknown, lamp, fridge, house, TV], usual, automatic=automatic)
    assert found == LongOn(TV_ON + 17_100, TV, 2.5)


def test_the_usual_run_is_read_at_the_switch_ons_hour_in_the_households_zone() -> None:
    # Monday 19:00 in Seoul is Monday 10:00 UTC: nothing is learned at hour 10.
    assert alert([TV], {"tv": usual_at(10, 2.5)}) is None


# --- programme_runs and switch_stream -----------------------------------------------------------


def test_runs_are_ordered_by_switch_on_time_then_plug_whatever_order_they_end_in() -> None:
    switches = [
        (0, AGGREGATE, True, 3000.0),  # the whole-house meter has no programmes
        (50, "tv", False, 0.0),  # the end of a programme begun before the history: ignored
        (100, "tv", True, 110.0),
        (100, "lamp", True, 40.0),
        (200, "lamp", False, 0.0),
        (300, "tv", False, 0.0),
        (400, "lamp", True, 40.0),  # the lamp's first run ends here, before the TV's
        (500, "lamp", False, 0.0),
        (5000, "tv", True, 110.0),
    ]
    assert programme_runs(switches, now=6000) == [
        Run("lamp", 100, 40.0, 200),
        Run("tv", 100, 110.0, 300),
        Run("lamp", 400, 40.0, 500),
    ]


def test_switch_offs_go_before_switch_ons_at_the_same_second_and_plugs_by_name() -> None:
    ons = [PowerEvent(100, "tv", 110.0), PowerEvent(200, "a_lamp", 40.0)]
    offs = [(100, "tv"), (150, "heater"), (200, "b_heater")]
    assert switch_stream(ons, offs) == [
        (100, "tv", False, 0.0),
        (100, "tv", True, 110.0),
        (150, "heater", False, 0.0),
        (200, "a_lamp", True, 40.0),
        (200, "b_heater", False, 0.0),
    ]


# --- fit_long_on ----------------------------------------------------------------------------------


def test_the_usual_run_pools_the_hour_before_and_after_across_days_from_five_runs() -> None:
    runs = []
    for day in range(5):  # five evenings: 3 h from 18:00, 1 h from 20:00 (Seoul)
        runs.append(Run("tv", at(day, 18), 110.0, at(day, 21)))
        runs.append(Run("tv", at(day, 20), 110.0, at(day, 21)))
    runs.append(Run("lamp", at(0, 18), 40.0, at(0, 19)))  # too few runs: nothing learned
    usual = fit_long_on(runs, {}, timezone=ZONE)
    assert set(usual) == {"tv"}
    tv = usual["tv"]
    # Monday (hours 0-23) and Sunday (144-167) alike: 17:00 sees 18:00's runs, 21:00 sees 20:00's.
    for day in (0, 6):
        hours = tv[day * 24 + 15 : day * 24 + 23]
        assert hours == [None, None, 3.0, 3.0, 3.0, 1.0, 1.0, None]


def test_the_same_hour_of_the_week_pools_only_the_hour_before_and_after() -> None:
    # Five Mondays with a 1 h run from 20:00, and one Monday with a 4 h run from 21:00.
    runs = [Run("tv", at(7 * week, 20), 110.0, at(7 * week, 21)) for week in range(5)]
    runs.append(Run("tv", at(0, 21), 110.0, at(0, 1 + 24)))
    usual = fit_long_on(runs, {}, timezone=ZONE)["tv"]
    assert usual[19] == 1.0  # 18:00-20:00: the five 1 h runs, not the 4 h run two hours later
    assert usual[20] == 4.0 and usual[21] == 4.0


def test_an_unfinished_or_whole_house_run_first_in_the_list_does_not_stop_the_fit() -> None:
    evenings = [Run("tv", at(day, 19), 110.0, at(day, 21, 30)) for day in range(5)]
    runs = [Run("tv", at(5, 19), 110.0), Run(AGGREGATE, at(0, 19), 3000.0, at(0, 23)), *evenings]
    usual = fit_long_on(runs, {}, timezone=ZONE)
    assert set(usual) == {"tv"} and usual["tv"][19] == 2.5
