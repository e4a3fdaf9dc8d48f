"""Issue 14: a text to our number is never lost with a locked database (notifier/webhook_spool.py).

Before: the inbound-text webhook handled the text in one transaction with the database's usual
patience (a 10 s busy timeout on SQLite), then failed with a 500; Twilio does not retry that
webhook, so "도와주세요" texted while the database was locked reached nobody. Now the webhook
waits at most a few seconds, spools the signed text to disk and answers at once; the worker's
``webhooks`` tick handles it when the database returns, exactly once.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import TWILIO_WEBHOOK_BUDGET_S
from core.enums import CaseEventType, RecipientKind, Severity
from core.models import Case, Notification
from core.settings import Settings
from notifier import webhook_spool
from notifier import webhook_urls as paths
from tests.factories import case_events, make_household
from tests.integration.api.conftest import World
from tests.integration.api.test_api_reply_survives_locked_database import (
    LOCKED_FOR,
    _run_worker,
    database_locked,
)
from tests.integration.api.test_api_reply_survives_locked_database import (
    settings as settings,  # fixture: a private data directory for the spool
)
from tests.integration.api.test_api_twilio_webhooks_real_handlers import signed_post

MESSAGE_SID = "SM" + "5" * 32
RESIDENT_PHONE = "+821012345678"  # tests.factories.make_household's resident


@pytest.fixture(autouse=True)
def _short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook_spool, "WAIT_S", 0.3)  # the real wait is 5 s; the behaviour is the same


def _help_text(client: TestClient) -> tuple[int, str, float]:
    started = time.monotonic()
    response = signed_post(
        client, paths.SMS_INBOUND, {"From": RESIDENT_PHONE, "Body": "도와주세요", "MessageSid": MESSAGE_SID}
    )
    return response.status_code, response.text, time.monotonic() - started


def test_help_texted_while_the_database_is_locked_is_acted_on_when_it_returns(
    app_client: TestClient, engine: Engine, world: World, clock: ManualClock, settings: Settings
) -> None:
    with database_locked(engine):
        status, twiml, took = _help_text(app_client)
        assert status == 200, twiml  # not a 500 that Twilio would never retry
        assert took < TWILIO_WEBHOOK_BUDGET_S / 2
        spooled = list(webhook_spool.spool_dir(settings).glob("*.json"))
        assert len(spooled) == 1  # on disk before Twilio was answered
        assert "도와주세요" in spooled[0].read_text(encoding="utf-8")
        clock.advance(LOCKED_FOR)
    returned_at = clock.now()

    _run_worker(settings, engine, clock, ("webhooks",))

    with Session(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None and case.severity == Severity.CRITICAL
        told = session.exec(select(Notification).where(Notification.case_id == world.case_a)).all()
        assert {n.recipient_kind for n in told} == {RecipientKind.USER, RecipientKind.CONTACT}
        for row in told:
            assert returned_at <= row.created_at <= returned_at + timedelta(minutes=1)
    assert list(webhook_spool.spool_dir(settings).glob("*")) == []

    # Exactly once: another tick, and Twilio delivering the same text again, add nothing.
    _run_worker(settings, engine, clock, ("webhooks",))
    status, again, _ = _help_text(app_client)
    assert status == 200 and "<Message>" not in again
    with Session(engine) as session:
        assert len(
            session.exec(select(Notification).where(Notification.case_id == world.case_a)).all()
        ) == len(told)


def test_a_spooled_text_waits_while_the_database_stays_locked(
    app_client: TestClient, engine: Engine, world: World, clock: ManualClock, settings: Settings
) -> None:
    with database_locked(engine):
        assert _help_text(app_client)[0] == 200
        assert webhook_spool.tick(engine, clock, settings) == 0  # the database still refuses: kept
        assert len(list(webhook_spool.spool_dir(settings).glob("*.json"))) == 1
    assert webhook_spool.tick(engine, clock, settings) == 1
    events = case_events(engine, world.case_a)
    assert events and any(e.type != CaseEventType.OPENED for e in events)


def test_an_unreadable_spool_file_is_set_aside_not_dropped(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    directory = webhook_spool.spool_dir(settings)
    directory.mkdir(parents=True)
    (directory / "20261207T000000000000-x.json").write_text("not json", encoding="utf-8")
    with Session(engine) as session:
        make_household(session)
    assert webhook_spool.tick(engine, clock, settings) == 0
    assert [p.name for p in directory.iterdir()] == ["20261207T000000000000-x.bad"]
