"""anbu.ticks.TickRunner: one APScheduler job per tick, no overlaps, failures and lag visible."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from anbu.ticks import LATE_MIN_S, Tick, TickRunner, late_after_s, next_due
from core.clock import ManualClock

WITHIN_S = 20.0


def wait_until(done: Callable[[], object], timeout: float = WITHIN_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.02)
    return bool(done())


def test_next_due_keeps_a_fixed_rate_and_does_not_catch_up_in_a_burst() -> None:
    assert next_due(10.0, 1.0, 10.05) == 11.0  # a little late: the rate holds
    assert next_due(10.0, 1.0, 25.0) == 26.0  # stalled for 15 intervals: one run now, next in one


def test_late_after_is_at_least_a_minute_and_two_intervals() -> None:
    assert late_after_s(1.0) == LATE_MIN_S
    assert late_after_s(900.0) == 1800.0


def test_one_job_per_tick_and_a_slow_tick_is_never_run_twice_at_once() -> None:
    release = threading.Event()
    active, most = [0], [0]
    lock = threading.Lock()

    def slow() -> None:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        release.wait(5)
        with lock:
            active[0] -= 1

    runner = TickRunner([Tick("slow", 0.05, slow)], ManualClock(datetime(2026, 3, 2, tzinfo=UTC)))
    runner.start()
    try:
        assert [job.id for job in runner.scheduler.get_jobs()] == ["slow"]
        # While the first run waits, its next runs come due and are skipped, not started beside it.
        assert wait_until(lambda: runner.status()[0]["skipped_overlaps"] >= 3)
        assert most[0] == 1
        release.set()
        assert wait_until(lambda: runner.status()[0]["runs"] >= 2)
        assert most[0] == 1
    finally:
        release.set()
        runner.stop()


def test_a_failing_tick_is_counted_and_keeps_running_and_the_others_too() -> None:
    ok_runs = [0]

    def broken() -> None:
        raise RuntimeError("boom +821012345678")  # the message is not kept (personal data)

    def fine() -> None:
        ok_runs[0] += 1

    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    runner = TickRunner([Tick("broken", 0.05, broken), Tick("fine", 0.05, fine)], clock)
    runner.start()
    try:
        assert wait_until(lambda: runner.status()[0]["failures"] >= 3 and ok_runs[0] >= 3)
        broken_status = runner.status()[0]
        assert broken_status["last_error"] == "RuntimeError"
        assert broken_status["last_run_at"] == "2026-03-02T09:00:00+00:00"  # from the injected clock
        assert runner.alive()
    finally:
        runner.stop()
    assert not runner.alive()


def test_status_reports_lag_against_the_interval_on_the_monotonic_clock() -> None:
    now = [1000.0]
    runner = TickRunner(
        [Tick("sweeper", 5.0, lambda: None)],
        ManualClock(datetime(2026, 3, 2, tzinfo=UTC)),
        monotonic=lambda: now[0],
    )
    runner.start()
    try:
        # The loop sleeps on the real clock; only status() reads the fake one here.
        now[0] = 1004.0
        assert runner.status()[0]["lag_s"] == 0.0 and not runner.status()[0]["late"]
        now[0] = 1005.0 + LATE_MIN_S + 1
        status = runner.status()[0]
        assert status["lag_s"] == pytest.approx(LATE_MIN_S + 1)
        assert status["late"] and status["runs"] == 0 and status["last_run_at"] is None
    finally:
        runner.stop()


def test_tick_names_are_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        TickRunner([Tick("a", 1, lambda: None), Tick("a", 2, lambda: None)], ManualClock(datetime.now(UTC)))
