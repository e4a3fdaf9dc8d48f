"""Issue 19: what Anbu does when a resident says they want to die (docs/calls.md, "Self-harm
protocol"), on the wellness call, a check-in call and by text, on SQLite and PostgreSQL.

Before: the reply was escalated like any emergency — the resident heard the generic emergency
closing, the case was the inactivity case (or a plain "help requested"), and the family got the
ordinary emergency text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import (
    CallOutcome,
    CallPurpose,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Language,
    RecipientKind,
    Role,
    Severity,
)
from core.models import CallAttempt, Case, CaseEvent, CheckinCall, Household, Notification, Watch
from notifier import calls, checkins, sms
from notifier.script import CATALOGUE
from tests.factories import (
    case_events,
    make_call_attempt,
    make_household,
    make_open_case,
    make_team,
    make_user,
    make_watch,
)

BASE = "https://care.example.org"
SAID = "그냥 죽고 싶어요"
RESIDENT_PHONE = "+821012345678"


@dataclass
class Home:
    household_id: int
    inactivity_case_id: int
    code: str
    caseworker_id: int


def _home(
    engine: Engine, clock: ManualClock, *, language: Language = Language.KO, checkin: bool = False
) -> Home:
    with session_scope(engine) as s:
        team = make_team(s)
        caseworker = make_user(s, team=team, role=Role.CASEWORKER)
        hh = make_household(s, team=team, language=language, resident_phone=RESIDENT_PHONE)
        make_watch(s, hh, last_activity_at=clock.now() - timedelta(hours=14))
        case = make_open_case(s, hh, now=clock.now())
        attempt = make_call_attempt(s, hh, now=clock.now(), case=None if checkin else case, language=language)
        assert hh.id is not None and attempt.id is not None
        if checkin:
            attempt.purpose = CallPurpose.CHECKIN
            s.add(
                CheckinCall(
                    call_attempt_id=attempt.id,
                    household_id=hh.id,
                    scheduled_for=clock.now(),
                    created_at=clock.now(),
                )
            )
        assert hh.id is not None and case.id is not None and caseworker.id is not None
        return Home(hh.id, case.id, attempt.code, caseworker.id)


def _gather(engine: Engine, clock: ManualClock, code: str, **params: str) -> str:
    with session_scope(engine) as s:
        return calls.gather(s, code=code, params=params, base_url=BASE, now=clock.now(), gather_no=None)


def _self_harm_case(engine: Engine, household_id: int) -> Case:
    with Session(engine) as s:
        return s.exec(
            select(Case).where(Case.household_id == household_id, Case.kind == CaseKind.SELF_HARM_RISK)
        ).one()


def _texts(engine: Engine, case_id: int) -> dict[RecipientKind, Notification]:
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(Notification.case_id == case_id)).all()
    assert len(rows) == len({r.recipient_kind for r in rows})
    return {r.recipient_kind: r for r in rows}


def _assert_protocol(
    engine: Engine, clock: ManualClock, home: Home, *, words: str, language: Language
) -> Case:
    case = _self_harm_case(engine, home.household_id)
    # Its own kind, the top severity, an explanation naming the risk.
    assert (case.status, case.severity) == (CaseStatus.OPEN, Severity.CRITICAL)
    assert case.explanation == CATALOGUE.text("call.case_explanation.self_harm")
    # The caseworker is paged at once (queued now, not after the ladder's waits), with the
    # self-harm text naming the risk and the line; the family with the careful one.
    told = _texts(engine, case.id or 0)
    assert set(told) == {RecipientKind.USER, RecipientKind.CONTACT}
    caseworker, family = told[RecipientKind.USER], told[RecipientKind.CONTACT]
    assert (caseworker.template, caseworker.recipient_id) == ("sms.caseworker.self_harm", home.caseworker_id)
    assert family.template == "sms.family.self_harm"
    for row in told.values():
        assert row.created_at == clock.now() and row.next_attempt_at in (None, clock.now())
    assert "109" in caseworker.body
    # ...and called at once: a person calls someone at risk (key 1 takes it on and connects them).
    with Session(engine) as s:
        staff_calls = s.exec(select(CallAttempt).where(CallAttempt.case_id == case.id)).all()
    assert [(c.purpose, c.recipient_kind, c.recipient_id, c.created_at) for c in staff_calls] == [
        (CallPurpose.STAFF_ALERT, RecipientKind.USER, home.caseworker_id, clock.now())
    ]
    # Follow-up visits are due, whatever the case's outcome will be.
    assert case.follow_up_visits
    assert words not in family.body and "자살" not in family.body and "suicid" not in family.body.lower()
    with Session(engine) as s:
        events = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
        ).all()
        # The resident's words are on the case, for the caseworker.
        assert any(e.type == CaseEventType.NOTE and words in str(e.data.get("text")) for e in events)
        # Never a check-in, and the case the call was about is not cleared.
        watch = s.get(Watch, home.household_id)
        assert watch is None or watch.last_checkin_at is None
        inactivity = s.get(Case, home.inactivity_case_id)
        assert inactivity is not None and inactivity.status == CaseStatus.OPEN
    return case


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_on_the_wellness_call_the_resident_hears_the_line_and_staff_are_paged_at_once(
    engine: Engine, clock: ManualClock, language: Language
) -> None:
    words = SAID if language == Language.KO else "I just want to die"
    home = _home(engine, clock, language=language)
    twiml = _gather(engine, clock, home.code, SpeechResult=words, Confidence="0.9")
    # A calm scripted answer, not the generic closing: the line named, and the call does not hang
    # up on them: <Dial> puts them through to it (what follows is the connect webhook's).
    assert CATALOGUE.text("call.self_harm.connecting", language, line="109") in twiml
    assert CATALOGUE.text("call.closing.emergency", language) not in twiml
    assert "좋은 하루" not in twiml and "good day" not in twiml.lower()
    assert "<Hangup" not in twiml and twiml.rstrip().endswith(">109</Dial></Response>")
    assert f"{BASE}/api/v1/twilio/voice/connect?code={home.code}&amp;n=1&amp;lang={language.value}" in twiml
    _assert_protocol(engine, clock, home, words=words, language=language)
    with Session(engine) as s:
        attempt = s.exec(select(CallAttempt).where(CallAttempt.code == home.code)).one()
        assert attempt.outcome == CallOutcome.EMERGENCY
        # The case the call was about stays open, but its ladder moved past the caseworker step,
        # as after any emergency: nobody rings them in 5 minutes to ask if they are fine.
        inactivity = s.get(Case, home.inactivity_case_id)
        assert inactivity is not None and inactivity.status == CaseStatus.OPEN
        assert (inactivity.step_index, inactivity.repeat_count) == (2, 1)  # the default policy's family step
        assert inactivity.next_action_at == clock.now() + timedelta(minutes=15)


def test_a_later_fine_never_closes_the_self_harm_case(engine: Engine, clock: ManualClock) -> None:
    home = _home(engine, clock)
    _gather(engine, clock, home.code, SpeechResult=SAID, Confidence="0.9")
    case = _self_harm_case(engine, home.household_id)
    # The resident calls back and says they are fine: a check-in, the inactivity case cleared —
    # but the self-harm case stays open until a person closes it.
    clock.advance(timedelta(minutes=10))
    with session_scope(engine) as s:
        code = make_call_attempt(s, s.get_one(Household, home.household_id), now=clock.now()).code
    _gather(engine, clock, code, Digits="1")
    after = _self_harm_case(engine, home.household_id)
    assert (after.id, after.status, after.severity) == (case.id, CaseStatus.OPEN, Severity.CRITICAL)


def test_saying_it_again_adds_the_words_but_pages_nobody_twice(engine: Engine, clock: ManualClock) -> None:
    home = _home(engine, clock)
    _gather(engine, clock, home.code, SpeechResult=SAID, Confidence="0.9")
    case = _self_harm_case(engine, home.household_id)
    with session_scope(engine) as s:
        code = make_call_attempt(s, s.get_one(Household, home.household_id), now=clock.now()).code
    _gather(engine, clock, code, SpeechResult="살아서 뭐해", Confidence="0.9")
    assert _self_harm_case(engine, home.household_id).id == case.id
    assert len(_texts(engine, case.id or 0)) == 2
    notes = case_events(engine, case.id, CaseEventType.NOTE)
    assert [("죽고 싶어요" in str(n.data["text"]), "살아서 뭐해" in str(n.data["text"])) for n in notes] == [
        (True, False),
        (False, True),
    ]


def test_on_a_check_in_call_the_protocol_is_the_same(engine: Engine, clock: ManualClock) -> None:
    home = _home(engine, clock, checkin=True)
    twiml = _gather(engine, clock, home.code, SpeechResult="살기 싫어요 다 정리했어", Confidence="0.9")
    assert twiml.count("109") >= 2 and CATALOGUE.text("checkin.closing", "ko") not in twiml
    _assert_protocol(engine, clock, home, words="살기 싫어요 다 정리했어", language=Language.KO)
    with Session(engine) as s:
        attempt = s.exec(select(CallAttempt).where(CallAttempt.code == home.code)).one()
    assert attempt.outcome == CallOutcome.EMERGENCY
    assert (
        checkins.call_outcome({"meals": {"answer": "emergency"}}) == CallOutcome.EMERGENCY
    )  # never "ok": not a check-in


def test_by_text_the_resident_gets_the_line_and_staff_are_paged(engine: Engine, clock: ManualClock) -> None:
    home = _home(engine, clock)
    with session_scope(engine) as s:
        reply = sms.inbound_sms(
            s,
            params={"From": RESIDENT_PHONE, "Body": "I don't want to be here anymore", "MessageSid": "SM1"},
            now=clock.now(),
        )
    assert CATALOGUE.text("reply.resident_self_harm", "ko", line="109") in reply
    _assert_protocol(engine, clock, home, words="I don't want to be here anymore", language=Language.KO)


def test_the_logs_carry_no_reply_text_and_no_classification(
    engine: Engine, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    home = _home(engine, clock)
    caplog.set_level(logging.DEBUG)
    _gather(engine, clock, home.code, SpeechResult=SAID, Confidence="0.9")
    with session_scope(engine) as s:
        sms.inbound_sms(
            s, params={"From": RESIDENT_PHONE, "Body": "머리가 아파요", "MessageSid": "SM2"}, now=clock.now()
        )
    other = _home(engine, clock)
    _gather(engine, clock, other.code, SpeechResult="네 괜찮아요", Confidence="0.9")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged  # the handlers did log (ids)
    for leak in (
        "죽고",
        "머리가",
        "괜찮아요",
        "self_harm",
        "self-harm",
        "emergency",
        "unwell",
        " ok",
        "model",
        "phrase",
        "short_answer",
        "suicid",
    ):
        assert leak not in logged, (leak, logged)
