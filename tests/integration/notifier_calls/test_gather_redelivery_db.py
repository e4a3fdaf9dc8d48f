"""Twilio delivering a ``<Gather>`` callback twice, or an old one late (SQLite and PostgreSQL).

Each gather's action URL carries the question attempt it answers (``n``); the tests post to the
URL the previous TwiML handed out, exactly as Twilio would, and then post an earlier one again.
Only the reply to the next unanswered attempt is acted on; a repeat gets the TwiML its first
delivery got.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallOutcome, CallStatus, CaseEventType, CaseStatus, Language
from core.models import CallAttempt, Case, CheckinCall
from notifier import calls, checkins
from tests.factories import case_events, load, make_call_attempt, make_household, make_open_case, make_watch
from tests.integration.notifier_calls.conftest import EscalationRecorder
from tests.ticks import checkins_at

BASE = "https://care.example.org"


def _action(twiml: str) -> str:
    node = ET.fromstring(twiml.encode()).find("Gather")
    assert node is not None, twiml
    return node.attrib["action"]


def _post(engine: Engine, clock: ManualClock, url: str, **params: str) -> str:
    """A gather callback to ``url``, with the query parsed as the API route does."""
    query = parse_qs(urlsplit(url).query)
    with session_scope(engine) as s:
        return calls.gather(
            s,
            code=query["code"][0],
            params=params,
            base_url=BASE,
            now=clock.now(),
            gather_no=int(query["n"][0]),
        )


def _resident_call(engine: Engine, clock: ManualClock) -> tuple[int, int, str]:
    """An inactivity case and a call to the resident that was just answered: (case, attempt, first URL)."""
    with session_scope(engine) as s:
        hh = make_household(s, language=Language.EN)
        make_watch(s, hh, last_activity_at=clock.now() - timedelta(hours=14))
        case = make_open_case(s, hh, now=clock.now())
        attempt = make_call_attempt(s, hh, now=clock.now(), case=case, language=Language.EN)
        assert case.id is not None and attempt.id is not None
        case_id, attempt_id, code = case.id, attempt.id, attempt.code
    with session_scope(engine) as s:
        greeting = calls.answer(s, code=code, params={"AnsweredBy": "human"}, base_url=BASE, now=clock.now())
    return case_id, attempt_id, _action(greeting)


# ---------------------------------------------------------------- the wellness call


def test_a_repeated_unclear_first_reply_is_not_the_second_reply(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    case_id, attempt_id, first_url = _resident_call(engine, clock)
    assert first_url.endswith("&n=1")
    reask = _post(engine, clock, first_url)  # silence: asked once more
    again = _post(engine, clock, first_url)  # Twilio delivers the same callback again
    assert again == reask
    assert _action(again).endswith("&n=2")
    row = load(engine, CallAttempt, attempt_id)
    assert (row.gather_count, row.outcome) == (1, None)  # still waiting for the answer to the re-ask
    assert len(row.transcript.splitlines()) == 1
    assert len(case_events(engine, case_id, CaseEventType.CALL_OUTCOME)) == 1

    # The resident's answer to the re-ask is still heard, and counts.
    closing = _post(engine, clock, _action(reask), Digits="2")
    assert "119" in closing
    row = load(engine, CallAttempt, attempt_id)
    assert (row.gather_count, row.outcome) == (2, CallOutcome.EMERGENCY)
    assert [c["target"] for c in escalations.calls] == ["emergency"]


def test_a_repeated_final_reply_acts_once_and_says_the_same_goodbye(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    case_id, attempt_id, first_url = _resident_call(engine, clock)
    reask = _post(engine, clock, first_url, SpeechResult="hello? who is it?", Confidence="0.8")
    second_url = _action(reask)
    closing = _post(engine, clock, second_url, SpeechResult="I don't feel well", Confidence="0.9")
    clock.advance(timedelta(seconds=5))
    assert _post(engine, clock, second_url, SpeechResult="I don't feel well", Confidence="0.9") == closing
    row = load(engine, CallAttempt, attempt_id)
    assert (row.gather_count, row.outcome) == (2, CallOutcome.UNWELL)
    assert len(row.transcript.splitlines()) == 2
    assert [c["target"] for c in escalations.calls] == ["caseworker"]
    assert len(case_events(engine, case_id, CaseEventType.CALL_OUTCOME)) == 2


def test_a_repeated_first_reply_that_decided_the_call_acts_once(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    case_id, attempt_id, first_url = _resident_call(engine, clock)
    closing = _post(engine, clock, first_url, Digits="1")
    assert _post(engine, clock, first_url, Digits="1") == closing
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.CLEARED
        version = case.version
    assert load(engine, CallAttempt, attempt_id).gather_count == 1
    assert len(case_events(engine, case_id, CaseEventType.CALL_OUTCOME)) == 1
    assert escalations.calls == []
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.version == version


def test_the_first_reply_delivered_again_after_the_second_changes_nothing(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    case_id, attempt_id, first_url = _resident_call(engine, clock)
    reask = _post(engine, clock, first_url)  # silence
    _post(engine, clock, _action(reask), Digits="1")  # "I'm fine": the case clears
    before = load(engine, CallAttempt, attempt_id)
    late = _post(engine, clock, first_url)  # the first callback, delivered late
    assert late == reask  # what its first delivery got; the call has moved on, Twilio drops it
    after = load(engine, CallAttempt, attempt_id)
    assert (after.gather_count, after.outcome, after.transcript) == (
        2,
        CallOutcome.OK,
        before.transcript,
    )
    assert len(case_events(engine, case_id, CaseEventType.CALL_OUTCOME)) == 2
    assert escalations.calls == []


def test_a_late_reply_to_the_reask_after_completed_still_counts(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    """The "said help and hung up at once" race still works with attempt numbers."""
    _, attempt_id, first_url = _resident_call(engine, clock)
    reask = _post(engine, clock, first_url)
    with session_scope(engine) as s:
        code = load(engine, CallAttempt, attempt_id).code
        calls.call_status(
            s, code=code, params={"CallStatus": "completed", "SequenceNumber": "3"}, now=clock.now()
        )
    assert load(engine, CallAttempt, attempt_id).outcome == CallOutcome.UNCLEAR
    _post(engine, clock, first_url)  # a repeat of the first reply: not the answer to the re-ask
    assert load(engine, CallAttempt, attempt_id).outcome == CallOutcome.UNCLEAR
    _post(engine, clock, _action(reask), SpeechResult="help me", Confidence="0.9")
    assert load(engine, CallAttempt, attempt_id).outcome == CallOutcome.EMERGENCY
    assert [c["target"] for c in escalations.calls] == ["emergency"]


def test_callbacks_without_an_attempt_number_are_taken_as_the_next_attempt(
    sqlite_engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    """Action URLs handed out before ``n`` existed (calls in progress during an upgrade)."""
    _, attempt_id, first_url = _resident_call(sqlite_engine, clock)
    code = parse_qs(urlsplit(first_url).query)["code"][0]
    for _ in range(2):
        with session_scope(sqlite_engine) as s:
            calls.gather(s, code=code, params={}, base_url=BASE, now=clock.now())
    row = load(sqlite_engine, CallAttempt, attempt_id)
    assert (row.gather_count, row.outcome) == (2, CallOutcome.UNCLEAR)


# ---------------------------------------------------------------- scheduled check-in calls

# Monday 2 March 2026, 10:00 in Seoul.
TEN_SEOUL = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _checkin_call(engine: Engine, clock: ManualClock) -> tuple[int, str]:
    clock.set(TEN_SEOUL - timedelta(minutes=30))
    with session_scope(engine) as s:
        hh = make_household(s)
        assert hh.id is not None
        checkins.set_schedule(s, hh.id, weekdays=[1], local_time="10:00", now=clock.now())
    clock.set(TEN_SEOUL)
    assert checkins_at(engine, clock.now()) == 1
    with session_scope(engine) as s:
        (attempt,) = s.exec(select(CallAttempt)).all()
        attempt.status = CallStatus.QUEUED  # the outbox placed it
        assert attempt.id is not None
        attempt_id, code = attempt.id, attempt.code
    with session_scope(engine) as s:
        greeting = calls.answer(s, code=code, params={"AnsweredBy": "human"}, base_url=BASE, now=clock.now())
    return attempt_id, _action(greeting)


def _answers(engine: Engine, attempt_id: int) -> dict[str, object]:
    with Session(engine) as s:
        row = s.exec(select(CheckinCall).where(CheckinCall.call_attempt_id == attempt_id)).one()
        return {
            topic: value["answer"] if isinstance(value, dict) else value
            for topic, value in row.answers.items()
        }


def test_a_repeated_check_in_answer_is_not_taken_for_the_next_question(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    attempt_id, meals_url = _checkin_call(engine, clock)
    sleep_question = _post(engine, clock, meals_url, Digits="2")  # meals: not well
    assert _post(engine, clock, meals_url, Digits="2") == sleep_question  # delivered twice
    assert _answers(engine, attempt_id) == {"meals": "concern"}
    health_question = _post(engine, clock, _action(sleep_question), Digits="1")
    _post(engine, clock, meals_url, Digits="2")  # the first one again, late (after the second)
    assert _answers(engine, attempt_id) == {"meals": "concern", "sleep": "ok"}
    health_url = _action(health_question)
    closing = _post(engine, clock, health_url, Digits="1")
    assert _post(engine, clock, health_url, Digits="2") == closing  # a repeat of the last answer
    row = load(engine, CallAttempt, attempt_id)
    assert (row.gather_count, row.outcome) == (3, CallOutcome.UNWELL)
    assert _answers(engine, attempt_id) == {"meals": "concern", "sleep": "ok", "health": "ok"}
    assert escalations.calls == []


@pytest.mark.parametrize("repeats", [1, 2])
def test_a_repeated_emergency_check_in_answer_escalates_once(
    sqlite_engine: Engine, clock: ManualClock, escalations: EscalationRecorder, repeats: int
) -> None:
    attempt_id, meals_url = _checkin_call(sqlite_engine, clock)
    said = {"SpeechResult": "넘어져서 못 일어나겠어요 도와주세요", "Confidence": "0.8"}
    closing = _post(sqlite_engine, clock, meals_url, **said)
    for _ in range(repeats):
        assert _post(sqlite_engine, clock, meals_url, **said) == closing
    assert "119" in closing
    row = load(sqlite_engine, CallAttempt, attempt_id)
    assert (row.gather_count, row.outcome) == (1, CallOutcome.EMERGENCY)
    assert [c["target"] for c in escalations.calls] == ["emergency"]
