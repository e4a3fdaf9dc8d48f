"""The voice webhook handlers against a real database (SQLite, and PostgreSQL when configured).

Each handler call runs in its own ``session_scope`` like an API request does; results are read
back in a fresh session.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import (
    CallOutcome,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Intent,
    Language,
    Severity,
)
from core.models import CallAttempt, Case, CaseEvent, Watch
from notifier import calls, lifecycle
from tests.factories import case_events, load, make_call_attempt, make_household, make_open_case, make_watch
from tests.integration.notifier_calls.conftest import EscalationRecorder

BASE = "https://care.example.org"


@dataclass
class World:
    household_id: int
    case_id: int | None
    attempt_id: int
    code: str


def setup(
    engine: Engine,
    clock: ManualClock,
    *,
    with_case: bool = True,
    language: Language = Language.KO,
    watch: bool = True,
    provider_sid: str | None = None,
) -> World:
    with session_scope(engine) as s:
        hh = make_household(s, language=language)
        if watch:
            make_watch(s, hh, last_activity_at=clock.now() - timedelta(hours=14))
        case = make_open_case(s, hh, now=clock.now()) if with_case else None
        attempt = make_call_attempt(
            s, hh, now=clock.now(), case=case, language=language, provider_sid=provider_sid
        )
        assert hh.id is not None and attempt.id is not None
        return World(hh.id, case.id if case else None, attempt.id, attempt.code)


def answer(engine: Engine, clock: ManualClock, code: str, **params: str) -> str:
    with session_scope(engine) as s:
        return calls.answer(s, code=code, params=params, base_url=BASE, now=clock.now())


def gather(engine: Engine, clock: ManualClock, code: str, **params: str) -> str:
    with session_scope(engine) as s:
        return calls.gather(s, code=code, params=params, base_url=BASE, now=clock.now())


def status(engine: Engine, clock: ManualClock, code: str, **params: str) -> None:
    with session_scope(engine) as s:
        calls.call_status(s, code=code, params=params, now=clock.now())


def attempt_of(engine: Engine, world: World) -> CallAttempt:
    return load(engine, CallAttempt, world.attempt_id)


def case_of(engine: Engine, world: World) -> Case:
    assert world.case_id is not None
    return load(engine, Case, world.case_id)


def spoken(twiml: str) -> list[str]:
    return [say.text or "" for say in ET.fromstring(twiml.encode()).iter("Say")]


def gather_action(twiml: str) -> str | None:
    node = ET.fromstring(twiml.encode()).find("Gather")
    return None if node is None else node.attrib["action"]


def hangs_up(twiml: str) -> bool:
    return ET.fromstring(twiml.encode()).find("Hangup") is not None


def row_counts(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as s:
        return (
            s.exec(select(func.count()).select_from(CaseEvent)).one(),
            s.exec(select(func.count()).select_from(Case)).one(),
            s.exec(select(func.count()).select_from(Watch)).one(),
        )


# ---------------------------------------------------------------- answer


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_a_person_answering_hears_the_greeting_with_our_gather_url(
    sqlite_engine: Engine, clock: ManualClock, language: Language
) -> None:
    world = setup(sqlite_engine, clock, language=language)
    twiml = answer(sqlite_engine, clock, world.code, CallSid="CA1", AnsweredBy="human")
    assert gather_action(twiml) == f"{BASE}/api/v1/twilio/voice/gather?code={world.code}&n=1"
    assert ET.fromstring(twiml.encode()).find("Gather").attrib["language"] == (  # type: ignore[union-attr]
        "ko-KR" if language == Language.KO else "en-US"
    )
    attempt = attempt_of(sqlite_engine, world)
    assert attempt.status == CallStatus.IN_PROGRESS
    assert attempt.answered_by == "human"
    assert attempt.outcome is None


@pytest.mark.parametrize("answered_by", ["machine_start", "fax"])
def test_a_machine_gets_the_voicemail_and_the_outcome_is_voicemail(
    sqlite_engine: Engine, clock: ManualClock, answered_by: str
) -> None:
    world = setup(sqlite_engine, clock)
    twiml = answer(sqlite_engine, clock, world.code, AnsweredBy=answered_by)
    assert gather_action(twiml) is None and hangs_up(twiml)
    assert "안부 인사차" in spoken(twiml)[0]
    attempt = attempt_of(sqlite_engine, world)
    assert attempt.outcome == CallOutcome.VOICEMAIL
    assert attempt.answered_by == answered_by
    (event,) = case_events(sqlite_engine, world.case_id, CaseEventType.CALL_OUTCOME)
    assert event.data["outcome"] == "voicemail"
    assert case_of(sqlite_engine, world).status == CaseStatus.OPEN  # a machine is not a sign of life


def test_unknown_or_garbage_codes_hang_up_and_change_nothing(engine: Engine, clock: ManualClock) -> None:
    world = setup(engine, clock)
    before = row_counts(engine)
    for code in ("no-such-code", "", "x" * 500):
        assert hangs_up(answer(engine, clock, code, AnsweredBy="human"))
        assert hangs_up(gather(engine, clock, code, Digits="2"))
        status(engine, clock, code, CallStatus="completed", SequenceNumber="9")
    assert row_counts(engine) == before
    attempt = attempt_of(engine, world)
    assert (attempt.status, attempt.outcome, attempt.gather_count) == (CallStatus.QUEUED, None, 0)


def test_answer_after_the_call_ended_hangs_up(sqlite_engine: Engine, clock: ManualClock) -> None:
    world = setup(sqlite_engine, clock)
    status(sqlite_engine, clock, world.code, CallStatus="completed", SequenceNumber="3")
    twiml = answer(sqlite_engine, clock, world.code, AnsweredBy="human")
    assert gather_action(twiml) is None and hangs_up(twiml)


# ---------------------------------------------------------------- gather: ok


@pytest.mark.parametrize(
    "params",
    [{"Digits": "1"}, {"SpeechResult": "네 괜찮아요.", "Confidence": "0.91"}, {"SpeechResult": "괜찮심더"}],
)
def test_ok_clears_the_open_case_and_records_a_check_in(
    sqlite_engine: Engine, clock: ManualClock, escalations: EscalationRecorder, params: dict[str, str]
) -> None:
    world = setup(sqlite_engine, clock)
    answer(sqlite_engine, clock, world.code, AnsweredBy="human")
    clock.advance(timedelta(seconds=20))
    twiml = gather(sqlite_engine, clock, world.code, **params)

    assert spoken(twiml) == ["감사합니다. 좋은 하루 보내세요."] and hangs_up(twiml)
    case = case_of(sqlite_engine, world)
    assert case.status == CaseStatus.CLEARED
    assert case.clear_reason == "resident_ok"
    with Session(sqlite_engine) as s:
        watch = s.get(Watch, world.household_id)
        assert watch is not None and watch.last_checkin_at == clock.now()
    attempt = attempt_of(sqlite_engine, world)
    assert (attempt.outcome, attempt.intent, attempt.gather_count) == (CallOutcome.OK, Intent.OK, 1)
    assert attempt.confidence is not None and attempt.confidence >= 0.6
    (event,) = case_events(sqlite_engine, world.case_id, CaseEventType.CALL_OUTCOME)
    assert event.data["outcome"] == "ok" and event.data["intent"] == "ok"
    assert event.data["digits"] == params.get("Digits")
    assert event.data["excerpt"] == params.get("SpeechResult", "")
    assert escalations.calls == []


def test_ok_creates_the_watch_when_there_is_none(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(engine, clock, watch=False)
    gather(engine, clock, world.code, Digits="1")
    with Session(engine) as s:
        watch = s.get(Watch, world.household_id)
        assert watch is not None and watch.last_checkin_at == clock.now()


def test_ok_on_an_acknowledged_case_is_only_recorded(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(engine, clock)
    with session_scope(engine) as s:
        case = s.get(Case, world.case_id)
        assert case is not None
        lifecycle.acknowledge(s, case, actor="user:1", now=clock.now())
    version = case_of(engine, world).version
    gather(engine, clock, world.code, Digits="1")
    case = case_of(engine, world)
    assert case.status == CaseStatus.ACKNOWLEDGED and case.version == version
    assert case_events(engine, world.case_id, CaseEventType.CLEARED) == []
    assert case_events(engine, world.case_id, CaseEventType.CALL_OUTCOME)[0].data["outcome"] == "ok"


def test_ok_does_not_clear_a_help_request(
    sqlite_engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    with session_scope(sqlite_engine) as s:
        hh = make_household(s)
        case = make_open_case(s, hh, now=clock.now(), kind=CaseKind.HELP_REQUESTED)
        attempt = make_call_attempt(s, hh, now=clock.now(), case=case)
        code, case_id = attempt.code, case.id
    gather(sqlite_engine, clock, code, Digits="1")
    with Session(sqlite_engine) as s:
        help_case = s.get(Case, case_id)
        assert help_case is not None and help_case.status == CaseStatus.OPEN


def test_a_badly_heard_ok_is_asked_again(
    sqlite_engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(sqlite_engine, clock)
    twiml = gather(sqlite_engine, clock, world.code, SpeechResult="괜찮아요", Confidence="0.12")
    assert gather_action(twiml) is not None
    assert case_of(sqlite_engine, world).status == CaseStatus.OPEN


# ---------------------------------------------------------------- gather: unwell, emergency


@pytest.mark.parametrize(
    ("params", "target", "closing"),
    [
        ({"Digits": "2"}, "emergency", "곧 도움이 갑니다"),
        ({"SpeechResult": "넘어졌어요 못 일어나요", "Confidence": "0.8"}, "emergency", "곧 도움이 갑니다"),
        ({"SpeechResult": "살려줘"}, "emergency", "곧 도움이 갑니다"),
        ({"SpeechResult": "안 괜찮아요"}, "caseworker", "담당 복지사에게 바로 알리겠습니다"),
        ({"SpeechResult": "머리가 아파요"}, "caseworker", "담당 복지사에게 바로 알리겠습니다"),
    ],
)
def test_unwell_and_emergency_escalate_at_once(
    sqlite_engine: Engine,
    clock: ManualClock,
    escalations: EscalationRecorder,
    params: dict[str, str],
    target: str,
    closing: str,
) -> None:
    world = setup(sqlite_engine, clock)
    twiml = gather(sqlite_engine, clock, world.code, **params)
    assert escalations.calls == [
        {
            "case_id": world.case_id,
            "target": target,
            "now": clock.now(),
            "reason": f"resident_{'emergency' if target == 'emergency' else 'unwell'}_call",
        }
    ]
    assert closing in spoken(twiml)[0] and hangs_up(twiml)
    attempt = attempt_of(sqlite_engine, world)
    assert attempt.outcome == CallOutcome("emergency" if target == "emergency" else "unwell")
    assert case_of(sqlite_engine, world).status == CaseStatus.OPEN  # never cleared by a cry for help
    with Session(sqlite_engine) as s:
        watch = s.get(Watch, world.household_id)
        assert watch is not None and watch.last_checkin_at is None


def test_a_retried_gather_request_does_not_act_twice(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(engine, clock)
    first = gather(engine, clock, world.code, Digits="2")
    again = gather(engine, clock, world.code, Digits="1")  # even with different content
    assert first == again
    assert len(escalations.calls) == 1
    assert len(case_events(engine, world.case_id, CaseEventType.CALL_OUTCOME)) == 1
    attempt = attempt_of(engine, world)
    assert (attempt.outcome, attempt.gather_count) == (CallOutcome.EMERGENCY, 1)


def test_help_on_a_call_without_a_case_opens_a_help_case(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(engine, clock, with_case=False)
    gather(engine, clock, world.code, SpeechResult="도와주세요")
    with Session(engine) as s:
        (case,) = s.exec(select(Case).where(Case.household_id == world.household_id)).all()
    assert (case.kind, case.status, case.severity) == (
        CaseKind.HELP_REQUESTED,
        CaseStatus.OPEN,
        Severity.CRITICAL,
    )
    assert escalations.calls[0]["case_id"] == case.id and escalations.calls[0]["target"] == "emergency"


def test_help_said_just_before_hanging_up_counts_even_if_completed_came_first(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(engine, clock)
    answer(engine, clock, world.code, AnsweredBy="human")
    status(engine, clock, world.code, CallStatus="completed", SequenceNumber="4")
    assert attempt_of(engine, world).outcome == CallOutcome.UNCLEAR
    gather(engine, clock, world.code, SpeechResult="살려주세요")
    attempt = attempt_of(engine, world)
    assert (attempt.outcome, attempt.status) == (CallOutcome.EMERGENCY, CallStatus.COMPLETED)
    assert [c["target"] for c in escalations.calls] == ["emergency"]
    gather(engine, clock, world.code, SpeechResult="살려주세요")  # Twilio retrying: acted on once
    assert len(escalations.calls) == 1


def test_an_unclear_reply_after_the_call_ended_is_final(
    sqlite_engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(sqlite_engine, clock)
    status(sqlite_engine, clock, world.code, CallStatus="completed", SequenceNumber="4")
    twiml = gather(sqlite_engine, clock, world.code)  # silence, and nobody left to ask again
    assert gather_action(twiml) is None
    attempt = attempt_of(sqlite_engine, world)
    assert (attempt.outcome, attempt.gather_count) == (CallOutcome.UNCLEAR, 1)
    assert escalations.calls == []


def test_if_the_engine_fails_the_help_request_is_still_not_lost(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(engine, clock)
    escalations.fail = True
    twiml = gather(engine, clock, world.code, Digits="2")
    assert "곧 도움이 갑니다" in spoken(twiml)[0]
    case = case_of(engine, world)
    assert case.severity == Severity.CRITICAL
    assert case.next_action_at == clock.now()  # the next engine tick acts on it
    assert attempt_of(engine, world).outcome == CallOutcome.EMERGENCY
    assert len(case_events(engine, world.case_id, CaseEventType.CALL_OUTCOME)) == 1


# ---------------------------------------------------------------- gather: unclear


def test_unclear_is_asked_once_more_then_left_to_the_ladder(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(engine, clock, language=Language.EN)
    first = gather(engine, clock, world.code)  # silence: actionOnEmptyResult
    assert gather_action(first) == f"{BASE}/api/v1/twilio/voice/gather?code={world.code}&n=2"
    assert spoken(first)[0].startswith("Sorry")
    attempt = attempt_of(engine, world)
    assert (attempt.outcome, attempt.intent, attempt.gather_count) == (None, Intent.UNCLEAR, 1)

    second = gather(engine, clock, world.code, SpeechResult="who is this?", Confidence="0.7")
    assert gather_action(second) is None and hangs_up(second)
    assert "staff member will contact you" in spoken(second)[0]
    attempt = attempt_of(engine, world)
    assert (attempt.outcome, attempt.gather_count) == (CallOutcome.UNCLEAR, 2)
    assert attempt.transcript.splitlines() == [
        "#1 no response -> unclear 1.00 [empty]",
        attempt.transcript.splitlines()[1],
    ]
    assert 'speech (stt 0.70): "who is this?" -> unclear' in attempt.transcript
    assert escalations.calls == []
    assert case_of(engine, world).status == CaseStatus.OPEN
    reask, final = case_events(engine, world.case_id, CaseEventType.CALL_OUTCOME)
    assert (reask.data["reask"], reask.data["outcome"]) == (True, None)
    assert (final.data["reask"], final.data["outcome"]) == (False, "unclear")


def test_a_clear_answer_after_the_reask_counts(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(engine, clock)
    gather(engine, clock, world.code, SpeechResult="여보세요?")
    gather(engine, clock, world.code, Digits="1")
    assert case_of(engine, world).status == CaseStatus.CLEARED
    assert attempt_of(engine, world).outcome == CallOutcome.OK


# ---------------------------------------------------------------- call status


def test_status_callbacks_are_idempotent_and_ignore_stale_ones(engine: Engine, clock: ManualClock) -> None:
    world = setup(engine, clock)
    status(engine, clock, world.code, CallStatus="ringing", SequenceNumber="1")
    assert attempt_of(engine, world).status == CallStatus.RINGING
    status(engine, clock, world.code, CallStatus="no-answer", SequenceNumber="3", CallDuration="0")
    status(engine, clock, world.code, CallStatus="no-answer", SequenceNumber="3")  # repeated
    status(engine, clock, world.code, CallStatus="in-progress", SequenceNumber="2")  # late, out of order
    attempt = attempt_of(engine, world)
    assert (attempt.status, attempt.outcome, attempt.last_sequence) == (
        CallStatus.NO_ANSWER,
        CallOutcome.NO_ANSWER,
        3,
    )
    (event,) = case_events(engine, world.case_id, CaseEventType.CALL_STATUS)
    assert event.data == {
        "call_attempt_id": world.attempt_id,
        "status": "no-answer",
        "outcome": "no_answer",
        "answered_by": None,
        "duration_s": 0,
    }


def test_status_without_sequence_numbers_still_never_goes_backwards(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    world = setup(sqlite_engine, clock)
    status(sqlite_engine, clock, world.code, CallStatus="busy")
    status(sqlite_engine, clock, world.code, CallStatus="ringing")
    status(sqlite_engine, clock, world.code, CallStatus="completed")
    attempt = attempt_of(sqlite_engine, world)
    assert (attempt.status, attempt.outcome) == (CallStatus.BUSY, CallOutcome.BUSY)
    assert len(case_events(sqlite_engine, world.case_id, CaseEventType.CALL_STATUS)) == 1


@pytest.mark.parametrize(
    ("final", "answered_by", "outcome"),
    [
        ("no-answer", None, CallOutcome.NO_ANSWER),
        ("canceled", None, CallOutcome.FAILED),
        ("completed", "human", CallOutcome.UNCLEAR),
        ("completed", "machine_end_silence", CallOutcome.VOICEMAIL),
    ],
)
def test_terminal_status_without_a_reply_sets_the_outcome(
    sqlite_engine: Engine, clock: ManualClock, final: str, answered_by: str | None, outcome: CallOutcome
) -> None:
    world = setup(sqlite_engine, clock)
    extra = {"AnsweredBy": answered_by} if answered_by else {}
    status(sqlite_engine, clock, world.code, CallStatus=final, SequenceNumber="4", **extra)
    attempt = attempt_of(sqlite_engine, world)
    assert attempt.outcome == outcome
    assert attempt.answered_by == answered_by


def test_completed_after_a_reply_keeps_the_replys_outcome(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    world = setup(engine, clock)
    answer(engine, clock, world.code, AnsweredBy="human")
    gather(engine, clock, world.code, Digits="1")
    status(engine, clock, world.code, CallStatus="completed", SequenceNumber="5", CallDuration="31")
    attempt = attempt_of(engine, world)
    assert (attempt.status, attempt.outcome) == (CallStatus.COMPLETED, CallOutcome.OK)
    (event,) = case_events(engine, world.case_id, CaseEventType.CALL_STATUS)
    assert (event.data["outcome"], event.data["duration_s"]) == ("ok", 31)


def test_status_for_another_call_sid_is_ignored(engine: Engine, clock: ManualClock) -> None:
    world = setup(engine, clock, provider_sid="CA" + "1" * 32)
    status(engine, clock, world.code, CallSid="CA" + "2" * 32, CallStatus="failed", SequenceNumber="1")
    attempt = attempt_of(engine, world)
    assert (attempt.status, attempt.outcome, attempt.last_sequence) == (CallStatus.QUEUED, None, -1)
    status(engine, clock, world.code, CallSid="CA" + "1" * 32, CallStatus="failed", SequenceNumber="1")
    assert attempt_of(engine, world).outcome == CallOutcome.FAILED


def test_unknown_call_status_words_change_nothing(sqlite_engine: Engine, clock: ManualClock) -> None:
    world = setup(sqlite_engine, clock)
    status(sqlite_engine, clock, world.code, CallStatus="pending", SequenceNumber="1")  # ours, never Twilio's
    status(sqlite_engine, clock, world.code, CallStatus="exploded", SequenceNumber="2")
    status(sqlite_engine, clock, world.code, CallStatus="ringing", SequenceNumber="not-a-number")
    attempt = attempt_of(sqlite_engine, world)
    assert attempt.status == CallStatus.RINGING and attempt.outcome is None
