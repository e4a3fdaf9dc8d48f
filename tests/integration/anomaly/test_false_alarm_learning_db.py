"""A false alarm the resident confirmed teaches the routine (SQLite and PostgreSQL).

Each test runs one household through: a routine fitted (11 usual days), a night of quiet that
the morning check turns into an inactivity case, the case ending one way or another, the next
evening's activity, and the refit as of the next local midnight. The watch's ``alert_after`` for
that same night-time quiet is then compared with the one the same refit gives when the case never
existed (case deleted, routine refitted): later only when the quiet was confirmed fine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, delete
from sqlmodel import Session, select

from anomaly import sweeper, training
from anomaly.routine import HOURS_PER_WEEK, Routine, hour_of_week
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, CaseStatus, EdgeKind, Intent, ResolutionCode, WatchStatus
from core.models import ActivityEdge, Case, CaseEvent, RoutineModel, RoutineRefit, Watch
from notifier import lifecycle
from notifier.replies import apply_reply
from tests.factories import make_household, make_open_case
from tests.integration.anomaly.test_routine_training_db import DAY0, SETTINGS, ZONE, _seed_history

DAYS = 11
NEXT_EVENING = DAY0 + timedelta(days=DAYS, hours=20, minutes=1)  # the same quiet, one day later


def _open_case(engine: Engine, clock: ManualClock) -> tuple[int, int, datetime]:
    """Routine fitted as of day 11's midnight; the night after day 10's 20:01 turns into a case."""
    hid, device_id = _seed_history(engine, days=DAYS)
    clock.set(DAY0 + timedelta(days=DAYS, hours=1))
    assert training.tick(engine, clock, SETTINGS) == 1
    with Session(engine) as s:
        alert_after = s.get_one(Watch, hid).alert_after
    assert alert_after is not None
    # the morning check: day 10 ended at 20:01 and day 11's latest usual start (08:01) + 1.5 h
    assert alert_after == DAY0 + timedelta(days=DAYS, hours=9, minutes=31)
    clock.set(alert_after)
    assert sweeper.tick(engine, clock, SETTINGS).opened == 1
    return hid, device_id, alert_after + timedelta(minutes=30)


def _case(s: Session, hid: int) -> Case:
    return s.exec(select(Case).where(Case.household_id == hid, Case.kind == CaseKind.INACTIVITY)).one()


def _resident_ok(engine: Engine, clock: ManualClock, hid: int, _device: int, at: datetime) -> None:
    clock.set(at)
    with session_scope(engine) as s:
        apply_reply(
            s, household_id=hid, case=_case(s, hid), intent=Intent.OK, now=at, actor="call:1", channel="call"
        )
    sweeper.tick(engine, clock, SETTINGS)
    with Session(engine) as s:
        assert _case(s, hid).clear_reason in ("resident_ok", "resident_checked_in")


def _activity(engine: Engine, clock: ManualClock, hid: int, device: int, at: datetime) -> None:
    clock.set(at)
    _add_activity(engine, hid, device, at)
    sweeper.tick(engine, clock, SETTINGS)
    with Session(engine) as s:
        case = _case(s, hid)
        assert case.status == CaseStatus.CLEARED and case.clear_reason == "activity_resumed"


def _ack_ok_then_resolved(code: ResolutionCode) -> Callable[[Engine, ManualClock, int, int, datetime], None]:
    """Staff acknowledge; the resident then says "I'm fine" (a check-in the sweeper records as the
    clear reason of the acknowledged case); staff close the case with ``code``."""

    def scenario(engine: Engine, clock: ManualClock, hid: int, device: int, at: datetime) -> None:
        clock.set(at - timedelta(minutes=10))
        with session_scope(engine) as s:
            lifecycle.acknowledge(s, _case(s, hid), actor="worker", now=at - timedelta(minutes=10))
        _resident_ok(engine, clock, hid, device, at)
        with session_scope(engine) as s:
            case = _case(s, hid)
            assert case.status == CaseStatus.ACKNOWLEDGED and case.clear_reason == "resident_checked_in"
            lifecycle.resolve(s, case, actor="worker", code=code, note=None, now=at + timedelta(hours=1))

    return scenario


def _unwell_then_ok(engine: Engine, clock: ManualClock, hid: int, device: int, at: datetime) -> None:
    clock.set(at - timedelta(minutes=5))
    with session_scope(engine) as s:
        apply_reply(
            s,
            household_id=hid,
            case=_case(s, hid),
            intent=Intent.UNWELL,
            now=at - timedelta(minutes=5),
            actor="call:1",
            channel="call",
        )
    _resident_ok(engine, clock, hid, device, at)


def _add_activity(engine: Engine, hid: int, device: int, at: datetime) -> None:
    """What ingest does for a human switch-on: an edge, and the watch's last activity (an overdue
    watch stays overdue until the sweeper sees the activity and clears the case)."""
    with session_scope(engine) as s:
        s.add(ActivityEdge(household_id=hid, device_id=device, ts=at, kind=EdgeKind.ON, power_w=1800))
        watch = s.get_one(Watch, hid)
        watch.last_activity_at, watch.last_activity_device_id = at, device
        if watch.status == WatchStatus.NEW:
            watch.status = WatchStatus.UP


def _refit_next_midnight(engine: Engine, clock: ManualClock, hid: int) -> tuple[datetime, Routine]:
    clock.set(DAY0 + timedelta(days=DAYS + 1, hours=1))
    assert training.tick(engine, clock, SETTINGS) == 1
    with Session(engine) as s:
        watch = s.get_one(Watch, hid)
        assert watch.last_activity_at == NEXT_EVENING and watch.alert_after is not None
        return watch.alert_after, Routine.from_json(s.get_one(RoutineModel, hid).model)


def _without_the_case(engine: Engine, clock: ManualClock, hid: int) -> tuple[datetime, Routine]:
    with session_scope(engine) as s:
        case = _case(s, hid)
        s.execute(delete(CaseEvent).where(CaseEvent.case_id == case.id))  # type: ignore[arg-type]
        s.delete(case)
        s.delete(s.get_one(RoutineModel, hid))
        s.delete(s.get_one(RoutineRefit, hid))  # and the record that it was refitted as of then
    return _refit_next_midnight(engine, clock, hid)


LEARNS = {
    "resident_ok": _resident_ok,
    "resolved_resident_fine": _ack_ok_then_resolved(ResolutionCode.RESIDENT_FINE),
}
DOES_NOT_LEARN = {
    "activity_resumed": _activity,
    "resolved_away": _ack_ok_then_resolved(ResolutionCode.FALSE_ALARM_AWAY),
    "resolved_hospital": _ack_ok_then_resolved(ResolutionCode.HOSPITAL),
    "unwell_then_ok": _unwell_then_ok,
}


@pytest.mark.parametrize("scenario", list(LEARNS))
def test_a_confirmed_false_alarm_makes_the_same_quiet_alert_later(
    engine: Engine, clock: ManualClock, scenario: str
) -> None:
    hid, device, at = _open_case(engine, clock)
    LEARNS[scenario](engine, clock, hid, device, at)
    _add_activity(engine, hid, device, NEXT_EVENING)
    learned, routine = _refit_next_midnight(engine, clock, hid)
    baseline, plain = _without_the_case(engine, clock, hid)
    assert routine.confirmed_false_alarms == 1 and plain.confirmed_false_alarms == 0
    # the morning check now waits for the confirmed late start (10:01) + 1.5 h
    assert baseline == DAY0 + timedelta(days=DAYS + 1, hours=9, minutes=31)
    assert learned == DAY0 + timedelta(days=DAYS + 1, hours=11, minutes=31)
    # and the confirmed 20:01 → 10:01 quiet is a usual gap for the hour-of-week it began in
    began = hour_of_week((DAY0 + timedelta(days=DAYS - 1, hours=20, minutes=1)).timestamp(), ZoneInfo(ZONE))
    assert plain.quiet_gap_h[began] == pytest.approx(12.0, abs=0.01)
    assert routine.quiet_gap_h[began] == pytest.approx(14.0, abs=0.02)
    assert (
        routine.quiet_gap_h[(began + 24) % HOURS_PER_WEEK] == plain.quiet_gap_h[(began + 24) % HOURS_PER_WEEK]
    )


@pytest.mark.parametrize("scenario", list(DOES_NOT_LEARN))
def test_other_endings_teach_the_routine_nothing(engine: Engine, clock: ManualClock, scenario: str) -> None:
    hid, device, at = _open_case(engine, clock)
    DOES_NOT_LEARN[scenario](engine, clock, hid, device, at)
    _add_activity(engine, hid, device, NEXT_EVENING)
    after, routine = _refit_next_midnight(engine, clock, hid)
    baseline, plain = _without_the_case(engine, clock, hid)
    assert routine.confirmed_false_alarms == 0
    assert after == baseline
    assert routine.to_json() == plain.to_json()


def test_confirmed_quiets_start_at_the_last_sign_of_life_and_age_out(engine: Engine) -> None:
    """``confirmed_quiets`` directly: a quiet that followed an earlier "I'm fine" starts at that
    check-in, not at the switch-on before it; what staff have not decided, or decided after the
    refit's midnight, or that began before the window, is not used."""
    t0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    end = t0 + timedelta(hours=100)
    with session_scope(engine) as s:
        household = make_household(s)
        hid = household.id
        assert hid is not None

        def case(opened_h: float, closed_h: float, how: str) -> None:
            c = make_open_case(s, household, now=t0 + timedelta(hours=opened_h))
            at = t0 + timedelta(hours=closed_h)
            if how == "ack":
                lifecycle.acknowledge(s, c, actor="worker", now=at - timedelta(minutes=1))
            if how in ("ok", "ack"):
                lifecycle.clear(s, c, reason="resident_ok", now=at)
            else:
                lifecycle.resolve(s, c, actor="worker", code=ResolutionCode(how), note=None, now=at)

        case(10, 11, "ok")  # last switch-on at t0: 0 h → 11 h
        case(30, 31, "ok")  # nothing since the "I'm fine" at 11 h: 11 h → 31 h
        case(50, 51, "false_alarm_away")
        case(60, 101, "resident_fine")  # staff decided after the refit's midnight (100 h)
        case(80, 81, "ack")  # acknowledged (still active, so last): staff have not decided yet
    human = [int(t0.timestamp()), int((t0 + timedelta(hours=35)).timestamp())]
    with Session(engine) as s:
        got = training.confirmed_quiets(s, hid, human, start=t0, end=end)
        assert [(q.start - human[0], q.end - human[0]) for q in got] == [
            (0, 11 * 3600),
            (11 * 3600, 31 * 3600),
        ]
        later = training.confirmed_quiets(s, hid, human[1:], start=t0 + timedelta(hours=12), end=end)
        assert later == []  # both quiets began before the window
