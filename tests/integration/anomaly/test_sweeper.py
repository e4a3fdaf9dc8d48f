"""The sweeper opens and clears inactivity cases through the lifecycle, on both dialects."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from anomaly import sweeper
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, CaseStatus, MonitoringState, WatchStatus
from core.models import Case, Household, Watch
from core.settings import Settings
from tests.factories import make_device, make_household, make_watch

SETTINGS = Settings(inactivity_default_hours=12)


def _household_with_activity(engine: Engine, clock: ManualClock, *, hours_ago: float) -> int:
    last = clock.now() - timedelta(hours=hours_ago)
    with session_scope(engine) as s:
        h = make_household(s)
        d = make_device(s, household=h, appliance="kettle")
        make_watch(
            s,
            h,
            status=WatchStatus.UP,
            last_activity_at=last,
            last_activity_device_id=d.id,
            alert_after=last + timedelta(hours=12),
        )
        assert h.id is not None
        return h.id


def _cases(engine: Engine) -> list[Case]:
    with Session(engine) as s:
        return list(s.exec(select(Case)).all())


def test_quiet_household_gets_one_inactivity_case(engine: Engine, clock: ManualClock) -> None:
    hid = _household_with_activity(engine, clock, hours_ago=11)
    assert sweeper.tick(engine, clock, SETTINGS).opened == 0
    assert _cases(engine) == []

    clock.advance(timedelta(hours=1, seconds=1))
    result = sweeper.tick(engine, clock, SETTINGS)
    assert result.opened == 1
    # A second tick must not open a second case.
    assert sweeper.tick(engine, clock, SETTINGS).opened == 0
    cases = _cases(engine)
    assert len(cases) == 1
    case = cases[0]
    assert (case.household_id, case.kind, case.status) == (hid, CaseKind.INACTIVITY, CaseStatus.OPEN)
    assert "전기포트" in case.explanation
    assert case.policy_snapshot  # the escalation policy was snapshotted when the case opened
    with Session(engine) as s:
        assert s.get_one(Watch, hid).status == WatchStatus.OVERDUE


def test_activity_resuming_clears_the_case(engine: Engine, clock: ManualClock) -> None:
    hid = _household_with_activity(engine, clock, hours_ago=13)
    sweeper.tick(engine, clock, SETTINGS)
    clock.advance(timedelta(minutes=10))
    # What the gateway does on a new ON edge: newer activity and a later deadline.
    with session_scope(engine) as s:
        w = s.get_one(Watch, hid)
        w.last_activity_at = clock.now()
        w.alert_after = clock.now() + timedelta(hours=12)
    result = sweeper.tick(engine, clock, SETTINGS)
    assert result.recovered == 1
    [case] = _cases(engine)
    assert case.status == CaseStatus.CLEARED
    assert case.clear_reason == "activity_resumed"
    with Session(engine) as s:
        assert s.get_one(Watch, hid).status == WatchStatus.UP


def test_checkin_rearms_the_watch_instead_of_alerting(engine: Engine, clock: ManualClock) -> None:
    hid = _household_with_activity(engine, clock, hours_ago=11)
    with session_scope(engine) as s:
        s.get_one(Watch, hid).last_checkin_at = clock.now()
    clock.advance(timedelta(hours=2))
    result = sweeper.tick(engine, clock, SETTINGS)
    assert result.opened == 0 and result.rearmed == 1
    with Session(engine) as s:
        assert s.get_one(Watch, hid).alert_after == clock.now() - timedelta(hours=2) + timedelta(hours=12)


def test_paused_household_is_not_alerted_until_pause_ends(engine: Engine, clock: ManualClock) -> None:
    hid = _household_with_activity(engine, clock, hours_ago=20)
    with session_scope(engine) as s:
        h = s.get_one(Household, hid)
        h.monitoring = MonitoringState.PAUSED
        h.paused_until = clock.now() + timedelta(days=1)
    assert sweeper.tick(engine, clock, SETTINGS).skipped_paused == 1
    assert _cases(engine) == []
    clock.advance(timedelta(days=1, seconds=1))
    # The pause ended with no activity: staff are reminded, the resident is not called at once;
    # the quiet clock restarts at the end of the pause (tests/integration/anomaly/test_away_mode.py).
    result = sweeper.tick(engine, clock, SETTINGS)
    assert result.opened == 0 and result.away_reminders == 1
    clock.advance(timedelta(hours=12))
    assert sweeper.tick(engine, clock, SETTINGS).opened == 1


def _silent_or_due_household(s: Session, clock: ManualClock, *, silent: bool) -> int:
    """Quiet for 10 h on a 6 h rule; ``silent``: its plug stopped reporting 9 h ago (a data gap)."""
    last = clock.now() - timedelta(hours=10)
    h = make_household(s, quiet_hours=6, with_resident=not silent, contacts=0 if silent else 1)
    d = make_device(s, household=h, appliance="kettle")
    d.last_seen_at = d.last_reading_at = clock.now() - timedelta(hours=9 if silent else 0, minutes=1)
    # Held households fall due first: they would be first in line by due time.
    due_at = last + timedelta(hours=6, minutes=0 if silent else 1)
    make_watch(
        s, h, status=WatchStatus.UP, last_activity_at=last, last_activity_device_id=d.id, alert_after=due_at
    )
    assert h.id is not None
    return h.id


def test_households_held_for_a_data_gap_never_crowd_out_due_ones(engine: Engine, clock: ManualClock) -> None:
    """Issue 15: 600 households whose plugs went silent (a power cut in one block) filled the
    sweeper's 500-per-tick budget, and 10 genuinely overdue households got no case at all."""
    with session_scope(engine) as s:
        for _ in range(600):
            _silent_or_due_household(s, clock, silent=True)
        due = {_silent_or_due_household(s, clock, silent=False) for _ in range(10)}
    result = sweeper.tick(engine, clock, SETTINGS)
    assert result.opened == 10
    assert {c.household_id for c in _cases(engine)} == due
    assert result.held_data_gap == 600


def test_households_away_never_crowd_out_due_ones(engine: Engine, clock: ManualClock) -> None:
    """The same for paused households (away for the holidays): their deadlines pass while away."""
    with session_scope(engine) as s:
        for _ in range(4):
            hid = _silent_or_due_household(s, clock, silent=True)
            away = s.get_one(Household, hid)
            away.monitoring, away.paused_until = MonitoringState.PAUSED, clock.now() + timedelta(days=3)
        due = {_silent_or_due_household(s, clock, silent=False) for _ in range(2)}
    result = sweeper.tick(engine, clock, SETTINGS, limit=2)
    assert (result.opened, result.skipped_paused) == (2, 4)
    assert {c.household_id for c in _cases(engine)} == due
