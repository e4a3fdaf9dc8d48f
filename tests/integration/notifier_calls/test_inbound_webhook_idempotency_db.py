"""Twilio may deliver the same inbound text (MessageSid) or call (CallSid) webhook twice, even to
two API processes at once: each is acted on once, and the repeat gets a harmless answer."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.db import session_scope
from core.enums import CaseEventType, CaseStatus
from core.models import AckCode, CallAttempt, Case, Contact, InboundMessage, Resident
from notifier import ack_codes, calls, sms
from tests.factories import case_events, make_household, make_open_case, make_watch

BASE = "https://care.example.org"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 18:00 in Seoul
SID = "SM" + "a" * 32
T = TypeVar("T")


def _home(engine: Engine) -> tuple[int, str, str]:
    """(case id, resident phone, contact phone) of a household with an open inactivity case."""
    with session_scope(engine) as s:
        hh = make_household(s)
        make_watch(s, hh, last_activity_at=NOW - timedelta(hours=14))
        case = make_open_case(s, hh, now=NOW)
        resident = s.exec(select(Resident).where(Resident.household_id == hh.id)).one()
        contact = s.exec(select(Contact).where(Contact.household_id == hh.id)).one()
        assert case.id is not None and resident.phone
        return case.id, resident.phone, contact.phone


def _code(engine: Engine, case_id: int) -> str:
    """The code our alert text gave the household's contact (a bare "1" acknowledges nothing)."""
    with session_scope(engine) as s:
        case = s.get_one(Case, case_id)
        contact = s.exec(select(Contact).where(Contact.household_id == case.household_id)).one()
        assert contact.id is not None
        return ack_codes.code_for(s, case, contact.id, NOW)


def _text(session: Session, from_: str, body: str, sid: str = SID) -> str:
    return sms.inbound_sms(session, params={"From": from_, "Body": body, "MessageSid": sid}, now=NOW)


def _messages(twiml: str) -> list[str]:
    root = ET.fromstring(twiml.encode())
    assert root.tag == "Response"
    return [m.text or "" for m in root.findall("Message")]


def _deliver(engine: Engine, handler: Callable[[Session], T]) -> T:
    with session_scope(engine) as s:
        return handler(s)


def _at_once(engine: Engine, handler: Callable[[Session], T]) -> tuple[T, T]:
    """Two deliveries in overlapping transactions, as two API processes would run them: the
    first has done its work but not committed when the second starts, and commits while the
    second waits (SQLite: for the write lock; PostgreSQL: on the unique key)."""
    first_session = Session(engine, expire_on_commit=False)
    first = handler(first_session)
    second: list[T] = []
    errors: list[BaseException] = []

    def other_process() -> None:
        try:
            second.append(_deliver(engine, handler))
        except BaseException as exc:  # surfaced below, with the test's own assertion
            errors.append(exc)

    thread = threading.Thread(target=other_process)
    thread.start()
    time.sleep(0.5)  # let the second delivery reach its insert and wait there
    first_session.commit()
    first_session.close()
    thread.join(timeout=20)
    assert errors == [] and len(second) == 1, errors
    return first, second[0]


# ---------------------------------------------------------------- texts (MessageSid)


def test_a_repeated_fine_text_is_recorded_once_and_the_repeat_gets_no_reply(engine: Engine) -> None:
    case_id, resident, _ = _home(engine)
    first = _deliver(engine, lambda s: _text(s, resident, "괜찮아요"))
    again = _deliver(engine, lambda s: _text(s, resident, "괜찮아요"))
    assert len(_messages(first)) == 1 and "안부 전화" in _messages(first)[0]  # we call back to verify
    assert _messages(again) == []  # an empty <Response/>: Twilio sends nothing back
    assert len(case_events(engine, case_id, CaseEventType.NOTE)) == 1
    assert len(case_events(engine, case_id, CaseEventType.REPLY_UNVERIFIED)) == 1
    assert len(case_events(engine, case_id, CaseEventType.CALL_QUEUED)) == 1


def test_a_repeated_help_text_escalates_and_is_noted_once(engine: Engine) -> None:
    case_id, resident, _ = _home(engine)
    for _ in range(2):
        _deliver(engine, lambda s: _text(s, resident, "도와주세요 넘어졌어요"))
    assert len(case_events(engine, case_id, CaseEventType.NOTE)) == 1
    assert len(case_events(engine, case_id, CaseEventType.SEVERITY_RAISED)) == 1


def test_a_repeated_status_request_is_answered_once(engine: Engine) -> None:
    _, _, contact = _home(engine)
    assert len(_messages(_deliver(engine, lambda s: _text(s, contact, "STATUS")))) == 1
    assert _messages(_deliver(engine, lambda s: _text(s, contact, "STATUS"))) == []


def test_a_new_message_with_the_same_words_is_a_new_message(engine: Engine) -> None:
    _, _, contact = _home(engine)
    _deliver(engine, lambda s: _text(s, contact, "STATUS", sid="SM" + "1" * 32))
    assert len(_messages(_deliver(engine, lambda s: _text(s, contact, "STATUS", sid="SM" + "2" * 32)))) == 1
    with Session(engine) as s:
        assert len(s.exec(select(InboundMessage)).all()) == 2


def test_a_delivery_that_failed_is_handled_when_twilio_retries(engine: Engine) -> None:
    case_id, _, contact = _home(engine)
    code = _code(engine, case_id)
    try:
        with session_scope(engine) as s:
            _text(s, contact, f"1 {code}")
            raise RuntimeError("the API process died before committing")
    except RuntimeError:
        pass
    assert _messages(_deliver(engine, lambda s: _text(s, contact, f"1 {code}"))) != []
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.ACKNOWLEDGED


def test_two_api_processes_getting_the_same_text_at_once_act_once(engine: Engine) -> None:
    case_id, _, contact = _home(engine)
    code = _code(engine, case_id)
    first, second = _at_once(engine, lambda s: _text(s, contact, f"확인 {code}"))
    assert [len(_messages(first)), len(_messages(second))] == [1, 0]
    assert len(case_events(engine, case_id, CaseEventType.ACKNOWLEDGED)) == 1


def test_wrong_codes_sent_at_once_are_each_counted(engine: Engine) -> None:
    """Two guesses in overlapping transactions (two API processes): the code row is locked, so
    neither count is lost and a guesser gets no more than the 5 tries by sending in parallel."""
    case_id, _, contact = _home(engine)
    wrong = f"{(int(_code(engine, case_id)) + 1) % 10_000:04d}"
    sids = iter(["SM" + "5" * 32, "SM" + "6" * 32])
    _at_once(engine, lambda s: _text(s, contact, f"1 {wrong}", sid=next(sids)))
    with Session(engine) as s:
        (row,) = s.exec(select(AckCode).where(AckCode.case_id == case_id)).all()
    assert row.wrong_attempts == 2
    assert len(case_events(engine, case_id, CaseEventType.REPLY_UNVERIFIED)) == 2


# ---------------------------------------------------------------- calls (CallSid)


def _ring(session: Session, from_: str) -> str:
    # A fully attested caller ID (STIR/SHAKEN A): the resident's "fine" is a check-in.
    params = {"From": from_, "CallSid": "CA" + "7" * 32, "StirVerstat": "TN-Validation-Passed-A"}
    return calls.inbound_call(session, params=params, base_url=BASE, now=NOW)


def test_two_api_processes_getting_the_same_call_at_once_record_it_once(engine: Engine) -> None:
    case_id, resident, _ = _home(engine)
    first, second = _at_once(engine, lambda s: _ring(s, resident))
    # The repeat is answered with the same call's greeting and question (same gather URL), so
    # whichever answer Twilio uses, the reply lands on the one recorded call.
    assert first == second and "<Gather" in first
    with Session(engine) as s:
        assert len(s.exec(select(CallAttempt).where(col(CallAttempt.case_id) == case_id)).all()) == 1
    assert len(case_events(engine, case_id, CaseEventType.CALL_STATUS)) == 1


def test_a_repeated_fine_on_a_call_to_our_number_is_a_check_in_once(engine: Engine) -> None:
    case_id, resident, _ = _home(engine)
    _deliver(engine, lambda s: _ring(s, resident))
    _deliver(engine, lambda s: _ring(s, resident))
    with Session(engine) as s:
        (attempt,) = s.exec(select(CallAttempt)).all()
    for _ in range(2):  # Twilio repeats the gather webhook
        _deliver(
            engine,
            lambda s: calls.gather(
                s,
                code=attempt.code,
                params={"SpeechResult": "괜찮아요", "Confidence": "0.9"},
                base_url=BASE,
                now=NOW,
            ),
        )
    assert len(case_events(engine, case_id, CaseEventType.CLEARED)) == 1
    assert len(case_events(engine, case_id, CaseEventType.CALL_OUTCOME)) == 1
