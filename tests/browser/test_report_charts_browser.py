"""Issue 17, item 10 in a real browser: the reports page draws its charts as inline SVG under the
strict CSP (no console errors), each with a title, axis titles, the number on every bar and the
chart in words, in Korean and in English."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from core.db import session_scope
from core.enums import CaseKind, CaseStatus, ResolutionCode, Severity
from core.models import Case, Team
from tests.browser.harness import BROWSER_MARKS, NOW, Seeded, shot, sign_in
from tests.factories import make_household

pytestmark = BROWSER_MARKS


def _history(app: Seeded) -> None:
    """Cases over the last three weeks: some cleared by the resident, one hospital, a help call."""
    with session_scope(app.engine) as session:
        team = session.exec(select(Team).where(Team.name == "행복동 주민센터")).one()
        plan = [
            (20, CaseKind.INACTIVITY, CaseStatus.CLEARED, None, "resident_ok", 3),
            (19, CaseKind.INACTIVITY, CaseStatus.RESOLVED, ResolutionCode.HOSPITAL, None, 40),
            (12, CaseKind.HELP_REQUESTED, CaseStatus.RESOLVED, ResolutionCode.RESIDENT_FINE, None, 2),
            (11, CaseKind.DEVICE_OFFLINE, CaseStatus.CLEARED, None, "device_back", None),
            (4, CaseKind.INACTIVITY, CaseStatus.CLEARED, None, "activity_resumed", 300),
        ]
        for days, kind, status, code, reason, ack_minutes in plan:
            household = make_household(session, team=team)
            opened = NOW - timedelta(days=days)
            session.add(
                Case(
                    household_id=household.id or 0,
                    kind=kind,
                    status=status,
                    severity=Severity.ALERT,
                    opened_at=opened,
                    last_seen_at=opened,
                    acknowledged_at=None if ack_minutes is None else opened + timedelta(minutes=ack_minutes),
                    resolution_code=code,
                    resolved_at=opened + timedelta(hours=5) if code else None,
                    cleared_at=opened + timedelta(hours=5) if reason else None,
                    clear_reason=reason,
                    escalation_token=f"chart-{days}",
                )
            )


@pytest.mark.parametrize(
    ("query", "titles", "words", "caption"),
    [
        (
            "",
            ["주별 사례 수 (유형별)", "주별 사례 수 (끝난 방식별)", "담당자가 확인하기까지 걸린 시간"],
            "입원 (1)",
            "사례 6건",
        ),
        (
            "?lang=en",
            [
                "Cases per week, by kind",
                "Cases per week, by how they ended",
                "Time until a person acknowledged",
            ],
            "In hospital (1)",
            "6 cases opened",
        ),
    ],
)
def test_report_charts_are_readable_without_the_table(
    running_app: Seeded, query: str, titles: list[str], words: str, caption: str, browser: Any
) -> None:
    _history(running_app)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    sign_in(page, running_app.base_url, "admin", query)
    page.click("#nav-reports")
    page.wait_for_selector("#report-charts svg.chart")
    charts = page.locator("#report-charts svg.chart")
    assert charts.count() == 3
    assert page.locator("#report-charts .chart-title").all_inner_texts() == titles
    for i in range(3):
        chart = charts.nth(i)
        assert chart.get_attribute("role") == "img"
        assert chart.locator("title").first.text_content() == titles[i]
        assert chart.locator("text.chart-value").count() >= 1  # numbers on the bars
    # The outcome chart in words: its legend and description name the hospital stay.
    outcome = page.locator("#report-charts figure").nth(1)
    assert words in outcome.locator(".chart-legend").inner_text()
    assert words.split(" (")[0] in (charts.nth(1).locator("desc").text_content() or "")
    # 6 cases in the period (the seeded open one too), and the wait histogram counts them all.
    assert caption in page.locator("#report-charts figcaption").first.inner_text()
    values = [int(v) for v in charts.nth(2).locator("text.chart-value").all_text_contents()]
    assert sum(values) == 6 and values[-1] == 2  # never acknowledged: the offline case and the open one
    assert problems == []  # nothing refused by the CSP, no script error
    shot(page, "reports-charts" + ("-en" if query else ""))
