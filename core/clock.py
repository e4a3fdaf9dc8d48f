"""The only source of "now" in Anbu.

Everything that needs the time takes a :class:`Clock`; production passes
:data:`SYSTEM_CLOCK`, tests pass a :class:`ManualClock` they move by hand.
All values are aware UTC datetimes.
"""

from __future__ import annotations

import threading
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


SYSTEM_CLOCK: Clock = SystemClock()


def ensure_utc(value: datetime) -> datetime:
    """Return *value* as aware UTC; naive values are rejected, not guessed."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: Anbu only handles aware timestamps")
    return value.astimezone(UTC)
