"""Forged Twilio webhooks (issue 13.1): a signature is only ever checked against the operator's
real auth token. Without one, every webhook is refused and ``/healthz`` says nobody can be called.

The attacks reproduced here worked before: the settings fell back to a development token that is
published in the source, in production too, so anyone could sign a request.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator

from api.app import create_app
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, CaseStatus
from core.models import Case, Contact, Resident, Watch
from core.settings import Settings
from notifier import webhook_urls as paths
from tests.integration.api.conftest import PUBLIC_BASE_URL, SECRET_KEY, World

# The development token that core/settings.py used to fall back to (published in the repository).
PUBLISHED_DEV_TOKEN = "dev-insecure-twilio-token"


@pytest.fixture
def console_prod_client(engine: Engine, clock: ManualClock) -> Iterator[TestClient]:
    """Production with the console transport chosen explicitly: no Twilio token at all."""
    settings = Settings(
        _env_file=None,
        env="prod",
        secret_key=SECRET_KEY,
        public_base_url=PUBLIC_BASE_URL,
        transport="console",
    )
    with TestClient(create_app(settings, engine, clock)) as client:
        yield client


def forged_post(client: TestClient, path: str, params: dict[str, str], query: str = "") -> int:
    url = PUBLIC_BASE_URL + path + (f"?{query}" if query else "")
    signature = RequestValidator(PUBLISHED_DEV_TOKEN).compute_signature(url, params)
    response = client.post(
        path + (f"?{query}" if query else ""), data=params, headers={"X-Twilio-Signature": signature}
    )
    return int(response.status_code)


def _resident_phone(engine: Engine, household_id: int) -> str:
    """The resident's phone, made unique (the test world gives every resident the same number)."""
    with session_scope(engine) as session:
        resident = session.exec(select(Resident).where(Resident.household_id == household_id)).first()
        assert resident is not None
        resident.phone = f"+8210999{household_id:05d}"
        session.add(resident)
        return resident.phone


def _contact_phone(engine: Engine, household_id: int) -> str:
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.household_id == household_id)).first()
        assert contact is not None
        return contact.phone


def _cases(engine: Engine, household_id: int) -> list[tuple[CaseKind, CaseStatus]]:
    with Session(engine) as session:
        rows = session.exec(
            select(Case.kind, Case.status).where(Case.household_id == household_id).order_by(col(Case.id))
        ).all()
        return [(CaseKind(kind), CaseStatus(status)) for kind, status in rows]


def test_forged_help_sms_opens_no_case(console_prod_client: TestClient, engine: Engine, world: World) -> None:
    phone = _resident_phone(engine, world.household_a2)
    status = forged_post(
        console_prod_client, paths.SMS_INBOUND, {"From": phone, "Body": "도와주세요", "MessageSid": "SMf1"}
    )
    assert status == 403
    assert _cases(engine, world.household_a2) == []


def test_forged_ack_from_the_daughters_number_acknowledges_nothing(
    console_prod_client: TestClient, engine: Engine, world: World
) -> None:
    phone = _contact_phone(engine, world.household_a)
    status = forged_post(
        console_prod_client, paths.SMS_INBOUND, {"From": phone, "Body": "1", "MessageSid": "SMf2"}
    )
    assert status == 403
    assert _cases(engine, world.household_a) == [(CaseKind.INACTIVITY, CaseStatus.OPEN)]


def test_forged_ok_from_the_resident_records_no_checkin(
    console_prod_client: TestClient, engine: Engine, world: World
) -> None:
    phone = _resident_phone(engine, world.household_a)
    status = forged_post(
        console_prod_client, paths.SMS_INBOUND, {"From": phone, "Body": "괜찮아요", "MessageSid": "SMf3"}
    )
    assert status == 403
    with Session(engine) as session:
        watch = session.get(Watch, world.household_a)
        assert watch is None or watch.last_checkin_at is None
    assert _cases(engine, world.household_a) == [(CaseKind.INACTIVITY, CaseStatus.OPEN)]


def test_without_a_token_every_webhook_is_refused_even_correctly_shaped(
    console_prod_client: TestClient,
) -> None:
    for path in (
        paths.VOICE_ANSWER,
        paths.VOICE_GATHER,
        paths.VOICE_STATUS,
        paths.VOICE_INBOUND,
        paths.VOICE_CONTACT_GATHER,
        paths.SMS_STATUS,
        paths.SMS_INBOUND,
    ):
        query = urlencode({"code": "x", "id": "1"})
        assert forged_post(console_prod_client, path, {"CallSid": "CA1"}, query) == 403, path
        assert console_prod_client.post(f"{path}?{query}", data={"CallSid": "CA1"}).status_code == 403


def test_healthz_says_nobody_can_be_called_on_the_console_transport(console_prod_client: TestClient) -> None:
    body = console_prod_client.get("/healthz").json()
    assert body["phone"] == "console"
    assert body["can_call"] is False
    assert any("nobody can be called" in warning for warning in body["warnings"])


def test_healthz_says_calls_go_out_with_twilio(engine: Engine, clock: ManualClock) -> None:
    settings = Settings(
        _env_file=None,
        env="test",
        secret_key=SECRET_KEY,
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="a-real-token-0123456789abcdef0123",
        twilio_from_number="+15005550006",
    )
    with TestClient(create_app(settings, engine, clock)) as client:
        body = client.get("/healthz").json()
    assert (body["phone"], body["can_call"], body["warnings"]) == ("twilio", True, [])


def test_a_real_token_never_accepts_the_published_one(
    app_client: TestClient, engine: Engine, world: World
) -> None:
    phone = _contact_phone(engine, world.household_a)
    status = forged_post(app_client, paths.SMS_INBOUND, {"From": phone, "Body": "1", "MessageSid": "SMf4"})
    assert status == 403
    assert _cases(engine, world.household_a) == [(CaseKind.INACTIVITY, CaseStatus.OPEN)]
