"""SMS webhook handlers against a real database: delivery receipts and texts to our number."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseEventType, CaseKind, CaseStatus, Language, OutboxStatus
from core.models import Case, CaseEvent, Contact, Notification, Watch
from core.settings import Settings
from notifier import ack_codes, lifecycle, outbox, sms
from notifier.pacing import CallPacer
from tests.factories import case_events, load, make_household, make_notification, make_open_case
from tests.integration.notifier_calls.conftest import EscalationRecorder, Home, make_home
from tests.integration.notifier_engine.support import RecordingTransport


def inbound(engine: Engine, clock: ManualClock, from_: str, body: str) -> str:
    with session_scope(engine) as s:
        twiml = sms.inbound_sms(
            s, params={"From": from_, "Body": body, "To": "+15005550006"}, now=clock.now()
        )
    root = ET.fromstring(twiml.encode())
    assert root.tag == "Response"
    (message,) = root.findall("Message")
    return message.text or ""


def receipt(engine: Engine, clock: ManualClock, notification_id: int, **params: str) -> None:
    with session_scope(engine) as s:
        sms.sms_status(s, notification_id=notification_id, params=params, now=clock.now())


def new_notification(engine: Engine, clock: ManualClock, *, sid: str | None = None) -> tuple[int, int]:
    with session_scope(engine) as s:
        hh = make_household(s)
        case = make_open_case(s, hh, now=clock.now())
        row = make_notification(s, hh, now=clock.now(), case=case, provider_sid=sid)
        assert row.id is not None and case.id is not None
        return row.id, case.id


# ---------------------------------------------------------------- delivery receipts


def test_delivery_receipts_move_forward_only(engine: Engine, clock: ManualClock) -> None:
    notification_id, _ = new_notification(engine, clock, sid="SM" + "3" * 32)
    receipt(engine, clock, notification_id, MessageSid="SM" + "3" * 32, MessageStatus="delivered")
    assert load(engine, Notification, notification_id).status == OutboxStatus.DELIVERED
    receipt(engine, clock, notification_id, MessageSid="SM" + "3" * 32, MessageStatus="sent")  # late
    receipt(engine, clock, notification_id, MessageSid="SM" + "3" * 32, MessageStatus="delivered")  # again
    receipt(engine, clock, notification_id, MessageSid="SM" + "3" * 32, MessageStatus="undelivered")
    row = load(engine, Notification, notification_id)
    assert (row.status, row.error) == (OutboxStatus.DELIVERED, None)


@pytest.mark.parametrize(
    ("code", "permanent"),
    [("30003", False), ("21610", True), ("21635", True), ("30005", True), ("30008", False), ("", False)],
)
def test_a_failed_delivery_is_recorded_with_its_error_code(
    sqlite_engine: Engine, clock: ManualClock, code: str, permanent: bool
) -> None:
    first_sid = "SM" + "4" * 32
    notification_id, case_id = new_notification(sqlite_engine, clock, sid=first_sid)
    with session_scope(sqlite_engine) as s:
        row = s.get_one(Notification, notification_id)
        row.status, row.attempts = OutboxStatus.SENT, 1
    params = {"MessageSid": first_sid, "MessageStatus": "undelivered", "SmsStatus": "undelivered"} | (
        {"ErrorCode": code} if code else {}
    )
    receipt(sqlite_engine, clock, notification_id, **params)
    receipt(sqlite_engine, clock, notification_id, **params)  # retried callback: recorded once
    row = load(sqlite_engine, Notification, notification_id)
    assert row.permanent_failure is permanent
    assert row.error is not None and "undelivered" in row.error and code in row.error
    (event,) = case_events(sqlite_engine, case_id, CaseEventType.NOTIFICATION_FAILED)
    assert event.data["notification_id"] == notification_id
    assert event.data["error_code"] == (code or None)
    if permanent:  # a bad, landline or unsubscribed number: never again
        assert row.status == OutboxStatus.FAILED and row.provider_sid == first_sid
        assert event.data["retry_at"] is None
        return
    # Temporary (handset off, carrier hiccup): back to the outbox with backoff, like a REST error.
    assert row.status == OutboxStatus.PENDING and row.provider_sid is None
    assert row.next_attempt_at == clock.now() + outbox.backoff(1)
    assert event.data["retry_at"] == row.next_attempt_at.isoformat()
    receipt(sqlite_engine, clock, notification_id, MessageSid=first_sid, MessageStatus="delivered")  # late
    assert load(sqlite_engine, Notification, notification_id).status == OutboxStatus.PENDING


def test_a_temporarily_undelivered_text_is_sent_again_and_then_delivered(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    notification_id, _ = new_notification(sqlite_engine, clock)
    transport = RecordingTransport()
    settings = Settings(
        _env_file=None, public_base_url="https://care.example.org", twilio_from_number="+15005550006"
    )
    with session_scope(sqlite_engine) as s:
        s.get_one(Notification, notification_id).status = OutboxStatus.PENDING
    assert outbox.tick(sqlite_engine, clock, settings, transport, pacer=CallPacer(0)) == 1
    first = transport.sent[0].sid
    receipt(
        sqlite_engine,
        clock,
        notification_id,
        MessageSid=first,
        MessageStatus="undelivered",
        ErrorCode="30003",
    )
    clock.advance(outbox.backoff(1))
    assert outbox.tick(sqlite_engine, clock, settings, transport, pacer=CallPacer(0)) == 1
    second = transport.sent[1].sid
    assert second != first and transport.sent[1].body == transport.sent[0].body
    receipt(sqlite_engine, clock, notification_id, MessageSid=second, MessageStatus="delivered")
    row = load(sqlite_engine, Notification, notification_id)
    assert (row.status, row.provider_sid, row.attempts) == (OutboxStatus.DELIVERED, second, 2)
    clock.advance(timedelta(hours=1))
    assert outbox.tick(sqlite_engine, clock, settings, transport, pacer=CallPacer(0)) == 0
    assert len(transport.sent) == 2


def test_receipts_for_unknown_rows_or_other_messages_change_nothing(
    engine: Engine, clock: ManualClock
) -> None:
    notification_id, _ = new_notification(engine, clock, sid="SM" + "4" * 32)
    receipt(engine, clock, 999_999, MessageStatus="failed")  # no such row: no error
    receipt(engine, clock, notification_id, MessageSid="SM" + "5" * 32, MessageStatus="failed")
    receipt(engine, clock, notification_id, MessageStatus="queued")  # says nothing new
    receipt(engine, clock, notification_id, MessageStatus="nonsense")
    assert load(engine, Notification, notification_id).status == OutboxStatus.SENT


# ---------------------------------------------------------------- contacts acknowledging


def issue_code(engine: Engine, clock: ManualClock, home: Home) -> str:
    """The code our alert text to the home's contact carries (notifier.ack_codes)."""
    with session_scope(engine) as s:
        case = s.get_one(Case, home.case_id)
        return ack_codes.code_for(s, case, home.contact_id, clock.now())


def test_confirm_with_the_code_acknowledges_the_open_case(engine: Engine, clock: ManualClock) -> None:
    home = make_home(engine, clock)
    code = issue_code(engine, clock, home)
    text = inbound(engine, clock, home.contact_phone, f"확인 {code}")
    assert text.startswith("확인해 주셔서 감사합니다")
    case = load(engine, Case, home.case_id)
    assert case.status == CaseStatus.ACKNOWLEDGED
    assert case.acknowledged_by == f"contact:{home.contact_id}"
    assert case.acknowledged_at == clock.now()
    # A second "확인" changes nothing and says so.
    assert inbound(engine, clock, home.contact_phone, f"확인 {code}") == "이미 확인된 알림입니다. 감사합니다."
    assert len(case_events(engine, case.id or 0, CaseEventType.ACKNOWLEDGED)) == 1


@pytest.mark.parametrize("shape", ["1 {}", " OK {}! ", "1{}", "1-{}", "{}"])
def test_every_confirm_shape_with_the_code_acknowledges(
    sqlite_engine: Engine, clock: ManualClock, shape: str
) -> None:
    home = make_home(sqlite_engine, clock)
    inbound(sqlite_engine, clock, home.contact_phone, shape.format(issue_code(sqlite_engine, clock, home)))
    assert load(sqlite_engine, Case, home.case_id).status == CaseStatus.ACKNOWLEDGED


@pytest.mark.parametrize("body", ["1", "확인", " OK! "])
def test_a_confirm_word_without_the_code_is_recorded_and_asks_for_it(
    sqlite_engine: Engine, clock: ManualClock, body: str
) -> None:
    home = make_home(sqlite_engine, clock)
    issue_code(sqlite_engine, clock, home)
    assert "확인 코드가 없어" in inbound(sqlite_engine, clock, home.contact_phone, body)
    assert load(sqlite_engine, Case, home.case_id).status == CaseStatus.OPEN
    (event,) = case_events(sqlite_engine, home.case_id or 0, CaseEventType.REPLY_UNVERIFIED)
    assert event.actor == f"contact:{home.contact_id}"
    assert (event.data["reason"], event.data["channel"], event.data["relation"]) == (
        "no_code",
        "sms",
        "daughter",
    )


@pytest.mark.parametrize("body", ["2", "확인했어요 엄마 괜찮대요", "1 12", "ok?"])
def test_other_texts_from_a_contact_get_help_and_acknowledge_nothing(
    sqlite_engine: Engine, clock: ManualClock, body: str
) -> None:
    home = make_home(sqlite_engine, clock)
    text = inbound(sqlite_engine, clock, home.contact_phone, body)
    assert "1과 확인 코드" in text
    assert load(sqlite_engine, Case, home.case_id).status == CaseStatus.OPEN


def test_confirm_with_nothing_open_says_so(sqlite_engine: Engine, clock: ManualClock) -> None:
    home = make_home(sqlite_engine, clock, with_case=False)
    assert inbound(sqlite_engine, clock, home.contact_phone, "1").startswith(
        "지금 확인이 필요한 알림이 없습니다"
    )


def test_confirm_without_a_code_is_refused_when_the_number_is_a_contact_of_two_households(
    engine: Engine, clock: ManualClock
) -> None:
    first = make_home(engine, clock)
    second = make_home(engine, clock)
    with session_scope(engine) as s:  # the same daughter, listed for both parents
        contact = s.get(Contact, second.contact_id)
        assert contact is not None
        contact.phone = first.contact_phone
    text = inbound(engine, clock, first.contact_phone, "확인")
    assert "확인 코드" in text
    assert load(engine, Case, first.case_id).status == CaseStatus.OPEN
    assert load(engine, Case, second.case_id).status == CaseStatus.OPEN


def test_english_contacts_get_english_replies(sqlite_engine: Engine, clock: ManualClock) -> None:
    home = make_home(sqlite_engine, clock, language=Language.EN)
    assert inbound(sqlite_engine, clock, home.contact_phone, "ok").startswith(
        "Anbu care center. Your reply has no code"
    )
    code = issue_code(sqlite_engine, clock, home)
    assert inbound(sqlite_engine, clock, home.contact_phone, f"ok {code}").startswith(
        "Thank you for confirming"
    )


# ---------------------------------------------------------------- residents texting


def test_a_resident_texting_fine_is_recorded_and_called_back_not_cleared(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    """A text proves only the caller ID (issue 13.2): the words are kept for the caseworker, and
    we call the resident back; their answer to our call is the check-in."""
    home = make_home(engine, clock)
    clock.advance(timedelta(minutes=3))
    text = inbound(engine, clock, home.resident_phone, "괜찮아요 걱정 마세요")
    assert (
        text
        == "답장 감사합니다. 어르신 본인이 맞는지 확인하려고 곧 안부 전화를 드리겠습니다. 전화를 받아 주세요."
    )
    case = load(engine, Case, home.case_id)
    assert (case.status, case.clear_reason) == (CaseStatus.OPEN, None)
    with Session(engine) as s:
        watch = s.get(Watch, home.household_id)
        assert watch is not None and watch.last_checkin_at is None
    (note,) = case_events(engine, home.case_id or 0, CaseEventType.NOTE)
    assert note.actor == f"resident:{home.resident_id}" and "괜찮아요" in note.data["text"]
    (queued,) = case_events(engine, home.case_id or 0, CaseEventType.CALL_QUEUED)
    assert queued.data["step"] == "verify" and queued.data["recipient_id"] == home.resident_id
    assert escalations.calls == []


def test_a_resident_texting_for_help_escalates_now(
    engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    home = make_home(engine, clock)
    text = inbound(engine, clock, home.resident_phone, "살려주세요 넘어졌어요")
    assert "119" in text
    assert [(c["case_id"], c["target"], c["reason"]) for c in escalations.calls] == [
        (home.case_id, "emergency", "resident_emergency_sms")
    ]
    assert load(engine, Case, home.case_id).status == CaseStatus.OPEN


def test_a_resident_texting_for_help_without_a_case_gets_a_help_case(
    sqlite_engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    home = make_home(sqlite_engine, clock, with_case=False)
    inbound(sqlite_engine, clock, home.resident_phone, "2")
    with Session(sqlite_engine) as s:
        (case,) = s.exec(select(Case).where(Case.household_id == home.household_id)).all()
    assert (case.kind, case.status) == (CaseKind.HELP_REQUESTED, CaseStatus.OPEN)
    assert escalations.calls[0]["case_id"] == case.id


def test_an_unclear_text_from_a_resident_gets_the_key_help(
    sqlite_engine: Engine, clock: ManualClock, escalations: EscalationRecorder
) -> None:
    home = make_home(sqlite_engine, clock)
    assert "1, 도움이 필요하시면 2" in inbound(sqlite_engine, clock, home.resident_phone, "누구세요?")
    assert load(sqlite_engine, Case, home.case_id).status == CaseStatus.OPEN
    assert escalations.calls == []


def test_unknown_numbers_get_a_short_reply_and_change_nothing(engine: Engine, clock: ManualClock) -> None:
    home = make_home(engine, clock)

    def counts() -> tuple[int, int]:
        with Session(engine) as s:
            return (
                s.exec(select(func.count()).select_from(CaseEvent)).one(),
                s.exec(select(func.count()).select_from(Case).where(Case.status == CaseStatus.OPEN)).one(),
            )

    before = counts()
    assert "등록된 분" in inbound(engine, clock, "+15550001111", "확인")
    assert "등록된 분" in inbound(engine, clock, "", "1")
    assert counts() == before
    assert load(engine, Case, home.case_id).status == CaseStatus.OPEN


def test_an_acknowledged_case_is_not_acknowledged_again_by_a_contact(
    sqlite_engine: Engine, clock: ManualClock
) -> None:
    home = make_home(sqlite_engine, clock)
    with session_scope(sqlite_engine) as s:
        case = s.get(Case, home.case_id)
        assert case is not None
        lifecycle.acknowledge(s, case, actor="user:7", now=clock.now())
    inbound(sqlite_engine, clock, home.contact_phone, "1")
    assert load(sqlite_engine, Case, home.case_id).acknowledged_by == "user:7"
