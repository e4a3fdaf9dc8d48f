"""Every (state, action) pair through the lifecycle's database functions, legal and illegal.

The pure table is checked exhaustively in tests/unit/lifecycle; this drives the functions that
write cases (redetect, raise_severity, acknowledge, clear, resolve) from each reachable state on
a real database (SQLite, and PostgreSQL with ANBU_TEST_DATABASE_URL): a legal one stores the new
state, token and event; an illegal one raises IllegalTransition and changes nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseEventType, CaseKind, CaseStatus, ResolutionCode, Severity
from core.models import Case, CaseEvent
from notifier import lifecycle
from notifier.lifecycle import CaseAction
from tests.factories import make_household

Act = Callable[[Session, Case, ManualClock], object]

ACTIONS: dict[CaseAction, tuple[Act, CaseEventType | None]] = {
    CaseAction.DETECT: (
        lambda s, c, clock: lifecycle.redetect(
            s, c, severity=Severity.CRITICAL, explanation="still quiet", now=clock.now()
        ),
        CaseEventType.SEVERITY_RAISED,
    ),
    CaseAction.RAISE: (
        lambda s, c, clock: lifecycle.raise_severity(
            s, c, severity=Severity.CRITICAL, reason="emergency reply", now=clock.now()
        ),
        CaseEventType.SEVERITY_RAISED,
    ),
    CaseAction.ACKNOWLEDGE: (
        lambda s, c, clock: lifecycle.acknowledge(s, c, actor="user:kim", now=clock.now()),
        CaseEventType.ACKNOWLEDGED,
    ),
    CaseAction.CLEAR: (
        lambda s, c, clock: lifecycle.clear(s, c, reason="resident_ok", now=clock.now()),
        CaseEventType.CLEARED,
    ),
    CaseAction.RESOLVE: (
        lambda s, c, clock: lifecycle.resolve(
            s, c, actor="user:kim", code=ResolutionCode.FALSE_ALARM_AWAY, note=None, now=clock.now()
        ),
        CaseEventType.RESOLVED,
    ),
}

# How to reach each state from a fresh open case.
REACH: dict[CaseStatus, list[CaseAction]] = {
    CaseStatus.OPEN: [],
    CaseStatus.ACKNOWLEDGED: [CaseAction.ACKNOWLEDGE],
    CaseStatus.CLEARED: [CaseAction.CLEAR],
    CaseStatus.RESOLVED: [CaseAction.RESOLVE],
}


class Snapshot(NamedTuple):
    status: CaseStatus
    severity: Severity
    token: str
    version: int
    next_action_at: datetime | None
    events: int


def _snapshot(engine: Engine, case_id: int) -> Snapshot:
    with Session(engine) as s:
        case = s.get_one(Case, case_id)
        n_events = len(s.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)).all())
        return Snapshot(
            case.status, case.severity, case.escalation_token, case.version, case.next_action_at, n_events
        )


def _last_event(engine: Engine, case_id: int) -> CaseEventType:
    with Session(engine) as s:
        rows = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id).desc())
        ).first()
        assert rows is not None
        return rows.type


@pytest.mark.parametrize(("status", "action"), list(itertools.product(REACH, CaseAction)))
def test_each_action_from_each_state_on_the_database(
    engine: Engine, clock: ManualClock, status: CaseStatus, action: CaseAction
) -> None:
    assert set(ACTIONS) == set(CaseAction)  # a new action must be added here too
    with session_scope(engine) as s:
        hh = make_household(s)
        assert hh.id is not None
        case, _ = lifecycle.open_or_redetect(
            s,
            household_id=hh.id,
            kind=CaseKind.INACTIVITY,
            severity=Severity.ALERT,
            explanation="quiet",
            policy_snapshot={"steps": []},
            now=clock.now(),
        )
        for step in REACH[status]:
            ACTIONS[step][0](s, case, clock)
        case_id = case.id
    assert case_id is not None
    before = _snapshot(engine, case_id)
    assert before.status == status
    act, event = ACTIONS[action]
    if (status, action) not in lifecycle.TRANSITIONS:
        with pytest.raises(lifecycle.IllegalTransition), session_scope(engine) as s:
            act(s, s.get_one(Case, case_id), clock)
        assert _snapshot(engine, case_id) == before
        return
    decision = lifecycle.transition(status, action)
    with session_scope(engine) as s:
        act(s, s.get_one(Case, case_id), clock)
    after = _snapshot(engine, case_id)
    assert after.status == decision.new_status
    assert (after.token != before.token) is decision.new_token  # the fencing token changes exactly then
    assert after.version > before.version  # every write bumps the version
    assert after.events > before.events and _last_event(engine, case_id) == event
    if action in (CaseAction.DETECT, CaseAction.RAISE):
        assert after.severity == Severity.CRITICAL
    if action == CaseAction.RAISE and decision.escalating:
        assert after.next_action_at == clock.now()  # still escalating: act at once
