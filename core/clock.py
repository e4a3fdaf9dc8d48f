"""The only source of "now" in Anbu.

Everything that needs the time takes a :class:`Clock`; production passes
:data:`SYSTEM_CLOCK`, tests pass a :class:`ManualClock` they move by hand.
All values are aware UTC datetimes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, replays, the demo's fast-forward)."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = ensure_utc(when)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


class OffsetClock:
    """System time shifted by a fixed offset (the demo seeds history "as of" now)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class SteadyClock:
    """A clock's time that never steps back: when the wall clock steps back, time goes on from
    where it was at the monotonic clock's pace, until the wall clock catches up.

    For the gateway's receive times (docs/reliability.md, item 8): a host clock stepped back an
    hour must not make correct device times look like the future, nor put readings an hour in
    the past. A step forward is followed at once (the monotonic clock cannot tell which of the
    two was right; being late is the safe side: a device then looks behind, and nothing is
    corrected for it). ``floor`` starts it no earlier than a time already seen (e.g. before a
    restart). ``time.monotonic`` is slewed by NTP like the wall clock, so only steps differ.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        floor: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last = ensure_utc(floor) if floor is not None else None
        self._last_mono = monotonic()

    def now(self) -> datetime:
        with self._lock:  # read both under the lock: two threads' times stay in order
            wall = self._clock.now()
            mono = self._monotonic()
            last = self._last
            if last is not None and wall < last:
                wall = last + timedelta(seconds=mono - self._last_mono)
            self._last, self._last_mono = wall, mono
            return wall


SYSTEM_CLOCK: Clock = SystemClock()


def ensure_utc(value: datetime) -> datetime:
    """Return *value* as aware UTC; naive values are rejected, not guessed."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: Anbu only handles aware timestamps")
    return value.astimezone(UTC)
