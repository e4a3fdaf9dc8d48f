"""Issue 14: Twilio's other webhooks lose nothing with a locked database (notifier/webhook_spool.py).

Before: a family member's key press, a call's and a message's status callback and a call to our
number each ran in one transaction with the database's usual patience (10 s on SQLite, no limit
on a PostgreSQL row lock), then failed with a 500. Twilio retries none of them: the "1" that
acknowledges an alert was gone (the alert went on), the call stayed "queued" for good, a failed
emergency text was never sent again, and a resident calling us heard Twilio's error. Now each
is handled within a bounded wait, or spooled to disk and answered safely at once; the worker's
``webhooks`` tick applies it when the database returns, exactly once.
"""

from __future__ import annotations

import stat
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core import spool
from core.clock import ManualClock
from core.db import TWILIO_WEBHOOK_BUDGET_S, session_scope
from core.enums import (
    CallOutcome,
    CallPurpose,
    CallStatus,
    CaseEventType,
    CaseKind,
    CaseStatus,
    OutboxStatus,
    RecipientKind,
)
from core.models import CallAttempt, Case, Contact, Notification
from core.settings import Settings
from notifier import webhook_spool
from notifier import webhook_urls as paths
from notifier.script import CATALOGUE
from tests.factories import case_events
from tests.integration.api.conftest import World, add_call, add_notification, open_case
from tests.integration.api.test_api_reply_survives_locked_database import (
    LOCKED_FOR,
    _run_worker,
    database_locked,
)
from tests.integration.api.test_api_reply_survives_locked_database import (
    settings as settings,  # fixture: a private data directory for the spool
)
from tests.integration.api.test_api_twilio_webhooks_real_handlers import CALL_SID, MESSAGE_SID, signed_post

RESIDENT_PHONE = "+821012345678"  # tests.factories.make_household's resident


@pytest.fixture(autouse=True)
def _short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real waits are 5 s (8 s for a call just answered); the behaviour is the same.
    monkeypatch.setattr(webhook_spool, "WAIT_S", 0.3)
    monkeypatch.setattr(webhook_spool, "ANSWER_WAIT_S", 0.3)


def _post(client: TestClient, path: str, params: dict[str, str], query: dict[str, Any] | None = None) -> Any:
    started = time.monotonic()
    response = signed_post(client, path, params, query)
    response.took = time.monotonic() - started
    return response


def _spooled(settings: Settings) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in spool.pending(webhook_spool.spool_dir(settings))]


def _answered_in_time_and_spooled(response: Any, settings: Settings, status: int = 200) -> None:
    assert response.status_code == status, response.text  # not a 500 that Twilio would never retry
    assert response.took < TWILIO_WEBHOOK_BUDGET_S / 2
    files = spool.pending(webhook_spool.spool_dir(settings))
    assert len(files) == 1  # on disk before Twilio was answered
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


@pytest.fixture
def contact_call(engine: Engine, world: World, clock: ManualClock) -> str:
    """Our alert call to household A's family member, answered: they hear "press 1"."""
    with session_scope(engine) as session:
        case = session.get_one(Case, world.case_a)
        contact = session.exec(select(Contact).where(Contact.household_id == world.household_a)).first()
        assert contact is not None
        call = add_call(
            session,
            case,
            clock,
            purpose=CallPurpose.CONTACT_ALERT,
            recipient_kind=RecipientKind.CONTACT,
            recipient_id=contact.id,
            to_address=contact.phone,
            status=CallStatus.IN_PROGRESS,
            provider_sid=CALL_SID,
            outcome=None,
            intent=None,
            confidence=None,
            transcript="",
        )
        return call.code


def test_a_family_members_1_pressed_while_the_database_is_locked_acknowledges_when_it_returns(
    app_client: TestClient,
    engine: Engine,
    world: World,
    clock: ManualClock,
    settings: Settings,
    contact_call: str,
) -> None:
    press = {"CallSid": CALL_SID, "Digits": "1"}
    with database_locked(engine):
        response = _post(app_client, paths.VOICE_CONTACT_GATHER, press, {"code": contact_call, "n": 1})
        _answered_in_time_and_spooled(response, settings)
        # Said so, not claimed: the key press is kept and recorded shortly; alerts may go on till then.
        assert CATALOGUE.text("call.contact.answer_pending", "ko") in response.text
        assert "<Hangup" in response.text
        assert webhook_spool.tick(engine, clock, settings) == 0  # still locked: the file stays
        assert len(_spooled(settings)) == 1
        clock.advance(LOCKED_FOR)
    # Until it is applied the case is open, so the escalation goes on (the safe side).
    with Session(engine) as session:
        assert session.get_one(Case, world.case_a).status == CaseStatus.OPEN

    _run_worker(settings, engine, clock, ("webhooks",))

    with Session(engine) as session:
        case = session.get_one(Case, world.case_a)
        assert case.status == CaseStatus.ACKNOWLEDGED  # the escalation stops
        call = session.exec(select(CallAttempt).where(CallAttempt.code == contact_call)).one()
        assert call.outcome == CallOutcome.ACKNOWLEDGED
    assert _spooled(settings) == []
    events = case_events(engine, world.case_a, CaseEventType.CALL_OUTCOME)
    assert len(events) == 1

    # Exactly once: another tick, and Twilio delivering the key press again, add nothing.
    _run_worker(settings, engine, clock, ("webhooks",))
    again = _post(app_client, paths.VOICE_CONTACT_GATHER, press, {"code": contact_call, "n": 1})
    assert again.status_code == 200 and "<Hangup" in again.text
    assert len(case_events(engine, world.case_a, CaseEventType.CALL_OUTCOME)) == 1
    assert len(case_events(engine, world.case_a, CaseEventType.ACKNOWLEDGED)) == 1


def test_no_key_pressed_while_the_database_is_locked_says_nothing_was_recorded(
    app_client: TestClient, engine: Engine, settings: Settings, contact_call: str
) -> None:
    with database_locked(engine):
        response = _post(
            app_client, paths.VOICE_CONTACT_GATHER, {"CallSid": CALL_SID}, {"code": contact_call, "n": 1}
        )
        _answered_in_time_and_spooled(response, settings)
    assert CATALOGUE.text("call.contact.not_acknowledged", "ko") in response.text


def test_a_call_status_while_the_database_is_locked_is_recorded_when_it_returns(
    app_client: TestClient, engine: Engine, world: World, clock: ManualClock, settings: Settings
) -> None:
    with session_scope(engine) as session:
        case = session.get_one(Case, world.case_a)
        code = add_call(
            session, case, clock, status=CallStatus.RINGING, outcome=None, intent=None, provider_sid=CALL_SID
        ).code
    ended = {"CallSid": CALL_SID, "CallStatus": "no-answer", "SequenceNumber": "3"}
    with database_locked(engine):
        response = _post(app_client, paths.VOICE_STATUS, ended, {"code": code})
        _answered_in_time_and_spooled(response, settings, status=204)
        clock.advance(LOCKED_FOR)
    with Session(engine) as session:  # nothing else finds out how a placed call ended
        assert session.exec(select(CallAttempt).where(CallAttempt.code == code)).one().outcome is None

    _run_worker(settings, engine, clock, ("webhooks",))

    with Session(engine) as session:
        call = session.exec(select(CallAttempt).where(CallAttempt.code == code)).one()
        assert (call.status, call.outcome) == (CallStatus.NO_ANSWER, CallOutcome.NO_ANSWER)
    assert len(case_events(engine, world.case_a, CaseEventType.CALL_STATUS)) == 1
    _run_worker(settings, engine, clock, ("webhooks",))
    assert _post(app_client, paths.VOICE_STATUS, ended, {"code": code}).status_code == 204
    assert len(case_events(engine, world.case_a, CaseEventType.CALL_STATUS)) == 1


def test_a_failed_delivery_reported_while_the_database_is_locked_is_sent_again(
    app_client: TestClient, engine: Engine, world: World, clock: ManualClock, settings: Settings
) -> None:
    with session_scope(engine) as session:
        case = session.get_one(Case, world.case_a)
        notification_id = add_notification(session, case, clock, provider_sid=MESSAGE_SID, attempts=1).id
    failed = {"MessageSid": MESSAGE_SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    with database_locked(engine):
        response = _post(app_client, paths.SMS_STATUS, failed, {"id": notification_id})
        _answered_in_time_and_spooled(response, settings, status=204)
        clock.advance(LOCKED_FOR)

    _run_worker(settings, engine, clock, ("webhooks",))

    with Session(engine) as session:
        notification = session.get_one(Notification, notification_id)
        assert notification.status == OutboxStatus.PENDING  # the outbox sends it again
        assert notification.next_attempt_at is not None and notification.provider_sid is None
    assert len(case_events(engine, world.case_a, CaseEventType.NOTIFICATION_FAILED)) == 1
    _run_worker(settings, engine, clock, ("webhooks",))
    assert _post(app_client, paths.SMS_STATUS, failed, {"id": notification_id}).status_code == 204
    assert len(case_events(engine, world.case_a, CaseEventType.NOTIFICATION_FAILED)) == 1


def test_a_resident_calling_while_the_database_is_locked_hears_a_safe_answer_and_the_call_is_kept(
    app_client: TestClient, engine: Engine, world: World, clock: ManualClock, settings: Settings
) -> None:
    call = {"CallSid": CALL_SID, "From": RESIDENT_PHONE, "To": "+15005550006"}
    with database_locked(engine):
        response = _post(app_client, paths.VOICE_INBOUND, call)
        _answered_in_time_and_spooled(response, settings)
        # Where to turn in an emergency, and to call again; in Korean, then English.
        for language in ("ko", "en"):
            assert CATALOGUE.text("call.inbound.unavailable", language) in response.text
        assert "<Hangup" in response.text
        # Twilio's retry of the same call while still locked: spooled again, recorded once.
        assert _post(app_client, paths.VOICE_INBOUND, call).status_code == 200
        called_at = clock.now()
        clock.advance(LOCKED_FOR)

    _run_worker(settings, engine, clock, ("webhooks",))
    _run_worker(settings, engine, clock, ("webhooks",))

    with Session(engine) as session:
        attempt = session.exec(select(CallAttempt)).one()
        assert attempt.purpose == CallPurpose.INBOUND
        assert attempt.recipient_kind == RecipientKind.RESIDENT
        assert attempt.household_id == world.household_a
        assert (attempt.status, attempt.outcome) == (CallStatus.COMPLETED, CallOutcome.UNCLEAR)
        assert attempt.provider_sid == CALL_SID and attempt.created_at == called_at
    status_events = case_events(engine, world.case_a, CaseEventType.CALL_STATUS)
    assert [e.data.get("unanswered") for e in status_events] == [True]  # staff see the resident called
    assert _spooled(settings) == []


def test_a_call_answered_while_the_database_is_locked_hangs_up_politely_and_keeps_who_answered(
    app_client: TestClient, engine: Engine, world: World, clock: ManualClock, settings: Settings
) -> None:
    """Without the database the call's kind and language are unknown: nothing can be asked
    safely, so the resident hears our polite hang-up (before: Twilio's error after 10 s, or no
    answer at all on PostgreSQL), and the ladder calls again on its next step."""
    with session_scope(engine) as session:
        case = session.get_one(Case, world.case_a)
        code = add_call(session, case, clock, status=CallStatus.RINGING, outcome=None, intent=None).code
    answered = {"CallSid": CALL_SID, "CallStatus": "in-progress", "AnsweredBy": "human"}
    with database_locked(engine):
        response = _post(app_client, paths.VOICE_ANSWER, answered, {"code": code})
        _answered_in_time_and_spooled(response, settings)
        assert CATALOGUE.text("call.hangup", "ko") in response.text and "<Hangup" in response.text
        ended = {"CallSid": CALL_SID, "CallStatus": "completed", "SequenceNumber": "4"}
        assert _post(app_client, paths.VOICE_STATUS, ended, {"code": code}).status_code == 204

    _run_worker(settings, engine, clock, ("webhooks",))

    with Session(engine) as session:
        call = session.exec(select(CallAttempt).where(CallAttempt.code == code)).one()
        assert (call.status, call.provider_sid, call.answered_by) == (CallStatus.COMPLETED, CALL_SID, "human")
        assert call.outcome == CallOutcome.UNCLEAR  # a person answered; nothing was asked
    assert _spooled(settings) == []


def test_a_resident_pressing_1_for_the_crisis_line_while_the_database_is_locked_is_put_through(
    app_client: TestClient, engine: Engine, world: World, clock: ManualClock, settings: Settings
) -> None:
    """The line is dialled from the callback alone; before, on PostgreSQL, the record of it
    waited on the locked call row without limit, so the ``<Dial>`` never reached Twilio (and
    SQLite held it back 10 s)."""
    with session_scope(engine) as session:
        case = open_case(session, world.household_a, clock, kind=CaseKind.SELF_HARM_RISK)
        code = add_call(session, case, clock, status=CallStatus.IN_PROGRESS, outcome=None, intent=None).code
        case_id = case.id
    assert case_id is not None
    pressed = {"CallSid": CALL_SID, "Digits": "1"}
    query = {"code": code, "n": 2, "lang": "ko"}
    with database_locked(engine):
        response = _post(app_client, paths.VOICE_CONNECT, pressed, query)
        _answered_in_time_and_spooled(response, settings)
        assert "<Dial" in response.text
    assert case_events(engine, case_id, CaseEventType.CRISIS_LINE) == []

    _run_worker(settings, engine, clock, ("webhooks",))
    _run_worker(settings, engine, clock, ("webhooks",))
    assert _post(app_client, paths.VOICE_CONNECT, pressed, query).status_code == 200  # Twilio's repeat

    recorded = case_events(engine, case_id, CaseEventType.CRISIS_LINE)
    assert [(e.data["attempt"], e.data["pressed_to_connect"]) for e in recorded] == [(2, True)]
    assert _spooled(settings) == []


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (paths.VOICE_CONTACT_GATHER, {"code": "c0de", "n": 1}),
        (paths.VOICE_STATUS, {"code": "c0de"}),
        (paths.SMS_STATUS, {"id": 1}),
        (paths.VOICE_INBOUND, None),
        (paths.VOICE_CONNECT, {"code": "c0de", "n": 1}),
        (paths.VOICE_ANSWER, {"code": "c0de"}),
    ],
)
def test_an_unsigned_request_is_refused_before_anything_is_spooled(
    app_client: TestClient, engine: Engine, settings: Settings, path: str, query: dict[str, Any] | None
) -> None:
    with database_locked(engine):
        response = signed_post(app_client, path, {"CallSid": CALL_SID, "Digits": "1"}, query, valid=False)
    assert response.status_code == 403
    assert not webhook_spool.spool_dir(settings).exists()


def test_a_text_spooled_by_the_previous_version_is_still_handled(
    engine: Engine, world: World, clock: ManualClock, settings: Settings
) -> None:
    """Inbound texts were spooled to ``spool/sms`` (no hook named) before the other webhooks were."""
    old = settings.data_dir / "spool" / "sms"
    spool.write(
        old,
        {
            "params": {"From": RESIDENT_PHONE, "Body": "도와주세요", "MessageSid": MESSAGE_SID},
            "received_at": clock.now().isoformat(),
        },
        clock.now(),
    )
    clock.advance(timedelta(seconds=2))
    assert webhook_spool.tick(engine, clock, settings) == 1
    assert spool.pending(old) == []
    with Session(engine) as session:
        told = session.exec(select(Notification).where(Notification.case_id == world.case_a)).all()
    assert {n.recipient_kind for n in told} == {RecipientKind.USER, RecipientKind.CONTACT}
