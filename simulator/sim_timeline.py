"""Simulated time inside one call or message: timestamps advance by scripted durations, and the
worker optionally waits in real time (``pace`` seconds of waiting per simulated second)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta


class Timeline:
    def __init__(self, start: datetime, *, pace: float, stopping: threading.Event) -> None:
        if start.tzinfo is None:
            raise ValueError("Timeline needs an aware start time")
        self.start = start
        self.elapsed_s = 0.0
        self._pace = pace
        self._stopping = stopping

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed_s)

    def advance(self, seconds: float) -> bool:
        """Moves simulated time on; False when the emulator is stopping (the worker should quit)."""
        self.elapsed_s += max(0.0, seconds)
        if self._pace > 0 and seconds > 0:
            return not self._stopping.wait(seconds * self._pace)
        return not self._stopping.is_set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()
