"""Two worker hosts whose clocks are 2 minutes apart place a call once (issue 14.6).

The outbox lease is judged by the database's clock, not by each worker's, and a worker checks
that it still holds the row (its attempt count is the lease token) right before the request.
The workers here are two outbox ticks with their own clocks, one run from inside the other's
request or pacing wait, so the interleaving is exact. SQLite, and PostgreSQL with
ANBU_TEST_DATABASE_URL (the ``engine`` fixture); the database's clock is the real one.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, tzinfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import SYSTEM_CLOCK, ManualClock
from core.db import session_scope
from core.enums import CallStatus
from core.settings import Settings
from notifier import outbox
from notifier.pacing import CallPacer
from tests.factories import make_household, make_open_case, make_team, make_user
from tests.integration.notifier_engine.support import ProviderTransport, Sent, calls
from tests.ticks import run_notifier_ticks

SKEW = timedelta(minutes=2)


def _queued_call(engine: Engine, clock: ManualClock, settings: Settings) -> int:
    with session_scope(engine) as s:
        team = make_team(s)
        make_user(s, team=team)
        case_id = make_open_case(s, make_household(s, team=team, contacts=1), now=clock.now()).id
        assert case_id is not None
    run_notifier_ticks(engine, clock, settings)
    return case_id


def _clocks() -> tuple[ManualClock, ManualClock]:
    """Worker A's clock 2 minutes behind the real time, worker B's right."""
    now = SYSTEM_CLOCK.now()
    return ManualClock(now - SKEW), ManualClock(now)


class _PacerThen(CallPacer):
    """No pacing, but runs ``then`` while the worker waits for its turn (after its claim)."""

    def __init__(self, then: object) -> None:
        super().__init__(0)
        self.then = then

    def wait_turn(self, engine: Engine) -> datetime | None:
        if callable(self.then):
            then, self.then = self.then, None
            then()
        return None


@pytest.mark.parametrize("behind", ["first", "second"])
def test_two_workers_with_clocks_two_minutes_apart_place_one_call(
    engine: Engine, settings: Settings, behind: str
) -> None:
    clock_a, clock_b = _clocks()
    if behind == "second":
        clock_a, clock_b = clock_b, clock_a
    case_id = _queued_call(engine, clock_a, settings)
    provider = ProviderTransport(clock=SYSTEM_CLOCK)
    during_a: list[int] = []

    def worker_b_ticks(_record: Sent) -> None:
        # Worker A's request is in flight: B's tick must see A's lease as held.
        provider.on_send = None
        during_a.append(outbox.tick(engine, clock_b, settings, provider, pacer=CallPacer(0)))

    provider.on_send = worker_b_ticks
    assert outbox.tick(engine, clock_a, settings, provider, pacer=CallPacer(0)) == 1
    assert during_a == [0]
    assert len(provider.sent) == 1, "the call was placed twice"
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.provider_sid == provider.sent[0].sid and call.status == CallStatus.QUEUED


def test_a_worker_whose_lease_ran_out_while_it_waited_does_not_place_the_call_too(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A waits for its pacing turn past its lease; B (2 minutes ahead) takes the row over and
    # places the call. A's late attempt is fenced off: its lease token is no longer the row's.
    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=1))
    clock_a, clock_b = _clocks()
    case_id = _queued_call(engine, clock_a, settings)
    provider = ProviderTransport(clock=SYSTEM_CLOCK)

    def lease_runs_out_then_b_sends() -> None:
        time.sleep(1.2)
        assert outbox.tick(engine, clock_b, settings, provider, pacer=CallPacer(0)) == 1

    outbox.tick(engine, clock_a, settings, provider, pacer=_PacerThen(lease_runs_out_then_b_sends))
    assert len(provider.sent) == 1, "the late first attempt placed a second call"
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.provider_sid == provider.sent[0].sid and call.attempts == 2


def test_a_dead_workers_lease_is_taken_over_on_time_by_a_worker_whose_clock_is_behind(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A (clock right) dies in its pacing wait. B's clock is 2 minutes behind: judged by its own
    # clock, A's lease would look good for 2 more minutes and the call would wait that long.
    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=1))
    clock_b, clock_a = _clocks()
    case_id = _queued_call(engine, clock_a, settings)
    provider = ProviderTransport(clock=SYSTEM_CLOCK)

    def dies() -> None:
        raise SystemExit("worker A killed mid-send")

    with pytest.raises(SystemExit):
        outbox.tick(engine, clock_a, settings, provider, pacer=_PacerThen(dies))
    assert outbox.tick(engine, clock_b, settings, provider, pacer=CallPacer(0)) == 0  # lease held
    time.sleep(1.2)
    assert outbox.tick(engine, clock_b, settings, provider, pacer=CallPacer(0)) == 1
    assert len(provider.sent) == 1 and provider.lookups == 1
    with Session(engine) as s:
        (call,) = calls(s, case_id)
    assert call.provider_sid == provider.sent[0].sid


def test_a_worker_host_clock_two_minutes_ahead_does_not_hold_back_the_others_calls(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Call pacing slots (notifier/pacing.py) are shared through the database. Taken from each
    # host's clock, a host 2 minutes ahead reserved a slot 2 minutes in the future and the next
    # worker's call, emergency or not, waited for it. Production pacers read no host clock now.
    import core.clock

    class AheadDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + SKEW

    slept: list[float] = []
    ahead = CallPacer.for_settings(settings, sleep=slept.append)
    right = CallPacer.for_settings(settings, sleep=slept.append)
    with monkeypatch.context() as host_a:  # the system clock of worker A's host
        host_a.setattr(core.clock, "datetime", AheadDatetime)
        ahead.wait_turn(engine)
    right.wait_turn(engine)
    assert len(slept) <= 1 and all(s <= 1.0 for s in slept), f"waited {slept} s for a call slot"


@pytest.mark.parametrize(
    "change",
    [
        # each one alone: another worker's claim (its token), a cancellation, a send recorded
        {"attempts": 2},
        {"status": CallStatus.CANCELLED},
        {"provider_sid": "CA-recorded-by-another-worker"},
    ],
    ids=["claimed-again", "no-longer-sending", "already-sent"],
)
def test_the_fence_before_a_call_checks_each_of_its_conditions_alone(
    engine: Engine, settings: Settings, change: dict[str, object]
) -> None:
    # While worker A waits for its pacing turn, the row changes in exactly one of the ways the
    # fence looks for. Any one of them means the row is no longer A's to send: A places no call.
    clock = ManualClock(SYSTEM_CLOCK.now())
    case_id = _queued_call(engine, clock, settings)
    provider = ProviderTransport(clock=SYSTEM_CLOCK)

    def the_row_changes() -> None:
        with session_scope(engine) as s:
            (call,) = calls(s, case_id)
            assert (call.attempts, call.status, call.provider_sid) == (1, CallStatus.SENDING, None)
            for field, value in change.items():
                setattr(call, field, value)

    outbox.tick(engine, clock, settings, provider, pacer=_PacerThen(the_row_changes))
    assert provider.sent == [], "a call was placed for a row that was no longer ours"
