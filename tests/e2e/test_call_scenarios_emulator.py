"""Each phone scenario end to end: escalation engine -> outbox -> the real twilio library ->
Twilio emulator -> signed webhooks into our API -> the case outcome.

No MQTT here (the whole loop test covers it): each test opens an inactivity case directly, with a
policy of one resident call, and drives the engine and outbox ticks until the call has ended.
One API server and one emulator serve the whole module; every test has its own household.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator

from core.clock import SYSTEM_CLOCK
from core.db import make_engine, session_scope
from core.enums import (
    CallOutcome,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    Channel,
    RecipientKind,
    Severity,
)
from core.migrate import upgrade
from core.models import CallAttempt, Case, CaseEvent, Contact, Notification, Watch
from core.settings import DEV_TWILIO_ACCOUNT_SID, Settings
from notifier import checkins, outbox, webhook_urls
from notifier.pacing import CallPacer
from notifier.transports.factory import make_transport
from simulator.phone_scenarios import Behaviour, Reply
from simulator.twilio_emulator import TwilioEmulator, WebhookExchange
from tests.e2e.harness import E2E_TWILIO_TOKEN, free_port, serving_api
from tests.factories import TEST_SECRET_KEY, make_household, make_open_case, make_team, make_user
from tests.ticks import run_notifier_ticks

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# How long the emulator waits for one of our webhooks (Twilio waits 15 s); short, so the slow
# webhook scenario is quick. Local requests take milliseconds.
WEBHOOK_TIMEOUT_S = 2.0
ONE_CALL = {"steps": [{"action": "call_resident", "wait_minutes": 60}]}
_numbers = itertools.count(1)


@dataclass
class Phones:
    settings: Settings
    engine: Engine
    emulator: TwilioEmulator

    def drive(self, done: Callable[[], bool], timeout: float = 20.0) -> bool:
        """Run engine and outbox ticks until ``done`` (polled, with a timeout)."""
        transport = make_transport(self.settings)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run_notifier_ticks(self.engine, SYSTEM_CLOCK, self.settings)
            outbox.tick(self.engine, SYSTEM_CLOCK, self.settings, transport, pacer=CallPacer(0))
            if done():
                return True
            time.sleep(0.05)
        return done()


@pytest.fixture(scope="module")
def phones(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phones]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('calls')) / 'anbu.db'}"
    upgrade(url)
    engine = make_engine(url)
    emulator = TwilioEmulator(DEV_TWILIO_ACCOUNT_SID, E2E_TWILIO_TOKEN, webhook_timeout_s=WEBHOOK_TIMEOUT_S)
    emulator.start()
    port = free_port()
    settings = Settings(
        _env_file=None,
        env="test",
        secret_key=TEST_SECRET_KEY,
        http_port=port,
        public_base_url=f"http://127.0.0.1:{port}",
        twilio_account_sid=DEV_TWILIO_ACCOUNT_SID,
        twilio_auth_token=E2E_TWILIO_TOKEN,
        twilio_from_number="+15005550006",
        twilio_api_base=emulator.base_url,
        transport="twilio",
    )
    try:
        with serving_api(settings, engine, port):
            yield Phones(settings, engine, emulator)
    finally:
        emulator.stop()
        engine.dispose()


@dataclass
class Home:
    case_id: int
    household_id: int
    resident: str
    caseworker: str
    family: str


def _home(phones: Phones, behaviour: Behaviour) -> Home:
    n = next(_numbers)
    resident, caseworker = f"+8210100{n:05d}", f"+8210200{n:05d}"
    with session_scope(phones.engine) as s:
        team = make_team(s, policy=dict(ONE_CALL))
        make_user(s, team=team, phone=caseworker)
        hh = make_household(s, team=team, resident_phone=resident)
        case = make_open_case(s, hh, now=SYSTEM_CLOCK.now())
        contact = s.exec(select(Contact).where(Contact.household_id == hh.id)).one()
        family = contact.phone
        assert case.id is not None and hh.id is not None
    phones.emulator.set_behaviour(resident, behaviour)
    return Home(case.id, hh.id, resident, caseworker, family)


def _call(phones: Phones, home: Home) -> CallAttempt | None:
    with Session(phones.engine) as s:
        return s.exec(select(CallAttempt).where(CallAttempt.case_id == home.case_id)).first()


def _ended(phones: Phones, home: Home) -> Callable[[], bool]:
    def check() -> bool:
        call = _call(phones, home)
        return (
            call is not None
            and call.outcome is not None
            and call.status
            in (
                CallStatus.COMPLETED,
                CallStatus.BUSY,
                CallStatus.NO_ANSWER,
                CallStatus.FAILED,
            )
        )

    return check


def _case(phones: Phones, home: Home) -> Case:
    with Session(phones.engine) as s:
        case = s.get(Case, home.case_id)
        assert case is not None
        return case


def _sent_sms(phones: Phones, home: Home) -> dict[str, str]:
    """to -> template of every SMS the outbox handed to the provider for this case."""
    with Session(phones.engine) as s:
        rows = s.exec(
            select(Notification).where(
                Notification.case_id == home.case_id, col(Notification.provider_sid).is_not(None)
            )
        ).all()
        return {n.to_address: n.template for n in rows}


def _run(phones: Phones, behaviour: Behaviour) -> tuple[Home, CallAttempt]:
    home = _home(phones, behaviour)
    assert phones.drive(_ended(phones, home)), f"the call never ended: {_call(phones, home)}"
    call = _call(phones, home)
    assert call is not None
    return home, call


# ---------------------------------------------------------------- what the resident does


def test_answers_fine_clears_the_case_and_checks_in(phones: Phones) -> None:
    home, call = _run(phones, Behaviour(replies=(Reply.say("네 괜찮아요"),), ring_seconds=0))
    assert (call.outcome, call.status) == (CallOutcome.OK, CallStatus.COMPLETED)
    case = _case(phones, home)
    assert (case.status, case.clear_reason) == (CaseStatus.CLEARED, "resident_ok")
    with Session(phones.engine) as s:
        watch = s.get(Watch, home.household_id)
        assert watch is not None and watch.last_checkin_at is not None
    (record,) = [c for c in phones.emulator.calls() if c.to == home.resident]
    assert all(ex.status is not None and ex.status < 300 for ex in record.webhooks)


def test_says_they_want_to_die_is_put_through_to_the_line_and_the_caseworker_is_called(
    phones: Phones,
) -> None:
    # Issue 19: not the generic goodbye, but the calm script with the crisis line; the call does
    # not hang up on them: <Dial> puts them through to it. A case of its own; the caseworker is
    # called (key 1 takes it on and connects them to the resident), and texted, as is the family.
    home = _home(phones, Behaviour(replies=(Reply.say("죽고 싶어요"),), ring_seconds=0))
    phones.emulator.set_behaviour(home.caseworker, Behaviour(replies=(Reply.press("1"),), ring_seconds=0))
    assert phones.drive(_ended(phones, home)), "the call never ended"
    call = _call(phones, home)
    assert call is not None and call.outcome == CallOutcome.EMERGENCY
    (record,) = [c for c in phones.emulator.calls() if c.to == home.resident]
    heard = " ".join(record.said)
    assert heard.count("109") >= 2 and "119" in heard and "좋은 하루" not in heard
    assert record.dialled == [{"number": "109", "status": "completed", "duration_s": 30}]
    assert [ex.purpose for ex in record.webhooks if ex.purpose in ("gather", "dial")] == ["gather", "dial"]
    assert all(ex.status is not None and ex.status < 300 for ex in record.webhooks)
    with Session(phones.engine) as s:
        case = s.exec(
            select(Case).where(Case.household_id == home.household_id, Case.kind == CaseKind.SELF_HARM_RISK)
        ).one()
    assert case.severity == Severity.CRITICAL and case.follow_up_visits

    def texted() -> set[tuple[str, str]]:
        with Session(phones.engine) as s:
            rows = s.exec(
                select(Notification).where(
                    Notification.case_id == case.id, col(Notification.provider_sid).is_not(None)
                )
            ).all()
            return {(n.to_address, n.template) for n in rows}

    wanted = {(home.caseworker, "sms.caseworker.self_harm"), (home.family, "sms.family.self_harm")}
    assert phones.drive(lambda: wanted <= texted())

    def taken_on() -> bool:
        with Session(phones.engine) as s:
            return (s.get_one(Case, case.id).acknowledged_by or "").startswith("user:")

    assert phones.drive(taken_on), "the caseworker was never called, or key 1 did not take the case on"

    def put_through() -> bool:
        # The case is taken on when key 1's webhook commits; the emulator dials the resident only
        # once it has read that webhook's answer, a moment later (under load, after this test looked).
        (rung,) = [c for c in phones.emulator.calls() if c.to == home.caseworker]
        return home.resident in [d["number"] for d in rung.dialled]

    assert phones.drive(put_through), "key 1 took the case on but the caseworker was not put through"
    (rung,) = [c for c in phones.emulator.calls() if c.to == home.caseworker]
    assert "자살 위험" in " ".join(rung.said)
    # Nobody rings them again with the "are you all right?" robot: a person calls.
    assert [c.to for c in phones.emulator.calls()].count(home.resident) == 1


def test_when_the_line_is_busy_the_resident_presses_1_and_is_put_through_again(phones: Phones) -> None:
    home = _home(phones, Behaviour(replies=(Reply.say("I want to die"), Reply.press("1")), ring_seconds=0))
    phones.emulator.set_behaviour("109", Behaviour(kind="busy"))
    try:
        assert phones.drive(_ended(phones, home)), "the call never ended"
    finally:
        phones.emulator.set_behaviour("109", Behaviour())
    (record,) = [c for c in phones.emulator.calls() if c.to == home.resident]
    # Busy, the fallback, key 1, busy again, the fallback, no key: the closing.
    assert [d["status"] for d in record.dialled] == ["busy", "busy"]
    heard = " ".join(record.said)
    assert "1번을 눌러" in heard and heard.count("109") >= 4 and "119" in heard
    assert record.said[-1].startswith("말씀해 주셔서 고맙습니다")  # the closing, never silence


def test_answers_unwell_tells_the_caseworker_only(phones: Phones) -> None:
    home, call = _run(phones, Behaviour(replies=(Reply.say("머리가 너무 아파요"),), ring_seconds=0))
    assert call.outcome == CallOutcome.UNWELL
    assert phones.drive(lambda: bool(_sent_sms(phones, home)))
    assert _sent_sms(phones, home) == {home.caseworker: "sms.caseworker.unwell"}
    assert _case(phones, home).status == CaseStatus.OPEN


def test_presses_2_is_an_emergency_for_caseworker_and_family_at_once(phones: Phones) -> None:
    home, call = _run(phones, Behaviour(replies=(Reply.press("2"),), ring_seconds=0))
    assert call.outcome == CallOutcome.EMERGENCY
    assert phones.drive(lambda: len(_sent_sms(phones, home)) == 2)
    assert _sent_sms(phones, home) == {
        home.caseworker: "sms.caseworker.emergency",
        home.family: "sms.family.emergency",
    }
    assert _case(phones, home).severity == Severity.CRITICAL
    texts = {m.to for m in phones.emulator.messages()}
    assert {home.caseworker, home.family} <= texts


def test_the_family_takes_the_case_on_by_texting_back_the_code_of_the_alert(phones: Phones) -> None:
    """Issue 13.2 end to end: the emergency text to the daughter carries her code; she texts
    "1 <code>" back through the phone network and the case is hers. A bare "1" would not do."""
    home = _home(phones, Behaviour(replies=(Reply.press("2"),), ring_seconds=0))
    phones.emulator.set_behaviour(home.family, Behaviour(sms_reply="1 {code}", sms_reply_after_s=0))
    phones.emulator.set_sms_url(
        OUR_NUMBER, phones.settings.effective_public_base_url + webhook_urls.SMS_INBOUND
    )

    def replies() -> list[WebhookExchange]:
        return [ex for ex in phones.emulator.inbound() if ex.params.get("From") == home.family]

    def acknowledged() -> bool:
        # The emulator records an exchange once our answer is back, which can be after the
        # acknowledgement is committed: wait for both.
        return _case(phones, home).status == CaseStatus.ACKNOWLEDGED and bool(replies())

    assert phones.drive(acknowledged), "the family's coded reply never acknowledged the case"
    (alert,) = [m for m in phones.emulator.messages() if m.to == home.family]
    (reply,) = replies()
    code = reply.params["Body"].removeprefix("1 ")
    assert len(code) == 4 and f"1 {code}" in alert.body
    assert "추가 알림을 멈춥니다" in (reply.response_body or "")
    with Session(phones.engine) as s:
        contact = s.exec(select(Contact).where(Contact.phone == home.family)).one()
    assert _case(phones, home).acknowledged_by == f"contact:{contact.id}"


@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        (Behaviour(kind="no_answer"), CallOutcome.NO_ANSWER, CallStatus.NO_ANSWER),
        (Behaviour(kind="busy"), CallOutcome.BUSY, CallStatus.BUSY),
        (Behaviour(kind="voicemail", ring_seconds=0), CallOutcome.VOICEMAIL, CallStatus.COMPLETED),
        (Behaviour(kind="hangup", ring_seconds=0), CallOutcome.UNCLEAR, CallStatus.COMPLETED),
        # Says something unclear, then hangs up while being asked again.
        (
            Behaviour(replies=(Reply.say("여보세요?"),), ring_seconds=0, hangup_after=1),
            CallOutcome.UNCLEAR,
            CallStatus.COMPLETED,
        ),
        (Behaviour(kind="fail"), CallOutcome.FAILED, CallStatus.FAILED),
        # Two unclear replies: asked once more, then unclear.
        (
            Behaviour(replies=(Reply.say("여보세요?"), Reply.silence()), ring_seconds=0),
            CallOutcome.UNCLEAR,
            CallStatus.COMPLETED,
        ),
    ],
    ids=[
        "no_answer",
        "busy",
        "voicemail",
        "hangs_up_at_the_first_question",
        "hangs_up_after_the_first_reply",
        "cannot_connect",
        "unclear_twice",
    ],
)
def test_no_reply_outcomes_leave_the_case_open_for_the_ladder(
    phones: Phones, behaviour: Behaviour, outcome: CallOutcome, status: CallStatus
) -> None:
    home, call = _run(phones, behaviour)
    assert (call.outcome, call.status) == (outcome, status)
    case = _case(phones, home)
    assert case.status == CaseStatus.OPEN and case.severity == Severity.ALERT
    assert _sent_sms(phones, home) == {}  # nobody told out of turn: the ladder decides
    with Session(phones.engine) as s:
        (ended,) = s.exec(
            select(CaseEvent).where(
                CaseEvent.case_id == home.case_id, CaseEvent.type == CaseEventType.CALL_STATUS
            )
        ).all()
    assert ended.data["outcome"] == outcome.value


# ---------------------------------------------------------------- what the network does


def test_duplicate_and_out_of_order_callbacks_change_nothing(phones: Phones) -> None:
    home, call = _run(phones, Behaviour(replies=(Reply.press("1"),), ring_seconds=0))
    (record,) = [c for c in phones.emulator.calls() if c.to == home.resident]
    assert len(record.status_callbacks) >= 3

    def snapshot() -> tuple[object, ...]:
        with Session(phones.engine) as s:
            attempt = s.get(CallAttempt, call.id)
            case = s.get(Case, home.case_id)
            assert attempt is not None and case is not None
            n = len(s.exec(select(CaseEvent).where(CaseEvent.case_id == home.case_id)).all())
            return (
                attempt.status,
                attempt.outcome,
                attempt.last_sequence,
                attempt.transcript,
                case.version,
                n,
            )

    before = snapshot()
    validator = RequestValidator(E2E_TWILIO_TOKEN)
    replays = [*reversed(record.status_callbacks), *record.status_callbacks] + [
        ex for ex in record.webhooks if ex.purpose == "gather"
    ]
    for ex in replays:
        signature = validator.compute_signature(ex.url, ex.params)
        response = httpx.post(ex.url, data=ex.params, headers={"X-Twilio-Signature": signature}, timeout=10)
        assert response.status_code < 300, (ex.purpose, response.status_code)
    assert snapshot() == before
    assert _case(phones, home).status == CaseStatus.CLEARED


def test_a_forged_callback_is_refused(phones: Phones) -> None:
    home, call = _run(phones, Behaviour(kind="no_answer"))
    url = f"{phones.settings.effective_public_base_url}/api/v1/twilio/voice/status?code={call.code}"
    params = {"CallSid": call.provider_sid or "", "CallStatus": "completed", "SequenceNumber": "99"}
    forged = httpx.post(url, data=params, headers={"X-Twilio-Signature": "AAAA"}, timeout=10)
    assert forged.status_code == 403
    after = _call(phones, home)
    assert after is not None and after.last_sequence < 99


def test_a_family_member_who_prefers_calls_acknowledges_by_pressing_1(phones: Phones) -> None:
    n = next(_numbers)
    resident, contact_phone = f"+8210300{n:05d}", f"+8210400{n:05d}"
    with session_scope(phones.engine) as s:
        team = make_team(s, policy={"steps": [{"action": "notify_family", "tier": 1, "wait_minutes": 60}]})
        hh = make_household(s, team=team, resident_phone=resident, contacts=0)
        assert hh.id is not None
        s.add(
            Contact(household_id=hh.id, name="Daughter", phone=contact_phone, preferred_channel=Channel.CALL)
        )
        case = make_open_case(s, hh, now=SYSTEM_CLOCK.now())
        case_id = case.id
    phones.emulator.set_behaviour(contact_phone, Behaviour(replies=(Reply.press("1"),), ring_seconds=0))

    def acknowledged() -> bool:
        with Session(phones.engine) as s:
            c = s.get(Case, case_id)
            return c is not None and c.status == CaseStatus.ACKNOWLEDGED

    assert phones.drive(acknowledged)
    with Session(phones.engine) as s:
        (attempt,) = s.exec(select(CallAttempt).where(CallAttempt.case_id == case_id)).all()
        assert (attempt.recipient_kind, attempt.outcome) == (RecipientKind.CONTACT, CallOutcome.ACKNOWLEDGED)
        case_row = s.get(Case, case_id)
        assert case_row is not None and case_row.acknowledged_by == f"contact:{attempt.recipient_id}"
    (record,) = [c for c in phones.emulator.calls() if c.to == contact_phone]
    assert any("1번을 눌러" in line for line in record.said)


def _answer_webhooks(phones: Phones, home: Home) -> list[int | None]:
    (record,) = [c for c in phones.emulator.calls() if c.to == home.resident]
    return [ex.status for ex in record.webhooks if ex.purpose == "answer"]


def test_a_failing_answer_webhook_ends_the_call_and_the_ladder_goes_on(
    phones: Phones, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("database went away")

    monkeypatch.setattr("notifier.calls.answer", broken)
    home, call = _run(phones, Behaviour(replies=(Reply.press("1"),), ring_seconds=0))
    assert _answer_webhooks(phones, home) == [500]
    assert (call.status, call.outcome) == (CallStatus.COMPLETED, CallOutcome.UNCLEAR)
    case = _case(phones, home)
    assert case.status == CaseStatus.OPEN and case.next_action_at is not None  # the next step will come


def test_a_webhook_slower_than_twilio_waits_is_dropped_and_its_late_work_changes_nothing(
    phones: Phones, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifier import calls as real

    original = real.answer
    finished = threading.Event()

    def slow(*args: Any, **kwargs: Any) -> str:
        time.sleep(WEBHOOK_TIMEOUT_S + 0.5)  # fault injection: longer than the emulator waits
        try:
            return original(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr("notifier.calls.answer", slow)
    home, _ = _run(phones, Behaviour(replies=(Reply.press("1"),), ring_seconds=0))
    assert _answer_webhooks(phones, home) == [None]  # no response in time
    assert finished.wait(10), "the slow handler never finished"
    after = _call(phones, home)
    assert after is not None
    assert (after.status, after.outcome) == (CallStatus.COMPLETED, CallOutcome.UNCLEAR)
    assert _case(phones, home).status == CaseStatus.OPEN


def test_with_the_status_webhook_down_the_residents_reply_still_counts(
    phones: Phones, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("status handler down")

    monkeypatch.setattr("notifier.calls.call_status", down)
    home = _home(phones, Behaviour(replies=(Reply.say("네 괜찮아요"),), ring_seconds=0))

    def cleared() -> bool:
        return _case(phones, home).status == CaseStatus.CLEARED

    assert phones.drive(cleared)
    assert phones.emulator.wait_until_idle()
    (record,) = [c for c in phones.emulator.calls() if c.to == home.resident]
    assert record.status_callbacks and all(ex.status == 500 for ex in record.status_callbacks)
    call = _call(phones, home)
    assert call is not None and call.outcome == CallOutcome.OK
    assert call.provider_sid == record.sid  # recorded by the outbox (and the answer webhook)


# ---------------------------------------------------------------- check-ins and family texts


def test_a_scheduled_check_in_asks_three_questions_through_the_phone_network(phones: Phones) -> None:
    n = next(_numbers)
    resident = f"+8210500{n:05d}"
    with session_scope(phones.engine) as s:
        hh = make_household(s, resident_phone=resident)
        assert hh.id is not None
        household_id = hh.id
        schedule = checkins.set_schedule(
            s, hh.id, weekdays=list(range(1, 8)), local_time="10:00", now=SYSTEM_CLOCK.now()
        )
        schedule.next_due_at = SYSTEM_CLOCK.now()  # due now
    phones.emulator.set_behaviour(
        resident,
        Behaviour(
            replies=(Reply.press("1"), Reply.say("요즘 잠을 잘 못 자요"), Reply.say("네 괜찮아요")),
            ring_seconds=0,
        ),
    )

    def answered() -> bool:
        with Session(phones.engine) as s:
            found = checkins.recent_checkins(s, household_id)
            return (
                bool(found) and found[0].call_status == CallStatus.COMPLETED and found[0].outcome is not None
            )

    assert phones.drive(answered)
    with Session(phones.engine) as s:
        (summary,) = checkins.recent_checkins(s, household_id)
    assert summary.answers == {"meals": "ok", "sleep": "concern", "health": "ok"}
    assert (summary.outcome, summary.flags) == (CallOutcome.UNWELL, ["sleep_concern"])
    (record,) = [c for c in phones.emulator.calls() if c.to == resident]
    assert any("정기 안부 전화" in line for line in record.said)


def test_a_family_member_texts_status_through_the_phone_network(phones: Phones) -> None:
    home = _home(phones, Behaviour(kind="no_answer"))
    url = f"{phones.settings.effective_public_base_url}/api/v1/twilio/sms/inbound"
    assert phones.emulator.send_inbound_sms(from_=home.family, to="+15005550006", body="상태", url=url) == 200
    (exchange,) = [ex for ex in phones.emulator.inbound() if ex.params.get("From") == home.family]
    assert exchange.response_body is not None
    assert "아직 담당자가 확인하기 전" in exchange.response_body
    assert _case(phones, home).status == CaseStatus.OPEN


# ---------------------------------------------------------------- the resident reaches in

OUR_NUMBER = "+15005550006"


def _quiet_home(phones: Phones) -> Home:
    """A household with an open case whose first call is an hour away: only the resident acts."""
    home = _home(phones, Behaviour(kind="no_answer"))
    with session_scope(phones.engine) as s:
        case = s.get(Case, home.case_id)
        assert case is not None
        case.next_action_at = SYSTEM_CLOCK.now() + timedelta(hours=1)
        s.add(case)
    return home


def _inbound_call(phones: Phones, home: Home, *replies: Reply) -> CallAttempt:
    url = f"{phones.settings.effective_public_base_url}{webhook_urls.VOICE_INBOUND}"
    sid = phones.emulator.place_inbound_call(
        from_=home.resident, to=OUR_NUMBER, url=url, behaviour=Behaviour(replies=replies)
    )
    assert phones.emulator.wait_for(lambda: (c := phones.emulator.call(sid)) is not None and c.finished)
    record = phones.emulator.call(sid)
    assert record is not None and not record.errors, record and record.errors
    assert all(ex.status is not None and ex.status < 300 for ex in record.webhooks)
    with Session(phones.engine) as s:
        attempt = s.exec(select(CallAttempt).where(CallAttempt.provider_sid == sid)).one()
    return attempt


def _answers_our_call_back_fine(phones: Phones, home: Home) -> None:
    """Caller ID alone proves nothing (issue 13.2): after an "I'm fine" by text or by a call to
    our number we ring the number on file, and the resident's answer there clears the case."""
    case = _case(phones, home)
    assert (case.status, case.clear_reason) == (CaseStatus.OPEN, None)
    phones.emulator.set_behaviour(
        home.resident, Behaviour(replies=(Reply.say("네 괜찮아요"),), ring_seconds=0)
    )

    def cleared() -> bool:
        return _case(phones, home).status == CaseStatus.CLEARED

    assert phones.drive(cleared), "the call back never cleared the case"
    assert _case(phones, home).clear_reason == "resident_ok"
    called = [c for c in phones.emulator.calls() if c.to == home.resident and c.direction != "inbound"]
    assert len(called) == 1  # one call back
    with Session(phones.engine) as s:
        watch = s.get(Watch, home.household_id)
        assert watch is not None and watch.last_checkin_at is not None


def test_the_resident_calls_our_number_saying_fine_and_we_call_back_to_check(phones: Phones) -> None:
    home = _quiet_home(phones)
    attempt = _inbound_call(phones, home, Reply.say("네 괜찮아요"))
    assert attempt.outcome == CallOutcome.OK and attempt.recipient_kind == RecipientKind.RESIDENT
    _answers_our_call_back_fine(phones, home)


def test_the_resident_calls_our_number_and_pressing_2_alerts_caseworker_and_family(phones: Phones) -> None:
    home = _quiet_home(phones)
    attempt = _inbound_call(phones, home, Reply.press("2"))
    assert attempt.outcome == CallOutcome.EMERGENCY
    assert _case(phones, home).severity == Severity.CRITICAL
    assert phones.drive(lambda: len(_sent_sms(phones, home)) == 2)
    assert _sent_sms(phones, home) == {
        home.caseworker: "sms.caseworker.emergency",
        home.family: "sms.family.emergency",
    }


def test_the_resident_texts_our_number_fine_and_we_call_back_to_check(phones: Phones) -> None:
    home = _quiet_home(phones)
    url = f"{phones.settings.effective_public_base_url}{webhook_urls.SMS_INBOUND}"
    assert (
        phones.emulator.send_inbound_sms(from_=home.resident, to=OUR_NUMBER, body="괜찮아요", url=url) == 200
    )
    (exchange,) = [ex for ex in phones.emulator.inbound() if ex.params.get("From") == home.resident]
    assert "곧 안부 전화를 드리겠습니다" in (exchange.response_body or "")
    _answers_our_call_back_fine(phones, home)


def test_the_resident_texts_for_help_and_caseworker_and_family_are_told(phones: Phones) -> None:
    home = _quiet_home(phones)
    url = f"{phones.settings.effective_public_base_url}{webhook_urls.SMS_INBOUND}"
    assert (
        phones.emulator.send_inbound_sms(
            from_=home.resident, to=OUR_NUMBER, body="넘어졌어요 도와주세요", url=url
        )
        == 200
    )
    assert _case(phones, home).severity == Severity.CRITICAL
    assert phones.drive(lambda: len(_sent_sms(phones, home)) == 2)
    assert set(_sent_sms(phones, home)) == {home.caseworker, home.family}


def test_a_help_text_twilio_delivers_twice_is_acted_on_once(phones: Phones) -> None:
    home = _quiet_home(phones)
    url = f"{phones.settings.effective_public_base_url}{webhook_urls.SMS_INBOUND}"
    body = "넘어졌어요 도와주세요"
    assert phones.emulator.send_inbound_sms(from_=home.resident, to=OUR_NUMBER, body=body, url=url) == 200
    (first,) = [ex for ex in phones.emulator.inbound() if ex.params.get("From") == home.resident]
    again = phones.emulator.send_inbound_sms(
        from_=home.resident, to=OUR_NUMBER, body=body, url=url, message_sid=first.params["MessageSid"]
    )
    assert again == 200
    replies = [
        ex.response_body or "" for ex in phones.emulator.inbound() if ex.params.get("From") == home.resident
    ]
    assert len(replies) == 2 and "<Message>" in replies[0] and "<Message>" not in replies[1]
    assert phones.drive(lambda: len(_sent_sms(phones, home)) == 2)
    assert set(_sent_sms(phones, home)) == {home.caseworker, home.family}
    with Session(phones.engine) as s:
        notes = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == home.case_id, CaseEvent.type == CaseEventType.NOTE)
        ).all()
        sent = s.exec(select(Notification).where(Notification.case_id == home.case_id)).all()
    assert len(notes) == 1  # the resident's words are noted once
    assert len(sent) == 2  # caseworker and family told once each


# ---------------------------------------------------------------- a worker dies mid-send


def test_a_worker_that_dies_after_twilio_took_the_call_never_places_it_twice(
    phones: Phones, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The status webhook fails, so only asking Twilio (its Calls list) can tell the call was placed.
    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=1))
    monkeypatch.setattr(outbox, "LOOKUP_SKEW", timedelta(seconds=5))

    def status_down(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("status webhook down")

    monkeypatch.setattr("notifier.calls.call_status", status_down)
    real_record = outbox._record_sent
    died: list[bool] = []

    def dies_once(*args: Any, **kwargs: Any) -> None:
        if not died:
            died.append(True)
            raise RuntimeError("worker killed after sending, before recording")
        real_record(*args, **kwargs)

    monkeypatch.setattr(outbox, "_record_sent", dies_once)
    home = _home(phones, Behaviour(kind="no_answer", ring_seconds=0))

    def recovered() -> bool:
        call = _call(phones, home)
        return call is not None and call.provider_sid is not None

    assert phones.drive(recovered)
    assert died == [True]
    records = [c for c in phones.emulator.calls() if c.to == home.resident]
    assert len(records) == 1, "the call was placed twice"
    call = _call(phones, home)
    assert call is not None and call.provider_sid == records[0].sid
    with Session(phones.engine) as s:
        (placed,) = s.exec(
            select(CaseEvent).where(
                CaseEvent.case_id == home.case_id, CaseEvent.type == CaseEventType.CALL_PLACED
            )
        ).all()
    assert placed.data.get("recovered") is True
