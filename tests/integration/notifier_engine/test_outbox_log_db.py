"""What the outbox tells the operator: one log line per outcome, naming the row, never the number.

The log is how an operator learns of a possible duplicate call or a message given up on; each
outcome's line is pinned exactly, and no line may carry a phone number (personal data). SQLite
and, with ANBU_TEST_DATABASE_URL, PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallStatus, CaseEventType, OutboxStatus
from core.models import CallAttempt, Case, Notification
from core.settings import Settings
from notifier import lifecycle, outbox
from notifier.outbox import MAX_ATTEMPTS
from notifier.pacing import CallPacer
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

Line = tuple[str, str]  # (level, message)


class OutboxLog:
    """The outbox's log lines since the last ``take()``."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def take(self) -> list[Line]:
        lines = [(r.levelname, r.getMessage()) for r in self.caplog.records if r.name == outbox.log.name]
        self.caplog.clear()
        return lines


@pytest.fixture
def outbox_log(caplog: pytest.LogCaptureFixture) -> Iterator[OutboxLog]:
    caplog.set_level(logging.INFO, logger=outbox.log.name)
    log = OutboxLog(caplog)
    yield log
    # Whatever was logged: a row's id and the provider's, never a phone number.
    for record in caplog.records:
        assert "+82" not in record.getMessage() and "+1500" not in record.getMessage()


def _note(engine: Engine, case_id: int) -> Notification:
    with Session(engine) as s:
        (note,) = notifications(s, case_id)
    return note


def _call(engine: Engine, case_id: int) -> CallAttempt:
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    return call


def test_a_sent_message_and_a_placed_call_are_logged_by_row_and_provider_id(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    transport: RecordingTransport,
    outbox_log: OutboxLog,
) -> None:
    sms_case = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    call_case = open_case(engine, clock, contacts=2)
    run_notifier_ticks(engine, clock, settings)
    outbox_log.take()
    assert send_outbox(engine, clock, settings, transport) == 2
    note, call = _note(engine, sms_case), _call(engine, call_case)
    assert outbox_log.take() == [
        ("INFO", f"outbox: Notification {note.id} accepted by provider as {note.provider_sid}"),
        ("INFO", f"outbox: CallAttempt {call.id} accepted by provider as {call.provider_sid}"),
    ]


def test_a_temporary_error_then_a_permanent_one_are_logged_with_code_attempt_and_retry_time(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    transport: RecordingTransport,
    outbox_log: OutboxLog,
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    outbox_log.take()
    transport.failures.append(TransportError("HTTP 503", permanent=False, code="http-503"))
    send_outbox(engine, clock, settings, transport)
    note = _note(engine, case_id)
    retry_at = (clock.now() + timedelta(seconds=30)).isoformat()
    assert outbox_log.take() == [
        ("INFO", f"outbox: Notification {note.id} temporary error http-503 (attempt 1), retry at {retry_at}")
    ]
    clock.advance(timedelta(seconds=30))
    transport.failures.append(TransportError("HTTP 400: invalid To", permanent=True, code="21211"))
    send_outbox(engine, clock, settings, transport)
    assert outbox_log.take() == [
        ("WARNING", f"outbox: Notification {note.id} failed (permanent, code 21211, attempts 2)")
    ]


def test_a_row_interrupted_too_often_is_given_up_with_its_reason_in_the_row_the_event_and_the_log(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    transport: RecordingTransport,
    outbox_log: OutboxLog,
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    with session_scope(engine) as s:
        (note,) = notifications(s, case_id)
        note.status, note.attempts, note.claim_expires_at = OutboxStatus.SENDING, MAX_ATTEMPTS, clock.now()
        s.add(note)
    outbox_log.take()
    assert send_outbox(engine, clock, settings, transport) == 1
    note = _note(engine, case_id)
    assert note.status == OutboxStatus.FAILED and note.error == "gave up: too many interrupted attempts"
    assert note.claim_expires_at is None and not note.permanent_failure
    with Session(engine) as s:
        (failed,) = events(s, case_id, CaseEventType.NOTIFICATION_FAILED)
    assert failed.data == {
        "notification_id": note.id,
        "code": "interrupted",
        "permanent": False,
        "attempts": MAX_ATTEMPTS + 1,
    }
    assert outbox_log.take() == [
        ("WARNING", f"outbox: Notification {note.id} failed (gave up, code interrupted, attempts 9)")
    ]


def test_a_stale_row_is_logged_as_cancelled_with_its_case(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    transport: RecordingTransport,
    outbox_log: OutboxLog,
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    with session_scope(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        lifecycle.clear(s, case, reason="activity_resumed", now=clock.now())
    outbox_log.take()
    assert send_outbox(engine, clock, settings, transport) == 1
    note = _note(engine, case_id)
    assert outbox_log.take() == [("INFO", f"outbox: cancelled stale Notification {note.id} (case {case_id})")]


def test_a_transport_bug_is_logged_with_its_traceback_and_retried_as_an_uncertain_send(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    transport: RecordingTransport,
    caplog: pytest.LogCaptureFixture,
    outbox_log: OutboxLog,
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)
    transport.failures.append(KeyError("bug in a transport"))
    caplog.clear()
    assert send_outbox(engine, clock, settings, transport) == 1
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    note = _note(engine, case_id)
    assert outbox_log.take()[0] == (
        "ERROR",
        f"outbox: transport raised unexpectedly for Notification {note.id}",
    )
    # A bug may strike after the provider took the request: the next claim asks it first.
    assert note.status == OutboxStatus.PENDING and note.error == "temporary error unexpected: KeyError"
    assert note.claim_expires_at == clock.now() + outbox.LEASE


def test_a_failed_lookup_and_a_send_found_at_the_provider_are_logged(
    engine: Engine, clock: ManualClock, settings: Settings, outbox_log: OutboxLog
) -> None:
    case_id = open_case(engine, clock)
    run_notifier_ticks(engine, clock, settings)
    provider = ProviderTransport(clock=clock)

    def response_lost(record: Sent) -> None:
        provider.on_send = None
        raise TransportError("network error: ReadTimeout", permanent=False, code="network", uncertain=True)

    provider.on_send = response_lost
    send_outbox(engine, clock, settings, provider)
    call = _call(engine, case_id)
    outbox_log.take()
    clock.advance(timedelta(minutes=1))
    provider.lookup_failures.append(TransportError("HTTP 503", permanent=False, code="http-503"))
    assert send_outbox(engine, clock, settings, provider) == 1
    assert outbox_log.take()[0] == (
        "WARNING",
        f"outbox: cannot look up CallAttempt {call.id} at the provider: temporary error http-503: HTTP 503",
    )
    clock.advance(timedelta(minutes=5))
    assert send_outbox(engine, clock, settings, provider) == 1
    (sent,) = provider.sent
    assert outbox_log.take() == [
        ("WARNING", f"outbox: CallAttempt {call.id} was already sent as {sent.sid}; not sent again")
    ]


def test_a_row_that_cannot_be_handled_is_logged_and_the_tick_goes_on(
    engine: Engine, clock: ManualClock, settings: Settings, outbox_log: OutboxLog
) -> None:
    broken = open_case(engine, clock)
    run_notifier_ticks(engine, clock, settings)
    provider = ProviderTransport(clock=clock)
    provider.failures.append(
        TransportError("network error: ConnectTimeout", permanent=False, code="network", uncertain=True)
    )
    send_outbox(engine, clock, settings, provider)  # the call's send is now uncertain
    fine = open_case(engine, clock, policy=FAMILY_FIRST)
    run_notifier_ticks(engine, clock, settings)
    clock.advance(timedelta(minutes=1))
    provider.lookup_failures.append(RuntimeError("bug in the lookup"))
    outbox_log.take()
    assert send_outbox(engine, clock, settings, provider) == 1  # the message; the call is not handled
    call, note = _call(engine, broken), _note(engine, fine)
    assert outbox_log.take() == [
        ("INFO", f"outbox: Notification {note.id} accepted by provider as {note.provider_sid}"),
        ("ERROR", f"outbox: failed to handle CallAttempt {call.id}"),
    ]
    assert note.status == OutboxStatus.SENT and call.status == CallStatus.SENDING


def test_a_row_taken_over_during_the_request_is_logged_as_a_possible_duplicate(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    transport: RecordingTransport,
    outbox_log: OutboxLog,
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)

    def taken_over(record: Sent) -> None:  # another worker claimed the row (its attempt count)
        with session_scope(engine) as s:
            s.execute(update(Notification).where(col(Notification.case_id) == case_id).values(attempts=2))

    transport.on_send = taken_over
    outbox_log.take()
    send_outbox(engine, clock, settings, transport)
    note = _note(engine, case_id)
    assert note.provider_sid is None and note.status == OutboxStatus.SENDING
    assert outbox_log.take() == [
        ("WARNING", f"outbox: Notification {note.id} was taken over while sending; possible duplicate")
    ]


def test_a_failure_on_a_row_taken_over_during_the_request_is_logged_and_not_recorded(
    engine: Engine,
    clock: ManualClock,
    settings: Settings,
    transport: RecordingTransport,
    outbox_log: OutboxLog,
) -> None:
    case_id = open_case(engine, clock, policy=FAMILY_FIRST, contacts=1)
    run_notifier_ticks(engine, clock, settings)

    def taken_over_then_fails(record: Sent) -> None:
        with session_scope(engine) as s:
            s.execute(update(Notification).where(col(Notification.case_id) == case_id).values(attempts=2))
        raise TransportError("HTTP 503", permanent=False, code="http-503")

    transport.on_send = taken_over_then_fails
    outbox_log.take()
    send_outbox(engine, clock, settings, transport)
    note = _note(engine, case_id)
    assert note.status == OutboxStatus.SENDING and note.error is None and note.attempts == 2
    assert outbox_log.take() == [("WARNING", f"outbox: Notification {note.id} was taken over while sending")]


def test_a_call_whose_lease_was_lost_before_the_request_is_logged_and_not_placed(
    engine: Engine, clock: ManualClock, settings: Settings, outbox_log: OutboxLog
) -> None:
    case_id = open_case(engine, clock)
    run_notifier_ticks(engine, clock, settings)
    transport = RecordingTransport()

    class TakenOverWhileWaiting(CallPacer):
        def wait_turn(self, engine: Engine) -> datetime | None:
            with session_scope(engine) as s:
                s.execute(update(CallAttempt).where(col(CallAttempt.case_id) == case_id).values(attempts=2))
            return None

    outbox_log.take()
    assert (
        outbox.tick(engine, clock, settings, transport, pacer=TakenOverWhileWaiting(0), lease_clock=clock)
        == 0
    )
    call = _call(engine, case_id)
    assert transport.sent == [] and call.status == CallStatus.SENDING
    assert outbox_log.take() == [
        ("WARNING", f"outbox: lease on CallAttempt {call.id} lost before sending; not sent")
    ]
