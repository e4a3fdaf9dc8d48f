"""Away mode ends: monitoring resumes from the end of the pause and staff get one reminder."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from anomaly import sweeper
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, CaseStatus, MonitoringState, RecipientKind, Role, Severity, WatchStatus
from core.models import CallAttempt, Case, Household, Notification, Team, Watch
from core.settings import Settings
from tests.factories import make_device, make_household, make_user, make_watch
from tests.ticks import run_notifier_ticks

SETTINGS = Settings(inactivity_default_hours=12)


def _paused_household(
    engine: Engine, clock: ManualClock, *, active_hours_ago: float | None, pause_days: float = 3
) -> int:
    """A household paused now until ``pause_days`` ahead, last active ``active_hours_ago``."""
    with session_scope(engine) as s:
        h = make_household(s)
        make_user(s, role=Role.CASEWORKER, team=s.get_one(Team, h.team_id))
        d = make_device(s, household=h, appliance="kettle")
        if active_hours_ago is None:
            make_watch(s, h, status=WatchStatus.NEW)
        else:
            last = clock.now() - timedelta(hours=active_hours_ago)
            make_watch(
                s,
                h,
                status=WatchStatus.UP,
                last_activity_at=last,
                last_activity_device_id=d.id,
                alert_after=last + timedelta(hours=12),
            )
        h.monitoring = MonitoringState.PAUSED
        h.paused_until = clock.now() + timedelta(days=pause_days)
        assert h.id is not None
        return h.id


def _cases(engine: Engine, kind: CaseKind | None = None) -> list[Case]:
    with Session(engine) as s:
        stmt = select(Case).order_by(Case.id)  # type: ignore[arg-type]
        if kind is not None:
            stmt = stmt.where(Case.kind == kind)
        return list(s.exec(stmt).all())


def _activity(engine: Engine, hid: int, clock: ManualClock) -> None:
    """What the gateway does on a human switch-on."""
    with session_scope(engine) as s:
        w = s.get_one(Watch, hid)
        w.last_activity_at = clock.now()
        w.alert_after = clock.now() + timedelta(hours=12)
        if w.status == WatchStatus.NEW:
            w.status = WatchStatus.UP


def test_pause_ending_without_activity_reminds_staff_once_and_never_calls(
    engine: Engine, clock: ManualClock
) -> None:
    hid = _paused_household(engine, clock, active_hours_ago=2)
    clock.advance(timedelta(days=2))
    assert sweeper.tick(engine, clock, SETTINGS).pauses_ended == 0  # still away
    clock.advance(timedelta(days=1, minutes=1))
    ended_at = clock.now() - timedelta(minutes=1)

    first = sweeper.tick(engine, clock, SETTINGS)
    assert (first.pauses_ended, first.away_reminders, first.opened) == (1, 1, 0)
    for _ in range(3):  # later ticks (and a second sweeper) must not remind again
        again = sweeper.tick(engine, clock, SETTINGS)
        assert (again.pauses_ended, again.away_reminders) == (0, 0)
    [reminder] = _cases(engine)
    assert (reminder.kind, reminder.severity, reminder.status) == (
        CaseKind.AWAY_ENDED,
        Severity.WARNING,
        CaseStatus.OPEN,
    )
    assert "부재 기간(외출·입원)이" in reminder.explanation  # Korean by default, says what happened
    with Session(engine) as s:
        h = s.get_one(Household, hid)
        assert h.monitoring == MonitoringState.ACTIVE and h.paused_until == ended_at
        # The quiet clock restarts at the end of the pause: not overdue the minute it ends.
        w = s.get_one(Watch, hid)
        assert w.status == WatchStatus.UP and w.alert_after == ended_at + timedelta(hours=12)

    # The escalation engine tells the caseworker; the resident is never rung or texted.
    for _ in range(5):
        run_notifier_ticks(engine, clock, SETTINGS)
        clock.advance(timedelta(minutes=30))
    with Session(engine) as s:
        assert s.exec(select(CallAttempt)).all() == []
        kinds = {n.recipient_kind for n in s.exec(select(Notification)).all()}
        assert kinds == {RecipientKind.USER}


def test_monitoring_resumes_and_opens_an_inactivity_case_if_still_nothing(
    engine: Engine, clock: ManualClock
) -> None:
    hid = _paused_household(engine, clock, active_hours_ago=30)
    clock.advance(timedelta(days=3, seconds=1))
    sweeper.tick(engine, clock, SETTINGS)
    assert _cases(engine, CaseKind.INACTIVITY) == []
    clock.advance(timedelta(hours=11, minutes=59))
    assert sweeper.tick(engine, clock, SETTINGS).opened == 0
    clock.advance(timedelta(minutes=2))
    assert sweeper.tick(engine, clock, SETTINGS).opened == 1  # not unwatched forever
    [case] = _cases(engine, CaseKind.INACTIVITY)
    assert "부재 기간(외출·입원)이" in case.explanation and case.household_id == hid


def test_recent_activity_means_the_resident_is_back_no_reminder(engine: Engine, clock: ManualClock) -> None:
    hid = _paused_household(engine, clock, active_hours_ago=1, pause_days=1)
    clock.advance(timedelta(hours=20))
    _activity(engine, hid, clock)  # home the evening before the end date
    clock.advance(timedelta(hours=4, seconds=1))
    result = sweeper.tick(engine, clock, SETTINGS)
    assert (result.pauses_ended, result.away_reminders) == (1, 0)
    assert _cases(engine) == []
    with Session(engine) as s:
        assert s.get_one(Household, hid).monitoring == MonitoringState.ACTIVE


def test_new_household_without_any_activity_is_watched_from_the_end(
    engine: Engine, clock: ManualClock
) -> None:
    hid = _paused_household(engine, clock, active_hours_ago=None, pause_days=1)
    clock.advance(timedelta(days=1, seconds=1))
    assert sweeper.tick(engine, clock, SETTINGS).away_reminders == 1
    with Session(engine) as s:
        w = s.get_one(Watch, hid)
        assert w.alert_after == clock.now() - timedelta(seconds=1) + timedelta(hours=12)
    clock.advance(timedelta(hours=12))
    assert sweeper.tick(engine, clock, SETTINGS).opened == 1


def test_activity_after_the_reminder_clears_it(engine: Engine, clock: ManualClock) -> None:
    hid = _paused_household(engine, clock, active_hours_ago=30, pause_days=1)
    clock.advance(timedelta(days=1, seconds=1))
    sweeper.tick(engine, clock, SETTINGS)
    clock.advance(timedelta(hours=3))
    _activity(engine, hid, clock)
    assert sweeper.tick(engine, clock, SETTINGS).away_cleared == 1
    [reminder] = _cases(engine)
    assert (reminder.status, reminder.clear_reason) == (CaseStatus.CLEARED, "activity_resumed")


def test_pausing_again_clears_the_reminder(engine: Engine, clock: ManualClock) -> None:
    hid = _paused_household(engine, clock, active_hours_ago=30, pause_days=1)
    clock.advance(timedelta(days=1, seconds=1))
    sweeper.tick(engine, clock, SETTINGS)
    with session_scope(engine) as s:  # staff extend the stay (POST /households/{id}/pause)
        h = s.get_one(Household, hid)
        h.monitoring, h.paused_until = MonitoringState.PAUSED, clock.now() + timedelta(days=5)
    result = sweeper.tick(engine, clock, SETTINGS)
    assert result.away_cleared == 1 and result.opened == 0
    [reminder] = _cases(engine)
    assert (reminder.status, reminder.clear_reason) == (CaseStatus.CLEARED, "paused_again")


def test_the_end_of_an_away_period_does_not_clear_an_open_inactivity_case(
    engine: Engine, clock: ManualClock
) -> None:
    # Overdue before the pause (the case was still open when staff set the away period).
    hid = _paused_household(engine, clock, active_hours_ago=13, pause_days=1)
    with session_scope(engine) as s:
        h = s.get_one(Household, hid)
        h.monitoring, h.paused_until = MonitoringState.ACTIVE, None
    assert sweeper.tick(engine, clock, SETTINGS).opened == 1
    with session_scope(engine) as s:
        h = s.get_one(Household, hid)
        h.monitoring, h.paused_until = MonitoringState.PAUSED, clock.now() + timedelta(days=1)
    clock.advance(timedelta(days=1, seconds=1))
    result = sweeper.tick(engine, clock, SETTINGS)
    assert result.recovered == 0 and result.pauses_ended == 1
    [inactivity] = _cases(engine, CaseKind.INACTIVITY)
    assert inactivity.status == CaseStatus.OPEN  # only a real sign of life clears it
    with Session(engine) as s:
        assert s.get_one(Watch, hid).status == WatchStatus.OVERDUE
