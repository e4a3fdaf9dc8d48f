"""The fixtures of every browser test: the running app (a seeded database behind a real server)
and a headless Chromium. What the tests share besides is in harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from api.users import create_user
from core.clock import ManualClock
from core.db import make_engine, session_scope
from core.enums import (
    CallOutcome,
    CaseKind,
    DeviceStatus,
    DeviceVendor,
    EdgeKind,
    Role,
    Severity,
    WatchStatus,
)
from core.migrate import upgrade
from core.models import ActivityEdge, Device
from notifier import lifecycle
from notifier.checkins import place_due, set_schedule
from tests.browser.harness import EXPLANATION, EXPLANATION_EN, NOW, PASSWORD, Seeded, chromium, serve
from tests.factories import make_checkin_call, make_household, make_team, make_watch


def _seed(engine: Any, clock: ManualClock) -> tuple[str, int]:
    with session_scope(engine) as session:
        team = make_team(session, name="행복동 주민센터")
        create_user(session, username="admin", password=PASSWORD, role=Role.ADMIN, now=clock.now())
        create_user(
            session,
            username="worker",
            password=PASSWORD,
            role=Role.CASEWORKER,
            team_id=team.id,
            now=clock.now(),
        )
        household = make_household(session, team=team)
        quiet = make_household(session, team=team)
        assert household.id is not None and quiet.id is not None
        device = Device(
            vendor=DeviceVendor.NATIVE,
            external_id="plug-kettle-01",
            household_id=household.id,
            status=DeviceStatus.ASSIGNED,
            appliance="kettle",
            online=True,
            last_seen_at=clock.now() - timedelta(minutes=1),
            last_power_w=0.4,
            last_reading_at=clock.now() - timedelta(minutes=1),
            created_at=clock.now() - timedelta(days=60),
            clock_offset_s=86400.0,  # its clock is a day behind: staff see it on the household page
        )
        session.add(device)
        session.flush()
        assert device.id is not None
        # Five weeks of a morning kettle and an evening TV, then nothing since yesterday evening.
        for day in range(35, 0, -1):
            morning = clock.now().replace(hour=22, minute=15) - timedelta(days=day + 1)  # 07:15 Seoul
            evening = clock.now().replace(hour=10, minute=40) - timedelta(days=day)  # 19:40 Seoul
            for ts in (morning, evening):
                session.add(
                    ActivityEdge(
                        household_id=household.id, device_id=device.id, ts=ts, kind=EdgeKind.ON, power_w=1800
                    )
                )
        make_watch(
            session,
            household,
            status=WatchStatus.OVERDUE,
            last_activity_at=clock.now() - timedelta(hours=14, minutes=20),
            alert_after=clock.now() - timedelta(hours=2),
            explanation=EXPLANATION,
        )
        case, _ = lifecycle.open_or_redetect(
            session,
            household_id=household.id,
            kind=CaseKind.INACTIVITY,
            severity=Severity.ALERT,
            explanation={"ko": EXPLANATION, "en": EXPLANATION_EN},  # as the sweeper stores it
            policy_snapshot={},
            now=clock.now() - timedelta(minutes=20),
        )
        assert case.id is not None
        # Weekly check-in calls: last Thursday's answers (a worrying one about meals), and this
        # morning's call skipped by the notifier itself because the case is open.
        set_schedule(
            session, household.id, weekdays=[1, 4], local_time="10:00", now=clock.now() - timedelta(hours=1)
        )
        assert place_due(session, household.id, clock.now()) == 0
        make_checkin_call(
            session,
            household,
            at=clock.now() - timedelta(days=4),
            outcome=CallOutcome.UNWELL,
            answers={"meals": {"answer": "concern"}, "sleep": {"answer": "ok"}, "health": {"answer": "ok"}},
        )
        return household.code, case.id


@pytest.fixture
def running_app(tmp_path: Path) -> Iterator[Seeded]:
    url = f"sqlite:///{tmp_path / 'anbu.db'}"
    upgrade(url)
    engine = make_engine(url)
    clock = ManualClock(NOW)
    code, case_id = _seed(engine, clock)
    try:
        with serve(engine, clock) as base_url:
            yield Seeded(base_url, engine, code, case_id)
    finally:
        engine.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched
