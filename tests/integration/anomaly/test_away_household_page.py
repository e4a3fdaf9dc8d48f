"""What the household page shows staff: open away reminders / findings, and "looks away"."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, insert
from sqlmodel import Session

from anomaly import sweeper
from api.household_queries import household_detail
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, EdgeKind, MonitoringState, WatchStatus
from core.models import ActivityEdge, Household, Reading
from core.settings import Settings
from tests.factories import make_device, make_household, make_watch

SETTINGS = Settings(inactivity_default_hours=12)


def away_period_ended(engine: Engine, clock: ManualClock) -> int:
    """A household paused for an hour (away) whose pause the sweeper has just ended; its id."""
    with session_scope(engine) as s:
        h = make_household(s)
        make_watch(s, h, status=WatchStatus.UP, last_activity_at=clock.now() - timedelta(days=2))
        h.monitoring, h.paused_until = MonitoringState.PAUSED, clock.now() + timedelta(hours=1)
        hid = h.id
    assert hid is not None
    clock.advance(timedelta(hours=1, seconds=1))
    sweeper.tick(engine, clock, SETTINGS)
    return hid


def test_an_ended_away_period_is_listed_for_staff_with_its_explanation(
    engine: Engine, clock: ManualClock
) -> None:
    hid = away_period_ended(engine, clock)
    with Session(engine) as s:
        detail = household_detail(s, s.get_one(Household, hid), now=clock.now())
    [note] = detail.notes
    assert note.kind == CaseKind.AWAY_ENDED and "부재 기간(외출·입원)이" in note.explanation
    assert detail.monitoring == MonitoringState.ACTIVE


def _meter_household(engine: Engine, clock: ManualClock, *, last_day_w: float) -> tuple[int, int]:
    """A whole-house meter reporting every minute for 8 days: cooking peaks in the first week,
    then ``last_day_w`` for the last 24 hours."""
    now = clock.now()
    with session_scope(engine) as s:
        h = make_household(s)
        make_watch(s, h, status=WatchStatus.UP, last_activity_at=now - timedelta(days=1, hours=1))
        meter = make_device(s, household=h, appliance="aggregate")
        assert h.id is not None and meter.id is not None
        rows = []
        for m in range(8 * 24 * 60):
            ts = now - timedelta(days=8) + timedelta(minutes=m)
            recent = ts >= now - timedelta(hours=24)
            watts = last_day_w if recent else 120.0 + (1800.0 if m % 480 < 30 else 0.0)
            rows.append(
                {"device_id": meter.id, "channel": "0", "ts": ts, "received_at": ts, "power_w": watts}
            )
        s.execute(insert(Reading), rows)
        return h.id, meter.id


def test_whole_house_at_base_load_for_a_day_suggests_away(engine: Engine, clock: ManualClock) -> None:
    hid, _ = _meter_household(engine, clock, last_day_w=130.0)
    with Session(engine) as s:
        detail = household_detail(s, s.get_one(Household, hid), now=clock.now())
    assert detail.looks_away is not None
    assert detail.looks_away.base_w == 120.0 and detail.looks_away.peak_w == 130.0
    assert detail.notes == []  # a suggestion, not a case


def test_no_suggestion_when_someone_used_something_or_away_mode_is_set(
    engine: Engine, clock: ManualClock
) -> None:
    hid, meter = _meter_household(engine, clock, last_day_w=130.0)
    with session_scope(engine) as s:
        s.add(
            ActivityEdge(
                household_id=hid,
                device_id=meter,
                channel="0",
                ts=clock.now() - timedelta(hours=3),
                kind=EdgeKind.ON,
                power_w=1500.0,
            )
        )
    with Session(engine) as s:
        assert household_detail(s, s.get_one(Household, hid), now=clock.now()).looks_away is None
    other, _ = _meter_household(engine, clock, last_day_w=130.0)
    with session_scope(engine) as s:
        h = s.get_one(Household, other)
        h.monitoring, h.paused_until = MonitoringState.PAUSED, clock.now() + timedelta(days=3)
    with Session(engine) as s:
        assert household_detail(s, s.get_one(Household, other), now=clock.now()).looks_away is None
