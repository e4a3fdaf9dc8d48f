"""The set-based connectivity tick decides exactly what the per-household loop decided (issue 15.2).

Random household sets (plugs online, offline or never heard; assigned, pending or retired; paused,
away period over, active; offline cases open, acknowledged, cleared or none) on both dialects:
the households the set queries pick are exactly those the per-household check acts on, the
devices marked silent are those the full scan marked, and a whole tick ends in the same state
as the old loop (tests/oracles).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, CaseStatus, DeviceStatus, MonitoringState
from core.models import Case, Device
from core.settings import Settings
from gateway import connectivity
from notifier import lifecycle
from tests.conftest import _fresh_sqlite
from tests.factories import make_device, make_household, make_open_case, make_team
from tests.oracles.per_household_ticks import connectivity_tick as old_tick

SETTINGS = Settings(
    _env_file=None, offline_silence_factor=3.0, offline_min_silence_s=600, offline_default_interval_s=300
)


def seed(engine: Engine, rng: random.Random, now: datetime, households: int) -> None:
    with session_scope(engine) as s:
        team = make_team(s, name=f"team-{rng.random()}")
        for _ in range(households):
            h = make_household(s, team=team, with_resident=False, contacts=0)
            pause = rng.choice(["active", "paused", "paused-forever", "away-over", "active-ended"])
            if pause != "active":
                h.monitoring = MonitoringState.ACTIVE if pause == "active-ended" else MonitoringState.PAUSED
                h.paused_until = {
                    "paused": now + timedelta(hours=1),
                    "paused-forever": None,
                    "away-over": now - timedelta(minutes=1),
                    "active-ended": now - timedelta(hours=1),
                }[pause]
                s.add(h)
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                d = make_device(s, household=h)
                d.status = rng.choice(
                    [DeviceStatus.ASSIGNED] * 4 + [DeviceStatus.RETIRED, DeviceStatus.PENDING]
                )
                d.online = rng.choice([True, False, False, None])
                heard = rng.choice([None, 10, 500, 700, 899, 901, 3000, 20000])
                d.last_seen_at = None if heard is None else now - timedelta(seconds=heard)
                d.report_interval_s = rng.choice([None, 30.0, 300.0, 3600.0])
                s.add(d)
            s.flush()
            case_state = rng.choice(
                [None, None, CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED, CaseStatus.CLEARED]
            )
            if case_state is not None:
                case = make_open_case(s, h, now=now - timedelta(hours=2), kind=CaseKind.DEVICE_OFFLINE)
                if case_state == CaseStatus.ACKNOWLEDGED:
                    lifecycle.acknowledge(s, case, actor="staff", now=now - timedelta(hours=1))
                elif case_state == CaseStatus.CLEARED:
                    lifecycle.clear(s, case, reason="device_back_online", now=now - timedelta(hours=1))


def would_act(engine: Engine, now: datetime) -> set[int]:
    """Households the per-household check acts on, each tried in a transaction rolled back."""
    with Session(engine) as s:
        ids = s.exec(
            select(Device.household_id).where(Device.status == DeviceStatus.ASSIGNED).distinct()
        ).all()
    acted: set[int] = set()
    for household_id in ids:
        assert household_id is not None
        with Session(engine) as s:
            result = connectivity.ConnectivityResult()
            connectivity.check_household(s, household_id, now, result)
            s.rollback()
        if result.opened or result.cleared:
            acted.add(household_id)
    return acted


State = tuple[list[tuple[int | None, bool | None]], list[tuple[int, str, str | None, str]]]


def state(engine: Engine) -> State:
    with Session(engine) as s:
        devices = sorted(((d.id, d.online) for d in s.exec(select(Device))), key=str)
        cases = sorted(
            (c.household_id, c.status.value, c.clear_reason, c.explanation)
            for c in s.exec(select(Case).where(Case.kind == CaseKind.DEVICE_OFFLINE))
        )
    return devices, cases


def test_set_queries_pick_exactly_the_households_the_loop_acts_on(engine: Engine, clock: ManualClock) -> None:
    rng = random.Random(15)
    seed(engine, rng, clock.now(), 150)
    with session_scope(engine) as s:
        connectivity.mark_silent_devices(s, clock.now(), SETTINGS)
    expected = would_act(engine, clock.now())
    assert len(expected) > 10  # the random set exercises both opening and clearing
    with Session(engine) as s:
        assert set(connectivity.households_to_check(s, clock.now())) == expected


def test_devices_marked_silent_are_those_the_full_scan_marks(engine: Engine, clock: ManualClock) -> None:
    rng = random.Random(2)
    seed(engine, rng, clock.now(), 120)
    now = clock.now()
    with Session(engine) as s:
        expected = {
            d.external_id
            for d in s.exec(select(Device))
            if d.online is not False
            and d.status != DeviceStatus.RETIRED
            and connectivity.is_silent(d, now, SETTINGS)
        }
    assert len(expected) > 5
    with session_scope(engine) as s:
        assert connectivity.mark_silent_devices(s, now, SETTINGS) == len(expected)
    with Session(engine) as s:
        offline = {d.external_id for d in s.exec(select(Device)) if d.online is False}
    assert expected <= offline


@pytest.mark.slow
def test_a_whole_tick_ends_where_the_old_loop_ended(
    engine: Engine, _migrated_sqlite: Path, tmp_path: Path, clock: ManualClock
) -> None:
    """Same seed into two fresh databases (same row ids); the set-based tick on this dialect's,
    the old loop on a SQLite copy; the same rows after every tick."""
    (tmp_path / "old").mkdir()
    other = _fresh_sqlite(_migrated_sqlite, tmp_path / "old")
    try:
        for target in (engine, other):
            seed(target, random.Random(7), clock.now(), 150)
        for _ in range(3):
            new = connectivity.tick(engine, clock, SETTINGS)
            old = old_tick(other, clock, SETTINGS)
            assert (new.went_silent, new.opened, new.cleared) == (old.went_silent, old.opened, old.cleared)
            assert state(engine) == state(other)
            clock.advance(timedelta(minutes=10))
    finally:
        other.dispose()
