"""Issue 13.2: who may stop an escalation. Caller ID alone never acknowledges a case or checks a
resident in; the code in our alert text (or a call we placed) does. Real escalation engine."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallOutcome, CallPurpose, CaseEventType, CaseStatus, RecipientKind, ResolutionCode
from core.models import CallAttempt, Case, Contact, Household, Notification, Resident, Watch
from core.settings import Settings
from notifier import calls, lifecycle, sms
from tests.factories import case_events, load, make_household, make_open_case, make_team, make_user
from tests.ticks import run_notifier_ticks

SETTINGS = Settings(_env_file=None, public_base_url="https://care.example.org")


@dataclass
class Alerted:
    case_id: int
    contact_phones: list[str]


def alerted_home(engine: Engine, clock: ManualClock, *, contacts: int = 1) -> Alerted:
    """A case whose ladder has reached the family text (two resident calls went unanswered)."""
    with session_scope(engine) as s:
        team = make_team(s)
        household = make_household(s, team=team, contacts=contacts)
        make_user(s, team=team)
        case = make_open_case(s, household, now=clock.now())
        phones = [c.phone for c in s.exec(select(Contact).where(Contact.household_id == household.id))]
        assert case.id is not None
        case_id = case.id
    for _ in range(3):  # call, call again, then the family tier
        assert run_notifier_ticks(engine, clock, SETTINGS) >= 1
        clock.advance(timedelta(minutes=16))
    assert family_texts(engine, case_id), "the ladder never texted the family"
    return Alerted(case_id, phones)


def family_texts(engine: Engine, case_id: int) -> list[Notification]:
    with Session(engine) as s:
        stmt = select(Notification).where(
            Notification.case_id == case_id, Notification.recipient_kind == RecipientKind.CONTACT
        )
        return list(s.exec(stmt.order_by(col(Notification.id))).all())


def text_us(engine: Engine, clock: ManualClock, from_: str, body: str) -> str:
    with session_scope(engine) as s:
        twiml = sms.inbound_sms(s, params={"From": from_, "Body": body}, now=clock.now())
    (message,) = ET.fromstring(twiml.encode()).findall("Message")
    return message.text or ""


def code_in(body: str) -> str:
    found = re.search(r"\b1 (\d{4})\b", body)
    assert found, body
    return found.group(1)


def test_a_spoofed_1_from_the_daughters_number_does_not_stop_the_ladder(
    engine: Engine, clock: ManualClock
) -> None:
    """The attack: anyone who can set their caller ID to the daughter's number texts "1"; it
    acknowledged the case and everyone else's alerts stopped. Now it is recorded, not acted on."""
    home = alerted_home(engine, clock)
    texted = len(family_texts(engine, home.case_id))
    reply = text_us(engine, clock, home.contact_phones[0], "1")
    case = load(engine, Case, home.case_id)
    assert case.status == CaseStatus.OPEN
    assert case.acknowledged_by is None
    # The escalation goes on: the next step (the caseworker) and the family text again later.
    assert run_notifier_ticks(engine, clock, SETTINGS) == 1
    clock.advance(timedelta(minutes=16))
    assert run_notifier_ticks(engine, clock, SETTINGS) == 1
    assert len(family_texts(engine, home.case_id)) > texted
    # Staff see that someone answered "1" without the code; the sender is asked for it.
    (unproven,) = case_events(engine, home.case_id, CaseEventType.REPLY_UNVERIFIED)
    assert unproven.data["reason"] == "no_code" and unproven.data["channel"] == "sms"
    assert "확인 코드" in reply


def test_the_code_in_the_text_acknowledges_that_case(engine: Engine, clock: ManualClock) -> None:
    home = alerted_home(engine, clock)
    (text,) = family_texts(engine, home.case_id)
    code = code_in(text.body)
    reply = text_us(engine, clock, home.contact_phones[0], f"1 {code}")
    assert reply.startswith("확인해 주셔서 감사합니다")
    case = load(engine, Case, home.case_id)
    assert case.status == CaseStatus.ACKNOWLEDGED
    assert case.acknowledged_by == f"contact:{text.recipient_id}"
    assert case_events(engine, home.case_id, CaseEventType.REPLY_UNVERIFIED) == []


def test_each_family_member_has_their_own_code_the_same_in_every_text_of_the_case(
    engine: Engine, clock: ManualClock
) -> None:
    home = alerted_home(engine, clock, contacts=2)
    for _ in range(2):  # the caseworker step, then the family tier again
        assert run_notifier_ticks(engine, clock, SETTINGS) == 1
        clock.advance(timedelta(minutes=16))
    codes: dict[int | None, set[str]] = {}
    for text in family_texts(engine, home.case_id):
        codes.setdefault(text.recipient_id, set()).add(code_in(text.body))
    assert len(codes) == 2 and all(len(each) == 1 for each in codes.values())
    first, second = (next(iter(each)) for each in codes.values())
    if first != second:  # 1 in 10,000 they coincide; then this check says nothing
        # The son's code from the daughter's number proves nothing: refused.
        assert "맞지 않아" in text_us(engine, clock, home.contact_phones[0], f"1 {second}")
        assert load(engine, Case, home.case_id).status == CaseStatus.OPEN
    text_us(engine, clock, home.contact_phones[1], f"확인 {second}")
    assert load(engine, Case, home.case_id).status == CaseStatus.ACKNOWLEDGED


def test_wrong_codes_are_refused_and_the_fifth_locks_the_code(engine: Engine, clock: ManualClock) -> None:
    home = alerted_home(engine, clock)
    (text,) = family_texts(engine, home.case_id)
    right = code_in(text.body)
    wrong = [f"{(int(right) + n) % 10_000:04d}" for n in range(1, 6)]
    replies = [text_us(engine, clock, home.contact_phones[0], f"1 {code}") for code in wrong]
    assert all("맞지 않아" in r for r in replies[:4])
    assert "여러 번 맞지 않아" in replies[4] and "전화" in replies[4]
    # Locked: even the right code no longer acknowledges; the escalation goes on.
    assert "여러 번 맞지 않아" in text_us(engine, clock, home.contact_phones[0], f"1 {right}")
    assert load(engine, Case, home.case_id).status == CaseStatus.OPEN
    reasons = [e.data["reason"] for e in case_events(engine, home.case_id, CaseEventType.REPLY_UNVERIFIED)]
    assert reasons == ["wrong_code"] * 4 + ["locked"] * 2
    assert run_notifier_ticks(engine, clock, SETTINGS) == 1


def test_a_code_from_another_case_is_refused(engine: Engine, clock: ManualClock) -> None:
    """The daughter's code for last week's case does not acknowledge this week's."""
    old = alerted_home(engine, clock)
    (old_text,) = family_texts(engine, old.case_id)
    old_code = code_in(old_text.body)
    assert text_us(engine, clock, old.contact_phones[0], f"1 {old_code}").startswith("확인해 주셔서")
    with session_scope(engine) as s:
        case = s.get_one(Case, old.case_id)
        lifecycle.resolve(
            s, case, actor="user:1", code=ResolutionCode.RESIDENT_FINE, note="", now=clock.now()
        )
        new_case = make_open_case(s, s.get_one(Household, case.household_id), now=clock.now())
        assert new_case.id is not None
        new_id = new_case.id
    for _ in range(3):
        run_notifier_ticks(engine, clock, SETTINGS)
        clock.advance(timedelta(minutes=16))
    (new_text,) = family_texts(engine, new_id)
    if code_in(new_text.body) != old_code:
        assert "맞지 않아" in text_us(engine, clock, old.contact_phones[0], f"1 {old_code}")
        assert load(engine, Case, new_id).status == CaseStatus.OPEN
    assert text_us(engine, clock, old.contact_phones[0], code_in(new_text.body)).startswith("확인해")
    assert load(engine, Case, new_id).status == CaseStatus.ACKNOWLEDGED


def test_with_two_households_open_the_code_says_which_case_is_meant(
    engine: Engine, clock: ManualClock
) -> None:
    mother = alerted_home(engine, clock)
    father = alerted_home(engine, clock)
    with session_scope(engine) as s:  # the same daughter, listed for both parents
        for contact in s.exec(select(Contact).where(Contact.phone == father.contact_phones[0])):
            contact.phone = mother.contact_phones[0]
    assert "코드" in text_us(engine, clock, mother.contact_phones[0], "1")  # which one? ask for the code
    (text,) = family_texts(engine, father.case_id)
    text_us(engine, clock, mother.contact_phones[0], f"1 {code_in(text.body)}")
    assert load(engine, Case, father.case_id).status == CaseStatus.ACKNOWLEDGED
    assert load(engine, Case, mother.case_id).status == CaseStatus.OPEN


# ---------------------------------------------------------------- calls to our number

BASE = "https://care.example.org"
ATTESTED = "TN-Validation-Passed-A"


def ring(engine: Engine, clock: ManualClock, from_: str, verstat: str | None = None) -> ET.Element:
    params = {"From": from_, "CallSid": "CA" + uuid.uuid4().hex}
    if verstat is not None:
        params["StirVerstat"] = verstat
    with session_scope(engine) as s:
        return ET.fromstring(calls.inbound_call(s, params=params, base_url=BASE, now=clock.now()).encode())


def press(engine: Engine, clock: ManualClock, root: ET.Element, digits: str) -> ET.Element:
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root)
    query = parse_qs(urlsplit(gather.get("action") or "").query)
    with session_scope(engine) as s:
        answer = calls.contact_gather(
            s,
            code=query["code"][0],
            params={"Digits": digits},
            base_url=BASE,
            now=clock.now(),
            gather_no=int(query["n"][0]),
        )
    return ET.fromstring(answer.encode())


def said(root: ET.Element) -> str:
    return " ".join(el.text or "" for el in root.iter("Say"))


def test_a_spoofed_call_from_the_daughters_number_pressing_1_does_not_stop_the_ladder(
    engine: Engine, clock: ManualClock
) -> None:
    """The attack by phone: call our number with the daughter's caller ID and press 1."""
    home = alerted_home(engine, clock)
    opening = ring(engine, clock, home.contact_phones[0])
    assert "확인 코드 네 자리" in said(opening)  # asked for the code, not "press 1"
    reask = press(engine, clock, opening, "1")
    assert load(engine, Case, home.case_id).status == CaseStatus.OPEN
    final = press(engine, clock, reask, "1")
    assert final.find("Hangup") is not None and "알림은 계속됩니다" in said(final)
    assert load(engine, Case, home.case_id).status == CaseStatus.OPEN
    assert run_notifier_ticks(engine, clock, SETTINGS) == 1  # the ladder goes on
    unproven = case_events(engine, home.case_id, CaseEventType.REPLY_UNVERIFIED)
    assert [(e.data["reason"], e.data["channel"]) for e in unproven] == [("no_code", "call")] * 2


def test_the_code_on_the_keypad_acknowledges_and_is_not_kept_in_the_transcript(
    engine: Engine, clock: ManualClock
) -> None:
    home = alerted_home(engine, clock)
    (text,) = family_texts(engine, home.case_id)
    code = code_in(text.body)
    wrong = f"{(int(code) + 1) % 10_000:04d}"
    reask = press(engine, clock, ring(engine, clock, home.contact_phones[0]), wrong)
    assert "맞지 않거나" in said(reask)
    done = press(engine, clock, reask, code)
    assert "추가 알림을 멈춥니다" in said(done)
    case = load(engine, Case, home.case_id)
    assert (case.status, case.acknowledged_by) == (CaseStatus.ACKNOWLEDGED, f"contact:{text.recipient_id}")
    with Session(engine) as s:
        (attempt,) = s.exec(select(CallAttempt).where(CallAttempt.purpose == CallPurpose.INBOUND)).all()
    outcomes = case_events(engine, home.case_id, CaseEventType.CALL_OUTCOME)
    assert attempt.outcome == CallOutcome.ACKNOWLEDGED
    assert code not in attempt.transcript and wrong not in attempt.transcript
    assert all(code not in str(e.data) and wrong not in str(e.data) for e in outcomes)


def test_full_stir_shaken_attestation_lets_1_acknowledge_and_a_failed_one_hears_no_state(
    engine: Engine, clock: ManualClock
) -> None:
    """StirVerstat: with A-level attestation the carrier vouches that the caller may use the
    number, so "press 1" is offered as on our own call; a failed verification hears nothing of
    the household (only the code can prove anything)."""
    home = alerted_home(engine, clock)
    failed = ring(engine, clock, home.contact_phones[0], "TN-Validation-Failed-A")
    assert "생활 반응 없음" not in said(failed) and "확인 코드 네 자리" in said(failed)
    for weaker in ("TN-Validation-Passed-B", "TN-Validation-Passed-C", "No-TN-Validation"):
        assert "확인 코드 네 자리" in said(ring(engine, clock, home.contact_phones[0], weaker))
    attested = ring(engine, clock, home.contact_phones[0], ATTESTED)
    assert "1번을 눌러" in said(attested) and "생활 반응 없음" in said(attested)
    assert "추가 알림을 멈춥니다" in said(press(engine, clock, attested, "1"))
    assert load(engine, Case, home.case_id).status == CaseStatus.ACKNOWLEDGED
    with Session(engine) as s:
        verstats = [
            a.caller_verstat
            for a in s.exec(select(CallAttempt).where(CallAttempt.purpose == CallPurpose.INBOUND))
        ]
    assert verstats == [
        "TN-Validation-Failed-A",
        "TN-Validation-Passed-B",
        "TN-Validation-Passed-C",
        "No-TN-Validation",
        ATTESTED,
    ]


# ---------------------------------------------------------------- the resident's "I'm fine"


def resident_phone(engine: Engine, case_id: int) -> str:
    with Session(engine) as s:
        case = s.get_one(Case, case_id)
        resident = s.exec(select(Resident).where(Resident.household_id == case.household_id)).one()
        assert resident.phone is not None
        return resident.phone


def checkin_at(engine: Engine, case_id: int) -> object:
    with Session(engine) as s:
        watch = s.get(Watch, s.get_one(Case, case_id).household_id)
        return None if watch is None else watch.last_checkin_at


def verification_calls(engine: Engine, case_id: int) -> list[CallAttempt]:
    with Session(engine) as s:
        stmt = select(CallAttempt).where(
            CallAttempt.case_id == case_id, col(CallAttempt.idempotency_key).contains(":step:verify:")
        )
        return list(s.exec(stmt).all())


def test_a_spoofed_fine_from_the_residents_number_neither_clears_nor_checks_in(
    engine: Engine, clock: ManualClock
) -> None:
    """The attack on the resident's side: "괜찮아요" from their number (anyone's phone can claim
    it) cleared the inactivity case and stopped every alert. Now it is recorded, and we call the
    number on file back: only the resident's own phone can answer that call."""
    home = alerted_home(engine, clock)
    phone = resident_phone(engine, home.case_id)
    reply = text_us(engine, clock, phone, "괜찮아요 걱정 마세요")
    assert "전화" in reply  # "we will call you to make sure"
    case = load(engine, Case, home.case_id)
    assert (case.status, case.clear_reason) == (CaseStatus.OPEN, None)
    assert checkin_at(engine, home.case_id) is None  # not a sign of life either
    (unproven,) = case_events(engine, home.case_id, CaseEventType.REPLY_UNVERIFIED)
    assert (unproven.data["reason"], unproven.data["channel"]) == ("resident_ok", "sms")
    (callback,) = verification_calls(engine, home.case_id)
    assert (callback.to_address, callback.recipient_kind) == (phone, RecipientKind.RESIDENT)
    text_us(engine, clock, phone, "괜찮아요")  # said again: still one call back per case
    assert len(verification_calls(engine, home.case_id)) == 1
    # Answering our call back with "괜찮아요" is the proof: the case clears.
    with session_scope(engine) as s:
        calls.answer(s, code=callback.code, params={"AnsweredBy": "human"}, base_url=BASE, now=clock.now())
    with session_scope(engine) as s:
        calls.gather(s, code=callback.code, params={"Digits": "1"}, base_url=BASE, now=clock.now())
    assert load(engine, Case, home.case_id).status == CaseStatus.CLEARED
    assert checkin_at(engine, home.case_id) == clock.now()


def test_a_resident_asking_for_help_by_text_is_always_believed(engine: Engine, clock: ManualClock) -> None:
    """Help needs no proof: a forged "help" can only bring more people, never fewer."""
    home = alerted_home(engine, clock)
    text_us(engine, clock, resident_phone(engine, home.case_id), "살려주세요 넘어졌어요")
    case = load(engine, Case, home.case_id)
    assert (case.status, case.severity.value) == (CaseStatus.OPEN, "critical")
    assert case_events(engine, home.case_id, CaseEventType.REPLY_UNVERIFIED) == []


def test_the_resident_calling_in_saying_fine_is_verified_unless_the_caller_id_is_attested(
    engine: Engine, clock: ManualClock
) -> None:
    home = alerted_home(engine, clock)
    phone = resident_phone(engine, home.case_id)

    def call_in(verstat: str | None) -> None:
        opening = ring(engine, clock, phone, verstat)
        query = parse_qs(urlsplit(opening.find("Gather").get("action") or "").query)  # type: ignore[union-attr]
        with session_scope(engine) as s:
            calls.gather(
                s, code=query["code"][0], params={"Digits": "1"}, base_url=BASE, now=clock.now(), gather_no=1
            )

    call_in("TN-Validation-Passed-B")
    assert load(engine, Case, home.case_id).status == CaseStatus.OPEN
    assert checkin_at(engine, home.case_id) is None
    assert len(verification_calls(engine, home.case_id)) == 1
    (unproven,) = case_events(engine, home.case_id, CaseEventType.REPLY_UNVERIFIED)
    assert (unproven.data["reason"], unproven.data["channel"]) == ("resident_ok", "call")
    call_in(ATTESTED)  # the carrier vouches for the caller ID: as good as our call
    assert load(engine, Case, home.case_id).status == CaseStatus.CLEARED
    assert checkin_at(engine, home.case_id) == clock.now()
