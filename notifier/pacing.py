"""One outbound call per second per Twilio account (``ANBU_TWILIO_CALLS_PER_SECOND``), across
every worker process.

Twilio queues calls above an account's rate (1 call per second by default), and a burst of
calls from one number looks like spam to carriers. With ``anbu worker`` × K the pace must hold
across processes, so it is kept in the database: the one-row-per-account table
``call_pacing`` holds the **next free slot**. A worker about to place a call claims a slot with
a conditional UPDATE (``WHERE version = <the version it read>``; a lost race reads again), then
sleeps until the slot and places the call.

* Works the same on SQLite (``BEGIN IMMEDIATE`` serialises the claim) and PostgreSQL (the
  second UPDATE waits for the first, re-checks ``version`` and matches nothing).
* A worker reserves **one** slot at a time, just before its call, never a queue of them: the
  furthest reserved slot is at most K seconds ahead, so a call that has to go first (an
  emergency; the outbox picks those first, see :func:`notifier.outbox.tick`) never waits behind
  more than the K calls already holding slots.
* Slots are instants on the **database's clock** (:func:`core.db.database_now`), which every
  worker host shares: taken from each host's clock, a host 2 minutes ahead reserved a slot
  2 minutes away and the other workers' next call waited for it (issue 14.6).
* A claimed slot that is not used (the send failed, the worker died) is simply lost: calls are
  then spaced more, never less.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import col

from core.clock import Clock
from core.db import claim_row, database_now, insert_first, session_scope
from core.models import CallPacing
from core.settings import Settings

log = logging.getLogger(__name__)

CALLS_PER_SECOND = 1.0  # Twilio's default outbound CPS per account (ANBU_TWILIO_CALLS_PER_SECOND)
DEFAULT_ACCOUNT = "default"  # the console transport / an account without a SID
MAX_CLAIM_TRIES = 100  # lost races in a row before giving up (would need 100 workers racing)


class PacingError(RuntimeError):
    """No slot could be claimed (the database kept changing under us)."""


def take_slot(now: datetime, next_free: datetime | None, interval: timedelta) -> tuple[datetime, datetime]:
    """Pure: the slot a call gets and the next free slot after it. A slot in the past is not
    owed to anyone: an idle account calls at once."""
    slot = now if next_free is None or next_free < now else next_free
    return slot, slot + interval


def claim_slot(
    engine: Engine, account: str, now: Callable[[], datetime] | None, interval: timedelta
) -> tuple[datetime, float]:
    """Claim the next free call slot of ``account`` (committed at once). Returns the slot, on
    ``now``'s clock (``None``: the database's), and when it is due on the monotonic clock (so
    the time the claim took to commit is not waited again)."""
    for _ in range(MAX_CLAIM_TRIES):
        with session_scope(engine) as session:
            row = session.get(CallPacing, account, populate_existing=True)
            current = now() if now is not None else database_now(session)
            read_at = time.monotonic()
            if row is None:
                if insert_first(
                    session, CallPacing(account=account, next_slot_at=current + interval, version=0)
                ):
                    return current, read_at
                continue  # another worker created the row first: read it and race again
            slot, following = take_slot(current, row.next_slot_at, interval)
            if claim_row(
                session,
                update(CallPacing)
                .where(col(CallPacing.account) == account, col(CallPacing.version) == row.version)
                .values(next_slot_at=following, version=row.version + 1),
            ):
                return slot, read_at + (slot - current).total_seconds()
    raise PacingError(f"no call slot after {MAX_CLAIM_TRIES} tries")


class CallPacer:
    """Spaces outbound calls ``1 / per_second`` apart for one account, across processes.

    ``per_second=0`` turns pacing off (tests that are not about pacing). In production slots
    are on the database's clock (``clock=None``) and ``sleep`` is real time; a test may pass a
    manual clock and a sleep that moves it.
    """

    def __init__(
        self,
        per_second: float = CALLS_PER_SECOND,
        *,
        account: str = DEFAULT_ACCOUNT,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = timedelta(seconds=1.0 / per_second) if per_second > 0 else timedelta(0)
        self.account = account[:64]
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def for_settings(
        cls, settings: Settings, *, clock: Clock | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> CallPacer:
        """The pacer of the configured account at its configured rate (Twilio can raise an
        account's calls per second above the default of 1)."""
        return cls(
            settings.twilio_calls_per_second,
            account=settings.twilio_account_sid or DEFAULT_ACCOUNT,
            clock=clock,
            sleep=sleep,
        )

    def wait_turn(self, engine: Engine) -> datetime | None:
        """Block until this process may place its next call; returns the slot (None: no pacing)."""
        if not self.interval:
            return None
        slot, due = claim_slot(engine, self.account, self._clock.now if self._clock else None, self.interval)
        # A test's clock is asked again; the database's is not: its slot is due on the monotonic clock.
        wait = (slot - self._clock.now()).total_seconds() if self._clock else due - time.monotonic()
        if wait > 0:
            self._sleep(wait)
        return slot
