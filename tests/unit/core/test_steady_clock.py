"""core.clock.SteadyClock: the gateway's receive clock never steps back (docs/reliability.md, item 8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.clock import ManualClock, SteadyClock

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_it_follows_the_wall_clock_while_the_wall_clock_goes_forward() -> None:
    wall, mono = ManualClock(T), FakeMonotonic()
    clock = SteadyClock(wall, monotonic=mono)
    assert clock.now() == T
    assert clock.now() == T  # a clock standing still is not moved on by the monotonic clock
    wall.advance(timedelta(hours=1))  # a step forward is followed at once
    assert clock.now() == T + timedelta(hours=1)


def test_a_step_back_goes_on_at_the_monotonic_pace_until_the_wall_clock_catches_up() -> None:
    wall, mono = ManualClock(T), FakeMonotonic()
    clock = SteadyClock(wall, monotonic=mono)
    assert clock.now() == T
    wall.set(T - timedelta(hours=1))
    mono.now += 10
    assert clock.now() == T + timedelta(seconds=10)
    wall.advance(timedelta(seconds=20))
    mono.now += 20
    assert clock.now() == T + timedelta(seconds=30)
    wall.set(T + timedelta(seconds=40))  # caught up (say, the step was undone): the wall clock again
    mono.now += 5
    assert clock.now() == T + timedelta(seconds=40)


def test_it_starts_no_earlier_than_its_floor() -> None:
    wall, mono = ManualClock(T - timedelta(hours=1)), FakeMonotonic()
    clock = SteadyClock(wall, floor=T, monotonic=mono)
    mono.now += 3
    assert clock.now() == T + timedelta(seconds=3)
