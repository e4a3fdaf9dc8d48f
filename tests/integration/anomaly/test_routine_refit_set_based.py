"""The routine tick's "which refits are due?" as set queries, spread over the night, claimed and
bounded (issue 15.2), on both dialects."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from anomaly import training
from core.clock import ManualClock
from core.db import session_scope
from core.models import Household, RoutineModel, RoutineRefit, Watch
from core.settings import Settings
from tests.factories import make_household, make_team, make_watch

NOW = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 01:30 in Seoul, 16:30 in London, 08:30 in LA
ZONES = ("Asia/Seoul", "Europe/London", "America/Los_Angeles", "UTC")
SPREAD_OFF = Settings(_env_file=None, routine_refit_spread_h=0)


def seed(engine: Engine, rng: random.Random, households: int) -> None:
    with session_scope(engine) as s:
        team = make_team(s)
        for _ in range(households):
            h = make_household(s, team=team, tz=rng.choice(ZONES), with_resident=False, contacts=0)
            assert h.id is not None
            if rng.random() < 0.9:
                make_watch(s, h)
            as_of = training.last_local_midnight(NOW, h.timezone)
            fitted = rng.choice([None, as_of, as_of - timedelta(seconds=1), as_of + timedelta(hours=1)])
            if fitted is not None:
                s.add(RoutineModel(household_id=h.id, fitted_at=fitted, days_used=10, model={}))


def old_rule(engine: Engine) -> set[int]:
    """Due as the per-household loop decided: a watch, and no routine fitted as of last midnight."""
    with Session(engine) as s:
        due = set()
        for watch in s.exec(select(Watch)):
            household = s.get_one(Household, watch.household_id)
            row = s.get(RoutineModel, watch.household_id)
            if row is None or row.fitted_at < training.last_local_midnight(NOW, household.timezone):
                due.add(watch.household_id)
        return due


def recorded_refits(monkeypatch: pytest.MonkeyPatch, *, fitted: bool) -> list[int]:
    """Stand in for the fit itself (tested elsewhere): which households the tick refits."""
    calls: list[int] = []

    def retrain(_session: object, household_id: int, *_args: object) -> bool:
        calls.append(household_id)
        return fitted

    monkeypatch.setattr(training, "retrain_household", retrain)
    return calls


def test_due_refits_are_the_households_the_loop_refitted(engine: Engine) -> None:
    seed(engine, random.Random(3), 200)
    expected = old_rule(engine)
    assert 50 < len(expected) < 190
    with Session(engine) as s:
        due = training.due_refits(s, NOW, SPREAD_OFF)
    assert {h for h, _ in due} == expected
    with Session(engine) as s:
        for household_id, as_of in due:
            assert as_of == training.last_local_midnight(NOW, s.get_one(Household, household_id).timezone)


def test_refits_are_spread_over_the_night_by_a_fixed_slot(engine: Engine) -> None:
    seed(engine, random.Random(4), 150)
    settings = Settings(_env_file=None, routine_refit_spread_h=4)
    seoul_midnight = training.last_local_midnight(NOW, "Asia/Seoul")
    with Session(engine) as s:
        seoul = set(s.exec(select(Household.id).where(Household.timezone == "Asia/Seoul")).all())
        every = {h for h, _ in training.due_refits(s, NOW, SPREAD_OFF) if h in seoul}
        by_time = {
            minutes: {
                h for h, _ in training.due_refits(s, seoul_midnight + timedelta(minutes=minutes), settings)
            }
            & seoul
            for minutes in (0, 30, 120, 239, 240, 600)
        }
    assert by_time[0] == {h for h in every if h % training.SLOTS == 0}
    assert by_time[30] == {h for h in every if h % training.SLOTS < 125 + 1}  # 30 min of 240: 1/8
    assert by_time[0] <= by_time[30] <= by_time[120] <= by_time[239] <= by_time[240] == by_time[600] == every


def test_a_household_with_too_little_history_is_tried_once_a_night_not_every_tick(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as s:
        h = make_household(s)
        make_watch(s, h)
        household_id = h.id
    calls = recorded_refits(monkeypatch, fitted=False)
    clock = ManualClock(NOW)
    for _ in range(5):  # it has no routine to show for it: the old loop refitted it every tick
        assert training.tick(engine, clock, SPREAD_OFF) == 0
        clock.advance(timedelta(minutes=15))
    assert calls == [household_id]
    clock.set(NOW + timedelta(days=1))
    training.tick(engine, clock, SPREAD_OFF)
    assert calls == [household_id, household_id]  # the next local day: tried again


def test_workers_share_refits_through_claims_and_a_lease(engine: Engine) -> None:
    with session_scope(engine) as s:
        h = make_household(s)
        assert h.id is not None
        household_id = h.id
    as_of = training.last_local_midnight(NOW, "Asia/Seoul")
    with session_scope(engine) as s:
        assert training.claim_refit(s, household_id, as_of)  # the first ever: the row is the claim
    with session_scope(engine) as s:
        assert not training.claim_refit(s, household_id, as_of)  # another worker: held
    with session_scope(engine) as s:  # the first worker died: its lease runs out
        s.execute(
            update(RoutineRefit)
            .where(col(RoutineRefit.household_id) == household_id)
            .values(claimed_until=datetime(2000, 1, 1, tzinfo=UTC))
        )
    with session_scope(engine) as s:
        assert training.claim_refit(s, household_id, as_of)
        training.finish_refit(s, household_id, as_of)
    with session_scope(engine) as s:
        assert not training.claim_refit(s, household_id, as_of)  # done as of this midnight
        assert training.claim_refit(s, household_id, as_of + timedelta(days=1))


def test_a_tick_refits_within_its_budget_and_the_next_takes_the_rest(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as s:
        team = make_team(s)
        for _ in range(5):
            make_watch(s, make_household(s, team=team, with_resident=False, contacts=0))
    calls = recorded_refits(monkeypatch, fitted=True)
    ticks = itertools.count()  # each look at the clock is one second later
    clock = ManualClock(NOW)
    assert training.tick(engine, clock, SPREAD_OFF, budget_s=2.5, monotonic=lambda: float(next(ticks))) == 2
    assert training.tick(engine, clock, SPREAD_OFF, budget_s=100) == 3
    assert training.tick(engine, clock, SPREAD_OFF, budget_s=100) == 0
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 5  # each once
