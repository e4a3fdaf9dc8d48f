"""Residents and families reach in: calls to our number, "press 1" on family calls, STATUS texts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import (
    CallOutcome,
    CallPurpose,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Language,
    RecipientKind,
)
from core.models import CallAttempt, Case, Contact, Household, Resident, Watch
from notifier import ack_codes, calls, lifecycle, sms, webhook_urls
from notifier.script import CATALOGUE
from tests.factories import case_events, load, load_all, make_household
from tests.integration.notifier_calls.conftest import EscalationRecorder, Home, make_home

BASE = "https://care.example.org"
# 2026-03-02 09:00 UTC = 18:00 in Seoul.
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def twiml(text: str) -> ET.Element:
    root = ET.fromstring(text.encode())
    assert root.tag == "Response"
    return root


def said(root: ET.Element) -> str:
    return " ".join(el.text or "" for el in root.iter("Say"))


# Twilio's StirVerstat when the carrier fully attests the caller ID: only then is key 1 enough on
# a call to our number; otherwise the caller keys in the code of our text (test_reply_identity_db).
ATTESTED = "TN-Validation-Passed-A"


def ring(
    engine: Engine, clock: ManualClock, from_: str, sid: str = "CA" + "1" * 32, verstat: str | None = None
) -> ET.Element:
    params = {"From": from_, "CallSid": sid} | ({"StirVerstat": verstat} if verstat else {})
    with session_scope(engine) as s:
        return twiml(calls.inbound_call(s, params=params, base_url=BASE, now=clock.now()))


def gather_url(root: ET.Element) -> str | None:
    found = root.find("Gather")
    return None if found is None else found.get("action")


def code_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["code"][0]


def gather_no_of(url: str) -> int | None:
    """The question attempt the action URL answers (``n``), as the API route passes it."""
    values = parse_qs(urlsplit(url).query).get("n")
    return int(values[0]) if values else None


def press(engine: Engine, clock: ManualClock, url: str, digits: str) -> ET.Element:
    handler = calls.contact_gather if webhook_urls.VOICE_CONTACT_GATHER in url else calls.gather
    with session_scope(engine) as s:
        return twiml(
            handler(
                s,
                code=code_of(url),
                params={"Digits": digits},
                base_url=BASE,
                now=clock.now(),
                gather_no=gather_no_of(url),
            )
        )


def text_in(engine: Engine, clock: ManualClock, from_: str, body: str) -> str:
    with session_scope(engine) as s:
        root = twiml(sms.inbound_sms(s, params={"From": from_, "Body": body}, now=clock.now()))
    (message,) = root.findall("Message")
    return message.text or ""


# ---------------------------------------------------------------- the resident calls us


def test_a_resident_calling_back_with_an_attested_caller_id_and_pressing_1_clears_the_case(
    engine: Engine, clock: ManualClock
) -> None:
    """Only with the carrier's full attestation: otherwise caller ID alone proves nothing and we
    call the resident back instead (test_reply_identity_db)."""
    home = make_home(engine, clock)
    root = ring(engine, clock, home.resident_phone, verstat=ATTESTED)
    assert "전화 주셔서 감사합니다" in said(root)
    url = gather_url(root)
    assert url is not None and url.startswith(BASE + webhook_urls.VOICE_GATHER)
    (attempt,) = load_all(engine, CallAttempt)
    assert (attempt.recipient_kind, attempt.case_id, attempt.status) == (
        RecipientKind.RESIDENT,
        home.case_id,
        CallStatus.IN_PROGRESS,
    )
    assert "감사합니다" in said(press(engine, clock, url, "1"))
    case = load(engine, Case, home.case_id)
    assert (case.status, case.clear_reason) == (CaseStatus.CLEARED, "resident_ok")
    with Session(engine) as s:
        watch = s.get(Watch, home.household_id)
        assert watch is not None and watch.last_checkin_at == clock.now()
    assert load_all(engine, CallAttempt)[0].outcome == CallOutcome.OK


def test_a_resident_calling_with_no_case_is_still_a_check_in_when_the_caller_id_is_attested(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    home = make_home(sqlite_engine, clock, with_case=False)
    url = gather_url(ring(sqlite_engine, clock, home.resident_phone))
    assert url is not None
    press(sqlite_engine, clock, url, "1")  # caller ID only: not a sign of life
    with Session(sqlite_engine) as s:
        watch = s.get(Watch, home.household_id)
        assert watch is not None and watch.last_checkin_at is None
    clock.advance(timedelta(minutes=1))
    url = gather_url(ring(sqlite_engine, clock, home.resident_phone, sid="CA" + "3" * 32, verstat=ATTESTED))
    assert url is not None
    press(sqlite_engine, clock, url, "1")
    with Session(sqlite_engine) as s:
        watch = s.get(Watch, home.household_id)
        assert watch is not None and watch.last_checkin_at == clock.now()
        assert s.exec(select(Case)).all() == []


def test_a_resident_calling_to_ask_for_help_opens_and_escalates_a_help_case(
    sqlite_engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    home = make_home(sqlite_engine, clock, with_case=False)
    url = gather_url(ring(sqlite_engine, clock, home.resident_phone))
    assert url is not None
    assert "119" in said(press(sqlite_engine, clock, url, "2"))
    with Session(sqlite_engine) as s:
        (case,) = s.exec(select(Case)).all()
    assert case.kind == CaseKind.HELP_REQUESTED
    assert [c["target"] for c in escalations.calls] == ["emergency"]


def test_a_retried_inbound_webhook_reuses_the_call(sqlite_engine: Engine, clock: ManualClock) -> None:
    home = make_home(sqlite_engine, clock)
    first = gather_url(ring(sqlite_engine, clock, home.resident_phone))
    again = gather_url(ring(sqlite_engine, clock, home.resident_phone))
    assert first == again
    assert len(load_all(sqlite_engine, CallAttempt)) == 1


def test_an_unknown_caller_gets_the_polite_hang_up_and_nothing_is_stored(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    make_home(sqlite_engine, clock)
    root = ring(sqlite_engine, clock, "+821099999999")
    assert root.find("Hangup") is not None and gather_url(root) is None
    assert load_all(sqlite_engine, CallAttempt) == []


# ---------------------------------------------------------------- a family member calls us


def test_a_family_member_hears_the_state_and_acknowledges_with_1(engine: Engine, clock: ManualClock) -> None:
    home = make_home(engine, clock, address="서울시 비밀구 주소로 1")
    root = ring(engine, clock, home.contact_phone, verstat=ATTESTED)
    text = said(root)
    assert home.code in text and "생활 반응 없음" in text and "확인하기 전" in text
    assert "3월 2일 04:00" in text  # last activity 14 h ago (19:00 UTC), in Seoul time
    assert "[안부]" not in text  # the SMS tag is not read out
    assert "Kim Test" not in text and "test: no activity" not in text and "비밀구" not in text
    url = gather_url(root)
    assert url is not None and url.startswith(BASE + webhook_urls.VOICE_CONTACT_GATHER)
    assert "추가 알림을 멈춥니다" in said(press(engine, clock, url, "1"))
    case = load(engine, Case, home.case_id)
    assert (case.status, case.acknowledged_by) == (CaseStatus.ACKNOWLEDGED, f"contact:{home.contact_id}")
    # A retried gather acknowledges nothing twice.
    press(engine, clock, url, "1")
    acks = case_events(engine, home.case_id, CaseEventType.ACKNOWLEDGED)
    assert len(acks) == 1
    assert load_all(engine, CallAttempt)[0].outcome == CallOutcome.ACKNOWLEDGED


def test_other_keys_are_asked_once_more_then_nothing_is_acknowledged(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    home = make_home(sqlite_engine, clock)
    url = gather_url(ring(sqlite_engine, clock, home.contact_phone, verstat=ATTESTED))
    assert url is not None
    reask = press(sqlite_engine, clock, url, "2")
    reask_url = gather_url(reask)
    assert reask_url == url.replace("&n=1", "&n=2")
    # Twilio delivering the first key press again is not the second one: the same re-ask again.
    assert ET.tostring(press(sqlite_engine, clock, url, "2")) == ET.tostring(reask)
    assert load_all(sqlite_engine, CallAttempt)[0].outcome is None
    final = press(sqlite_engine, clock, reask_url, "")
    assert "알림은 계속됩니다" in said(final) and final.find("Hangup") is not None
    assert load(sqlite_engine, Case, home.case_id).status == CaseStatus.OPEN
    assert load_all(sqlite_engine, CallAttempt)[0].outcome == CallOutcome.UNCLEAR


def test_repeated_and_late_key_presses_of_a_family_member_act_once(
    engine: Engine, clock: ManualClock
) -> None:
    home = make_home(engine, clock)
    first_url = gather_url(ring(engine, clock, home.contact_phone, verstat=ATTESTED))
    assert first_url is not None and first_url.endswith("&n=1")
    reask = press(engine, clock, first_url, "")  # silence
    assert ET.tostring(press(engine, clock, first_url, "")) == ET.tostring(reask)  # delivered twice
    second_url = gather_url(reask)
    assert second_url is not None and second_url.endswith("&n=2")
    done = press(engine, clock, second_url, "1")
    assert "확인으로 기록했고" in said(done)
    case = load(engine, Case, home.case_id)
    assert case.status == CaseStatus.ACKNOWLEDGED
    assert said(press(engine, clock, second_url, "1")) == said(done)  # the acknowledging press again
    late = press(engine, clock, first_url, "")  # the first press, delivered after the second
    assert gather_url(late) == second_url  # what it got the first time; Twilio has moved on
    (attempt,) = load_all(engine, CallAttempt)
    assert (attempt.gather_count, attempt.outcome) == (2, CallOutcome.ACKNOWLEDGED)
    assert load(engine, Case, home.case_id).version == case.version
    outcomes = case_events(engine, home.case_id, CaseEventType.CALL_OUTCOME)
    assert len(outcomes) == 2  # the re-ask and the acknowledgement, once each


def test_a_family_members_key_presses_are_kept_on_the_case(sqlite_engine: Engine, clock: ManualClock) -> None:
    """Each press (or silence) is a ``call_outcome`` event naming the contact; the notification
    call's and the inbound call's differ only in ``inbound``."""
    home = make_home(sqlite_engine, clock)
    url = gather_url(ring(sqlite_engine, clock, home.contact_phone, verstat=ATTESTED))
    assert url is not None
    second = gather_url(press(sqlite_engine, clock, url, ""))  # silence: asked again
    assert second is not None
    press(sqlite_engine, clock, second, "1")
    events = case_events(sqlite_engine, home.case_id, CaseEventType.CALL_OUTCOME)
    (attempt,) = load_all(sqlite_engine, CallAttempt)
    common = {"call_attempt_id": attempt.id, "recipient_kind": "contact", "inbound": True}
    assert [(e.actor, e.data) for e in events] == [
        (
            f"contact:{home.contact_id}",
            common
            | {"outcome": None, "reask": True, "gather": 1, "input": "none", "digits": None, "ack": None},
        ),
        (
            f"contact:{home.contact_id}",
            common
            | {
                "outcome": "acknowledged",
                "reask": False,
                "gather": 2,
                "input": "dtmf",
                "digits": "1",
                "ack": "acknowledged",
            },
        ),
    ]


def test_a_family_member_with_nothing_open_hears_the_state_and_goodbye(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    home = make_home(sqlite_engine, clock, with_case=False)
    root = ring(sqlite_engine, clock, home.contact_phone)
    assert "알림이 없습니다" in said(root)
    assert gather_url(root) is None and root.find("Hangup") is not None


def test_a_contact_of_two_households_with_open_cases_is_not_offered_1_only_the_code(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    first = make_home(sqlite_engine, clock)
    second = make_home(sqlite_engine, clock)
    with session_scope(sqlite_engine) as s:
        contact = s.get(Contact, second.contact_id)
        assert contact is not None
        contact.phone = first.contact_phone
    root = ring(sqlite_engine, clock, first.contact_phone, verstat=ATTESTED)
    assert first.code in said(root) and second.code in said(root)
    assert gather_url(root) is None  # which household would "1" mean?
    root = ring(sqlite_engine, clock, first.contact_phone, sid="CA" + "2" * 32)
    assert gather_url(root) is not None and "확인 코드 네 자리" in said(root)  # the code says which


# ---------------------------------------------------------------- our notification call to a family member


def _contact_call(engine: Engine, home: Home, clock: ManualClock) -> str:
    with session_scope(engine) as s:
        case = s.get(Case, home.case_id)
        assert case is not None
        attempt = CallAttempt(
            purpose=CallPurpose.CONTACT_ALERT,
            case_id=case.id,
            household_id=home.household_id,
            recipient_kind=RecipientKind.CONTACT,
            recipient_id=home.contact_id,
            to_address=home.contact_phone,
            code="c" * 32,
            idempotency_key="test:contact-call",
            escalation_token=case.escalation_token,
            status=CallStatus.QUEUED,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        s.add(attempt)
    return "c" * 32


def answer(engine: Engine, clock: ManualClock, code: str, **params: str) -> ET.Element:
    with session_scope(engine) as s:
        return twiml(calls.answer(s, code=code, params=params, base_url=BASE, now=clock.now()))


def test_a_notification_call_to_family_tells_the_alert_and_1_acknowledges(
    engine: Engine, clock: ManualClock
) -> None:
    home = make_home(engine, clock)
    code = _contact_call(engine, home, clock)
    root = answer(engine, clock, code, AnsweredBy="human")
    assert home.code in said(root) and "1번을 눌러" in said(root)
    url = gather_url(root)
    assert url == f"{BASE}{webhook_urls.VOICE_CONTACT_GATHER}?code={code}&n=1"
    # Even through the resident's gather path, a family member's 1 acknowledges (never "resident ok").
    resident_path = f"{BASE}{webhook_urls.VOICE_GATHER}?code={code}"
    press(engine, clock, resident_path, "1")
    case = load(engine, Case, home.case_id)
    assert case.status == CaseStatus.ACKNOWLEDGED and case.clear_reason is None
    with Session(engine) as s:
        watch = s.get(Watch, home.household_id)
        assert watch is not None and watch.last_checkin_at is None


def test_a_notification_call_reaching_voicemail_leaves_no_details(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    home = make_home(sqlite_engine, clock)
    code = _contact_call(sqlite_engine, home, clock)
    root = answer(sqlite_engine, clock, code, AnsweredBy="machine_end_beep")
    assert "문자 메시지를 확인해" in said(root) and home.code not in said(root)
    assert gather_url(root) is None
    assert load_all(sqlite_engine, CallAttempt)[0].outcome == CallOutcome.VOICEMAIL


# ---------------------------------------------------------------- STATUS by text


@pytest.mark.parametrize("body", ["STATUS", "상태", " status. "])
def test_status_by_text_tells_a_family_member_the_state(
    sqlite_engine: Engine, clock: ManualClock, body: str
) -> None:
    home = make_home(sqlite_engine, clock)
    text = text_in(sqlite_engine, clock, home.contact_phone, body)
    assert text.splitlines() == [
        f"[안부] {home.code} 가구 상태입니다.",
        "'생활 반응 없음' 알림이 있으며, 아직 담당자가 확인하기 전입니다.",
        "마지막 생활 반응: 3월 2일 04:00.",
    ]
    assert load(sqlite_engine, Case, home.case_id).status == CaseStatus.OPEN  # asking changes nothing


def test_ok_with_a_question_mark_is_a_question_not_an_acknowledgement(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    home = make_home(sqlite_engine, clock)
    reply = text_in(sqlite_engine, clock, home.contact_phone, "ok?")
    assert reply == CATALOGUE.text("reply.help_contact", Language.KO)  # says what to send instead
    assert load(sqlite_engine, Case, home.case_id).status == CaseStatus.OPEN
    assert "[안부]" in text_in(sqlite_engine, clock, home.contact_phone, "status?")
    with session_scope(sqlite_engine) as s:
        code = ack_codes.code_for(s, s.get_one(Case, home.case_id), home.contact_id, clock.now())
    text_in(sqlite_engine, clock, home.contact_phone, f"ok {code}")
    assert load(sqlite_engine, Case, home.case_id).status == CaseStatus.ACKNOWLEDGED


def test_status_after_acknowledgement_and_in_english(engine: Engine, clock: ManualClock) -> None:
    home = make_home(engine, clock, language=Language.EN)
    with session_scope(engine) as s:
        case = s.get(Case, home.case_id)
        assert case is not None
        lifecycle.acknowledge(s, case, actor="user:1", now=clock.now())
        watch = s.get(Watch, home.household_id)
        assert watch is not None
        watch.last_checkin_at = clock.now() - timedelta(minutes=30)  # 17:30 Seoul, later than activity
    text = text_in(engine, clock, home.contact_phone, "status")
    assert "picked up by staff" in text
    assert "Last sign of life: Mar 2, 17:30." in text


def test_status_words_from_a_resident_or_a_stranger_reveal_nothing(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    home = make_home(sqlite_engine, clock)
    assert home.code not in text_in(sqlite_engine, clock, "+821099999999", "STATUS")
    assert home.code not in text_in(sqlite_engine, clock, home.resident_phone, "상태")


def test_a_household_with_no_sign_of_life_yet_says_so(sqlite_engine: Engine, clock: ManualClock) -> None:
    with session_scope(sqlite_engine) as s:
        hh = make_household(s)
        contact = s.exec(select(Contact).where(Contact.household_id == hh.id)).one()
        phone = contact.phone
        assert s.exec(select(Resident)).first() is not None
        assert s.get(Household, hh.id) is not None
    assert "아직 생활 반응 기록이 없습니다" in text_in(sqlite_engine, clock, phone, "상태")


def test_a_notification_call_answered_after_the_case_cleared_says_how_things_are_now(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    home = make_home(sqlite_engine, clock)
    code = _contact_call(sqlite_engine, home, clock)
    with session_scope(sqlite_engine) as s:
        case = s.get(Case, home.case_id)
        assert case is not None
        lifecycle.clear(s, case, reason="activity", now=clock.now())
    root = answer(sqlite_engine, clock, code, AnsweredBy="human")
    assert "알림이 없습니다" in said(root) and "확인해 주세요" not in said(root)
    assert gather_url(root) is None
