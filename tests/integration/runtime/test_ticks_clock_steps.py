"""Issue 14.3: the ticks keep running at their intervals when the host's wall clock is stepped.

APScheduler 3 timed each next run from the previous run's wall-clock time, so after a 1 h step
back the sweeper, escalation and outbox ran 0 times for an hour. These tests step the wall
clock APScheduler sees (tests/integration/runtime/wall_clock.py; the host clock is untouched)
both ways and wait for the ticks to keep coming.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from anbu import runtime
from core.settings import Settings
from tests.integration.runtime.wall_clock import stepped_wall_clock

FAST = {"sweeper": 0.2, "escalation": 0.2, "outbox": 0.1}
# Far longer than any tick's interval, far shorter than the hour a stalled tick waits.
WITHIN_S = 20.0


class Runs:
    """Monotonic times at which each tick ran (the fakes below record them)."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.changed = threading.Condition()

    def recorder(self, name: str) -> Callable[..., None]:
        def run(*_args: Any, **_kwargs: Any) -> None:
            with self.changed:
                self.times[name].append(time.monotonic())
                self.changed.notify_all()

        return run

    def count(self, name: str) -> int:
        with self.changed:
            return len(self.times[name])

    def wait_for(self, done: Callable[[], bool], timeout: float = WITHIN_S) -> bool:
        with self.changed:
            return self.changed.wait_for(done, timeout)

    def between(self, name: str, start: float, end: float) -> int:
        with self.changed:
            return sum(1 for t in self.times[name] if start <= t <= end)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> Runs:
    from anomaly import sweeper
    from notifier import escalation, outbox

    recorded = Runs()
    monkeypatch.setattr(sweeper, "tick", recorded.recorder("sweeper"))
    monkeypatch.setattr(escalation, "tick", recorded.recorder("escalation"))
    monkeypatch.setattr(outbox, "tick", recorded.recorder("outbox"))
    return recorded


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        transport="console",
        data_dir=tmp_path,
        sweep_interval_s=FAST["sweeper"],
        escalation_interval_s=FAST["escalation"],
        outbox_interval_s=FAST["outbox"],
    )


@pytest.mark.parametrize("step", [timedelta(hours=-1), timedelta(hours=1)], ids=["back_1h", "forward_1h"])
def test_ticks_keep_their_intervals_when_the_wall_clock_steps(
    step: timedelta,
    runs: Runs,
    sqlite_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running = runtime.Running()
    with stepped_wall_clock(monkeypatch) as wall:
        runtime.start_ticks(_settings(tmp_path), sqlite_engine, wall, running)
        try:
            assert runs.wait_for(lambda: all(runs.count(n) >= 2 for n in FAST)), dict(runs.times)
            wall.step(step)
            stepped_at = time.monotonic()
            before = {n: runs.count(n) for n in FAST}
            # Every tick runs again several times after the step (an hour's stall fails this).
            assert runs.wait_for(lambda: all(runs.count(n) >= before[n] + 5 for n in FAST)), {
                n: runs.count(n) - before[n] for n in FAST
            }
            # ...and no faster than its interval: a step forward is not a burst of catch-up runs.
            now = time.monotonic()
            for name, interval in FAST.items():
                allowed = (now - stepped_at) / interval + 2
                assert runs.between(name, stepped_at, now) <= allowed, name
        finally:
            running.stop()


@pytest.mark.slow  # a real refit, several times over
def test_the_daily_refit_runs_once_per_local_day_across_wall_clock_steps(
    runs: Runs, sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refits happen once per local day after midnight: a step back over midnight refits nothing
    twice and the ticks keep asking; a step over the next midnight refits once more."""
    from anomaly import training
    from tests.integration.anomaly.test_routine_training_db import DAY0, _seed_history

    _seed_history(sqlite_engine, days=11)
    monkeypatch.setattr(runtime, "ROUTINE_TICK_S", 0.2)
    fitted: list[int] = []
    real_tick = training.tick

    def counting_tick(*args: Any, **kwargs: Any) -> int:
        n = real_tick(*args, **kwargs)
        runs.recorder("routine")()
        fitted.append(n)
        return n

    monkeypatch.setattr(training, "tick", counting_tick)
    running = runtime.Running()
    # 00:30 in Seoul after the eleventh day of history: the first refit is due.
    with stepped_wall_clock(monkeypatch, DAY0 + timedelta(days=11, minutes=30)) as wall:
        runtime.start_ticks(_settings(tmp_path), sqlite_engine, wall, running)
        try:
            assert runs.wait_for(lambda: sum(fitted) == 1 and runs.count("routine") >= 2), fitted
            wall.step(timedelta(hours=-1))  # 23:30 the day before: already fitted as of a later midnight
            before = runs.count("routine")
            assert runs.wait_for(lambda: runs.count("routine") >= before + 3), runs.count("routine") - before
            assert sum(fitted) == 1
            wall.step(timedelta(days=1, hours=1))  # 00:30 the next day: one new refit
            before = runs.count("routine")
            assert runs.wait_for(lambda: sum(fitted) == 2 and runs.count("routine") >= before + 3), fitted
            assert sum(fitted) == 2
        finally:
            running.stop()
