"""Issue 17, item 10 in a real browser: the district overview's numbers equal the lengths of the
lists behind them, for every number on the screen, and a caseworker sees only their team."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import MonitoringState, Severity, WatchStatus
from core.models import Team
from tests.browser.harness import BROWSER_MARKS, NOW, Seeded, shot, sign_in
from tests.factories import make_device, make_household, make_team, make_watch
from tests.integration.api.conftest import open_case

pytestmark = BROWSER_MARKS


def _district(app: Seeded) -> None:
    """Beside the seeded team's two households: three neighbourhoods in it and another team."""
    with session_scope(app.engine) as session:
        team = session.exec(select(Team).where(Team.name == "행복동 주민센터")).one()
        other = make_team(session, name="다른 복지관")
        plan = [
            (team, "서울특별시 강남구 테헤란로 152 (역삼동)", WatchStatus.OVERDUE, None, False),
            (team, "서울특별시 강남구 테헤란로 7 (역삼동)", WatchStatus.OVERDUE, Severity.CRITICAL, False),
            (team, "서울특별시 강남구 역삼동 737", WatchStatus.UP, Severity.WARNING, False),
            (team, "서울특별시 강남구 도곡동 411", WatchStatus.UP, None, True),
            (team, "서울특별시 강남구 도곡동 412", WatchStatus.OVERDUE, None, False),
            (other, "서울특별시 서초구 반포동 1", WatchStatus.OVERDUE, Severity.ALERT, False),
        ]
        for n, (owner, address, status, severity, offline) in enumerate(plan):
            household = make_household(session, team=owner)
            household.address = address
            if n == 4:
                household.monitoring = MonitoringState.PAUSED
            session.add(household)
            session.flush()
            make_watch(session, household, status=status)
            if severity is not None and household.id is not None:
                open_case(session, household.id, ManualClock(NOW), severity=severity)
            if offline:
                make_device(session, household=household).online = False


def test_every_number_of_the_overview_equals_the_list_behind_it(running_app: Seeded, browser: Any) -> None:
    _district(running_app)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, running_app.base_url, "admin")
    page.click("#nav-overview")
    page.wait_for_selector("#overview-table table")
    shot(page, "overview")
    links = page.eval_on_selector_all(
        "a.overview-number", "els => els.map(a => [a.getAttribute('href'), Number(a.textContent)])"
    )
    assert len(links) >= 20  # every team, every 동, the totals: something to compare
    measures = {href.split("measure=")[1].split("&")[0] for href, _ in links}
    assert {"quiet", "offline", "quiet_after_closing", "stage_critical", "paused"} <= measures
    for href, n in links:
        page.evaluate("h => { location.hash = h; }", href)
        page.wait_for_function(
            "n => { const c = document.querySelector('#overview-list-count'); "
            "return !document.querySelector('#overview-list').hidden && c && c.textContent.includes(' ' + n) "
            "&& document.querySelectorAll('#overview-list-table tbody tr').length === n; }",
            arg=n,
        )
        rows = page.locator("#overview-list-table tbody tr").count()
        assert rows == n, (href, n, rows)
    shot(page, "overview-list")
    # A household in the list opens its own page (an audited view).
    page.locator("#overview-list-table tbody tr a").first.click()
    page.wait_for_selector("#household-panel:not([hidden])")
    page.close()

    worker = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(worker, running_app.base_url, "worker")
    worker.click("#nav-overview")
    worker.wait_for_selector("#overview-table table")
    text = worker.locator("#overview-table").inner_text()
    assert "행복동 주민센터" in text and "다른 복지관" not in text and "반포동" not in text
