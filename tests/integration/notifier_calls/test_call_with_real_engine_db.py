"""The call handlers with the real escalation engine: the call it queues, the reply, the alerts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallOutcome, CaseEventType, CaseStatus, RecipientKind, Severity
from core.models import CallAttempt, Case, CaseEvent, Notification
from core.settings import Settings
from notifier import calls
from tests.factories import make_household, make_open_case, make_team, make_user
from tests.ticks import run_notifier_ticks

BASE = "https://care.example.org"


def _case_with_a_queued_call(engine: Engine, clock: ManualClock) -> tuple[int, str]:
    settings = Settings(_env_file=None, public_base_url=BASE, twilio_from_number="+15005550006")
    with session_scope(engine) as s:
        team = make_team(s)
        household = make_household(s, team=team, contacts=2)
        make_user(s, team=team)
        case_id = make_open_case(s, household, now=clock.now()).id
        assert case_id is not None
    assert run_notifier_ticks(engine, clock, settings) == 1  # the default ladder starts with a call
    with Session(engine) as s:
        (attempt,) = s.exec(select(CallAttempt).where(CallAttempt.case_id == case_id)).all()
    return case_id, attempt.code


def _reply(engine: Engine, clock: ManualClock, code: str, **params: str) -> str:
    with session_scope(engine) as s:
        calls.answer(s, code=code, params={"AnsweredBy": "human"}, base_url=BASE, now=clock.now())
    with session_scope(engine) as s:
        return calls.gather(s, code=code, params=params, base_url=BASE, now=clock.now())


def test_pressing_2_makes_the_case_critical_and_alerts_caseworker_and_family_at_once(
    engine: Engine, clock: ManualClock
) -> None:
    case_id, code = _case_with_a_queued_call(engine, clock)
    clock.advance(timedelta(minutes=2))
    twiml = _reply(engine, clock, code, Digits="2")
    assert "곧 도움이 갑니다" in twiml
    _reply(engine, clock, code, Digits="2")  # a retried webhook queues nothing more

    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert (case.status, case.severity) == (CaseStatus.OPEN, Severity.CRITICAL)
        sent = s.exec(select(Notification).where(Notification.case_id == case_id)).all()
        assert sorted(n.recipient_kind for n in sent) == [
            RecipientKind.CONTACT,
            RecipientKind.CONTACT,
            RecipientKind.USER,
        ]
        assert {n.escalation_token for n in sent} == {case.escalation_token}
        types = [
            e.type
            for e in s.exec(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
            ).all()
        ]
        assert types.count(CaseEventType.CALL_OUTCOME) == 1
        assert CaseEventType.SEVERITY_RAISED in types
        (attempt,) = s.exec(select(CallAttempt).where(CallAttempt.code == code)).all()
        assert attempt.outcome == CallOutcome.EMERGENCY


def test_saying_unwell_tells_the_caseworker_only(sqlite_engine: Engine, clock: ManualClock) -> None:
    case_id, code = _case_with_a_queued_call(sqlite_engine, clock)
    _reply(sqlite_engine, clock, code, SpeechResult="몸이 안 좋아요", Confidence="0.88")
    with Session(sqlite_engine) as s:
        sent = s.exec(select(Notification).where(Notification.case_id == case_id)).all()
        assert [n.recipient_kind for n in sent] == [RecipientKind.USER]
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.OPEN


def test_saying_fine_clears_the_case_and_the_engine_stops(sqlite_engine: Engine, clock: ManualClock) -> None:
    case_id, code = _case_with_a_queued_call(sqlite_engine, clock)
    _reply(sqlite_engine, clock, code, SpeechResult="네 괜찮아요", Confidence="0.93")
    settings = Settings(_env_file=None, public_base_url=BASE, twilio_from_number="+15005550006")
    clock.advance(timedelta(hours=1))
    assert run_notifier_ticks(sqlite_engine, clock, settings) == 0
    with Session(sqlite_engine) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.CLEARED
        assert s.exec(select(Notification).where(Notification.case_id == case_id)).all() == []
