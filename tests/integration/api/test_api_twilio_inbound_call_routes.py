"""The inbound-call and family "press 1" webhooks through the API: signature first, then the handler."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.enums import CaseStatus, RecipientKind
from core.models import CallAttempt, Case, Contact
from notifier import webhook_urls as paths
from tests.integration.api.conftest import World
from tests.integration.api.test_api_twilio_webhooks_real_handlers import signed_post

CALL_SID = "CA00000000000000000000000000000077"


def _contact_phone(engine: Engine, household_id: int) -> str:
    with Session(engine) as session:
        return session.exec(select(Contact.phone).where(Contact.household_id == household_id)).one()


def test_an_unsigned_inbound_call_is_refused_and_stores_nothing(
    app_client: TestClient, engine: Engine, world: World
) -> None:
    params = {"From": _contact_phone(engine, world.household_a), "CallSid": CALL_SID}
    response = signed_post(app_client, paths.VOICE_INBOUND, params, valid=False)
    assert response.status_code == 403
    with Session(engine) as session:
        assert session.exec(select(CallAttempt)).all() == []


def test_a_family_member_calls_in_and_acknowledges_with_1(
    app_client: TestClient, engine: Engine, world: World
) -> None:
    """With the carrier's full attestation of the caller ID (StirVerstat A, passed through by
    the route) key 1 is enough; without it the caller keys in the code (test_reply_identity_db)."""
    params = {
        "From": _contact_phone(engine, world.household_a),
        "CallSid": CALL_SID,
        "StirVerstat": "TN-Validation-Passed-A",
    }
    response = signed_post(app_client, paths.VOICE_INBOUND, params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert paths.VOICE_CONTACT_GATHER in response.text
    with Session(engine) as session:
        attempt = session.exec(select(CallAttempt)).one()
    assert attempt.recipient_kind == RecipientKind.CONTACT
    pressed = signed_post(
        app_client, paths.VOICE_CONTACT_GATHER, {"Digits": "1", "CallSid": CALL_SID}, {"code": attempt.code}
    )
    assert pressed.status_code == 200 and "<Hangup" in pressed.text
    with Session(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None and case.status == CaseStatus.ACKNOWLEDGED
        other = session.get(Case, world.case_b)
        assert other is not None and other.status == CaseStatus.OPEN


def test_a_contact_gather_without_a_code_is_a_bad_request(app_client: TestClient, world: World) -> None:
    assert signed_post(app_client, paths.VOICE_CONTACT_GATHER, {"Digits": "1"}).status_code == 400
