"""Call pacing kept in the database, and which call goes first when calls queue for their slot."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallStatus, CaseKind
from core.models import CallAttempt, CallPacing
from core.settings import Settings
from notifier import engine as escalation
from notifier import outbox
from notifier.pacing import CallPacer
from tests.factories import make_household, make_open_case, make_team
from tests.integration.notifier_engine.support import RecordingTransport, Sent

CALL_FIRST: dict[str, object] = {"steps": [{"action": "call_resident", "wait_minutes": 60}]}


def _case(engine: Engine, clock: ManualClock, phone: str, kind: CaseKind = CaseKind.INACTIVITY) -> None:
    with session_scope(engine) as s:
        hh = make_household(s, team=make_team(s, policy=CALL_FIRST), resident_phone=phone, contacts=0)
        make_open_case(s, hh, now=clock.now(), kind=kind)


def _checkin_call(engine: Engine, clock: ManualClock, phone: str) -> None:
    with session_scope(engine) as s:
        hh = make_household(s, resident_phone=phone, contacts=0)
        assert hh.id is not None
        s.add(
            CallAttempt(
                household_id=hh.id,
                to_number=phone,
                code=f"checkin-code-{phone}",
                idempotency_key=f"checkin:{hh.id}:test:1",
                status=CallStatus.PENDING,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )


def _paced(clock: ManualClock) -> CallPacer:
    return CallPacer(1.0, clock=clock, sleep=lambda s: clock.advance(timedelta(seconds=s)))


def test_help_calls_go_first_and_check_in_calls_last(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    _checkin_call(engine, clock, "+821000000009")  # oldest row, but never urgent
    _case(engine, clock, "+821000000001")
    _case(engine, clock, "+821000000002")
    _case(engine, clock, "+821000000003", kind=CaseKind.HELP_REQUESTED)
    escalation.tick(engine, clock, settings)
    transport = RecordingTransport()
    assert outbox.tick(engine, clock, settings, transport, pacer=_paced(clock)) == 4
    assert [t.to for t in transport.sent] == [
        "+821000000003",
        "+821000000001",
        "+821000000002",
        "+821000000009",
    ]


def test_an_emergency_call_queued_during_a_paced_tick_goes_before_the_routine_calls_waiting(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    for i in range(4):
        _case(engine, clock, f"+82100000010{i}")
    escalation.tick(engine, clock, settings)
    transport = RecordingTransport()

    def help_arrives(sent: Sent) -> None:
        if len(transport.sent) == 1:  # while the first routine call is being placed
            _case(engine, clock, "+821000000911", kind=CaseKind.HELP_REQUESTED)
            escalation.tick(engine, clock, settings)

    transport.on_send = help_arrives
    assert outbox.tick(engine, clock, settings, transport, pacer=_paced(clock)) == 5
    assert [t.to for t in transport.sent][:3] == ["+821000000100", "+821000000911", "+821000000101"]


def test_two_pacers_share_the_accounts_slots_through_the_database(engine: Engine, clock: ManualClock) -> None:
    start = clock.now()
    slept: list[float] = []
    # Two workers of one account, each with its own pacer object (as in two processes).
    first, second = (
        CallPacer(1.0, account="AC1", clock=clock, sleep=lambda s: slept.append(s)) for _ in range(2)
    )
    other_account = CallPacer(1.0, account="AC2", clock=clock, sleep=lambda s: slept.append(s))
    assert first.wait_turn(engine) == start
    assert second.wait_turn(engine) == start + timedelta(seconds=1)
    assert first.wait_turn(engine) == start + timedelta(seconds=2)
    assert other_account.wait_turn(engine) == start  # another account has its own pace
    assert slept == [1.0, 2.0]
    with Session(engine) as s:
        row = s.get(CallPacing, "AC1")
        assert row is not None and row.next_slot_at == start + timedelta(seconds=3)
