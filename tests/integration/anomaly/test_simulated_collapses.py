"""The simulator's two kinds of collapse (issue 18) through the detector: a resident who collapses
while watching TV (it stays on) is found within hours, by the long-on rule and with its words; one
who collapses in bed (everything off) is judged by the base-load ladder, as before."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from anomaly.detector import DetectorParams, HouseholdDetector
from core.enums import Language
from simulator.households import Collapse, DeviceSpec, HouseholdSpec, RoutineSlot, activity_events

ZONE = "Asia/Seoul"
START = datetime(2026, 3, 2, tzinfo=ZoneInfo(ZONE))  # Monday 00:00 local
DAYS = 16
KETTLE = DeviceSpec("kettle", "native", "kettle")
TV = DeviceSpec("tv", "native", "tv")
RICE = DeviceSpec("rice", "native", "rice_cooker")
# The resident's day; the TV in the evening for 2.5-3.5 h (the simulator's TV).
ROUTINE = (
    RoutineSlot("kettle", time(7, 0), time(8, 0)),
    RoutineSlot("rice", time(11, 30), time(12, 0)),
    RoutineSlot("kettle", time(15, 0), time(15, 30)),
    RoutineSlot("tv", time(19, 0), time(19, 20)),
)


def home(stop_at: datetime, collapse: Collapse) -> HouseholdSpec:
    return HouseholdSpec(
        code="SIM-001",
        resident_name="시뮬레이션",
        resident_phone="+821000000001",
        devices=(KETTLE, TV, RICE),
        routine=ROUTINE,
        timezone=ZONE,
        seed=3,
        stop_at=stop_at,
        collapse=collapse,
    )


def replay(spec: HouseholdSpec) -> HouseholdDetector:
    """The simulator's readings (every 5 min and at each change), one minute at a time."""
    detector = HouseholdDetector(spec.code, ZONE, DetectorParams(fallback_hours=20), Language.EN)
    minutes: dict[int, dict[str, float]] = {}
    for device, at, watts in activity_events(
        spec, START, START + timedelta(days=DAYS), report_interval_s=300
    ):
        ts = int(at.timestamp())
        minutes.setdefault(ts - ts % 60, {})[device] = watts
    for ts in sorted(minutes):
        detector.feed(ts, minutes[ts])
    return detector


@pytest.mark.slow
def test_a_collapse_in_front_of_the_tv_is_found_hours_before_one_in_bed() -> None:
    # The evening of day 14, twenty minutes after the TV went on.
    evening = START + timedelta(days=14, hours=19, minutes=40)
    delays = {}
    for collapse in ("active", "in_bed"):
        detector = replay(home(evening, collapse))
        hits = [a for a in detector.alerts if a.kind == "inactivity" and a.at >= evening.timestamp()]
        assert hits, collapse
        delays[collapse] = (hits[0].at - evening.timestamp()) / 3600
        if collapse == "active":
            assert "TV has been on since" in hits[0].explanation
            when = datetime.fromtimestamp(hits[0].at, UTC)
        else:
            assert "has been on since" not in hits[0].explanation
    assert delays["active"] < 7 and delays["in_bed"] > delays["active"] + 4
    assert when.astimezone(ZoneInfo(ZONE)).date() == evening.date() + timedelta(days=1)  # that night
