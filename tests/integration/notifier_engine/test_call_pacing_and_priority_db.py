"""Call pacing kept in the database, and which call goes first when calls queue for their slot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallPurpose, CallStatus, CaseKind
from core.models import CallAttempt, CallPacing
from core.settings import Settings
from notifier import outbox
from notifier.pacing import CallPacer
from tests.factories import make_household, make_open_case, make_team
from tests.integration.notifier_engine.support import FROM_NUMBER, PUBLIC_BASE, RecordingTransport, Sent
from tests.ticks import run_notifier_ticks

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
                purpose=CallPurpose.CHECKIN,
                household_id=hh.id,
                to_address=phone,
                code=f"checkin-code-{phone}",
                idempotency_key=f"checkin:{hh.id}:test:1",
                status=CallStatus.PENDING,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )


def _paced(clock: ManualClock) -> CallPacer:
    def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    return CallPacer(1.0, clock=clock, sleep=sleep)


def test_help_calls_go_first_and_check_in_calls_last(
    engine: Engine, clock: ManualClock, settings: Settings
) -> None:
    _checkin_call(engine, clock, "+821000000009")  # oldest row, but never urgent
    _case(engine, clock, "+821000000001")
    _case(engine, clock, "+821000000002")
    _case(engine, clock, "+821000000003", kind=CaseKind.HELP_REQUESTED)
    run_notifier_ticks(engine, clock, settings)
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
    run_notifier_ticks(engine, clock, settings)
    transport = RecordingTransport()

    def help_arrives(sent: Sent) -> None:
        if len(transport.sent) == 1:  # while the first routine call is being placed
            _case(engine, clock, "+821000000911", kind=CaseKind.HELP_REQUESTED)
            run_notifier_ticks(engine, clock, settings)

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


def test_the_outbox_spaces_calls_by_the_configured_calls_per_second(
    engine: Engine, clock: ManualClock
) -> None:
    settings = Settings(
        _env_file=None,
        public_base_url=PUBLIC_BASE,
        twilio_from_number=FROM_NUMBER,
        twilio_account_sid="AC" + "7" * 32,
        twilio_calls_per_second=4,
    )
    for i in range(4):
        _case(engine, clock, f"+82100000020{i}")
    run_notifier_ticks(engine, clock, settings)
    transport = RecordingTransport()
    placed_at: list[float] = []
    start = clock.now()
    transport.on_send = lambda sent: placed_at.append((clock.now() - start).total_seconds())

    def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    pacer = CallPacer.for_settings(settings, clock=clock, sleep=sleep)
    assert outbox.tick(engine, clock, settings, transport, pacer=pacer) == 4
    assert placed_at == [0.0, 0.25, 0.5, 0.75]
    with Session(engine) as s:  # the account's own pace row, shared with its other workers
        row = s.get(CallPacing, "AC" + "7" * 32)
        assert row is not None and row.next_slot_at == start + timedelta(seconds=1)


def test_calls_per_second_is_a_validated_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).twilio_calls_per_second == 1.0  # Twilio's default
    monkeypatch.setenv("ANBU_TWILIO_CALLS_PER_SECOND", "2.5")
    settings = Settings(_env_file=None)
    assert settings.twilio_calls_per_second == 2.5
    pacer = CallPacer.for_settings(settings)
    assert (pacer.interval, pacer.account) == (timedelta(seconds=0.4), "default")
    for bad in ("0", "-1", "abc"):
        monkeypatch.setenv("ANBU_TWILIO_CALLS_PER_SECOND", bad)
        with pytest.raises(ValidationError):
            Settings(_env_file=None)
