"""When the ticks run: on the monotonic clock, so a wall clock stepped either way changes nothing.

APScheduler 3 keeps each job's next run as a wall-clock time and computes it from the previous
run's, so a host clock stepped back an hour (NTP after a bad boot, a VM restored from a
snapshot, ``date -s``) stopped the sweeper, escalation and outbox for that hour (issue 14.3).

Here one loop thread keeps every tick's next due time on ``time.monotonic()``, which never steps,
and when a tick is due hands its APScheduler job over to run *now*: its next run time is set to
an instant before any wall clock (:data:`RUN_NOW`), which APScheduler finds due at once whatever
its wall clock says. APScheduler still runs every job: one job per tick, in its thread pool,
``max_instances=1`` (a tick still running is not started again; that run is skipped, counted, and
the next comes on time) and ``coalesce``; the jobs' own trigger never fires by itself.
Every tick is one :class:`Tick` entry, whatever it does; daily work (routine refits after local
midnight) is a short tick that asks the database whether it is due, so it too survives steps.

Each tick's last run (wall time from the injected clock, duration, failures, skipped overlaps)
and its lag behind its interval are kept for ``/readyz`` (:meth:`TickRunner.status`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from core.clock import Clock

log = logging.getLogger(__name__)

# A run time before any wall clock a host can have: due at once (with no misfire grace limit).
RUN_NOW = datetime(1970, 1, 2, tzinfo=UTC)
# What the jobs' trigger answers after each run: "not by yourself" (None would delete the job).
NEVER = datetime(9000, 1, 1, tzinfo=UTC)
# /readyz: a tick is late when its next run is this much past due (an interval of slack at least,
# never under a minute: one slow tick on a loaded host is not an outage).
LATE_MIN_S = 60.0
LATE_INTERVALS = 2.0


@dataclass(frozen=True)
class Tick:
    name: str
    interval_s: float
    run: Callable[[], object]


def next_due(due: float, interval_s: float, now: float) -> float:
    """Fixed rate on the monotonic clock; after a stall (a suspended process, a long GC) the
    missed runs are not caught up in a burst: the next comes one interval from now."""
    following = due + interval_s
    return following if following > now else now + interval_s


def late_after_s(interval_s: float) -> float:
    return max(LATE_MIN_S, LATE_INTERVALS * interval_s)


class _OnlyWhenTold(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """A trigger that never fires by itself: :class:`TickRunner` says when."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        return NEVER

    def __str__(self) -> str:
        return "monotonic (anbu.ticks)"


@dataclass
class _State:
    interval_s: float
    due: float  # monotonic
    started: float | None = None  # monotonic start of the last run
    last_started_at: datetime | None = None  # wall (injected clock), for people to read
    last_finished_at: datetime | None = None
    last_duration_s: float | None = None
    running: bool = False
    runs: int = 0
    failures: int = 0
    skipped: int = 0
    last_error: str | None = None  # exception type only: messages can carry personal data


class TickRunner:
    """Runs each :class:`Tick` every ``interval_s`` seconds of monotonic time through APScheduler.

    The first run of each tick comes one interval after :meth:`start`.
    """

    def __init__(
        self,
        ticks: Sequence[Tick],
        clock: Clock,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        timezone: tzinfo = UTC,
    ) -> None:
        names = [t.name for t in ticks]
        if len(set(names)) != len(names):
            raise ValueError(f"tick names must be unique: {names}")
        self.ticks = list(ticks)
        self.clock = clock
        self.monotonic = monotonic
        self.scheduler = BackgroundScheduler(timezone=timezone)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_mono = 0.0
        self._states: dict[str, _State] = {}

    def start(self) -> None:
        now = self.monotonic()
        self._started_mono = now
        self._states = {t.name: _State(t.interval_s, due=now + t.interval_s) for t in self.ticks}
        for tick in self.ticks:
            self.scheduler.add_job(
                self._runner(tick),
                _OnlyWhenTold(),
                id=tick.name,
                name=tick.name,
                next_run_time=NEVER,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,  # RUN_NOW is decades "late" by design
            )
        self.scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)
        self.scheduler.start()
        self._thread = threading.Thread(target=self._loop, name="anbu-ticks", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def alive(self) -> bool:
        """Liveness: the loop and APScheduler's thread both still run."""
        return bool(self._thread is not None and self._thread.is_alive() and self.scheduler.running)

    # ---------------------------------------------------------------- the loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self.monotonic()
            for tick in self.ticks:
                with self._lock:
                    state = self._states[tick.name]
                    if state.due > now:
                        continue
                    state.due = next_due(state.due, state.interval_s, now)
                self._submit(tick.name)
            with self._lock:
                soonest = min(s.due for s in self._states.values())
            # Event.wait times out on the monotonic clock.
            self._stop.wait(max(0.0, soonest - self.monotonic()))

    def _submit(self, name: str) -> None:
        try:
            # Wakes APScheduler, which finds the job due (RUN_NOW precedes any wall clock).
            self.scheduler.modify_job(name, next_run_time=RUN_NOW)
        except Exception:  # shutting down; or a bug, which must not end the loop for the others
            if not self._stop.is_set():
                log.exception("could not start the %s tick", name)

    def _runner(self, tick: Tick) -> Callable[[], None]:
        def run() -> None:
            started, started_at = self.monotonic(), self.clock.now()
            with self._lock:
                state = self._states[tick.name]
                state.started, state.last_started_at, state.running = started, started_at, True
            error: str | None = None
            try:
                tick.run()
            except Exception as exc:
                # One failed tick must not stop the next: the work is still in the rows.
                error = type(exc).__name__
                log.exception("%s tick failed", tick.name)
            finally:
                with self._lock:
                    state.running = False
                    state.runs += 1
                    state.last_finished_at = self.clock.now()
                    state.last_duration_s = self.monotonic() - started
                    if error is not None:
                        state.failures += 1
                    state.last_error = error

        return run

    def _on_skipped(self, event: JobSubmissionEvent) -> None:
        with self._lock:
            state = self._states.get(event.job_id)
            if state is not None:
                state.skipped += 1

    # ---------------------------------------------------------------- for /readyz

    def readiness(self) -> dict[str, Any]:
        """Ready while no tick is late (:meth:`status`) and the loop and APScheduler run."""
        ticks = self.status()
        late = [t["name"] for t in ticks if t["late"]]
        return {"ok": not late and self.alive(), "late": late, "ticks": ticks}

    def status(self) -> list[dict[str, Any]]:
        """Each tick's last run and how far its next run is behind its interval.

        ``lag_s`` counts from one interval after the last run started (or after start-up): a tick
        that stopped, hangs or overruns lags; ``late`` once the lag passes :func:`late_after_s`.
        """
        now = self.monotonic()
        with self._lock:
            out = []
            for tick in self.ticks:
                s = self._states.get(tick.name)
                if s is None:
                    continue
                since = s.started if s.started is not None else self._started_mono
                lag = max(0.0, now - since - s.interval_s)
                out.append(
                    {
                        "name": tick.name,
                        "interval_s": s.interval_s,
                        "last_run_at": _iso(s.last_started_at),
                        "last_finished_at": _iso(s.last_finished_at),
                        "last_duration_s": _round(s.last_duration_s),
                        "running": s.running,
                        "runs": s.runs,
                        "failures": s.failures,
                        "skipped_overlaps": s.skipped,
                        "last_error": s.last_error,
                        "lag_s": round(lag, 3),
                        "late": lag > late_after_s(s.interval_s),
                    }
                )
        return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
