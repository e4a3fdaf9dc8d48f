"""Twilio webhooks through the real notifier.calls / notifier.sms handlers, on both dialects.

The API's part is: check the signature, call the handler with the right arguments, commit
once, answer with TwiML or 204. The handlers' own rules are tested in the notifier's suite;
here we assert the end-to-end effect that proves the wiring.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallOutcome, CallStatus, CaseEventType, CaseStatus, Intent, OutboxStatus
from core.models import CallAttempt, Case, Contact, Notification, Watch
from notifier import ack_codes
from notifier import webhook_urls as paths
from tests.factories import case_events, load
from tests.integration.api.conftest import PUBLIC_BASE_URL, TWILIO_TOKEN, World, add_call, add_notification

CALL_SID = "CA00000000000000000000000000000002"
MESSAGE_SID = "SM00000000000000000000000000000003"


def signed_post(
    client: TestClient,
    path: str,
    params: dict[str, str],
    query: dict[str, str | int] | None = None,
    *,
    valid: bool = True,
) -> Any:
    q = f"?{urlencode(query)}" if query else ""
    signature = RequestValidator(TWILIO_TOKEN if valid else "wrong-token").compute_signature(
        PUBLIC_BASE_URL + path + q, params
    )
    return client.post(path + q, data=params, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def call_code(engine: Engine, world: World, clock: ManualClock) -> str:
    """A wellness call for case_a that the provider has queued."""
    with session_scope(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None
        call = add_call(
            session,
            case,
            clock,
            status=CallStatus.QUEUED,
            outcome=None,
            intent=None,
            confidence=None,
            transcript="",
            provider_sid=CALL_SID,
        )
        code = call.code
    return code


def _call(engine: Engine, code: str) -> CallAttempt:
    with Session(engine) as session:
        call = session.exec(select(CallAttempt).where(CallAttempt.code == code)).one()
        return call


def _event_types(engine: Engine, case_id: int) -> list[CaseEventType]:
    return [event.type for event in case_events(engine, case_id)]


def test_answer_returns_the_greeting_with_a_gather_to_our_public_url(
    app_client: TestClient, engine: Engine, call_code: str
) -> None:
    response = signed_post(
        app_client,
        paths.VOICE_ANSWER,
        {"CallSid": CALL_SID, "CallStatus": "in-progress"},
        {"code": call_code},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Gather" in response.text
    assert f"{PUBLIC_BASE_URL}{paths.VOICE_GATHER}?code={call_code}" in response.text
    assert _call(engine, call_code).status == CallStatus.IN_PROGRESS  # committed


def test_gather_ok_reply_clears_the_case_and_records_a_checkin(
    app_client: TestClient, engine: Engine, world: World, clock: ManualClock, call_code: str
) -> None:
    response = signed_post(
        app_client, paths.VOICE_GATHER, {"CallSid": CALL_SID, "Digits": "1"}, {"code": call_code}
    )
    assert response.status_code == 200
    assert "<Hangup" in response.text
    call = _call(engine, call_code)
    assert (call.outcome, call.intent) == (CallOutcome.OK, Intent.OK)
    case = load(engine, Case, world.case_a)
    assert case.status == CaseStatus.CLEARED
    assert case.clear_reason == "resident_ok"
    with Session(engine) as session:
        watch = session.get(Watch, world.household_a)
        assert watch is not None
        assert watch.last_checkin_at == clock.now()


def test_the_gather_attempt_number_reaches_the_handler_and_a_repeat_is_not_a_second_reply(
    app_client: TestClient, engine: Engine, call_code: str
) -> None:
    first = signed_post(app_client, paths.VOICE_GATHER, {"CallSid": CALL_SID}, {"code": call_code, "n": 1})
    assert first.status_code == 200 and "&amp;n=2" in first.text  # silence: asked once more
    repeat = signed_post(app_client, paths.VOICE_GATHER, {"CallSid": CALL_SID}, {"code": call_code, "n": 1})
    assert repeat.text == first.text
    call = _call(engine, call_code)
    assert (call.gather_count, call.outcome) == (1, None)
    for bad in ("x", "0", "-1", "99999"):
        response = signed_post(
            app_client, paths.VOICE_GATHER, {"CallSid": CALL_SID}, {"code": call_code, "n": bad}
        )
        assert response.status_code == 400, bad
    assert _call(engine, call_code).gather_count == 1


def test_call_status_is_204_and_records_the_outcome(
    app_client: TestClient, engine: Engine, world: World, call_code: str
) -> None:
    params = {"CallSid": CALL_SID, "CallStatus": "no-answer", "SequenceNumber": "3"}
    response = signed_post(app_client, paths.VOICE_STATUS, params, {"code": call_code})
    assert response.status_code == 204
    call = _call(engine, call_code)
    assert (call.status, call.outcome) == (CallStatus.NO_ANSWER, CallOutcome.NO_ANSWER)
    assert _event_types(engine, world.case_a)[-1] == CaseEventType.CALL_STATUS


def test_call_status_with_bad_signature_changes_nothing(
    app_client: TestClient, engine: Engine, world: World, call_code: str
) -> None:
    before = (_call(engine, call_code).model_dump(), _event_types(engine, world.case_a))
    params = {"CallSid": CALL_SID, "CallStatus": "completed", "SequenceNumber": "9"}
    response = signed_post(app_client, paths.VOICE_STATUS, params, {"code": call_code}, valid=False)
    assert response.status_code == 403
    assert (_call(engine, call_code).model_dump(), _event_types(engine, world.case_a)) == before


def test_answer_for_an_unknown_code_hangs_up_politely(app_client: TestClient, world: World) -> None:
    response = signed_post(app_client, paths.VOICE_ANSWER, {"CallSid": CALL_SID}, {"code": "no-such-call"})
    assert response.status_code == 200
    assert "<Hangup" in response.text


def test_sms_status_marks_the_notification_delivered(
    app_client: TestClient, engine: Engine, world: World, clock: ManualClock
) -> None:
    with session_scope(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None
        notification_id = add_notification(session, case, clock, provider_sid=MESSAGE_SID).id
    params = {"MessageSid": MESSAGE_SID, "MessageStatus": "delivered"}
    response = signed_post(app_client, paths.SMS_STATUS, params, {"id": str(notification_id)})
    assert response.status_code == 204
    with Session(engine) as session:
        notification = session.get(Notification, notification_id)
        assert notification is not None
        assert notification.status == OutboxStatus.DELIVERED


def test_inbound_sms_from_family_acknowledges_the_case_only_with_the_code(
    app_client: TestClient, engine: Engine, world: World, clock: ManualClock
) -> None:
    """Issue 13.2: Twilio signs a text whose caller ID was spoofed like any other, so a signed
    "1" from the daughter's number once acknowledged the case and stopped its escalation."""
    with session_scope(engine) as session:
        contact = session.exec(select(Contact).where(Contact.household_id == world.household_a)).first()
        assert contact is not None and contact.id is not None
        phone = contact.phone
        code = ack_codes.code_for(session, session.get_one(Case, world.case_a), contact.id, clock.now())
    response = signed_post(
        app_client, paths.SMS_INBOUND, {"From": phone, "Body": "1", "MessageSid": MESSAGE_SID}
    )
    assert response.status_code == 200 and "<Message>" in response.text
    assert load(engine, Case, world.case_a).status == CaseStatus.OPEN  # recorded, not acted on
    assert CaseEventType.REPLY_UNVERIFIED in _event_types(engine, world.case_a)
    response = signed_post(
        app_client,
        paths.SMS_INBOUND,
        {"From": phone, "Body": f"1 {code}", "MessageSid": MESSAGE_SID[:-1] + "4"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Message>" in response.text
    case = load(engine, Case, world.case_a)
    assert case.status == CaseStatus.ACKNOWLEDGED
    assert case.acknowledged_by == f"contact:{contact.id}"
    assert load(engine, Case, world.case_b).status == CaseStatus.OPEN  # another household is untouched


def test_inbound_sms_with_bad_signature_acknowledges_nothing(
    app_client: TestClient, engine: Engine, world: World
) -> None:
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.household_id == world.household_a)).first()
        assert contact is not None
    response = signed_post(app_client, paths.SMS_INBOUND, {"From": contact.phone, "Body": "1"}, valid=False)
    assert response.status_code == 403
    assert load(engine, Case, world.case_a).status == CaseStatus.OPEN
