"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a running app.

A caseworker signs in, sees the flagged household in the queue, opens the household page and
the case, takes ownership, adds a note and resolves it with an outcome; an admin then finds
those actions in the audit log. Screenshots go to test-artifacts/ (gitignored).

Skips with a reason when Playwright or /usr/bin/chromium is missing.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from api.app import create_app
from api.users import create_user
from core.clock import ManualClock
from core.db import make_engine, session_scope
from core.enums import (
    CaseKind,
    CaseStatus,
    DeviceStatus,
    DeviceVendor,
    EdgeKind,
    ResolutionCode,
    Role,
    Severity,
    WatchStatus,
)
from core.migrate import upgrade
from core.models import ActivityEdge, AuditEntry, Case, Device
from core.settings import Settings
from notifier import lifecycle
from tests.factories import make_household, make_team, make_watch

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 10:00 in Seoul
PASSWORD = "correct horse battery"
EXPLANATION = "전기포트를 평소 08:00까지 쓰셨는데 오늘은 아직 사용이 없습니다 (마지막: 어제 19:40)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@dataclass(frozen=True)
class Seeded:
    base_url: str
    engine: Any
    household_code: str
    case_id: int


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
            explanation=EXPLANATION,
            policy_snapshot={},
            now=clock.now() - timedelta(minutes=20),
        )
        assert case.id is not None
        return household.code, case.id


@pytest.fixture
def running_app(tmp_path: Path) -> Iterator[Seeded]:
    import uvicorn

    url = f"sqlite:///{tmp_path / 'anbu.db'}"
    upgrade(url)
    engine = make_engine(url)
    clock = ManualClock(NOW)
    code, case_id = _seed(engine, clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = Settings(
        _env_file=None,
        env="test",
        secret_key="browser-test-secret-0123456789abcdef",
        public_base_url=f"http://127.0.0.1:{port}",
    )
    app = create_app(settings, engine, clock)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):  # poll the server's own flag, up to 10 s
        if server.started:
            started.set()
            break
        started.wait(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Seeded(f"http://127.0.0.1:{port}", engine, code, case_id)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        engine.dispose()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def _sign_in(page: Any, base_url: str, username: str, query: str = "") -> None:
    page.goto(f"{base_url}/{query}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#views-nav", state="visible")


def test_caseworker_handles_a_flagged_household_and_admin_sees_it_audited(running_app: Seeded) -> None:
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                viewport={"width": 1360, "height": 900}, locale="ko-KR", timezone_id="Asia/Seoul"
            )
            page.goto(running_app.base_url + "/")
            expect(page.locator("#login-heading")).to_have_text("로그인")
            _sign_in(page, running_app.base_url, "worker")

            # The queue: the flagged household, its explanation and what happens next.
            row = page.locator("#queue-body tr", has_text=running_app.household_code)
            expect(row).to_have_count(1)
            expect(row).to_contain_text("전기포트")
            expect(row.locator("td.next")).to_contain_text("안부 전화")
            expect(page.locator("#queue-panel")).to_be_visible()
            _shot(page, "queue")

            # The household page: facts, devices and the heatmap against the routine.
            row.locator("td.code a").click()
            expect(page.locator("#household-heading")).to_contain_text(running_app.household_code)
            expect(page.locator("#household-devices")).to_contain_text("plug-kettle-01")
            expect(page.locator("#household-heatmap table.heatmap")).to_have_count(2)
            assert page.locator("#household-heatmap td.heat-5").count() > 0
            _shot(page, "household")

            # A family link for the contact: the status page says only what family should see.
            page.locator("#household-people button").first.click()
            expect(page.locator("#household-link")).to_be_visible()
            status_url = page.locator("#household-link-url").input_value()
            family = browser.new_page(locale="ko-KR")
            family.goto(status_url)
            expect(family.locator("#status-headline")).to_have_text(
                "평소와 다른 점이 있어 확인하고 있습니다."
            )
            assert "Kim Test" not in family.content() and running_app.household_code not in family.content()
            _shot(family, "family-status")
            family.close()

            # The case page: take ownership, add a note, resolve with an outcome.
            page.locator("#household-cases a").first.click()
            expect(page.locator("#case-heading")).to_contain_text(f"#{running_app.case_id}")
            page.click("#case-ack")
            expect(page.locator("#case-summary")).to_contain_text("worker")
            page.fill("#case-note-text", "딸과 통화: 어제부터 병원 검진차 외출")
            page.click("#case-note-form button[type=submit]")
            expect(page.locator("#case-timeline")).to_contain_text("딸과 통화")
            page.click("#case-resolve")
            page.select_option("#resolve-code", ResolutionCode.FALSE_ALARM_AWAY.value)
            page.fill("#resolve-note", "외출 확인")
            page.click("#resolve-form button[type=submit]")
            expect(page.locator("#case-summary")).to_contain_text("종결")
            _shot(page, "case")

            # The admin's audit log shows who did it.
            page.click("#logout")
            _sign_in(page, running_app.base_url, "admin")
            page.click("#nav-audit")
            table = page.locator("#audit-table")
            expect(table).to_contain_text("종결")
            expect(table).to_contain_text("담당 확인")
            expect(table).to_contain_text("메모 추가")
            _shot(page, "audit")

            # English on request.
            page.goto(running_app.base_url + "/?lang=en#/")
            expect(page.locator("#queue-heading")).to_be_visible()
            expect(page.locator("#queue-heading")).to_have_text("Cases that need attention")
            expect(page.locator("#queue-body")).to_contain_text("No active cases.")  # resolved above
            _shot(page, "queue-en")
        finally:
            browser.close()

    with Session(running_app.engine) as session:
        case = session.get(Case, running_app.case_id)
        assert case is not None
        assert case.status == CaseStatus.RESOLVED
        assert case.resolution_code == ResolutionCode.FALSE_ALARM_AWAY
        assert case.resolved_by == "user:worker"
        actions = [
            (e.role.value, e.action.value)
            for e in session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
        ]
    assert ("caseworker", "view") in actions
    assert ("caseworker", "acknowledge") in actions
    assert ("caseworker", "note") in actions
    assert ("caseworker", "resolve") in actions
    assert ("admin", "view") in actions  # the admin reading the log
