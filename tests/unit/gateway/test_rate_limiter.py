"""Per-device message rates (gateway/flood.py): a flood is cut, a backlog after an absence is not."""

from __future__ import annotations

from gateway.flood import BACKLOG_WINDOW_MIN_S, DeviceRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limiter(clock: Clock, per_min: float = 60, burst: int = 10) -> DeviceRateLimiter:
    return DeviceRateLimiter(per_min, burst, monotonic=clock)


def test_a_device_gets_its_burst_then_its_rate() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    assert limiter.over_limit(["a"] * 12) == [10, 11]  # the burst, then nothing
    assert limiter.over_limit(["b"] * 3) == []  # another device has its own bucket
    clock.now += 3  # 60/min: 3 tokens back
    assert limiter.over_limit(["a"] * 4) == [3]


def test_a_backlog_after_two_hours_away_is_let_through_whole() -> None:
    """A plug reporting every 10 s while the gateway was away 2 h: 720 messages at once. Judged by
    arrival they overran the burst, and the newest - the latest signs of life - were cut."""
    clock = Clock()
    limiter = _limiter(clock, per_min=6, burst=600)
    limiter.allow_backlog(2 * 3600)
    assert limiter.over_limit(["plug"] * 720) == []
    # Flooding on top of it is still cut: the allowance is the budget of the absence, no more.
    assert limiter.over_limit(["plug"] * 700) != []


def test_without_the_allowance_the_same_backlog_loses_its_newest_messages() -> None:
    clock = Clock()
    limiter = _limiter(clock, per_min=6, burst=600)
    over = limiter.over_limit(["plug"] * 720)
    assert over == list(range(600, 720))


def test_the_allowance_ends_with_its_window() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    limiter.allow_backlog(30)  # shorter than the minimum window
    assert limiter.cap(clock.now) == 10 + 30
    clock.now += BACKLOG_WINDOW_MIN_S - 1
    assert limiter.cap(clock.now) == 10 + 30
    clock.now += 2
    assert limiter.cap(clock.now) == 10
    assert limiter.over_limit(["new"] * 11) == [10]
    limiter.allow_backlog(0)  # nothing away: nothing allowed
    assert limiter.cap(clock.now) == 10
