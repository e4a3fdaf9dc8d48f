"""Real races on PostgreSQL: a lifecycle write that waits on another transaction's row lock.

SQLite serialises whole write transactions (BEGIN IMMEDIATE), so there a second writer never
starts before the first commits. PostgreSQL lets both start: the second's UPDATE (or INSERT into
the partial unique index) waits for the first to commit and is then judged against the committed
row. These tests make that interleaving happen on purpose — the second writer is seen waiting on
the lock (pg_stat_activity) before the first commits — and check that the loser changes nothing
it must not: a stale escalation step loses to an acknowledgement, a re-detection retries on the
acknowledged case, and of two openers one falls back to re-detecting the other's case.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from core.clock import ManualClock
from core.enums import CaseEventType, CaseKind, CaseStatus, Severity
from core.models import Case
from notifier import lifecycle
from tests.factories import case_events, make_household

pytestmark = pytest.mark.postgres


def _open(
    s: Session, household_id: int, clock: ManualClock, severity: Severity, actor: str
) -> tuple[Case, bool]:
    return lifecycle.open_or_redetect(
        s,
        household_id=household_id,
        kind=CaseKind.INACTIVITY,
        severity=severity,
        explanation=f"seen by {actor}",
        policy_snapshot={},
        now=clock.now(),
        actor=actor,
    )


class Waiter:
    """Runs ``work(session)`` in a thread with its own session and commits; records its result."""

    def __init__(self, engine: Engine, work: Callable[[Session], Any]) -> None:
        self.engine = engine
        self.work = work
        self.pid: int | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with Session(self.engine, expire_on_commit=False) as s:
                self.pid = s.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
                self._started.set()
                self.result = self.work(s)
                s.commit()
        except BaseException as exc:
            self.error = exc
        finally:
            self._started.set()

    def start_and_wait_for_lock(self, timeout_s: float = 30.0) -> None:
        """Start, then return once the thread's transaction waits on a lock held by another."""
        self.thread.start()
        assert self._started.wait(timeout_s)
        deadline = time.monotonic() + timeout_s
        with self.engine.connect() as probe:
            while time.monotonic() < deadline:
                assert self.error is None, self.error
                waiting = probe.execute(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": self.pid}
                ).scalar()
                probe.rollback()
                if waiting == "Lock":
                    return
                assert self.thread.is_alive(), "finished without waiting on the lock"
                time.sleep(0.01)
        raise AssertionError("the second writer never waited on the first one's lock")

    def finish(self, timeout_s: float = 30.0) -> Any:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        return self.result


def _events(engine: Engine, case_id: int | None) -> list[tuple[CaseEventType, str]]:
    return [(e.type, e.actor) for e in case_events(engine, case_id)]


def _new_case(engine: Engine, clock: ManualClock) -> tuple[int, int]:
    with Session(engine, expire_on_commit=False) as s:
        household_id = make_household(s).id
        assert household_id is not None
        case, _ = _open(s, household_id, clock, Severity.ALERT, "sweeper")
        s.commit()
        assert case.id is not None
        return household_id, case.id


def test_a_stale_step_waiting_on_an_acknowledgement_loses(
    postgres_engine: Engine, clock: ManualClock
) -> None:
    engine = postgres_engine
    _, case_id = _new_case(engine, clock)
    with Session(engine, expire_on_commit=False) as reader:
        seen = reader.get_one(Case, case_id)  # the escalation tick's read: version 1, open
    with Session(engine) as ack:
        lifecycle.acknowledge(ack, ack.get_one(Case, case_id), actor="user:kim", now=clock.now())

        def step(s: Session) -> bool:
            s.add(seen)
            return lifecycle.advance_escalation(
                s, seen, token=seen.escalation_token, step_index=1, repeat_count=0, next_action_at=clock.now()
            )

        stale = Waiter(engine, step)
        stale.start_and_wait_for_lock()  # its UPDATE waits for the acknowledgement's row lock
        ack.commit()
    assert stale.finish() is False
    with Session(engine) as s:
        stored = s.get_one(Case, case_id)
        assert (stored.status, stored.step_index, stored.version) == (CaseStatus.ACKNOWLEDGED, 0, 2)
        assert stored.next_action_at is None


def test_a_redetection_waiting_on_an_acknowledgement_retries_on_the_acknowledged_case(
    postgres_engine: Engine, clock: ManualClock
) -> None:
    engine = postgres_engine
    household_id, case_id = _new_case(engine, clock)
    with Session(engine) as ack:
        lifecycle.acknowledge(ack, ack.get_one(Case, case_id), actor="user:kim", now=clock.now())
        sweeper = Waiter(engine, lambda s: _open(s, household_id, clock, Severity.CRITICAL, "sweeper-2"))
        sweeper.start_and_wait_for_lock()  # read version 1 (the ack is uncommitted), UPDATE waits
        ack.commit()
    case, opened = sweeper.finish()
    assert opened is False and case.id == case_id
    with Session(engine) as s:
        stored = s.get_one(Case, case_id)
        assert (stored.status, stored.severity, stored.version) == (
            CaseStatus.ACKNOWLEDGED,
            Severity.CRITICAL,
            3,
        )
        assert stored.explanation == "seen by sweeper-2"
    assert _events(engine, case_id) == [
        (CaseEventType.OPENED, "sweeper"),
        (CaseEventType.ACKNOWLEDGED, "user:kim"),
        (CaseEventType.SEVERITY_RAISED, "sweeper-2"),
    ]


def test_of_two_openers_the_one_that_waited_redetects_the_others_case(
    postgres_engine: Engine, clock: ManualClock
) -> None:
    engine = postgres_engine
    with Session(engine, expire_on_commit=False) as s:
        household_id = make_household(s).id
        assert household_id is not None
        s.commit()
    with Session(engine, expire_on_commit=False) as first:
        winner, opened = _open(first, household_id, clock, Severity.ALERT, "sweeper-1")
        assert opened is True
        # The second sees no active case (the first is uncommitted) and waits on the unique index.
        second = Waiter(engine, lambda s: _open(s, household_id, clock, Severity.CRITICAL, "sweeper-2"))
        second.start_and_wait_for_lock()
        first.commit()
    case, opened_again = second.finish()
    assert opened_again is False and case.id == winner.id
    with Session(engine) as s:
        cases = s.exec(select(Case)).all()
        assert [(c.id, c.status, c.severity) for c in cases] == [
            (winner.id, CaseStatus.OPEN, Severity.CRITICAL)
        ]
    assert _events(engine, winner.id) == [
        (CaseEventType.OPENED, "sweeper-1"),
        (CaseEventType.SEVERITY_RAISED, "sweeper-2"),
    ]
