"""Twilio made the call or message but answered 5xx: the retry finds it instead of sending again.

The real twilio library against the Twilio emulator, whose fault hook makes the resource and then
answers 500 (issue 14.5). Our webhooks are unreachable (nothing listens on the public base URL),
so no status callback records the provider id before the retry: only Twilio's lists can tell.
Runs on SQLite and, with ANBU_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.enums import CallStatus, CaseEventType, OutboxStatus
from core.settings import DEV_TWILIO_ACCOUNT_SID, Settings
from notifier.transports.twilio import TwilioTransport
from simulator.twilio_emulator import TwilioEmulator
from tests.integration.notifier_engine.support import (
    FAMILY_FIRST,
    FROM_NUMBER,
    calls,
    events,
    notifications,
    open_case,
    send_outbox,
)
from tests.ticks import run_notifier_ticks

TOKEN = "test-auth-token-0123456789abcdef"


def _dead_base_url() -> str:
    with socket.socket() as sock:  # a port that was free a moment ago: our webhooks are down
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def emulator(clock: ManualClock) -> Iterator[TwilioEmulator]:
    emu = TwilioEmulator(DEV_TWILIO_ACCOUNT_SID, TOKEN, webhook_timeout_s=0.5, time_source=clock.now)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def twilio_settings() -> Settings:
    return Settings(_env_file=None, public_base_url=_dead_base_url(), twilio_from_number=FROM_NUMBER)


def _transport(emulator: TwilioEmulator) -> TwilioTransport:
    return TwilioTransport(account_sid=DEV_TWILIO_ACCOUNT_SID, auth_token=TOKEN, api_base=emulator.base_url)


def test_a_500_after_twilio_created_the_call_places_exactly_one_call(
    engine: Engine, clock: ManualClock, twilio_settings: Settings, emulator: TwilioEmulator
) -> None:
    case_id = open_case(engine, clock)
    run_notifier_ticks(engine, clock, twilio_settings)
    emulator.fail_after_create(1, status=500)
    transport = _transport(emulator)
    assert send_outbox(engine, clock, twilio_settings, transport) == 1
    assert len(emulator.calls()) == 1  # Twilio has the call; we were told it failed
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.status == CallStatus.PENDING and call.provider_sid is None
    assert call.claim_expires_at is not None, "a 5xx is an uncertain send"
    clock.advance(timedelta(seconds=31))  # the first retry (30 s backoff)
    assert send_outbox(engine, clock, twilio_settings, transport) == 1
    (placed,) = emulator.calls()
    assert len(emulator.calls()) == 1, "the call was placed twice"
    with Session(engine) as s:
        (call,) = calls(s, case_id)
        assert call.provider_sid == placed.sid and call.status == CallStatus.QUEUED
        (event,) = events(s, case_id, CaseEventType.CALL_PLACED)
        assert event.data["recovered"] is True
    clock.advance(timedelta(minutes=5))
    send_outbox(engine, clock, twilio_settings, transport)
    assert len(emulator.calls()) == 1


def test_a_503_after_twilio_created_the_message_sends_exactly_one_sms(
    engine: Engine, clock: ManualClock, twilio_settings: Settings, emulator: TwilioEmulator
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST)
    run_notifier_ticks(engine, clock, twilio_settings)
    emulator.fail_after_create(1, status=503)
    transport = _transport(emulator)
    assert send_outbox(engine, clock, twilio_settings, transport) == 1
    clock.advance(timedelta(seconds=31))
    assert send_outbox(engine, clock, twilio_settings, transport) == 1
    (sent,) = emulator.messages()
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.provider_sid == sent.sid and note.status == OutboxStatus.SENT
