"""The batched sweeper decides exactly what the one-transaction-per-household sweeper decided
(issue 15.2), and a household that fails is rolled back alone.

Random households (watch new, up or overdue; deadlines past or to come; recent activity, a
check-in or none; paused, away period over, active; every plug silent since before the deadline
or heard; a fitted routine or the fixed rule; inactivity cases open, acknowledged or none) are
seeded into two fresh databases with the same row ids; the sweeper runs on this dialect's, the
old loop (tests/oracles) on a SQLite copy, through hours of ticks with the same activity
arriving in both, and every watch and case must end the same.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from anomaly import recheck, sweeper, training
from anomaly.routine import fit_routine
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, MonitoringState, WatchStatus
from core.models import Case, Device, RoutineModel, Watch
from core.settings import Settings
from notifier.policy import snapshot_for_household
from tests.conftest import _fresh_sqlite
from tests.factories import make_device, make_household, make_open_case, make_team, make_watch
from tests.oracles.per_household_ticks import sweeper_tick as old_tick
from tests.unit.anomaly.test_patterns import simulate

SETTINGS = Settings(_env_file=None, inactivity_default_hours=12)
TZ = "Asia/Seoul"


def fitted_routine_json(now: datetime, tz: str = TZ) -> dict[str, Any]:
    """A real routine fitted from 28 simulated days up to the last local midnight."""
    end = int(training.last_local_midnight(now, tz).timestamp())
    events, coverage = simulate(28, 1, start=(now - timedelta(days=29)).date(), tz=tz)
    routine = fit_routine([(t, "kettle") for t in events if t < end], coverage, now=end, timezone=tz)
    assert routine is not None
    return routine.to_json()


def seed(engine: Engine, rng: random.Random, now: datetime, households: int) -> None:
    model = fitted_routine_json(now)
    with session_scope(engine) as s:
        team = make_team(s)
        for _ in range(households):
            h = make_household(s, team=team, tz=TZ, with_resident=False, contacts=0)
            assert h.id is not None
            pause = rng.choice(["active"] * 6 + ["paused", "away-over", "active-ended"])
            if pause != "active":
                h.monitoring = MonitoringState.ACTIVE if pause == "active-ended" else MonitoringState.PAUSED
                h.paused_until = {
                    "paused": now + timedelta(hours=rng.choice([1, 30])),
                    "away-over": now - timedelta(minutes=rng.choice([1, 600, 2000])),
                    "active-ended": now - timedelta(hours=rng.choice([1, 20])),
                }[pause]
                s.add(h)
            device = make_device(s, household=h)
            silent = rng.random() < 0.15
            device.last_seen_at = now - timedelta(hours=30 if silent else 0.1)
            s.add(device)
            if rng.random() < 0.5:
                s.add(
                    RoutineModel(
                        household_id=h.id, fitted_at=now - timedelta(hours=3), days_used=28, model=model
                    )
                )
            activity = now - timedelta(hours=rng.choice([1, 11, 13, 20, 26, 40]))
            checkin = rng.choice([None, None, activity + timedelta(minutes=rng.choice([-30, 30]))])
            status = rng.choice([WatchStatus.UP] * 4 + [WatchStatus.OVERDUE, WatchStatus.NEW])
            # (never two alike: which of two equal deadlines comes first is the database's choice)
            alert_after = now + timedelta(hours=rng.choice([-12, -2, -0.1, 0.5, 3, 8]), seconds=h.id)
            make_watch(
                s,
                h,
                status=status,
                last_activity_at=None if status == WatchStatus.NEW else activity,
                last_activity_device_id=None if status == WatchStatus.NEW else device.id,
                last_checkin_at=checkin,
                alert_after=alert_after,
            )
            if status == WatchStatus.OVERDUE or rng.random() < 0.1:
                make_open_case(s, h, now=now - timedelta(hours=1), policy_snapshot={})


def activity(engine: Engine, rng: random.Random, now: datetime) -> None:
    """The gateway's part: some households show a sign of life (same choices in both databases)."""
    with session_scope(engine) as s:
        for watch in s.exec(select(Watch).order_by(Watch.household_id)):  # type: ignore[arg-type]
            if rng.random() < 0.2:
                watch.last_activity_at = now
                watch.status = WatchStatus.UP if watch.status == WatchStatus.NEW else watch.status
                s.add(watch)
        for device in s.exec(select(Device).order_by(Device.id)):  # type: ignore[arg-type]
            device.last_seen_at = now
            s.add(device)


def state(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with Session(engine) as s:
        watches = [
            (w.household_id, w.status, w.alert_after, w.explanation)
            for w in s.exec(select(Watch).order_by(Watch.household_id))  # type: ignore[arg-type]
        ]
        cases = sorted(
            (c.household_id, c.kind, c.status, c.severity, c.clear_reason, c.explanation)
            for c in s.exec(select(Case))
        )
    return watches, cases


@pytest.mark.slow
@pytest.mark.parametrize("limit", [500, 7])
def test_batched_sweeps_end_where_the_per_household_loop_ended(
    engine: Engine,
    _migrated_sqlite: Path,
    tmp_path: Path,
    clock: ManualClock,
    limit: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The old loop re-checked every overdue household every tick; the sweeper re-checks only
    those whose inputs changed or whose next stage came (anomaly/recheck.py), and its periodic
    re-check is made too rare to hide a difference here."""
    monkeypatch.setattr(recheck, "RECHECK_EVERY", timedelta(days=30))
    (tmp_path / "old").mkdir()
    other = _fresh_sqlite(_migrated_sqlite, tmp_path / "old")
    try:
        for target in (engine, other):
            seed(target, random.Random(11), clock.now(), 120)
        acted = unchanged = 0
        gaps = [timedelta(hours=2), timedelta(seconds=5), timedelta(hours=2), timedelta(minutes=10)] * 2
        for step, gap in enumerate(gaps):
            new = sweeper.tick(engine, clock, SETTINGS, limit=limit)
            old = old_tick(other, clock, SETTINGS, limit=limit)
            assert replace(new, overdue_unchanged=0) == old
            assert state(engine) == state(other)
            acted += new.opened + new.recovered + new.rearmed + new.pauses_ended + new.held_data_gap
            unchanged += new.overdue_unchanged
            clock.advance(gap)
            if step == 3:
                for target in (engine, other):
                    activity(target, random.Random(step), clock.now())
        assert acted > 30  # the random set exercises the sweeper's decisions
        assert unchanged > 30  # and overdue households were left alone when nothing had changed
    finally:
        other.dispose()


def test_a_household_that_fails_is_rolled_back_alone(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = clock.now()
    with session_scope(engine) as s:
        team = make_team(s)
        ids = []
        for _ in range(3):
            h = make_household(s, team=team, with_resident=False, contacts=0)
            d = make_device(s, household=h)
            d.last_seen_at = now
            make_watch(
                s,
                h,
                status=WatchStatus.UP,
                last_activity_at=now - timedelta(hours=13),
                last_activity_device_id=d.id,
                alert_after=now - timedelta(hours=1),
            )
            ids.append(h.id)
    real = snapshot_for_household

    def broken(session: Session, household_id: int) -> Any:
        if household_id == ids[1]:
            raise RuntimeError("a bad policy row")
        return real(session, household_id)

    monkeypatch.setattr(sweeper, "snapshot_for_household", broken)
    sweeper.tick(engine, clock, SETTINGS)
    with Session(engine) as s:
        opened = {c.household_id for c in s.exec(select(Case).where(Case.kind == CaseKind.INACTIVITY))}
        watch = s.get_one(Watch, ids[1])
    assert opened == {ids[0], ids[2]}
    assert watch.status == WatchStatus.UP  # its overdue flip was rolled back with it: tried again next tick
