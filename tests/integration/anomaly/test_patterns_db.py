"""The pattern tick on a real database: a staff-only, low-severity case, once, never a call."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert
from sqlmodel import Session, select

from anomaly import patterns
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, CaseStatus, EdgeKind, MonitoringState, ResolutionCode, Role, Severity
from core.models import ActivityEdge, CallAttempt, Case, Household, Notification, Reading, Team
from core.settings import Settings
from notifier import lifecycle
from tests.factories import make_device, make_household, make_user, make_watch
from tests.ticks import run_notifier_ticks
from tests.unit.anomaly.test_patterns import simulate

SETTINGS = Settings()
DAYS = 45


def _restless_last_night(i: int, rng: random.Random) -> list[float]:
    return [rng.uniform(0.5, 5.5) for _ in range(10)] if i == DAYS else []


def _household(engine: Engine, clock: ManualClock, *, seed: int, restless: bool) -> int:
    """A household whose plug reported every 5 minutes for DAYS local days and today so far
    (the clock is at 09:00 in Seoul; readings and switch-ons after it are not seen)."""
    first_day = clock.now().astimezone(ZoneInfo("Asia/Seoul")).date() - timedelta(days=DAYS)
    events, coverage = simulate(
        DAYS + 1, seed, start=first_day, extra=_restless_last_night if restless else None
    )
    with session_scope(engine) as s:
        h = make_household(s)
        make_user(s, role=Role.CASEWORKER, team=s.get_one(Team, h.team_id))
        d = make_device(s, household=h, appliance="kettle")
        make_watch(s, h, last_activity_at=datetime.fromtimestamp(events[-1], UTC))
        assert h.id is not None and d.id is not None
        start, end = min(coverage), max(coverage) + 3600
        s.execute(
            insert(Reading),
            [
                {"device_id": d.id, "channel": "0", "ts": t, "received_at": t, "power_w": 1.0}
                for t in (datetime.fromtimestamp(x, UTC) for x in range(start, end, 300))
            ],
        )
        s.execute(
            insert(ActivityEdge),
            [
                {
                    "household_id": h.id,
                    "device_id": d.id,
                    "channel": "0",
                    "ts": datetime.fromtimestamp(ts, UTC),
                    "kind": EdgeKind.ON,
                    "power_w": 1500.0,
                }
                for ts in sorted(set(events))
            ],
        )
        return h.id


def _cases(engine: Engine) -> list[Case]:
    with Session(engine) as s:
        return list(s.exec(select(Case)).all())


def test_restless_night_opens_one_staff_only_finding_and_never_calls(
    engine: Engine, clock: ManualClock
) -> None:
    hid = _household(engine, clock, seed=3, restless=True)
    quiet = _household(engine, clock, seed=4, restless=False)

    result = patterns.tick(engine, clock, SETTINGS)
    assert result.evaluated == 2 and result.opened == 1
    [case] = _cases(engine)
    assert (case.household_id, case.kind, case.severity, case.status) == (
        hid,
        CaseKind.UNUSUAL_NIGHT_ACTIVITY,
        Severity.WATCH,
        CaseStatus.OPEN,
    )
    assert case.next_action_at is None  # waits in the queue; no escalation step is due
    assert "03-02 밤 00:00–06:00" in case.explanation  # last night, reported the same morning
    assert all(c.household_id != quiet for c in _cases(engine))

    # Deduplicated: the same day evaluated again (another worker, a restart) adds nothing.
    assert patterns.tick(engine, clock, SETTINGS).opened == 0
    assert len(_cases(engine)) == 1

    # Nobody is called or texted about a finding, however long it stays open.
    for _ in range(4):
        clock.advance(timedelta(hours=1))
        run_notifier_ticks(engine, clock, SETTINGS)
    with Session(engine) as s:
        assert s.exec(select(CallAttempt)).all() == []
        assert s.exec(select(Notification)).all() == []


def test_a_finding_staff_closed_is_not_raised_again_the_same_day(engine: Engine, clock: ManualClock) -> None:
    _household(engine, clock, seed=5, restless=True)
    done: dict[int, tuple[date, date]] = {}
    assert patterns.tick(engine, clock, SETTINGS, done=done).opened == 1
    with session_scope(engine) as s:
        [case] = s.exec(select(Case)).all()
        lifecycle.resolve(
            s, case, actor="worker", code=ResolutionCode.RESIDENT_FINE, note=None, now=clock.now()
        )
    clock.advance(timedelta(hours=2))
    assert patterns.tick(engine, clock, SETTINGS).opened == 0  # without the memo: the database decides
    assert patterns.tick(engine, clock, SETTINGS, done=done).evaluated == 0  # with it: not even evaluated
    clock.advance(timedelta(hours=16))  # 03:00 the next night: that night is not over, the last one is
    assert patterns.tick(engine, clock, SETTINGS, done=done).opened == 0
    assert [c.status for c in _cases(engine)] == [CaseStatus.RESOLVED]


def test_paused_households_are_not_judged(engine: Engine, clock: ManualClock) -> None:
    hid = _household(engine, clock, seed=6, restless=True)
    with session_scope(engine) as s:
        h = s.get_one(Household, hid)
        h.monitoring, h.paused_until = MonitoringState.PAUSED, clock.now() + timedelta(days=2)
    assert patterns.tick(engine, clock, SETTINGS).evaluated == 0
    assert _cases(engine) == []
