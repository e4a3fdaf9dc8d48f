"""Issue 17, item 10 in a real browser: a new 긴급 case appears live — without a reload, on a
screen other than the queue — with a sound and the count in the tab's title; the sound is each
user's own choice and stays switched off on their account."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, Severity
from core.models import Team, User
from tests.browser.harness import BROWSER_MARKS, NOW, Seeded, shot, sign_in
from tests.factories import make_household
from tests.integration.api.conftest import open_case

pytestmark = BROWSER_MARKS
LIVE_WAIT_MS = 20_000  # the stream polls every 2 s; a busy CI machine gets slack


def _urgent_case(app: Seeded, explanation: str) -> str:
    with session_scope(app.engine) as session:
        team = session.exec(select(Team).where(Team.name == "행복동 주민센터")).one()
        household = make_household(session, team=team)
        assert household.id is not None
        open_case(
            session,
            household.id,
            ManualClock(NOW),
            kind=CaseKind.HELP_REQUESTED,
            severity=Severity.CRITICAL,
            explanation=explanation,
        )
        return household.code


def _wait_for_notice(page: Any, code: str) -> None:
    page.wait_for_function(
        "code => [...document.querySelectorAll('#live-list li')].some(li => li.textContent.includes(code))",
        arg=code,
        timeout=LIVE_WAIT_MS,
    )


def test_a_new_urgent_case_appears_live_with_a_sound_and_a_title_count(
    running_app: Seeded, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, running_app.base_url, "worker")
    page.click("#nav-reports")  # not the queue: its own refresh cannot be what shows the case
    page.wait_for_selector("#reports-panel:not([hidden])")
    page.evaluate("window.__sameDocument = true")
    title = page.title()
    assert page.is_checked("#pref-urgent-notice") and page.is_checked("#pref-urgent-sound")
    page.wait_for_timeout(500)  # the stream is open (its ready event sets the cursor)

    code = _urgent_case(running_app, "도와주세요 버튼을 누르셨습니다")
    _wait_for_notice(page, code)
    assert page.evaluate("window.__sameDocument") is True  # no reload
    assert page.title() == f"(1) {title}"
    assert page.get_attribute("#live-notices", "data-chimes") == "1"
    notice = page.locator("#live-list li").first.inner_text()
    assert "긴급" in notice and "도와주세요 버튼을 누르셨습니다" in notice
    shot(page, "live-urgent")
    page.locator("#live-list li a").first.click()  # opens the case and marks it seen
    page.wait_for_selector("#case-panel:not([hidden])")
    assert page.title() == title and page.is_hidden("#live-notices")

    # Sound off: kept on the account, so it is still off after a reload and plays no more.
    page.uncheck("#pref-urgent-sound")
    page.wait_for_function(
        "() => fetch('/api/v1/auth/me', {headers: {Authorization: 'Bearer ' + "
        "sessionStorage.getItem('anbu.token')}}).then(r => r.json()).then(m => m.urgent_sound === false)"
    )
    page.reload()
    page.wait_for_selector("#views-nav", state="visible")
    assert not page.is_checked("#pref-urgent-sound") and page.is_checked("#pref-urgent-notice")
    page.wait_for_timeout(500)
    quiet_code = _urgent_case(running_app, "넘어졌어요")
    _wait_for_notice(page, quiet_code)
    assert page.get_attribute("#live-notices", "data-chimes") is None
    assert page.title().startswith("(1) ")
    with session_scope(running_app.engine) as session:
        worker = session.exec(select(User).where(User.username == "worker")).one()
        assert worker.urgent_sound is False and worker.urgent_notice is True
