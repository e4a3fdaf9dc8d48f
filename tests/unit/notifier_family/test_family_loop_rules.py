"""Pure rules of the family loop: status words, local times, family-call TwiML, closure and reminders."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from core.enums import CaseKind, CaseStatus, Channel, Language, RecipientKind, ResolutionCode
from core.localtime import format_local, latest_sign_of_life
from core.models import Case
from notifier.ack_codes import is_ack
from notifier.closures import closure_purpose
from notifier.followup import reminder_number
from notifier.ladder import contact_channels
from notifier.outbox import should_cancel
from notifier.policy import PolicyError, QuietHours, parse_policy, quiet_until
from notifier.queueing import limit_applies
from notifier.recipients import Recipient
from notifier.replies import is_status_request
from notifier.script import CATALOGUE, contact_call_twiml, contact_reask_twiml
from notifier.templates import CLOSURE_TEMPLATES, PRE_CALL_TEMPLATE, SMS_TEMPLATES, Purpose, template_for

AT = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
URL = "https://care.example.org/api/v1/twilio/voice/contact-gather?code=abc"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STATUS", True),
        ("상태", True),
        (" status? ", True),
        ("상태 확인", True),
        ("1", False),
        ("how is mum", False),
    ],
)
def test_status_words(body: str, expected: bool) -> None:
    assert is_status_request(body) is expected


def test_local_time_in_each_language_and_an_unknown_zone_falls_back_to_utc() -> None:
    assert format_local(AT, "Asia/Seoul", Language.KO) == "3월 2일 18:05"
    assert format_local(AT, "Asia/Seoul", Language.EN) == "Mar 2, 18:05"
    assert format_local(AT, "Not/AZone", Language.EN) == "Mar 2, 09:05"


def test_staff_explanations_use_the_compact_local_time() -> None:
    assert format_local(AT, "Asia/Seoul") == "03-02 18:05"
    assert format_local(AT, "Not/AZone") == "03-02 09:05"


def test_last_sign_of_life_is_the_later_of_activity_and_check_in() -> None:
    assert latest_sign_of_life(None, None, None) is None
    later = latest_sign_of_life(AT, AT - timedelta(hours=1), "kettle")
    assert later is not None and (later.at, later.source, later.appliance) == (AT, "appliance", "kettle")
    checkin = latest_sign_of_life(AT, AT + timedelta(hours=1), "kettle")
    assert checkin is not None and (checkin.at, checkin.source) == (AT + timedelta(hours=1), "checkin")


@pytest.mark.parametrize(
    ("body", "ack", "status"),
    [
        ("ok", True, False),
        ("ok?", False, False),  # a question is not a promise to look after the resident
        ("확인?", False, False),
        ("1?", False, False),
        ("status?", False, True),  # asking how they are may well end in a question mark
        ("상태?", False, True),
        ("확인!", True, False),
    ],
)
def test_a_question_mark_asks_for_status_but_never_acknowledges(body: str, ack: bool, status: bool) -> None:
    assert (is_ack(body), is_status_request(body)) == (ack, status)


@pytest.mark.parametrize("language", [Language.KO, Language.EN])
def test_family_call_asks_for_key_1_only(language: Language) -> None:
    root = ET.fromstring(contact_call_twiml(language=language, lines=["line one"], gather_url=URL))
    gather = root.find("Gather")
    assert gather is not None
    assert (gather.get("action"), gather.get("input"), gather.get("numDigits")) == (URL, "dtmf", "1")
    texts = [s.text for s in gather.iter("Say")]
    assert texts == ["line one", CATALOGUE.text("call.contact.question", language)]
    reask = ET.fromstring(contact_reask_twiml(language=language, gather_url=URL)).find("Gather")
    assert reask is not None and reask.get("action") == URL


def test_family_call_without_anything_to_acknowledge_says_goodbye_and_hangs_up() -> None:
    root = ET.fromstring(contact_call_twiml(language=Language.KO, lines=["a"], gather_url=None))
    assert root.find("Gather") is None and root.find("Hangup") is not None


def test_contacts_who_prefer_calls_also_get_the_sms() -> None:
    assert contact_channels(Channel.SMS) == (Channel.SMS,)
    assert contact_channels(Channel.CALL) == (Channel.SMS, Channel.CALL)


def test_closure_templates_exist_and_are_never_stale() -> None:
    assert CLOSURE_TEMPLATES <= SMS_TEMPLATES
    for template in CLOSURE_TEMPLATES:
        assert not should_cancel(
            row_token="old", template=template, case_token="new", case_status=CaseStatus.RESOLVED
        )
    assert template_for("family", Purpose.ALL_CLEAR) == "sms.family.all_clear"
    assert template_for("caseworker", Purpose.ACK_REMINDER) == "sms.caseworker.ack_reminder"
    assert template_for("family", Purpose.ACK_REMINDER) == "sms.family.ladder"  # families are not reminded


@pytest.mark.parametrize(
    ("status", "code", "purpose"),
    [
        (CaseStatus.CLEARED, None, Purpose.ALL_CLEAR),
        (CaseStatus.RESOLVED, ResolutionCode.RESIDENT_FINE, Purpose.ALL_CLEAR),
        (CaseStatus.RESOLVED, ResolutionCode.FALSE_ALARM_AWAY, Purpose.ALL_CLEAR),
        (CaseStatus.RESOLVED, ResolutionCode.HOSPITAL, Purpose.HOSPITAL),
        (CaseStatus.RESOLVED, ResolutionCode.DECEASED, Purpose.CLOSED),
        (CaseStatus.RESOLVED, ResolutionCode.OTHER, Purpose.CLOSED),
    ],
)
def test_closure_purpose(status: CaseStatus, code: ResolutionCode | None, purpose: Purpose) -> None:
    case = Case(
        household_id=1,
        kind=CaseKind.INACTIVITY,
        status=status,
        resolution_code=code,
        opened_at=AT,
        last_seen_at=AT,
        escalation_token="t",
    )
    assert closure_purpose(case) == purpose


def test_reminder_numbers_count_intervals_since_the_acknowledgement() -> None:
    step = timedelta(hours=4)
    assert reminder_number(AT, AT + step, step) == 1
    assert reminder_number(AT, AT + 2 * step + timedelta(seconds=3), step) == 2
    assert reminder_number(AT, AT, step) == 1


def test_the_reminder_interval_is_validated() -> None:
    doc = {"steps": [{"action": "call_resident", "wait_minutes": 5}], "ack_reminder_minutes": 5}
    with pytest.raises(PolicyError, match="ack_reminder_minutes"):
        parse_policy(doc)
    assert parse_policy({**doc, "ack_reminder_minutes": 60}).ack_reminder_minutes == 60


def test_every_new_message_exists_in_both_languages() -> None:
    assert CATALOGUE.keys(Language.KO) == CATALOGUE.keys(Language.EN)


# ---------------------------------------------------------------- quiet hours and limits (pure)


NIGHT = QuietHours(start="21:00", end="08:00")


@pytest.mark.parametrize(
    ("utc_hour", "utc_minute", "expected_end"),
    [
        (11, 59, None),  # 20:59 Seoul
        (12, 0, datetime(2026, 3, 2, 23, 0, tzinfo=UTC)),  # 21:00 Seoul -> 08:00 tomorrow = 23:00 UTC
        (17, 0, datetime(2026, 3, 2, 23, 0, tzinfo=UTC)),  # 02:00 Seoul (3 Mar)
        (22, 59, datetime(2026, 3, 2, 23, 0, tzinfo=UTC)),  # 07:59 Seoul
        (23, 0, None),  # 08:00 Seoul
    ],
)
def test_quiet_hours_across_midnight_in_household_time(
    utc_hour: int, utc_minute: int, expected_end: datetime | None
) -> None:
    now = datetime(2026, 3, 2, utc_hour, utc_minute, tzinfo=UTC)
    assert quiet_until(now, "Asia/Seoul", NIGHT) == expected_end


def test_quiet_hours_within_one_day_and_in_another_zone() -> None:
    lunch = QuietHours(start="12:00", end="13:30")
    assert quiet_until(datetime(2026, 3, 2, 12, 15, tzinfo=UTC), "UTC", lunch) == datetime(
        2026, 3, 2, 13, 30, tzinfo=UTC
    )
    assert quiet_until(datetime(2026, 3, 2, 13, 30, tzinfo=UTC), "UTC", lunch) is None
    # 23:00 in New York (EST, UTC-5) is 04:00 UTC next day: inside 21:00-08:00, ends 13:00 UTC.
    assert quiet_until(datetime(2026, 3, 3, 4, 0, tzinfo=UTC), "America/New_York", NIGHT) == datetime(
        2026, 3, 3, 13, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "doc",
    [
        {"start": "21:00", "end": "21:00"},
        {"start": "25:00", "end": "08:00"},
        {"start": "9:00", "end": "08:00"},
        {"start": "21:00", "end": "08:00", "mode": "later"},
    ],
)
def test_bad_quiet_hours_are_refused(doc: dict[str, str]) -> None:
    with pytest.raises(PolicyError, match="quiet_hours"):
        parse_policy({"steps": [{"action": "call_resident", "wait_minutes": 5}], "quiet_hours": doc})


def _rec(kind: RecipientKind, channel: Channel) -> Recipient:
    return Recipient(kind, 1, "+821000000000", Language.KO, channel)


def test_limits_hold_back_calls_and_family_texts_but_never_emergencies_staff_or_closures() -> None:
    assert limit_applies(_rec(RecipientKind.RESIDENT, Channel.CALL), Purpose.LADDER)
    assert limit_applies(_rec(RecipientKind.CONTACT, Channel.CALL), Purpose.LADDER)
    assert limit_applies(_rec(RecipientKind.CONTACT, Channel.SMS), Purpose.LADDER)
    assert not limit_applies(_rec(RecipientKind.CONTACT, Channel.SMS), Purpose.EMERGENCY)
    assert not limit_applies(_rec(RecipientKind.USER, Channel.SMS), Purpose.EXHAUSTED)
    assert not limit_applies(_rec(RecipientKind.CONTACT, Channel.SMS), Purpose.ALL_CLEAR)
    assert not limit_applies(_rec(RecipientKind.RESIDENT, Channel.SMS), Purpose.PRE_CALL)


@pytest.mark.parametrize("language", list(Language))
def test_the_pre_call_text_names_the_agency_and_no_case(language: Language) -> None:
    text = CATALOGUE.text(PRE_CALL_TEMPLATE, language)
    assert ("안부 돌봄센터" if language == Language.KO else "Anbu care center") in text
    assert "{" not in text
    assert template_for("resident", Purpose.LADDER) == PRE_CALL_TEMPLATE
