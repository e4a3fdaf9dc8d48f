"""Issue 19 through the Twilio webhook (signature, stored reply, handler): a resident who says
"죽고 싶어요" hears the crisis line, never the generic goodbye, and the caseworker and family are
told at once on a case of its own — also when the database was locked while they said it."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.enums import CaseKind, RecipientKind, Severity
from core.models import Case, Notification
from core.settings import Settings
from notifier.script import CATALOGUE
from tests.integration.api.conftest import World
from tests.integration.api.test_api_reply_survives_locked_database import (
    _post_help,
    _run_worker,
    database_locked,
)
from tests.integration.api.test_api_reply_survives_locked_database import _short_waits as _short_waits
from tests.integration.api.test_api_reply_survives_locked_database import settings as settings
from tests.integration.api.test_api_twilio_webhooks_real_handlers import call_code as call_code

SAID = "죽고 싶어요"


def _assert_paged(engine: Engine, world: World) -> None:
    with Session(engine) as session:
        case = session.exec(
            select(Case).where(Case.household_id == world.household_a, Case.kind == CaseKind.SELF_HARM_RISK)
        ).one()
        assert case.severity == Severity.CRITICAL
        told = {
            n.recipient_kind: n.template
            for n in session.exec(select(Notification).where(Notification.case_id == case.id)).all()
        }
    assert told == {
        RecipientKind.USER: "sms.caseworker.self_harm",
        RecipientKind.CONTACT: "sms.family.self_harm",
    }


def test_the_webhook_answers_with_the_crisis_line_and_pages_staff(
    app_client: TestClient, engine: Engine, world: World, call_code: str
) -> None:
    status, twiml, _ = _post_help(app_client, call_code, words=SAID)
    assert status == 200
    assert CATALOGUE.text("call.self_harm.connecting", "ko", line="109") in twiml
    assert ">109</Dial>" in twiml
    assert CATALOGUE.text("call.closing.emergency", "ko") not in twiml
    _assert_paged(engine, world)


def test_said_while_the_database_is_locked_the_line_is_still_given_and_staff_paged_after(
    app_client: TestClient,
    engine: Engine,
    world: World,
    clock: ManualClock,
    settings: Settings,
    call_code: str,
) -> None:
    with database_locked(engine):
        status, twiml, _ = _post_help(app_client, call_code, words=SAID)
    assert status == 200 and twiml.count("109") >= 2
    clock.advance(timedelta(seconds=32))
    _run_worker(settings, engine, clock, ("replies",))
    _assert_paged(engine, world)
