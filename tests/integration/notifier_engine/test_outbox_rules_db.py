"""Outbox rules no other test pinned (found by mutation testing, issue 20): how much a tick takes
on and in what order, which rows are due, what a send, a failure or a lookup leaves in the row.

SQLite and, with ANBU_TEST_DATABASE_URL, PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallPurpose, CallStatus, CaseEventType, CaseKind, OutboxStatus, Severity
from core.models import CallAttempt, Case, Household, Notification
from core.settings import Settings
from notifier import calls as call_handlers
from notifier import lifecycle, outbox
from notifier.outbox import LEASE, MAX_ATTEMPTS
from notifier.pacing import CallPacer
from notifier.transports import TransportError
from tests.factories import make_call_attempt, make_household, make_notification, make_open_case
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


def _tick(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport, limit: int
) -> int:
    return outbox.tick(engine, clock, settings, transport, limit=limit, pacer=CallPacer(0), lease_clock=clock)


def test_a_tick_takes_on_at_most_its_limit_messages_first(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    open_case(engine, clock, policy=FAMILY_FIRST, contacts=3)  # three messages
    open_case(engine, clock, contacts=2)  # a call
    open_case(engine, clock, contacts=2)  # another call
    run_notifier_ticks(engine, clock, settings)
    assert _tick(engine, clock, settings, transport, limit=1) == 1
    assert [t.kind for t in transport.sent] == ["sms"]
    assert _tick(engine, clock, settings, transport, limit=3) == 3
    assert [t.kind for t in transport.sent] == ["sms", "sms", "sms", "call"]
    assert _tick(engine, clock, settings, transport, limit=3) == 1
    assert _tick(engine, clock, settings, transport, limit=3) == 0


def test_messages_queued_during_a_call_share_what_is_left_of_the_limit(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)

    def two_messages_queued(sent: Sent) -> None:
        if sent.kind == "call":
            open_case(engine, clock, policy=FAMILY_FIRST, contacts=2)
            run_notifier_ticks(engine, clock, settings)

    transport.on_send = two_messages_queued
    assert _tick(engine, clock, settings, transport, limit=2) == 2
    assert [t.kind for t in transport.sent] == ["call", "sms"]


def test_a_tick_takes_on_fifty_rows_unless_told_otherwise(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    with session_scope(engine) as s:
        hh = make_household(s, contacts=0)
        for _ in range(51):  # messages of no case (nothing can make them stale)
            make_notification(s, hh, now=clock.now(), status=OutboxStatus.PENDING)
    assert outbox.tick(engine, clock, settings, transport, pacer=CallPacer(0), lease_clock=clock) == 50
    with Session(engine) as s:
        assert [n.status for n in notifications(s)].count(OutboxStatus.PENDING) == 1


def test_without_a_pacer_a_tick_paces_calls_by_the_settings(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    assert outbox.tick(engine, clock, settings, transport, lease_clock=clock) == 1  # the first slot is free
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.status == CallStatus.QUEUED


def test_a_critical_case_is_called_before_an_earlier_routine_one(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    routine = open_case(engine, clock, contacts=2)
    critical = open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    with session_scope(engine) as s:
        s.execute(update(Case).where(col(Case.id) == critical).values(severity=Severity.CRITICAL))
    assert _tick(engine, clock, settings, transport, limit=10) == 2
    with Session(engine) as s:
        (first,), (second,) = calls(s, critical), calls(s, routine)
    assert [t.sid for t in transport.sent] == [first.provider_sid, second.provider_sid]


def test_a_call_that_cannot_be_handled_is_tried_once_a_tick(
    engine: Engine, clock: ManualClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no lease at all the row is due again at once; a tick must still not spin on it.
    case_id = open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    provider = ProviderTransport(clock=clock)
    provider.failures.append(
        TransportError("network error: ConnectTimeout", permanent=False, code="network", uncertain=True)
    )
    send_outbox(engine, clock, settings, provider)
    clock.advance(timedelta(minutes=1))
    monkeypatch.setattr(outbox, "LEASE", timedelta(0))
    provider.lookup_failures.extend(RuntimeError("bug in the lookup") for _ in range(MAX_ATTEMPTS + 1))
    assert send_outbox(engine, clock, settings, provider) == 0
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.attempts == 2 and provider.lookups == 1


def test_a_row_left_sending_without_a_lease_end_is_taken_over(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    with session_scope(engine) as s:
        s.execute(
            update(Notification)
            .where(col(Notification.case_id) == case_id)
            .values(status=OutboxStatus.SENDING, claim_expires_at=None, attempts=1)
        )
    assert send_outbox(engine, clock, settings, transport) == 1
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.status == OutboxStatus.SENT and note.attempts == 2 and len(transport.sent) == 1


def test_sending_one_row_leaves_another_rows_send_in_flight_alone(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    in_flight = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    due = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    with session_scope(engine) as s:  # another worker is mid-request on this one
        s.execute(
            update(Notification)
            .where(col(Notification.case_id) == in_flight)
            .values(status=OutboxStatus.SENDING, claim_expires_at=clock.now() + LEASE, attempts=1)
        )
    assert send_outbox(engine, clock, settings, transport) == 1
    with Session(engine) as s:
        (other,), (sent,) = notifications(s, in_flight), notifications(s, due)
    assert sent.status == OutboxStatus.SENT
    assert other.status == OutboxStatus.SENDING and other.sent_at is None


def _ringing(engine: Engine, clock: ManualClock, code: str, sid: str) -> None:
    """Twilio's first status callback for a call: it records the provider id and the status."""
    with session_scope(engine) as s:
        params = {"CallSid": sid, "CallStatus": "ringing", "SequenceNumber": "1"}
        call_handlers.call_status(s, code=code, params=params, now=clock.now())


def test_a_call_whose_status_callback_recorded_it_first_is_still_recorded_as_placed(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    with Session(engine) as s:
        (queued,) = calls(s, case_id)

    def ringing_at_once(sent: Sent) -> None:  # Twilio's callback beats our own bookkeeping
        _ringing(engine, clock, queued.code, sent.sid)

    transport.on_send = ringing_at_once
    assert send_outbox(engine, clock, settings, transport) == 1
    with Session(engine) as s:
        (call,) = calls(s, case_id)
        placed = events(s, case_id, CaseEventType.CALL_PLACED)
    assert call.provider_sid == transport.sent[0].sid and call.status == CallStatus.RINGING
    assert call.claim_expires_at is None
    assert [e.data["provider_sid"] for e in placed] == [call.provider_sid]


def test_a_failed_lookup_is_a_temporary_lookup_error_and_keeps_the_first_attempts_lease_end(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_id = open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    provider = ProviderTransport(clock=clock)
    first_claim = clock.now()

    def response_lost(sent: Sent) -> None:
        provider.on_send = None
        raise TransportError("network error: ReadTimeout", permanent=False, code="network", uncertain=True)

    provider.on_send = response_lost
    send_outbox(engine, clock, settings, provider)
    clock.advance(timedelta(minutes=1))
    provider.lookup_failures.append(TransportError("HTTP 503", permanent=False, code="http-503"))
    assert send_outbox(engine, clock, settings, provider) == 1
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.status == CallStatus.PENDING and call.error == "temporary error lookup: HTTP 503"
    # Where the next lookup starts: the first, uncertain attempt, not this lookup's claim.
    assert call.claim_expires_at == first_claim + LEASE
    assert call.next_attempt_at == clock.now() + timedelta(seconds=60)  # the second attempt's backoff


def test_a_plain_temporary_error_is_retried_without_asking_the_provider(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    provider = ProviderTransport(clock=clock)
    provider.failures.append(TransportError("HTTP 429", permanent=False, code="20429"))
    send_outbox(engine, clock, settings, provider)
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.status == OutboxStatus.PENDING and note.claim_expires_at is None  # nothing uncertain
    clock.advance(timedelta(seconds=30))
    assert send_outbox(engine, clock, settings, provider) == 1
    assert provider.lookups == 0 and len(provider.sent) == 1


def test_an_error_is_stored_cut_to_400_characters(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    long = "x" * 500
    transport.failures.append(TransportError(long, permanent=False, code="http-503"))
    send_outbox(engine, clock, settings, transport)
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.error == f"temporary error http-503: {long}"[:400]
    with session_scope(engine) as s:  # the last attempt: the reason it gave up is cut too
        s.execute(
            update(Notification)
            .where(col(Notification.id) == note.id)
            .values(attempts=MAX_ATTEMPTS - 1, next_attempt_at=clock.now())
        )
    transport.failures.append(TransportError(long, permanent=False, code="http-503"))
    send_outbox(engine, clock, settings, transport)
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    assert note.status == OutboxStatus.FAILED
    assert note.error == f"gave up after {MAX_ATTEMPTS} attempts: temporary error http-503: {long}"[:400]


def _staff_call(session: Session, case: Case, household: Household, now: datetime) -> CallAttempt:
    call = make_call_attempt(session, household, now=now, case=case, status=CallStatus.PENDING)
    call.purpose = CallPurpose.STAFF_ALERT
    session.add(call)
    return call


@pytest.mark.parametrize(("kind", "placed"), [(CaseKind.SELF_HARM_RISK, True), (CaseKind.INACTIVITY, False)])
def test_only_a_self_harm_cases_staff_call_is_placed_after_an_acknowledgement(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    transport: RecordingTransport,
    kind: CaseKind,
    placed: bool,
) -> None:
    with session_scope(engine) as s:
        hh = make_household(s, contacts=0)
        case = make_open_case(s, hh, now=clock.now(), kind=kind)
        call_id = _staff_call(s, case, hh, clock.now()).id
        lifecycle.acknowledge(s, case, actor="contact:1", now=clock.now())  # a new token
    assert send_outbox(engine, clock, settings, transport) == 1
    with Session(engine) as s:
        call = s.get(CallAttempt, call_id)
    assert call is not None
    assert (call.status, len(transport.sent)) == (
        (CallStatus.QUEUED, 1) if placed else (CallStatus.CANCELLED, 0)
    )


def test_an_error_after_the_status_callback_recorded_the_call_leaves_the_call_alone(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    # Twilio created the call and its callback came in, but the API's own answer was a 500: the
    # row is no longer ours to retry (same attempt count, but no longer sending).
    case_id = open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    with Session(engine) as s:
        (queued,) = calls(s, case_id)

    def ringing_then_500(sent: Sent) -> None:
        _ringing(engine, clock, queued.code, sent.sid)
        raise TransportError("HTTP 500", permanent=False, code="http-500", uncertain=True)

    transport.on_send = ringing_then_500
    assert send_outbox(engine, clock, settings, transport) == 1
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert (call.status, call.attempts, call.error, call.next_attempt_at) == (
        CallStatus.RINGING,
        1,
        None,
        None,
    )
    assert call.provider_sid == transport.sent[0].sid
    clock.advance(timedelta(hours=1))
    assert send_outbox(engine, clock, settings, transport) == 0 and len(transport.sent) == 1


# SQLAlchemy warns when asked for a row by a NULL key ("may raise an error in a future release").
@pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")
def test_a_row_of_no_case_is_retried_failed_and_sent_without_looking_up_a_case(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    with session_scope(engine) as s:
        hh = make_household(s, contacts=0)
        retried = make_notification(s, hh, now=clock.now(), status=OutboxStatus.PENDING).id
        failed = make_notification(s, hh, now=clock.now(), status=OutboxStatus.PENDING).id
    transport.failures.append(TransportError("HTTP 503", permanent=False, code="http-503"))
    transport.failures.append(TransportError("HTTP 400: invalid To", permanent=True, code="21211"))
    assert send_outbox(engine, clock, settings, transport) == 2
    clock.advance(timedelta(seconds=30))
    assert send_outbox(engine, clock, settings, transport) == 1
    with Session(engine) as s:
        statuses = {n.id: n.status for n in notifications(s)}
    assert statuses == {retried: OutboxStatus.SENT, failed: OutboxStatus.FAILED}


def test_a_row_another_worker_sent_after_this_tick_listed_it_is_not_claimed_again(
    engine: Engine, clock: ManualClock, settings: Settings, transport: RecordingTransport
) -> None:
    # The tick lists both due messages first, then claims them one at a time. While it sends the
    # first, another worker sends the second: the claim's UPDATE must find it no longer due and
    # leave it as that worker recorded it (not flip a sent row back to "sending", one attempt up).
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    other_worker: list[int] = []

    def the_other_worker_sends_the_rest(sent: Sent) -> None:
        transport.on_send = None
        other_worker.append(send_outbox(engine, clock, settings, transport))

    transport.on_send = the_other_worker_sends_the_rest
    assert send_outbox(engine, clock, settings, transport) == 1
    assert other_worker == [1] and len(transport.sent) == 2
    with Session(engine) as s:
        rows = notifications(s, case_id)
    assert [(n.status, n.attempts) for n in rows] == [(OutboxStatus.SENT, 1), (OutboxStatus.SENT, 1)]
    assert sorted(n.provider_sid or "" for n in rows) == sorted(t.sid for t in transport.sent)
