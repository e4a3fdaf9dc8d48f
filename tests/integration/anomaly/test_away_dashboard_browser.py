"""The household page in a real browser shows staff the away reminder and "looks away?".

Debian's Chromium driven by Playwright against a running app (skips with a reason without them).
A screenshot goes to test-artifacts/dashboard-household-notes.png (gitignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from anomaly import sweeper
from api.users import create_user
from core.clock import ManualClock
from core.db import make_engine, session_scope
from core.enums import MonitoringState, Role, WatchStatus
from core.migrate import upgrade
from core.models import Reading
from core.settings import Settings
from tests.browser.harness import BROWSER_MARKS, NOW, PASSWORD, chromium, serve, shot, sign_in, sync_api
from tests.factories import make_device, make_household, make_team, make_watch

pytestmark = BROWSER_MARKS


@dataclass(frozen=True)
class Running:
    base_url: str
    household_id: int


def _seed(url: str, clock: ManualClock) -> int:
    """A household back from a stay with no activity since, its whole-house meter at base load."""
    engine = make_engine(url)
    with session_scope(engine) as s:
        team = make_team(s)
        create_user(s, username="worker", password=PASSWORD, role=Role.CASEWORKER, team_id=team.id, now=NOW)
        h = make_household(s, team=team)
        meter = make_device(s, household=h, appliance="aggregate")
        make_watch(s, h, status=WatchStatus.UP, last_activity_at=NOW - timedelta(days=5))
        h.monitoring, h.paused_until = MonitoringState.PAUSED, NOW - timedelta(hours=2)
        rows = []
        for m in range(8 * 24 * 60):
            ts = NOW - timedelta(days=8) + timedelta(minutes=m)
            quiet = ts >= NOW - timedelta(days=4)
            watts = 110.0 if quiet else 110.0 + (2000.0 if m % 480 < 30 else 0.0)
            rows.append(
                {"device_id": meter.id, "channel": "0", "ts": ts, "received_at": ts, "power_w": watts}
            )
        s.execute(insert(Reading), rows)
        assert h.id is not None
        household_id = h.id
    sweeper.tick(engine, clock, Settings(_env_file=None))  # the away period ends
    engine.dispose()
    return household_id


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    url = f"sqlite:///{tmp_path / 'anbu.db'}"
    upgrade(url)
    clock = ManualClock(NOW)
    household_id = _seed(url, clock)
    engine = make_engine(url)
    try:
        with serve(engine, clock) as base_url:
            yield Running(base_url, household_id)
    finally:
        engine.dispose()


def test_household_page_shows_the_away_reminder_and_the_looks_away_suggestion(running: Running) -> None:
    expect = sync_api.expect
    with chromium() as browser:
        page = browser.new_page(
            viewport={"width": 1360, "height": 900}, locale="ko-KR", timezone_id="Asia/Seoul"
        )
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        sign_in(page, running.base_url, "worker")
        page.goto(f"{running.base_url}/#/households/{running.household_id}")
        notes = page.locator("#household-notes")
        expect(notes).to_be_visible()
        expect(notes).to_contain_text("담당자 참고")
        expect(notes.locator("li.staff-note.suggestion")).to_contain_text("외출 중인가요?")
        expect(notes.locator("li.staff-note a")).to_have_text("부재 종료 후 활동 없음")
        expect(notes).to_contain_text("부재 기간(외출·입원)이")
        shot(page, "household-notes")
        assert errors == []
