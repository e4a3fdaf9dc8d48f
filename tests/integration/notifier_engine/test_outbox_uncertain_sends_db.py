"""A send whose outcome was never recorded is looked up at the provider, not made twice.

Two ways to lose the outcome: the worker dies after the provider took the request and before it
records the provider id; or the response is lost (network error, transport bug). Runs on SQLite
and, with ANBU_TEST_DATABASE_URL, on PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallStatus, CaseEventType, OutboxStatus
from core.models import CallAttempt
from core.settings import Settings
from notifier import calls as call_handlers
from notifier import outbox, sms
from notifier.outbox import LEASE
from notifier.transports import TransportError
from tests.integration.notifier_engine.support import (
    FAMILY_FIRST,
    ProviderTransport,
    RecordingTransport,
    Sent,
    calls,
    events,
    notifications,
    open_case,
    send_outbox,
)
from tests.ticks import run_notifier_ticks


def _die_after_sending_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's process ends between the provider's answer and our bookkeeping."""
    real = outbox._record_sent
    state = {"died": False}

    def dies(*args: Any, **kwargs: Any) -> None:
        if not state["died"]:
            state["died"] = True
            raise RuntimeError("worker killed after sending, before recording")
        real(*args, **kwargs)

    monkeypatch.setattr(outbox, "_record_sent", dies)


@pytest.fixture
def provider(clock: ManualClock) -> ProviderTransport:
    return ProviderTransport(clock=clock)


def _sent_by_a_worker_that_died(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    transport: RecordingTransport,
    monkeypatch: pytest.MonkeyPatch,
    policy: Mapping[str, object] | None = None,
) -> int:
    """A case whose first message a worker sent and then died before recording it; its id."""
    case_id = open_case(engine, clock, policy=policy)
    run_notifier_ticks(engine, clock, settings)
    _die_after_sending_once(monkeypatch)
    send_outbox(engine, clock, settings, transport)
    return case_id


@pytest.fixture
def case_id(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    provider: ProviderTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> int:
    """A case whose first call a worker placed through ``provider``, then died; its id."""
    return _sent_by_a_worker_that_died(engine, clock, settings, provider, monkeypatch)


def test_a_worker_that_dies_after_placing_a_call_never_places_it_again(
    engine: Engine, clock: ManualClock, settings: Settings, provider: ProviderTransport, case_id: int
) -> None:
    assert len(provider.sent) == 1
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.status == CallStatus.SENDING and call.provider_sid is None
    assert send_outbox(engine, clock, settings, provider) == 0  # the dead worker's lease still runs
    clock.advance(LEASE + timedelta(seconds=1))
    assert send_outbox(engine, clock, settings, provider) == 1
    assert len(provider.sent) == 1, "the call was placed twice"
    assert provider.lookups == 1
    with Session(engine) as s:
        (call,) = calls(s, case_id)
        assert call.provider_sid == provider.sent[0].sid and call.status == CallStatus.QUEUED
        (placed,) = events(s, case_id, CaseEventType.CALL_PLACED)
        assert placed.data["recovered"] is True
    clock.advance(timedelta(minutes=5))
    assert send_outbox(engine, clock, settings, provider) == 0
    assert len(provider.sent) == 1


def test_a_worker_that_dies_after_sending_an_sms_never_sends_it_again(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    provider: ProviderTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST)
    run_notifier_ticks(engine, clock, settings)
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    # An earlier, different text to the same number is not this row's send.
    provider.sent.append(
        Sent(
            "sms",
            note.to_address,
            settings.twilio_from_number or "",
            "",
            "",
            "older text",
            "SMolder",
            clock.now(),
        )
    )
    _die_after_sending_once(monkeypatch)
    send_outbox(engine, clock, settings, provider)
    clock.advance(LEASE + timedelta(seconds=1))
    assert send_outbox(engine, clock, settings, provider) == 1
    assert [r.sid for r in provider.sent if r.body == note.body] == [provider.sent[1].sid]
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.provider_sid == provider.sent[1].sid and note.status == OutboxStatus.SENT


def test_a_lost_response_is_looked_up_before_trying_again(
    engine: Engine, clock: ManualClock, settings: Settings, provider: ProviderTransport
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST)
    run_notifier_ticks(engine, clock, settings)

    def response_lost(record: Sent) -> None:
        provider.on_send = None
        raise TransportError("network error: ReadTimeout", permanent=False, code="network", uncertain=True)

    provider.on_send = response_lost
    assert send_outbox(engine, clock, settings, provider) == 1
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.status == OutboxStatus.PENDING and note.claim_expires_at is not None  # marked uncertain
    clock.advance(timedelta(minutes=1))
    assert send_outbox(engine, clock, settings, provider) == 1
    assert len(provider.sent) == 1
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.provider_sid == provider.sent[0].sid and note.status == OutboxStatus.SENT
    assert note.claim_expires_at is None


def test_an_uncertain_row_the_provider_never_got_is_sent_once(
    engine: Engine, clock: ManualClock, settings: Settings, provider: ProviderTransport
) -> None:
    case_id = open_case(engine, clock)
    run_notifier_ticks(engine, clock, settings)
    provider.failures.append(
        TransportError("network error: ConnectTimeout", permanent=False, code="network", uncertain=True)
    )
    assert send_outbox(engine, clock, settings, provider) == 1
    assert provider.sent == []
    clock.advance(timedelta(minutes=1))
    assert send_outbox(engine, clock, settings, provider) == 1
    assert len(provider.sent) == 1 and provider.lookups == 1
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.provider_sid == provider.sent[0].sid and call.attempts == 2


def test_a_failed_lookup_sends_nothing_and_asks_again_later(
    engine: Engine, clock: ManualClock, settings: Settings, provider: ProviderTransport, case_id: int
) -> None:
    provider.lookup_failures.append(TransportError("HTTP 503", permanent=False, code="http-503"))
    clock.advance(LEASE + timedelta(seconds=1))
    assert send_outbox(engine, clock, settings, provider) == 1
    assert len(provider.sent) == 1
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert (
        call.status == CallStatus.PENDING and call.provider_sid is None and call.claim_expires_at is not None
    )
    clock.advance(timedelta(minutes=2))
    assert send_outbox(engine, clock, settings, provider) == 1
    assert len(provider.sent) == 1 and provider.lookups == 2
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.provider_sid == provider.sent[0].sid


def test_another_rows_call_to_the_same_number_is_not_taken_for_this_one(
    engine: Engine, clock: ManualClock, settings: Settings, provider: ProviderTransport
) -> None:
    case_id = open_case(engine, clock)
    run_notifier_ticks(engine, clock, settings)
    with session_scope(engine) as s:
        (call,) = calls(s, case_id)
        # A call to the same resident already recorded on another row (say, a check-in call).
        other = CallAttempt(
            purpose=call.purpose,
            household_id=call.household_id,
            recipient_kind=call.recipient_kind,
            recipient_id=call.recipient_id,
            to_address=call.to_address,
            language=call.language,
            code="other-call-code",
            idempotency_key="test:other",
            escalation_token="",
            status=CallStatus.QUEUED,
            provider_sid="CAother",
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        s.add(other)
    provider.sent.append(
        Sent("call", call.to_address, settings.twilio_from_number or "", "", "", "", "CAother", clock.now())
    )
    provider.failures.append(
        TransportError("network error: ConnectTimeout", permanent=False, code="network", uncertain=True)
    )
    send_outbox(engine, clock, settings, provider)
    clock.advance(timedelta(minutes=1))
    assert send_outbox(engine, clock, settings, provider) == 1
    assert len(provider.sent) == 2
    with Session(engine) as s:
        (mine,) = [c for c in calls(s, case_id) if c.code != "other-call-code"]
    assert mine.provider_sid == provider.sent[1].sid


@pytest.mark.parametrize("kind", ["call", "sms"])
def test_a_status_callback_records_the_provider_id_so_the_dead_workers_send_is_not_repeated(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    # A transport that cannot be asked (like the console): only the callback can save us here.
    transport = RecordingTransport()
    policy = None if kind == "call" else FAMILY_FIRST
    case_id = _sent_by_a_worker_that_died(engine, clock, settings, transport, monkeypatch, policy)
    (sent,) = transport.sent
    callback: Callable[[Session], None]
    with Session(engine) as s:
        if kind == "call":
            (call,) = calls(s, case_id)
            code = call.code

            def callback(session: Session) -> None:
                params = {"CallSid": sent.sid, "CallStatus": "ringing", "SequenceNumber": "1"}
                call_handlers.call_status(session, code=code, params=params, now=clock.now())

        else:
            (note,) = notifications(s, case_id)
            note_id = note.id
            assert note_id is not None

            def callback(session: Session) -> None:
                params = {"MessageSid": sent.sid, "MessageStatus": "sent"}
                sms.sms_status(session, notification_id=note_id, params=params, now=clock.now())

    with session_scope(engine) as s:
        callback(s)
    clock.advance(LEASE + timedelta(minutes=1))
    assert send_outbox(engine, clock, settings, transport) == 0
    assert len(transport.sent) == 1
    with Session(engine) as s:
        row = calls(s, case_id)[0] if kind == "call" else notifications(s, case_id)[0]
    assert row.provider_sid == sent.sid
    assert row.status in (CallStatus.RINGING, OutboxStatus.SENT)
