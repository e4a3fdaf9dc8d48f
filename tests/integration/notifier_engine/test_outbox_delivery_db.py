"""The outbox on a real database: claims, fencing, retries, leases, concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from core.clock import ManualClock
from core.db import session_scope
from core.enums import (
    CallOutcome,
    CallStatus,
    CaseEventType,
    OutboxStatus,
    ResolutionCode,
)
from core.models import CallAttempt, Case, Notification
from core.settings import Settings
from notifier import escalation, lifecycle, outbox
from notifier.outbox import MAX_ATTEMPTS
from notifier.pacing import CallPacer
from notifier.transports import TransportError
from tests.integration.notifier_engine.support import (
    FAMILY_FIRST,
    FROM_NUMBER,
    PUBLIC_BASE,
    RecordingTransport,
    Sent,
    calls,
    events,
    notifications,
    open_case,
    send_outbox,
)
from tests.ticks import run_notifier_ticks


def test_calls_and_messages_are_sent_once_with_our_webhook_urls(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    call_case = open_case(engine, clock, contacts=2)
    sms_case = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    assert run_notifier_ticks(engine, clock, settings) == 2
    assert send_outbox(engine, clock, settings, transport) == 2
    assert send_outbox(engine, clock, settings, transport) == 0  # nothing is sent twice
    with Session(engine) as s:
        (call,) = calls(s, call_case)
        (note,) = notifications(s, sms_case)
    by_kind = {t.kind: t for t in transport.sent}
    assert by_kind["call"] == Sent(
        "call",
        call.to_address,
        FROM_NUMBER,
        f"{PUBLIC_BASE}/api/v1/twilio/voice/answer?code={call.code}",
        f"{PUBLIC_BASE}/api/v1/twilio/voice/status?code={call.code}",
        sid=call.provider_sid or "",
    )
    assert by_kind["sms"] == Sent(
        "sms",
        note.to_address,
        FROM_NUMBER,
        f"{PUBLIC_BASE}/api/v1/twilio/sms/status?id={note.id}",
        f"{PUBLIC_BASE}/api/v1/twilio/sms/status?id={note.id}",
        body=note.body,
        sid=note.provider_sid or "",
    )
    assert transport.sent[0].kind == "sms"  # messages go before (paced) calls
    assert call.status == CallStatus.QUEUED and call.attempts == 1 and call.claim_expires_at is None
    assert note.status == OutboxStatus.SENT and note.sent_at == clock.now() and note.attempts == 1
    with Session(engine) as s:
        (placed,) = events(s, call_case, CaseEventType.CALL_PLACED)
        assert placed.data == {
            "call_attempt_id": call.id,
            "provider_sid": call.provider_sid,
            "to": "+8210****5678",
        }
        (sent,) = events(s, sms_case, CaseEventType.NOTIFICATION_SENT)
        assert sent.data["notification_id"] == note.id


def test_an_acknowledgement_between_queue_and_send_cancels_the_rows(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=2)
    assert run_notifier_ticks(engine, clock, settings) == 1
    with session_scope(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        lifecycle.acknowledge(s, case, actor="user:7", now=clock.now())
    assert send_outbox(engine, clock, settings, transport) == 2
    assert transport.sent == []
    with Session(engine) as s:
        rows = notifications(s, case_id)
        assert [n.status for n in rows] == [OutboxStatus.CANCELLED] * 2
        assert all(n.claim_expires_at is None and n.provider_sid is None for n in rows)
        cancelled = events(s, case_id, CaseEventType.NOTIFICATION_CANCELLED)
        assert sorted(e.data["notification_id"] for e in cancelled) == sorted(n.id or 0 for n in rows)


def test_a_queued_call_is_cancelled_when_the_case_clears(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, contacts=2)
    assert run_notifier_ticks(engine, clock, settings) == 1
    with session_scope(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        lifecycle.clear(s, case, reason="activity_resumed", now=clock.now())
    assert send_outbox(engine, clock, settings, transport) == 1
    assert transport.sent == []
    with Session(engine) as s:
        (call,) = calls(s, case_id)
        assert call.status == CallStatus.CANCELLED
        (cancelled,) = events(s, case_id, CaseEventType.NOTIFICATION_CANCELLED)
        assert cancelled.data == {"call_attempt_id": call.id}


def test_help_messages_survive_an_acknowledgement_but_not_a_resolution(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    first = open_case(engine, clock, contacts=2)
    second = open_case(engine, clock, contacts=2)
    with session_scope(engine) as s:
        for case_id in (first, second):
            case = s.get(Case, case_id)
            assert case is not None
            escalation.escalate_now(s, case, target="emergency", now=clock.now(), reason="call:emergency")
            lifecycle.acknowledge(s, case, actor="user:7", now=clock.now())
        resolved = s.get(Case, second)
        assert resolved is not None
        lifecycle.resolve(s, resolved, actor="user:7", code=ResolutionCode.OTHER, note=None, now=clock.now())
    assert send_outbox(engine, clock, settings, transport) == 6
    with Session(engine) as s:
        assert {n.status for n in notifications(s, first)} == {OutboxStatus.SENT}
        assert {n.status for n in notifications(s, second)} == {OutboxStatus.CANCELLED}
    assert len(transport.sent) == 3


def test_temporary_errors_back_off_and_give_up_after_eight_attempts(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        transport.failures.append(TransportError("HTTP 503", permanent=False, code="http-503"))
        assert send_outbox(engine, clock, settings, transport) == 1
        with Session(engine) as s:
            (note,) = notifications(s, case_id)
        assert note.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert note.status == OutboxStatus.PENDING and note.error == "temporary error http-503: HTTP 503"
            assert note.next_attempt_at is not None
            waits.append(note.next_attempt_at - clock.now())
            clock.set(note.next_attempt_at - timedelta(seconds=1))
            assert send_outbox(engine, clock, settings, transport) == 0  # not before its time
            clock.set(note.next_attempt_at)
    assert [int(w.total_seconds()) for w in waits] == [30, 60, 120, 240, 480, 900, 900]
    assert note.status == OutboxStatus.FAILED and not note.permanent_failure
    assert note.error is not None and note.error.startswith("gave up after 8 attempts")
    assert transport.sent == []
    with Session(engine) as s:
        (failed,) = events(s, case_id, CaseEventType.NOTIFICATION_FAILED)
        assert failed.data == {
            "notification_id": note.id,
            "code": "http-503",
            "permanent": False,
            "attempts": 8,
        }


def test_a_temporary_error_then_success_sends_the_message(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    transport.failures.append(TransportError("throttled", permanent=False, code="20429"))
    send_outbox(engine, clock, settings, transport)
    clock.advance(timedelta(seconds=30))
    assert send_outbox(engine, clock, settings, transport) == 1
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.status == OutboxStatus.SENT and note.attempts == 2 and note.error is None
    assert len(transport.sent) == 1


def test_a_permanent_error_fails_the_row_at_once(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    sms_case = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    call_case = open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    transport.failures.append(TransportError("HTTP 400: invalid To", permanent=True, code="21211"))
    transport.failures.append(TransportError("HTTP 400: not reachable", permanent=True, code="21214"))
    assert send_outbox(engine, clock, settings, transport) == 2
    clock.advance(timedelta(hours=1))
    assert send_outbox(engine, clock, settings, transport) == 0
    with Session(engine) as s:
        (note,) = notifications(s, sms_case)
        (call,) = calls(s, call_case)
        assert note.status == OutboxStatus.FAILED and note.permanent_failure and note.attempts == 1
        assert note.error == "permanent error 21211: HTTP 400: invalid To"
        assert call.status == CallStatus.FAILED and call.outcome == CallOutcome.FAILED
        (failed,) = events(s, call_case, CaseEventType.NOTIFICATION_FAILED)
        assert failed.data == {"call_attempt_id": call.id, "code": "21214", "permanent": True, "attempts": 1}


def test_an_unexpected_transport_exception_is_retried_not_lost(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    transport.failures.append(KeyError("bug in a transport"))
    assert send_outbox(engine, clock, settings, transport) == 1
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.status == OutboxStatus.PENDING and note.error is not None and "unexpected" in note.error


def _crash_mid_send(engine: Engine, model: type, row_id: int, *, lease_end: object, sid: str | None) -> None:
    """What a worker that died between claim and record leaves behind."""
    with session_scope(engine) as s:
        sending = CallStatus.SENDING if model is CallAttempt else OutboxStatus.SENDING
        s.execute(
            update(model)
            .where(col(model.id) == row_id)  # type: ignore[attr-defined]
            .values(status=sending, claim_expires_at=lease_end, attempts=1, provider_sid=sid)
        )


def test_an_expired_lease_without_a_provider_id_is_sent_again(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.id is not None
    _crash_mid_send(engine, CallAttempt, call.id, lease_end=clock.now() + timedelta(seconds=60), sid=None)
    assert send_outbox(engine, clock, settings, transport) == 0  # the lease still runs
    clock.advance(timedelta(seconds=60))
    assert send_outbox(engine, clock, settings, transport) == 1
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert (
        call.status == CallStatus.QUEUED and call.attempts == 2 and call.provider_sid == transport.sent[0].sid
    )


def test_an_expired_lease_with_a_provider_id_is_never_sent_again(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.id is not None
    _crash_mid_send(
        engine, Notification, note.id, lease_end=clock.now() - timedelta(minutes=5), sid="SMalready"
    )
    clock.advance(timedelta(hours=2))
    assert send_outbox(engine, clock, settings, transport) == 0
    assert transport.sent == []
    with Session(engine) as s:  # not even claimed: a claim would count an attempt, and fail it at the ninth
        (after,) = notifications(s, case_id)
    assert (after.attempts, after.provider_sid) == (1, "SMalready")


def test_a_row_interrupted_too_often_is_given_up(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    with session_scope(engine) as s:
        (note,) = notifications(s, case_id)
        note.status, note.attempts, note.claim_expires_at = OutboxStatus.SENDING, MAX_ATTEMPTS, clock.now()
        s.add(note)
    assert send_outbox(engine, clock, settings, transport) == 1
    assert transport.sent == []
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
        assert note.status == OutboxStatus.FAILED and note.attempts == MAX_ATTEMPTS + 1
        assert len(events(s, case_id, CaseEventType.NOTIFICATION_FAILED)) == 1


def test_a_status_callback_that_arrives_before_we_record_the_send_is_not_overwritten(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)

    def delivered_at_once(record: Sent) -> None:
        # The provider's "delivered" callback wins the race against our own bookkeeping.
        with session_scope(engine) as s:
            s.execute(update(Notification).values(status=OutboxStatus.DELIVERED))

    transport.on_send = delivered_at_once
    assert send_outbox(engine, clock, settings, transport) == 1
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.status == OutboxStatus.DELIVERED and note.provider_sid == transport.sent[0].sid


def test_two_concurrent_senders_never_send_the_same_row(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_ids = [open_case(engine, clock, policy=FAMILY_FIRST, contacts=3) for _ in range(4)]
    case_ids += [open_case(engine, clock, contacts=2) for _ in range(3)]
    assert run_notifier_ticks(engine, clock, settings) == 7
    transport = RecordingTransport()
    barrier = threading.Barrier(2)
    handled: list[int] = []

    def worker() -> None:
        barrier.wait(timeout=10)
        handled.append(outbox.tick(engine, clock, settings, transport, pacer=CallPacer(0)))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(handled) == 15
    tos = [(t.kind, t.to, t.url) for t in transport.sent]
    assert len(tos) == len(set(tos)) == 15
    with Session(engine) as s:
        assert {n.status for n in notifications(s)} == {OutboxStatus.SENT}
        assert {c.status for c in calls(s)} == {CallStatus.QUEUED}
        assert {n.attempts for n in notifications(s)} == {1}


def test_calls_are_paced_within_a_tick(engine: Engine, clock: ManualClock, settings: Settings) -> None:
    for _ in range(3):
        open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    slept: list[float] = []
    placed_at: list[timedelta] = []
    start = clock.now()

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    pacer = CallPacer(1.0, clock=clock, sleep=sleep)
    transport = RecordingTransport(on_send=lambda _sent: placed_at.append(clock.now() - start))
    assert outbox.tick(engine, clock, settings, transport, pacer=pacer) == 3
    assert slept == [pytest.approx(1.0), pytest.approx(1.0)]
    assert placed_at == [timedelta(0), timedelta(seconds=1), timedelta(seconds=2)]
    # The next free slot is kept in the database, so the next tick (or another worker) waits too.
    open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    assert (
        outbox.tick(engine, clock, settings, transport, pacer=CallPacer(1.0, clock=clock, sleep=sleep)) == 1
    )
    assert slept[2:] == [pytest.approx(1.0)]
