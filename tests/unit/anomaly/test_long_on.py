"""On far longer than usual (issue 18): a plug left on well past its usual run is a finding of its
own, learned per household from the plug's history; automatic and always-on loads are never judged
(simulated traces only, never the real set)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from anomaly.detector import DetectorParams, HouseholdDetector
from anomaly.ladder import LadderParams
from anomaly.long_on import Run, fit_long_on, programme_runs
from anomaly.routine import Routine
from tests.unit.anomaly import test_house_on as house_on

ZONE = "Asia/Seoul"
START = datetime(2026, 1, 5, tzinfo=ZoneInfo(ZONE))  # Monday 00:00 local
STOP_DAY = 14
TV_ON = (19, 0)  # the TV is watched from 19:00 for two hours every evening
ON = DetectorParams(fallback_hours=20)  # the default ladder: the long-on rule is on
OFF = replace(ON, ladder=LadderParams(long_margin=None))


def minute(day: int, hour: int, m: int = 0) -> int:
    return day * 1440 + hour * 60 + m


def trace(
    days: int, *, tv_left_on: bool = False, tv_off_after_h: float | None = None, fridge_long: bool = False
) -> list[tuple[int, dict[str, float]]]:
    """A resident living alone: the kettle at 07:10, 12:10 and 16:10, the TV from 19:00 to 21:00; a
    fridge on its own plug cycles 15 min every hour (automatic); a router plug is always on. On the
    stop day the TV is switched on as usual and then nothing else happens: ``tv_left_on`` keeps it on
    (``tv_off_after_h``: until it goes off after all). ``fridge_long``: after the stop, the fridge's
    compressor runs for ten hours (a defrost fault), which is no sign of anything about the resident."""
    rows = []
    stop = minute(STOP_DAY, *TV_ON)
    for m in range(days * 1440):
        day, hod = divmod(m, 1440)
        kettle = hod in {7 * 60 + 10, 12 * 60 + 10, 16 * 60 + 10}
        tv = minute(0, *TV_ON) <= hod < minute(0, *TV_ON) + 120
        if m >= stop:
            kettle = False
            tv = tv_left_on and (tv_off_after_h is None or m < stop + tv_off_after_h * 60)
        fridge = m % 60 < 15 or (fridge_long and stop <= m < stop + 600)
        ts = int((START + timedelta(minutes=m)).timestamp())
        readings = {
            "kettle": 2000.0 if kettle else 0.0,
            "tv": 110.0 if tv else 0.5,
            "fridge": 90.0 if fridge else 1.0,
            "router": 9.0 + (day % 2),
        }
        rows.append((ts, readings))
    return rows


def run(
    rows: list[tuple[int, dict[str, float]]], params: DetectorParams, *, finish: bool = True
) -> HouseholdDetector:
    """The detector over ``rows`` (and the stop's next 48 h without data when ``finish``)."""
    return house_on.run(rows, params, finish=finish, zone=ZONE)


def first_alert_h(detector: HouseholdDetector) -> float:
    stop = int((START + timedelta(minutes=minute(STOP_DAY, *TV_ON))).timestamp())
    hits = [a.at for a in detector.alerts if a.kind == "inactivity" and a.at >= stop]
    return (hits[0] - stop) / 3600


def test_runs_last_from_a_switch_on_to_the_last_switch_off_before_the_next() -> None:
    switches = [
        (0, "tv", True, 100.0),
        (3600, "tv", False, 0.0),  # a pause within the programme (the switch-on rule makes no new ON)
        (4000, "tv", False, 0.0),
        (9000, "tv", True, 100.0),
        (9600, "tv", False, 0.0),
        (20000, "kettle", True, 2000.0),  # still on: not finished
    ]
    assert programme_runs(switches, now=9600 + 600) == [Run("tv", 0, 100.0, 4000)]
    # Off for a programme gap by now: the last run cannot resume, so it is finished too.
    assert programme_runs(switches, now=9600 + 1800)[-1] == Run("tv", 9000, 100.0, 9600)


def test_the_fit_learns_the_usual_run_of_a_plug_per_hour_and_never_of_an_automatic_one() -> None:
    day = 86400
    tv = [Run("tv", d * day + 19 * 3600, 110.0, d * day + 21 * 3600) for d in range(7)]
    fridge = [Run("fridge", d * 3600, 90.0, d * 3600 + 900) for d in range(24 * 7)]
    usual = fit_long_on([*tv, *fridge], {"fridge": [12]}, timezone="UTC")
    assert set(usual) == {"tv"}  # the fridge's band (90 W: band 12) is automatic
    assert usual["tv"][19] == 2.0 and usual["tv"][20] == 2.0  # pooled over ± 1 h
    assert usual["tv"][12] is None  # no evening TV at noon: nothing to judge by
    # Stored in the routine's JSON and read back the same (the live path's routine_model row).
    routine = Routine("UTC", 0, 10, [], [0.5] * 168, [8.0] * 168, long_on=usual)
    assert Routine.from_json(routine.to_json()).long_on == usual


@pytest.mark.slow
def test_a_tv_left_on_long_past_its_usual_run_alerts_within_hours_and_says_why() -> None:
    left_on = run(trace(STOP_DAY + 2, tv_left_on=True), ON)
    assert left_on.routine is not None and left_on.routine.long_on["tv"][19] == 2.0
    delay = first_alert_h(left_on)
    assert 3.5 <= delay <= 4.5  # switched on 19:00, usually off by 21:00: 1.5 x 2 h + 1 h
    alert = next(a for a in left_on.alerts if a.kind == "inactivity")
    assert "TV has been on since" in alert.explanation and "usually off by 21:00" in alert.explanation
    # Without the rule the same evening waits for the base-load ladder (the usual night + morning).
    assert first_alert_h(run(trace(STOP_DAY + 2, tv_left_on=True), OFF)) > delay + 5


@pytest.mark.slow
def test_a_tv_switched_off_ends_the_long_on_deadline() -> None:
    """The TV goes off an hour past its usual run (a person acted, or it switched itself off)."""
    switched_off = run(trace(STOP_DAY + 2, tv_left_on=True, tv_off_after_h=3), ON)
    assert first_alert_h(switched_off) > 5
    assert not any("has been on since" in a.explanation for a in switched_off.alerts)


@pytest.mark.slow
def test_automatic_and_always_on_loads_raise_no_long_on_case() -> None:
    """A fridge running ten hours and a router that is never off: no finding about the resident."""
    fridge = run(trace(STOP_DAY + 2, fridge_long=True), ON)
    plain = run(trace(STOP_DAY + 2), ON)
    assert fridge.routine is not None and "fridge" not in fridge.routine.long_on
    assert "router" not in fridge.routine.long_on
    assert [a.at for a in fridge.alerts] == [a.at for a in plain.alerts]
    assert not any("has been on since" in a.explanation for a in fridge.alerts)


@pytest.mark.slow
def test_usual_evenings_raise_no_case() -> None:
    usual = run(trace(STOP_DAY), ON, finish=False)
    assert usual.routine is not None and "tv" in usual.routine.long_on
    assert [a for a in usual.alerts if a.kind == "inactivity"] == []
