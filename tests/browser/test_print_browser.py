"""Issue 17, item 10 in a real browser: printing. In print media the page leaves out navigation,
forms, buttons and notices, and "인계서 인쇄" heads a case's or a household's page with a handover
sheet (who printed it and when, the person, whom to call, the next step, space for notes)."""

from __future__ import annotations

from typing import Any

from tests.browser.harness import BROWSER_MARKS, Seeded, shot, sign_in

pytestmark = BROWSER_MARKS

SCREEN_ONLY = ["#views-nav", ".topbar", "#live-prefs", "#case-note-form", "#case-ack", "#case-print"]


def _visible(page: Any, selector: str) -> bool:
    return bool(page.locator(selector).first.is_visible())


def test_a_case_and_a_household_print_as_handover_sheets(running_app: Seeded, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.add_init_script("window.print = () => { window.__printed = (window.__printed || 0) + 1; }")
    sign_in(page, running_app.base_url, "worker")
    page.goto(f"{running_app.base_url}/#/cases/{running_app.case_id}")
    page.wait_for_selector("#case-panel:not([hidden]) #case-timeline li")
    assert all(_visible(page, s) for s in ["#views-nav", "#case-note-form", "#case-print"])
    assert not _visible(page, "#case-handover")  # the sheet is for paper only

    page.click("#case-print")
    page.wait_for_function("() => window.__printed === 1")
    page.emulate_media(media="print")
    for selector in SCREEN_ONLY:
        assert not _visible(page, selector), selector
    sheet = page.locator("#case-handover")
    assert sheet.is_visible()
    text = sheet.inner_text()
    assert f"사례 #{running_app.case_id} ({running_app.household_code})" in text
    assert "인쇄:" in text and "worker" in text  # who printed it, and when
    assert "연락할 가족·이웃" in text and "+8210" in text  # whom to call, with the number
    assert "인계 메모" in text and page.locator("#case-handover .handover-line").count() == 5
    assert _visible(page, "#case-timeline") and _visible(page, "#case-summary")  # the case itself
    shot(page, "print-case")

    page.emulate_media(media="screen")
    page.click("#case-household-link")
    page.wait_for_selector("#household-panel:not([hidden]) #household-people table")
    assert _visible(page, "#household-print") and not _visible(page, "#household-handover")
    page.click("#household-print")
    page.wait_for_function("() => window.__printed === 2")
    page.emulate_media(media="print")
    assert not _visible(page, "#household-print") and not _visible(page, "#household-pause-form")
    household = page.locator("#household-handover").inner_text()
    assert f"가구 인계서 — {running_app.household_code}" in household
    assert (
        "Kim Test" in household and "진행 중인 사례" in household and f"#{running_app.case_id}" in household
    )
    shot(page, "print-household")
