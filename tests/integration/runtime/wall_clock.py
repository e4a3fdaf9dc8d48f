"""A wall clock for APScheduler that a test can step, without touching the host clock.

APScheduler 3 reads the wall clock as ``datetime.now(tz)`` in its scheduler and executor
modules; :func:`stepped_wall_clock` replaces that name there with a subclass whose ``now`` is
the real time plus an offset the test moves (an NTP step, a VM restored from a snapshot, an
operator's ``date -s``). The same offset is available as a :class:`core.clock.Clock` for the
ticks themselves, so both see one stepped clock, as they would on a real host.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo

import pytest

# The APScheduler modules that call datetime.now() (checked against APScheduler 3.11).
SCHEDULER_MODULES = (
    "apscheduler.schedulers.base",
    "apscheduler.executors.base",
    "apscheduler.triggers.interval",
)


class SteppedWall:
    """Real wall time plus an offset; ``step`` moves it like a host clock being set."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0) if start is None else start - datetime.now(UTC)

    def step(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta

    def now(self) -> datetime:  # core.clock.Clock
        with self._lock:
            offset = self._offset
        return datetime.now(UTC) + offset


@contextmanager
def stepped_wall_clock(
    monkeypatch: pytest.MonkeyPatch, start: datetime | None = None
) -> Iterator[SteppedWall]:
    wall = SteppedWall(start)

    class _Datetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            value = wall.now()
            return value.astimezone(tz) if tz is not None else value.replace(tzinfo=None)

    import importlib

    for name in SCHEDULER_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "datetime", _Datetime)
    yield wall
